package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Keras shape layers that move no values between samples: {@code Reshape}, {@code Flatten} and
 * {@code RepeatVector}. Each drops the mask, as Keras does.
 */
public final class Reshaping implements Layer {

  private enum Op {
    RESHAPE,
    FLATTEN,
    REPEAT
  }

  private final String name;
  private final Op op;
  private final int[] targetShape;
  private final int repeats;

  private Reshaping(String name, Op op, int[] targetShape, int repeats) {
    this.name = name;
    this.op = op;
    this.targetShape = targetShape;
    this.repeats = repeats;
  }

  /** Keras {@code Reshape(target_shape)}; one entry may be -1. */
  public static Reshaping reshape(String name, int[] targetShape) {
    return new Reshaping(name, Op.RESHAPE, targetShape.clone(), 0);
  }

  public static Reshaping flatten(String name) {
    return new Reshaping(name, Op.FLATTEN, null, 0);
  }

  /** Keras {@code RepeatVector(n)}: {@code [batch, f]} to {@code [batch, n, f]}. */
  public static Reshaping repeatVector(String name, int n) {
    return new Reshaping(name, Op.REPEAT, null, n);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return switch (op) {
      case RESHAPE -> "Reshape";
      case FLATTEN -> "Flatten";
      case REPEAT -> "RepeatVector";
    };
  }

  @Override
  public long parameterCount() {
    return 0;
  }

  @Override
  public String describe() {
    return switch (op) {
      case RESHAPE -> "target_shape=" + Arrays.toString(targetShape);
      case FLATTEN -> "";
      case REPEAT -> "n=" + repeats;
    };
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Tensor x = inputs.get(0);
    int n = x.dim(0);
    int perSample = n == 0 ? 0 : x.data().length / n;
    return switch (op) {
      case FLATTEN -> Output.of(x.reshape(n, perSample), null);
      case RESHAPE -> Output.of(x.reshape(resolve(n, perSample, x)), null);
      case REPEAT -> {
        if (x.rank() != 2) {
          throw new IllegalArgumentException(
              "layer '"
                  + name
                  + "' (RepeatVector) expects [batch, features], found "
                  + x.shapeString());
        }
        float[] out = new float[n * repeats * perSample];
        for (int i = 0; i < n; i++) {
          for (int r = 0; r < repeats; r++) {
            System.arraycopy(
                x.data(), i * perSample, out, (i * repeats + r) * perSample, perSample);
          }
        }
        yield Output.of(new Tensor(out, new int[] {n, repeats, perSample}), null);
      }
    };
  }

  private int[] resolve(int n, int perSample, Tensor x) {
    int[] shape = new int[targetShape.length + 1];
    shape[0] = n;
    int known = 1;
    int unknown = -1;
    for (int i = 0; i < targetShape.length; i++) {
      shape[i + 1] = targetShape[i];
      if (targetShape[i] < 0) {
        unknown = i + 1;
      } else {
        known *= targetShape[i];
      }
    }
    if (unknown >= 0 && known > 0) {
      shape[unknown] = perSample / known;
    }
    long size = 1;
    for (int i = 1; i < shape.length; i++) {
      size *= shape[i];
    }
    if (size != perSample) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "' (Reshape) cannot reshape "
              + x.shapeString()
              + " to target "
              + Arrays.toString(targetShape));
    }
    return shape;
  }
}
