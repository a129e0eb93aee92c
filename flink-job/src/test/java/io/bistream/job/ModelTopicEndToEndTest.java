package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.Test;

/**
 * The job with {@code --model-topic} on a MiniCluster against the embedded broker: a model record
 * mid-stream moves new sequences to its model while an open one finishes on the job's {@code
 * --model}; a bad model record is a {@code bad_model} dead letter (docs/operations.md, "Model
 * upgrades").
 */
class ModelTopicEndToEndTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int D = 3;
  private static final Duration WAIT = Duration.ofSeconds(90);

  private static String steps(String seq, int from, int count, boolean end) {
    float[] x = SequenceOperatorFaultTest.rows(from, count);
    StringBuilder b = new StringBuilder("{\"seq\":\"" + seq + "\",\"t\":" + from + ",\"xs\":[");
    for (int i = 0; i < count; i++) {
      b.append(i == 0 ? "[" : ",[");
      for (int j = 0; j < D; j++) {
        b.append(j == 0 ? "" : ",").append(x[i * D + j]);
      }
      b.append(']');
    }
    return b.append(']').append(end ? ",\"end\":true}" : "}").toString();
  }

  /** Reads {@code topic} (read_committed) until a record matches; returns all read. */
  private static List<JsonNode> awaitRecord(
      EmbeddedKafka kafka, JobClient job, String topic, Predicate<JsonNode> wanted)
      throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    List<JsonNode> read = new ArrayList<>();
    try (KafkaConsumer<String, String> c = kafka.committedConsumer(topic, WAIT)) {
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
          JsonNode n = JSON.readTree(r.value());
          read.add(n);
          if (wanted.test(n)) {
            return read;
          }
        }
        assertThat(job.getJobExecutionResult().isDone()).as("the job is running").isFalse();
      }
    }
    throw new AssertionError("nothing wanted on " + topic + " within " + WAIT + ": " + read);
  }

  private static float[] offline(String model, StreamConfig mode) throws Exception {
    StreamingEngine engine = new StreamingEngine(ModelFiles.load(Path.of(model)), mode);
    return OfflineStreaming.run(
            engine, new Tensor(SequenceOperatorFaultTest.rows(0, 6), new int[] {1, 6, D}), 1)
        .data();
  }

  @Test
  void aModelRecordMovesNewSequencesToItsModelWhileOpenOnesFinishOnTheirs() throws Exception {
    String lstm = SequenceOperatorTest.MODEL;
    String gru = SequenceOperatorModelsTest.GRU;
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      kafka.createTopics(1, "m-in", "m-out", "m-in-dead-letters", "m-models");
      JobOptions o = LocalRun.options(kafka, lstm, "m-in", "m-out");
      o.modelTopic = "m-models";
      o.parallelism = 1;
      o.mode = StreamConfig.Mode.LOOKAHEAD;
      o.chunk = 2;
      o.lookahead = 1;
      JobClient job = LocalRun.start(List.of(o), "model-topic");
      try {
        kafka.produce("m-in", List.of(Map.entry("a", steps("a", 0, 3, false))));
        // "a" is open on --model once its first chunk is out.
        awaitRecord(kafka, job, "m-out", n -> n.path("seq").asText().equals("a"));
        kafka.produce(
            "m-models",
            List.of(
                Map.entry("v2", "{\"model\":\"" + gru + "\",\"version\":\"v2\"}"),
                Map.entry("bad", "{\"model\":\"/nonexistent/model.json\",\"version\":\"v3\"}")));
        // The bad record follows v2 on the one partition: once it is refused, v2 is the newest.
        List<JsonNode> dead =
            awaitRecord(
                kafka,
                job,
                "m-in-dead-letters",
                n -> n.path("reason").asText().equals("bad_model"));
        JsonNode bad = dead.get(dead.size() - 1);
        assertThat(bad.get("version").asText()).isEqualTo("v3");
        assertThat(bad.get("found").asText()).contains("/nonexistent/model.json");
        kafka.produce(
            "m-in",
            List.of(
                Map.entry("b", steps("b", 0, 6, true)), Map.entry("a", steps("a", 3, 3, true))));
        List<ConsumerRecord<String, String>> out =
            LocalRun.awaitEnded(kafka, job, "m-out", Set.of("a", "b"), WAIT, n -> {});

        StreamConfig mode = StreamConfig.lookahead(2, 1);
        Map<String, String> version = Map.of("a", "initial", "b", "v2");
        Map<String, float[]> expected = Map.of("a", offline(lstm, mode), "b", offline(gru, mode));
        for (String seq : List.of("a", "b")) {
          List<JsonNode> records = new ArrayList<>();
          for (ConsumerRecord<String, String> r : out) {
            JsonNode n = JSON.readTree(r.value());
            if (n.get("seq").asText().equals(seq)) {
              records.add(n);
              assertThat(n.get("model_version").asText()).as(seq).isEqualTo(version.get(seq));
            }
          }
          assertThat(SequenceOperatorFaultTest.outputs(records))
              .as(seq)
              .containsExactly(expected.get(seq));
        }
      } finally {
        LocalRun.cancel(job);
      }
    }
  }
}
