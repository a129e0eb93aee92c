package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./bistream kafka}: a broker on the port asked for, reachable at the address it prints,
 * until it is stopped as Ctrl-C stops it; a port in use is one line naming it.
 */
class KafkaCommandTest {

  @TempDir Path dir;

  @Test
  void servesAtThePrintedAddressUntilStoppedAndThenDeletesItsData() throws Exception {
    int port = freePort();
    Path terminal = dir.resolve("terminal.txt");
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of("-Xmx512m", "io.bistream.cli.BiStreamCli"));
    cmd.addAll(List.of("kafka", "--port", String.valueOf(port), "--topics", "in,out"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(terminal.toFile());
    pb.environment().put("CLASSPATH", System.getProperty("java.class.path"));
    pb.environment().put("BISTREAM_LOG_DIR", dir.resolve("logs").toString());
    Process p = pb.start();
    try {
      String servers = printedAddress(p, terminal);
      assertThat(servers).isEqualTo("localhost:" + port);
      String text = Files.readString(terminal);
      assertThat(text)
          .contains("./bistream run --bootstrap-servers " + servers + " --input-topic in")
          .contains("--output-topic out");

      // A created topic and one the first write creates.
      for (String topic : List.of("in", "made-by-writing")) {
        try (KafkaProducer<String, String> producer = producer(servers)) {
          producer.send(new ProducerRecord<>(topic, "s1", "{\"seq\":\"s1\",\"é\":1}")).get();
        }
        assertThat(readAll(servers, topic)).containsExactly("{\"seq\":\"s1\",\"é\":1}");
      }
    } finally {
      p.destroy(); // SIGTERM, which runs the shutdown hooks as Ctrl-C's SIGINT does
      if (!p.waitFor(2, TimeUnit.MINUTES)) {
        p.destroyForcibly();
      }
    }
    String text = Files.readString(terminal);
    assertThat(text).contains("bistream kafka: stopped; its data is deleted");
    assertThat(text).doesNotContain("\tat ").doesNotContain("Exception");
    try (ServerSocket again = new ServerSocket()) {
      again.bind(new InetSocketAddress("localhost", port)); // the port is free again
    }
  }

  @Test
  void aPortInUseIsOneLineNamingIt() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress("localhost", 0));
      int port = taken.getLocalPort();
      CliRun run = CliRun.of("kafka", "--port", String.valueOf(port));
      assertThat(run.code()).isEqualTo(2);
      assertThat(run.err())
          .contains("error: port " + port + " on localhost is in use")
          .contains("--port")
          .doesNotContain("\tat ");
    }
  }

  /** Waits for the line naming the broker's address and returns the address. */
  private static String printedAddress(Process p, Path terminal) throws Exception {
    Pattern line = Pattern.compile("(?m)^bistream kafka: a Kafka broker at (\\S+) ");
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < deadline) {
      String text = Files.exists(terminal) ? Files.readString(terminal) : "";
      Matcher m = line.matcher(text);
      if (m.find() && text.contains("Ctrl-C stops")) {
        return m.group(1);
      }
      if (!p.isAlive()) {
        throw new AssertionError("kafka exited " + p.exitValue() + ":\n" + text);
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no address printed:\n" + Files.readString(terminal));
  }

  private static KafkaProducer<String, String> producer(String servers) {
    Properties p = new Properties();
    p.put("bootstrap.servers", servers);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("acks", "all");
    return new KafkaProducer<>(p);
  }

  /** Every committed value of {@code topic}, read from the beginning. */
  private static List<String> readAll(String servers, String topic) {
    Properties p = new Properties();
    p.put("bootstrap.servers", servers);
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    p.put("isolation.level", "read_committed");
    p.put("group.id", "kafka-command-test-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    List<String> values = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
              .map(i -> new TopicPartition(topic, i.partition()))
              .toList();
      consumer.assign(partitions);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (values.isEmpty() && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          values.add(r.value());
        }
      }
    }
    return values;
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
