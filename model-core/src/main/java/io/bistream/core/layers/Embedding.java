package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.List;

/**
 * Token embedding: ids {@code [n, t]} to vectors {@code [n, t, outputDim]}. With {@code mask_zero}
 * id 0 is padding and masks its step, as in Keras.
 */
public final class Embedding implements Layer {

  private final String name;
  private final int inputDim;
  private final int outputDim;
  // (inputDim, outputDim)
  private final float[] embeddings;
  private final boolean maskZero;

  public Embedding(String name, int inputDim, int outputDim, float[] embeddings, boolean maskZero) {
    RecurrentCell.requireLength("embeddings", embeddings, (long) inputDim * outputDim);
    this.name = name;
    this.inputDim = inputDim;
    this.outputDim = outputDim;
    this.embeddings = embeddings;
    this.maskZero = maskZero;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "Embedding";
  }

  @Override
  public long parameterCount() {
    return embeddings.length;
  }

  /** Vocabulary size: the valid token ids are the integers in [0, inputDim). */
  public int inputDim() {
    return inputDim;
  }

  /** Whether id 0 is padding that masks its step ({@code mask_zero}). */
  public boolean maskZero() {
    return maskZero;
  }

  /** The same embedding with {@code mask_zero}: a mask given to the next layer as ids != 0. */
  public Embedding withMaskZero() {
    return new Embedding(name, inputDim, outputDim, embeddings, true);
  }

  @Override
  public String describe() {
    return "input_dim=" + inputDim + " output_dim=" + outputDim + (maskZero ? " mask_zero" : "");
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor ids = inputs.get(0);
    if (ids.rank() == 3 && ids.dim(2) == 1) {
      ids = ids.reshape(ids.dim(0), ids.dim(1));
    }
    if (ids.rank() != 2) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' (Embedding) expects token ids [batch, time], found "
              + ids.shapeString());
    }
    float[] in = ids.data();
    float[] out = new float[in.length * outputDim];
    boolean[] outMask = maskZero ? new boolean[in.length] : null;
    for (int i = 0; i < in.length; i++) {
      float v = in[i];
      int id = (int) v;
      if (id != v || id < 0 || id >= inputDim) {
        throw new IllegalArgumentException(
            "layer '"
                + name
                + "' (Embedding) expects integer ids in [0, "
                + inputDim
                + "), found "
                + v
                + " at batch "
                + i / ids.dim(1)
                + ", step "
                + i % ids.dim(1));
      }
      System.arraycopy(embeddings, id * outputDim, out, i * outputDim, outputDim);
      if (outMask != null) {
        outMask[i] = id != 0;
      }
    }
    return Output.of(new Tensor(out, new int[] {ids.dim(0), ids.dim(1), outputDim}), outMask);
  }
}
