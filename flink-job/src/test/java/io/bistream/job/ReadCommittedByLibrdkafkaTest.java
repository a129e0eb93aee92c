package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A consumer no one on the team wrote: librdkafka (Debian's python3-confluent-kafka) reads the
 * job's committed output with {@code isolation.level=read_committed} through {@code
 * scripts/consume_output.py} (docs/operations.md, "Reading the output with librdkafka"), and sees
 * exactly the records a Java read_committed consumer sees: one per step, one end record per
 * sequence, the dead letters. Skipped where the package is not installed.
 */
class ReadCommittedByLibrdkafkaTest {

  /** Debian's Python, where python3-confluent-kafka installs (another with -Dbistream.python). */
  private static final String PYTHON = System.getProperty("bistream.python", "/usr/bin/python3");

  private static final Path SCRIPT = Path.of("../scripts/consume_output.py");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int STEPS = 5;

  @TempDir Path dir;

  /** In the test, not in a BeforeAll: surefire then reports it skipped, with this message. */
  private static void assumeLibrdkafkaIsInstalled() throws Exception {
    boolean installed = false;
    if (Files.isExecutable(Path.of(PYTHON))) {
      Process p =
          new ProcessBuilder(PYTHON, "-c", "import confluent_kafka")
              .redirectErrorStream(true)
              .start();
      installed = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    }
    assumeTrue(
        installed,
        "skipped: "
            + PYTHON
            + " cannot import confluent_kafka, librdkafka for Python (Debian: apt-get install"
            + " python3-confluent-kafka)");
  }

  @Test
  void librdkafkaReadCommittedSeesWhatAJavaReadCommittedConsumerSees() throws Exception {
    assumeLibrdkafkaIsInstalled();
    List<String> sequences = List.of("a", "séq-ü", "c");
    List<String> lines = new ArrayList<>();
    for (int t = 0; t < STEPS; t++) {
      for (String seq : sequences) {
        lines.add(
            "{\"seq\":\""
                + seq
                + "\",\"t\":"
                + t
                + ",\"x\":["
                + (0.1 * t)
                + ","
                + (-0.2 * t)
                + ",0.5]}");
      }
    }
    for (String seq : sequences) {
      lines.add("{\"seq\":\"" + seq + "\",\"t\":" + STEPS + ",\"end\":true}");
    }
    lines.add("{\"seq\":\"broken\",\"t\":0,\"x\":[1,2"); // a dead letter: not JSON

    List<Map<String, Object>> java;
    try (EmbeddedKafka kafka = EmbeddedKafka.start(dir)) {
      kafka.createTopics(2, "in", "out", "in-dead-letters");
      kafka.produce("in", LocalRun.keyed(lines));
      JobOptions o = LocalRun.options(kafka, SequenceOperatorTest.MODEL, "in", "out");
      o.chunk = 2;
      JobClient job = LocalRun.start(List.of(o), "librdkafka read_committed");
      try {
        LocalRun.awaitEnded(
            kafka, job, "out", Set.copyOf(sequences), Duration.ofMinutes(3), n -> {});
      } finally {
        LocalRun.cancel(job);
      }
      java = new ArrayList<>();
      for (String topic : List.of("out", "in-dead-letters")) {
        for (ConsumerRecord<String, String> r :
            kafka.readCommitted(topic, Duration.ofSeconds(30))) {
          java.add(record(r.topic(), r.partition(), r.offset(), r.key(), r.value()));
        }
      }
      List<Map<String, Object>> python = consumeWithLibrdkafka(kafka.bootstrapServers());

      assertThat(python).containsExactlyInAnyOrderElementsOf(java);
    }

    // What a consumer sees: a record per step, an end record per sequence, the dead letter.
    List<JsonNode> values = new ArrayList<>();
    for (Map<String, Object> r : java) {
      values.add(JSON.readTree((String) r.get("value")));
    }
    for (String seq : sequences) {
      assertThat(values.stream().filter(v -> v.path("seq").asText().equals(seq) && v.has("y")))
          .as("outputs of " + seq)
          .hasSize(STEPS);
      assertThat(values.stream().filter(v -> v.path("seq").asText().equals(seq)))
          .filteredOn(v -> v.path("end").asBoolean(false))
          .singleElement()
          .satisfies(
              end -> {
                assertThat(end.path("steps").asInt()).isEqualTo(STEPS);
                assertThat(end.path("why").asText()).isEqualTo("end_marker");
              });
    }
    assertThat(values).filteredOn(v -> v.has("reason")).singleElement();
  }

  /** The records scripts/consume_output.py prints, read to the end of the committed records. */
  private List<Map<String, Object>> consumeWithLibrdkafka(String servers) throws Exception {
    Path out = dir.resolve("python.jsonl");
    Path err = dir.resolve("python.err");
    ProcessBuilder pb =
        new ProcessBuilder(
                PYTHON,
                SCRIPT.toString(),
                "--bootstrap-servers",
                servers,
                "--topic",
                "out",
                "--topic",
                "in-dead-letters",
                "--exit-at-end",
                "--json-lines")
            .redirectOutput(out.toFile())
            .redirectError(err.toFile());
    pb.environment().put("PYTHONIOENCODING", "utf-8"); // sequence ids are not all ASCII
    Process p = pb.start();
    if (!p.waitFor(2, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("consume_output.py did not finish: " + Files.readString(err));
    }
    assertThat(p.exitValue()).as(Files.readString(err)).isZero();
    List<Map<String, Object>> records = new ArrayList<>();
    for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
      JsonNode n = JSON.readTree(line);
      records.add(
          record(
              n.get("topic").asText(),
              n.get("partition").asInt(),
              n.get("offset").asLong(),
              n.get("key").isNull() ? null : n.get("key").asText(),
              n.get("value").asText()));
    }
    return records;
  }

  private static Map<String, Object> record(
      String topic, int partition, long offset, String key, String value) {
    java.util.HashMap<String, Object> r = new java.util.HashMap<>();
    r.put("topic", topic);
    r.put("partition", partition);
    r.put("offset", offset);
    r.put("key", key);
    r.put("value", value);
    return r;
  }
}
