package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The Vector API kernels against plain double-precision arithmetic, on shapes that reach every tile
 * and tail: row counts not a multiple of the tile, odd {@code k}, several panels and groups.
 */
class VectorKernelsTest {

  private final Random rnd = new Random(7);

  @BeforeEach
  void vectorApiPresent() {
    assumeTrue(Simd.ENABLED, "Vector API kernels not enabled in this JVM");
  }

  private float[] random(int size) {
    return RecurrentBackendsTest.random(rnd, size, 0.5);
  }

  @ParameterizedTest(name = "rows={0}: {1} five-row tiles")
  @CsvSource({"1, 0", "4, 0", "5, 1", "6, 1", "7, 1", "8, 0", "9, 1", "13, 1", "16, 0", "32, 4"})
  void fiveRowTilesLeaveAMultipleOfFourWhereTheyCan(int rows, int fives) {
    assertThat(VectorKernels.fiveRowTiles(rows)).isEqualTo(fives);
  }

  // cols in panels, units in groups: a panel is 16 or 32 columns and a group 8 or 16 units, as the
  // JVM's vector width is 256 or 512 bits (the build runs this class at both widths)
  @ParameterizedTest(name = "rows={0} k={1} panels={2} accumulate={3}")
  @CsvSource({
    "1, 1, 1, false",
    "3, 7, 2, true",
    "4, 128, 1, false",
    "7, 9, 1, false",
    "9, 5, 3, true",
    "16, 3, 1, true",
    "33, 64, 4, false"
  })
  void multiplyMatchesTheProductInDoublePrecision(int rows, int k, int panels, boolean accumulate) {
    int cols = panels * VectorKernels.PANEL;
    float[] a = random(rows * k);
    float[] w = random(k * cols);
    float[] out = random(rows * cols);
    float[] before = out.clone();
    VectorKernels.multiply(a, rows, k, VectorKernels.pack(w, k, cols), cols, out, accumulate);
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        double expected = accumulate ? before[i * cols + j] : 0;
        for (int p = 0; p < k; p++) {
          expected += (double) a[i * k + p] * w[p * cols + j];
        }
        assertThat((double) out[i * cols + j]).as("(%d, %d)", i, j).isCloseTo(expected, tol());
      }
    }
  }

  @ParameterizedTest(name = "n={0} d={1} groups={2}")
  @CsvSource({"1, 3, 1", "2, 5, 2", "5, 8, 3", "7, 4, 1", "8, 64, 8", "14, 9, 2", "33, 7, 2"})
  void lstmStepMatchesTheCellEquationsInDoublePrecision(int n, int d, int groups) {
    checkLstmStep(n, d, groups * VectorKernels.UNITS);
  }

  private void checkLstmStep(int n, int d, int u) {
    float[] kernel = random(d * 4 * u);
    float[] recurrent = random(u * 4 * u);
    float[] bias = random(4 * u);
    int k = d + u;
    float[] xh = random(n * k); // rows [x, h]
    float[] xhBefore = xh.clone();
    float[] c = random(n * u);
    float[] cBefore = c.clone();
    float[] next = random(n * k);
    float[] nextBefore = next.clone();
    VectorKernels.lstmStep(
        VectorKernels.PackedLstm.of(d, u, kernel, recurrent, bias),
        xh,
        c,
        n,
        next,
        new float[VectorKernels.lstmScratch(n)]);
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < u; j++) {
        double[] z = new double[4];
        for (int gate = 0; gate < 4; gate++) {
          int col = gate * u + j;
          z[gate] = bias[col];
          for (int p = 0; p < d; p++) {
            z[gate] += (double) xh[r * k + p] * kernel[p * 4 * u + col];
          }
          for (int p = 0; p < u; p++) {
            z[gate] += (double) xh[r * k + d + p] * recurrent[p * 4 * u + col];
          }
        }
        double cNew = sigmoid(z[1]) * cBefore[r * u + j] + sigmoid(z[0]) * Math.tanh(z[2]);
        double hNew = sigmoid(z[3]) * Math.tanh(cNew);
        assertThat((double) c[r * u + j]).as("c (%d, %d)", r, j).isCloseTo(cNew, tol());
        assertThat((double) next[r * k + d + j]).as("h (%d, %d)", r, j).isCloseTo(hNew, tol());
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
