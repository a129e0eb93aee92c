package io.bistream.core.onnx;

import io.bistream.core.onnx.Symbolic.Const;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import onnx.Onnx;

/**
 * Constant folding for the ONNX importer: a small evaluator of the plumbing ops over constants of
 * any rank, with ONNX (numpy) semantics. An export without constant folding ({@code
 * do_constant_folding=False}, torch &lt;= 1.4's default) keeps PyTorch's gate reordering as
 * Slice/Concat/Unsqueeze of the weight initializers, and its shape arithmetic as
 * Shape/Gather/Cast/Add; all of it is evaluated here at import time. Unsupported forms throw {@link
 * IllegalArgumentException}; the builder adds the node to the message.
 */
final class ConstFolding {

  /** Ops {@link #evaluate} computes when every input is a constant. */
  static final Set<String> OPS =
      Set.of(
          "Identity",
          "Cast",
          "Shape",
          "Gather",
          "Unsqueeze",
          "Squeeze",
          "Concat",
          "Slice",
          "Reshape",
          "Transpose",
          "Expand",
          "Add",
          "Sub",
          "Mul",
          "Size");

  private ConstFolding() {}

  /**
   * The output of node {@code n} (one of {@link #OPS}) on constant inputs ({@code null} for an
   * absent optional input), for the model's opset.
   */
  static Const evaluate(Onnx.NodeProto n, List<Const> in, long opset) {
    Const x = in.get(0);
    return switch (n.getOpType()) {
      case "Identity" -> x;
      case "Cast" -> cast(x, (int) OnnxProtos.intAttr(n, "to", 1));
      case "Shape" -> {
        int r = x.rank();
        long start = OnnxProtos.intAttr(n, "start", 0);
        long end = OnnxProtos.intAttr(n, "end", r);
        int from = clampAxis((int) start, r);
        int to = clampAxis((int) end, r);
        double[] dims = new double[Math.max(0, to - from)];
        for (int i = 0; i < dims.length; i++) {
          dims[i] = x.shape()[from + i];
        }
        yield new Const(new int[] {dims.length}, dims);
      }
      case "Size" -> new Const(new int[0], new double[] {x.data().length});
      case "Gather" -> gather(x, in.get(1), (int) OnnxProtos.intAttr(n, "axis", 0));
      case "Unsqueeze" -> {
        long[] axes = axes(n, in, opset >= 13);
        int rank = x.rank() + axes.length;
        List<Integer> shape = new ArrayList<>();
        for (int d : x.shape()) {
          shape.add(d);
        }
        for (long a : sortedAxes(axes, rank)) {
          shape.add((int) a, 1);
        }
        yield new Const(shape.stream().mapToInt(Integer::intValue).toArray(), x.data());
      }
      case "Squeeze" -> {
        long[] axes = axes(n, in, opset >= 13);
        long[] sorted = axes == null ? unitAxes(x.shape()) : sortedAxes(axes, x.rank());
        Const out = x;
        for (int i = sorted.length - 1; i >= 0; i--) {
          if (out.shape()[(int) sorted[i]] != 1) {
            throw new IllegalArgumentException(
                "cannot squeeze axis " + sorted[i] + " of a constant of shape " + shapeText(x));
          }
          out = squeezeConst(out, (int) sorted[i]);
        }
        yield out;
      }
      case "Concat" -> concatConst(in, (int) OnnxProtos.intAttr(n, "axis", 0));
      case "Slice" -> slice(n, in, opset);
      case "Reshape" -> {
        Const target = in.get(1);
        if (target.rank() != 1) {
          throw new IllegalArgumentException("Reshape target must be a vector");
        }
        yield reshape(x, target.longs(), OnnxProtos.intAttr(n, "allowzero", 0) == 1);
      }
      case "Transpose" -> transpose(x, OnnxProtos.longsAttr(n, "perm", null));
      case "Expand" -> expand(x, in.get(1).longs());
      case "Add" -> binary(x, in.get(1), '+');
      case "Sub" -> binary(x, in.get(1), '-');
      case "Mul" -> binary(x, in.get(1), '*');
      default ->
          throw new IllegalArgumentException(n.getOpType() + " of constants is not supported");
    };
  }

  private static long[] axes(Onnx.NodeProto n, List<Const> in, boolean asInput) {
    if (asInput || (in.size() > 1 && in.get(1) != null)) {
      return in.size() > 1 && in.get(1) != null ? in.get(1).longs() : null;
    }
    return OnnxProtos.longsAttr(n, "axes", null);
  }

  private static String shapeText(Const c) {
    return Arrays.toString(c.shape());
  }

