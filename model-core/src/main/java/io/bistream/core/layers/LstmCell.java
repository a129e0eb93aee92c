package io.bistream.core.layers;

/**
 * Long short-term memory cell (Hochreiter &amp; Schmidhuber 1997) in the Keras formulation.
 *
 * <pre>
 *   z = x·W + h·U + b             gate blocks in Keras order i, f, c, o
 *   i = σ(z_i)   f = σ(z_f)   o = σ(z_o)      σ = recurrent_activation
 *   c' = f ∘ c + i ∘ g(z_c)                    g = activation
 *   h' = o ∘ g(c')
 * </pre>
 *
 * <p>With the fast backend and no mask, a chunk runs through a loop specialised for the LSTM. With
 * the Vector API ({@link Simd}), sigmoid gates, tanh and units a multiple of the vector's lanes (8,
 * or 16 with AVX-512; the Keras and PyTorch defaults are), each step is one call of {@link
 * VectorKernels#lstmStep}, products and gates fused. Otherwise: the input projection per block of
 * steps as one GEMM, the step's product through {@link Nd4jMatMul} (a vectorised Java loop for few
 * rows, one BLAS GEMM for many), gates through {@link Activation#applyFast}, states updated in
 * place. Both replaced the fused libnd4j {@code lstmLayer} op, which spends ~90 µs per
 * direction-step at batch 1 (docs/benchmarks.md, "ND4J per-call costs and threads") where these
 * loops need a few. With a mask or an ONNX clip threshold (every {@code z} block clipped before its
 * activation), the shared loop of {@link RecurrentCell} runs.
 */
public final class LstmCell extends RecurrentCell {

  // Rows per GEMM of the blocked input projection on the fast path.
  private static final int BLOCK_ROWS = 2048;

  // the weights packed for VectorKernels.lstmStep; made on first use
  private volatile VectorKernels.PackedLstm packed;

  public LstmCell(
      int inputSize,
      int units,
      Activation activation,
      Activation recurrentActivation,
      float[] kernel,
      float[] recurrentKernel,
      float[] bias) {
    super(inputSize, units, activation, recurrentActivation, kernel, recurrentKernel, bias);
  }

  @Override
  public int gates() {
    return 4;
  }

  @Override
  public int stateCount() {
    return 2;
  }

  @Override
  public String kind() {
    return "LSTM";
  }

  @Override
  public float[] run(
      float[] x,
      int n,
      int t,
      float[][] states,
      boolean reverse,
      boolean[] mask,
      boolean zeroOutputForMask,
      MatMul mm) {
    if (fusedStepApplies(mask, mm)) {
      return runFused(x, n, t, states, reverse);
    }
    if (!(mm instanceof Nd4jMatMul) || mask != null || !Float.isInfinite(clip())) {
      return super.run(x, n, t, states, reverse, mask, zeroOutputForMask, mm);
    }
    int u = units;
    int width = 4 * u;
    boolean gemm = n >= Nd4jMatMul.minBatchRows(width);
    float[][] rows = gemm ? null : recurrentRows();
    // The input projection runs per block of steps: one GEMM of about BLOCK_ROWS rows, so its
    // scratch stays small (the whole chunk at n = 256, t = 256 would be 134 MB per direction).
    int block = Math.max(1, Math.min(t, BLOCK_ROWS / n));
    float[] xb = new float[block * n * inputSize];
    float[] xzb = new float[block * n * width];
    float[] z = gemm ? new float[n * width] : null;
    Gates g = new Gates();
    float[] out = new float[n * t * u];
    for (int s0 = 0; s0 < t; s0 += block) {
      int b = Math.min(block, t - s0);
      // row k * n + r of the block: the k-th step processed in it, of sequence r
      for (int k = 0; k < b; k++) {
        int step = reverse ? t - 1 - (s0 + k) : s0 + k;
        for (int r = 0; r < n; r++) {
          System.arraycopy(x, (r * t + step) * inputSize, xb, (k * n + r) * inputSize, inputSize);
        }
      }
      mm.multiply(xb, b * n, inputSize, kernel, width, xzb, false);
      for (int k = 0; k < b; k++) {
        int step = reverse ? t - 1 - (s0 + k) : s0 + k;
        if (gemm) {
          // every row reads h before any row writes it: the product comes first
          System.arraycopy(xzb, k * n * width, z, 0, n * width);
          mm.multiply(states[0], n, u, recurrentKernel, width, z, true);
        }
        for (int r = 0; r < n; r++) {
          if (gemm) {
            System.arraycopy(z, r * width, g.z, 0, width);
          } else {
            System.arraycopy(xzb, (k * n + r) * width, g.z, 0, width);
            RowKernels.accumulate(states[0], r * u, rows, g.z);
          }
          g.advance(states, r);
          System.arraycopy(states[0], r * u, out, (r * t + step) * u, u);
        }
      }
    }
    return out;
  }

