package io.bistream.job.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.BiStreamJobMain;
import io.bistream.job.JobOptions;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * Runs jobs on a local Flink MiniCluster against an {@link EmbeddedKafka}, and waits until given
 * sequences have ended with their outputs committed. Shared by {@code local}, {@code demo} and the
 * integration tests.
 */
public final class LocalRun {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int RESTARTS = 3;

  /** The idle timeout of local runs (and {@code local}'s default): short, as local inputs end. */
  public static final String IDLE_TIMEOUT = "5s";

  private LocalRun() {}

  /**
   * Options for a job against the embedded broker: the job's defaults ({@code run}'s), with
   * timeouts, intervals and offsets suited to short local runs; callers adjust mode and timeouts.
   * Checkpoints go to a directory of the broker's: the default JobManager storage refuses any
   * checkpoint over 5 MB, which exact mode's buffers pass with a few dozen sequences.
   */
  public static JobOptions options(EmbeddedKafka kafka, String model, String in, String out)
      throws IOException {
    JobOptions o =
        JobOptions.parse(
            "--bootstrap-servers", kafka.bootstrapServers(),
            "--input-topic", in,
            "--output-topic", out,
            "--model", model);
    o.deadLetterTopic = JobOptions.defaultDeadLetterTopic(in);
    o.idleTimeout = new JobOptions.DurationConverter().convert(IDLE_TIMEOUT);
    o.reorderTimeout = Duration.ofSeconds(2);
    o.checkpointInterval = Duration.ofMillis(500);
    o.checkpointDir = kafka.scratchDirectory("checkpoints-").toUri().toString();
    // Local topics hold exactly this run's input (bench reuses names after deleting topics, and
    // a group's offsets could outlive them): read it all.
    o.startFrom = "earliest";
    return o;
  }

  /** Starts one job holding a pipeline per options entry (all in one MiniCluster job). */
  public static JobClient start(List<JobOptions> pipelines, String name) throws Exception {
    StreamExecutionEnvironment env = environment(pipelines.get(0));
    for (JobOptions o : pipelines) {
      BiStreamJobMain.build(o, env);
    }
    return env.executeAsync(name);
  }

  /**
   * The job's environment for a local run. A local job restarts at most {@value #RESTARTS} times,
   * so one that keeps failing (at every checkpoint, say) fails, and {@link #awaitEnded} reports
   * why, instead of restarting silently forever.
   */
  public static StreamExecutionEnvironment environment(JobOptions o) {
    StreamExecutionEnvironment env = o.environment();
    Configuration restarts = new Configuration();
    restarts.setString("restart-strategy.type", "fixed-delay");
    restarts.setString("restart-strategy.fixed-delay.attempts", String.valueOf(RESTARTS));
    restarts.setString("restart-strategy.fixed-delay.delay", "1 s");
    env.configure(restarts);
    return env;
  }

  /**
   * Reads {@code topic} (read_committed) until every id in {@code sequences} has its end record.
   *
   * @param job the job writing the topic; its failure ends the wait with the job's cause
   * @param progress told the number of ended sequences after each poll
   * @return the committed records
   * @throws IllegalStateException naming the sequences still open when {@code timeout} passes, or
   *     the job's failure
   */
  public static List<ConsumerRecord<String, String>> awaitEnded(
      EmbeddedKafka kafka,
      JobClient job,
      String topic,
      Set<String> sequences,
      Duration timeout,
      LongConsumer progress)
      throws Exception {
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    awaitEnded(kafka, job, topic, sequences, timeout, progress, records::add);
    EmbeddedKafka.sortByOffset(records);
    return records;
  }

  /**
   * As {@link #awaitEnded(EmbeddedKafka, JobClient, String, Set, Duration, LongConsumer)}, handing
   * each committed record to {@code each} as it is read instead of keeping them all.
   */
  public static void awaitEnded(
      EmbeddedKafka kafka,
      JobClient job,
      String topic,
      Set<String> sequences,
      Duration timeout,
      LongConsumer progress,
      Consumer<ConsumerRecord<String, String>> each)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    Set<String> done = new HashSet<>();
    // One consumer follows the topic: each record is read and looked at once.
    try (KafkaConsumer<String, String> consumer = kafka.committedConsumer(topic, timeout)) {
      while (true) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(300))) {
          each.accept(r);
          if (r.value() != null && r.value().contains("\"end\"")) {
            JsonNode n = JSON.readTree(r.value());
            if (n.path("end").asBoolean(false)) {
              done.add(n.path("seq").asText());
            }
          }
        }
        progress.accept(done.size());
        if (done.containsAll(sequences)) {
          return;
        }
        failIfEnded(job, topic);
        if (System.nanoTime() > deadline) {
          Set<String> open = new HashSet<>(sequences);
          open.removeAll(done);
          throw new IllegalStateException(
              "timed out after "
                  + timeout.toSeconds()
                  + " s waiting for "
                  + open.size()
                  + " sequences to end on "
                  + topic
                  + " (e.g. "
                  + open.stream().limit(5).toList()
                  + "); check the dead-letter topic and the idle timeout");
        }
      }
    }
  }

  /** Cancels a job that is still running; one that already ended has nothing to cancel. */
  public static void cancel(JobClient job) throws Exception {
    if (!job.getJobExecutionResult().isDone()) {
      job.cancel().get();
    }
  }

  private static void failIfEnded(JobClient job, String topic) throws InterruptedException {
    CompletableFuture<JobExecutionResult> result = job.getJobExecutionResult();
    if (!result.isDone()) {
      return;
    }
    try {
      result.get();
      throw new IllegalStateException(
          "the job writing " + topic + " stopped before its input ended");
    } catch (ExecutionException e) {
      throw new IllegalStateException(
          "the job writing " + topic + " failed: " + causes(e.getCause()), e);
    }
  }

  /** The messages along a cause chain, outermost first, each once. */
  private static String causes(Throwable e) {
    List<String> messages = new ArrayList<>();
    for (Throwable t = e; t != null && messages.size() < 8; t = t.getCause()) {
      String m = t.getClass().getSimpleName() + ": " + t.getMessage();
      if (!messages.contains(m)) {
        messages.add(m);
      }
    }
    return String.join("; caused by ", messages);
  }

  /** Key/value pairs for JSON lines: the key is each line's "seq" when it parses. */
  public static List<Map.Entry<String, String>> keyed(List<String> lines) {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    for (String line : lines) {
      if (!line.isBlank()) {
        out.add(new java.util.AbstractMap.SimpleEntry<>(keyOf(line), line));
      }
    }
    return out;
  }

  /** The Kafka key of a JSON line: its "seq" when it parses, else null. */
  public static String keyOf(String line) {
    try {
      JsonNode n = JSON.readTree(line);
      if (n != null && n.path("seq").isTextual()) {
        return n.get("seq").asText();
      }
    } catch (Exception e) {
      // Not JSON: produced without a key; the job dead-letters it.
    }
    return null;
  }
}
