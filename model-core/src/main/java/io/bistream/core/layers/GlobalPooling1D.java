package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Keras {@code GlobalAveragePooling1D} and {@code GlobalMaxPooling1D}: {@code [N, T, F]} to {@code
 * [N, F]}, the mean or the maximum over the time steps. The mean counts only the steps a mask
 * keeps, as Keras does; the maximum takes no mask (Keras' GlobalMaxPooling1D does not support
 * masking). One output needs every step, so the streaming engine does not take this layer (offline
 * only).
 */
public final class GlobalPooling1D implements Layer {

  /** What the layer takes over the time steps. */
  public enum Reduce {
    AVERAGE("GlobalAveragePooling1D"),
    MAX("GlobalMaxPooling1D");

    private final String kerasName;

    Reduce(String kerasName) {
      this.kerasName = kerasName;
    }
  }

  private final String name;
  private final Reduce reduce;

  public GlobalPooling1D(String name, Reduce reduce) {
    this.name = name;
    this.reduce = reduce;
  }

  public Reduce reduce() {
    return reduce;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return reduce.kerasName;
  }

  @Override
  public long parameterCount() {
    return 0;
  }

  @Override
  public String describe() {
    return (reduce == Reduce.AVERAGE ? "mean" : "maximum") + " over the time steps";
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = Layer.requireSequence(this, inputs.get(0), 0);
    int n = x.dim(0);
    int t = x.dim(1);
    int f = x.dim(2);
    if (reduce == Reduce.MAX && mask != null) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' (GlobalMaxPooling1D) receives a mask, which Keras' GlobalMaxPooling1D does not"
              + " support");
    }
    float[] in = x.data();
    float[] y = new float[n * f];
    for (int b = 0; b < n; b++) {
      double[] acc = new double[f];
      if (reduce == Reduce.MAX) {
        Arrays.fill(acc, Double.NEGATIVE_INFINITY);
      }
      int kept = 0;
      for (int s = 0; s < t; s++) {
        if (mask != null && !mask[b * t + s]) {
          continue;
        }
        kept++;
        int row = (b * t + s) * f;
        for (int j = 0; j < f; j++) {
          acc[j] = reduce == Reduce.MAX ? Math.max(acc[j], in[row + j]) : acc[j] + in[row + j];
        }
      }
      for (int j = 0; j < f; j++) {
        // Keras divides the masked sum by the kept count: 0/0 when a sample keeps no step.
        y[b * f + j] = (float) (reduce == Reduce.MAX ? acc[j] : acc[j] / kept);
      }
    }
    return Output.of(new Tensor(y, new int[] {n, f}), null);
  }
}
