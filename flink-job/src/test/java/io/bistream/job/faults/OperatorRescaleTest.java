package io.bistream.job.faults;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobSettings;
import io.bistream.job.SequenceOperator;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Rescaling the keyed operator with Flink's harness utilities: a snapshot taken at parallelism 1 is
 * split over 2 subtasks by key group and merged back to 1, the way Flink redistributes keyed state
 * and timers on a restore at another parallelism. Every key's state and timers must move with its
 * key group, and the sequences must finish with the model's offline outputs.
 */
class OperatorRescaleTest {

  private static final String MODEL = Offline.MODEL;
  private static final int D = Offline.D;
  private static final int MAX_PARALLELISM = 128;
  private static final int KEYS = 60;

  /** Keys whose next step is missing at the snapshot: a later step waits in the reorder buffer. */
  private static boolean outOfOrder(int key) {
    return key % 3 == 0;
  }

  private static String seq(int key) {
    return "k-" + key;
  }

  /** Steps fed in order before the first snapshot. */
  private static int prefix(int key) {
    return 2 + key % 3;
  }

  private static int length(int key) {
    return 8 + key % 5;
  }

  private static float[] x(int key, long t) {
    return new float[] {(float) Math.sin(t + key), (float) Math.cos(0.5 * t), 0.05f * key};
  }

  private static float[] steps(int key, int t) {
    float[] all = new float[t * D];
    for (int i = 0; i < t; i++) {
      System.arraycopy(x(key, i), 0, all, i * D, D);
    }
    return all;
  }

  private static InputEvent step(int key, long t, boolean end) {
    InputEvent e = new InputEvent();
    e.seq = seq(key);
    e.t = t;
    e.steps = 1;
    e.values = x(key, t);
    e.end = end;
    e.topic = "in";
    return e;
  }

  private static StreamConfig stream(String mode) {
    return switch (mode) {
      case "exact" -> StreamConfig.exact();
      case "lookahead" -> StreamConfig.lookahead(4, 2);
      case "context" -> StreamConfig.context(3, 4, 2);
      default -> StreamConfig.stateful(4);
    };
  }

