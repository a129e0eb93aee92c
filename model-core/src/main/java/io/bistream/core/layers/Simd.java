package io.bistream.core.layers;

/**
 * Whether the {@link VectorKernels} run: the JVM resolved the incubating Vector API module ({@code
 * --add-modules jdk.incubator.vector}), the CPU has 256-bit float vectors, and the system property
 * {@code bistream.simd} is not {@code false}. Otherwise the scalar loops run; results differ only
 * in rounding.
 *
 * <p>This class refers to no Vector API type, so it loads on any JVM; {@link VectorKernels} is
 * touched only when {@link #ENABLED} is true.
 */
public final class Simd {

  // the width of the LSTM step where the CPU has both and bistream.simd.bits is unset
  private static final String DEFAULT_BITS = "512";

  public static final boolean ENABLED = detect();

  /**
   * Whether the LSTM step runs the 512-bit kernels ({@link VectorKernels512}, for units a multiple
   * of 16): the JVM prefers 512-bit vectors on this CPU (AVX-512) and the system property {@code
   * bistream.simd.bits} is not {@code 256}, which forces the 256-bit kernels (for A/B runs and
   * tests). See docs/benchmarks.md, "Kernel width".
   */
  public static final boolean WIDE = ENABLED && detectWide();

  private Simd() {}

  private static boolean detect() {
    if ("false".equalsIgnoreCase(System.getProperty("bistream.simd"))) {
      return false;
    }
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return false;
    }
    try {
      return VectorKernels.supported();
    } catch (LinkageError e) {
      return false;
    }
  }

  private static boolean detectWide() {
    if ("256".equals(System.getProperty("bistream.simd.bits", DEFAULT_BITS))) {
      return false;
    }
    try {
      return VectorKernels512.supported();
    } catch (LinkageError e) {
      return false;
    }
  }

  /** A line for logs and benchmarks: which kernels run, and how to get the others. */
  public static String describe() {
    return ENABLED
        ? "Vector API kernels ("
            + (WIDE
                ? "LSTM step in 512-bit registers, 5 x "
                    + VectorKernels512.PANEL
                    + " result tiles where units are a multiple of 16, else "
                : "")
            + "256-bit registers, 5 x "
            + VectorKernels.PANEL
            + " result tiles"
            + "; the JVM prefers "
            + VectorKernels.preferredBits()
            + "-bit vectors on this CPU)"
        : "scalar kernels (start the JVM with --add-modules jdk.incubator.vector for the Vector API"
            + " ones)";
  }
}
