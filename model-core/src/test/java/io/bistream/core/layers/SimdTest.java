package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The build runs the suite once with the Vector API kernels, the recurrence tests once more without
 * them ({@code -Dbistream.simd=false}) and the golden and kernel tests once more on the 256-bit
 * kernels ({@code -Dbistream.simd.bits=256}); this pins which kernels each run exercised, so no run
 * can silently test another's path twice.
 */
class SimdTest {

  @Test
  void theKernelsThisRunWasConfiguredForAreTheOnesInUse() {
    String expected = System.getProperty("bistream.test.expect-simd");
    assertThat(expected).as("system property bistream.test.expect-simd").isNotNull();
    assertThat(Simd.ENABLED).as(Simd.describe()).isEqualTo(Boolean.parseBoolean(expected));
  }

  // Unset in the default run: there the kernels run 512-bit exactly where the CPU has 512-bit
  // vectors (AVX-512); on an AVX2 host the default run is a second 256-bit run.
  @Test
  void theKernelWidthThisRunWasConfiguredForIsTheOneInUse() {
    String expected = System.getProperty("bistream.test.expect-wide");
    boolean wide =
        expected != null
            ? Boolean.parseBoolean(expected)
            : Simd.ENABLED && VectorKernels.preferredBits() >= 512;
    assertThat(Simd.WIDE).as(Simd.describe()).isEqualTo(wide);
  }

  @Test
  void theDescriptionNamesTheWidthThatRuns() {
    assertThat(Simd.describe().contains("512-bit registers"))
        .as(Simd.describe())
        .isEqualTo(Simd.WIDE);
  }
}
