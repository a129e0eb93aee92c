package io.bistream.job;

import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.InputEvent;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;

/**
 * Moves keyed state written by earlier versions of the job into the current layout, once, when a
 * job restores: open sequences continue with the same outputs, ended ones keep refusing later
 * records for a whole {@code --ended-retention} from the restore. Two earlier layouts:
 *
 * <ul>
 *   <li>Flink POJOs, before the typed {@link SequenceRecord}: {@link KeyedSequence}, and {@link
 *       Tombstone} or a step count in states with a TTL. They are read with background TTL cleanup
 *       off (it is what cost a record ~40% of the keyed thread).
 *   <li>Exact mode's steps as one list per sequence ({@code exact-steps}), before the map of blocks
 *       ({@link SequenceOperator#exactBlocksDescriptor}).
 * </ul>
 *
 * The old states are emptied.
 */
final class StateMigration {

  private final SequenceOperator op;
  private final KeyedStateBackend<String> backend;

  StateMigration(SequenceOperator op) {
    this.op = op;
    this.backend = op.getKeyedStateBackend();
  }

  void run() throws Exception {
    fromPojos();
    fromStepLists();
  }

  /**
   * Each list entry becomes a block keyed by its place in the list: entries hold at least one step
   * each, so the blocks the sequence adds later (keyed by the steps taken in before) come after.
   */
  private void fromStepLists() throws Exception {
    ListState<StepBlock> lists = state(SequenceOperator.exactStepsListDescriptor());
    for (String key : keys("exact-steps")) {
      op.setCurrentKey(key);
      long place = 0;
      Iterable<StepBlock> blocks = lists.get();
      for (StepBlock b : blocks == null ? List.<StepBlock>of() : blocks) {
        op.exactBlocksState().put(place++, b);
      }
      lists.clear();
    }
  }

  private void fromPojos() throws Exception {
    JobSettings settings = op.settings();
    StateTtlConfig ttl =
        StateTtlConfig.newBuilder(settings.endedRetention()).disableCleanupInBackground().build();
    var sequenceDescriptor = new ValueStateDescriptor<>("sequence", KeyedSequence.class);
    var tombstoneDescriptor = new ValueStateDescriptor<>("tombstone", Tombstone.class);
    tombstoneDescriptor.enableTimeToLive(ttl);
    var endedDescriptor = new ValueStateDescriptor<>("ended", Types.LONG);
    endedDescriptor.enableTimeToLive(ttl);
    ValueState<KeyedSequence> sequences = state(sequenceDescriptor);
    ValueState<Tombstone> tombstones = state(tombstoneDescriptor);
    ValueState<Long> ended = state(endedDescriptor);
    MapState<Long, InputEvent> reorder = state(SequenceOperator.reorderDescriptor());

    for (String key : keys("sequence")) {
      op.setCurrentKey(key);
      KeyedSequence old = sequences.value();
      if (old != null) {
        SequenceRecord s = open(old, settings);
        for (InputEvent b : reorder.values()) {
          s.bufferedSteps += b.steps;
        }
        SequenceState engine =
            SequenceState.restore(new SequenceState.Snapshot(old.counters, old.arrays));
        StepBlock steps =
            EngineStates.keep(s, engine.snapshot(), s.appendsSteps(settings.stream()));
        if (steps != null) {
          op.exactBlocksState().put(0L, steps); // the only block: every step taken in so far
        }
        op.sequenceState().update(s);
      }
      sequences.clear();
    }
    long retainUntil = op.now() + settings.endedRetention().toMillis();
    for (String key : keys("tombstone")) {
      op.setCurrentKey(key);
      Tombstone t = tombstones.value(); // null once its TTL passed
      if (t != null && op.sequenceState().value() == null) {
        tombstone(t.why == null ? null : t.reason(), t.steps, retainUntil);
      }
      tombstones.clear();
    }
    for (String key : keys("ended")) {
      op.setCurrentKey(key);
      Long steps = ended.value();
      if (steps != null && op.sequenceState().value() == null) {
        tombstone(null, steps, retainUntil);
      }
      ended.clear();
    }
  }

  private <S extends org.apache.flink.api.common.state.State> S state(
      org.apache.flink.api.common.state.StateDescriptor<S, ?> descriptor) throws Exception {
    return backend.getPartitionedState(
        VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, descriptor);
  }

  private List<String> keys(String state) {
    try (Stream<String> keys = backend.getKeys(state, VoidNamespace.INSTANCE)) {
      return keys.toList();
    }
  }

  private void tombstone(Tombstone.Why why, long steps, long retainUntil) throws Exception {
    SequenceRecord s = new SequenceRecord();
    s.end(why, steps, retainUntil);
    op.sequenceState().update(s);
    op.timerService().registerProcessingTimeTimer(VoidNamespace.INSTANCE, retainUntil);
  }

  /** The open sequence of a {@link KeyedSequence}, but for its engine state. */
  private static SequenceRecord open(KeyedSequence old, JobSettings settings) {
    SequenceRecord s = new SequenceRecord();
    if (old.mode != null) {
      s.config =
          new StreamConfig(
              StreamConfig.Mode.valueOf(old.mode),
              old.chunk,
              old.lookahead,
              old.maxSequenceSteps,
              StreamConfig.Overflow.valueOf(old.overflow),
              old.leftContext);
    }
    s.nextT = old.nextT;
    s.endAt = old.endAt;
    s.recent = old.recent;
    s.recentFrom = old.recentFrom;
    s.partition = old.partition;
    s.lastTimestamp = old.lastTimestamp;
    s.lastSeenTimestamp = old.lastSeenTimestamp;
    s.reorderSince = old.reorderSince;
    s.idleTimer = old.idleTimer;
    s.reorderTimer = old.reorderTimer;
    // That version registered the idle timer anew, a timeout ahead, on every record.
    s.lastSeenAt = old.idleTimer == 0 ? 0 : old.idleTimer - settings.idleTimeout().toMillis();
    return s;
  }
}
