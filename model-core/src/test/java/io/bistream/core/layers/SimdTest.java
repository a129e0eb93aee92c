package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The build runs the suite once with the Vector API kernels and the recurrence tests once more
 * without them ({@code -Dbistream.simd=false}); this pins which of the two each run exercised, so
 * neither can silently test the other path twice.
 */
class SimdTest {

  @Test
  void theKernelsThisRunWasConfiguredForAreTheOnesInUse() {
    String expected = System.getProperty("bistream.test.expect-simd");
    assertThat(expected).as("system property bistream.test.expect-simd").isNotNull();
    assertThat(Simd.ENABLED).as(Simd.describe()).isEqualTo(Boolean.parseBoolean(expected));
  }
}