  /** ONNX Cast: integer and bool targets truncate toward zero (bool: nonzero is 1). */
  static Const cast(Const c, int to) {
    boolean integral = Set.of(2, 3, 4, 5, 6, 7, 12, 13).contains(to);
    if (!integral && to != 9) {
      return c;
    }
    double[] out = new double[c.data().length];
    for (int i = 0; i < out.length; i++) {
      double v = c.data()[i];
      out[i] = to == 9 ? (v != 0 ? 1 : 0) : (v < 0 ? Math.ceil(v) : Math.floor(v));
    }
    return new Const(c.shape(), out);
  }

  /** ONNX Gather: indices of any rank replace axis {@code axis}; negative indices count back. */
  static Const gather(Const data, Const indices, int axis) {
    int ax = axis < 0 ? axis + data.rank() : axis;
    if (ax < 0 || ax >= data.rank()) {
      throw new IllegalArgumentException(
          "attribute 'axis': " + axis + " is outside a constant of shape " + shapeText(data));
    }
    long[] at = indices.longs();
    int size = data.shape()[ax];
    for (long i : at) {
      if (i < -size || i >= size) {
        throw new IllegalArgumentException(
            "Gather index " + i + " is outside axis " + ax + " of size " + size);
      }
    }
    Const picked = take(data, ax, at);
    int[] shape = new int[data.rank() - 1 + indices.rank()];
    int k = 0;
    for (int i = 0; i < ax; i++) {
      shape[k++] = data.shape()[i];
    }
    for (int d : indices.shape()) {
      shape[k++] = d;
    }
    for (int i = ax + 1; i < data.rank(); i++) {
      shape[k++] = data.shape()[i];
    }
    return new Const(shape, picked.data());
  }

  /** ONNX Slice (opset 1-9 attributes, 10+ inputs), any steps including negative ones. */
  static Const slice(Onnx.NodeProto n, List<Const> in, long opset) {
    Const x = in.get(0);
    long[] starts;
    long[] ends;
    long[] axes;
    long[] steps = null;
    if (opset >= 10 || in.size() >= 3) {
      starts = in.get(1).longs();
      ends = in.get(2).longs();
      axes = in.size() > 3 && in.get(3) != null ? in.get(3).longs() : null;
      steps = in.size() > 4 && in.get(4) != null ? in.get(4).longs() : null;
    } else {
      starts = OnnxProtos.longsAttr(n, "starts", new long[0]);
      ends = OnnxProtos.longsAttr(n, "ends", new long[0]);
      axes = OnnxProtos.longsAttr(n, "axes", null);
    }
    Const out = x;
    for (int i = 0; i < starts.length; i++) {
      int axis = (int) (axes == null ? i : axes[i] < 0 ? axes[i] + x.rank() : axes[i]);
      long step = steps == null ? 1 : steps[i];
      if (step == 0) {
        throw new IllegalArgumentException("Slice step 0");
      }
      out = take(out, axis, sliceIndices(starts[i], ends[i], step, x.shape()[axis]));
    }
    return out;
  }

  /** The indices a slice start:end:step selects on an axis of {@code size} (ONNX clamping). */
  static long[] sliceIndices(long start, long end, long step, long size) {
    long s = start < 0 ? start + size : start;
    long e = end < 0 ? end + size : end;
    if (step > 0) {
      s = Math.max(0, Math.min(size, s));
      e = Math.max(0, Math.min(size, e));
    } else {
      s = Math.max(-1, Math.min(size - 1, s));
      e = Math.max(-1, Math.min(size - 1, e));
    }
    List<Long> out = new ArrayList<>();
    for (long i = s; step > 0 ? i < e : i > e; i += step) {
      out.add(i);
    }
    return out.stream().mapToLong(Long::longValue).toArray();
  }

  /** ONNX Reshape of a constant to a static target (0 copies, -1 infers). */
  static Const reshape(Const c, long[] target, boolean allowZero) {
    int[] shape = new int[target.length];
    int infer = -1;
    long known = 1;
    for (int i = 0; i < shape.length; i++) {
      shape[i] = (int) (target[i] == 0 && !allowZero ? c.shape()[i] : target[i]);
      if (shape[i] == -1) {
        infer = i;
      } else {
        known *= shape[i];
      }
    }
    if (infer >= 0) {
      shape[infer] = (int) (c.data().length / Math.max(1, known));
    }
    long size = 1;
    for (int d : shape) {
      size *= d;
    }
    if (size != c.data().length) {
      throw new IllegalArgumentException(
          "cannot reshape a constant of shape " + shapeText(c) + " to " + Arrays.toString(target));
    }
    return new Const(shape, c.data());
  }

