package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;

/**
 * Writes the operator-state fixtures that {@link SequenceOperatorContextTest} and {@link
 * SequenceOperatorStateTest} restore: keyed state as a given version of the job wrote it. Run once
 * on the version whose state the fixture keeps, then commit the file; later versions must still
 * restore it (README.md beside it).
 *
 * <pre>
 * mvn -B -o -pl flink-job -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
 *     -Dmdep.outputFile=target/test-classpath.txt
 * cd flink-job && java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
 *     io.bistream.job.StateFixtureWriter
 * </pre>
 */
final class StateFixtureWriter {

  /** Lookahead(2, 1) on the bilstm_concat model; sequence "r" holds steps 0..2, still open. */
  static final String BEFORE_CONTEXT = "state/lookahead-before-context-mode.snapshot";

  /**
   * Exact mode on the bilstm_concat model, as the job kept it in Flink POJOs ({@code
   * KeyedSequence}, a TTL'd {@code Tombstone}, {@code InputEvent}s in the reorder map): sequence
   * "open" has steps 0..4 fed and steps 6..7 waiting in the reorder buffer for step 5; sequence
   * "done" took steps 0..2 and ended (its tombstone).
   */
  static final String POJO_STATE = "state/exact-pojo-state.snapshot";

  /** The same sequences in the typed state, format version 2 ({@link SequenceRecordSerializer}). */
  static final String TYPED_V2_STATE = "state/exact-typed-v2-state.snapshot";

  /** The same again, exact mode's steps in a map of blocks ({@code exact-blocks}), not a list. */
  static final String BLOCKS_STATE = "state/exact-blocks-state.snapshot";

  /**
   * The same in {@link SequenceRecordSerializer} format version 3, "open" with its own idle timeout
   * of one hour (its first record's {@code "idle_timeout_ms"}).
   */
  static final String V3_STATE = "state/exact-v3-state.snapshot";

  /**
   * {@link SequenceRecordSerializer} format version 4 with a model upgrade: the job's --model (the
   * bilstm_concat model, version "initial") and a model record making the bigru_concat model
   * version "v2"; sequence "lstm" started before it (steps 0..2, pinned to "initial"), "gru" after
   * it (steps 0..2, pinned to "v2"); both open, exact mode. Model paths relative to flink-job, as
   * the tests run there.
   */
  static final String V4_MODELS_STATE = "state/exact-v4-models-state.snapshot";

  /** The model paths {@link #V4_MODELS_STATE} names. */
  static final String V4_LSTM =
      "../model-core/src/test/resources/golden/tfjs/models/bilstm_concat/model.json";

  static final String V4_GRU =
      "../model-core/src/test/resources/golden/tfjs/models/bigru_concat/model.json";

  /**
   * The same as {@link #V3_STATE} without the idle timeout, in format version 6: "open"'s fed steps
   * in its record's {@code tail}, with the forward outputs of the first bidirectional layer that
   * exact mode computed as steps arrived until version 7.
   */
  static final String V6_STATE = "state/exact-v6-state.snapshot";

  /** The idle timeout "open" asks in {@link #V3_STATE}. */
  static final long V3_IDLE_TIMEOUT_MS = 3_600_000;

  private StateFixtureWriter() {}

  public static void main(String[] args) throws Exception {
    // "pojo" was run at e699bd2, "typed-v2" when SequenceRecordSerializer.CURRENT was 2 and the
    // steps a list, "blocks" when they became a map, "v3" when CURRENT was 3, "v4-models" when it
    // was 4, "v6" when it was 6 (at 1267365).
    Map<String, String> exact =
        Map.of(
            "pojo",
            POJO_STATE,
            "typed-v2",
            TYPED_V2_STATE,
            "blocks",
            BLOCKS_STATE,
            "v3",
            V3_STATE,
            "v6",
            V6_STATE);
    if (args.length > 0 && args[0].equals("v4-models")) {
      writeModelsState();
      return;
    }
    if (args.length > 0 && exact.containsKey(args[0])) {
      writeExactState(exact.get(args[0]));
      return;
    }
    var h =
        SequenceOperatorFaultTest.harness(
            SequenceOperatorFaultTest.settings(
                SequenceOperatorTest.MODEL, StreamConfig.lookahead(2, 1), 1));
    h.processElement(
        SequenceOperatorFaultTest.record("r", 0, SequenceOperatorFaultTest.rows(0, 3), 3, false, 1),
        0);
    snapshotTo(h, BEFORE_CONTEXT);
  }

  private static void writeExactState(String fixture) throws Exception {
    // The model's path as the tests see it: state of format version 4 on keeps it.
    var h =
        SequenceOperatorFaultTest.harness(
            SequenceOperatorFaultTest.settings(V4_LSTM, StreamConfig.exact(), 1));
    h.setProcessingTime(0);
    var first =
        SequenceOperatorFaultTest.record(
            "open", 0, SequenceOperatorFaultTest.rows(0, 5), 3, false, 1);
    if (fixture.equals(V3_STATE)) {
      first.idleTimeoutMs = V3_IDLE_TIMEOUT_MS;
    }
    h.processElement(first, 0);
    h.processElement(
        SequenceOperatorFaultTest.record(
            "open", 6, SequenceOperatorFaultTest.rows(6, 2), 3, false, 2),
        0);
    h.processElement(
        SequenceOperatorFaultTest.record(
            "done", 0, SequenceOperatorFaultTest.rows(0, 3), 3, true, 3),
        0);
    snapshotTo(h, fixture);
  }

  private static void writeModelsState() throws Exception {
    var h =
        SequenceOperatorModelsTest.harness(
            new SequenceOperator(
                SequenceOperatorFaultTest.settings(V4_LSTM, StreamConfig.exact(), 1)));
    h.setProcessingTime(0);
    h.open();
    h.processElement1(
        SequenceOperatorFaultTest.record(
            "lstm", 0, SequenceOperatorFaultTest.rows(0, 3), 3, false, 1),
        0);
    h.processElement2(SequenceOperatorModelsTest.update(V4_GRU, "v2", 0), 0);
    h.processElement1(
        SequenceOperatorFaultTest.record(
            "gru", 0, SequenceOperatorFaultTest.rows(0, 3), 3, false, 2),
        0);
    snapshotTo(h, V4_MODELS_STATE);
  }

  /**
   * Snapshots the operator in {@code h}, closes it and writes the state to test resource {@code
   * fixture}.
   */
  private static void snapshotTo(AbstractStreamOperatorTestHarness<?> h, String fixture)
      throws Exception {
    OperatorSubtaskState snapshot = h.snapshot(1, 1);
    h.close();
    Path out = Path.of("src/test/resources").resolve(fixture);
    Files.createDirectories(out.getParent());
    OperatorSnapshotUtil.writeStateHandle(snapshot, out.toString());
    System.out.println("wrote " + out);
  }
}
