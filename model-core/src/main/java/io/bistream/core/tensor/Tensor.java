package io.bistream.core.tensor;

import java.util.Arrays;

/**
 * A dense float32 array in row-major (C) order: the value type that flows between layers.
 *
 * <p>Sequences are {@code [N, T, F]} (batch, time, features); last-step outputs and recurrent
 * states are {@code [N, F]}. Token ids for an Embedding travel as integral floats {@code [N, T]}.
 * The array is not copied: callers hand over ownership of {@code data}.
 */
public record Tensor(float[] data, int[] shape) {

  public Tensor {
    long size = 1;
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
      size *= d;
    }
    if (size != data.length) {
      throw new IllegalArgumentException(
          "shape " + Arrays.toString(shape) + " needs " + size + " values, found " + data.length);
    }
  }

  public static Tensor zeros(int... shape) {
    long size = 1;
    for (int d : shape) {
      size *= d;
    }
    return new Tensor(new float[Math.toIntExact(size)], shape.clone());
  }

  public int rank() {
    return shape.length;
  }

  /** Size of dimension {@code i}; negative {@code i} counts from the end. */
  public int dim(int i) {
    return shape[i < 0 ? shape.length + i : i];
  }

  /** The product of all dimensions but the last: the number of feature rows. */
  public int rows() {
    return shape.length == 0 ? 1 : data.length / Math.max(1, shape[shape.length - 1]);
  }

  public Tensor reshape(int... newShape) {
    return new Tensor(data, newShape.clone());
  }

  public String shapeString() {
    return Arrays.toString(shape);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Tensor t && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape);
  }
}
