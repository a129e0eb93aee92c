package io.bistream.job.local;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real, in-JVM, single-node KRaft Kafka broker (Kafka's own {@code KafkaClusterTestKit}) on
 * loopback, for {@code demo}, {@code local} and the integration tests. No Docker.
 *
 * <p>Configured for one node (replication factors 1) and for Flink's exactly-once sink: {@code
 * transaction.max.timeout.ms} is one hour, above the sink's transaction timeout.
 */
public final class EmbeddedKafka implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

  /** The names of KafkaClusterTestKit's executor threads start so. */
  private static final String TEST_KIT_THREADS = "kafka-cluster-test-kit-";

  /** The extra listener of a broker started on a fixed port ({@link #start(Path, int, Map)}). */
  private static final String FIXED_PORT_LISTENER = "CLIENTS";

  private final KafkaClusterTestKit cluster;
  private final Path baseDir;
  private final int port;

  private EmbeddedKafka(KafkaClusterTestKit cluster, Path baseDir, int port) {
    this.cluster = cluster;
    this.baseDir = baseDir;
    this.port = port;
  }

  /** A new empty directory, named from {@code prefix}, deleted with the broker's on close. */
  public Path scratchDirectory(String prefix) throws IOException {
    return Files.createTempDirectory(Files.createDirectories(baseDir.resolve("scratch")), prefix);
  }

  /** Starts a combined broker + controller; returns when the broker accepts clients. */
  public static EmbeddedKafka start() {
    return start(null);
  }

  /**
   * As {@link #start()}, with the broker's logs in a new directory under {@code parent} (the
   * temporary directory when null).
   */
  public static EmbeddedKafka start(Path parent) {
    return start(parent, 0, Map.of());
  }

  /**
   * As {@link #start(Path)}, with clients reaching the broker at {@code localhost:port} (0: a free
   * port the system picks) and {@code brokerConfig} over the broker settings below (such as {@code
   * auto.create.topics.enable}).
   *
   * <p>The test kit binds its own listeners to ports it picks before the broker starts; a fixed
   * port is one more listener, {@value #FIXED_PORT_LISTENER}, that clients are given.
   *
   * @throws IllegalArgumentException naming the port when it is in use
   */
  public static EmbeddedKafka start(Path parent, int port, Map<String, String> brokerConfig) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port must be between 0 and 65535, found " + port);
    }
    if (port != 0) {
      requireFree(port);
    }
    Path dir = null;
    try {
      dir =
          parent == null
              ? Files.createTempDirectory("bistream-kafka")
              : Files.createTempDirectory(parent, "bistream-kafka");
      TestKitNodes nodes =
          new TestKitNodes.Builder()
              .setCombined(true)
              .setNumBrokerNodes(1)
              .setNumControllerNodes(1)
              .setBaseDirectory(dir)
              .build();
      KafkaClusterTestKit.Builder builder =
          new KafkaClusterTestKit.Builder(nodes)
              .setConfigProp("offsets.topic.replication.factor", "1")
              .setConfigProp("offsets.topic.num.partitions", "4")
              .setConfigProp("transaction.state.log.replication.factor", "1")
              .setConfigProp("transaction.state.log.min.isr", "1")
              .setConfigProp("transaction.state.log.num.partitions", "4")
              .setConfigProp("transaction.max.timeout.ms", "3600000")
              .setConfigProp("group.initial.rebalance.delay.ms", "0")
              .setConfigProp("auto.create.topics.enable", "false")
              // a deleted topic's files go within a second, not after Kafka's 30 s start delay
              // of its log tasks plus a minute
              .setConfigProp("log.initial.task.delay.ms", "100")
              .setConfigProp("log.segment.delete.delay.ms", "1000")
              .setDeleteOnClose(true);
      if (port != 0) {
        String broker = nodes.brokerListenerName().value();
        String controller = nodes.controllerListenerName().value();
        builder
            .setConfigProp(
                "listeners",
                broker
                    + "://localhost:0,"
                    + controller
                    + "://localhost:0,"
                    + FIXED_PORT_LISTENER
                    + "://localhost:"
                    + port)
            .setConfigProp(
                "listener.security.protocol.map",
                broker
                    + ":PLAINTEXT,"
                    + controller
                    + ":PLAINTEXT,"
                    + FIXED_PORT_LISTENER
                    + ":PLAINTEXT");
      }
      brokerConfig.forEach(builder::setConfigProp);
      KafkaClusterTestKit cluster = builder.build();
      formatQuietly(cluster);
      cluster.startup();
      cluster.waitForReadyBrokers();
      return new EmbeddedKafka(cluster, dir, port);
    } catch (Exception e) {
      deleteQuietly(dir);
      if (port != 0 && causedBy(e, BindException.class)) {
        throw portInUse(port);
      }
      throw new IllegalStateException(
          "could not start the embedded Kafka broker: "
              + e
              + "; check free space in "
              + (parent == null ? "the temp directory" : parent)
              + " and that loopback ports can be opened",
          e);
    }
  }

  /**
   * Refuses a port another process listens on, before the broker starts: Kafka would fail deep in
   * its start-up instead.
   */
  private static void requireFree(int port) {
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress("localhost", port));
    } catch (IOException e) {
      throw portInUse(port);
    }
  }

  private static IllegalArgumentException portInUse(int port) {
    return new IllegalArgumentException(
        "port "
            + port
            + " on localhost is in use (another Kafka broker?): stop what listens there, or"
            + " choose another port");
  }

  private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Formats the broker's directories. Kafka's formatter prints what it does to {@code System.out}
   * (the bootstrap metadata, one line per directory), which is no output of BiStream's: while it
   * runs, what the test kit's threads (it formats on its executor, threads named {@value
   * #TEST_KIT_THREADS}...) and this thread print goes to the log instead; other threads print as
   * before.
   */
  private static void formatQuietly(KafkaClusterTestKit cluster) throws Exception {
    PrintStream terminal = System.out;
    Thread formatting = Thread.currentThread();
    ByteArrayOutputStream said = new ByteArrayOutputStream();
    OutputStream divert =
        new OutputStream() {
          @Override
          public void write(int b) throws IOException {
            target().write(b);
          }

          @Override
          public void write(byte[] b, int off, int len) throws IOException {
            target().write(b, off, len);
          }

          @Override
          public void flush() {
            terminal.flush();
          }

          private OutputStream target() {
            Thread t = Thread.currentThread();
            return t == formatting || t.getName().startsWith(TEST_KIT_THREADS) ? said : terminal;
          }
        };
    System.setOut(new PrintStream(divert, true));
    try {
      cluster.format();
    } finally {
      System.setOut(terminal);
      LOG.info("{}", said.toString().strip());
    }
  }

  /** Where clients connect: {@code localhost:port} on a fixed port, else the test kit's. */
  public String bootstrapServers() {
    return port != 0 ? "localhost:" + port : cluster.bootstrapServers();
  }

  /** Creates topics and waits until they exist. */
  public void createTopics(int partitions, String... names) throws Exception {
    try (Admin admin = Admin.create(clientProps())) {
      List<NewTopic> topics = new ArrayList<>();
      for (String n : names) {
        topics.add(new NewTopic(n, partitions, (short) 1));
      }
      admin.createTopics(topics).all().get();
    }
  }

  /**
   * Deletes topics and waits until the broker has accepted it; their log files go about a second
   * later.
   */
  public void deleteTopics(String... names) throws Exception {
    try (Admin admin = Admin.create(clientProps())) {
      admin.deleteTopics(List.of(names)).all().get();
    }
  }

  /** Produces key/value pairs in order (idempotent producer, acks=all) and flushes. */
  public void produce(String topic, List<Map.Entry<String, String>> keyValues) throws Exception {
    try (KafkaProducer<String, String> producer = producer()) {
      send(producer, topic, keyValues);
    }
  }

  /**
   * Produces key/value pairs in order and reports what became of each: null for a record the broker
   * acknowledged, else the exception that refused it (such as {@code RecordTooLargeException} for a
   * record over {@code max.request.size}).
   */
  public List<Exception> produceChecked(String topic, List<Map.Entry<String, String>> keyValues) {
    try (KafkaProducer<String, String> producer = producer()) {
      return sendAll(producer, topic, keyValues);
    }
  }

  /**
   * A producer (idempotent, acks=all) for callers that send many batches: one producer for a whole
   * paced stream, since starting one per batch takes up to seconds on a busy machine.
   */
  public KafkaProducer<String, String> producer() {
    return new KafkaProducer<>(producerProps());
  }

  /** As {@link #producer()}, transactional with {@code transactionalId}. */
  public KafkaProducer<String, String> producer(String transactionalId) {
    Properties p = producerProps();
    p.put("transactional.id", transactionalId);
    return new KafkaProducer<>(p);
  }

  private Properties producerProps() {
    Properties p = clientProps();
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("acks", "all");
    p.put("enable.idempotence", "true");
    p.put("linger.ms", "5");
    // A broker sharing two cores with a MiniCluster can take long to answer; a request that
    // times out makes the idempotent producer reset its sequence and lose the batches in flight.
    p.put("request.timeout.ms", "120000");
    p.put("delivery.timeout.ms", "300000");
    // One request in flight: a batch the producer retries is then always the latest one, which
    // the broker's duplicate check (the last five batches per producer and partition) recognises.
    // With five in flight, a first batch retried after a freshly created partition's first
    // answers came in as OutOfOrderSequence forever and expired (seen once in a CI run).
    p.put("max.in.flight.requests.per.connection", "1");
    return p;
  }

  /**
   * Sends key/value pairs in order with {@code producer}, flushes, and checks that the broker took
   * every one.
   *
   * @throws IllegalStateException naming the topic, how many records were refused and the first
   *     cause: a send that failed is never passed over silently
   */
  public static void send(
      KafkaProducer<String, String> producer,
      String topic,
      List<Map.Entry<String, String>> keyValues) {
    List<Exception> results = sendAll(producer, topic, keyValues);
    List<Exception> failed = results.stream().filter(java.util.Objects::nonNull).toList();
    if (!failed.isEmpty()) {
      throw new IllegalStateException(
          failed.size()
              + " of "
              + results.size()
              + " records were not produced to "
              + topic
              + ": "
              + failed.get(0),
          failed.get(0));
    }
  }

  /**
   * Sends key/value pairs in order, flushes, and returns per record null when the broker
   * acknowledged it, else the exception that refused it.
   */
  private static List<Exception> sendAll(
      KafkaProducer<String, String> producer,
      String topic,
      List<Map.Entry<String, String>> keyValues) {
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    for (Map.Entry<String, String> kv : keyValues) {
      sent.add(producer.send(new ProducerRecord<>(topic, kv.getKey(), kv.getValue())));
    }
    producer.flush();
    List<Exception> results = new ArrayList<>();
    for (Future<RecordMetadata> f : sent) {
      try {
        f.get();
        results.add(null);
      } catch (ExecutionException e) {
        results.add(e.getCause() instanceof Exception c ? c : e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while producing to " + topic, e);
      }
    }
    return results;
  }

  /**
   * Reads a topic from the beginning with {@code isolation.level=read_committed}: all records up to
   * the end offsets (last stable offsets) seen when the call starts, in partition and offset order.
   * Gives up waiting after {@code timeout}.
   */
  public List<ConsumerRecord<String, String>> readCommitted(String topic, Duration timeout) {
    List<ConsumerRecord<String, String>> out = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = committedConsumer(topic, timeout)) {
      Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), timeout);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline && !reached(consumer, end)) {
        ConsumerRecords<String, String> batch = consumer.poll(Duration.ofMillis(200));
        batch.forEach(out::add);
      }
    }
    sortByOffset(out);
    return out;
  }

  /**
   * A {@code read_committed} consumer assigned every partition of {@code topic} from the beginning,
   * for callers that follow a topic as it grows (the caller closes it).
   */
  public KafkaConsumer<String, String> committedConsumer(String topic, Duration timeout) {
    Properties p = clientProps();
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    p.put("isolation.level", "read_committed");
    p.put("enable.auto.commit", "false");
    p.put("group.id", "bistream-reader-" + UUID.randomUUID());
    KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p);
    List<TopicPartition> partitions =
        consumer.partitionsFor(topic, timeout).stream()
            .map(i -> new TopicPartition(topic, i.partition()))
            .toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    return consumer;
  }

  /** In partition and offset order. */
  public static void sortByOffset(List<ConsumerRecord<String, String>> records) {
    records.sort(
        Comparator.<ConsumerRecord<String, String>>comparingInt(ConsumerRecord::partition)
            .thenComparingLong(ConsumerRecord::offset));
  }

  private static boolean reached(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  private Properties clientProps() {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrapServers());
    return p;
  }

  @Override
  public void close() throws Exception {
    try {
      cluster.close();
    } finally {
      deleteQuietly(baseDir);
    }
  }

  private static void deleteQuietly(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (Exception e) {
      // best effort: a temp directory
    }
  }
}
