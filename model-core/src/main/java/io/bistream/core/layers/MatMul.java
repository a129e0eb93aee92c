package io.bistream.core.layers;

/**
 * Row-major matrix product {@code out = a · w}: the only dense-algebra primitive the recurrent
 * cells need. Two implementations exist side by side: {@link JavaMatMul}, a plain loop kept as the
 * reference, and {@link Nd4jMatMul}, which hands the product to ND4J's BLAS GEMM.
 *
 * <p>Instances may keep scratch buffers and are not thread-safe: use one per inference call.
 */
public interface MatMul {

  /**
   * Computes {@code out[rows, cols] = a[rows, k] · w[k, cols]} (all row-major).
   *
   * @param accumulate when true adds the product to {@code out} instead of overwriting it
   */
  void multiply(float[] a, int rows, int k, float[] w, int cols, float[] out, boolean accumulate);

  /** An instance of the same kind to use on another thread while this one is in use. */
  MatMul forAnotherThread();
}