  /** Transpose of any rank; no perm reverses the axes. */
  static Const transpose(Const c, long[] perm) {
    int rank = c.rank();
    int[] p = new int[rank];
    for (int i = 0; i < rank; i++) {
      p[i] = perm == null ? rank - 1 - i : (int) perm[i];
    }
    int[] shape = new int[rank];
    for (int i = 0; i < rank; i++) {
      shape[i] = c.shape()[p[i]];
    }
    int[] srcStrides = strides(c.shape());
    double[] out = new double[c.data().length];
    int[] idx = new int[rank];
    for (int o = 0; o < out.length; o++) {
      int src = 0;
      for (int i = 0; i < rank; i++) {
        src += idx[i] * srcStrides[p[i]];
      }
      out[o] = c.data()[src];
      for (int i = rank - 1; i >= 0 && ++idx[i] == shape[i]; i--) {
        idx[i] = 0;
      }
    }
    return new Const(shape, out);
  }

  /** ONNX Expand: numpy broadcasting of the constant against the target shape. */
  static Const expand(Const c, long[] target) {
    int rank = Math.max(c.rank(), target.length);
    int[] shape = new int[rank];
    for (int i = 0; i < rank; i++) {
      int a = dimFromEnd(c.shape(), rank - 1 - i);
      long b = i - (rank - target.length) >= 0 ? target[i - (rank - target.length)] : 1;
      shape[i] = (int) Math.max(a, b);
      if (a != 1 && b != 1 && a != b) {
        throw new IllegalArgumentException(
            "cannot expand a constant of shape " + shapeText(c) + " to " + Arrays.toString(target));
      }
    }
    return broadcastTo(c, shape);
  }

  /** Element-wise +, -, * with numpy broadcasting. */
  static Const binary(Const a, Const b, char op) {
    int rank = Math.max(a.rank(), b.rank());
    int[] shape = new int[rank];
    for (int i = 0; i < rank; i++) {
      int x = dimFromEnd(a.shape(), rank - 1 - i);
      int y = dimFromEnd(b.shape(), rank - 1 - i);
      if (x != 1 && y != 1 && x != y) {
        throw new IllegalArgumentException(
            "constants of shapes " + shapeText(a) + " and " + shapeText(b) + " do not broadcast");
      }
      shape[i] = Math.max(x, y);
    }
    double[] x = broadcastTo(a, shape).data();
    double[] y = broadcastTo(b, shape).data();
    double[] out = new double[x.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = op == '+' ? x[i] + y[i] : op == '-' ? x[i] - y[i] : x[i] * y[i];
    }
    return new Const(shape, out);
  }

  private static int dimFromEnd(int[] shape, int fromEnd) {
    int i = shape.length - 1 - fromEnd;
    return i >= 0 ? shape[i] : 1;
  }

  private static Const broadcastTo(Const c, int[] shape) {
    int rank = shape.length;
    int[] src = new int[rank];
    for (int i = 0; i < rank; i++) {
      src[i] = dimFromEnd(c.shape(), rank - 1 - i);
    }
    int[] srcStrides = strides(src);
    int size = 1;
    for (int d : shape) {
      size *= d;
    }
    double[] out = new double[size];
    int[] idx = new int[rank];
    for (int o = 0; o < size; o++) {
      int s = 0;
      for (int i = 0; i < rank; i++) {
        s += (src[i] == 1 ? 0 : idx[i]) * srcStrides[i];
      }
      out[o] = c.data()[s];
      for (int i = rank - 1; i >= 0 && ++idx[i] == shape[i]; i--) {
        idx[i] = 0;
      }
    }
    return new Const(shape, out);
  }

  private static int[] strides(int[] shape) {
    int[] s = new int[shape.length];
    int acc = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= shape[i];
    }
    return s;
  }

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

  /** Concat of constants of any rank along {@code axis}. */
  static Const concatConst(List<Const> parts, int axis) {
    Const first = parts.get(0);
    int rank = first.rank();
    int ax = axis < 0 ? axis + rank : axis;
    if (ax < 0 || ax >= Math.max(1, rank)) {
      throw new IllegalArgumentException(
          "attribute 'axis': " + axis + " is outside constants of rank " + rank);
    }
    int outer = 1;
    for (int i = 0; i < ax; i++) {
      outer *= first.shape()[i];
    }
    int total = 0;
    for (Const p : parts) {
      boolean same = p.rank() == rank;
      for (int i = 0; same && i < rank; i++) {
        same = i == ax || p.shape()[i] == first.shape()[i];
      }
      if (!same) {
        throw new IllegalArgumentException(
            "attribute 'axis': Concat on axis "
                + ax
                + " of constants of shapes "
                + shapeText(first)
                + " and "
                + shapeText(p));
      }
      total += p.shape()[ax];
    }
    int[] shape = first.shape().clone();
    shape[ax] = total;
    int inner = 1;
    for (int i = ax + 1; i < rank; i++) {
      inner *= first.shape()[i];
    }
    double[] out = new double[outer * total * inner];
    int at = 0;
    for (int o = 0; o < outer; o++) {
      for (Const p : parts) {
        int block = p.data().length / Math.max(1, outer);
        System.arraycopy(p.data(), o * block, out, at, block);
        at += block;
      }
    }
    return new Const(shape, out);
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
}
