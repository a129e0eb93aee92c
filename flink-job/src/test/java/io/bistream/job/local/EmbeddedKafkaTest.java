package io.bistream.job.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
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

  /**
   * The partition directories of {@code topic} anywhere under {@code root}, deleted ones too. The
   * broker renames and removes files while this walks (a topic being deleted): a directory of the
   * topic gone meanwhile still counts, as it may have been renamed to one the walk had passed.
   */
  private static List<Path> topicDirectories(Path root, String topic) throws IOException {
    List<Path> found = new ArrayList<>();
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
            note(dir);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
            FileVisitResult r = skipIfGone(e);
            note(file);
            return r;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
            return e == null ? FileVisitResult.CONTINUE : skipIfGone(e);
          }

          private void note(Path p) {
            if (p.getFileName().toString().startsWith(topic + "-")) {
              found.add(p);
            }
          }

          private FileVisitResult skipIfGone(IOException e) throws IOException {
            if (e instanceof NoSuchFileException) {
              return FileVisitResult.CONTINUE;
            }
            throw e;
          }
        });
    return found;
  }
}
