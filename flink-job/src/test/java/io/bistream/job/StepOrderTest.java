package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The ordering of one sequence's steps, without Flink: a map for the buffer, a list for output. */
class StepOrderTest {

  private static final int W = 2; // values per step
  private static final int WINDOW = 4;

  private final StepOrder order = new StepOrder(W, WINDOW);
  private final SequenceRecord s = new SequenceRecord();
  private final TreeMap<Long, InputEvent> map = new TreeMap<>();
  private final List<String> fed = new ArrayList<>(); // "t=v" per fed step
  private final List<String> refused = new ArrayList<>(); // "reason@t"
  private int duplicates;

  private final StepOrder.Buffer buffer =
      new StepOrder.Buffer() {
        @Override
        public NavigableMap<Long, InputEvent> load() {
          return new TreeMap<>(map);
        }

        @Override
        public void put(InputEvent piece) {
          map.put(piece.t, piece);
        }

        @Override
        public void remove(long t) {
          map.remove(t);
        }

        @Override
        public void clear() {
          map.clear();
        }
      };

  private final StepOrder.Sink sink =
      new StepOrder.Sink() {
        @Override
        public void feed(InputEvent e, int from, int count) {
          for (int i = from; i < from + count; i++) {
            fed.add((e.t + i) + "=" + (int) e.values[i * W]);
          }
        }

        @Override
        public void refuse(InputEvent e, DeadLetter.Reason reason, String detail) {
          refused.add(reason.code() + "@" + e.t);
        }

        @Override
        public void duplicate() {
          duplicates++;
        }
      };

  /** Steps {@code t..t+count-1}, step u holding the value {@code u + offset} (twice). */
  private static InputEvent steps(long t, int count, int offset, boolean end) {
    InputEvent e = new InputEvent();
    e.seq = "s";
    e.t = t;
    e.steps = count;
    e.values = new float[count * W];
    for (int i = 0; i < count; i++) {
      e.values[i * W] = t + i + offset;
      e.values[i * W + 1] = t + i + offset;
    }
    e.end = end;
    return e;
  }

  private StepOrder.Outcome take(InputEvent e) throws Exception {
    return order.accept(s, e, buffer, sink);
  }

  @Test
  void shouldFeedStepsArrivingInOrderAtOnceWithoutTouchingTheBuffer() throws Exception {
    assertThat(take(steps(0, 2, 0, false))).isEqualTo(StepOrder.Outcome.OPEN);
    assertThat(take(steps(2, 1, 0, false))).isEqualTo(StepOrder.Outcome.OPEN);
    assertThat(fed).containsExactly("0=0", "1=1", "2=2");
    assertThat(s.nextT).isEqualTo(3);
    assertThat(s.bufferedSteps).isZero();
    assertThat(map).isEmpty();
  }

  @Test
  void shouldHoldOutOfOrderStepsUntilTheGapFillsThenFeedThemInOrder() throws Exception {
    take(steps(0, 1, 0, false));
    take(steps(3, 1, 0, false));
    take(steps(2, 1, 0, false));
    assertThat(fed).containsExactly("0=0");
    assertThat(s.bufferedSteps).isEqualTo(2);
    take(steps(1, 1, 0, false)); // the gap fills
    assertThat(fed).containsExactly("0=0", "1=1", "2=2", "3=3");
    assertThat(s.bufferedSteps).isZero();
    assertThat(map).isEmpty();
    assertThat(refused).isEmpty();
  }

  @Test
  void shouldCountAReplayOfFedAndBufferedStepsAsDuplicates() throws Exception {
    take(steps(0, 3, 0, false));
    take(steps(5, 1, 0, false));
    take(steps(1, 2, 0, false)); // fed before, same values
    take(steps(5, 1, 0, false)); // buffered, same values
    assertThat(duplicates).isEqualTo(3);
    assertThat(refused).isEmpty();
    assertThat(fed).containsExactly("0=0", "1=1", "2=2");
  }

  @Test
  void shouldRefuseAConflictingDuplicateAndKeepTheFirstValue() throws Exception {
    take(steps(0, 2, 0, false));
    take(steps(3, 1, 0, false));
    take(steps(1, 1, 100, false)); // fed step 1 with another value
    take(steps(3, 1, 100, false)); // buffered step 3 with another value
    take(steps(2, 1, 0, false));
    assertThat(refused).containsExactly("conflicting_duplicate@1", "conflicting_duplicate@3");
    assertThat(fed).containsExactly("0=0", "1=1", "2=2", "3=3");
  }

  @Test
  void shouldMergeARecordOverlappingBufferedStepsStepByStep() throws Exception {
    take(steps(0, 1, 0, false));
    take(steps(2, 1, 0, false));
    take(steps(1, 4, 0, false)); // 1 new, 2 buffered, 3..4 new
    assertThat(fed).containsExactly("0=0", "1=1", "2=2", "3=3", "4=4");
    assertThat(duplicates).isEqualTo(1);
  }

  @Test
  void shouldEndOnlyWhenEveryStepBeforeAnEarlyEndMarkerIsFed() throws Exception {
    take(steps(0, 1, 0, false));
    assertThat(take(steps(3, 0, 0, true))).isEqualTo(StepOrder.Outcome.OPEN); // end at step 3
    assertThat(take(steps(2, 1, 0, false))).isEqualTo(StepOrder.Outcome.OPEN);
    assertThat(take(steps(1, 1, 0, false))).isEqualTo(StepOrder.Outcome.END_REACHED);
    assertThat(fed).containsExactly("0=0", "1=1", "2=2");
    take(steps(3, 1, 0, false));
    assertThat(refused).containsExactly("data_after_end@3");
  }

