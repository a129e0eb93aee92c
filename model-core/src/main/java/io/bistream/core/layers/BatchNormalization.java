package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * Keras {@code BatchNormalization} at inference: {@code y = x * scale + offset} per feature, with
 * {@code scale = gamma / sqrt(moving_variance + epsilon)} and {@code offset = beta - moving_mean *
 * scale}, the fused form Keras' own {@code batch_normalization} op computes. Each step is
 * normalized on its own, so the layer streams like Dense; the mask passes through.
 */
public final class BatchNormalization implements Layer {

  private final String name;
  private final int axis;
  private final float[] scale;
  private final float[] offset;
  private final long parameters;

  private BatchNormalization(
      String name, int axis, float[] scale, float[] offset, long parameters) {
    this.name = name;
    this.axis = axis;
    this.scale = scale;
    this.offset = offset;
    this.parameters = parameters;
  }

  /**
   * @param axis the normalized axis as the file gives it: -1, or the index of the last axis
   * @param gamma null when the layer was built with {@code scale=False}
   * @param beta null when the layer was built with {@code center=False}
   */
  public static BatchNormalization fromMovingStatistics(
      String name,
      int axis,
      float[] mean,
      float[] variance,
      float[] gamma,
      float[] beta,
      float epsilon) {
    int f = mean.length;
    RecurrentCell.requireLength("BatchNormalization moving_variance", variance, f);
    float[] scale = new float[f];
    float[] offset = new float[f];
    for (int j = 0; j < f; j++) {
      // float32 like Keras: inv = rsqrt(variance + epsilon) * gamma; offset = beta - mean * inv
      float inv = (float) (1.0 / Math.sqrt(variance[j] + epsilon));
      if (gamma != null) {
        inv *= gamma[j];
      }
      scale[j] = inv;
      offset[j] = (beta == null ? 0f : beta[j]) - mean[j] * inv;
    }
    long stored = (2L + (gamma == null ? 0 : 1) + (beta == null ? 0 : 1)) * f;
    return new BatchNormalization(name, axis, scale, offset, stored);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "BatchNormalization";
  }

  @Override
  public long parameterCount() {
    return parameters; // as the file holds them: moving mean and variance, gamma, beta
  }

  @Override
  public String describe() {
    return "features=" + scale.length + " (moving statistics, inference)";
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = inputs.get(0);
    int f = scale.length;
    if (x.rank() < 2 || x.dim(-1) != f || axis != -1 && axis != x.rank() - 1) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' (BatchNormalization) normalizes axis "
              + axis
              + " of "
              + f
              + " features: expects the last axis, of "
              + f
              + ", found "
              + x.shapeString());
    }
    float[] in = x.data();
    float[] y = new float[in.length];
    for (int i = 0; i < in.length; i++) {
      int j = i % f;
      y[i] = in[i] * scale[j] + offset[j];
    }
    return Output.of(new Tensor(y, x.shape().clone()), mask);
  }
}
