package io.bistream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
import io.bistream.job.ModelCache;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.RecordParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code local}: file in, file out, through a real embedded Kafka broker and the real job on a
 * local Flink MiniCluster. For end-to-end checks.
 */
@Command(
    name = "local",
    description = {
      "in.jsonl -> embedded Kafka -> job -> embedded Kafka -> out.jsonl.",
      "Waits until every sequence has ended and its outputs are committed, then accounts for",
      "every line: produced or refused (an oversize dead letter), output or dead letter.",
      "Exits 1 when no record was valid."
    })
final class LocalCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true, description = "model file")
  Path model;

  @Option(names = "--input-file", required = true, description = "input records, one per line")
  Path inputFile;

  @Option(names = "--output-file", required = true, description = "committed output records")
  Path outputFile;

  @Option(names = "--dead-letter-file", description = "dead-letter records")
  Path deadLetterFile;

  @Option(
      names = "--mode",
      defaultValue = JobOptions.DEFAULT_MODE,
      converter = JobOptions.ModeConverter.class,
      completionCandidates = JobOptions.ModeNames.class,
      description = "${COMPLETION-CANDIDATES}")
  StreamConfig.Mode mode;

  @Option(
      names = "--chunk",
      defaultValue = JobOptions.DEFAULT_CHUNK,
      description = "chunk length C")
  int chunk;

  @Option(
      names = {"--lookahead", "--right-context"},
      defaultValue = JobOptions.DEFAULT_LOOKAHEAD,
      description = "R: future steps a chunk's window reaches (lookahead and context modes)")
  int lookahead;

  @Option(
      names = "--left-context",
      defaultValue = JobOptions.DEFAULT_LEFT_CONTEXT,
      description = "L: past steps a chunk's window reaches (context mode)")
  int leftContext;

  @Option(
      names = "--idle-timeout",
      defaultValue = LocalRun.IDLE_TIMEOUT,
      converter = JobOptions.DurationConverter.class,
      description = "ends sequences without an end marker")
  Duration idleTimeout;

  @Option(names = "--per-chunk-output", description = "one output record per chunk")
  boolean perChunkOutput;

  @Option(names = "--partitions", defaultValue = "2", description = "partitions per topic")
  int partitions;

  @Option(
      names = "--parallelism",
      defaultValue = JobOptions.DEFAULT_PARALLELISM,
      description = "job parallelism")
  int parallelism;

  @Override
  public Integer call() throws Exception {
    List<Line> lines = readLines(inputFile);
    if (lines.isEmpty()) {
      System.err.println("error: " + inputFile + " holds no records (one JSON record per line)");
      return 1;
    }
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      JobOptions o = LocalRun.options(kafka, model.toString(), "bistream-in", "bistream-out");
      o.mode = mode;
      o.chunk = chunk;
      o.lookahead = lookahead;
      o.leftContext = leftContext;
      o.idleTimeout = idleTimeout;
      o.perChunkOutput = perChunkOutput;
      o.parallelism = parallelism;
      kafka.createTopics(partitions, o.inputTopic, o.outputTopic, o.deadLetterTopic);

      // Every line is produced, or refused by the producer and becomes a dead letter here.
      List<Map.Entry<String, String>> keyed = new ArrayList<>();
      for (Line l : lines) {
        keyed.add(new AbstractMap.SimpleEntry<>(LocalRun.keyOf(l.text), l.text));
      }
      List<Exception> sent = kafka.produceChecked(o.inputTopic, keyed);
      List<Line> produced = new ArrayList<>();
      List<String> refused = new ArrayList<>();
      for (int i = 0; i < lines.size(); i++) {
        Line l = lines.get(i);
        Exception e = sent.get(i);
        if (e == null) {
          produced.add(l);
        } else if (e instanceof RecordTooLargeException) {
          refused.add(refusal(l, keyed.get(i).getKey(), e, o.inputTopic));
          System.err.println(
              "line "
                  + l.number
                  + " of "
                  + inputFile
                  + " refused by the producer: "
                  + e.getMessage());
        } else {
          throw new IllegalStateException(
              "could not produce line " + l.number + " of " + inputFile + ": " + e, e);
        }
      }
      Census census = census(produced, o);
      System.err.println(
          "produced "
              + produced.size()
              + " of "
              + lines.size()
              + " records ("
              + census.sequences.size()
              + " sequences"
              + (refused.isEmpty() ? "" : ", " + refused.size() + " refused as oversize")
              + "); running "
              + mode
              + " ...");
      if (!census.withoutEnd.isEmpty()) {
        System.err.println(
            census.withoutEnd.size()
                + " sequences have no end marker and end by the idle timeout ("
                + idleTimeout.toMillis()
                + " ms after their last record), e.g. "
                + census.withoutEnd.stream().limit(5).toList());
      }
      JobClient job = LocalRun.start(List.of(o), "bistream-local");
      DemoCommand.Progress progress =
          new DemoCommand.Progress("sequences ended", census.sequences.size());
      List<ConsumerRecord<String, String>> out;
      List<ConsumerRecord<String, String>> dlq;
      try {
        out =
            LocalRun.awaitEnded(
                kafka,
                job,
                o.outputTopic,
                census.sequences,
                idleTimeout.plus(o.reorderTimeout).plus(Duration.ofSeconds(90)),
                progress::update);
        progress.finish();
        // The job's parse-stage dead letters are known in number; wait until all are committed.
        dlq = awaitAtLeast(kafka, o.deadLetterTopic, census.invalid, Duration.ofSeconds(60));
      } finally {
        progress.finish();
        LocalRun.cancel(job);
      }
      write(outputFile, values(out));
      List<String> deadLetters = new ArrayList<>(values(dlq));
      deadLetters.addAll(refused);
      if (deadLetterFile != null) {
        write(deadLetterFile, deadLetters);
      }
      System.err.println(
          "records: "
              + lines.size()
              + " read, "
              + produced.size()
              + " produced, "
              + refused.size()
              + " refused by the producer; output: "
              + out.size()
              + " records to "
              + outputFile
              + "; dead letters: "
              + deadLetters.size()
              + " ("
              + dlq.size()
              + " from the job, "
              + refused.size()
              + " refused)"
              + (deadLetterFile != null ? " to " + deadLetterFile : ""));
      if (census.sequences.isEmpty()) {
        System.err.println(
            "error: no valid record in "
                + inputFile
                + ": all "
                + lines.size()
                + " records are dead letters"
                + (deadLetterFile != null
                    ? " (see " + deadLetterFile + ")"
                    : " (--dead-letter-file writes them out)"));
        return 1;
      }
    }
    return 0;
  }

  /** A non-blank line of the input file and its 1-based number. */
  private record Line(int number, String text) {}

  /**
   * The non-blank lines of {@code file}, decoded strictly as UTF-8.
   *
   * @throws IllegalArgumentException naming the file and line of bytes that are not UTF-8
   */
  static List<Line> readLines(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    List<Line> lines = new ArrayList<>();
    int number = 0;
    for (int from = 0; from < bytes.length; ) {
      int to = from;
      while (to < bytes.length && bytes[to] != '\n') {
        to++;
      }
      number++;
      int end = to > from && bytes[to - 1] == '\r' ? to - 1 : to;
      CharsetDecoder utf8 =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT);
      String text;
      try {
        text = utf8.decode(ByteBuffer.wrap(bytes, from, end - from)).toString();
      } catch (CharacterCodingException e) {
        throw new IllegalArgumentException(
            file
                + " line "
                + number
                + ": not valid UTF-8 ("
                + e.getMessage()
                + "); expected one UTF-8 JSON record per line");
      }
      if (!text.isBlank()) {
        lines.add(new Line(number, text));
      }
      from = to + 1;
    }
    return lines;
  }

  /** The dead letter of a line the producer refused: the job's JSON shape, with the line. */
  private String refusal(Line l, String seq, Exception e, String topic) {
    return DeadLetter.json(
        DeadLetter.Reason.OVERSIZE,
        "line "
            + l.number
            + " of "
            + inputFile
            + " ("
            + l.text.getBytes(StandardCharsets.UTF_8).length
            + " bytes) was refused by the Kafka producer: "
            + e.getMessage(),
        seq,
        topic,
        -1,
        -1,
        l.text);
  }

  /**
   * What the job will make of the produced lines.
   *
   * @param sequences ids with at least one record the job accepts: each ends, by its end marker, an
   *     unfilled gap or the idle timeout
   * @param withoutEnd those of them without an end marker
   * @param invalid records the job's parse stage dead-letters
   */
  private record Census(Set<String> sequences, Set<String> withoutEnd, int invalid) {}

  private Census census(List<Line> lines, JobOptions o) throws Exception {
    RecordParser parser = RecordParser.forJob(o.settings(), ModelCache.get(model.toString()));
    Set<String> ids = new LinkedHashSet<>();
    Set<String> ended = new HashSet<>();
    int invalid = 0;
    for (Line l : lines) {
      String key = LocalRun.keyOf(l.text);
      RecordParser.Result r =
          parser.parse(
              key == null ? null : key.getBytes(StandardCharsets.UTF_8),
              l.text.getBytes(StandardCharsets.UTF_8),
              "file",
              0,
              0,
              0);
      if (r.event() != null) {
        ids.add(r.event().seq);
        if (r.event().end) {
          ended.add(r.event().seq);
        }
      } else {
        invalid++;
      }
    }
    Set<String> withoutEnd = new LinkedHashSet<>(ids);
    withoutEnd.removeAll(ended);
    return new Census(ids, withoutEnd, invalid);
  }

  /** Committed records of {@code topic} once there are at least {@code n}, or at the timeout. */
  private static List<ConsumerRecord<String, String>> awaitAtLeast(
      EmbeddedKafka kafka, String topic, int n, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<ConsumerRecord<String, String>> records =
          kafka.readCommitted(topic, Duration.ofSeconds(5));
      if (records.size() >= n || System.nanoTime() > deadline) {
        return records;
      }
      Thread.sleep(500);
    }
  }

  private static List<String> values(List<ConsumerRecord<String, String>> records)
      throws Exception {
    List<String> lines = new ArrayList<>();
    for (ConsumerRecord<String, String> r : records) {
      lines.add(JSON.readTree(r.value()).toString());
    }
    return lines;
  }

  private static void write(Path file, List<String> lines) throws IOException {
    Files.write(file, lines, StandardCharsets.UTF_8);
  }
}
