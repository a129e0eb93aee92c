package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * The keyed operator under bad input and faults: a sequence the model fails on, a restore with
 * other streaming settings, overlapping and conflicting steps, max-sequence-steps with reject, and
 * sequences whose first steps the job never held. Every test ends with no state but tombstones and
 * no timer.
 */
class SequenceOperatorFaultTest {

  static final String EMBEDDING =
      Path.of(
              "../model-core/src/test/resources/golden/tfjs/models/embedding_bilstm_dense/model.json")
          .toAbsolutePath()
          .normalize()
          .toString();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int D = 3;

  static JobSettings settings(String model, StreamConfig stream, int batchSize) {
    return settings(model, stream, batchSize, "in", "out", null);
  }

  /** As above, reading {@code in}, writing {@code out}, checking its input on {@code bootstrap}. */
  static JobSettings settings(
      String model, StreamConfig stream, int batchSize, String in, String out, String bootstrap) {
    return new JobSettings(
        model,
        stream,
        in,
        out,
        "dlq",
        Duration.ofSeconds(30),
        8,
        Duration.ofSeconds(5),
        batchSize,
        Duration.ofMillis(10),
        false,
        false,
        Duration.ofMinutes(10),
        1 << 20,
        4096,
        1024,
        bootstrap,
        Map.of(),
        JobSettings.DEFAULT_MAX_IDLE_TIMEOUT,
        JobSettings.DEFAULT_MODEL_VERSION,
        null);
  }

