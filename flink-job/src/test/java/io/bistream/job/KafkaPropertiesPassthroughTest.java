package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.transformations.SinkTransformation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * Issue 7: every {@code --kafka-property} reaches the Kafka source and both sinks' producers (the
 * outputs' and the parse dead letters'), and secret values never appear where settings are logged.
 */
class KafkaPropertiesPassthroughTest {

  private static final String JAAS =
      "org.apache.kafka.common.security.plain.PlainLoginModule required"
          + " username=\"bistream\" password=\"hunter2\";";

  private static JobOptions parse(String... extra) {
    BiStreamJobMain main = new BiStreamJobMain();
    String[] base = {
      "--bootstrap-servers", "broker:9093",
      "--input-topic", "in",
      "--output-topic", "out",
      "--model", SequenceOperatorTest.MODEL,
      "--kafka-property", "security.protocol=SASL_SSL",
      "--kafka-property", "sasl.mechanism=PLAIN",
      "--kafka-property", "sasl.jaas.config=" + JAAS,
      "--kafka-property", "ssl.truststore.password=changeit"
    };
    String[] args = new String[base.length + extra.length];
    System.arraycopy(base, 0, args, 0, base.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    new CommandLine(main).parseArgs(args);
    return main.options;
  }

  @Test
  void sourceConsumerGetsEveryKafkaPropertyAndReadsCommittedData() {
    Properties p = BiStreamJob.sourceProperties(parse().settings());

    assertThat(p)
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("sasl.mechanism", "PLAIN")
        .containsEntry("sasl.jaas.config", JAAS)
        .containsEntry("ssl.truststore.password", "changeit")
        .containsEntry("isolation.level", "read_committed");
  }

  @Test
  void sinkProducerGetsEveryKafkaPropertyAndTheTransactionTimeout() {
    JobOptions o = parse("--transaction-timeout", "5m");
    Properties p = BiStreamJob.sinkProperties(o.settings().kafkaProperties(), o.transactionTimeout);

    assertThat(p)
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("sasl.jaas.config", JAAS)
        .containsEntry("ssl.truststore.password", "changeit")
        .containsEntry("transaction.timeout.ms", String.valueOf(Duration.ofMinutes(5).toMillis()));
  }

  @Test
  void userSetIsolationLevelAndTransactionTimeoutWin() {
    JobOptions o =
        parse(
            "--kafka-property", "isolation.level=read_uncommitted",
            "--kafka-property", "transaction.timeout.ms=60000");

    assertThat(BiStreamJob.sourceProperties(o.settings()))
        .containsEntry("isolation.level", "read_uncommitted");
    assertThat(BiStreamJob.sinkProperties(o.settings().kafkaProperties(), o.transactionTimeout))
        .containsEntry("transaction.timeout.ms", "60000");
  }

  @Test
  void deadLettersOfParsingLeaveThroughAKafkaSinkOfTheirOwn() throws Exception {
    // Both sinks are BiStreamJob.kafkaSink, so both producers get sinkProperties (tested above).
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    BiStreamJobMain.build(parse(), env);

    List<SinkTransformation<?, ?>> sinks =
        env.getTransformations().stream()
            .filter(t -> t instanceof SinkTransformation)
            .<SinkTransformation<?, ?>>map(t -> (SinkTransformation<?, ?>) t)
            .toList();
    assertThat(sinks)
        .hasSize(2)
        .allSatisfy(s -> assertThat(s.getSink()).isInstanceOf(KafkaSink.class))
        .anySatisfy(
            s ->
                assertThat(s.getTransitivePredecessors())
                    .anyMatch(t -> t.getName().startsWith("bistream-sequences-")))
        .anySatisfy(
            s ->
                assertThat(s.getTransitivePredecessors())
                    .anyMatch(t -> t.getName().startsWith("validate-"))
                    .noneMatch(t -> t.getName().startsWith("bistream-sequences-")));
  }

  @Test
  void loggedSettingsMaskSecretValues() {
    String logged = parse().settings().toString();

    assertThat(logged)
        .contains("security.protocol=SASL_SSL", "sasl.mechanism=PLAIN")
        .contains("sasl.jaas.config=" + Secrets.MASK, "ssl.truststore.password=" + Secrets.MASK)
        .doesNotContain("hunter2", "changeit", "PlainLoginModule");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "sasl.jaas.config",
        "ssl.keystore.password",
        "ssl.key.password",
        "SSL.KEYSTORE.PASSWORD",
        "sasl.oauthbearer.client.credentials.client.secret",
        "basic.auth.user.info.token",
        "ssl.keystore.key",
        "schema.registry.api-key"
      })
  void secretKeysAreRecognizedWhateverTheirCase(String key) {
    assertThat(Secrets.isSecret(key)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "security.protocol",
        "bootstrap.servers",
        "sasl.mechanism",
        "ssl.keystore.location"
      })
  void plainKeysStayReadable(String key) {
    assertThat(Secrets.isSecret(key)).isFalse();
  }

  @Test
  void maskKeepsKeysAndPlainValuesAndHidesSecrets() {
    Map<String, String> masked =
        Secrets.mask(
            Map.of(
                "security.protocol", "SSL",
                "ssl.keystore.password", "p4ss",
                "ssl.keystore.location", "/etc/kafka/ks.jks"));

    assertThat(masked)
        .containsExactly(
            Map.entry("security.protocol", "SSL"),
            Map.entry("ssl.keystore.location", "/etc/kafka/ks.jks"),
            Map.entry("ssl.keystore.password", Secrets.MASK));
  }
}
