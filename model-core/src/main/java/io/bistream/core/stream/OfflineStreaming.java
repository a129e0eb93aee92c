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
      states.add(engine.newSequence());
      emitted.add(new ArrayList<>());
    }
    for (int at = 0; at < t || (t == 0 && at == 0); at += Math.max(1, feed)) {
      int k = Math.min(feed, t - at);
      List<StreamingEngine.Feed> feeds = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        float[] piece = new float[k * w];
        System.arraycopy(x.data(), (i * t + at) * w, piece, 0, k * w);
        feeds.add(new StreamingEngine.Feed(states.get(i), piece, k, at + k >= t));
      }
      List<List<Emission>> out = engine.advanceAll(feeds);
      for (int i = 0; i < n; i++) {
        emitted.get(i).addAll(out.get(i));
      }
      if (t == 0) {
        break;
      }
    }
    int f = engine.outputWidth();
    if (engine.lastStepModel()) {
      float[] y = new float[n * f];
      for (int i = 0; i < n; i++) {
        System.arraycopy(emitted.get(i).get(0).values(), 0, y, i * f, f);
      }
      return new Tensor(y, new int[] {n, f});
    }
    float[] y = new float[n * t * f];
    for (int i = 0; i < n; i++) {
      for (Emission e : emitted.get(i)) {
        System.arraycopy(
            e.values(), 0, y, (int) ((i * (long) t + e.firstStep()) * f), e.steps() * f);
      }
    }
    return new Tensor(y, new int[] {n, t, f});
  }
}