  @Test
  void shouldRefuseAnEndBeforeStepsAlreadyFed() throws Exception {
    take(steps(0, 3, 0, false));
    assertThat(take(steps(1, 0, 0, true))).isEqualTo(StepOrder.Outcome.OPEN);
    assertThat(refused).containsExactly("bad_record@1");
    assertThat(s.endAt).isEqualTo(-1);
  }

  @Test
  void shouldRefuseStepsBeyondTheReorderWindow() throws Exception {
    take(steps(0, 1, 0, false));
    take(steps(1 + WINDOW + 1, 1, 0, false));
    assertThat(refused).containsExactly("too_far_ahead@6");
    assertThat(s.bufferedSteps).isZero();
  }

  @Test
  void shouldCallASequenceFirstSeenBeyondTheWindowFromStepZeroStateLost() throws Exception {
    take(steps(2, 1, 0, false)); // within the window: waits
    assertThat(take(steps(9, 1, 0, false))).isEqualTo(StepOrder.Outcome.STATE_LOST);
    assertThat(refused).containsExactly("state_lost@2", "state_lost@9");
    assertThat(map).isEmpty();
    assertThat(fed).isEmpty();
  }

  @Test
  void shouldRefuseBufferedStepsAndEndAtTheGapWhenTheGapTimesOut() throws Exception {
    take(steps(0, 2, 0, false));
    take(steps(3, 2, 0, false)); // step 2 never comes
    assertThat(order.expire(s, false, buffer, sink)).isEqualTo(Tombstone.Why.GAP_NOT_FILLED);
    assertThat(refused).containsExactly("gap_not_filled@3");
    assertThat(s.endAt).isEqualTo(2);
    assertThat(s.bufferedSteps).isZero();
    assertThat(map).isEmpty();
  }

  @Test
  void shouldEndAnIdleSequenceWithNothingWaitingAsIdle() throws Exception {
    take(steps(0, 2, 0, false));
    assertThat(order.expire(s, true, buffer, sink)).isEqualTo(Tombstone.Why.IDLE_TIMEOUT);
    assertThat(refused).isEmpty();
    assertThat(s.endAt).isEqualTo(2);
  }

  @Test
  void shouldEndAtTheGapWhenAnEndMarkerWaitsForStepsThatNeverCome() throws Exception {
    take(steps(0, 2, 0, false));
    take(steps(4, 0, 0, true)); // end at 4, steps 2..3 never come
    assertThat(order.expire(s, true, buffer, sink)).isEqualTo(Tombstone.Why.GAP_NOT_FILLED);
    assertThat(s.endAt).isEqualTo(2);
  }

  @Test
  void shouldCallATimedOutSequenceWithoutStepZeroStateLost() throws Exception {
    take(steps(1, 1, 0, false));
    assertThat(order.expire(s, false, buffer, sink)).isEqualTo(Tombstone.Why.STATE_LOST);
    assertThat(refused).containsExactly("state_lost@1");
  }

  @Test
  void shouldEndAFlushedSequenceAfterItsContiguousStepsAndRefuseTheStepsBehindAGap()
      throws Exception {
    take(steps(0, 3, 0, false));
    take(steps(4, 2, 1, false)); // waits for step 3
    assertThat(order.flush(s, buffer, sink)).isEqualTo(Tombstone.Why.FLUSH);
    assertThat(s.endAt).isEqualTo(3);
    assertThat(s.bufferedSteps).isZero();
    assertThat(refused).containsExactly("gap_not_filled@4");
  }

  @Test
  void shouldCallAFlushedSequenceWithoutStepZeroStateLost() throws Exception {
    take(steps(2, 1, 0, false));
    assertThat(order.flush(s, buffer, sink)).isEqualTo(Tombstone.Why.STATE_LOST);
    assertThat(refused).containsExactly("state_lost@2");
  }

  @Test
  void shouldRefuseTheBufferedStepsOfAResetSequence() throws Exception {
    take(steps(0, 1, 0, false));
    take(steps(2, 1, 1, false));
    order.reset(s, buffer, sink);
    assertThat(s.bufferedSteps).isZero();
    assertThat(refused).containsExactly("gap_not_filled@2");
  }

  @Test
  void shouldRefuseARecordOfAnEndedSequenceNamingWhyItEnded() throws Exception {
    InputEvent late = steps(7, 1, 0, false);
    for (Tombstone.Why why : Tombstone.Why.values()) {
      SequenceRecord gone = new SequenceRecord();
      gone.end(why, 7, 1_000);
      order.refuseAfterEnd(gone, late, 64, sink);
    }
    assertThat(refused)
        .containsExactly(
            "data_after_end@7", // end marker
            "data_after_end@7", // idle timeout
            "data_after_end@7", // gap not filled
            "sequence_too_long@7",
            "data_after_end@7", // flush
            "data_after_end@7", // reset (leaves no tombstone; refused as after an end if it did)
            "engine_error@7",
            "state_lost@7");
  }
}
