package io.bistream.core.onnx;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.model.Model;
import java.util.ArrayList;
import java.util.List;

/**
 * What the ONNX importer knows about each graph value while it walks the nodes: a folded constant,
 * a shape vector with symbolic batch/time entries, a filled tensor of symbolic shape, a value the
 * model computes at run time (a core tensor seen through a view), or a pending affine map not yet
 * turned into a layer.
 */
final class Symbolic {

  private Symbolic() {}

  /** Anything a graph value can be. */
  sealed interface Value permits Const, SymVec, Filled, Stacked, Dyn, Affine, Final, Unavailable {}

  /** A constant tensor, every element type folded to double (shapes and float32 weights fit). */
  record Const(int[] shape, double[] data) implements Value {
    int rank() {
      return shape.length;
    }

    long[] longs() {
      long[] out = new long[data.length];
      for (int i = 0; i < out.length; i++) {
        out[i] = (long) data[i];
      }
      return out;
    }

    float[] floats() {
      float[] out = new float[data.length];
      for (int i = 0; i < out.length; i++) {
        out[i] = (float) data[i];
      }
      return out;
    }
  }

  /** One dimension: a static size, or the symbol N (batch) or T (time). */
  record Dim(char symbol, long size) {
    static Dim of(long size) {
      return new Dim('-', size);
    }

    boolean isStatic() {
      return symbol == '-';
    }

    @Override
    public String toString() {
      return isStatic() ? Long.toString(size) : String.valueOf(symbol);
    }
  }

  /** An int64 shape vector (or scalar when {@code scalar}) with symbolic entries. */
  record SymVec(List<Dim> dims, boolean scalar) implements Value {
    SymVec {
      dims = List.copyOf(dims);
    }
  }

  /** {@code ConstantOfShape}: every element {@code value}, shape possibly symbolic. */
  record Filled(List<Dim> shape, double value) implements Value {
    Filled {
      shape = List.copyOf(shape);
    }
  }

  /**
   * A tensor whose axis 0 is static: one run-time value per index (initial-state inputs, or the
   * final states {@code Y_h} of recurrent nodes).
   */
  record Stacked(List<Value> items) implements Value {
    Stacked {
      items = List.copyOf(items);
    }
  }

  /**
   * An axis factor: the batch N, the time T, or a static factor of the core tensor's feature axis.
   */
  record Atom(char kind, int size, int id) {
    boolean unit() {
      return kind == 'F' && size == 1;
    }

    @Override
    public String toString() {
      return kind == 'F' ? Integer.toString(size) : String.valueOf(kind);
    }
  }

  /**
   * A value computed by the model: the core tensor {@code ref} ({@code [N, T, F]} or {@code [N,
   * F]}, row-major) seen as an ONNX tensor whose axes are products of atoms. {@code features} is
   * the factorisation of the core feature axis in core order; reshapes may refine it.
   */
  record Dyn(Model.TensorRef ref, List<List<Atom>> axes, List<Atom> features, boolean hasTime)
      implements Value {
    Dyn {
      List<List<Atom>> copy = new ArrayList<>();
      for (List<Atom> a : axes) {
        copy.add(List.copyOf(a));
      }
      axes = List.copyOf(copy);
      features = List.copyOf(features);
    }

    int rank() {
      return axes.size();
    }

    int featureSize() {
      int f = 1;
      for (Atom a : features) {
        f *= a.size();
      }
      return f;
    }

    String view() {
      String s = axes.toString().replace(", ", ",").replace("],[", "] [");
      return s.substring(1, s.length() - 1);
    }
  }

  /** {@code activation(input · kernel + bias)} on the last axis, not yet a layer. */
  record Affine(
      Dyn input,
      int in,
      int out,
      float[] kernel,
      float[] bias,
      Activation activation,
      String name,
      String kind)
      implements Value {}

  /**
   * The final hidden state of direction {@code dir} of a recurrent node: {@code [N, H]}, the output
   * of its last processed step, so it maps onto the layer with {@code return_sequences=false}.
   */
  record Final(Recurrence node, int dir) implements Value {}

  /** A mapped recurrent node: its per-direction layers (returning sequences) and inputs. */
  record Recurrence(
      String name, List<Recurrent> layers, List<Model.TensorRef> inbound, int hidden) {
    Recurrence {
      layers = List.copyOf(layers);
      inbound = List.copyOf(inbound);
    }
  }

  /**
   * An output the importer does not map (a recurrent node's final cell state); fails on use. {@code
   * what} names it ("the final cell state Y_c of LSTM node 'x'"), {@code supported} says what is
   * mapped instead.
   */
  record Unavailable(String what, String supported) implements Value {}
}
