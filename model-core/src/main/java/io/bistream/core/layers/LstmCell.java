package io.bistream.core.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Long short-term memory cell (Hochreiter &amp; Schmidhuber 1997) in the Keras formulation.
 *
 * <pre>
 *   z = x·W + h·U + b             gate blocks in Keras order i, f, c, o
 *   i = σ(z_i)   f = σ(z_f)   o = σ(z_o)      σ = recurrent_activation
 *   c' = f ∘ c + i ∘ g(z_c)                    g = activation
 *   h' = o ∘ g(c')
 * </pre>
 *
 * <p>With a clip threshold (ONNX), every {@code z} block is clipped before its activation.
 *
 * <p>With the ND4J backend, no mask and activations libnd4j implements identically, the whole chunk
 * runs through the fused libnd4j {@code lstmLayer} op (one native call per direction); otherwise
 * through the shared loop of {@link RecurrentCell}.
 */
public final class LstmCell extends RecurrentCell {

  // Uploaded on first fused use: (inputSize, 4u), (u, 4u), (4u).
  private volatile INDArray[] fusedWeights;

  public LstmCell(
      int inputSize,
      int units,
      Activation activation,
      Activation recurrentActivation,
      float[] kernel,
      float[] recurrentKernel,
      float[] bias) {
    super(inputSize, units, activation, recurrentActivation, kernel, recurrentKernel, bias);
  }

  @Override
  public int gates() {
    return 4;
  }

  @Override
  public int stateCount() {
    return 2;
  }

  @Override
  public String kind() {
    return "LSTM";
  }

  @Override
  public float[] run(
      float[] x,
      int n,
      int t,
      float[][] states,
      boolean reverse,
      boolean[] mask,
      boolean zeroOutputForMask,
      MatMul mm) {
    int gateCode = fusedActivationCode(recurrentActivation);
    int cellCode = fusedActivationCode(activation);
    // libnd4j's cell clip bounds the cell state, not the gate inputs: clipping cells use the loop.
    boolean clips = !Float.isInfinite(clip());
    if (!(mm instanceof Nd4jMatMul)
        || mask != null
        || t == 0
        || gateCode < 0
        || cellCode < 0
        || clips) {
      return super.run(x, n, t, states, reverse, mask, zeroOutputForMask, mm);
    }
    INDArray[] w = fusedWeights;
    if (w == null) {
      w =
          new INDArray[] {
            Nd4j.create(kernel, new long[] {inputSize, 4L * units}, 'c'),
            Nd4j.create(recurrentKernel, new long[] {units, 4L * units}, 'c'),
            Nd4j.create(bias, new long[] {4L * units}, 'c')
          };
      fusedWeights = w;
    }
    INDArray xs = Nd4j.create(x, new long[] {n, t, inputSize}, 'c');
    INDArray h0 = Nd4j.create(states[0], new long[] {n, units}, 'c');
    INDArray c0 = Nd4j.create(states[1], new long[] {n, units}, 'c');
    INDArray h = Nd4j.createUninitialized(DataType.FLOAT, n, t, units);
    INDArray hLast = Nd4j.createUninitialized(DataType.FLOAT, n, units);
    INDArray cLast = Nd4j.createUninitialized(DataType.FLOAT, n, units);
    DynamicCustomOp op =
        DynamicCustomOp.builder("lstmLayer")
            // x, Wx, Wr, b, hI, cI in one call: the order the op's boolean flags announce.
            .addInputs(xs, w[0], w[1], w[2], h0, c0)
            .addOutputs(h, hLast, cLast)
            // data format NTS = 1, direction FWD = 0 / BWD = 1, gate, cell, output activations
            .addIntegerArguments(1, reverse ? 1 : 0, gateCode, cellCode, cellCode)
            // bias, seqLen, h0, c0, peephole, full sequence, last h, last c
            .addBooleanArguments(true, false, true, true, false, true, true, true)
            .addFloatingPointArguments(fusedFloatArgs(recurrentActivation, activation))
            .build();
    Nd4j.exec(op);
    hLast.data().asNioFloat().get(states[0], 0, n * units);
    cLast.data().asNioFloat().get(states[1], 0, n * units);
    return h.data().asFloat();
  }

  /** libnd4j lstmLayer activation code with the same definition as Keras, or -1. */
  private static int fusedActivationCode(Activation a) {
    return switch (a) {
      case TANH -> 0;
      case RELU -> 1;
      case SIGMOID -> 2;
      case LINEAR -> 3; // affine with alpha 1, beta 0
      case HARD_SIGMOID_KERAS2 -> 7;
      case ELU -> 8;
      case SOFTSIGN -> 9;
      case SOFTPLUS -> 10;
      default -> -1;
    };
  }

  /** Cell clip 0 (none), then alpha/beta for the activations that take them, in op order. */
  private static Double[] fusedFloatArgs(Activation gate, Activation cell) {
    java.util.List<Double> args = new java.util.ArrayList<>(java.util.List.of(0.0));
    for (Activation a : new Activation[] {gate, cell, cell}) {
      if (a == Activation.LINEAR) {
        args.add(1.0);
        args.add(0.0);
      } else if (a == Activation.ELU) {
        args.add(1.0);
      }
    }
    return args.toArray(new Double[0]);
  }

  @Override
  void step(float[] xz, int n, float[][] states, float[][] next, MatMul mm) {
    int u = units;
    float[] h = states[0];
    float[] c = states[1];
    // (n, 4u): z = x·W + b + h·U
    mm.multiply(h, n, u, recurrentKernel, 4 * u, xz, true);
    for (int r = 0; r < n; r++) {
      int z = r * 4 * u;
      for (int j = 0; j < u; j++) {
        float i = recurrentActivation.apply(clip(xz[z + j]));
        float f = recurrentActivation.apply(clip(xz[z + u + j]));
        float g = activation.apply(clip(xz[z + 2 * u + j]));
        float o = recurrentActivation.apply(clip(xz[z + 3 * u + j]));
        float cNew = f * c[r * u + j] + i * g;
        next[1][r * u + j] = cNew;
        next[0][r * u + j] = o * activation.apply(cNew);
      }
    }
  }
}
