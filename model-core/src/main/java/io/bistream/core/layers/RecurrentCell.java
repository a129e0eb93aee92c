package io.bistream.core.layers;

import java.util.Arrays;

/**
 * One direction of a recurrent layer: weights, the step equations (in each subclass) and the time
 * loop shared by all cells.
 *
 * <p>Weights use the Keras layout: {@code kernel} {@code [inputSize, gates * units]}, {@code
 * recurrentKernel} {@code [units, gates * units]}, gate blocks side by side in Keras order.
 *
 * <p>The loop hoists the input projection out of the recurrence: {@code x · kernel + bias} for
 * every step of the chunk is one GEMM, and only {@code h · recurrentKernel} stays per step. States
 * are plain {@code float[n * units]} arrays so the streaming engine can carry them between chunks.
 */
public abstract sealed class RecurrentCell permits LstmCell, GruCell, SimpleRnnCell {

  protected final int inputSize;
  protected final int units;
  protected final Activation activation;
  protected final Activation recurrentActivation;
  // (inputSize, gates * units)
  protected final float[] kernel;
  // (units, gates * units)
  protected final float[] recurrentKernel;
  // (gates * units): the bias added to the input projection
  protected final float[] bias;
  // recurrentKernel split into rows, for RowKernels; made on first use
  private volatile float[][] recurrentRows;
  // ONNX clip: every activation input is bounded to [-clip, clip]; infinite = no clipping
  private float clip = Float.POSITIVE_INFINITY;

  protected RecurrentCell(
      int inputSize,
      int units,
      Activation activation,
      Activation recurrentActivation,
      float[] kernel,
      float[] recurrentKernel,
      float[] bias) {
    if (inputSize <= 0 || units <= 0) {
      throw new IllegalArgumentException(
          "input size and units must be positive, found " + inputSize + " and " + units);
    }
    int width = gates() * units;
    requireLength("kernel", kernel, (long) inputSize * width);
    requireLength("recurrent kernel", recurrentKernel, (long) units * width);
    requireLength("bias", bias, width);
    this.inputSize = inputSize;
    this.units = units;
    this.activation = activation;
    this.recurrentActivation = recurrentActivation;
    this.kernel = kernel;
    this.recurrentKernel = recurrentKernel;
    this.bias = bias;
  }

  static void requireLength(String what, float[] a, long expected) {
    if (a.length != expected) {
      throw new IllegalArgumentException(
          what + " needs " + expected + " values, found " + a.length);
    }
  }

  /**
   * Bounds the input of every gate and candidate activation to {@code [-threshold, threshold]}, the
   * ONNX {@code clip} attribute as onnxruntime applies it (after all terms and biases are summed;
   * the LSTM cell state itself is not clipped). Configuration only: call before use.
   *
   * @return this cell
   */
  public RecurrentCell withClip(float threshold) {
    if (!(threshold > 0)) {
      throw new IllegalArgumentException("clip must be positive, found " + threshold);
    }
    this.clip = threshold;
    return this;
  }

  /** The clip threshold, infinite when the cell does not clip. */
  public float clip() {
    return clip;
  }

  /** {@code v} bounded to {@code [-clip, clip]}. */
  protected final float clip(float v) {
    return v > clip ? clip : v < -clip ? -clip : v;
  }

  /** Number of gate blocks: 4 for LSTM (i, f, c, o), 3 for GRU (z, r, h), 1 for SimpleRNN. */
  public abstract int gates();

  /** Number of state vectors: 2 for LSTM (h, c), 1 otherwise. The first is always h. */
  public abstract int stateCount();

  /** Keras class name of the layer this cell belongs to. */
  public abstract String kind();

  public int inputSize() {
    return inputSize;
  }

  public int units() {
    return units;
  }

  public Activation activation() {
    return activation;
  }

  public Activation recurrentActivation() {
    return recurrentActivation;
  }

  public long parameterCount() {
    return (long) kernel.length + recurrentKernel.length + bias.length;
  }

  /**
   * Advances every row one step.
   *
   * @param xz {@code [n, gates * units]} input projection of this step, bias included
   * @param states current states, each {@code [n, units]}
   * @param next receives the new states, each {@code [n, units]}
   */
  abstract void step(float[] xz, int n, float[][] states, float[][] next, MatMul mm);

  /** Zero states for {@code n} rows. */
  public float[][] zeroStates(int n) {
    float[][] s = new float[stateCount()][];
    for (int i = 0; i < s.length; i++) {
      s[i] = new float[n * units];
    }
    return s;
  }

