package io.bistream.cli;

import io.bistream.core.stream.StreamConfig;
import java.util.Arrays;

/**
 * The demo's per-step latency of one mode beside its ideal. A step's output can leave no earlier
 * than the step that releases it arrives (docs/architecture.md, "Streaming modes"): its ideal wait
 * is the time from producing the step to producing that step, taken from the send times of the
 * stream itself, so no averaging over chunk positions or step intervals is needed.
 */
final class DemoLatency {

  private DemoLatency() {}

  /**
   * The step whose arrival releases the output of step {@code t} of a {@code steps}-step sequence
   * through a bidirectional model: exact, the last step (the sequence's end); stateful, the last
   * step of its chunk of {@code chunk} steps; lookahead and context, {@code lookahead} steps past
   * its chunk; never past the last step.
   */
  static int releaseStep(StreamConfig.Mode mode, int chunk, int lookahead, int t, int steps) {
    int last = steps - 1;
    long chunkEnd = (long) t / chunk * chunk + chunk - 1;
    long release =
        switch (mode) {
          case EXACT -> last;
          case STATEFUL -> chunkEnd;
          case LOOKAHEAD, CONTEXT -> chunkEnd + lookahead;
        };
    return (int) Math.min(last, release);
  }

  /**
   * Per step of one sequence, its ideal wait in ms: the send time of its release step minus its own
   * ({@code sentAt[t]}: when step t was produced).
   */
  static long[] idealWaits(StreamConfig.Mode mode, int chunk, int lookahead, long[] sentAt) {
    long[] wait = new long[sentAt.length];
    for (int t = 0; t < sentAt.length; t++) {
      wait[t] = sentAt[releaseStep(mode, chunk, lookahead, t, sentAt.length)] - sentAt[t];
    }
    return wait;
  }

  /**
   * The mean time between consecutive steps of a sequence, in ms, over all sequences (steps sent in
   * one record count as 0 apart).
   */
  static double meanStepInterval(Iterable<long[]> sentAt) {
    long sum = 0;
    long gaps = 0;
    for (long[] s : sentAt) {
      if (s.length > 1) {
        sum += s[s.length - 1] - s[0];
        gaps += s.length - 1;
      }
    }
    return gaps == 0 ? 0 : (double) sum / gaps;
  }

  /** The {@code p}-th percentile of {@code values} (nearest rank; 0 when empty). */
  static double percentile(double[] values, int p) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return DemoCommand.pct(sorted, p);
  }
}
