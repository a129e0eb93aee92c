package io.bistream.job.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded broker is a real Kafka: records round-trip, transactions are honoured. */
class EmbeddedKafkaTest {

  @Test
  void roundTripsNonAsciiRecordsAndHidesAbortedTransactions() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      kafka.createTopics(2, "plain", "tx");
      kafka.produce("plain", List.of(Map.entry("clé-1", "{\"v\":\"é✓\"}"), Map.entry("k2", "b")));
      assertThat(kafka.readCommitted("plain", Duration.ofSeconds(10)))
          .extracting(ConsumerRecord::value)
          .containsExactlyInAnyOrder("{\"v\":\"é✓\"}", "b");

      Properties p = new Properties();
      p.put("bootstrap.servers", kafka.bootstrapServers());
      p.put("key.serializer", StringSerializer.class.getName());
      p.put("value.serializer", StringSerializer.class.getName());
      p.put("transactional.id", "test-tx");
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
        producer.initTransactions();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>("tx", "k", "committed"));
        producer.commitTransaction();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>("tx", "k", "aborted"));
        producer.flush();
        producer.abortTransaction();
      }
      assertThat(kafka.readCommitted("tx", Duration.ofSeconds(10)))
          .extracting(ConsumerRecord::value)
          .containsExactly("committed");
    }
  }

  @Test
  void keepsItsLogsUnderTheGivenDirectoryAndDeletesTopicsWithTheirFiles(@TempDir Path parent)
      throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(parent)) {
      kafka.createTopics(2, "kept", "gone");
      kafka.produce("kept", List.of(Map.entry("k", "stays")));
      kafka.produce("gone", List.of(Map.entry("k", "goes")));
      assertThat(topicDirectories(parent, "gone")).hasSize(2);

      kafka.deleteTopics("gone");

      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!topicDirectories(parent, "gone").isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertThat(topicDirectories(parent, "gone")).isEmpty();
      assertThat(topicDirectories(parent, "kept")).hasSize(2);
      assertThat(kafka.readCommitted("kept", Duration.ofSeconds(10)))
          .extracting(ConsumerRecord::value)
          .containsExactly("stays");
    }
  }

  /** The partition directories of {@code topic} anywhere under {@code root}, deleted ones too. */
  private static List<Path> topicDirectories(Path root, String topic) throws IOException {
    try (Stream<Path> files = Files.walk(root)) {
      return files
          .filter(Files::isDirectory)
          .filter(f -> f.getFileName().toString().startsWith(topic + "-"))
          .toList();
    }
  }
}
