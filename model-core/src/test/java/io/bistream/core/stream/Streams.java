package io.bistream.core.stream;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

/** Test driver: feeds sequences through an engine and reassembles the released outputs. */
final class Streams {

  private Streams() {}

  /** Feeds {@code x} ({@code [t, width]}) in pieces of {@code feed} steps; returns all rows. */
  static float[] run(StreamingEngine engine, float[] x, int t, int feed) {
    SequenceState s = engine.newSequence();
    List<Emission> all = new ArrayList<>();
    int w = engine.inputWidth();
    for (int at = 0; at < t; at += feed) {
      int k = Math.min(feed, t - at);
      float[] piece = new float[k * w];
      System.arraycopy(x, at * w, piece, 0, k * w);
      all.addAll(engine.advance(s, piece, k, at + k == t));
    }
    return assemble(all, engine, t);
  }

  /** Concatenates emissions, checking they cover the steps in order exactly once. */
  static float[] assemble(List<Emission> emissions, StreamingEngine engine, int t) {
    int f = engine.outputWidth();
    if (engine.lastStepModel()) {
      assertThat(emissions).hasSize(1);
      assertThat(emissions.get(0).firstStep()).isEqualTo(t - 1);
      return emissions.get(0).values();
    }
    float[] out = new float[t * f];
    long next = 0;
    for (Emission e : emissions) {
      assertThat(e.firstStep()).as("emissions in step order").isEqualTo(next);
      System.arraycopy(e.values(), 0, out, (int) next * f, e.steps() * f);
      next += e.steps();
    }
    assertThat(next).as("every step released").isEqualTo(t);
    return out;
  }
}
