package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * A weightless layer that maps each value on its own: Keras {@code Activation}, and the layers that
 * are the identity at inference ({@code Dropout}, {@code SpatialDropout1D}, {@code GaussianNoise},
 * ...). The mask passes through.
 */
public final class ElementWise implements Layer {

  private final String name;
  private final String kind;
  private final Activation activation;

  public ElementWise(String name, String kind, Activation activation) {
    this.name = name;
    this.kind = kind;
    this.activation = activation;
  }

  /** An inference-time identity such as Dropout. */
  public static ElementWise identity(String name, String kind) {
    return new ElementWise(name, kind, Activation.LINEAR);
  }

  /** True for the inference-time identities (Dropout and its kin): values pass unchanged. */
  public boolean isIdentity() {
    return activation == Activation.LINEAR;
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
    return 0;
  }

  @Override
  public String describe() {
    return activation == Activation.LINEAR ? "identity at inference" : activation.kerasName();
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = inputs.get(0);
    if (activation == Activation.LINEAR) {
      return Output.of(x, mask);
    }
    float[] y = x.data().clone();
    activation.applyRows(y, 0, y.length, Math.max(1, x.dim(-1)));
    return Output.of(new Tensor(y, x.shape().clone()), mask);
  }
}
