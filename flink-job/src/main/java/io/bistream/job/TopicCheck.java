package io.bistream.job;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks, before a job is submitted, that its topics are there: the input topic exists, and the
 * output and dead-letter topics exist or the broker creates them at the first write ({@code
 * auto.create.topics.enable}). Without it a missing input topic leaves the job idle and a missing
 * output topic fails it after a minute with Kafka's {@code TimeoutException ... not present in
 * metadata}; an unreachable broker keeps the job restarting.
 *
 * <p>Asks with an admin client built from the job's own Kafka properties ({@code --kafka-property}:
 * SASL, SSL ...), so it sees what the job will see; values of secret properties are never printed
 * ({@link Secrets}). Every refusal says which topic, on which broker, what was expected, what was
 * found, and what to do (docs/operations.md, "Topics checked at start").
 */
public final class TopicCheck {

  private static final Logger LOG = LoggerFactory.getLogger(TopicCheck.class);

  /** How long the check waits for the brokers before it calls them unreachable. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  /** At most this many of the broker's topic names are listed beside a missing input topic. */
  private static final int TOPICS_LISTED = 20;

  private final String bootstrapServers;
  private final Map<String, String> kafkaProperties;
  private final Duration timeout;

  /**
   * @param bootstrapServers the job's {@code --bootstrap-servers}
   * @param kafkaProperties the job's {@code --kafka-property} values (security settings)
   * @param timeout how long to wait for the brokers in all
   */
  public TopicCheck(
      String bootstrapServers, Map<String, String> kafkaProperties, Duration timeout) {
    this.bootstrapServers = bootstrapServers;
    this.kafkaProperties = Map.copyOf(kafkaProperties);
    this.timeout = timeout;
  }

  /** A topic the job uses, with the option that names it. */
  public enum Role {
    INPUT("input", "--input-topic"),
    OUTPUT("output", "--output-topic"),
    DEAD_LETTERS("dead-letter", "--dead-letter-topic"),
    MODELS("model", "--model-topic");

    private final String label;
    private final String option;

    Role(String label, String option) {
      this.label = label;
      this.option = option;
    }
  }

  /** A topic the job cannot use as it is; the message says why and what to do. */
  public static final class TopicsNotReady extends RuntimeException {
    TopicsNotReady(String message) {
      super(message);
    }
  }

