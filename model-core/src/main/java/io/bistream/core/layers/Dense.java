package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * Fully connected layer on the last axis, {@code y = g(x·W + b)}; also what Keras {@code
 * TimeDistributed(Dense)} computes. Any leading shape is kept, and a mask passes through.
 */
public final class Dense implements Layer {

  private final String name;
  private final String kind;
  private final int inputSize;
  private final int units;
  // (inputSize, units)
  private final float[] kernel;
  // (units)
  private final float[] bias;
  private final Activation activation;

  /**
   * @param kind the Keras class shown by inspect ({@code Dense} or {@code TimeDistributed})
   */
  public Dense(
      String name,
      String kind,
      int inputSize,
      int units,
      float[] kernel,
      float[] bias,
      Activation activation) {
    RecurrentCell.requireLength("Dense kernel", kernel, (long) inputSize * units);
    RecurrentCell.requireLength("Dense bias", bias, units);
    this.name = name;
    this.kind = kind;
    this.inputSize = inputSize;
    this.units = units;
    this.kernel = kernel;
    this.bias = bias;
    this.activation = activation;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return kind;
  }

  @Override
  public long parameterCount() {
    return kernel.length + bias.length;
  }

  @Override
  public String describe() {
    return "units=" + units + " activation=" + activation.kerasName() + " input=" + inputSize;
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = inputs.get(0);
    if (x.rank() < 2 || x.dim(-1) != inputSize) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' ("
              + kind
              + ") expects last dimension "
              + inputSize
              + ", found "
              + x.shapeString());
    }
    int rows = x.rows();
    float[] y = new float[rows * units];
    mm.multiply(x.data(), rows, inputSize, kernel, units, y, false);
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < units; j++) {
        y[r * units + j] += bias[j];
      }
    }
    activation.applyRows(y, 0, y.length, units);
    int[] shape = x.shape().clone();
    shape[shape.length - 1] = units;
    return Output.of(new Tensor(y, shape), mask);
  }
}