  /**
   * Runs the recurrence over a chunk.
   *
   * @param x {@code [n, t, inputSize]}
   * @param states initial states, each {@code [n, units]}; updated in place to the final states
   * @param reverse process steps t-1 .. 0 (Keras {@code go_backwards})
   * @param mask {@code [n, t]}, false where a step is masked, or null: a masked step keeps the
   *     state and outputs zeros ({@code zeroOutputForMask}) or the previous output
   * @return outputs {@code [n, t, units]} aligned with the input steps (step i of the result is the
   *     output computed at input step i, whatever the direction)
   */
  public float[] run(
      float[] x,
      int n,
      int t,
      float[][] states,
      boolean reverse,
      boolean[] mask,
      boolean zeroOutputForMask,
      MatMul mm) {
    int width = gates() * units;
    float[] xzAll = inputProjection(x, n, t, mm);
    float[] xz = new float[n * width];
    float[][] next = zeroStates(n);
    float[] out = new float[n * t * units];
    for (int s = 0; s < t; s++) {
      int step = reverse ? t - 1 - s : s;
      for (int r = 0; r < n; r++) {
        System.arraycopy(xzAll, (r * t + step) * width, xz, r * width, width);
      }
      step(xz, n, states, next, mm);
      for (int r = 0; r < n; r++) {
        int outRow = (r * t + step) * units;
        if (mask != null && !mask[r * t + step]) {
          if (!zeroOutputForMask) {
            System.arraycopy(states[0], r * units, out, outRow, units);
          }
          continue; // the state of row r stays as it was
        }
        for (int k = 0; k < states.length; k++) {
          System.arraycopy(next[k], r * units, states[k], r * units, units);
        }
        System.arraycopy(states[0], r * units, out, outRow, units);
      }
    }
    return out;
  }

  /**
   * Whether the fused Vector API step ({@link VectorKernels}, {@link GruKernels}) applies: the fast
   * backend, no mask, no clip, tanh and sigmoid, and units a multiple of the vector's lanes.
   */
  final boolean fusedStepApplies(boolean[] mask, MatMul mm) {
    return Simd.ENABLED
        && mm instanceof Nd4jMatMul
        && mask == null
        && Float.isInfinite(clip)
        && activation == Activation.TANH
        && recurrentActivation == Activation.SIGMOID
        && units % VectorKernels.UNITS == 0;
  }

  /** One fused step of all rows: reads rows {@code [x, h]} of {@code xh}, writes the new h. */
  interface FusedStep {

    /** The new h of row {@code r} goes to the h part of row {@code r} of {@code next}. */
    void step(float[] xh, float[] next);
  }

  /**
   * The time loop of the fused kernels: rows {@code [x of the step, h]} in two buffers, the step
   * reading one and writing h into the other, so h is never copied between steps. Other states (the
   * LSTM's c) are the kernel's to update in place.
   */
  final float[] runRows(
      float[] x, int n, int t, float[][] states, boolean reverse, FusedStep kernel) {
    int d = inputSize;
    int u = units;
    int k = d + u;
    float[] xh = new float[n * k];
    float[] next = new float[n * k];
    for (int r = 0; r < n; r++) {
      System.arraycopy(states[0], r * u, xh, r * k + d, u);
    }
    float[] out = new float[n * t * u];
    for (int s = 0; s < t; s++) {
      int step = reverse ? t - 1 - s : s;
      for (int r = 0; r < n; r++) {
        System.arraycopy(x, (r * t + step) * d, xh, r * k, d);
      }
      kernel.step(xh, next);
      for (int r = 0; r < n; r++) {
        System.arraycopy(next, r * k + d, out, (r * t + step) * u, u);
      }
      float[] swap = xh;
      xh = next;
      next = swap;
    }
    for (int r = 0; r < n; r++) {
      System.arraycopy(xh, r * k + d, states[0], r * u, u);
    }
    return out;
  }

  /** {@link #recurrentKernel} as one array per row ({@link RowKernels#accumulate}). */
  protected final float[][] recurrentRows() {
    float[][] rows = recurrentRows;
    if (rows == null) {
      rows = RowKernels.rows(recurrentKernel, units, recurrentKernel.length / units);
      recurrentRows = rows;
    }
    return rows;
  }

  /**
   * The input projection hoisted out of the recurrence: {@code x · kernel + bias} for every step of
   * the chunk in one GEMM, {@code [n * t, gates * units]}.
   */
  protected final float[] inputProjection(float[] x, int n, int t, MatMul mm) {
    int width = gates() * units;
    float[] xzAll = new float[n * t * width];
    mm.multiply(x, n * t, inputSize, kernel, width, xzAll, false);
    for (int row = 0; row < n * t; row++) {
      for (int j = 0; j < width; j++) {
        xzAll[row * width + j] += bias[j];
      }
    }
    return xzAll;
  }

  @Override
  public String toString() {
    return kind()
        + "(units="
        + units
        + ", activation="
        + activation.kerasName()
        + ", recurrent_activation="
        + recurrentActivation.kerasName()
        + ", input="
        + inputSize
        + (Float.isInfinite(clip) ? "" : ", clip=" + clip)
        + ")";
  }

  static float[] copyOf(float[] a) {
    return Arrays.copyOf(a, a.length);
  }
}