  /** Idle timeout 30 s, reorder timeout 5 s (JobSettings.of). */
  private static JobSettings settings(String mode) {
    return JobSettings.of(MODEL, stream(mode), "in", "out", "dlq");
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> subtask(
      JobSettings s, int parallelism, int index, OperatorSubtaskState restored) throws Exception {
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s),
            (InputEvent e) -> e.seq,
            Types.STRING,
            MAX_PARALLELISM,
            parallelism,
            index);
    h.setProcessingTime(0);
    if (restored != null) {
      h.initializeState(restored);
    }
    h.open();
    return h;
  }

  private static int owner(int key, int parallelism) {
    return KeyGroupRangeAssignment.assignKeyToParallelOperator(
        seq(key), MAX_PARALLELISM, parallelism);
  }

  /** What a subtask owning {@code keys} must hold mid-sequence, and what it does hold. */
  private static void assertHoldsExactly(
      KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> h, Set<Integer> keys)
      throws Exception {
    Set<String> open = new TreeSet<>();
    Set<String> buffering = new TreeSet<>();
    for (int k : keys) {
      open.add(seq(k));
      if (outOfOrder(k)) {
        buffering.add(seq(k));
      }
    }
    assertThat(ClusterRuns.keys(h, "sequence")).as("open sequences").isEqualTo(open);
    assertThat(ClusterRuns.keys(h, "reorder"))
        .as("sequences with buffered steps")
        .isEqualTo(buffering);
    // Exact mode's fed steps are a map of blocks per sequence beside its value.
    assertThat(h.numKeyedStateEntries())
        .isEqualTo(open.size() + buffering.size() + ClusterRuns.keys(h, "exact-blocks").size());
    // Every open sequence has its idle timer; one with buffered steps also its reorder deadline.
    assertThat(h.numProcessingTimeTimers()).isEqualTo(open.size() + buffering.size());
  }

  private static Set<Integer> ownedBy(int index, int parallelism) {
    Set<Integer> owned = new HashSet<>();
    for (int k = 0; k < KEYS; k++) {
      if (owner(k, parallelism) == index) {
        owned.add(k);
      }
    }
    return owned;
  }

  /** At parallelism 1: every key mid-sequence, out-of-order keys with one step buffered. */
  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord>
      startAtParallelismOne(JobSettings s) throws Exception {
    var h = subtask(s, 1, 0, null);
    for (int k = 0; k < KEYS; k++) {
      for (int t = 0; t < prefix(k); t++) {
        h.processElement(step(k, t, false), 0);
      }
      if (outOfOrder(k)) {
        h.processElement(step(k, prefix(k) + 1, false), 0); // step prefix(k) is still missing
      }
    }
    h.prepareSnapshotPreBarrier(1); // the batched engine call a checkpoint barrier forces
    return h;
  }

  @ParameterizedTest
  @ValueSource(strings = {"exact", "lookahead", "stateful", "context"})
  void stateAndTimersOfEveryKeyMoveWithItsKeyGroupToTwoSubtasksAndBack(String mode)
      throws Exception {
    JobSettings s = settings(mode);
    List<OutputRecord> out = new ArrayList<>();
    var one = startAtParallelismOne(s);
    Set<Integer> all = ownedBy(0, 1);
    assertHoldsExactly(one, all);
    OperatorSubtaskState atOne = one.snapshot(1, 1);
    out.addAll(one.extractOutputValues());
    one.close();

    // 1 -> 2: each subtask restores the key groups it owns, with their keys' state and timers.
    List<KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord>> two =
        new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      two.add(
          subtask(
              s,
              2,
              i,
              AbstractStreamOperatorTestHarness.repartitionOperatorState(
                  atOne, MAX_PARALLELISM, 1, 2, i)));
      assertHoldsExactly(two.get(i), ownedBy(i, 2));
    }
    assertThat(ownedBy(0, 2)).as("both subtasks own keys").isNotEmpty();
    assertThat(ownedBy(1, 2)).isNotEmpty();
    // One more in-order step for the keys without a gap, on the subtask that owns each key.
    for (int k = 0; k < KEYS; k++) {
      if (!outOfOrder(k)) {
        two.get(owner(k, 2)).processElement(step(k, prefix(k), false), 0);
      }
    }
    OperatorSubtaskState[] atTwo = new OperatorSubtaskState[2];
    for (int i = 0; i < 2; i++) {
      two.get(i).prepareSnapshotPreBarrier(2);
      atTwo[i] = two.get(i).snapshot(2, 2);
      out.addAll(two.get(i).extractOutputValues());
      two.get(i).close();
    }

    // 2 -> 1: the two snapshots merged into one subtask that owns every key group.
    var back =
        subtask(
            s,
            1,
            0,
            AbstractStreamOperatorTestHarness.repartitionOperatorState(
                AbstractStreamOperatorTestHarness.repackageState(atTwo), MAX_PARALLELISM, 2, 1, 0));
    assertHoldsExactly(back, all);
    // Finish every sequence: the missing step fills the gap, the rest follow, the last one ends.
    Map<String, float[]> inputs = new TreeMap<>();
    for (int k = 0; k < KEYS; k++) {
      int from = outOfOrder(k) ? prefix(k) : prefix(k) + 1;
      for (int t = from; t < length(k); t++) {
        if (outOfOrder(k) && t == prefix(k) + 1) {
          continue; // buffered since the first snapshot
        }
        back.processElement(step(k, t, t == length(k) - 1), 0);
      }
      inputs.put(seq(k), steps(k, length(k)));
    }
    back.setProcessingTime(1000); // past the batch wait, before any reorder or idle deadline
    out.addAll(back.extractOutputValues());

    Model model = ModelFiles.load(Path.of(MODEL));
    OutputLedger reference = Offline.ledger(model, s.stream(), D, inputs, seq -> "end_marker");
    OutputLedger.Comparison c =
        OutputLedger.of(Offline.consumed(out, "out")).compareWith(reference, 1e-5f);
    assertThat(c.same()).as(c.toString()).isTrue();
    assertThat(c.steps()).isEqualTo(inputs.values().stream().mapToInt(x -> x.length / D).sum());
    assertThat(Offline.consumed(out, "dlq")).isEmpty();
    // Only the ended-sequence tombstones remain (one per key), each with its retention timer.
    assertThat(ClusterRuns.keys(back, "sequence")).isEmpty();
    assertThat(ClusterRuns.keys(back, "reorder")).isEmpty();
    assertThat(back.numKeyedStateEntries()).isEqualTo(KEYS);
    assertThat(back.numProcessingTimeTimers()).isEqualTo(KEYS);
    back.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"exact", "stateful"})
  void restoredTimersFireOnTheSubtaskThatOwnsTheKey(String mode) throws Exception {
    JobSettings s = settings(mode);
    var one = startAtParallelismOne(s);
    OperatorSubtaskState atOne = one.snapshot(1, 1);
    List<OutputRecord> out = new ArrayList<>(one.extractOutputValues());
    one.close();

    Map<String, float[]> inputs = new TreeMap<>();
    for (int k = 0; k < KEYS; k++) {
      // A sequence whose gap is never filled ends at the gap; one that goes idle ends where it is.
      inputs.put(seq(k), steps(k, prefix(k)));
    }
    Set<String> gapDeadLetters = new TreeSet<>();
    for (int i = 0; i < 2; i++) {
      var h =
          subtask(
              s,
              2,
              i,
              AbstractStreamOperatorTestHarness.repartitionOperatorState(
                  atOne, MAX_PARALLELISM, 1, 2, i));
      h.setProcessingTime(6_000); // past the 5 s reorder timeout
      h.setProcessingTime(31_000); // past the 30 s idle timeout
      List<OutputRecord> mine = h.extractOutputValues();
      Set<String> named = new TreeSet<>();
      for (OutputRecord r : mine) {
        named.add(r.key);
        if (r.topic.equals("dlq")) {
          assertThat(r.text()).contains("gap_not_filled");
          gapDeadLetters.add(r.key);
        }
      }
      Set<String> owned =
          ownedBy(i, 2).stream().map(OperatorRescaleTest::seq).collect(Collectors.toSet());
      assertThat(named).as("subtask %d speaks only for its own keys", i).isEqualTo(owned);
      assertThat(ClusterRuns.keys(h, "sequence")).isEmpty();
      assertThat(h.numProcessingTimeTimers()).isEqualTo(owned.size()); // tombstones' timers
      out.addAll(mine);
      h.close();
    }
    Set<String> buffering = new TreeSet<>();
    for (int k = 0; k < KEYS; k++) {
      if (outOfOrder(k)) {
        buffering.add(seq(k));
      }
    }
    assertThat(gapDeadLetters).isEqualTo(buffering);
    Model model = ModelFiles.load(Path.of(MODEL));
    OutputLedger.Comparison c =
        OutputLedger.of(Offline.consumed(out, "out"))
            .compareWith(
                Offline.ledger(
                    model,
                    s.stream(),
                    D,
                    inputs,
                    seq -> buffering.contains(seq) ? "gap_not_filled" : "idle_timeout"),
                1e-5f);
    assertThat(c.same()).as(c.toString()).isTrue();
  }
}
