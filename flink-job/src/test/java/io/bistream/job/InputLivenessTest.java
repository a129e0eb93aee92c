package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A stalled source is not a quiet producer: the input-liveness probe against a real broker, and the
 * keyed operator's idle timeout with it.
 */
class InputLivenessTest {

  private static EmbeddedKafka kafka;

  @BeforeAll
  static void startBroker() throws Exception {
    kafka = EmbeddedKafka.start();
  }

  @AfterAll
  static void stopBroker() throws Exception {
    kafka.close();
  }

  private static void produce(String topic, int partition, int records) {
    try (KafkaProducer<String, String> p = kafka.producer()) {
      for (int i = 0; i < records; i++) {
        p.send(new ProducerRecord<>(topic, partition, "k", "{}"));
      }
      p.flush();
    }
  }

  /** Commits {@code offset} of {@code topic}-{@code partition} for {@code group}, as the source. */
  private static void commit(String group, String topic, int partition, long offset) {
    Properties p = new Properties();
    p.put("bootstrap.servers", kafka.bootstrapServers());
    p.put("group.id", group);
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
      c.commitSync(Map.of(new TopicPartition(topic, partition), new OffsetAndMetadata(offset)));
    }
  }

  @Test
  void partitionIsQuietOnlyWhenTheGroupCommittedUpToItsEnd() throws Exception {
    kafka.createTopics(2, "probe-in");
    try (InputLiveness probe =
        new InputLiveness(kafka.bootstrapServers(), Map.of(), "probe-in", "probe-group")) {
      assertThat(probe.consumedEverything(0, 0)).as("an empty partition").isTrue();
      produce("probe-in", 0, 3);
      assertThat(probe.consumedEverything(0, 1)).as("nothing committed").isFalse();
      commit("probe-group", "probe-in", 0, 2);
      assertThat(probe.consumedEverything(0, 2)).as("one record not consumed").isFalse();
      commit("probe-group", "probe-in", 0, 3);
      assertThat(probe.consumedEverything(0, 3)).as("everything consumed").isTrue();
      assertThat(probe.consumedEverything(1, 4)).as("the other partition is empty").isTrue();
    }
  }

  @Test
  void aTransactionMarkerAfterTheLastConsumedRecordStillCountsAsConsumed() throws Exception {
    kafka.createTopics(1, "tx-in");
    try (KafkaProducer<String, String> p = kafka.producer("tx-probe")) {
      p.initTransactions();
      p.beginTransaction();
      for (int i = 0; i < 3; i++) {
        p.send(new ProducerRecord<>("tx-in", 0, "k", "{}"));
      }
      p.commitTransaction();
    }
    // commitTransaction returns once the coordinator decided; the partition's marker follows.
    awaitVisible("tx-in", 3);
    try (InputLiveness probe =
        new InputLiveness(kafka.bootstrapServers(), Map.of(), "tx-in", "tx-group")) {
      commit("tx-group", "tx-in", 0, 2);
      assertThat(probe.consumedEverything(0, 0)).as("a record not consumed").isFalse();
      // The source commits the offset after its last record (3); the end offset is past the
      // commit marker (4).
      commit("tx-group", "tx-in", 0, 3);
      assertThat(probe.consumedEverything(0, 1)).as("only the marker left").isTrue();
    }
  }

  @Test
  void anOpenTransactionPastTheCommittedOffsetIsNotQuiet() throws Exception {
    kafka.createTopics(1, "open-tx-in");
    try (KafkaProducer<String, String> p = kafka.producer("open-tx-probe");
        InputLiveness probe =
            new InputLiveness(kafka.bootstrapServers(), Map.of(), "open-tx-in", "open-tx-group")) {
      p.initTransactions();
      p.beginTransaction();
      p.send(new ProducerRecord<>("open-tx-in", 0, "k", "{}"));
      p.flush();
      commit("open-tx-group", "open-tx-in", 0, 0);
      // The read_committed end offset stays at 0 while the transaction is open: the producer is
      // mid-transaction, not quiet.
      assertThat(probe.consumedEverything(0, 0)).as("records in an open transaction").isFalse();
      p.abortTransaction();
    }
  }

  /** Waits until a read_committed consumer sees {@code records} records of partition 0. */
  private static void awaitVisible(String topic, int records) {
    Properties p = new Properties();
    p.put("bootstrap.servers", kafka.bootstrapServers());
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      int seen = 0;
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (seen < records && System.nanoTime() < deadline) {
        seen += c.poll(Duration.ofMillis(100)).count();
      }
      assertThat(seen).as("records visible to read_committed").isEqualTo(records);
    }
  }

  @Test
  void anUnreachableBrokerIsNotQuiet() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    try (InputLiveness probe =
        new InputLiveness("127.0.0.1:" + closedPort, Map.of(), "in", "group")) {
      assertThat(probe.consumedEverything(0, 0)).as("no answer").isNull();
    }
  }

  @Test
  void shouldNotEndASequenceByTheQuietRuleWhileItsPartitionHoldsUnconsumedRecords()
      throws Exception {
    kafka.createTopics(1, "stall-in", "stall-out");
    JobSettings s =
        SequenceOperatorFaultTest.settings(
            SequenceOperatorTest.MODEL,
            StreamConfig.exact(),
            1,
            "stall-in",
            "stall-out",
            kafka.bootstrapServers());
    // The producer wrote 3 records; the job processed 2 and then its source stalled.
    produce("stall-in", 0, 3);
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s), (InputEvent e) -> e.seq, Types.STRING);
    h.open();
    h.setProcessingTime(0);
    h.processElement(record(0, 1_000, 0), 0);
    h.processElement(record(1, 1_001, 1), 0);
    h.setProcessingTime(31_000); // idle timeout, nothing processed since: the source stalled
    assertThat(ends(h.extractOutputValues())).as("no end while records wait").isEmpty();
    assertThat(h.numProcessingTimeTimers()).as("re-armed").isEqualTo(1);

    commit(BiStreamJob.groupId(s), "stall-in", 0, 3); // everything consumed: quiet from here
    h.setProcessingTime(60_000);
    assertThat(ends(h.extractOutputValues()))
        .as("the broker has shown everything consumed only just now")
        .isEmpty();
    h.setProcessingTime(60_000 + 30_000 + 1_250); // a whole timeout of such answers, a probe later
    List<JsonNode> ends = ends(h.extractOutputValues());
    assertThat(ends).hasSize(1);
    assertThat(ends.get(0).get("why").asText()).isEqualTo("idle_timeout");
    assertThat(ends.get(0).get("steps").asLong()).isEqualTo(2);
    assertThat(h.numProcessingTimeTimers()).isEqualTo(1); // the tombstone's retention timer
    h.close();
  }

  private static InputEvent record(long t, long timestamp, long offset) {
    InputEvent e =
        SequenceOperatorFaultTest.record(
            "s", t, SequenceOperatorFaultTest.rows(t, 1), 3, false, offset);
    e.topic = "stall-in";
    e.timestamp = timestamp;
    return e;
  }

  private static List<JsonNode> ends(List<OutputRecord> out) throws Exception {
    return SequenceOperatorFaultTest.values(out, "stall-out", null).stream()
        .filter(n -> n.has("end"))
        .toList();
  }
}
