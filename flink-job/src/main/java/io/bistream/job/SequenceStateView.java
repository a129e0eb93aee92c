package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.InputEvent;
import java.io.IOException;
import java.util.Map;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * Reads one sequence's keyed state as {@link SequenceOperator} keeps it, for state inspection
 * ({@code ./bistream state}, docs/operations.md "State you can see"): the {@code sequence-record}
 * value, exact mode's {@code exact-blocks} and the {@code reorder} buffer, each through the job's
 * own serializer, so a reader never parses state bytes itself and reads every format version a
 * restore reads. Created in the {@code open} of a State Processor API reader function, whose
 * runtime context registers the three states; {@link #read} then views the current key.
 */
public final class SequenceStateView {

  /** The uid prefix of the keyed operator; the pipeline's {@code <input>-<output>} follows. */
  public static final String OPERATOR_UID_PREFIX = "bistream-sequences-";

  private final ValueState<SequenceRecord> sequence;
  private final MapState<Long, StepBlock> exactBlocks;
  private final MapState<Long, InputEvent> reorder;

  public SequenceStateView(RuntimeContext context) {
    sequence = context.getState(SequenceOperator.sequenceDescriptor());
    exactBlocks = context.getMapState(SequenceOperator.exactBlocksDescriptor());
    reorder = context.getMapState(SequenceOperator.reorderDescriptor());
  }

  /**
   * The keyed operator's uid in the pipeline reading {@code inputTopic} into {@code outputTopic}.
   */
  public static String operatorUid(String inputTopic, String outputTopic) {
    return OPERATOR_UID_PREFIX + inputTopic + "-" + outputTopic;
  }

  /**
   * What the current key ({@code seq}) holds, or null when it holds no sequence record.
   *
   * @param withStates whether to keep the carried recurrent states' values (else only their sizes)
   */
  public Sequence read(String seq, boolean withStates) throws Exception {
    SequenceRecord s = sequence.value();
    if (s == null) {
      return null;
    }
    DataOutputSerializer bytes = new DataOutputSerializer(1 << 12);
    new SequenceRecordSerializer().serialize(s, bytes);
    long stateBytes = bytes.length();
    if (s.ended) {
      return new Sequence(
          seq,
          true,
          s.why == null ? null : s.why.code(),
          s.endedSteps,
          s.retainUntil,
          null,
          0,
          -1,
          0,
          0,
          0,
          false,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          stateBytes,
          new float[0][],
          new float[0][],
          null);
    }
    // Exact mode's buffered steps: one mask value per step in every block.
    long exactSteps = 0;
    int blocks = 0;
    TypeSerializer<StepBlock> blockSerializer = new StepBlock.Serializer();
    for (Map.Entry<Long, StepBlock> e : entries(exactBlocks)) {
      blocks++;
      exactSteps += e.getValue().mask().length;
      stateBytes += Long.BYTES + size(blockSerializer, e.getValue());
    }
    if (s.tail != null) {
      blocks++; // the latest steps, a block the record holds: its bytes are the record's
      exactSteps += s.tail.steps();
    }
    int pieces = 0;
    TypeSerializer<InputEvent> pieceSerializer = new ReorderPieceSerializer();
    for (Map.Entry<Long, InputEvent> e : entries(reorder)) {
      pieces++;
      stateBytes += Long.BYTES + size(pieceSerializer, e.getValue());
    }
    return new Sequence(
        seq,
        false,
        null,
        0,
        0,
        s.config,
        s.nextT,
        s.endAt,
        s.received,
        s.emitted,
        s.chunkStart,
        s.degraded,
        s.bufferedSteps,
        pieces,
        exactSteps,
        blocks,
        s.pendingLength,
        s.partition,
        s.lastSeenTimestamp,
        s.lastSeenAt,
        s.startedAt,
        stateBytes,
        withStates ? s.forward : sizesOnly(s.forward),
        withStates ? s.backward : sizesOnly(s.backward),
        s.modelVersion);
  }

  private static <K, V> Iterable<Map.Entry<K, V>> entries(MapState<K, V> state) throws Exception {
    Iterable<Map.Entry<K, V>> e = state.entries();
    return e == null ? java.util.List.of() : e;
  }

  private static <T> long size(TypeSerializer<T> serializer, T value) throws IOException {
    DataOutputSerializer out = new DataOutputSerializer(1 << 12);
    serializer.serialize(value, out);
    return out.length();
  }

  /** Arrays of the same lengths (zeros), so a listing does not carry every state's values. */
  private static float[][] sizesOnly(float[][] states) {
    float[][] c = new float[states.length][];
    for (int i = 0; i < states.length; i++) {
      c[i] = states[i] == null ? null : new float[states[i].length];
    }
    return c;
  }

  /**
   * One sequence's state. An open one: the streaming settings it started with ({@code config}, null
   * for state from before they were kept: the job's), its ordering cursor ({@code nextT}, the steps
   * fed to the engine), the engine's counters, the steps waiting in the reorder buffer and in exact
   * mode's blocks, the raw floats a lookahead, stateful or context window holds, its input
   * partition, its times ({@code lastSeenTimestamp}: the Kafka timestamp of its latest record;
   * {@code lastSeenAt}: the job's processing time when that record was taken in, 0 in format
   * version 1; {@code startedAt}: when its first record was, 0 before format version 5), its
   * state's size, and per stage its carried forward and backward states (packed h then c; an entry
   * null where the stage carries none). An ended one (a tombstone): why, the steps it took in and
   * the processing time until which it is kept.
   *
   * @param stateBytes its values as the job's serializers write them, with the maps' 8-byte keys;
   *     the state backend adds its own overhead per entry
   * @param modelVersion the model version an open sequence is pinned to; null for a tombstone and
   *     for state from before versions were kept (format version 3 and older: the job's {@code
   *     --model-version})
   */
  public record Sequence(
      String seq,
      boolean ended,
      String why,
      long endedSteps,
      long retainUntil,
      StreamConfig config,
      long nextT,
      long endAt,
      long received,
      long emitted,
      long chunkStart,
      boolean degraded,
      int reorderSteps,
      int reorderPieces,
      long exactSteps,
      int exactBlocks,
      int pendingFloats,
      int partition,
      long lastSeenTimestamp,
      long lastSeenAt,
      long startedAt,
      long stateBytes,
      float[][] forward,
      float[][] backward,
      String modelVersion) {}
}
