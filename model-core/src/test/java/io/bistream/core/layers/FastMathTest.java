package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/**
 * The vectorised activations, auto-vectorised ({@link FastMath}) and Vector API ({@link
 * VectorKernels#activate}), stay within their documented error of the exact functions.
 */
class FastMathTest {

  // every float step of 1/4096 over [-20, 20], plus the extremes and zeros (a multiple of 16, the
  // most lanes a vector kernel takes)
  private static float[] grid() {
    int n = 40 * 4096 + 1;
    float[] x = new float[n + 15];
    for (int i = 0; i < n; i++) {
      x[i] = -20f + i / 4096f;
    }
    x[n] = Float.MAX_VALUE;
    x[n + 1] = -Float.MAX_VALUE;
    x[n + 2] = 1e-30f;
    x[n + 3] = -1e-30f;
    return x;
  }

  /** Largest absolute difference between {@code fast} applied to the grid and {@code exact}. */
  private static double worstError(
      java.util.function.Consumer<float[]> fast, java.util.function.DoubleUnaryOperator exact) {
    float[] x = grid();
    float[] y = x.clone();
    fast.accept(y);
    double worst = 0;
    for (int i = 0; i < x.length; i++) {
      worst = Math.max(worst, Math.abs(y[i] - exact.applyAsDouble(x[i])));
    }
    return worst;
  }

  @Test
  void tanhIsWithin4e7OfTheExactValue() {
    assertThat(worstError(y -> FastMath.tanh(y, 0, y.length), Math::tanh)).isLessThan(4e-7);
  }

  @Test
  void sigmoidIsWithin2e7OfTheExactValue() {
    assertThat(worstError(y -> FastMath.sigmoid(y, 0, y.length), v -> 1 / (1 + Math.exp(-v))))
        .isLessThan(2e-7);
  }

  @Test
  void vectorTanhIsWithin4e7OfTheExactValue() {
    assumeTrue(Simd.ENABLED, "Vector API kernels not enabled in this JVM");
    assertThat(worstError(y -> VectorKernels.activate(y, 0, y.length, false), Math::tanh))
        .isLessThan(4e-7);
  }

  @Test
  void vectorSigmoidIsWithin2e7OfTheExactValue() {
    assumeTrue(Simd.ENABLED, "Vector API kernels not enabled in this JVM");
    assertThat(
            worstError(
                y -> VectorKernels.activate(y, 0, y.length, true), v -> 1 / (1 + Math.exp(-v))))
        .isLessThan(2e-7);
  }

  @Test
  void onlyTheGivenRangeChanges() {
    float[] a = {5f, 0.5f, 0.25f, 7f};
    FastMath.tanh(a, 1, 2);
    assertThat(a[0]).isEqualTo(5f);
    assertThat(a[3]).isEqualTo(7f);
    assertThat((double) a[1]).isCloseTo(Math.tanh(0.5), org.assertj.core.data.Offset.offset(4e-7));
  }
}
