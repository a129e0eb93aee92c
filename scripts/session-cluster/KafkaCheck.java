import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Kafka side of scripts/session-cluster.sh, run with Java's source launcher on the broker's own
 * kafka-clients: creates the topics and produces DESIGN §5 input, then reads the output topic with
 * read_committed until every sequence has ended and checks what arrived.
 *
 * <pre>
 * produce BOOTSTRAP IN OUT DLQ PREFIX SEQUENCES STEPS WIDTH
 * await   BOOTSTRAP OUT DLQ PREFIX SEQUENCES STEPS TIMEOUT_SECONDS
 * </pre>
 */
public final class KafkaCheck {

  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] a) throws Exception {
    switch (a[0]) {
      case "produce" -> produce(
          a[1], a[2], a[3], a[4], a[5], Integer.parseInt(a[6]), Integer.parseInt(a[7]),
          Integer.parseInt(a[8]));
      case "await" -> System.exit(
          await(a[1], a[2], a[3], a[4], Integer.parseInt(a[5]), Integer.parseInt(a[6]),
              Integer.parseInt(a[7])));
      default -> throw new IllegalArgumentException("unknown command " + a[0]);
    }
  }

  /** Topics (2 partitions), then each sequence as single steps and multi-step records, an end
   * marker, and one malformed record that must come back as a dead letter. */
  static void produce(String bootstrap, String in, String out, String dlq, String prefix,
      int sequences, int steps, int width) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(List.of(new NewTopic(in, 2, (short) 1), new NewTopic(out, 2, (short) 1),
          new NewTopic(dlq, 1, (short) 1))).all().get();
      // A new partition takes a moment to get its leader; produce only after that.
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (!admin.describeTopics(List.of(in, out, dlq)).allTopicNames().get().values().stream()
          .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("topics " + in + ", " + out + ", " + dlq
              + " have no partition leaders after 60 s");
        }
        Thread.sleep(200);
      }
    }
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("acks", "all");
    // One request in flight: steps stay in order even if a send is retried.
    p.put("max.in.flight.requests.per.connection", "1");
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    Random rnd = new Random(42);
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int s = 0; s < sequences; s++) {
        String seq = prefix + "-s" + s;
        int t = 0;
        while (t < steps) {
          // Alternate one-step ("x") and multi-step ("xs") records.
          int n = (t / 7) % 2 == 0 ? 1 : Math.min(5, steps - t);
          StringBuilder v = new StringBuilder("{\"seq\":\"" + seq + "\",\"t\":" + t + ",");
          v.append(n == 1 ? "\"x\":" : "\"xs\":[");
          for (int i = 0; i < n; i++) {
            v.append(i > 0 ? "," : "").append('[');
            for (int d = 0; d < width; d++) {
              v.append(d > 0 ? "," : "").append(String.format("%.4f", rnd.nextGaussian()));
            }
            v.append(']');
          }
          v.append(n == 1 ? "}" : "]}");
          sent.add(producer.send(new ProducerRecord<>(in, seq, v.toString())));
          t += n;
        }
        sent.add(producer.send(new ProducerRecord<>(in, seq, "{\"seq\":\"" + seq + "\",\"t\":" + t
            + ",\"end\":true}")));
      }
      sent.add(producer.send(new ProducerRecord<>(in, prefix + "-bad", "{not json")));
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get(); // throws if any record was not written
      }
    }
    System.out.printf("produced %d records (%d sequences x %d steps, width %d, + 1 malformed)"
        + " to %s%n", sent.size(), sequences, steps, width, in);
  }

  /** 0 when every sequence ended with all its steps, in order, each a softmax; 1 otherwise. */
  static int await(String bootstrap, String out, String dlq, String prefix, int sequences,
      int steps, int timeoutSeconds) throws Exception {
    long start = System.nanoTime();
    long deadline = start + Duration.ofSeconds(timeoutSeconds).toNanos();
    Map<String, List<JsonNode>> bySeq = new HashMap<>();
    Map<String, Integer> ended = new HashMap<>();
    int lastReported = -1;
    try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
      List<TopicPartition> parts = new ArrayList<>();
      c.partitionsFor(out).forEach(pi -> parts.add(new TopicPartition(out, pi.partition())));
      c.assign(parts);
      c.seekToBeginning(parts);
      while (ended.size() < sequences && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
          JsonNode n = JSON.readTree(r.value());
          String seq = n.path("seq").asText();
          if (n.path("end").asBoolean(false)) {
            ended.put(seq, n.path("steps").asInt(-1));
          } else {
            bySeq.computeIfAbsent(seq, k -> new ArrayList<>()).add(n);
          }
        }
        if (ended.size() != lastReported) {
          lastReported = ended.size();
          System.out.printf("  %5.1f s  %d/%d sequences ended (committed outputs)%n",
              (System.nanoTime() - start) / 1e9, ended.size(), sequences);
        }
      }
    }
    List<String> problems = new ArrayList<>();
    int outputs = 0;
    for (int s = 0; s < sequences; s++) {
      String seq = prefix + "-s" + s;
      List<JsonNode> ys = bySeq.getOrDefault(seq, List.of());
      outputs += ys.size();
      if (!ended.containsKey(seq)) {
        problems.add(seq + ": no end record within " + timeoutSeconds + " s");
        continue;
      }
      if (ended.get(seq) != steps) {
        problems.add(seq + ": end record says " + ended.get(seq) + " steps, expected " + steps);
      }
      for (int i = 0; i < ys.size(); i++) {
        JsonNode y = ys.get(i);
        int t = y.path("t").asInt(-1);
        if (t != i) {
          problems.add(seq + ": output #" + i + " has t=" + t + " (expected in order, once)");
          break;
        }
        double sum = 0;
        for (JsonNode v : y.path("y")) {
          sum += v.asDouble();
        }
        if (Math.abs(sum - 1) > 1e-4) {
          problems.add(seq + " t=" + t + ": softmax output sums to " + sum);
          break;
        }
      }
      if (ys.size() != steps) {
        problems.add(seq + ": " + ys.size() + " outputs, expected " + steps);
      }
    }
    int deadLetters = 0;
    try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
      TopicPartition tp = new TopicPartition(dlq, 0);
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long dlqDeadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (deadLetters == 0 && System.nanoTime() < dlqDeadline) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
          deadLetters++;
          System.out.println("  dead letter: " + JSON.readTree(r.value()).path("reason"));
        }
      }
    }
    if (deadLetters != 1) {
      problems.add(dlq + ": " + deadLetters + " dead letters, expected 1 (the malformed record)");
    }
    System.out.printf("%s: %d sequences ended, %d outputs, %d dead letters, %.1f s%n", out,
        ended.size(), outputs, deadLetters, (System.nanoTime() - start) / 1e9);
    problems.stream().limit(10).forEach(p -> System.out.println("  FAIL " + p));
    return problems.isEmpty() ? 0 : 1;
  }

  private static KafkaConsumer<String, String> consumer(String bootstrap) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }
}
