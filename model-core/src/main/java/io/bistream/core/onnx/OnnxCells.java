package io.bistream.core.onnx;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.GruCell;
import io.bistream.core.layers.LstmCell;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.layers.SimpleRnnCell;
import io.bistream.core.onnx.Symbolic.Const;
import java.util.List;

/**
 * ONNX recurrent weights in the core cells' Keras layout, per direction d.
 *
 * <ul>
 *   <li>LSTM: {@code W[d]} is {@code [4H, D]} in ONNX gate order i, o, f, c; the Keras kernel is
 *       {@code [D, 4H]} in order i, f, c, o. One bias {@code Wb + Rb}.
 *   <li>GRU: order z, r, h in both. {@code linear_before_reset=1} is Keras {@code reset_after=True}
 *       with the recurrent bias {@code Rb} kept apart; with {@code linear_before_reset=0} ONNX adds
 *       {@code Rb_h} outside the reset product, so {@code Wb + Rb} is exact.
 *   <li>RNN: {@code W^T}, {@code Wb + Rb}.
 * </ul>
 *
 * Activations ONNX names (default parameters) map onto {@link Activation}; HardSigmoid's ONNX
 * default {@code 0.2x + 0.5} is Keras 2's hard_sigmoid.
 */
final class OnnxCells {

  private OnnxCells() {}

  /**
   * Direction {@code d} of an ONNX {@code LSTM}/{@code GRU}/{@code RNN} node as a core cell.
   *
   * @param w {@code W [dirs, gates * h, inputSize]}
   * @param r {@code R [dirs, gates * h, h]}
   * @param b {@code B [dirs, 2 * gates * h]} ({@code Wb} then {@code Rb}), or null for zeros
   * @param acts this direction's {@code activations}, or empty for the defaults
   * @throws IllegalArgumentException naming the attribute when the activations do not map
   */
  static RecurrentCell cell(
      String op,
      boolean linearBeforeReset,
      int d,
      int h,
      int inputSize,
      Const w,
      Const r,
      Const b,
      List<String> acts) {
    int gates = op.equals("LSTM") ? 4 : op.equals("GRU") ? 3 : 1;
    // ONNX gate block feeding each Keras gate block: LSTM i,o,f,c -> i,f,c,o; GRU/RNN unchanged.
    int[] order =
        gates == 4 ? new int[] {0, 2, 3, 1} : gates == 3 ? new int[] {0, 1, 2} : new int[] {0};
    float[] kernel = kerasLayout(w.data(), d, gates, h, inputSize, order);
    float[] recurrent = kerasLayout(r.data(), d, gates, h, h, order);
    float[] wb = new float[gates * h];
    float[] rb = new float[gates * h];
    if (b != null) {
      for (int g = 0; g < gates; g++) {
        for (int j = 0; j < h; j++) {
          int src = d * 2 * gates * h + order[g] * h + j;
          wb[g * h + j] = (float) b.data()[src];
          rb[g * h + j] = (float) b.data()[src + gates * h];
        }
      }
    }
    return switch (op) {
      case "LSTM" -> {
        Activation f = act(acts, 0, Activation.SIGMOID);
        Activation g = act(acts, 1, Activation.TANH);
        Activation hh = act(acts, 2, Activation.TANH);
        if (g != hh) {
          throw new IllegalArgumentException(
              "attribute 'activations': LSTM cell activation g ("
                  + acts.get(1)
                  + ") must equal output activation h ("
                  + acts.get(2)
                  + ")");
        }
        yield new LstmCell(inputSize, h, g, f, kernel, recurrent, sum(wb, rb));
      }
      case "GRU" -> {
        Activation f = act(acts, 0, Activation.SIGMOID);
        Activation g = act(acts, 1, Activation.TANH);
        boolean resetAfter = linearBeforeReset;
        // linear_before_reset=0: h gate = g(x·W_h + (r ∘ h)·R_h + Rb_h + Wb_h), so Rb sums in.
        yield resetAfter
            ? new GruCell(inputSize, h, g, f, true, kernel, recurrent, wb, rb)
            : new GruCell(inputSize, h, g, f, false, kernel, recurrent, sum(wb, rb), null);
      }
      default ->
          new SimpleRnnCell(
              inputSize, h, act(acts, 0, Activation.TANH), kernel, recurrent, sum(wb, rb));
    };
  }

  /** {@code [dirs, gates * h, cols]} direction d to Keras {@code [cols, gates * h]}, reordered. */
  static float[] kerasLayout(double[] a, int d, int gates, int h, int cols, int[] order) {
    float[] out = new float[cols * gates * h];
    int base = d * gates * h * cols;
    for (int g = 0; g < gates; g++) {
      for (int j = 0; j < h; j++) {
        int row = base + (order[g] * h + j) * cols;
        for (int k = 0; k < cols; k++) {
          out[k * gates * h + g * h + j] = (float) a[row + k];
        }
      }
    }
    return out;
  }

  static float[] sum(float[] a, float[] b) {
    float[] out = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] + b[i];
    }
    return out;
  }

  static Activation act(List<String> acts, int i, Activation fallback) {
    if (acts.isEmpty()) {
      return fallback;
    }
    return switch (acts.get(i)) {
      case "Sigmoid" -> Activation.SIGMOID;
      case "Tanh" -> Activation.TANH;
      case "Relu" -> Activation.RELU;
      case "HardSigmoid" -> Activation.HARD_SIGMOID_KERAS2; // ONNX default alpha 0.2, beta 0.5
      case "Softsign" -> Activation.SOFTSIGN;
      case "Softplus" -> Activation.SOFTPLUS;
      case "Elu" -> Activation.ELU; // ONNX default alpha 1
      default ->
          throw new IllegalArgumentException(
              "attribute 'activations': activation '"
                  + acts.get(i)
                  + "' is not supported; supported: Sigmoid, Tanh, Relu, HardSigmoid, Softsign,"
                  + " Softplus, Elu");
    };
  }
}
