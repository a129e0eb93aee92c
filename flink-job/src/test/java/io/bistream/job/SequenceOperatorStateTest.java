package io.bistream.job;

import static io.bistream.job.SequenceOperatorFaultTest.assertOnlyTombstonesLeft;
import static io.bistream.job.SequenceOperatorFaultTest.outputs;
import static io.bistream.job.SequenceOperatorFaultTest.predict;
import static io.bistream.job.SequenceOperatorFaultTest.record;
import static io.bistream.job.SequenceOperatorFaultTest.rows;
import static io.bistream.job.SequenceOperatorFaultTest.settings;
import static io.bistream.job.SequenceOperatorFaultTest.values;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.Test;

/**
 * The operator's keyed state: state of earlier versions restores with the outputs of an
 * uninterrupted run, and on RocksDB a step costs the same state work at the end of a long exact
 * sequence as at its start, and a restore mid-sequence continues it.
 */
class SequenceOperatorStateTest {

  private static final int D = 3;
  private static final String MODEL = SequenceOperatorTest.MODEL;

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> harness(
      SequenceOperator op, boolean rocksDb, OperatorSubtaskState restored, long ttlTime)
      throws Exception {
    var h = new KeyedOneInputStreamOperatorTestHarness<>(op, (InputEvent e) -> e.seq, Types.STRING);
    if (rocksDb) {
      h.setStateBackend(new EmbeddedRocksDBStateBackend());
    }
    h.setStateTtlProcessingTime(ttlTime);
    h.setProcessingTime(0);
    if (restored != null) {
      h.initializeState(restored);
    }
    h.open();
    return h;
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(
      strings = {
        StateFixtureWriter.POJO_STATE,
        StateFixtureWriter.TYPED_V2_STATE,
        StateFixtureWriter.BLOCKS_STATE,
        StateFixtureWriter.V3_STATE,
        StateFixtureWriter.V6_STATE
      })
  void stateWrittenByEarlierVersionsRestoresWithTheOutputsOfAnUninterruptedRun(String fixture)
      throws Exception {
    // src/test/resources/state/README.md: "open" fed 0..4 with 6..7 buffered, "done" ended;
    // written by the job with Flink POJO state (e699bd2), with the typed state, version 2 (steps
    // in a list), with exact mode's steps in a map of blocks, and in format versions 3 and 6. Each
    // holds forward outputs for steps 0..4: the restored sequence's forward half runs on from them.
    OperatorSubtaskState old =
        OperatorSnapshotUtil.readStateHandle(Path.of("src/test/resources", fixture).toString());
    long writtenAt = 0; // the harness's TTL clock when the fixture was written
    var h =
        harness(
            new SequenceOperator(settings(MODEL, StreamConfig.exact(), 1)),
            false,
            old,
            writtenAt + 1_000);
    h.processElement(record("open", 5, rows(5, 1), D, false, 4), 0);
    h.processElement(record("open", 8, rows(8, 2), D, true, 5), 0);
    h.processElement(record("done", 3, rows(3, 1), D, false, 6), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    SequenceOperatorFaultTest.assertSchemas(raw);
    List<JsonNode> open = values(raw, "out", "open");
    assertThat(outputs(open)).containsExactly(predict(MODEL, rows(0, 10), 10, D));
    assertThat(SequenceOperatorFaultTest.end(open).get("steps").asLong()).isEqualTo(10);
    List<JsonNode> dlq = values(raw, "dlq", null);
    assertThat(dlq).hasSize(1);
    assertThat(dlq.get(0).get("reason").asText()).isEqualTo("data_after_end");
    assertThat(dlq.get(0).get("detail").asText()).contains("after 3 steps (end_marker)");
    assertThat(dlq.get(0).get("offset").asLong()).isEqualTo(6);
    assertThat(values(raw, "out", "done")).isEmpty();
    // Both are tombstones now, "done" kept for a whole retention from the restore.
    assertOnlyTombstonesLeft(h, 2);
    h.setProcessingTime(settings(MODEL, StreamConfig.exact(), 1).endedRetention().toMillis());
    assertThat(h.numKeyedStateEntries()).isZero();
    assertThat(h.numProcessingTimeTimers()).isZero();
    h.close();
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(
      strings = {StateFixtureWriter.BLOCKS_STATE, StateFixtureWriter.V3_STATE})
  void aRestoredSequenceKeepsTheIdleTimeoutItsRecordsAskedAndOlderStateTheJobs(String fixture)
      throws Exception {
    // "open" (fed 0..4, 6..7 waiting for 5) asked one hour in the version 3 fixture; state of
    // version 2 could not hold it and takes the job's 30 s.
    boolean own = fixture.equals(StateFixtureWriter.V3_STATE);
    OperatorSubtaskState old =
        OperatorSnapshotUtil.readStateHandle(Path.of("src/test/resources", fixture).toString());
    var h =
        harness(new SequenceOperator(settings(MODEL, StreamConfig.exact(), 1)), false, old, 1_000);
    h.processElement(record("open", 5, rows(5, 1), D, false, 4), 0); // fills the gap: 0..7
    h.setProcessingTime(30_000);
    assertThat(values(h.extractOutputValues(), "out", "open")).hasSize(own ? 0 : 9);
    h.setProcessingTime(StateFixtureWriter.V3_IDLE_TIMEOUT_MS);
    List<JsonNode> open = values(h.extractOutputValues(), "out", "open");
    assertThat(outputs(open)).containsExactly(predict(MODEL, rows(0, 8), 8, D));
    assertThat(SequenceOperatorFaultTest.end(open).get("why").asText()).isEqualTo("idle_timeout");
    assertThat(values(h.extractOutputValues(), "dlq", null)).isEmpty();
    h.close();
  }

  @Test
  void anEndedSequencesTombstoneRefusesLaterRecordsUntilItsRetentionTimerRemovesIt()
      throws Exception {
    JobSettings s = settings(MODEL, StreamConfig.exact(), 1);
    var h = harness(new SequenceOperator(s), false, null, 0);
    h.processElement(record("a", 0, rows(0, 2), D, true, 1), 0);
    h.setProcessingTime(s.endedRetention().toMillis() - 1);
    h.processElement(record("a", 2, rows(2, 1), D, false, 2), 0);
    assertThat(values(h.extractOutputValues(), "dlq", null))
        .extracting(n -> n.get("reason").asText())
        .containsExactly("data_after_end");
    h.setProcessingTime(s.endedRetention().toMillis());
    assertThat(h.numKeyedStateEntries()).isZero();
    assertThat(h.numProcessingTimeTimers()).isZero();
    h.close();
  }

  /**
   * Offline outputs within float rounding: the backward pass over a whole sequence of one-step
   * blocks runs in other kernel tiles than offline's (docs/operations.md, "Modes").
   */
  private static void assertCloseToOffline(float[] got, float[] want) {
    assertThat(got).hasSameSizeAs(want);
    double worst = 0;
    for (int i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-6 + 1e-5 * Math.abs(want[i])));
    }
    System.out.printf("largest deviation from offline: %.3f of the tolerance%n", worst);
    assertThat(worst).isLessThanOrEqualTo(1.0);
  }

  @Test
  void anExactSequenceOutgrowingMaxStepsWithDegradeContinuesLikeALookaheadRunFromItsFirstStep()
      throws Exception {
    StreamConfig degrading =
        new StreamConfig(
            StreamConfig.Mode.EXACT, 2, 1, 4, StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD);
    int steps = 9;
    var h = harness(new SequenceOperator(settings(MODEL, degrading, 1)), true, null, 0);
    for (int t = 0; t < steps; t++) {
      h.processElement(record("d", t, rows(t, 1), D, t == steps - 1, t), 0);
    }
    List<JsonNode> out = values(h.extractOutputValues(), "out", "d");
    var reference =
        harness(
            new SequenceOperator(settings(MODEL, StreamConfig.lookahead(2, 1), 1)), true, null, 0);
    reference.processElement(record("d", 0, rows(0, steps), D, true, 0), 0);
    List<JsonNode> lookahead = values(reference.extractOutputValues(), "out", "d");
    assertThat(outputs(out)).containsExactly(outputs(lookahead));
    assertThat(out.subList(0, steps))
        .allSatisfy(
            n -> {
              assertThat(n.get("mode").asText()).isEqualTo("lookahead");
              assertThat(n.get("degraded").asBoolean()).isTrue();
            });
    assertThat(SequenceOperatorFaultTest.end(out).get("steps").asLong()).isEqualTo(steps);
    assertOnlyTombstonesLeftOnRocksDb(h, 1);
    h.close();
    reference.close();
  }

  /** {@link SequenceOperatorFaultTest#assertOnlyTombstonesLeft}, where RocksDB cannot count. */
  private static void assertOnlyTombstonesLeftOnRocksDb(
      KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> h, int tombstones)
      throws Exception {
    var backend = h.getOperator().<String>getKeyedStateBackend();
    assertThat(SequenceOperator.sequences(backend, true)).hasSize(tombstones);
    assertThat(SequenceOperator.sequences(backend, false)).isEmpty();
    try (var blocks =
        backend.getKeys("exact-blocks", org.apache.flink.runtime.state.VoidNamespace.INSTANCE)) {
      assertThat(blocks).as("no exact-mode steps left").isEmpty();
    }
    try (var maps =
        backend.getKeys("reorder", org.apache.flink.runtime.state.VoidNamespace.INSTANCE)) {
      assertThat(maps).as("no reorder buffer left").isEmpty();
    }
    assertThat(h.numProcessingTimeTimers()).isEqualTo(tombstones);
  }

  /** A serializer that counts the bytes it writes and reads. */
  static final class Counting<T> extends TypeSerializer<T> {
    private static final long serialVersionUID = 1L;
    final TypeSerializer<T> inner;
    final AtomicLong bytes = new AtomicLong();

    Counting(TypeSerializer<T> inner) {
      this.inner = inner;
    }

    private long size(T value) throws IOException {
      DataOutputSerializer out = new DataOutputSerializer(64);
      inner.serialize(value, out);
      return out.length();
    }

    @Override
    public void serialize(T value, DataOutputView out) throws IOException {
      bytes.addAndGet(size(value));
      inner.serialize(value, out);
    }

    @Override
    public T deserialize(DataInputView in) throws IOException {
      T value = inner.deserialize(in);
      bytes.addAndGet(size(value));
      return value;
    }

    @Override
    public T deserialize(T reuse, DataInputView in) throws IOException {
      return deserialize(in);
    }

    @Override
    public boolean isImmutableType() {
      return inner.isImmutableType();
    }

    @Override
    public TypeSerializer<T> duplicate() {
      return this;
    }

    @Override
    public T createInstance() {
      return inner.createInstance();
    }

    @Override
    public T copy(T from) {
      return inner.copy(from);
    }

    @Override
    public T copy(T from, T reuse) {
      return inner.copy(from, reuse);
    }

    @Override
    public int getLength() {
      return -1;
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
      inner.copy(in, out);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Counting<?> c && c.inner.equals(inner);
    }

    @Override
    public int hashCode() {
      return inner.hashCode();
    }

    @Override
    public TypeSerializerSnapshot<T> snapshotConfiguration() {
      return inner.snapshotConfiguration();
    }
  }

  @Test
  void aStepOfALongExactSequenceOnRocksDbCostsTheSameStateBytesAtItsEndAsAtItsStart()
      throws Exception {
    int steps = 3_000;
    int window = 500;
    var record = new Counting<>(new SequenceRecordSerializer());
    var blocks = new Counting<>(new StepBlock.Serializer());
    var op = new SequenceOperator(settings(MODEL, StreamConfig.exact(), 1), record, blocks);
    var h = harness(op, true, null, 0);
    float[] x = rows(0, steps);
    long[] at = new long[steps + 1];
    for (int t = 0; t < steps; t++) {
      at[t] = record.bytes.get() + blocks.bytes.get();
      float[] step = java.util.Arrays.copyOfRange(x, t * D, (t + 1) * D);
      h.processElement(record("long", t, step, D, false, t), 0);
    }
    at[steps] = record.bytes.get() + blocks.bytes.get();
    long first = at[100 + window] - at[100]; // after the sequence's first steps
    long last = at[steps] - at[steps - window];
    System.out.printf(
        "state bytes written and read per step on RocksDB, exact mode: steps 100..%d %.1f,"
            + " steps %d..%d %.1f (ratio %.3f)%n",
        100 + window - 1,
        (double) first / window,
        steps - window,
        steps - 1,
        (double) last / window,
        (double) last / first);
    // The job before the typed state kept the whole buffers in one value: serialized 15.7 KB on
    // average at steps 100..599 of this sequence and 116.6 KB at 2,500..2,999 (7.4x), read and
    // written twice per step.
    assertThat((double) last / first).isBetween(0.9, 1.1);

    h.processElement(record("long", steps, new float[0], D, true, steps), 0);
    List<JsonNode> out = values(h.extractOutputValues(), "out", "long");
    assertCloseToOffline(outputs(out), predict(MODEL, x, steps, D));
    h.close();
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
  void aCheckpointInTheMiddleOfABufferedExactSequenceRestoresToTheSameOutputs(boolean rocksDb)
      throws Exception {
    JobSettings s = settings(MODEL, StreamConfig.exact(), 1);
    var before = harness(new SequenceOperator(s), rocksDb, null, 0);
    for (int t = 0; t < 30; t++) {
      before.processElement(record("m", t, rows(t, 1), D, false, t), 0);
    }
    before.processElement(record("m", 31, rows(31, 2), D, false, 31), 0); // waits for step 30
    OperatorSubtaskState checkpoint = before.snapshot(1, 1);
    assertThat(values(before.extractOutputValues(), "out", null)).isEmpty();
    before.close();

    var after = harness(new SequenceOperator(s), rocksDb, checkpoint, 0);
    after.processElement(record("m", 30, rows(30, 1), D, false, 40), 0);
    after.processElement(record("m", 33, rows(33, 7), D, true, 41), 0);
    List<OutputRecord> raw = after.extractOutputValues();
    assertThat(values(raw, "dlq", null)).isEmpty();
    List<JsonNode> out = values(raw, "out", "m");
    assertCloseToOffline(outputs(out), predict(MODEL, rows(0, 40), 40, D));
    assertThat(SequenceOperatorFaultTest.end(out).get("steps").asLong()).isEqualTo(40);
    if (rocksDb) {
      assertOnlyTombstonesLeftOnRocksDb(after, 1);
    } else {
      assertOnlyTombstonesLeft(after, 1);
    }
    after.close();
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
  void exactModesStepsMakeABlockPerKilobyteOnTheHeapAndOnePerEngineCallOnRocksDb(boolean rocksDb)
      throws Exception {
    SequenceOperator op = new SequenceOperator(settings(MODEL, StreamConfig.exact(), 1));
    var h = harness(op, rocksDb, null, 0);
    int steps = 200;
    for (int t = 0; t < steps; t++) {
      h.processElement(record("b", t, rows(t, 1), D, false, t), 0);
    }
    op.setCurrentKey("b");
    java.util.TreeMap<Long, StepBlock> byFirstStep = new java.util.TreeMap<>();
    op.exactBlocksState().entries().forEach(e -> byFirstStep.put(e.getKey(), e.getValue()));
    List<StepBlock> blocks = new java.util.ArrayList<>(byFirstStep.values());
    // Each block is keyed by the first step it holds: the steps of the blocks before it.
    long first = 0;
    for (var e : byFirstStep.entrySet()) {
      assertThat(e.getKey()).isEqualTo(first);
      first += e.getValue().steps();
    }
    StepBlock tail = op.sequenceState().value().tail;
    int inMap = blocks.stream().mapToInt(StepBlock::steps).sum();
    assertThat(inMap + (tail == null ? 0 : tail.steps())).isEqualTo(steps);
    // A step is its input row and mask: the forward half of the model's first (and only)
    // bidirectional layer runs at the end.
    assertThat(blocks).allSatisfy(b -> assertThat(b.bytes()).isEqualTo(b.steps() * 4L * (D + 1)));
    if (rocksDb) {
      assertThat(blocks).hasSize(steps);
      assertThat(tail).isNull();
    } else {
      long perStep = blocks.get(0).bytes() / blocks.get(0).steps();
      assertThat(blocks)
          .hasSize(inMap / blocks.get(0).steps())
          .allSatisfy(
              b ->
                  assertThat(b.bytes())
                      .isBetween(
                          (long) SequenceOperator.EXACT_TAIL_BYTES,
                          SequenceOperator.EXACT_TAIL_BYTES + perStep - 1));
      assertThat(tail == null ? 0 : tail.bytes()).isLessThan(SequenceOperator.EXACT_TAIL_BYTES);
    }
    h.processElement(record("b", steps, new float[0], D, true, steps), 0);
    assertCloseToOffline(
        outputs(values(h.extractOutputValues(), "out", "b")),
        predict(MODEL, rows(0, steps), steps, D));
    h.close();
  }
}
