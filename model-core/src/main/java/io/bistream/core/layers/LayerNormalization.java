package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * Layer normalisation over the last axis (Ba, Kiros &amp; Hinton 2016), as torch's {@code
 * nn.LayerNorm(F)} and ONNX {@code LayerNormalization(axis=-1)} define it: per row {@code y = (x -
 * mean) / sqrt(var + eps) * gamma + beta} with the biased variance {@code mean((x - mean)^2)}. Rows
 * are independent, so it applies per step of a sequence or per sample; the mask passes through.
 * Sums are accumulated in double.
 */
public final class LayerNormalization implements Layer {

  private final String name;
  private final int features;
  // (features)
  private final float[] gamma;
  // (features)
  private final float[] beta;
  private final double epsilon;
  // the normalized axis as the model file gives it: -1, or the index of the last axis
  private final int axis;

  public LayerNormalization(String name, int features, float[] gamma, float[] beta, double eps) {
    this(name, -1, features, gamma, beta, eps);
  }

  /**
   * @param axis -1, or the last axis' index as tf.keras saves a built layer's axis (checked when
   *     the layer is applied, as the file does not give the input's rank)
   */
  public LayerNormalization(
      String name, int axis, int features, float[] gamma, float[] beta, double eps) {
    RecurrentCell.requireLength("LayerNormalization gamma", gamma, features);
    RecurrentCell.requireLength("LayerNormalization beta", beta, features);
    if (!(eps >= 0)) {
      throw new IllegalArgumentException(
          "layer '" + name + "' (LayerNormalization): epsilon must be >= 0, found " + eps);
    }
    this.name = name;
    this.features = features;
    this.gamma = gamma;
    this.beta = beta;
    this.epsilon = eps;
    this.axis = axis;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "LayerNormalization";
  }

  @Override
  public long parameterCount() {
    return gamma.length + beta.length;
  }

  @Override
  public String describe() {
    return "features=" + features + " epsilon=" + (float) epsilon;
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = inputs.get(0);
    if (x.rank() < 2 || x.dim(-1) != features || axis != -1 && axis != x.rank() - 1) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' (LayerNormalization) normalizes axis "
              + axis
              + ": expects it to be the last dimension, of "
              + features
              + ", found "
              + x.shapeString());
    }
    float[] in = x.data();
    float[] y = new float[in.length];
    for (int row = 0; row < in.length; row += features) {
      double sum = 0;
      for (int j = 0; j < features; j++) {
        sum += in[row + j];
      }
      double mean = sum / features;
      double squares = 0;
      for (int j = 0; j < features; j++) {
        double d = in[row + j] - mean;
        squares += d * d;
      }
      double inv = 1.0 / Math.sqrt(squares / features + epsilon);
      for (int j = 0; j < features; j++) {
        y[row + j] = (float) ((in[row + j] - mean) * inv * gamma[j] + beta[j]);
      }
    }
    return Output.of(new Tensor(y, x.shape().clone()), mask);
  }
}
