package io.bistream.core.layers;

/**
 * Fully connected recurrent cell (Keras {@code SimpleRNN}): {@code h' = g(x·W + h·U + b)} with
 * {@code g} the layer's activation.
 */
public final class SimpleRnnCell extends RecurrentCell {

  public SimpleRnnCell(
      int inputSize,
      int units,
      Activation activation,
      float[] kernel,
      float[] recurrentKernel,
      float[] bias) {
    super(inputSize, units, activation, Activation.LINEAR, kernel, recurrentKernel, bias);
  }

  @Override
  public int gates() {
    return 1;
  }

  @Override
  public int stateCount() {
    return 1;
  }

  @Override
  public String kind() {
    return "SimpleRNN";
  }

  @Override
  void step(float[] xz, int n, float[][] states, float[][] next, MatMul mm) {
    // (n, u): x·W + b + h·U
    mm.multiply(states[0], n, units, recurrentKernel, units, xz, true);
    for (int k = 0; k < n * units; k++) {
      next[0][k] = activation.apply(clip(xz[k]));
    }
  }

  @Override
  public String toString() {
    return "SimpleRNN(units=" + units + ", activation=" + activation.kerasName() + ")";
  }
}
