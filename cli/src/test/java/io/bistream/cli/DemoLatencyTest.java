package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.stream.StreamConfig.Mode;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The demo's ideal waits follow the release rules of docs/architecture.md ("Streaming modes"),
 * worked out here by hand for C=4, R=2 and a 10-step sequence: chunks [0,4), [4,8), [8,10).
 */
class DemoLatencyTest {

  @Test
  void exactReleasesEveryStepAtTheSequencesLastStep() {
    for (int t = 0; t < 10; t++) {
      assertThat(DemoLatency.releaseStep(Mode.EXACT, 4, 2, t, 10)).isEqualTo(9);
    }
  }

  @Test
  void statefulReleasesAStepAtTheLastStepOfItsChunk() {
    assertThat(DemoLatency.releaseStep(Mode.STATEFUL, 4, 2, 0, 10)).isEqualTo(3);
    assertThat(DemoLatency.releaseStep(Mode.STATEFUL, 4, 2, 3, 10)).isEqualTo(3);
    assertThat(DemoLatency.releaseStep(Mode.STATEFUL, 4, 2, 4, 10)).isEqualTo(7);
    assertThat(DemoLatency.releaseStep(Mode.STATEFUL, 4, 2, 8, 10)).isEqualTo(9);
  }

  @Test
  void lookaheadAndContextReleaseAStepRStepsPastItsChunkButNeverPastTheEnd() {
    for (Mode mode : List.of(Mode.LOOKAHEAD, Mode.CONTEXT)) {
      assertThat(DemoLatency.releaseStep(mode, 4, 2, 0, 10)).isEqualTo(5);
      assertThat(DemoLatency.releaseStep(mode, 4, 2, 3, 10)).isEqualTo(5);
      assertThat(DemoLatency.releaseStep(mode, 4, 2, 4, 10)).isEqualTo(9);
      assertThat(DemoLatency.releaseStep(mode, 4, 2, 9, 10)).isEqualTo(9);
    }
  }

  @Test
  void idealWaitIsTheSendTimeOfTheReleasingStepMinusTheStepsOwn() {
    // Steps 0-1 sent at 0 ms, 2-3 at 100, 4 at 250, 5 at 400 (a 6-step sequence).
    long[] sentAt = {0, 0, 100, 100, 250, 400};

    assertThat(DemoLatency.idealWaits(Mode.STATEFUL, 4, 2, sentAt))
        .containsExactly(100, 100, 0, 0, 150, 0);
    assertThat(DemoLatency.idealWaits(Mode.LOOKAHEAD, 4, 2, sentAt))
        .containsExactly(400, 400, 300, 300, 150, 0);
    assertThat(DemoLatency.idealWaits(Mode.EXACT, 4, 2, sentAt))
        .containsExactly(400, 400, 300, 300, 150, 0);
  }

  @Test
  void meanStepIntervalCountsStepsOfOneRecordAsZeroApart() {
    // 3 gaps over 300 ms, and 1 gap over 100 ms: 400 ms over 4 gaps.
    assertThat(
            DemoLatency.meanStepInterval(List.of(new long[] {0, 0, 100, 300}, new long[] {5, 105})))
        .isEqualTo(100.0);
    assertThat(DemoLatency.meanStepInterval(List.of(new long[] {7}))).isZero();
  }
}
