package io.bistream.job;

import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import java.io.IOException;
import org.apache.flink.core.memory.DataOutputSerializer;

/** What a sequence's state takes in Flink's keyed state, for benchmarks ({@code bench}). */
public final class StateSize {

  private StateSize() {}

  /**
   * Bytes of keyed state of an open sequence whose engine state is {@code snap}: its {@link
   * SequenceRecord} and, in exact mode, its buffered steps ({@link StepBlock}s), each through the
   * serializer the job's state uses.
   */
  public static long of(SequenceState.Snapshot snap, StreamConfig config) throws IOException {
    SequenceRecord record = new SequenceRecord();
    record.config = config;
    StepBlock steps = EngineStates.keep(record, snap, record.appendsSteps(config));
    DataOutputSerializer out = new DataOutputSerializer(1 << 16);
    new SequenceRecordSerializer().serialize(record, out);
    if (steps != null) {
      new StepBlock.Serializer().serialize(steps, out);
    }
    return out.length();
  }
}
