package io.bistream.core.layers;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The recurrence step's kernels one at a time, for benchmarks and tests only ({@code bench
 * --kernels}, docs/benchmarks.md "Kernels alone"); the engine never calls it. A layer runs the
 * kernels of one width, fixed per JVM by {@link Simd} (vector code of two widths in one JDK 17
 * process leaves later-compiled code boxed, 100-1000x slower); here the JVM's vector width and the
 * scalar path run in the same process on the same rows, so they can be timed side by side and
 * checked against each other. The other width runs in another JVM ({@code
 * -Dbistream.simd.bits=256}).
 *
 * <p>Variants of the LSTM step (both products, the gates and the state update over rows {@code [x,
 * h]}): {@link Variant#VECTOR_512} or {@link Variant#VECTOR_256} ({@link VectorKernels#lstmStep} at
 * the JVM's width) and {@link Variant#SCALAR}, what {@link LstmCell} runs without the Vector API:
 * the product as a loop C2 vectorises ({@link RowKernels}) below 16 rows, else OpenBLAS's SGEMM as
 * {@link Nd4jMatMul} calls it, then the gates through {@link Activation#applyFast}. The GRU step's
 * product {@code h·U}: the JVM's vector width ({@link VectorKernels#multiply}) and {@link
 * Variant#SCALAR} ({@link JavaMatMul} below 16 rows, else the SGEMM), where the engine picks by
 * rows ({@link Nd4jMatMul}).
 */
public final class KernelProbe {

  static {
    Nd4j.getBackend(); // loads ND4J's natives, OpenBLAS among them
  }

  /** A kernel width. */
  public enum Variant {
    VECTOR_512("512-bit"),
    VECTOR_256("256-bit"),
    SCALAR("scalar");

    private final String label;

    Variant(String label) {
      this.label = label;
    }

    /** {@code 512-bit}, {@code 256-bit} or {@code scalar}. */
    public String label() {
      return label;
    }
  }

  /** One step of one variant on its own copy of the rows. Not thread-safe. */
  public interface Step {

    /** Advances the rows one step (the timed part): the new h becomes the next step's h. */
    void run();

    /**
     * What the last {@link #run} computed: the LSTM's new h then c ({@code [n, u]} each); the GRU
     * product {@code [n, 3u]}.
     */
    float[] result();
  }

  private final RecurrentCell cell;
  private final boolean lstm;

  private KernelProbe(RecurrentCell cell, boolean lstm) {
    this.cell = cell;
    this.lstm = lstm;
  }

  /**
   * The LSTM step of {@code cell}: tanh and sigmoid, no clip, units a multiple of 16 (the shapes
   * the fused kernels of either width take).
   */
  public static KernelProbe lstm(RecurrentCell cell) {
    if (!(cell instanceof LstmCell)
        || cell.activation != Activation.TANH
        || cell.recurrentActivation != Activation.SIGMOID
        || !Float.isInfinite(cell.clip())
        || cell.units % 16 != 0) {
      throw new IllegalArgumentException(
          "the LSTM step kernels take an LSTM with tanh, sigmoid, no clip and units a multiple of"
              + " 16, found "
              + cell);
    }
    return new KernelProbe(cell, true);
  }

  /** The product of {@code cell}'s GRU step, {@code h·U}: reset_after, units a multiple of 32. */
  public static KernelProbe gruProduct(RecurrentCell cell) {
    if (!(cell instanceof GruCell g) || !g.resetAfter() || cell.units % 32 != 0) {
      throw new IllegalArgumentException(
          "the GRU product kernels take a reset_after GRU with units a multiple of 32, found "
              + cell);
    }
    return new KernelProbe(cell, false);
  }

  /** Floats per row of a step's input: {@code d + u} ({@code [x, h]}) for the LSTM, u for GRU. */
  public int rowWidth() {
    return lstm ? cell.inputSize + cell.units : cell.units;
  }

  /** Multiply-adds x 2 of one step of {@code n} rows. */
  public double flops(int n) {
    return 2.0 * n * rowWidth() * cell.gates() * cell.units;
  }

  /** The variants this JVM runs for this cell: its vector width (if any), then scalar. */
  public List<Variant> variants() {
    List<Variant> out = new ArrayList<>();
    if (Simd.ENABLED) {
      out.add(vectorWidth());
    }
    out.add(Variant.SCALAR);
    return out;
  }

  // the JVM's vector width (Simd.ENABLED)
  private static Variant vectorWidth() {
    return Simd.WIDE ? Variant.VECTOR_512 : Variant.VECTOR_256;
  }

  /** The variant the cell's layer runs in this JVM ({@link Simd}) at {@code n} rows. */
  public Variant inUse(int n) {
    if (!Simd.ENABLED) {
      return Variant.SCALAR;
    }
    if (lstm) {
      return vectorWidth();
    }
    return n >= Nd4jMatMul.SIMD_MIN_ROWS && n <= Nd4jMatMul.SIMD_MAX_ROWS
        ? vectorWidth()
        : Variant.SCALAR;
  }

  /**
   * A step of {@code variant} over {@code n} rows: {@code rows} ({@code [n, rowWidth()]}) and, for
   * the LSTM, the cell state {@code c} ({@code [n, u]}); both are copied.
   */
  public Step step(Variant variant, float[] rows, float[] c, int n) {
    if (!variants().contains(variant)) {
      throw new IllegalArgumentException(variant.label() + " kernels do not run here for " + cell);
    }
    RecurrentCell.requireLength("rows", rows, (long) n * rowWidth());
    if (lstm) {
      RecurrentCell.requireLength("cell state", c, (long) n * cell.units);
    }
    float[] in = rows.clone();
    if (!lstm) {
      return variant == Variant.SCALAR ? new GruScalar(cell, in, n) : new GruVector(cell, in, n);
    }
    return variant == Variant.SCALAR
        ? new LstmScalar((LstmCell) cell, in, c.clone(), n)
        : new LstmVector((LstmCell) cell, in, c.clone(), n);
  }

  /** The [x, h] rows and c of an LSTM step, two row buffers alternating as in {@link LstmCell}. */
  private abstract static class LstmRows implements Step {
    final int n;
    final int d;
    final int u;
    float[] xh;
    float[] next;
    final float[] c;

    LstmRows(LstmCell cell, float[] xh, float[] c, int n) {
      this.n = n;
      this.d = cell.inputSize;
      this.u = cell.units;
      this.xh = xh;
      this.next = xh.clone(); // the x part stays as it is: every step reads the same x
      this.c = c;
    }

    abstract void compute();

    @Override
    public final void run() {
      compute();
      float[] swap = xh;
      xh = next;
      next = swap;
    }

    @Override
    public final float[] result() {
      float[] out = new float[2 * n * u];
      for (int r = 0; r < n; r++) {
        System.arraycopy(xh, r * (d + u) + d, out, r * u, u);
      }
      System.arraycopy(c, 0, out, n * u, n * u);
      return out;
    }
  }

  private static final class LstmVector extends LstmRows {
    private final VectorKernels.PackedLstm w;
    private final float[] z;

    LstmVector(LstmCell cell, float[] xh, float[] c, int n) {
      super(cell, xh, c, n);
      w = VectorKernels.PackedLstm.of(d, u, cell.kernel, cell.recurrentKernel, cell.bias);
      z = new float[VectorKernels.lstmScratch(n)];
    }

    @Override
    void compute() {
      VectorKernels.lstmStep(w, xh, c, n, next, z);
    }
  }

  /**
   * {@link LstmCell}'s loop without the Vector API, on the stacked {@code [kernel; recurrent
   * kernel]}: one product over {@code [x, h]} per step where the layer runs the input projection
   * per block of steps and {@code h·U} per step, the same multiply-adds per step.
   */
  private static final class LstmScalar extends LstmRows {
    private final float[][] rows;
    private final float[] bias;
    private final Sgemm gemm;
    private final float[] z;
    private final float[] i;
    private final float[] f;
    private final float[] g;
    private final float[] o;
    private final float[] cc;
    private final float[] h;

    LstmScalar(LstmCell cell, float[] xh, float[] c, int n) {
      super(cell, xh, c, n);
      int width = 4 * u;
      float[] stacked = new float[(d + u) * width];
      System.arraycopy(cell.kernel, 0, stacked, 0, d * width);
      System.arraycopy(cell.recurrentKernel, 0, stacked, d * width, u * width);
      boolean native_ = n >= Nd4jMatMul.JAVA_ROWS;
      rows = native_ ? null : RowKernels.rows(stacked, d + u, width);
      gemm = native_ ? new Sgemm(stacked, n, d + u, width) : null;
      bias = cell.bias;
      z = new float[native_ ? n * width : width];
      i = new float[u];
      f = new float[u];
      g = new float[u];
      o = new float[u];
      cc = new float[u];
      h = new float[u];
    }

    @Override
    void compute() {
      int width = 4 * u;
      if (gemm != null) {
        gemm.multiply(xh, z);
      }
      for (int r = 0; r < n; r++) {
        int at = 0;
        if (gemm == null) {
          java.util.Arrays.fill(z, 0f);
          RowKernels.accumulate(xh, r * (d + u), rows, z);
        } else {
          at = r * width;
        }
        // as LstmCell's Gates: scratch arrays indexed from 0, so C2 vectorises the loops
        System.arraycopy(z, at, i, 0, u);
        System.arraycopy(z, at + u, f, 0, u);
        System.arraycopy(z, at + 2 * u, g, 0, u);
        System.arraycopy(z, at + 3 * u, o, 0, u);
        for (int j = 0; j < u; j++) {
          i[j] += bias[j];
          f[j] += bias[u + j];
          g[j] += bias[2 * u + j];
          o[j] += bias[3 * u + j];
        }
        System.arraycopy(c, r * u, cc, 0, u);
        Activation.SIGMOID.applyFast(i, 0, u);
        Activation.SIGMOID.applyFast(f, 0, u);
        Activation.TANH.applyFast(g, 0, u);
        Activation.SIGMOID.applyFast(o, 0, u);
        for (int j = 0; j < u; j++) {
          cc[j] = f[j] * cc[j] + i[j] * g[j];
          h[j] = cc[j];
        }
        Activation.TANH.applyFast(h, 0, u);
        for (int j = 0; j < u; j++) {
          h[j] *= o[j];
        }
        System.arraycopy(cc, 0, c, r * u, u);
        System.arraycopy(h, 0, next, r * (d + u) + d, u);
      }
    }
  }

  private static final class GruVector implements Step {
    private final float[] h;
    private final int n;
    private final int cols;
    private final int u;
    private final float[] packed;
    private final float[] q;

    GruVector(RecurrentCell cell, float[] h, int n) {
      this.h = h;
      this.n = n;
      this.u = cell.units;
      this.cols = 3 * u;
      this.packed = VectorKernels.pack(cell.recurrentKernel, u, cols);
      this.q = new float[n * cols];
    }

    @Override
    public void run() {
      VectorKernels.multiply(h, n, u, packed, cols, q, false);
    }

    @Override
    public float[] result() {
      return q.clone();
    }
  }

  private static final class GruScalar implements Step {
    private final float[] h;
    private final int n;
    private final int u;
    private final float[] w;
    private final Sgemm gemm;
    private final float[] q;
    private final JavaMatMul loop = new JavaMatMul();

    GruScalar(RecurrentCell cell, float[] h, int n) {
      this.h = h;
      this.n = n;
      this.u = cell.units;
      this.w = cell.recurrentKernel;
      this.gemm = n >= Nd4jMatMul.JAVA_ROWS ? new Sgemm(w, n, u, 3 * u) : null;
      this.q = new float[n * 3 * u];
    }

    @Override
    public void run() {
      if (gemm != null) {
        gemm.multiply(h, q);
      } else {
        loop.multiply(h, n, u, w, 3 * u, q, false);
      }
    }

    @Override
    public float[] result() {
      return q.clone();
    }
  }

  /**
   * {@code out[rows, cols] = a[rows, k] · w} through OpenBLAS's SGEMM on native buffers, as {@link
   * Nd4jMatMul} calls it: the weights uploaded once, the operand and result copied per call.
   */
  private static final class Sgemm {
    private final FloatPointer w;
    private final FloatPointer a;
    private final FloatPointer out;
    private final int rows;
    private final int k;
    private final int cols;

    Sgemm(float[] w, int rows, int k, int cols) {
      this.w = new FloatPointer(w);
      this.a = new FloatPointer((long) rows * k);
      this.out = new FloatPointer((long) rows * cols);
      this.rows = rows;
      this.k = k;
      this.cols = cols;
    }

    void multiply(float[] in, float[] result) {
      a.put(in, 0, rows * k);
      openblas_nolapack.cblas_sgemm(
          openblas_nolapack.CblasRowMajor,
          openblas_nolapack.CblasNoTrans,
          openblas_nolapack.CblasNoTrans,
          rows,
          cols,
          k,
          1f,
          a,
          k,
          w,
          cols,
          0f,
          out,
          cols);
      out.get(result, 0, rows * cols);
    }
  }
}
