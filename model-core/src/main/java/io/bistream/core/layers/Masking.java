package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * Keras {@code Masking}: a step whose features all equal {@code mask_value} is masked; the output
 * is the input with masked steps zeroed.
 */
public final class Masking implements Layer {

  private final String name;
  private final float maskValue;

  public Masking(String name, float maskValue) {
    this.name = name;
    this.maskValue = maskValue;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "Masking";
  }

  @Override
  public long parameterCount() {
    return 0;
  }

  /** The value whose steps (all features equal to it) are masked. */
  public float maskValue() {
    return maskValue;
  }

  @Override
  public String describe() {
    return "mask_value=" + maskValue;
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = Layer.requireSequence(this, inputs.get(0), 0);
    int f = x.dim(2);
    int steps = x.dim(0) * x.dim(1);
    float[] in = x.data();
    float[] out = in.clone();
    boolean[] keep = new boolean[steps];
    for (int s = 0; s < steps; s++) {
      for (int j = 0; j < f && !keep[s]; j++) {
        keep[s] = in[s * f + j] != maskValue;
      }
      if (!keep[s]) {
        java.util.Arrays.fill(out, s * f, (s + 1) * f, 0f);
      }
    }
    return Output.of(new Tensor(out, x.shape().clone()), keep);
  }
}
