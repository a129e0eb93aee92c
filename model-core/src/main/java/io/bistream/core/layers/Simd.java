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

  public static final boolean ENABLED = detect();

  /**
   * Whether the kernels run in 512-bit registers: the JVM prefers 512-bit vectors on this CPU
   * (AVX-512) and the system property {@code bistream.simd.bits} is not {@code 256}, which forces
   * 256-bit ones (for A/B runs and tests). One width for the whole JVM: see docs/benchmarks.md,
   * "Kernel width".
   */
  public static final boolean WIDE = ENABLED && VectorKernels.bits() == 512;

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

  /** A line for logs and benchmarks: which kernels run, and how to get the others. */
  public static String describe() {
    return ENABLED
        ? "Vector API kernels ("
            + VectorKernels.bits()
            + "-bit registers, "
            + (VectorKernels.bits() == 512 ? "8 x 32 (LSTM step) and " : "")
            + "5 x "
            + VectorKernels.PANEL
            + " result tiles; the JVM prefers "
            + VectorKernels.preferredBits()
            + "-bit vectors on this CPU)"
        : "scalar kernels (start the JVM with --add-modules jdk.incubator.vector for the Vector API"
            + " ones)";
  }
}
