package io.bistream.core.stream;

import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Streams a whole batch of stored sequences through an engine, as a live stream would deliver them:
 * every sequence in pieces of {@code feed} steps, all sequences advanced together. This is what
 * {@code predict --mode} and {@code evaluate} run.
 */
public final class OfflineStreaming {

  private OfflineStreaming() {}

  /**
   * @param x {@code [n, t, width]} (or {@code [n, t]} token ids)
   * @return {@code [n, t, F]}, or {@code [n, F]} for last-step models
   */
  public static Tensor run(StreamingEngine engine, Tensor x, int feed) {
    int n = x.dim(0);
    int t = x.dim(1);
    int w = engine.inputWidth();
    if (x.data().length != n * t * w) {
      throw new IllegalArgumentException(
          "input " + x.shapeString() + " does not have " + w + " values per step");
    }
    List<SequenceState> states = new ArrayList<>();
    List<List<Emission>> emitted = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      states.add(engine.newSequence(t, Math.max(1, feed)));
      emitted.add(new ArrayList<>());
    }
    int f = engine.outputWidth();
    // Per-step rows go straight to their place in the result (feed i is sequence i).
    float[] y = engine.lastStepModel() ? null : new float[n * t * f];
    StreamingEngine.RowSink sink =
        (i, first, values, offset, steps, width) ->
            System.arraycopy(values, offset, y, (int) ((i * (long) t + first) * f), steps * f);
    for (int at = 0; at < t || (t == 0 && at == 0); at += Math.max(1, feed)) {
      int k = Math.min(feed, t - at);
      List<StreamingEngine.Feed> feeds = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        // The engine copies what it keeps: the piece is read in place.
        feeds.add(
            new StreamingEngine.Feed(states.get(i), x.data(), (i * t + at) * w, k, at + k >= t));
      }
      List<List<Emission>> out = engine.advanceAll(feeds, sink);
      for (int i = 0; i < n; i++) {
        emitted.get(i).addAll(out.get(i));
      }
      if (t == 0) {
        break;
      }
    }
    if (engine.lastStepModel()) {
      float[] last = new float[n * f];
      for (int i = 0; i < n; i++) {
        System.arraycopy(emitted.get(i).get(0).values(), 0, last, i * f, f);
      }
      return new Tensor(last, new int[] {n, f});
    }
    return new Tensor(y, new int[] {n, t, f});
  }
}
