package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/**
 * The error function behind exact GELU against tabulated values (Abramowitz &amp; Stegun, table
 * 7.1, and erfc(5) = 1.5375e-12), and GELU's defining identities.
 */
class GeluTest {

  @Test
  void erfMatchesTabulatedValuesToDoublePrecision() {
    double[][] table = {
      {0.0, 0.0},
      {0.1, 0.1124629160182849},
      {0.5, 0.5204998778130465},
      {1.0, 0.8427007929497149},
      {2.0, 0.9953222650189527},
      {3.0, 0.9999779095030014},
      {5.0, 1 - 1.5374597944280349e-12},
      {7.0, 1.0}
    };
    for (double[] row : table) {
      assertThat(Activation.erf(row[0])).as("erf(%s)", row[0]).isCloseTo(row[1], within(1e-15));
      assertThat(Activation.erf(-row[0])).as("erf(-%s)", row[0]).isCloseTo(-row[1], within(1e-15));
    }
  }

  @Test
  void geluIsXTimesTheNormalCdfAndTheTanhFormStaysClose() {
    // Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707 (standard normal table).
    assertThat(Activation.GELU.apply(1f)).isCloseTo(0.8413447f, within(1e-7f));
    assertThat(Activation.GELU.apply(-1f)).isCloseTo(-0.15865525f, within(1e-7f));
    assertThat(Activation.GELU.apply(0f)).isZero();
    for (float x = -6f; x <= 6f; x += 0.25f) {
      // The tanh approximation is within 1e-3 of the exact function everywhere (Hendrycks and
      // Gimpel 2016).
      assertThat(Activation.GELU_TANH.apply(x))
          .as("x = %s", x)
          .isCloseTo(Activation.GELU.apply(x), within(1e-3f));
    }
  }
}