  /** {@link #run} through {@link VectorKernels#lstmStep}: the product and the gates per step. */
  private float[] runFused(float[] x, int n, int t, float[][] states, boolean reverse) {
    VectorKernels.PackedLstm w = packed();
    float[] z = new float[VectorKernels.lstmScratch(n)];
    return runRows(
        x,
        n,
        t,
        states,
        reverse,
        (xh, next) -> VectorKernels.lstmStep(w, xh, states[1], n, next, z));
  }

  /** The weights packed for {@link VectorKernels#lstmStep}; made on first use. */
  private VectorKernels.PackedLstm packed() {
    VectorKernels.PackedLstm p = packed;
    if (p == null) {
      p = VectorKernels.PackedLstm.of(inputSize, units, kernel, recurrentKernel, bias);
      packed = p;
    }
    return p;
  }

  /** Scratch of one row's step, every array indexed from 0 (see {@link RowKernels}). */
  private final class Gates {
    final float[] z = new float[4 * units];
    final float[] i = new float[units];
    final float[] f = new float[units];
    final float[] g = new float[units];
    final float[] o = new float[units];
    final float[] c = new float[units];
    final float[] h = new float[units];

    /**
     * From the pre-activations in {@link #z} (bias not yet added): row {@code r} of the states,
     * updated in place.
     */
    void advance(float[][] states, int r) {
      int u = units;
      for (int j = 0; j < z.length; j++) {
        z[j] += bias[j];
      }
      System.arraycopy(z, 0, i, 0, u);
      System.arraycopy(z, u, f, 0, u);
      System.arraycopy(z, 2 * u, g, 0, u);
      System.arraycopy(z, 3 * u, o, 0, u);
      System.arraycopy(states[1], r * u, c, 0, u);
      recurrentActivation.applyFast(i, 0, u);
      recurrentActivation.applyFast(f, 0, u);
      activation.applyFast(g, 0, u);
      recurrentActivation.applyFast(o, 0, u);
      for (int j = 0; j < u; j++) {
        c[j] = f[j] * c[j] + i[j] * g[j];
        h[j] = c[j];
      }
      activation.applyFast(h, 0, u);
      for (int j = 0; j < u; j++) {
        h[j] *= o[j];
      }
      System.arraycopy(c, 0, states[1], r * u, u);
      System.arraycopy(h, 0, states[0], r * u, u);
    }
  }

  @Override
  void step(float[] xz, int n, float[][] states, float[][] next, MatMul mm) {
    int u = units;
    float[] h = states[0];
    float[] c = states[1];
    // (n, 4u): z = x·W + b + h·U
    mm.multiply(h, n, u, recurrentKernel, 4 * u, xz, true);
    for (int r = 0; r < n; r++) {
      int z = r * 4 * u;
      for (int j = 0; j < u; j++) {
        float i = recurrentActivation.apply(clip(xz[z + j]));
        float f = recurrentActivation.apply(clip(xz[z + u + j]));
        float g = activation.apply(clip(xz[z + 2 * u + j]));
        float o = recurrentActivation.apply(clip(xz[z + 3 * u + j]));
        float cNew = f * c[r * u + j] + i * g;
        next[1][r * u + j] = cNew;
        next[0][r * u + j] = o * activation.apply(cNew);
      }
    }
  }
}
