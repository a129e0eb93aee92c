package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * A layer of an inference graph: a pure function of its input tensors and their Keras mask.
 *
 * <p>Masks are {@code boolean[n * t]} (true = keep the step) attached to sequence tensors, as in
 * Keras: Masking and Embedding({@code mask_zero}) create them, recurrent layers consume them, and
 * element-wise layers pass them on.
 */
public interface Layer {

  /** The layer's name in the model file. */
  String name();

  /** The Keras class name, e.g. {@code "Bidirectional"}. */
  String kind();

  /** Number of weights. */
  long parameterCount();

  /** A one-line description of the configuration, for {@code inspect}. */
  String describe();

  /**
   * Computes the outputs.
   *
   * @param inputs the inbound tensors (for recurrent layers: the sequence, then initial states)
   * @param mask the mask of the first input, or null
   * @param mm the matrix product to use
   */
  Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm);

  /**
   * Like {@link #apply(List, boolean[], MatMul)}, with a thread for work that can run beside the
   * caller's: a {@link Bidirectional} layer runs its backward direction there. Layers without such
   * work ignore it.
   */
  default Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm, Executor beside) {
    return apply(inputs, mask, mm);
  }

  /** Output tensors and the mask that goes with the first one (null when none). */
  record Output(List<Tensor> tensors, boolean[] mask) {
    public static Output of(Tensor t, boolean[] mask) {
      return new Output(List.of(t), mask);
    }
  }

  /** Checks that the input is a sequence {@code [n, t, features]} and returns it. */
  static Tensor requireSequence(Layer layer, Tensor x, int features) {
    if (x.rank() != 3 || (features > 0 && x.dim(2) != features)) {
      throw new IllegalArgumentException(
          "layer '"
              + layer.name()
              + "' ("
              + layer.kind()
              + ") expects input [batch, time, "
              + (features > 0 ? features : "features")
              + "], found "
              + x.shapeString());
    }
    return x;
  }
}
