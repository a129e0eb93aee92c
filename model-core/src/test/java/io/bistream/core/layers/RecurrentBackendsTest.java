package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fast paths (BLAS GEMM, Java row loops, Vector API kernels when the JVM has them) agree with
 * the plain Java reference loop. Golden agreement with the frameworks is tested in the golden
 * package; this pins the paths to each other on shapes the fixtures do not cover.
 */
class RecurrentBackendsTest {

  static float[] random(Random rnd, int size, double scale) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    }
    return a;
  }

  static RecurrentCell cell(String kind, Activation act, Activation rec, int d, int u, Random rnd) {
    return switch (kind) {
      case "LSTM" ->
          new LstmCell(
              d,
              u,
              act,
              rec,
              random(rnd, d * 4 * u, 0.5),
              random(rnd, u * 4 * u, 0.5),
              random(rnd, 4 * u, 0.5));
      case "GRU" ->
          new GruCell(
              d,
              u,
              act,
              rec,
              true,
              random(rnd, d * 3 * u, 0.5),
              random(rnd, u * 3 * u, 0.5),
              random(rnd, 3 * u, 0.5),
              random(rnd, 3 * u, 0.5));
      case "GRU_V1" ->
          new GruCell(
              d,
              u,
              act,
              rec,
              false,
              random(rnd, d * 3 * u, 0.5),
              random(rnd, u * 3 * u, 0.5),
              random(rnd, 3 * u, 0.5),
              null);
      default ->
          new SimpleRnnCell(
              d, u, act, random(rnd, d * u, 0.5), random(rnd, u * u, 0.5), random(rnd, u, 0.5));
    };
  }

  @ParameterizedTest(name = "{0} {1}/{2} reverse={3} n={4} t={5} units={6}")
  @CsvSource({
    // the LSTM fast path: few rows (Java loop), many rows (GEMM), several projection blocks
    "LSTM, TANH, SIGMOID, false, 1, 9, 6",
    "LSTM, TANH, SIGMOID, true, 20, 150, 6",
    "LSTM, TANH, SIGMOID, false, 17, 130, 6",
    "LSTM, TANH, SIGMOID, true, 1, 2100, 6",
    // units a multiple of 8: the fused Vector API step (odd and even row counts)
    "LSTM, TANH, SIGMOID, false, 1, 9, 8",
    "LSTM, TANH, SIGMOID, true, 5, 40, 16",
    "LSTM, TANH, SIGMOID, false, 34, 70, 16",
    "LSTM, TANH, HARD_SIGMOID_KERAS2, true, 3, 9, 6",
    "LSTM, RELU, SIGMOID, false, 3, 9, 6",
    "LSTM, RELU, SIGMOID, false, 20, 9, 16",
    "LSTM, LINEAR, HARD_SIGMOID_KERAS3, false, 3, 9, 6",
    "LSTM, SOFTSIGN, SOFTPLUS, true, 3, 9, 6",
    "LSTM, ELU, SIGMOID, true, 3, 9, 6",
    "GRU, TANH, SIGMOID, true, 3, 9, 6",
    // gate width a multiple of 16: the Vector API product, tiles and tails, and BLAS above
    "GRU, TANH, SIGMOID, true, 6, 9, 16",
    "GRU_V1, TANH, HARD_SIGMOID_KERAS2, false, 3, 9, 6",
    "SIMPLE, RELU, LINEAR, true, 3, 9, 6",
    "SIMPLE, TANH, LINEAR, false, 9, 5, 32",
    "SIMPLE, TANH, LINEAR, true, 70, 3, 16"
  })
  void fastPathsMatchTheReferenceLoop(
      String kind, Activation act, Activation rec, boolean reverse, int n, int t, int u) {
    Random rnd = new Random(42);
    int d = 5;
    RecurrentCell cell = cell(kind, act, rec, d, u, rnd);
    float[] x = random(rnd, n * t * d, 1.0);
    float[][] s0 = cell.zeroStates(n);
    for (float[] s : s0) {
      System.arraycopy(random(rnd, s.length, 0.5), 0, s, 0, s.length);
    }
    float[][] sRef = deepCopy(s0);
    float[][] sFast = deepCopy(s0);
    float[] ref = cell.run(x, n, t, sRef, reverse, null, false, new JavaMatMul());
    float[] fast = cell.run(x, n, t, sFast, reverse, null, false, new Nd4jMatMul());
    assertClose(fast, ref);
    for (int k = 0; k < s0.length; k++) {
      assertClose(sFast[k], sRef[k]);
    }
  }

  private static float[][] deepCopy(float[][] a) {
    float[][] c = new float[a.length][];
    for (int i = 0; i < a.length; i++) {
      c[i] = a[i].clone();
    }
    return c;
  }

  private static void assertClose(float[] actual, float[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat((double) actual[i])
          .as("value %d", i)
          .isCloseTo(
              expected[i],
              org.assertj.core.data.Offset.offset(1e-5 + 1e-5 * Math.abs(expected[i])));
    }
  }
}
