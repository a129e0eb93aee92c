package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole job on a Flink MiniCluster against a real in-JVM KRaft broker: interleaved sequences
 * with duplicates, out-of-order steps and every kind of bad record in; committed outputs checked
 * against model-core (offline for exact, the engine for lookahead/stateful); and a run that fails
 * once mid-stream and restarts from a checkpoint, committing exactly the same records.
 */
class BiStreamJobIntegrationTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = SequenceOperatorTest.MODEL;
  private static final int D = 3;
  private static final int SEQUENCES = 6;

  private static EmbeddedKafka kafka;
  private static Model model;
  private static Map<String, float[]> inputs; // seq -> [T, D]
  private static List<Map.Entry<String, String>> records; // what is produced, in order
  private static int topicCounter;

  @BeforeAll
  static void startBrokerAndGenerateTraffic() throws Exception {
    kafka = EmbeddedKafka.start();
    model = ModelFiles.load(Path.of(MODEL));
    inputs = new TreeMap<>();
    Random rnd = new Random(17);
    List<List<Map.Entry<String, String>>> perSequence = new ArrayList<>();
    for (int s = 0; s < SEQUENCES; s++) {
      String seq = "séq-" + s;
      int t = 20 + rnd.nextInt(30);
      float[] x = new float[t * D];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      inputs.put(seq, x);
      List<Map.Entry<String, String>> recs = new ArrayList<>();
      for (int at = 0; at < t; ) {
        int k = Math.min(1 + rnd.nextInt(3), t - at);
        boolean end = at + k == t && s % 2 == 0; // odd sequences end by idle timeout
        recs.add(Map.entry(seq, record(seq, at, x, k, end)));
        at += k;
      }
      if (recs.size() > 4) {
        // A duplicate, and two records swapped (within the reorder window).
        recs.add(3, recs.get(1));
        Map.Entry<String, String> a = recs.get(4);
        recs.set(4, recs.get(5));
        recs.set(5, a);
      }
      perSequence.add(recs);
    }
    records = new ArrayList<>();
    // Interleave the sequences record by record.
    for (int i = 0; perSequence.stream().anyMatch(l -> !l.isEmpty()); i++) {
      for (List<Map.Entry<String, String>> l : perSequence) {
        if (!l.isEmpty()) {
          records.add(l.remove(0));
        }
      }
      if (i == 2) {
        records.addAll(badRecords());
      }
    }
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (kafka != null) {
      kafka.close();
    }
  }

  private static String record(String seq, int at, float[] x, int k, boolean end) {
    StringBuilder b = new StringBuilder("{\"seq\":\"" + seq + "\",\"t\":" + at + ",\"xs\":[");
    for (int i = 0; i < k; i++) {
      b.append(i == 0 ? "[" : ",[");
      for (int j = 0; j < D; j++) {
        b.append(j == 0 ? "" : ",").append(x[(at + i) * D + j]);
      }
      b.append(']');
    }
    return b.append(']').append(end ? ",\"end\":true}" : "}").toString();
  }

  /** One record per dead-letter reason the parser and the operator detect. */
  private static List<Map.Entry<String, String>> badRecords() {
    List<Map.Entry<String, String>> bad = new ArrayList<>();
    bad.add(new java.util.AbstractMap.SimpleEntry<>(null, "{not json"));
    bad.add(Map.entry("bad-w", "{\"seq\":\"bad-w\",\"t\":0,\"x\":[1,2]}"));
    bad.add(Map.entry("bad-nan", "{\"seq\":\"bad-nan\",\"t\":0,\"x\":[1,NaN,2]}"));
    bad.add(Map.entry("bad-key", "{\"seq\":\"other\",\"t\":0,\"x\":[1,2,3]}"));
    bad.add(Map.entry("séq-0", "{\"seq\":\"séq-0\",\"t\":100000,\"x\":[1,2,3]}"));
    return bad;
  }

  private static final Map<String, JsonSchema> SCHEMAS = new HashMap<>();

  /** Validates a record against docs/schemas/<name>.schema.json. */
  static void assertValid(String schema, String json) throws Exception {
    JsonSchema s =
        SCHEMAS.computeIfAbsent(
            schema,
            n -> {
              try (var in =
                  java.nio.file.Files.newInputStream(
                      Path.of("../docs/schemas/" + n + ".schema.json"))) {
                return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(in);
              } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    assertThat(s.validate(JSON.readTree(json))).as(schema + ": " + json).isEmpty();
  }

  private static JobOptions options(String mode) throws java.io.IOException {
    topicCounter++;
    JobOptions o = LocalRun.options(kafka, MODEL, "in-" + topicCounter, "out-" + topicCounter);
    o.mode = StreamConfig.Mode.named(mode);
    o.chunk = 4;
    o.lookahead = 3;
    o.idleTimeout = Duration.ofSeconds(3);
    o.parallelism = 2;
    return o;
  }

  private static List<ConsumerRecord<String, String>> run(
      JobOptions o, MapFunction<InputEvent, InputEvent> tap) throws Exception {
    kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
    kafka.produce(o.inputTopic, records);
    StreamExecutionEnvironment env = LocalRun.environment(o);
    BiStreamJobMain.build(o, env, tap);
    JobClient job = env.executeAsync("it-" + o.inputTopic);
    try {
      return LocalRun.awaitEnded(
          kafka, job, o.outputTopic, inputs.keySet(), Duration.ofSeconds(120), n -> {});
    } finally {
      LocalRun.cancel(job);
    }
  }

  /** seq -> t -> y, checking each (seq, t) appears once; end records checked separately. */
  private static Map<String, Map<Long, float[]>> outputs(List<ConsumerRecord<String, String>> out)
      throws Exception {
    return outputs(out, inputs.keySet());
  }

  /** As above, checking the end records and output counts of {@code sequences} only. */
  private static Map<String, Map<Long, float[]>> outputs(
      List<ConsumerRecord<String, String>> out, Set<String> sequences) throws Exception {
    Map<String, Map<Long, float[]>> bySeq = new HashMap<>();
    Map<String, Long> ends = new HashMap<>();
    for (ConsumerRecord<String, String> r : out) {
      assertValid("output-record", r.value());
      JsonNode n = JSON.readTree(r.value());
      String seq = n.get("seq").asText();
      assertThat(r.key()).isEqualTo(seq);
      if (n.path("end").asBoolean(false)) {
        assertThat(ends.put(seq, n.get("steps").asLong()))
            .as("one end record per sequence")
            .isNull();
        continue;
      }
      float[] y = new float[n.get("y").size()];
      for (int j = 0; j < y.length; j++) {
        y[j] = n.get("y").get(j).floatValue();
      }
      float[] previous =
          bySeq.computeIfAbsent(seq, k -> new TreeMap<>()).put(n.get("t").asLong(), y);
      assertThat(previous).as("no duplicate output for %s t=%s", seq, n.get("t")).isNull();
    }
    for (Map.Entry<String, float[]> in : inputs.entrySet()) {
      if (!sequences.contains(in.getKey())) {
        continue;
      }
      int t = in.getValue().length / D;
      assertThat(ends.get(in.getKey())).as("end record of %s", in.getKey()).isEqualTo(t);
      assertThat(bySeq.get(in.getKey())).as("outputs of %s", in.getKey()).hasSize(t);
    }
    return bySeq;
  }

  private static void assertMatchesEngine(
      Map<String, Map<Long, float[]>> actual, StreamingEngine engineOrNull) {
    assertMatchesEngine(actual, engineOrNull, inputs.keySet());
  }

  /** As above, for the sequences in {@code sequences} only. */
  private static void assertMatchesEngine(
      Map<String, Map<Long, float[]>> actual, StreamingEngine engineOrNull, Set<String> sequences) {
    for (Map.Entry<String, float[]> in : inputs.entrySet()) {
      if (!sequences.contains(in.getKey())) {
        continue;
      }
      int t = in.getValue().length / D;
      Tensor x = new Tensor(in.getValue(), new int[] {1, t, D});
      float[] expected =
          engineOrNull == null
              ? model.predict(x).data()
              : OfflineStreaming.run(engineOrNull, x, 1).data();
      int f = expected.length / t;
      for (int step = 0; step < t; step++) {
        float[] y = actual.get(in.getKey()).get((long) step);
        for (int j = 0; j < f; j++) {
          assertThat(y[j])
              .as("%s t=%d value %d", in.getKey(), step, j)
              .isCloseTo(expected[step * f + j], org.assertj.core.data.Offset.offset(1e-5f));
        }
      }
    }
  }

  @Test
  void exactModeCommitsOfflineOutputsAndDeadLettersEveryBadRecord() throws Exception {
    JobOptions o = options("exact");
    Map<String, Map<Long, float[]>> out = outputs(run(o, null));
    assertMatchesEngine(out, null);
    Set<String> reasons = new LinkedHashSet<>();
    for (ConsumerRecord<String, String> r :
        kafka.readCommitted(o.deadLetterTopic, Duration.ofSeconds(5))) {
      assertValid("dead-letter", r.value());
      JsonNode n = JSON.readTree(r.value());
      reasons.add(n.get("reason").asText());
      assertThat(n.get("topic").asText()).isEqualTo(o.inputTopic);
      assertThat(n.has("offset")).isTrue();
    }
    assertThat(reasons)
        .containsExactlyInAnyOrder(
            "bad_json", "wrong_width", "not_finite", "key_mismatch", "too_far_ahead");
  }

  @Test
  void theInputSchemaAcceptsEveryValidRecordAndRejectsMalformedOnes() throws Exception {
    for (Map.Entry<String, float[]> in : inputs.entrySet()) {
      assertValid("input-record", record(in.getKey(), 0, in.getValue(), 2, false));
    }
    JsonSchema input =
        JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012)
            .getSchema(
                java.nio.file.Files.newInputStream(
                    Path.of("../docs/schemas/input-record.schema.json")));
    assertThat(input.validate(JSON.readTree("{\"seq\":\"a\",\"t\":-1,\"x\":[1]}"))).isNotEmpty();
    assertThat(input.validate(JSON.readTree("{\"seq\":\"a\",\"t\":0}"))).isNotEmpty();
  }

  @Test
  void lookaheadStatefulAndContextModesCommitTheEngineResultsNamingTheirMode() throws Exception {
    for (String mode : List.of("lookahead", "stateful", "context")) {
      JobOptions o = options(mode);
      if (mode.equals("context")) {
        o.leftContext = 2;
      }
      List<ConsumerRecord<String, String>> records = run(o, null);
      Map<String, Map<Long, float[]>> out = outputs(records);
      assertMatchesEngine(out, new StreamingEngine(model, o.settings().stream()));
      for (ConsumerRecord<String, String> r : records) {
        JsonNode n = JSON.readTree(r.value());
        if (!n.has("end")) {
          assertThat(n.get("mode").asText()).as(mode).isEqualTo(mode);
        }
      }
    }
  }

  /** Fails the job once, after some records went through: a restart from the checkpoint. */
  static final class FailOnce implements MapFunction<InputEvent, InputEvent> {
    static final AtomicBoolean FAILED = new AtomicBoolean();
    private int seen;

    @Override
    public InputEvent map(InputEvent e) throws Exception {
      if (++seen == 40 && FAILED.compareAndSet(false, true)) {
        Thread.sleep(1200); // let at least one checkpoint complete first
        throw new IllegalStateException("injected failure");
      }
      return e;
    }
  }

  @Test
  void aFailureMidStreamRestartsFromTheCheckpointWithoutDuplicatesOrGaps() throws Exception {
    Map<String, Map<Long, float[]>> clean = outputs(run(options("exact"), null));
    FailOnce.FAILED.set(false);
    Map<String, Map<Long, float[]>> restarted = outputs(run(options("exact"), new FailOnce()));
    assertThat(FailOnce.FAILED).as("the failure was injected").isTrue();
    assertThat(restarted.keySet()).isEqualTo(clean.keySet());
    for (String seq : clean.keySet()) {
      assertThat(restarted.get(seq).keySet()).isEqualTo(clean.get(seq).keySet());
      for (Long t : clean.get(seq).keySet()) {
        // Within float rounding (docs/architecture.md, "Streaming modes"): the two runs batch
        // sequences differently.
        assertThat(restarted.get(seq).get(t))
            .containsExactly(clean.get(seq).get(t), org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }

  /** Fails on every record: the job restarts a few times, then fails for good. */
  static final class AlwaysFail implements MapFunction<InputEvent, InputEvent> {
    @Override
    public InputEvent map(InputEvent e) {
      throw new IllegalStateException("injected permanent failure");
    }
  }

  @Test
  void aJobThatKeepsFailingIsReportedWithItsCauseInsteadOfRestartingForever() {
    long start = System.nanoTime();
    assertThatThrownBy(() -> run(options("exact"), new AlwaysFail()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("failed")
        .hasMessageContaining("injected permanent failure");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(60));
  }

  @Test
  void exactModeCheckpointsStateLargerThanTheJobManagersMemoryLimit() throws Exception {
    // The bench BiLSTM (D=64, H=128): exact mode holds 260 bytes per buffered step (the input row
    // and its mask), so 32 sequences x 768 steps are ~6.4 MB of state, past the 5 MB that Flink's
    // default JobManager checkpoint storage accepts. The end markers come only after several
    // checkpoints had all of it to store.
    int sequences = 32;
    int steps = 768;
    int perRecord = 16;
    JobOptions o = options("exact");
    o.model = "../cli/src/main/resources/bench/model.json"; // the bench fixture (cli module)
    int width = ModelCache.get(o.model).inputs().get(0).shape()[1];
    o.parallelism = 1;
    o.perChunkOutput = true;
    o.idleTimeout = Duration.ofMinutes(5);
    kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
    Random rnd = new Random(5);
    float[] x = new float[steps * width];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    Set<String> ids = new java.util.TreeSet<>();
    List<Map.Entry<String, String>> data = new ArrayList<>();
    List<Map.Entry<String, String>> ends = new ArrayList<>();
    for (int at = 0; at < steps; at += perRecord) {
      for (int s = 0; s < sequences; s++) {
        String seq = "big-" + s;
        ids.add(seq);
        boolean end = at + perRecord == steps;
        (end ? ends : data)
            .add(Map.entry(seq, InputEvent.json(seq, at, x, at, perRecord, width, end)));
      }
    }
    // No restarts: a single failed checkpoint fails the job, and awaitEnded says why.
    StreamExecutionEnvironment env = LocalRun.environment(o);
    Configuration noRestarts = new Configuration();
    noRestarts.setString("restart-strategy.type", "none");
    env.configure(noRestarts);
    BiStreamJobMain.build(o, env);
    JobClient job = env.executeAsync("it-big-state");
    try {
      kafka.produce(o.inputTopic, data);
      Thread.sleep(4000); // ~8 checkpoint intervals with nearly everything buffered
      kafka.produce(o.inputTopic, ends);
      List<ConsumerRecord<String, String>> out =
          LocalRun.awaitEnded(kafka, job, o.outputTopic, ids, Duration.ofSeconds(120), n -> {});
      Map<String, Integer> outputSteps = new HashMap<>();
      for (ConsumerRecord<String, String> r : out) {
        JsonNode n = JSON.readTree(r.value());
        if (n.has("ys")) {
          outputSteps.merge(n.get("seq").asText(), n.get("ys").size(), Integer::sum);
        }
      }
      assertThat(outputSteps)
          .hasSize(sequences)
          .allSatisfy((seq, n) -> assertThat(n).isEqualTo(steps));
      assertThat(kafka.readCommitted(o.deadLetterTopic, Duration.ofSeconds(1))).isEmpty();
    } finally {
      LocalRun.cancel(job);
    }
  }

  @Test
  void atLeastOnceOutputsAreVisibleBeforeAnyCheckpointAndExactlyOnceOnesOnlyAfterOne()
      throws Exception {
    long atLeastOnceMs = 0;
    for (JobOptions.Delivery delivery :
        List.of(JobOptions.Delivery.AT_LEAST_ONCE, JobOptions.Delivery.EXACTLY_ONCE)) {
      JobOptions o = options("lookahead");
      o.delivery = delivery;
      o.checkpointInterval = Duration.ofHours(1); // no checkpoint completes during the test
      kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
      kafka.produce(o.inputTopic, records);
      StreamExecutionEnvironment env = LocalRun.environment(o);
      BiStreamJobMain.build(o, env);
      long start = System.nanoTime();
      JobClient job = env.executeAsync("it-" + o.inputTopic);
      try {
        if (delivery == JobOptions.Delivery.AT_LEAST_ONCE) {
          // Only the sequences with an end marker: an idle timeout waits for the input's offsets
          // to be committed, which happens at a checkpoint (docs/operations.md, "Timeouts").
          Set<String> marked = new TreeSet<>();
          for (String seq : inputs.keySet()) {
            if (Integer.parseInt(seq.substring(seq.indexOf('-') + 1)) % 2 == 0) {
              marked.add(seq);
            }
          }
          List<ConsumerRecord<String, String>> out =
              LocalRun.awaitEnded(
                  kafka, job, o.outputTopic, marked, Duration.ofSeconds(60), n -> {});
          atLeastOnceMs = (System.nanoTime() - start) / 1_000_000;
          assertMatchesEngine(
              outputs(out, marked), new StreamingEngine(model, o.settings().stream()), marked);
        } else {
          // as long as every output took to show at least once, and two seconds more
          Thread.sleep(atLeastOnceMs + 2000);
          assertThat(kafka.readCommitted(o.outputTopic, Duration.ofSeconds(1))).isEmpty();
        }
      } finally {
        LocalRun.cancel(job);
      }
    }
  }
}
