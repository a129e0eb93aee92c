package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.records.Float32;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** The keyed operator with Flink's keyed test harness: outputs, ordering, timers, cleanup. */
class SequenceOperatorTest {

  static final String MODEL =
      Path.of("../model-core/src/test/resources/golden/tfjs/models/bilstm_concat/model.json")
          .toAbsolutePath()
          .normalize()
          .toString();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int D = 3;

  private static JobSettings settings(int batchSize) {
    return settings(batchSize, false, false, Map.of());
  }

  static JobSettings settings(
      int batchSize,
      boolean perChunkOutput,
      boolean binaryFloats,
      Map<String, String> kafkaProperties) {
    return new JobSettings(
        MODEL,
        StreamConfig.exact(),
        "in",
        "out",
        "dlq",
        Duration.ofSeconds(30),
        8,
        Duration.ofSeconds(5),
        batchSize,
        Duration.ofMillis(10),
        perChunkOutput,
        binaryFloats,
        Duration.ofMinutes(10),
        1 << 20,
        4096,
        1024,
        null,
        kafkaProperties,
        JobSettings.DEFAULT_MAX_IDLE_TIMEOUT,
        JobSettings.DEFAULT_MODEL_VERSION,
        null);
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> harness(
      JobSettings s) throws Exception {
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s), (InputEvent e) -> e.seq, Types.STRING);
    h.open();
    return h;
  }

  static InputEvent step(String seq, long t, float[] x, boolean end) {
    InputEvent e = new InputEvent();
    e.seq = seq;
    e.t = t;
    e.steps = x == null ? 0 : x.length / D;
    e.values = x == null ? new float[0] : x;
    e.end = end;
    e.topic = "in";
    return e;
  }

  /** {@code e} as read from Kafka partition 0 with record timestamp {@code kafkaMillis}. */
  static InputEvent stamped(InputEvent e, long kafkaMillis) {
    e.timestamp = kafkaMillis;
    return e;
  }

  static float[] x(long t) {
    return new float[] {(float) Math.sin(t), (float) Math.cos(t), 0.1f * t};
  }

  /** Steps 0 .. t-1 of {@link #x}, one after the other. */
  private static float[] steps(int t) {
    float[] all = new float[t * D];
    for (int i = 0; i < t; i++) {
      System.arraycopy(x(i), 0, all, i * D, D);
    }
    return all;
  }

  /** The model's offline outputs for one sequence of {@code t} steps. */
  private static float[] offline(float[] all, int t) throws Exception {
    return ModelFiles.load(Path.of(MODEL)).predict(new Tensor(all, new int[] {1, t, D})).data();
  }

  private static List<JsonNode> values(List<OutputRecord> out, String topic) throws Exception {
    List<JsonNode> v = new ArrayList<>();
    for (OutputRecord r : out) {
      if (r.topic.equals(topic)) {
        v.add(JSON.readTree(r.text()));
      }
    }
    return v;
  }

  @Test
  void shouldReleaseOfflineOutputsReorderStepsDropDuplicatesAndClearStateAtEnd() throws Exception {
    var h = harness(settings(1));
    int t = 6;
    // Arrival: 0, 2 (early), 1, 1 (duplicate), 3, then 4..5 with the end marker.
    h.processElement(step("s", 0, x(0), false), 0);
    h.processElement(step("s", 2, x(2), false), 0);
    h.processElement(step("s", 1, x(1), false), 0);
    h.processElement(step("s", 1, x(1), false), 0);
    h.processElement(step("s", 3, x(3), false), 0);
    float[] last = new float[2 * D];
    System.arraycopy(x(4), 0, last, 0, D);
    System.arraycopy(x(5), 0, last, D, D);
    h.processElement(step("s", 4, last, true), 0);

    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(values(h.extractOutputValues(), "dlq")).isEmpty();
    assertThat(out).hasSize(t + 1);
    float[] all = steps(t);
    float[] offline = offline(all, t);
    int f = offline.length / t;
    for (int i = 0; i < t; i++) {
      JsonNode r = out.get(i);
      assertThat(r.get("seq").asText()).isEqualTo("s");
      assertThat(r.get("t").asLong()).isEqualTo(i);
      assertThat(r.get("mode").asText()).isEqualTo("exact");
      for (int j = 0; j < f; j++) {
        assertThat(r.get("y").get(j).floatValue()).isEqualTo(offline[i * f + j]);
      }
    }
    assertThat(out.get(t).toString())
        .isEqualTo(
            "{\"seq\":\"s\",\"end\":true,\"steps\":6,\"why\":\"end_marker\",\"model_version\":\"initial\"}");
    // Only the ended-sequence tombstone remains, with the timer that removes it.
    assertThat(h.numKeyedStateEntries()).isEqualTo(1);
    assertThat(h.numProcessingTimeTimers()).isEqualTo(1);
    h.close();
  }

  @Test
  void shouldDeadLetterStepsAfterAnUnfilledGapAndEndTheSequenceAtTheGap() throws Exception {
    var h = harness(settings(1));
    h.setProcessingTime(0);
    h.processElement(step("g", 0, x(0), false), 0);
    h.processElement(step("g", 1, x(1), false), 0);
    h.processElement(step("g", 3, x(3), false), 0); // step 2 never arrives
    h.setProcessingTime(Duration.ofSeconds(6).toMillis()); // past the 5 s reorder timeout

    List<JsonNode> dlq = values(h.extractOutputValues(), "dlq");
    assertThat(dlq).hasSize(1);
    assertThat(dlq.get(0).get("reason").asText()).isEqualTo("gap_not_filled");
    assertThat(dlq.get(0).get("detail").asText()).contains("step 3 waited for step 2");
    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(out).hasSize(3);
    assertThat(out.get(2).get("steps").asLong()).isEqualTo(2);
    assertThat(h.numKeyedStateEntries()).isEqualTo(1);
    assertThat(h.numProcessingTimeTimers()).isEqualTo(1); // the tombstone's
    h.close();
  }

  @Test
  void shouldEndAnIdleSequenceAndClearItsTimers() throws Exception {
    var h = harness(settings(1));
    h.setProcessingTime(0);
    h.processElement(stamped(step("idle", 0, x(0), false), 1_000), 0);
    h.processElement(stamped(step("idle", 1, x(1), false), 1_001), 0);
    assertThat(h.numProcessingTimeTimers()).isEqualTo(1);
    h.setProcessingTime(Duration.ofSeconds(31).toMillis());

    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(out).hasSize(3);
    assertThat(out.get(2).get("end").asBoolean()).isTrue();
    assertThat(h.numKeyedStateEntries()).isEqualTo(1);
    assertThat(h.numProcessingTimeTimers()).isEqualTo(1); // the tombstone's
    h.close();
  }

  @Test
  void shouldKeepOneIdleTimerPerSequenceAndReArmItWhenItFiresOnAnActiveSequence() throws Exception {
    var h = harness(settings(1));
    h.setProcessingTime(0);
    h.processElement(step("busy", 0, x(0), false), 0);
    h.setProcessingTime(20_000);
    h.processElement(step("busy", 1, x(1), false), 0);
    h.processElement(step("busy", 2, x(2), false), 0);
    assertThat(h.numProcessingTimeTimers()).as("records register no timer").isEqualTo(1);
    h.setProcessingTime(30_000); // a timeout after the first record, 10 s after the latest
    assertThat(values(h.extractOutputValues(), "out")).isEmpty();
    assertThat(h.numProcessingTimeTimers()).as("re-armed for the rest").isEqualTo(1);
    h.setProcessingTime(49_999);
    assertThat(values(h.extractOutputValues(), "out")).isEmpty();
    h.setProcessingTime(50_000); // a whole timeout after the latest record
    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(out.get(out.size() - 1).toString())
        .isEqualTo(
            "{\"seq\":\"busy\",\"end\":true,\"steps\":3,\"why\":\"idle_timeout\",\"model_version\":\"initial\"}");
    h.close();
  }

  @Test
  void shouldNameWhereARecordRefusedAfterParsingIsInsteadOfCopyingIt() throws Exception {
    var h = harness(settings(1));
    h.processElement(step("a", 0, x(0), true), 0);
    InputEvent late = step("a", 1, x(1), false);
    late.partition = 2;
    late.offset = 4711;
    h.processElement(late, 0);
    List<JsonNode> dlq = values(h.extractOutputValues(), "dlq");
    assertThat(dlq).hasSize(1);
    JsonNode d = dlq.get(0);
    assertThat(d.get("reason").asText()).isEqualTo("data_after_end");
    assertThat(d.get("topic").asText()).isEqualTo("in");
    assertThat(d.get("partition").asInt()).isEqualTo(2);
    assertThat(d.get("offset").asLong()).isEqualTo(4711);
    assertThat(d.get("record").isNull()).as("no copy of the record travels with it").isTrue();
    BiStreamJobIntegrationTest.assertValid("dead-letter", d.toString());
    h.close();
  }

  @Test
  void shouldNotEndASequenceWhoseLaterRecordsAreStillQueuedBehindABacklog() throws Exception {
    var h = harness(settings(1));
    h.setProcessingTime(0);
    h.processElement(stamped(step("s", 0, x(0), false), 1_000), 0);
    // The job falls behind its input: the next record of the partition, stamped 100 ms later, is
    // processed 20 s later, and the idle timer of "s" (30 s) fires while its step 1 is queued.
    h.setProcessingTime(20_000);
    h.processElement(stamped(step("o", 0, x(0), false), 1_100), 0);
    h.setProcessingTime(40_000);
    assertThat(values(h.extractOutputValues(), "out")).isEmpty();
    h.processElement(stamped(step("s", 1, x(1), true), 1_200), 0);
    h.processElement(stamped(step("o", 1, x(1), true), 1_300), 0);

    assertThat(values(h.extractOutputValues(), "dlq")).isEmpty();
    List<JsonNode> s =
        values(h.extractOutputValues(), "out").stream()
            .filter(n -> n.get("seq").asText().equals("s"))
            .toList();
    assertThat(s).hasSize(3);
    assertThat(s.get(2).toString())
        .isEqualTo(
            "{\"seq\":\"s\",\"end\":true,\"steps\":2,\"why\":\"end_marker\",\"model_version\":\"initial\"}");
    assertThat(h.numKeyedStateEntries()).isEqualTo(2); // the two tombstones
    assertThat(h.numProcessingTimeTimers()).isEqualTo(2); // and their timers
    h.close();
  }

  @Test
  void shouldEndASequenceIdleInItsRecordTimestampsEvenWhileTheJobIsBehind() throws Exception {
    var h = harness(settings(1));
    h.setProcessingTime(0);
    h.processElement(stamped(step("s", 0, x(0), false), 1_000), 0);
    // A record of the same partition stamped 39 s later: "s" sent nothing for the whole timeout.
    h.setProcessingTime(10_000);
    h.processElement(stamped(step("o", 0, x(0), false), 40_000), 0);
    h.setProcessingTime(30_000);

    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(out).extracting(n -> n.get("seq").asText()).containsExactly("s", "s");
    assertThat(out.get(1).toString())
        .isEqualTo(
            "{\"seq\":\"s\",\"end\":true,\"steps\":1,\"why\":\"idle_timeout\",\"model_version\":\"initial\"}");
    h.close();
  }

  @Test
  void shouldDeadLetterDataAfterEndAndStepsTooFarAhead() throws Exception {
    var h = harness(settings(1));
    h.processElement(step("a", 0, x(0), true), 0);
    h.processElement(step("a", 1, x(1), false), 0); // after the end
    h.processElement(step("b", 0, x(0), false), 0);
    h.processElement(step("b", 100, x(100), false), 0); // 99 ahead, window is 8

    List<JsonNode> dlq = values(h.extractOutputValues(), "dlq");
    assertThat(dlq)
        .extracting(n -> n.get("reason").asText())
        .containsExactly("data_after_end", "too_far_ahead");
    h.close();
  }

  @Test
  void shouldBatchSequencesUntilTheBatchIsFullOrItsWaitExpires() throws Exception {
    var h = harness(settings(3));
    h.setProcessingTime(0);
    h.processElement(step("k1", 0, x(0), false), 0);
    h.processElement(step("k2", 0, x(0), false), 0);
    h.processElement(step("k1", 1, x(1), true), 0); // ready, but the batch waits
    assertThat(values(h.extractOutputValues(), "out")).isEmpty();
    h.setProcessingTime(20); // batch max wait (10 ms) expired: one batched call for k1 and k2
    List<JsonNode> out = values(h.extractOutputValues(), "out");
    assertThat(out).extracting(n -> n.get("seq").asText()).containsExactly("k1", "k1", "k1");
    h.close();
  }

  @Test
  void aBatchWaitsItsOwnWaitNotWhatIsLeftOfAnEarlierBatchs() throws Exception {
    var h = harness(settings(2));
    h.setProcessingTime(0);
    h.processElement(step("k1", 0, x(0), true), 0); // waits until 10 at most
    h.processElement(step("k2", 0, x(0), true), 0); // the batch is full: flushed now
    assertThat(values(h.extractOutputValues(), "out"))
        .extracting(n -> n.get("seq").asText())
        .containsOnly("k1", "k2");
    h.setProcessingTime(5);
    h.processElement(step("k3", 0, x(0), true), 0); // a new batch: waits until 15 at most
    h.setProcessingTime(10);
    assertThat(values(h.extractOutputValues(), "out"))
        .extracting(n -> n.get("seq").asText())
        .doesNotContain("k3");
    h.setProcessingTime(15);
    assertThat(values(h.extractOutputValues(), "out"))
        .extracting(n -> n.get("seq").asText())
        .contains("k3");
    h.close();
  }

  @Test
  void shouldFlushWaitingStepsBeforeACheckpointBarrier() throws Exception {
    var h = harness(settings(100));
    h.processElement(step("c", 0, x(0), true), 0);
    assertThat(h.extractOutputValues()).isEmpty();
    h.prepareSnapshotPreBarrier(1);
    assertThat(values(h.extractOutputValues(), "out")).hasSize(2);
    h.close();
  }

  @Test
  void perChunkOutputSplitsAChunkLargerThanAKafkaRequestIntoRecordsThatFit() throws Exception {
    // Exact mode's chunk is the whole sequence: 3,000 steps of 4 floats would be one ~150 KB
    // record; with max.request.size at 16 KB the outputs must leave in records under it.
    int limit = 16_384;
    JobSettings s = settings(1, true, false, Map.of("max.request.size", String.valueOf(limit)));
    var h = harness(s);
    int t = 3000;
    float[] all = steps(t);
    h.processElement(step("long", 0, all, true), 0);

    List<JsonNode> out = values(h.extractOutputValues(), "out");
    List<OutputRecord> raw = h.extractOutputValues();
    assertThat(raw).allSatisfy(r -> assertThat(r.value.length).isLessThan(limit));
    List<JsonNode> chunks = out.stream().filter(n -> n.has("ys")).toList();
    assertThat(chunks).hasSizeGreaterThan(1);
    float[] offline = offline(all, t);
    int f = offline.length / t;
    long next = 0;
    for (JsonNode c : chunks) {
      assertThat(c.get("t").asLong())
          .as("records continue where the last one ended")
          .isEqualTo(next);
      for (JsonNode y : c.get("ys")) {
        for (int j = 0; j < f; j++) {
          assertThat(y.get(j).floatValue()).isEqualTo(offline[(int) next * f + j]);
        }
        next++;
      }
    }
    assertThat(next).isEqualTo(t);
    assertThat(out.get(out.size() - 1).get("end").asBoolean()).isTrue();
  }

  @Test
  void binaryFloatsCarryTheExactBitsPerStepAndPerChunkAndMatchTheSchema() throws Exception {
    int t = 70;
    float[] all = steps(t);
    float[] offline = offline(all, t);
    int f = offline.length / t;
    BiStreamJobIntegrationTest.assertValid(
        "input-record", InputEvent.binaryJson("b", 0, all, 0, t, D, true));
    for (boolean perChunk : new boolean[] {false, true}) {
      var h = harness(settings(1, perChunk, true, Map.of()));
      h.processElement(step("b", 0, all, true), 0);
      List<OutputRecord> raw = h.extractOutputValues();
      float[] got = new float[t * f];
      int rows = 0;
      for (OutputRecord r : raw) {
        BiStreamJobIntegrationTest.assertValid("output-record", r.text());
        JsonNode n = JSON.readTree(r.text());
        if (n.has("end")) {
          continue;
        }
        assertThat(n.has("y") || n.has("ys")).as("no JSON numbers with --binary-floats").isFalse();
        String b64 = perChunk ? n.get("ys_f32").asText() : n.get("y_f32").asText();
        float[] v = Float32.floats(java.util.Base64.getDecoder().decode(b64));
        assertThat(n.get("t").asInt()).isEqualTo(rows);
        if (perChunk) {
          assertThat(n.get("width").asInt()).isEqualTo(f);
        }
        int k = v.length / f;
        System.arraycopy(v, 0, got, rows * f, k * f);
        rows += k;
      }
      assertThat(rows).isEqualTo(t);
      for (int i = 0; i < got.length; i++) {
        assertThat(Float.floatToRawIntBits(got[i]))
            .as("value %d, per chunk %s", i, perChunk)
            .isEqualTo(Float.floatToRawIntBits(offline[i]));
      }
    }
  }
}
