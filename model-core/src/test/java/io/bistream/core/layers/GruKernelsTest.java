package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused GRU step against the cell equations ({@code reset_after = true}) in double precision,
 * on shapes that reach the four-row tile, the lone-row tail, odd input sizes (the unrolled loops'
 * tails) and several groups of units; at the JVM's vector width (the build runs it at both).
 */
class GruKernelsTest {

  private final Random rnd = new Random(11);

  @BeforeEach
  void vectorApiPresent() {
    assumeTrue(Simd.ENABLED, "Vector API kernels not enabled in this JVM");
  }

  private float[] random(int size) {
    return RecurrentBackendsTest.random(rnd, size, 0.5);
  }

  @ParameterizedTest(name = "n={0} d={1} u={2}")
  @CsvSource({
    "1, 3, 16",
    "1, 64, 128",
    "2, 5, 32",
    "4, 8, 48",
    "5, 1, 16",
    "7, 4, 16",
    "8, 64, 128",
    "14, 9, 32",
    "33, 7, 32"
  })
  void stepMatchesTheCellEquationsInDoublePrecision(int n, int d, int u) {
    float[] kernel = random(d * 3 * u);
    float[] recurrent = random(u * 3 * u);
    float[] bias = random(3 * u);
    float[] recurrentBias = random(3 * u);
    int k = d + u;
    float[] xh = random(n * k); // rows [x, h]
    float[] xhBefore = xh.clone();
    float[] next = random(n * k);
    float[] nextBefore = next.clone();
    GruKernels.step(
        GruKernels.PackedGru.of(d, u, kernel, recurrent, bias, recurrentBias),
        xh,
        n,
        next,
        new float[GruKernels.SCRATCH]);
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < u; j++) {
        // a = x·W + b_in, q = h·U + b_rec per gate block z, r, h
        double[] a = new double[3];
        double[] q = new double[3];
        for (int gate = 0; gate < 3; gate++) {
          int col = gate * u + j;
          a[gate] = bias[col];
          q[gate] = recurrentBias[col];
          for (int p = 0; p < d; p++) {
            a[gate] += (double) xh[r * k + p] * kernel[p * 3 * u + col];
          }
          for (int p = 0; p < u; p++) {
            q[gate] += (double) xh[r * k + d + p] * recurrent[p * 3 * u + col];
          }
        }
        double z = sigmoid(a[0] + q[0]);
        double reset = sigmoid(a[1] + q[1]);
        double candidate = Math.tanh(a[2] + reset * q[2]);
        double h = z * xh[r * k + d + j] + (1 - z) * candidate;
        assertThat((double) next[r * k + d + j]).as("h (%d, %d)", r, j).isCloseTo(h, tol());
      }
      for (int p = 0; p < d; p++) {
        assertThat(next[r * k + p])
            .as("x part of next, (%d, %d)", r, p)
            .isEqualTo(nextBefore[r * k + p]);
      }
    }
    assertThat(xh).as("xh is only read").isEqualTo(xhBefore);
  }

  private static double sigmoid(double v) {
    return 1 / (1 + Math.exp(-v));
  }

  private static Offset<Double> tol() {
    return Offset.offset(2e-5);
  }
}
