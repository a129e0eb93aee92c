package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Timeouts in the input's own time, without Flink or a broker. */
class InputClockTest {

  private static final long TIMEOUT = 30_000;
  private static final long PROBE = TIMEOUT / 4;

  @Test
  void shouldCallATimeoutPassedOnceRecordsStampedItsLengthLaterWereProcessed() {
    InputClock clock = new InputClock(0, PROBE, null);
    clock.processed(0, 1_000, 0);
    clock.processed(0, 31_000, 5_000); // the job is behind: 5 s of its time, 30 s of the input's
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 5_000)).isZero();
    // One millisecond short in the input's time, and the partition was just processed.
    assertThat(clock.waitLeft(0, 1_001, TIMEOUT, 5_000)).isEqualTo(TIMEOUT);
  }

  @Test
  void shouldWaitForTheRestOfTheTimeoutWhileItsPartitionWasProcessedRecently() {
    InputClock clock = new InputClock(0, PROBE, null);
    clock.processed(3, 1_000, 20_000);
    assertThat(clock.waitLeft(3, 1_000, TIMEOUT, 40_000)).isEqualTo(10_000);
  }

  /** A broker whose answer the test sets: true, false, or null for no answer. */
  private static final class Answer implements InputClock.Broker {
    Boolean consumed;

    @Override
    public Boolean consumedEverything(int partition, long now) {
      return consumed;
    }
  }

  @Test
  void shouldCallAQuietPartitionQuietAfterAWholeTimeoutOfAnswersThatEverythingWasConsumed() {
    Answer broker = new Answer();
    InputClock clock = new InputClock(0, PROBE, broker);
    clock.processed(0, 1_000, 0);
    broker.consumed = false; // the source has not committed its offsets yet
    clock.probe(PROBE);
    broker.consumed = true;
    clock.probe(2 * PROBE);
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 31_000))
        .as("a whole timeout of answers from the first")
        .isEqualTo(2 * PROBE + TIMEOUT - 31_000);
    clock.probe(3 * PROBE);
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 2 * PROBE + TIMEOUT)).isZero();
  }

  @Test
  void shouldNotCountTheTimeTheBrokerDidNotAnswerAsQuiet() {
    // A broker outage longer than the timeout: its producers could not write either. Once it is
    // back and shows everything consumed, a producer that has not reconnected yet is not quiet.
    Answer broker = new Answer();
    InputClock clock = new InputClock(0, PROBE, broker);
    clock.processed(0, 1_000, 0);
    broker.consumed = true;
    clock.probe(PROBE); // consumed up to the outage
    broker.consumed = null;
    for (long t = 2 * PROBE; t <= 60_000; t += PROBE) {
      clock.probe(t);
      assertThat(clock.waitLeft(0, 1_000, TIMEOUT, t)).as("outage at %d", t).isPositive();
    }
    broker.consumed = true; // back at 60 s, the producer not yet
    clock.probe(60_000 + PROBE);
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 60_000 + 2 * PROBE)).isEqualTo(TIMEOUT - PROBE);
    clock.processed(0, 1_100, 70_000); // the producer is back
    assertThat(clock.waitLeft(0, 1_100, TIMEOUT, 70_000 + TIMEOUT))
        .as("answers before the latest record do not count")
        .isEqualTo(PROBE);
    clock.probe(70_000 + TIMEOUT);
    assertThat(clock.waitLeft(0, 1_100, TIMEOUT, 70_000 + TIMEOUT)).isEqualTo(TIMEOUT);
  }

  @Test
  void shouldAskAboutAPartitionNoRecordOfWhichWasProcessedSinceARestore() {
    Answer broker = new Answer();
    broker.consumed = true;
    InputClock clock = new InputClock(10_000, PROBE, broker);
    assertThat(clock.waitLeft(2, 1_000, TIMEOUT, 10_000)).as("opened just now").isEqualTo(TIMEOUT);
    clock.probe(10_000 + PROBE);
    assertThat(clock.waitLeft(2, 1_000, TIMEOUT, 10_000 + PROBE + TIMEOUT)).isZero();
  }

  @Test
  void shouldLeaveRecordsWithoutATimestampToTheProcessingTimeTimer() {
    assertThat(new InputClock(0, PROBE, (p, now) -> false).waitLeft(0, 0, TIMEOUT, 1)).isZero();
  }
}
