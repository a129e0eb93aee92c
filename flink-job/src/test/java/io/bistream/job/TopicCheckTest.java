package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.stream.StreamConfig;
import io.bistream.job.local.EmbeddedKafka;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code run} checks its topics before it submits the job: each refusal names the topic, the
 * broker, what was expected and what was found (docs/operations.md, "Topics checked at start").
 */
class TopicCheckTest {

  private static final StreamConfig STREAM =
      new StreamConfig(StreamConfig.Mode.EXACT, 4, 0, 1000, StreamConfig.Overflow.REJECT, 0);

  /** Kafka's default: brokers create topics at the first write. */
  private static EmbeddedKafka autoCreating;

  /** As the embedded broker of demo and local: topics must be created first. */
  private static EmbeddedKafka strict;

  @BeforeAll
  static void brokers() throws Exception {
    autoCreating = EmbeddedKafka.start(null, 0, Map.of("auto.create.topics.enable", "true"));
    strict = EmbeddedKafka.start();
    for (EmbeddedKafka k : new EmbeddedKafka[] {autoCreating, strict}) {
      k.createTopics(3, "in", "other-1");
    }
  }

  @AfterAll
  static void stop() throws Exception {
    autoCreating.close();
    strict.close();
  }

  private static String check(EmbeddedKafka kafka, String in, String out, String dlq) {
    return new TopicCheck(kafka.bootstrapServers(), Map.of(), Duration.ofSeconds(20))
        .check(JobSettings.of(SequenceOperatorTest.MODEL, STREAM, in, out, dlq));
  }

  @Test
  void shouldRefuseAMissingInputTopicNamingItTheBrokerAndTheTopicsThere() {
    for (EmbeddedKafka kafka : new EmbeddedKafka[] {autoCreating, strict}) {
      assertThatThrownBy(() -> check(kafka, "inn", "in", "in"))
          .isInstanceOf(TopicCheck.TopicsNotReady.class)
          .hasMessageContaining("input topic 'inn' does not exist")
          .hasMessageContaining(kafka.bootstrapServers())
          .hasMessageContaining("the broker has in, other-1")
          .hasMessageContaining("--input-topic");
    }
  }

  @Test
  void shouldRefuseMissingOutputTopicsWhenTheBrokerDoesNotCreateTopics() {
    assertThatThrownBy(() -> check(strict, "in", "out", "in-dead-letters"))
        .isInstanceOf(TopicCheck.TopicsNotReady.class)
        .hasMessageContaining("output topic 'out' (--output-topic)")
        .hasMessageContaining("dead-letter topic 'in-dead-letters' (--dead-letter-topic)")
        .hasMessageContaining("do not exist on Kafka at " + strict.bootstrapServers())
        .hasMessageContaining("auto.create.topics.enable=false")
        .hasMessageContaining("--create --topic out");
    assertThatThrownBy(() -> check(strict, "in", "other-1", "in-dead-letters"))
        .hasMessageContaining("dead-letter topic 'in-dead-letters'")
        .hasMessageNotContaining("other-1");
  }

  @Test
  void shouldAcceptMissingOutputTopicsWhenTheBrokerCreatesTopicsAndSaySo() {
    String found = check(autoCreating, "in", "out", "in-dead-letters");
    assertThat(found)
        .contains("input in (3 partitions)")
        .contains("output out (created at the first write")
        .contains("dead-letter in-dead-letters (created at the first write");
  }

  /** Settings reading and writing topic "in" only, with model control topic {@code topic}. */
  private static JobSettings withModelTopic(String topic) {
    JobOptions o = JobOptionsRestoreTest.options("--model-topic", topic);
    o.outputTopic = "in";
    o.deadLetterTopic = "in";
    return o.settings();
  }

  @Test
  void shouldRefuseAMissingModelTopicEvenWhenTheBrokerCreatesTopics() {
    for (EmbeddedKafka kafka : new EmbeddedKafka[] {autoCreating, strict}) {
      TopicCheck check = new TopicCheck(kafka.bootstrapServers(), Map.of(), Duration.ofSeconds(20));
      assertThatThrownBy(() -> check.check(withModelTopic("models")))
          .isInstanceOf(TopicCheck.TopicsNotReady.class)
          .hasMessageContaining("model topic 'models' (--model-topic) does not exist")
          .hasMessageContaining(kafka.bootstrapServers())
          .hasMessageContaining("--partitions 1");
      assertThat(check.check(withModelTopic("other-1"))).contains("model other-1 (3 partitions)");
    }
  }

  @Test
  void shouldReportThePartitionsOfTopicsThatExist() {
    assertThat(check(strict, "in", "other-1", "other-1"))
        .isEqualTo("input in (3 partitions), output other-1 (3 partitions)");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS) // not a 60 s hang per attempt, nor a retry loop
  void shouldCallAnUnreachableBrokerUnreachableAfterItsTimeout() throws Exception {
    int closed;
    try (ServerSocket s = new ServerSocket(0)) {
      closed = s.getLocalPort(); // nothing listens there once closed
    }
    String servers = "localhost:" + closed;
    TopicCheck check =
        new TopicCheck(servers, Map.of("sasl.jaas.config", "hunter2"), Duration.ofSeconds(2));
    assertThatThrownBy(() -> check.check(JobSettings.of("m", STREAM, "in", "out", "dlq")))
        .isInstanceOf(TopicCheck.TopicsNotReady.class)
        .hasMessageContaining("no Kafka broker answered at " + servers + " within 2 s")
        .hasMessageContaining("--bootstrap-servers")
        .hasMessageContaining("sasl.jaas.config=" + Secrets.MASK)
        .hasMessageNotContaining("hunter2");
  }

  @Test
  void shouldNameBootstrapServersThatDoNotResolve() {
    TopicCheck check =
        new TopicCheck("no-such-broker.invalid:9092", Map.of(), Duration.ofSeconds(2));
    assertThatThrownBy(() -> check.check(JobSettings.of("m", STREAM, "in", "out", "dlq")))
        .isInstanceOf(TopicCheck.TopicsNotReady.class)
        .hasMessageContaining("could not connect to Kafka at no-such-broker.invalid:9092")
        .hasMessageContaining("--bootstrap-servers");
  }

  @Test
  void asksWithTheJobsOwnKafkaPropertiesAndItsTimeoutUnlessTheUserSetOne() {
    Map<String, String> job =
        Map.of(
            "security.protocol", "SASL_SSL",
            "sasl.jaas.config", "hunter2",
            "request.timeout.ms", "7000");
    var p = new TopicCheck("b:9093", job, Duration.ofSeconds(3)).adminProperties();
    assertThat(p)
        .containsAllEntriesOf(job)
        .containsEntry("bootstrap.servers", "b:9093")
        .containsEntry("default.api.timeout.ms", "3000");
  }

  @Test
  void runRefusesAMissingOutputTopicBeforeSubmittingInOneLine() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    int code;
    try {
      System.setErr(new PrintStream(err, true));
      code =
          BiStreamJobMain.run(
              "--bootstrap-servers",
              strict.bootstrapServers(),
              "--input-topic",
              "in",
              "--output-topic",
              "missing-out",
              "--model",
              SequenceOperatorTest.MODEL);
    } finally {
      System.setErr(old);
    }
    assertThat(code).isEqualTo(2);
    assertThat(err.toString())
        .containsOnlyOnce("error: ")
        .contains("error: output topic 'missing-out' (--output-topic) and dead-letter topic")
        .doesNotContain("\tat ");
  }
}
