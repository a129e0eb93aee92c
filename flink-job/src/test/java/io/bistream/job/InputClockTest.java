package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Timeouts in the input's own time, without Flink or a broker. */
class InputClockTest {

  private static final long TIMEOUT = 30_000;

  @Test
  void shouldCallATimeoutPassedOnceRecordsStampedItsLengthLaterWereProcessed() {
    InputClock clock = new InputClock(0, null);
    clock.processed(0, 1_000, 0);
    clock.processed(0, 31_000, 5_000); // the job is behind: 5 s of its time, 30 s of the input's
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 5_000)).isZero();
    // One millisecond short in the input's time, and the partition was just processed.
    assertThat(clock.waitLeft(0, 1_001, TIMEOUT, 5_000)).isEqualTo(TIMEOUT);
  }

  @Test
  void shouldWaitForTheRestOfTheTimeoutWhileItsPartitionWasProcessedRecently() {
    InputClock clock = new InputClock(0, null);
    clock.processed(3, 1_000, 20_000);
    assertThat(clock.waitLeft(3, 1_000, TIMEOUT, 40_000)).isEqualTo(10_000);
  }

  @Test
  void shouldAskWhetherAQuietPartitionWasConsumedToItsEndBeforeCallingTheTimeoutPassed() {
    boolean[] consumed = {false};
    InputClock clock = new InputClock(0, (partition, now) -> consumed[0]);
    clock.processed(0, 1_000, 0);
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 31_000)).as("records wait").isEqualTo(TIMEOUT / 4);
    consumed[0] = true;
    assertThat(clock.waitLeft(0, 1_000, TIMEOUT, 31_000)).isZero();
  }

  @Test
  void shouldLeaveRecordsWithoutATimestampToTheProcessingTimeTimer() {
    assertThat(new InputClock(0, (p, now) -> false).waitLeft(0, 0, TIMEOUT, 1)).isZero();
  }
}
