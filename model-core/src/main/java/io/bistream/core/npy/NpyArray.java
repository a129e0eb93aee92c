package io.bistream.core.npy;

import java.util.Arrays;
import java.util.Objects;

/**
 * An n-dimensional array read from or written to a NumPy {@code .npy} file.
 *
 * <p>Exactly one of {@code floats} (float dtypes) and {@code ints} (integer and bool dtypes) is
 * non-null, and its length is the product of {@code shape}; a 0-d array has shape {@code []} and
 * one element. Elements are in row-major (C) order whatever the order in the file, so element
 * {@code [i, j]} of a {@code (rows, cols)} array is at {@code i * cols + j}. {@code dtype} is the
 * type stored in the file (e.g. {@link NpyDtype#FLOAT64} for data narrowed to float). The shape is
 * copied; the data array is shared, not copied, because weight arrays can be large.
 */
public record NpyArray(NpyDtype dtype, int[] shape, float[] floats, int[] ints) {

  public NpyArray {
    Objects.requireNonNull(dtype, "dtype");
    if (shape == null) {
      throw new IllegalArgumentException("shape is null; use new int[0] for a 0-d array");
    }
    shape = shape.clone();
    for (int axis = 0; axis < shape.length; axis++) {
      if (shape[axis] < 0) {
        throw new IllegalArgumentException(
            "shape " + pythonShape(shape) + " has a negative dimension at axis " + axis);
      }
    }
    if ((floats == null) == (ints == null)) {
      throw new IllegalArgumentException(
          "exactly one of floats and ints must be non-null, found "
              + (floats == null ? "neither" : "both"));
    }
    if (dtype.isFloat() != (floats != null)) {
      throw new IllegalArgumentException(
          "dtype "
              + dtype.numpyName()
              + " is held in "
              + (dtype.isFloat() ? "floats" : "ints")
              + ", found data in "
              + (floats != null ? "floats" : "ints"));
    }
    long size = elementCount(shape);
    int length = floats != null ? floats.length : ints.length;
    if (size != length) {
      throw new IllegalArgumentException(
          "shape "
              + pythonShape(shape)
              + " needs "
              + (size == Long.MAX_VALUE ? "more than 2^63" : size)
              + " elements, found "
              + length);
    }
  }

  /** A float32 array over {@code data} (row-major, not copied). */
  public static NpyArray ofFloats(int[] shape, float[] data) {
    return new NpyArray(NpyDtype.FLOAT32, shape, Objects.requireNonNull(data, "data"), null);
  }

  /** An int32 array over {@code data} (row-major, not copied). */
  public static NpyArray ofInts(int[] shape, int[] data) {
    return new NpyArray(NpyDtype.INT32, shape, null, Objects.requireNonNull(data, "data"));
  }

  /** A copy of the shape. */
  @Override
  public int[] shape() {
    return shape.clone();
  }

  /** Number of elements: the product of the shape (1 for a 0-d array). */
  public long size() {
    return floats != null ? floats.length : ints.length;
  }

  /** Number of dimensions (0 for a scalar). */
  public int rank() {
    return shape.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NpyArray other
        && dtype == other.dtype
        && Arrays.equals(shape, other.shape)
        && Arrays.equals(floats, other.floats)
        && Arrays.equals(ints, other.ints);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        dtype, Arrays.hashCode(shape), Arrays.hashCode(floats), Arrays.hashCode(ints));
  }

  @Override
  public String toString() {
    return "NpyArray[" + dtype.numpyName() + " " + pythonShape(shape) + "]";
  }

  /** Product of the dimensions, or {@code Long.MAX_VALUE} when it overflows a long. */
  static long elementCount(int[] shape) {
    long n = 1;
    for (int d : shape) {
      if (d != 0 && n > Long.MAX_VALUE / d) {
        // A later zero would still make the product 0.
        return Arrays.stream(shape).anyMatch(x -> x == 0) ? 0 : Long.MAX_VALUE;
      }
      n *= d;
    }
    return n;
  }

  /** The shape as Python writes a tuple: {@code ()}, {@code (5,)}, {@code (2, 3)}. */
  static String pythonShape(int[] shape) {
    if (shape.length == 1) {
      return "(" + shape[0] + ",)";
    }
    StringBuilder s = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) {
      s.append(i == 0 ? "" : ", ").append(shape[i]);
    }
    return s.append(')').toString();
  }
}
