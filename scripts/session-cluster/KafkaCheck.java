import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.faults.OutputLedger;
import java.io.BufferedWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
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
 * kafka-clients: creates the topics and produces input records (docs/schemas/), then reads the output topic with
 * read_committed until every sequence has ended and checks what arrived.
 *
 * <p>The fault scenarios (SCENARIO=faults) use the other commands: the same input, stamped with
 * explicit CreateTime timestamps, produced in slices around a fault; every committed output
 * collected with its arrival time; each faulted run compared with the failure-free reference run
 * by {@link OutputLedger} (flink-job's test sources, compiled in with this file).
 *
 * <pre>
 * produce BOOTSTRAP IN OUT DLQ PREFIX SEQUENCES STEPS WIDTH
 * await   BOOTSTRAP OUT DLQ PREFIX SEQUENCES STEPS TIMEOUT_SECONDS
 * topics  BOOTSTRAP TOPIC...
 * input   BOOTSTRAP SEQ_PREFIX SEQUENCES STEPS WIDTH FROM_PCT TO_PCT BASE_MS TICK_MS PACE_MS
 *         PROGRESS_FILE HOLD_FILE TOPIC...
 * collect BOOTSTRAP DIR SEQUENCES TIMEOUT_SECONDS NAME=TOPIC...
 * compare REFERENCE_DIR DIR FAULT SEQUENCES STEPS MODE...
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
      case "topics" -> topics(a[1], List.of(a).subList(2, a.length));
      case "input" -> input(a[1], a[2], Integer.parseInt(a[3]), Integer.parseInt(a[4]),
          Integer.parseInt(a[5]), Integer.parseInt(a[6]), Integer.parseInt(a[7]),
          Long.parseLong(a[8]), Long.parseLong(a[9]), Long.parseLong(a[10]), Path.of(a[11]),
          Path.of(a[12]), List.of(a).subList(13, a.length));
      case "collect" -> System.exit(collect(a[1], Path.of(a[2]), Integer.parseInt(a[3]),
          Integer.parseInt(a[4]), List.of(a).subList(5, a.length)));
      case "compare" -> System.exit(compare(Path.of(a[1]), Path.of(a[2]), a[3],
          Integer.parseInt(a[4]), Integer.parseInt(a[5]), List.of(a).subList(6, a.length)));
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

  // ------------------------------------------------------------------ fault scenarios

  /** Creates the topics, 2 partitions each, and waits until every partition has a leader. */
  static void topics(String bootstrap, List<String> topics) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(topics.stream().map(t -> new NewTopic(t, 2, (short) 1)).toList()).all()
          .get();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (!admin.describeTopics(topics).allTopicNames().get().values().stream()
          .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("topics " + topics + " have no leaders after 60 s");
        }
        Thread.sleep(200);
      }
    }
  }

  /**
   * The records of one input, always the same for the same arguments: each sequence as one-step
   * and multi-step records ending with an end marker, the sequences interleaved round robin.
   */
  static List<String[]> inputRecords(String seqPrefix, int sequences, int steps, int width) {
    List<List<String[]>> bySeq = new ArrayList<>();
    for (int s = 0; s < sequences; s++) {
      String seq = seqPrefix + "-s" + s;
      Random rnd = new Random(1000 + s);
      List<String[]> records = new ArrayList<>();
      int t = 0;
      while (t < steps) {
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
        records.add(new String[] {seq, v.toString()});
        t += n;
      }
      records.add(new String[] {seq, "{\"seq\":\"" + seq + "\",\"t\":" + t + ",\"end\":true}"});
      bySeq.add(records);
    }
    List<String[]> all = new ArrayList<>();
    for (int i = 0; all.size() < bySeq.stream().mapToInt(List::size).sum(); i++) {
      for (List<String[]> records : bySeq) {
        if (i < records.size()) {
          all.add(records.get(i));
        }
      }
    }
    return all;
  }

  /**
   * Produces records [FROM_PCT, TO_PCT) of {@link #inputRecords} to every topic; record i is
   * stamped BASE_MS + i * TICK_MS (CreateTime) whenever it is sent, so slices produced before and
   * after a fault carry the timestamps of a producer that never paused. With PACE_MS > 0, record
   * i leaves no earlier than (i - first) * PACE_MS after the start. Waits for a broker that is
   * down (a producer keeps trying), and writes how many records it sent to PROGRESS_FILE.
   *
   * <p>While HOLD_FILE exists the producer holds its next record, every record before it
   * acknowledged ("held" in PROGRESS_FILE); it goes on at once when the file is gone, the next
   * record stamped one tick after the last: the input's time runs on as if the producer never
   * paused, the records of an outage held back (a producer that cannot reach its broker).
   */
  static void input(String bootstrap, String seqPrefix, int sequences, int steps, int width,
      int fromPct, int toPct, long baseMs, long tickMs, long paceMs, Path progress, Path hold,
      List<String> topics) throws Exception {
    List<String[]> all = inputRecords(seqPrefix, sequences, steps, width);
    int from = all.size() * fromPct / 100;
    int to = all.size() * toPct / 100;
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("acks", "all");
    p.put("max.in.flight.requests.per.connection", "1");
    p.put("max.block.ms", "180000");
    p.put("delivery.timeout.ms", "300000");
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    long start = System.currentTimeMillis();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      // Metadata first, so that the first sends do not wait for it.
      for (String topic : topics) {
        producer.partitionsFor(topic);
      }
      long next = System.currentTimeMillis();
      for (int i = from; i < to; i++) {
        if (Files.exists(hold)) {
          producer.flush(); // nothing in flight while held
          writeAtomically(progress, (i - from) + " " + (to - from) + " held");
          while (Files.exists(hold)) {
            Thread.sleep(20);
          }
          next = System.currentTimeMillis();
        }
        long now = System.currentTimeMillis();
        if (next > now) {
          Thread.sleep(next - now);
        }
        // One record per PACE_MS after the last, never a burst to catch up with a schedule that a
        // stalled JVM (a loaded machine) missed: the scripts time their faults by this progress.
        next = Math.max(next, System.currentTimeMillis()) + paceMs;
        for (String topic : topics) {
          sent.add(producer.send(new ProducerRecord<>(topic, null, baseMs + i * tickMs,
              all.get(i)[0], all.get(i)[1])));
        }
        writeAtomically(progress, (i - from + 1) + " " + (to - from));
      }
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get(); // throws if any record was not written
      }
    }
    writeAtomically(progress, (to - from) + " " + (to - from));
    System.out.printf("produced records %d..%d of %d to %s in %.1f s%n", from, to - 1, all.size(),
        topics, (System.currentTimeMillis() - start) / 1e3);
  }

  /**
   * Reads NAME=TOPIC topics read_committed from the beginning, appending every record as
   * "arrival-ms TAB partition TAB offset TAB value" to DIR/NAME, until each topic whose NAME ends
   * in ".out" has an end record for SEQUENCES sequences, then 3 s more (anything committed later,
   * a duplicate say, lands too). DIR/progress holds the step outputs read so far.
   */
  static int collect(String bootstrap, Path dir, int sequences, int timeoutSeconds,
      List<String> nameTopics) throws Exception {
    Files.createDirectories(dir);
    Map<String, String> nameOf = new HashMap<>();
    Map<String, BufferedWriter> out = new LinkedHashMap<>();
    Map<String, Set<String>> ended = new HashMap<>();
    for (String nt : nameTopics) {
      String[] kv = nt.split("=", 2);
      nameOf.put(kv[1], kv[0]);
      out.put(kv[0], Files.newBufferedWriter(dir.resolve(kv[0])));
      if (kv[0].endsWith(".out")) {
        ended.put(kv[0], new TreeSet<>());
      }
    }
    long start = System.nanoTime();
    long deadline = start + Duration.ofSeconds(timeoutSeconds).toNanos();
    long stopAt = Long.MAX_VALUE;
    long stepOutputs = 0;
    try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
      // The topics' 2 partitions (topics): no metadata request that could time out.
      List<TopicPartition> parts = new ArrayList<>();
      for (String topic : nameOf.keySet()) {
        parts.add(new TopicPartition(topic, 0));
        parts.add(new TopicPartition(topic, 1));
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      while (System.nanoTime() < Math.min(deadline, stopAt)) {
        org.apache.kafka.clients.consumer.ConsumerRecords<String, String> records;
        try {
          records = c.poll(Duration.ofMillis(200));
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
          continue; // the broker is down (a fault): keep reading once it is back
        }
        long arrival = System.currentTimeMillis();
        for (ConsumerRecord<String, String> r : records) {
          String name = nameOf.get(r.topic());
          out.get(name).write(arrival + "\t" + r.partition() + "\t" + r.offset() + "\t"
              + r.value().replace('\n', ' ') + "\n");
          if (ended.containsKey(name)) {
            JsonNode n = JSON.readTree(r.value());
            if (n.path("end").asBoolean(false)) {
              ended.get(name).add(n.path("seq").asText());
            } else {
              stepOutputs++;
            }
          }
        }
        if (!records.isEmpty()) {
          for (BufferedWriter w : out.values()) {
            w.flush();
          }
          writeAtomically(dir.resolve("progress"), String.valueOf(stepOutputs));
        }
        if (stopAt == Long.MAX_VALUE
            && ended.values().stream().allMatch(e -> e.size() >= sequences)) {
          stopAt = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        }
      }
    } finally {
      for (BufferedWriter w : out.values()) {
        w.close();
      }
    }
    System.out.printf("collected %d step outputs in %.1f s; sequences ended: %s%n", stepOutputs,
        (System.nanoTime() - start) / 1e9, ended.entrySet().stream()
            .map(e -> e.getKey() + " " + e.getValue().size() + "/" + sequences).toList());
    return stopAt == Long.MAX_VALUE ? 1 : 0;
  }

  /**
   * Compares what a run committed (DIR/MODE.out, DIR/MODE.dlq) with the failure-free reference
   * run of the same input, one summary line per mode; exit status 0 when every mode committed the
   * same records as the reference, each once, and no more dead letters. FAULT "reference" checks
   * the reference itself: every sequence ended with all its steps, once each.
   */
  static int compare(Path referenceDir, Path dir, String fault, int sequences, int steps,
      List<String> modes) throws Exception {
    Map<String, Long> marks = new HashMap<>();
    if (Files.exists(dir.resolve("marks"))) {
      for (String line : Files.readAllLines(dir.resolve("marks"))) {
        String[] kv = line.split("=", 2);
        marks.put(kv[0], Long.parseLong(kv[1].trim()));
      }
    }
    boolean allOk = true;
    for (String mode : modes) {
      List<String[]> got = dump(dir.resolve(mode + ".out"));
      OutputLedger ledger = OutputLedger.of(consumerRecords(got));
      long deadLetters = dump(dir.resolve(mode + ".dlq")).size();
      List<String> problems = new ArrayList<>();
      String counts;
      if (fault.equals("reference")) {
        if (ledger.ended().size() != sequences) {
          problems.add(ledger.ended().size() + " of " + sequences + " sequences ended");
        }
        for (String seq : ledger.ended()) {
          if (ledger.end(seq).path("steps").asInt(-1) != steps || ledger.rows(seq).size() != steps) {
            problems.add(seq + ": " + ledger.rows(seq).size() + " step outputs, end record "
                + ledger.end(seq) + ", expected " + steps + " steps");
          }
        }
        if (ledger.duplicates() != 0 || deadLetters != 0) {
          problems.add(ledger.duplicates() + " duplicates, " + deadLetters + " dead letters");
        }
        counts = String.format("records=%d step_outputs=%d duplicates=%d dead_letters=%d",
            ledger.records(), ledger.steps(), ledger.duplicates(), deadLetters);
      } else {
        OutputLedger reference =
            OutputLedger.of(consumerRecords(dump(referenceDir.resolve(mode + ".out"))));
        long referenceDeadLetters = dump(referenceDir.resolve(mode + ".dlq")).size();
        OutputLedger.Comparison c = ledger.compareWith(reference, 1e-5f);
        if (!c.same()) {
          problems.add(c.toString());
        }
        if (deadLetters != referenceDeadLetters) {
          problems.add(deadLetters + " dead letters (reference " + referenceDeadLetters + "): "
              + deadLetterSamples(dump(dir.resolve(mode + ".dlq"))));
        }
        String recovery = "n/a";
        if (marks.containsKey("fault_ms") && marks.containsKey("resumed_ms")) {
          recovery = got.stream().mapToLong(r -> Long.parseLong(r[0]))
              .filter(at -> at >= marks.get("resumed_ms")).min().stream()
              .mapToObj(at -> String.valueOf(at - marks.get("fault_ms"))).findFirst()
              .orElse("none");
        }
        counts = String.format(
            "records=%d reference_records=%d step_outputs=%d reference_step_outputs=%d"
                + " duplicates=%d missing=%d extra=%d differing=%d dead_letters=%d"
                + " recovery_ms=%s",
            ledger.records(), reference.records(), c.steps(), c.referenceSteps(),
            c.duplicates(), c.missing(), c.extra(), c.differing(), deadLetters, recovery);
      }
      System.out.printf("FAULT fault=%s mode=%s %s result=%s%n", fault, mode, counts,
          problems.isEmpty() ? "OK" : "FAILED");
      problems.forEach(p -> System.out.println("  " + fault + " " + mode + ": " + p));
      allOk &= problems.isEmpty();
    }
    return allOk ? 0 : 1;
  }

  /** Reason and detail of the first dead letters. */
  private static List<String> deadLetterSamples(List<String[]> deadLetters) throws Exception {
    List<String> samples = new ArrayList<>();
    for (String[] r : deadLetters.subList(0, Math.min(3, deadLetters.size()))) {
      JsonNode n = JSON.readTree(r[3]);
      samples.add(n.path("reason").asText() + ": " + n.path("detail").asText());
    }
    return samples;
  }

  /** The lines of a collect dump, split into arrival, partition, offset and value. */
  private static List<String[]> dump(Path file) throws Exception {
    List<String[]> rows = new ArrayList<>();
    if (Files.exists(file)) {
      for (String line : Files.readAllLines(file)) {
        if (!line.isBlank()) {
          rows.add(line.split("\t", 4));
        }
      }
    }
    return rows;
  }

  private static List<ConsumerRecord<String, String>> consumerRecords(List<String[]> dump) {
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    for (String[] r : dump) {
      records.add(new ConsumerRecord<>("output", Integer.parseInt(r[1]), Long.parseLong(r[2]),
          null, r[3]));
    }
    return records;
  }

  private static void writeAtomically(Path file, String text) throws Exception {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text + "\n");
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
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
