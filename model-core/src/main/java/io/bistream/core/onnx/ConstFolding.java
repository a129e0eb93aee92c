package io.bistream.core.onnx;

import io.bistream.core.onnx.Symbolic.Const;
import io.bistream.core.onnx.Symbolic.Dim;
import io.bistream.core.onnx.Symbolic.SymVec;
import java.util.Arrays;
import java.util.List;

/**
 * Constant folding for the ONNX importer: the shape arithmetic PyTorch writes (Gather, Slice,
 * Squeeze, Concat, Reshape, Add of constants) evaluated at import time. Unsupported forms throw
 * {@link IllegalArgumentException}; the builder adds the node to the message.
 */
final class ConstFolding {

  private ConstFolding() {}

  static Const take(Const c, int axis, long[] indices) {
    int[] shape = c.shape().clone();
    int outer = 1;
    for (int i = 0; i < axis; i++) {
      outer *= shape[i];
    }
    int inner = 1;
    for (int i = axis + 1; i < shape.length; i++) {
      inner *= shape[i];
    }
    int size = shape[axis];
    double[] out = new double[outer * indices.length * inner];
    for (int o = 0; o < outer; o++) {
      for (int k = 0; k < indices.length; k++) {
        int i = (int) (indices[k] < 0 ? indices[k] + size : indices[k]);
        System.arraycopy(
            c.data(), (o * size + i) * inner, out, (o * indices.length + k) * inner, inner);
      }
    }
    shape[axis] = indices.length;
    return new Const(shape, out);
  }

  static Const squeezeConst(Const c, int axis) {
    int[] shape = new int[c.rank() - 1];
    for (int i = 0, j = 0; i < c.rank(); i++) {
      if (i != axis) {
        shape[j++] = c.shape()[i];
      }
    }
    return new Const(shape, c.data());
  }

  static Const concatConst(List<Const> parts, int axis) {
    if (parts.stream().allMatch(p -> p.rank() == 1)) {
      double[] out = parts.stream().flatMapToDouble(p -> Arrays.stream(p.data())).toArray();
      return new Const(new int[] {out.length}, out);
    }
    throw new IllegalArgumentException(
        "attribute 'axis': Concat of constants of rank > 1 is not supported");
  }

  static Const reshapeConst(Const c, SymVec t, boolean allowZero) {
    int[] shape = new int[t.dims().size()];
    int infer = -1;
    long known = 1;
    for (int i = 0; i < shape.length; i++) {
      Dim d = t.dims().get(i);
      if (!d.isStatic()) {
        throw new IllegalArgumentException(
            "cannot reshape a constant to a batch or time dimension");
      }
      shape[i] = (int) (d.size() == 0 && !allowZero ? c.shape()[i] : d.size());
      if (shape[i] == -1) {
        infer = i;
      } else {
        known *= shape[i];
      }
    }
    if (infer >= 0) {
      shape[infer] = (int) (c.data().length / Math.max(1, known));
    }
    return new Const(shape, c.data());
  }

  static Const addConst(Const a, Const b) {
    if (Arrays.equals(a.shape(), b.shape()) || b.data().length == 1 || a.data().length == 1) {
      Const big = a.data().length >= b.data().length ? a : b;
      double[] out = new double[big.data().length];
      for (int i = 0; i < out.length; i++) {
        out[i] = a.data()[a.data().length == 1 ? 0 : i] + b.data()[b.data().length == 1 ? 0 : i];
      }
      return new Const(big.shape(), out);
    }
    throw new IllegalArgumentException(
        "Add of constants with shapes "
            + Arrays.toString(a.shape())
            + " and "
            + Arrays.toString(b.shape())
            + " is not supported");
  }

  static double[] transpose2d(double[] a, int rows, int cols) {
    double[] out = new double[a.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[c * rows + r] = a[r * cols + c];
      }
    }
    return out;
  }

  static long[] sortedAxes(long[] axes, int rank) {
    long[] out = new long[axes.length];
    for (int i = 0; i < axes.length; i++) {
      out[i] = axes[i] < 0 ? axes[i] + rank : axes[i];
    }
    Arrays.sort(out);
    return out;
  }

  static long[] unitAxes(int[] shape) {
    return java.util.stream.IntStream.range(0, shape.length)
        .filter(i -> shape[i] == 1)
        .asLongStream()
        .toArray();
  }

  static int clampAxis(int a, int rank) {
    return Math.max(0, Math.min(rank, a < 0 ? a + rank : a));
  }

  static long clampIndex(long i, long size) {
    long j = i < 0 ? i + size : i;
    return Math.max(0, Math.min(size, j));
  }

  static long[] range(int from, int to) {
    return java.util.stream.LongStream.range(from, Math.max(from, to)).toArray();
  }
}
