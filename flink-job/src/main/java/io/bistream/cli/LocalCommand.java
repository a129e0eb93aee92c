package io.bistream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.JobOptions;
import io.bistream.job.ModelCache;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.RecordParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
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
      "Waits until every sequence has ended and its outputs are committed."
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

  @Option(names = "--mode", defaultValue = "exact", description = "exact, lookahead or stateful")
  JobOptions.Mode mode;

  @Option(names = "--chunk", defaultValue = "32", description = "chunk length C")
  int chunk;

  @Option(names = "--lookahead", defaultValue = "32", description = "lookahead R")
  int lookahead;

  @Option(
      names = "--idle-timeout",
      defaultValue = "5s",
      converter = JobOptions.DurationConverter.class,
      description = "ends sequences without an end marker")
  Duration idleTimeout;

  @Option(names = "--per-chunk-output", description = "one output record per chunk")
  boolean perChunkOutput;

  @Option(names = "--partitions", defaultValue = "2", description = "partitions per topic")
  int partitions;

  @Option(names = "--parallelism", defaultValue = "1", description = "job parallelism")
  int parallelism;

  @Override
  public Integer call() throws Exception {
    List<String> lines = Files.readAllLines(inputFile, StandardCharsets.UTF_8);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      JobOptions o = LocalRun.options(kafka, model.toString(), "bistream-in", "bistream-out");
      o.mode = mode;
      o.chunk = chunk;
      o.lookahead = lookahead;
      o.idleTimeout = idleTimeout;
      o.perChunkOutput = perChunkOutput;
      o.parallelism = parallelism;
      Set<String> sequences = validSequences(lines, o);
      kafka.createTopics(partitions, o.inputTopic, o.outputTopic, o.deadLetterTopic);
      kafka.produce(o.inputTopic, LocalRun.keyed(lines));
      System.err.println(
          "produced "
              + lines.size()
              + " records ("
              + sequences.size()
              + " sequences); running "
              + mode
              + " ...");
      JobClient job = LocalRun.start(List.of(o), "bistream-local");
      DemoCommand.Progress progress = new DemoCommand.Progress("sequences ended", sequences.size());
      List<ConsumerRecord<String, String>> out;
      try {
        out =
            LocalRun.awaitEnded(
                kafka,
                job,
                o.outputTopic,
                sequences,
                idleTimeout.plus(o.reorderTimeout).plus(Duration.ofSeconds(90)),
                progress::update);
      } finally {
        progress.finish();
        LocalRun.cancel(job);
      }
      write(outputFile, out);
      List<ConsumerRecord<String, String>> dlq =
          kafka.readCommitted(o.deadLetterTopic, Duration.ofSeconds(5));
      if (deadLetterFile != null) {
        write(deadLetterFile, dlq);
      }
      System.err.println(
          "wrote "
              + out.size()
              + " output records to "
              + outputFile
              + " and "
              + dlq.size()
              + " dead letters"
              + (deadLetterFile != null ? " to " + deadLetterFile : ""));
    }
    return 0;
  }

  /**
   * Ids of sequences with at least one record the job accepts: each of those ends, by its end
   * marker, an unfilled gap or the idle timeout.
   */
  private Set<String> validSequences(List<String> lines, JobOptions o) throws Exception {
    RecordParser parser = RecordParser.forJob(o.settings(), ModelCache.get(model.toString()));
    Set<String> ids = new LinkedHashSet<>();
    for (Map.Entry<String, String> kv : LocalRun.keyed(lines)) {
      RecordParser.Result r =
          parser.parse(
              kv.getKey() == null ? null : kv.getKey().getBytes(StandardCharsets.UTF_8),
              kv.getValue().getBytes(StandardCharsets.UTF_8),
              "file",
              0,
              0,
              0);
      if (r.event() != null) {
        ids.add(r.event().seq);
      }
    }
    return ids;
  }

  private static void write(Path file, List<ConsumerRecord<String, String>> records)
      throws Exception {
    List<String> lines = new ArrayList<>();
    for (ConsumerRecord<String, String> r : records) {
      JsonNode n = JSON.readTree(r.value());
      lines.add(n.toString());
    }
    Files.write(file, lines, StandardCharsets.UTF_8);
  }
}
