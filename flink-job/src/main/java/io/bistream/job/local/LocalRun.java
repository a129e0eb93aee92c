package io.bistream.job.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.BiStreamJobMain;
import io.bistream.job.JobOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongConsumer;
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

  private LocalRun() {}

  /** Options for a job against the embedded broker; callers adjust mode and timeouts. */
  public static JobOptions options(EmbeddedKafka kafka, String model, String in, String out) {
    JobOptions o = new JobOptions();
    o.bootstrapServers = kafka.bootstrapServers();
    o.inputTopic = in;
    o.outputTopic = out;
    o.deadLetterTopic = in + "-dead-letters";
    o.model = model;
    o.mode = JobOptions.Mode.exact;
    o.chunk = 32;
    o.lookahead = 32;
    o.maxSequenceSteps = 100_000;
    o.overflow = JobOptions.Overflow.reject;
    o.parallelism = 1;
    o.idleTimeout = Duration.ofSeconds(5);
    o.reorderWindow = 64;
    o.reorderTimeout = Duration.ofSeconds(2);
    o.batchSize = 64;
    o.batchMaxWait = Duration.ofMillis(20);
    o.checkpointInterval = Duration.ofMillis(500);
    o.stateBackend = "hashmap";
    o.transactionTimeout = Duration.ofMinutes(15);
    return o;
  }

  /** Starts one job holding a pipeline per options entry (all in one MiniCluster job). */
  public static JobClient start(List<JobOptions> pipelines, String name) throws Exception {
    StreamExecutionEnvironment env = pipelines.get(0).environment();
    for (JobOptions o : pipelines) {
      BiStreamJobMain.build(o, env);
    }
    return env.executeAsync(name);
  }

  /**
   * Reads {@code topic} (read_committed) until every id in {@code sequences} has its end record.
   *
   * @param progress told the number of ended sequences after each poll
   * @return the committed records
   * @throws IllegalStateException naming the sequences still open when {@code timeout} passes
   */
  public static List<ConsumerRecord<String, String>> awaitEnded(
      EmbeddedKafka kafka,
      String topic,
      Set<String> sequences,
      Duration timeout,
      LongConsumer progress)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    Set<String> done = new HashSet<>();
    // One consumer follows the topic: each record is read and looked at once.
    try (KafkaConsumer<String, String> consumer = kafka.committedConsumer(topic, timeout)) {
      while (true) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(300))) {
          records.add(r);
          if (r.value() != null && r.value().contains("\"end\"")) {
            JsonNode n = JSON.readTree(r.value());
            if (n.path("end").asBoolean(false)) {
              done.add(n.path("seq").asText());
            }
          }
        }
        progress.accept(done.size());
        if (done.containsAll(sequences)) {
          EmbeddedKafka.sortByOffset(records);
          return records;
        }
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

  /** Key/value pairs for JSON lines: the key is each line's "seq" when it parses. */
  public static List<Map.Entry<String, String>> keyed(List<String> lines) {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank()) {
        continue;
      }
      String key = null;
      try {
        JsonNode n = JSON.readTree(line);
        if (n != null && n.path("seq").isTextual()) {
          key = n.get("seq").asText();
        }
      } catch (Exception e) {
        // Not JSON: produced without a key; the job dead-letters it.
      }
      out.add(new java.util.AbstractMap.SimpleEntry<>(key, line));
    }
    return out;
  }
}
