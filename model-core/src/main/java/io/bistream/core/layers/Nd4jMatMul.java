package io.bistream.core.layers;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fast {@link MatMul}: the OpenBLAS SGEMM that ND4J's CPU backend ships and calls, for products
 * with many rows, and for the few-row products of a recurrence step, where one native call (tens of
 * microseconds) would cost more than the arithmetic, the Vector API kernel ({@link
 * VectorKernels#multiply}, 4 to 64 rows) or else a loop HotSpot vectorises.
 *
 * <p>The GEMM is called through ND4J's own binding of it ({@code openblas_nolapack}, what ND4J's
 * BLAS level 3 uses) on native buffers, not through {@code Nd4j.gemm}: at the shapes of a
 * recurrence step ([32, 128] x [128, 512]) ND4J's op dispatch around the same SGEMM costs 25-40 µs
 * of ~120 µs per call (measured here; docs/benchmarks.md, "ND4J per-call costs and threads", has
 * why {@code mmuli} is slower still). Weight matrices are uploaded once per layer and JVM; each
 * thread reuses one native operand and one result buffer for every shape, grown to the largest
 * product it has run (up to {@link #KEPT_FLOATS} each), so a product costs one native call and two
 * bulk copies. Accumulation runs inside the GEMM ({@code beta = 1}).
 */
public final class Nd4jMatMul implements MatMul {

  /** Below this many rows the Java loop beats a native GEMM call (measured by {@code bench}). */
  static final int JAVA_ROWS = 16;

  /**
   * With {@link Simd#ENABLED}, products of this many rows up to {@link #SIMD_MAX_ROWS} run through
   * {@link VectorKernels}; above, the native GEMM's own blocking wins (measured alone at [256, 128]
   * x [128, 512]: 52-63 GFLOP/s for the kernel, 65-71 for OpenBLAS with its copies).
   */
  static final int SIMD_MIN_ROWS = 4;

  static final int SIMD_MAX_ROWS = 64;

  /**
   * The most floats a thread keeps in each of its native buffers between products: a larger one
   * (the end of a long exact-mode sequence, whose rows are all its steps) is freed after its
   * product. A buffer per shape, as before, grew without bound as sequence lengths varied.
   */
  static final long KEPT_FLOATS = 1L << 22;

  // Its inner loop (an axpy over a weight row) is one HotSpot vectorises.
  private static final MatMul SMALL = new JavaMatMul();

  static {
    Nd4j.getBackend(); // loads ND4J's natives, OpenBLAS among them, and sets its thread count
  }

  // Weight arrays are immutable once a layer is built, so identity (what an array's equals and
  // hashCode are) is a safe key. Shared by every instance, since the job and the streaming engine
  // make one per batch; weak, so an entry goes with its layer.
  private static final Map<float[], FloatPointer> WEIGHTS =
      Collections.synchronizedMap(new WeakHashMap<>());
  private static final Map<float[], float[]> PACKED =
      Collections.synchronizedMap(new WeakHashMap<>());

  // Native operand and result buffers: per thread, since an instance lives one batch.
  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  // This instance's view of the shared maps: one locked lookup per weight array per batch.
  private final Map<float[], FloatPointer> weights = new IdentityHashMap<>();
  private final Map<float[], float[]> packed = new IdentityHashMap<>();

  /**
   * The fewest rows for which {@link #multiply} into {@code cols} columns beats a loop over rows
   * ({@link RowKernels}).
   */
  static int minBatchRows(int cols) {
    return simd(cols) ? SIMD_MIN_ROWS : JAVA_ROWS;
  }

  // Whether the Vector API product applies to this many columns.
  private static boolean simd(int cols) {
    return Simd.ENABLED && cols % VectorKernels.PANEL == 0;
  }

  @Override
  public MatMul forAnotherThread() {
    return new Nd4jMatMul();
  }

  @Override
  public void multiply(
      float[] a, int rows, int k, float[] w, int cols, float[] out, boolean accumulate) {
    if (simd(cols) && rows >= SIMD_MIN_ROWS && rows <= SIMD_MAX_ROWS) {
      float[] p =
          packed.computeIfAbsent(
              w, x -> PACKED.computeIfAbsent(x, y -> VectorKernels.pack(y, k, cols)));
      VectorKernels.multiply(a, rows, k, p, cols, out, accumulate);
      return;
    }
    if (rows < JAVA_ROWS) {
      SMALL.multiply(a, rows, k, w, cols, out, accumulate);
      return;
    }
    FloatPointer wp =
        weights.computeIfAbsent(w, x -> WEIGHTS.computeIfAbsent(x, FloatPointer::new));
    Scratch scratch = SCRATCH.get();
    FloatPointer operand = scratch.operand = Scratch.fit(scratch.operand, (long) rows * k);
    FloatPointer result = scratch.result = Scratch.fit(scratch.result, (long) rows * cols);
    operand.put(a, 0, rows * k);
    if (accumulate) {
      result.put(out, 0, rows * cols);
    }
    openblas_nolapack.cblas_sgemm(
        openblas_nolapack.CblasRowMajor,
        openblas_nolapack.CblasNoTrans,
        openblas_nolapack.CblasNoTrans,
        rows,
        cols,
        k,
        1f,
        operand,
        k,
        wp,
        cols,
        accumulate ? 1f : 0f,
        result,
        cols);
    result.get(out, 0, rows * cols);
    scratch.trim();
  }

  /** The floats of native buffers the calling thread keeps for its products. */
  static long scratchFloats() {
    return SCRATCH.get().kept();
  }

  /** One thread's native operand and result buffers. */
  private static final class Scratch {
    FloatPointer operand;
    FloatPointer result;

    // At least twice the size it replaces, so a thread whose products grow step by step
    // reallocates a logarithmic number of times.
    static FloatPointer fit(FloatPointer p, long floats) {
      if (p != null && p.capacity() >= floats) {
        return p;
      }
      long size = p == null ? floats : Math.max(floats, Math.min(2 * p.capacity(), KEPT_FLOATS));
      FloatPointer bigger = new FloatPointer(size); // first: if it fails, p is still whole
      if (p != null) {
        p.close();
      }
      return bigger;
    }

    /** Frees a buffer larger than {@link #KEPT_FLOATS}. */
    void trim() {
      operand = trimmed(operand);
      result = trimmed(result);
    }

    private static FloatPointer trimmed(FloatPointer p) {
      if (p.capacity() <= KEPT_FLOATS) {
        return p;
      }
      p.close();
      return null;
    }

    long kept() {
      return (operand == null ? 0 : operand.capacity()) + (result == null ? 0 : result.capacity());
    }
  }
}
