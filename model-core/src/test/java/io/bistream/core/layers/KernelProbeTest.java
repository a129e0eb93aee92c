package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.layers.KernelProbe.Variant;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The probe that {@code bench --kernels} times runs the layer's own step: the variant it reports in
 * use, stepped over a sequence, ends where {@link LstmCell#run} ends.
 */
class KernelProbeTest {

  private static final int D = 24;
  private static final int U = 32;

  private static LstmCell lstm(Random rnd) {
    return (LstmCell)
        RecurrentBackendsTest.cell("LSTM", Activation.TANH, Activation.SIGMOID, D, U, rnd);
  }

  @Test
  void variantInUseStepsAsTheLayerRuns() {
    for (int n : new int[] {1, 6, 21}) {
      Random rnd = new Random(n);
      LstmCell cell = lstm(rnd);
      int t = 5;
      // the same input at every step: the probe's rows keep their x part
      float[] x1 = RecurrentBackendsTest.random(rnd, n * D, 1);
      float[] x = new float[n * t * D];
      for (int r = 0; r < n; r++) {
        for (int s = 0; s < t; s++) {
          System.arraycopy(x1, r * D, x, (r * t + s) * D, D);
        }
      }
      float[][] states = {
        RecurrentBackendsTest.random(rnd, n * U, 0.5), RecurrentBackendsTest.random(rnd, n * U, 1)
      };
      float[] rows = new float[n * (D + U)];
      for (int r = 0; r < n; r++) {
        System.arraycopy(x1, r * D, rows, r * (D + U), D);
        System.arraycopy(states[0], r * U, rows, r * (D + U) + D, U);
      }
      KernelProbe probe = KernelProbe.lstm(cell);
      KernelProbe.Step step = probe.step(probe.inUse(n), rows, states[1], n);
      cell.run(x, n, t, states, false, null, false, new Nd4jMatMul());
      for (int s = 0; s < t; s++) {
        step.run();
      }
      float[] want = new float[2 * n * U];
      System.arraycopy(states[0], 0, want, 0, n * U);
      System.arraycopy(states[1], 0, want, n * U, n * U);
      float[] got = step.result();
      for (int i = 0; i < want.length; i++) {
        // the scalar path sums x·W and h·U in another order than the layer; the vector ones do not
        assertThat(got[i])
            .as("N=%d value %d (%s)", n, i, probe.inUse(n).label())
            .isCloseTo(
                want[i], org.assertj.core.data.Offset.offset(1e-5f * Math.abs(want[i]) + 1e-6f));
      }
    }
  }

  @Test
  void theWidthsOfThisJvmAreOffered() {
    KernelProbe probe = KernelProbe.lstm(lstm(new Random(1)));
    assertThat(probe.variants()).contains(Variant.SCALAR);
    assertThat(probe.variants())
        .hasSize(Simd.ENABLED ? 2 : 1)
        .doesNotContain(Simd.WIDE ? Variant.VECTOR_256 : Variant.VECTOR_512);
    assertThat(probe.variants()).contains(probe.inUse(1));
  }

  @Test
  void shouldRejectACellTheFusedKernelsDoNotTake() {
    LstmCell odd =
        (LstmCell)
            RecurrentBackendsTest.cell(
                "LSTM", Activation.TANH, Activation.HARD_SIGMOID_KERAS2, D, U, new Random(2));
    assertThatThrownBy(() -> KernelProbe.lstm(odd))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("sigmoid");
  }
}