  /**
   * Checks the topics of {@code settings} and returns one line saying what was found, such as
   * {@code input in (4 partitions), output out (4 partitions), dead-letter dlq (created at the
   * first write: the broker creates topics)}.
   *
   * @throws TopicsNotReady the input topic is missing, an output or dead-letter topic is missing
   *     and the broker does not create topics, a topic may not be described, or no broker answered
   *     within the timeout
   */
  public String check(JobSettings settings) {
    Map<String, Role> topics = new LinkedHashMap<>();
    topics.put(settings.inputTopic(), Role.INPUT);
    topics.putIfAbsent(settings.outputTopic(), Role.OUTPUT);
    topics.putIfAbsent(settings.deadLetterTopic(), Role.DEAD_LETTERS);
    if (settings.modelTopic() != null) {
      topics.putIfAbsent(settings.modelTopic(), Role.MODELS);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    try (Admin admin = Admin.create(adminProperties())) {
      Collection<Node> brokers = await(admin.describeCluster().nodes(), deadline);
      Map<String, Integer> partitions = new LinkedHashMap<>();
      List<String> missing = new ArrayList<>();
      Map<String, KafkaFuture<TopicDescription>> described =
          admin.describeTopics(topics.keySet()).topicNameValues();
      // In the order of the options, input first, for messages that read in that order.
      for (var e : topics.entrySet()) {
        try {
          TopicDescription d = await(described.get(e.getKey()), deadline);
          partitions.put(e.getKey(), d.partitions().size());
        } catch (ExecutionException failed) {
          if (failed.getCause() instanceof UnknownTopicOrPartitionException) {
            missing.add(e.getKey());
          } else if (failed.getCause() instanceof TopicAuthorizationException) {
            throw new TopicsNotReady(
                e.getValue().label
                    + " topic '"
                    + e.getKey()
                    + "' on Kafka at "
                    + bootstrapServers
                    + ": not authorized to describe it; the job's principal needs read (input) or"
                    + " write (output, dead letters) access to it (--kafka-property sets the"
                    + " credentials)");
          } else {
            throw failed;
          }
        }
      }
      if (missing.contains(settings.inputTopic())) {
        throw new TopicsNotReady(missingInput(settings.inputTopic(), topicNames(admin, deadline)));
      }
      if (settings.modelTopic() != null && missing.contains(settings.modelTopic())) {
        // The job reads it: a missing one would fail the job's Kafka source at start.
        throw new TopicsNotReady(
            "model topic '"
                + settings.modelTopic()
                + "' (--model-topic) does not exist on Kafka at "
                + bootstrapServers
                + ": create it with one partition (its order is the order of the model versions),"
                + " e.g. kafka-topics.sh --bootstrap-server "
                + bootstrapServers
                + " --create --topic "
                + settings.modelTopic()
                + " --partitions 1");
      }
      String autoCreate = missing.isEmpty() ? null : autoCreate(admin, brokers, deadline);
      if (!missing.isEmpty() && !"true".equals(autoCreate)) {
        String message = missingOutputs(missing, topics, autoCreate);
        if (autoCreate != null) {
          throw new TopicsNotReady(message);
        }
        // The broker's setting could not be read (no DescribeConfigs right): the job may still
        // work, so it is a warning, not a refusal.
        LOG.warn("{}", message);
        System.err.println("bistream run: warning: " + message);
      }
      List<String> found = new ArrayList<>();
      topics.forEach(
          (name, role) ->
              found.add(
                  role.label
                      + " "
                      + name
                      + (partitions.containsKey(name)
                          ? " (" + partitions.get(name) + " partitions)"
                          : " (created at the first write: the broker creates topics)")));
      return String.join(", ", found);
    } catch (TimeoutException e) {
      LOG.warn("no answer from Kafka at {} within {}", bootstrapServers, timeout, e);
      throw new TopicsNotReady(unreachable());
    } catch (ExecutionException e) {
      LOG.warn("checking the topics on Kafka at {} failed", bootstrapServers, e);
      if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
        throw new TopicsNotReady(unreachable());
      }
      throw new TopicsNotReady(
          "could not check the topics on Kafka at "
              + bootstrapServers
              + ": "
              + e.getCause().getMessage()
              + "; check the security settings (--kafka-property "
              + Secrets.mask(kafkaProperties)
              + ")");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TopicsNotReady("interrupted while checking the topics on " + bootstrapServers);
    } catch (org.apache.kafka.common.KafkaException e) {
      // Admin.create refuses bootstrap servers it cannot resolve or a bad property at once.
      LOG.warn("could not create an admin client for {}", bootstrapServers, e);
      throw new TopicsNotReady(
          "could not connect to Kafka at "
              + bootstrapServers
              + ": "
              + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage())
              + "; check --bootstrap-servers and --kafka-property");
    }
  }

  /** The job's Kafka properties, with the check's timeouts unless the user set them. */
  Properties adminProperties() {
    Properties p = new Properties();
    p.putAll(kafkaProperties);
    p.put("bootstrap.servers", bootstrapServers);
    long ms = Math.max(1, timeout.toMillis());
    p.put("default.api.timeout.ms", String.valueOf(ms));
    p.putIfAbsent("request.timeout.ms", String.valueOf(ms));
    p.put("client.id", "bistream-topic-check");
    return p;
  }

  private String unreachable() {
    return "no Kafka broker answered at "
        + bootstrapServers
        + " within "
        + timeout.toSeconds()
        + " s: check --bootstrap-servers, that the brokers run and can be reached from this"
        + " machine, and the security settings"
        + (kafkaProperties.isEmpty()
            ? " (none given: --kafka-property security.protocol=..., sasl.*, ssl.*)"
            : " (--kafka-property " + Secrets.mask(kafkaProperties) + ")");
  }

  private String missingInput(String topic, Set<String> existing) {
    String found;
    if (existing.isEmpty()) {
      found = "the broker has no topics";
    } else if (existing.size() <= TOPICS_LISTED) {
      found = "the broker has " + String.join(", ", existing);
    } else {
      found =
          "the broker has "
              + existing.size()
              + " topics, among them "
              + String.join(", ", existing.stream().limit(TOPICS_LISTED).toList());
    }
    return "input topic '"
        + topic
        + "' does not exist on Kafka at "
        + bootstrapServers
        + " ("
        + found
        + "): create it (e.g. kafka-topics.sh --bootstrap-server "
        + bootstrapServers
        + " --create --topic "
        + topic
        + " --partitions N), or name an existing topic with --input-topic";
  }

  private String missingOutputs(List<String> missing, Map<String, Role> topics, String autoCreate) {
    List<String> named = new ArrayList<>();
    for (String t : missing) {
      named.add(topics.get(t).label + " topic '" + t + "' (" + topics.get(t).option + ")");
    }
    String create =
        missing.stream()
            .map(
                t ->
                    "kafka-topics.sh --bootstrap-server "
                        + bootstrapServers
                        + " --create --topic "
                        + t
                        + " --partitions N")
            .reduce((a, b) -> a + "; " + b)
            .orElseThrow();
    return String.join(" and ", named)
        + (missing.size() == 1 ? " does" : " do")
        + " not exist on Kafka at "
        + bootstrapServers
        + (autoCreate == null
            ? ", and whether the broker creates topics at the first write could not be read"
                + " (auto.create.topics.enable): if it does not, the job fails a minute after it"
                + " starts"
            : " and the broker does not create topics (auto.create.topics.enable="
                + autoCreate
                + ")")
        + ": create "
        + (missing.size() == 1 ? "it" : "them")
        + " first (e.g. "
        + create
        + ")";
  }

  /** All topic names but Kafka's internal ones, sorted. */
  private static Set<String> topicNames(Admin admin, long deadline)
      throws ExecutionException, TimeoutException, InterruptedException {
    Set<String> names = new TreeSet<>();
    for (TopicListing t : await(admin.listTopics().listings(), deadline)) {
      if (!t.isInternal()) {
        names.add(t.name());
      }
    }
    return names;
  }

  /**
   * The brokers' {@code auto.create.topics.enable} ("true" or "false"), or null when it cannot be
   * read. A broker creates a topic a producer asks for only with it; one broker refusing is enough
   * to call it off, as the producer may ask that one.
   */
  private static String autoCreate(Admin admin, Collection<Node> brokers, long deadline)
      throws TimeoutException, InterruptedException {
    List<ConfigResource> resources = new ArrayList<>();
    for (Node n : brokers) {
      resources.add(new ConfigResource(ConfigResource.Type.BROKER, n.idString()));
    }
    try {
      Map<ConfigResource, Config> configs = await(admin.describeConfigs(resources).all(), deadline);
      String value = "true";
      for (Config c : configs.values()) {
        ConfigEntry e = c.get("auto.create.topics.enable");
        if (e == null || e.value() == null) {
          return null;
        }
        if (!Boolean.parseBoolean(e.value())) {
          value = "false";
        }
      }
      return value;
    } catch (ExecutionException e) {
      LOG.warn("could not read the brokers' auto.create.topics.enable", e);
      return null;
    }
  }

  private static <T> T await(KafkaFuture<T> future, long deadline)
      throws ExecutionException, TimeoutException, InterruptedException {
    long left = Math.max(1, deadline - System.nanoTime());
    return future.get(left, TimeUnit.NANOSECONDS);
  }
}
