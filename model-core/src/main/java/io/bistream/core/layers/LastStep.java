package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * The readout of a per-step sequence output at its last step: {@code [N, T, F]} to {@code [N, F]},
 * row {@code T - 1} of every sequence (torch's {@code y[:, -1, :]}).
 *
 * <p>After a bidirectional layer returning sequences this is {@code [forward h after step T-1,
 * backward output at step T-1]}: the backward half there has seen ONE step (the last input), which
 * differs from Keras' {@code return_sequences=False} (whose backward half is its final state, at
 * step 0). The mask, if any, is ignored, as torch's indexing ignores padding; the output has none.
 */
public final class LastStep implements Layer {

  private final String name;

  public LastStep(String name) {
    this.name = name;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "LastStep";
  }

  @Override
  public long parameterCount() {
    return 0;
  }

  @Override
  public String describe() {
    return "step T-1 of the sequence";
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = Layer.requireSequence(this, inputs.get(0), 0);
    int n = x.dim(0);
    int t = x.dim(1);
    int f = x.dim(2);
    if (t == 0) {
      throw new IllegalArgumentException(
          "layer '" + name + "' (LastStep) needs at least one step, found " + x.shapeString());
    }
    float[] out = new float[n * f];
    for (int r = 0; r < n; r++) {
      System.arraycopy(x.data(), (r * t + t - 1) * f, out, r * f, f);
    }
    return Output.of(new Tensor(out, new int[] {n, f}), null);
  }
}