  static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> harness(
      JobSettings s) throws Exception {
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s), (InputEvent e) -> e.seq, Types.STRING);
    h.open();
    return h;
  }

  /** A record of steps {@code from..} of {@code x} (rows of {@code width}), at a source offset. */
  static InputEvent record(String seq, long t, float[] x, int width, boolean end, long offset) {
    InputEvent e = new InputEvent();
    e.seq = seq;
    e.t = t;
    e.steps = x.length / width;
    e.values = x;
    e.end = end;
    e.topic = "in";
    e.partition = 0;
    e.offset = offset;
    return e;
  }

  static float[] rows(long from, int count) {
    float[] all = new float[count * D];
    for (int i = 0; i < count; i++) {
      long t = from + i;
      all[i * D] = (float) Math.sin(t);
      all[i * D + 1] = (float) Math.cos(t);
      all[i * D + 2] = 0.1f * t;
    }
    return all;
  }

  /** The model's offline outputs (model-core's predict) for one sequence. */
  static float[] predict(String model, float[] x, int steps, int width) throws Exception {
    int[] shape = model.equals(EMBEDDING) ? new int[] {1, steps} : new int[] {1, steps, width};
    return ModelFiles.load(Path.of(model)).predict(new Tensor(x, shape)).data();
  }

  static List<JsonNode> values(List<OutputRecord> out, String topic, String seq) throws Exception {
    List<JsonNode> v = new ArrayList<>();
    for (OutputRecord r : out) {
      if (r.topic.equals(topic)) {
        JsonNode n = JSON.readTree(r.text());
        if (seq == null || seq.equals(n.path("seq").asText())) {
          v.add(n);
        }
      }
    }
    return v;
  }

  /** The "y" rows of a sequence's outputs, in order, checking t runs 0, 1, ... */
  static float[] outputs(List<JsonNode> out) {
    List<Float> v = new ArrayList<>();
    long t = 0;
    for (JsonNode n : out) {
      if (n.has("end")) {
        continue;
      }
      assertThat(n.get("t").asLong()).isEqualTo(t++);
      n.get("y").forEach(y -> v.add(y.floatValue()));
    }
    float[] a = new float[v.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = v.get(i);
    }
    return a;
  }

  static JsonNode end(List<JsonNode> out) {
    List<JsonNode> ends = out.stream().filter(n -> n.has("end")).toList();
    assertThat(ends).as("exactly one end record").hasSize(1);
    assertThat(out.get(out.size() - 1)).as("the end record comes last").isEqualTo(ends.get(0));
    return ends.get(0);
  }

  static void assertOnlyTombstonesLeft(
      KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> h, int sequences) {
    assertThat(h.numKeyedStateEntries()).isEqualTo(sequences);
    // Each tombstone's retention timer; no idle or reorder timer is left.
    assertThat(h.numProcessingTimeTimers()).isEqualTo(sequences);
  }

  static void assertSchemas(List<OutputRecord> out) throws Exception {
    for (OutputRecord r : out) {
      BiStreamJobIntegrationTest.assertValid(
          r.topic.equals("dlq") ? "dead-letter" : "output-record", r.text());
    }
  }

  // ------------------------------------------------------------------ poison pill

  @Test
  void shouldDeadLetterASequenceTheModelFailsOnAndStillOutputEveryOtherSequenceOfItsBatch()
      throws Exception {
    for (StreamConfig mode : List.of(StreamConfig.exact(), StreamConfig.lookahead(2, 1))) {
      var h = harness(settings(EMBEDDING, mode, 4));
      float[] good = {1, 2, 3, 4, 5};
      // Token ids outside the vocabulary of 12 pass as numbers and fail inside the engine.
      h.processElement(record("good1", 0, good, 1, true, 1), 0);
      h.processElement(record("bad", 0, new float[] {1, 1e9f}, 1, false, 2), 0);
      h.processElement(record("bad2", 0, new float[] {3, -1}, 1, true, 3), 0);
      h.processElement(record("good2", 0, new float[] {7, 8, 9}, 1, false, 4), 0); // batch full
      h.processElement(record("good2", 3, new float[] {10, 11}, 1, true, 5), 0);
      h.processElement(record("bad", 2, new float[] {2}, 1, true, 6), 0); // after its end
      h.prepareSnapshotPreBarrier(1);

      List<OutputRecord> raw = h.extractOutputValues();
      assertSchemas(raw);
      // As in a failure-free run of the good sequences alone; in exact mode, as offline.
      var clean = harness(settings(EMBEDDING, mode, 1));
      clean.processElement(record("good1", 0, good, 1, true, 1), 0);
      clean.processElement(record("good2", 0, new float[] {7, 8, 9}, 1, false, 2), 0);
      clean.processElement(record("good2", 3, new float[] {10, 11}, 1, true, 3), 0);
      List<OutputRecord> expected = clean.extractOutputValues();
      clean.close();
      for (String seq : List.of("good1", "good2")) {
        float[] got = outputs(values(raw, "out", seq));
        assertThat(got).as("%s %s", seq, mode.mode()).isNotEmpty();
        assertThat(got).containsExactly(outputs(values(expected, "out", seq)));
        assertThat(end(values(raw, "out", seq)).get("why").asText()).isEqualTo("end_marker");
      }
      if (mode.mode() == StreamConfig.Mode.EXACT) {
        // The engine's Embedding path and predict's round differently in the last bit here.
        assertThat(outputs(values(raw, "out", "good1")))
            .usingComparatorWithPrecision(1e-6f)
            .containsExactly(predict(EMBEDDING, good, 5, 1));
      }
      for (String bad : List.of("bad", "bad2")) {
        List<JsonNode> out = values(raw, "out", bad);
        assertThat(out).hasSize(1);
        assertThat(end(out).get("why").asText()).isEqualTo("engine_error");
      }
      List<JsonNode> dlq = values(raw, "dlq", null);
      boolean exact = mode.mode() == StreamConfig.Mode.EXACT;
      // Exact mode computes "bad" at once and refuses its later record as after its end;
      // lookahead waits for a chunk and its lookahead (3 steps), so "bad" fails with its last
      // record, after taking in its first two steps.
      assertThat(end(values(raw, "out", "bad")).get("steps").asLong()).isEqualTo(exact ? 0 : 2);
      assertThat(end(values(raw, "out", "bad2")).get("steps").asLong()).isZero();
      assertThat(dlq)
          .extracting(n -> n.get("seq").asText() + "@" + n.get("offset").asLong())
          .containsExactlyInAnyOrder(
              exact ? new String[] {"bad@2", "bad2@3", "bad@6"} : new String[] {"bad2@3", "bad@6"});
      assertThat(dlq)
          .allSatisfy(n -> assertThat(n.get("reason").asText()).isEqualTo("engine_error"));
      assertThat(dlq.get(0).get("detail").asText()).contains("the model failed on steps");
      assertOnlyTombstonesLeft(h, 4);
      h.close();
    }
  }

  @Test
  void shouldLeaveOpenSequencesOfAFailedBatchIntactSoTheyFinishAsInAFailureFreeRun()
      throws Exception {
    // Lookahead drains computed steps from the front of a sequence's pending buffer in place.
    // With C=8, R=4, 11 pending steps fill that buffer's array (no window yet): the end marker
    // then drains it in the same batched call that fails later on "x"'s bad token. The retry of
    // "s" must start from its state as it was, not from the drained array.
    StreamConfig mode = StreamConfig.lookahead(8, 4);
    float[] first = new float[11];
    for (int i = 0; i < first.length; i++) {
      first[i] = i % 11 + 1;
    }
    float[] poison = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1e9f};
    var clean = harness(settings(EMBEDDING, mode, 1));
    clean.processElement(record("s", 0, first, 1, false, 1), 0);
    clean.processElement(record("s", 11, new float[0], 1, true, 2), 0);
    float[] expected = outputs(values(clean.extractOutputValues(), "out", "s"));
    clean.close();
    assertThat(expected).hasSize(11 * 3); // 11 steps of 3 outputs

    var h = harness(settings(EMBEDDING, mode, 2));
    h.processElement(record("s", 0, first, 1, false, 1), 0);
    h.processElement(record("y", 0, new float[] {1}, 1, true, 2), 0); // batch of two: runs
    h.processElement(record("s", 11, new float[0], 1, true, 3), 0);
    h.processElement(record("x", 0, poison, 1, false, 4), 0); // fails the batch
    List<OutputRecord> raw = h.extractOutputValues();
    assertThat(outputs(values(raw, "out", "s"))).containsExactly(expected);
    assertThat(end(values(raw, "out", "s")).get("why").asText()).isEqualTo("end_marker");
    assertThat(values(raw, "dlq", null))
        .extracting(n -> n.get("seq").asText() + "@" + n.get("reason").asText())
        .containsExactly("x@engine_error");
    assertOnlyTombstonesLeft(h, 3);
    h.close();
  }

  @Test
  void shouldDeadLetterARecordTheOperatorCannotReadAndEndOnlyItsSequence() throws Exception {
    var h = harness(settings(SequenceOperatorTest.MODEL, StreamConfig.exact(), 1));
    h.processElement(record("ok", 0, rows(0, 1), D, false, 1), 0);
    h.processElement(record("broken", 0, rows(0, 1), D, false, 2), 0);
    // Two steps announced, one step of values: no parser lets this through, and no defect of
    // this kind may fail the task (Flink would replay the record forever).
    InputEvent short_ = record("broken", 1, rows(1, 1), D, false, 3);
    short_.steps = 2;
    h.processElement(short_, 0);
    h.processElement(record("ok", 1, rows(1, 1), D, true, 4), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(values(raw, "dlq", null))
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly("engine_error@3");
    JsonNode end = end(values(raw, "out", "broken"));
    assertThat(end.get("why").asText()).isEqualTo("engine_error");
    assertThat(end.get("steps").asLong()).isEqualTo(1);
    assertThat(outputs(values(raw, "out", "ok")))
        .containsExactly(predict(SequenceOperatorTest.MODEL, rows(0, 2), 2, D));
    assertOnlyTombstonesLeft(h, 2);
    h.close();
  }

  // ------------------------------------------------------------------ restore with other settings

  @Test
  void shouldFinishRestoredSequencesInTheModeTheyStartedWithAndStartNewOnesInTheJobsMode()
      throws Exception {
    String model = SequenceOperatorTest.MODEL;
    int t = 6;
    float[] all = rows(0, t);
    var exact = harness(settings(model, StreamConfig.exact(), 1));
    exact.processElement(record("r", 0, rows(0, 3), D, false, 1), 0);
    OperatorSubtaskState snapshot = exact.snapshot(1, 1);
    exact.close();

    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(settings(model, StreamConfig.lookahead(2, 1), 1)),
            (InputEvent e) -> e.seq,
            Types.STRING);
    h.initializeState(snapshot);
    h.open();
    h.processElement(record("r", 3, rows(3, 3), D, true, 2), 0);
    h.processElement(record("n", 0, rows(0, 4), D, true, 3), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    List<JsonNode> r = values(raw, "out", "r");
    assertThat(outputs(r)).containsExactly(predict(model, all, t, D));
    assertThat(r.subList(0, t))
        .allSatisfy(n -> assertThat(n.get("mode").asText()).isEqualTo("exact"));
    assertThat(end(r).get("steps").asLong()).isEqualTo(t);
    List<JsonNode> n = values(raw, "out", "n");
    assertThat(n).hasSize(5);
    assertThat(n.subList(0, 4))
        .allSatisfy(o -> assertThat(o.get("mode").asText()).isEqualTo("lookahead"));
    assertOnlyTombstonesLeft(h, 2);
    h.close();
  }

  // ------------------------------------------------------------------ ordering

  @Test
  void shouldMergeARecordOverlappingBufferedStepsStepByStep() throws Exception {
    String model = SequenceOperatorTest.MODEL;
    int t = 7;
    float[] all = rows(0, t);
    var h = harness(settings(model, StreamConfig.exact(), 1));
    h.processElement(record("m", 0, rows(0, 1), D, false, 1), 0);
    h.processElement(record("m", 2, rows(2, 1), D, false, 2), 0); // early: buffered
    h.processElement(record("m", 2, rows(2, 3), D, false, 3), 0); // same t, two more steps
    h.processElement(record("m", 4, rows(4, 2), D, false, 4), 0); // overlaps the buffer's end
    h.processElement(record("m", 1, rows(1, 1), D, false, 5), 0); // fills the gap
    h.processElement(record("m", 6, rows(6, 1), D, true, 6), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertThat(values(raw, "dlq", null)).isEmpty();
    List<JsonNode> out = values(raw, "out", "m");
    assertThat(outputs(out)).containsExactly(predict(model, all, t, D));
    assertThat(end(out).get("steps").asLong()).isEqualTo(t);
    assertThat(end(out).get("why").asText()).isEqualTo("end_marker");
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  @Test
  void shouldDeadLetterAStepRepeatedWithOtherValuesAndOutputTheFirstBufferedOrFed()
      throws Exception {
    String model = SequenceOperatorTest.MODEL;
    int t = 4;
    float[] all = rows(0, t);
    float[] other = {9f, 9f, 9f};
    var h = harness(settings(model, StreamConfig.exact(), 1));
    h.processElement(record("c", 0, rows(0, 2), D, false, 1), 0); // fed
    h.processElement(record("c", 3, rows(3, 1), D, false, 2), 0); // buffered
    h.processElement(record("c", 1, other, D, false, 3), 0); // conflicts with fed step 1
    h.processElement(record("c", 3, other, D, false, 4), 0); // conflicts with buffered step 3
    h.processElement(record("c", 1, rows(1, 1), D, false, 5), 0); // a replay: a duplicate
    h.processElement(record("c", 2, rows(2, 1), D, false, 6), 0);
    h.processElement(record("c", 4, new float[0], D, true, 7), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertThat(values(raw, "dlq", null))
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly("conflicting_duplicate@3", "conflicting_duplicate@4");
    assertThat(values(raw, "dlq", null).get(0).get("detail").asText()).contains("first at step 1");
    assertSchemas(raw);
    List<JsonNode> out = values(raw, "out", "c");
    assertThat(outputs(out)).containsExactly(predict(model, all, t, D));
    assertThat(end(out).get("steps").asLong()).isEqualTo(t);
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  @Test
  void shouldCountAReplayOlderThanTheKeptHashesAsADuplicate() throws Exception {
    // The reorder window is 8: hashes of the last 16 fed steps (the minimum) are kept. Older
    // steps cannot be compared; a replay of them is counted as a duplicate, not refused.
    String model = SequenceOperatorTest.MODEL;
    var h = harness(settings(model, StreamConfig.exact(), 1));
    h.processElement(record("o", 0, rows(0, 20), D, false, 1), 0);
    h.processElement(record("o", 0, new float[] {9, 9, 9}, D, false, 2), 0); // older than 16
    h.processElement(record("o", 19, new float[] {9, 9, 9}, D, false, 3), 0); // kept: refused
    h.processElement(record("o", 20, new float[0], D, true, 4), 0);
    List<OutputRecord> raw = h.extractOutputValues();
    assertThat(values(raw, "dlq", null))
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly("conflicting_duplicate@3");
    assertThat(outputs(values(raw, "out", "o")))
        .containsExactly(predict(model, rows(0, 20), 20, D));
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  @Test
  void keyedStateUsesTheJobsOwnSerializersAndFlinkPojosNeverKryo() {
    assertThat(SequenceOperator.sequenceDescriptor().getSerializer())
        .isInstanceOf(SequenceRecordSerializer.class);
    assertThat(SequenceOperator.exactBlocksDescriptor().getValueSerializer())
        .isInstanceOf(StepBlock.Serializer.class);
    assertThat(SequenceOperator.reorderDescriptor().getValueSerializer())
        .isInstanceOf(ReorderPieceSerializer.class);
    // The shuffled records in their own form; the state POJOs of earlier versions, read to
    // migrate them.
    assertThat(
            org.apache.flink.api.common.typeinfo.TypeInformation.of(InputEvent.class)
                .createSerializer(
                    new org.apache.flink.api.common.serialization.SerializerConfigImpl()))
        .isInstanceOf(io.bistream.job.records.InputEventSerializer.class);
    for (Class<?> c : List.of(KeyedSequence.class, Tombstone.class)) {
      assertThat(org.apache.flink.api.common.typeinfo.TypeInformation.of(c))
          .as(c.getSimpleName())
          .isInstanceOf(org.apache.flink.api.java.typeutils.PojoTypeInfo.class);
    }
  }

  // ------------------------------------------------------------------ end reasons

  @Test
  void shouldDeadLetterEveryRecordInFlightOneByOneWhenExactModesLimitTripsWithReject()
      throws Exception {
    String model = SequenceOperatorTest.MODEL;
    StreamConfig limited =
        new StreamConfig(StreamConfig.Mode.EXACT, 64, 0, 4, StreamConfig.Overflow.REJECT);
    var h = harness(settings(model, limited, 2));
    h.processElement(record("L", 0, rows(0, 3), D, false, 10), 0);
    h.processElement(record("L", 3, rows(3, 2), D, false, 11), 0);
    h.processElement(record("L", 5, rows(5, 1), D, false, 12), 0);
    h.processElement(record("k", 0, rows(0, 1), D, true, 13), 0); // two sequences: the batch runs
    h.processElement(record("L", 6, rows(6, 1), D, true, 14), 0); // after the end

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(values(raw, "dlq", null))
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly(
            "sequence_too_long@10",
            "sequence_too_long@11",
            "sequence_too_long@12",
            "sequence_too_long@14");
    List<JsonNode> out = values(raw, "out", "L");
    assertThat(out).hasSize(1);
    assertThat(end(out).get("why").asText()).isEqualTo("max_steps");
    assertThat(end(out).get("steps").asLong()).isZero();
    assertThat(end(values(raw, "out", "k")).get("why").asText()).isEqualTo("end_marker");
    assertOnlyTombstonesLeft(h, 2);
    h.close();
  }

  @Test
  void shouldSayInTheEndRecordThatAGapWasNeverFilled() throws Exception {
    var h = harness(settings(SequenceOperatorTest.MODEL, StreamConfig.exact(), 1));
    h.setProcessingTime(0);
    h.processElement(record("g", 0, rows(0, 2), D, false, 1), 0);
    h.processElement(record("g", 3, rows(3, 1), D, false, 2), 0); // step 2 never arrives
    h.setProcessingTime(Duration.ofSeconds(6).toMillis());
    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    JsonNode end = end(values(raw, "out", "g"));
    assertThat(end.get("why").asText()).isEqualTo("gap_not_filled");
    assertThat(end.get("steps").asLong()).isEqualTo(2);
    h.processElement(record("g", 2, rows(2, 1), D, false, 3), 0);
    assertThat(values(h.extractOutputValues(), "dlq", null))
        .extracting(n -> n.get("reason").asText())
        .containsExactly("gap_not_filled", "data_after_end");
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  // ------------------------------------------------------------------ lost state

  @Test
  void shouldRefuseASequenceFirstSeenMidWayWithStateLostAndNeverGuessItsOutputs() throws Exception {
    var h = harness(settings(SequenceOperatorTest.MODEL, StreamConfig.exact(), 1));
    h.setProcessingTime(0);
    h.processElement(record("w", 5, rows(5, 2), D, false, 1), 0); // within the window: waits
    h.processElement(record("w", 7, rows(7, 1), D, false, 2), 0);
    h.setProcessingTime(Duration.ofSeconds(6).toMillis()); // steps 0..4 never come
    h.processElement(record("w", 8, rows(8, 1), D, true, 3), 0); // refused: tombstone
    h.processElement(record("far", 100, rows(100, 1), D, false, 4), 0); // beyond the window
    h.processElement(record("far", 101, rows(101, 1), D, true, 5), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(values(raw, "out", null)).as("no output, no end record").isEmpty();
    List<JsonNode> dlq = values(raw, "dlq", null);
    assertThat(dlq)
        .extracting(n -> n.get("seq").asText() + "@" + n.get("offset").asLong())
        .containsExactly("w@1", "w@2", "w@3", "far@4", "far@5");
    assertThat(dlq).allSatisfy(n -> assertThat(n.get("reason").asText()).isEqualTo("state_lost"));
    assertThat(dlq.get(0).get("detail").asText())
        .contains("no state for sequence w before step 5")
        .contains("--restore latest");
    assertOnlyTombstonesLeft(h, 2);
    h.close();
  }

  @Test
  void aFailureOfTheChainedSinkFailsTheTaskInsteadOfEndingASequence() throws Exception {
    // Chained, the Kafka writer runs inside the operator's output.collect; Flink wraps its failure
    // (a send the broker refused, an expired batch) in ExceptionInChainedOperatorException.
    var h = harness(settings(SequenceOperatorTest.MODEL, StreamConfig.exact(), 100));
    SequenceOperator op = (SequenceOperator) h.getOperator();
    java.lang.reflect.Field output =
        org.apache.flink.streaming.api.operators.AbstractStreamOperator.class.getDeclaredField(
            "output");
    output.setAccessible(true);
    FailingOnce failing = new FailingOnce();
    output.set(op, failing);

    h.processElement(record("a", 0, rows(0, 2), D, false, 0), 0); // waits in the batch
    // A flush record: its handling, which ends a sequence on a failure of its own, emits.
    InputEvent flush = record("a", 0, new float[0], D, false, 1);
    flush.control = InputEvent.Control.FLUSH;
    assertThatThrownBy(() -> h.processElement(flush, 0))
        .isInstanceOf(SequenceOperator.OutputFailed.class)
        .hasRootCauseMessage("broker gone");
    assertThat(failing.after).as("no engine_error dead letter, no end record").isEmpty();
    h.close();
  }

  /**
   * An output whose first record fails as the chained Kafka writer's does (its error is reported
   * once, then cleared); it keeps the records after it.
   */
  private static final class FailingOnce
      implements org.apache.flink.streaming.api.operators.Output<
          org.apache.flink.streaming.runtime.streamrecord.StreamRecord<OutputRecord>> {
    final List<OutputRecord> after = new java.util.ArrayList<>();
    private boolean failed;

    @Override
    public void collect(
        org.apache.flink.streaming.runtime.streamrecord.StreamRecord<OutputRecord> record) {
      if (failed) {
        after.add(record.getValue());
        return;
      }
      failed = true;
      throw new org.apache.flink.streaming.runtime.tasks.ExceptionInChainedOperatorException(
          "kafka-output: Writer", new java.io.IOException("broker gone"));
    }

    @Override
    public <X> void collect(
        org.apache.flink.util.OutputTag<X> tag,
        org.apache.flink.streaming.runtime.streamrecord.StreamRecord<X> record) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void emitWatermark(org.apache.flink.streaming.api.watermark.Watermark mark) {}

    @Override
    public void emitWatermarkStatus(
        org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus status) {}

    @Override
    public void emitLatencyMarker(
        org.apache.flink.streaming.runtime.streamrecord.LatencyMarker marker) {}

    @Override
    public void emitRecordAttributes(
        org.apache.flink.streaming.runtime.streamrecord.RecordAttributes attributes) {}

    @Override
    public void emitWatermark(org.apache.flink.runtime.event.WatermarkEvent event) {}

    @Override
    public void close() {}
  }
}
