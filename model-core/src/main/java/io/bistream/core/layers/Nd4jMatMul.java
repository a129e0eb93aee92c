package io.bistream.core.layers;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fast {@link MatMul}: ND4J's BLAS GEMM ({@code Nd4j.gemm}, which PERF-NOTES.md measured
 * 2.5-6.8x faster than {@code mmuli} into row-major results) for products with many rows, and a
 * loop HotSpot vectorises for the few-row products of a recurrence step, where one JNI call (tens
 * of microseconds) would cost more than the arithmetic.
 *
 * <p>Weight matrices are uploaded once per instance; operand and result buffers are reused per
 * shape, so a GEMM costs one native call and two bulk copies. Accumulation runs inside the GEMM
 * ({@code beta = 1}).
 */
public final class Nd4jMatMul implements MatMul {

  /** Below this many rows the Java loop beats a native GEMM call (measured by {@code bench}). */
  static final int JAVA_ROWS = 16;

  // Its inner loop (an axpy over a weight row) is one HotSpot vectorises.
  private static final MatMul SMALL = new JavaMatMul();

  // Weight arrays are immutable once a layer is built, so identity is a safe cache key.
  private final Map<float[], INDArray> weights = new IdentityHashMap<>();
  private final Map<Long, INDArray[]> scratch = new HashMap<>();

  @Override
  public void multiply(
      float[] a, int rows, int k, float[] w, int cols, float[] out, boolean accumulate) {
    if (rows < JAVA_ROWS) {
      SMALL.multiply(a, rows, k, w, cols, out, accumulate);
      return;
    }
    INDArray wArr = weights.computeIfAbsent(w, x -> Nd4j.create(x, new long[] {k, cols}, 'c'));
    long key = ((long) rows << 42) ^ ((long) k << 21) ^ cols;
    INDArray[] ac =
        scratch.computeIfAbsent(
            key,
            unused ->
                new INDArray[] {
                  Nd4j.createUninitialized(DataType.FLOAT, rows, k),
                  Nd4j.createUninitialized(DataType.FLOAT, rows, cols)
                });
    ac[0].data().asNioFloat().put(a, 0, rows * k);
    if (accumulate) {
      ac[1].data().asNioFloat().put(out, 0, rows * cols);
    }
    Nd4j.gemm(ac[0], wArr, ac[1], false, false, 1.0, accumulate ? 1.0 : 0.0);
    ac[1].data().asNioFloat().get(out, 0, rows * cols);
  }
}
