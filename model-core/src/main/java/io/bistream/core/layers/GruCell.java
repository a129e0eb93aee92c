package io.bistream.core.layers;

/**
 * Gated recurrent unit (Cho et al. 2014) in both Keras formulations. Gate blocks are in Keras order
 * z (update), r (reset), h (candidate).
 *
 * <pre>
 *   reset_after = true (Keras 3 / tf.keras 2 default, = PyTorch nn.GRU):
 *     a = x·W + b_in            q = h·U + b_rec
 *     z = σ(a_z + q_z)   r = σ(a_r + q_r)   ĥ = g(a_h + r ∘ q_h)
 *   reset_after = false (Keras 1/2 original):
 *     a = x·W + b
 *     z = σ(a_z + h·U_z)   r = σ(a_r + h·U_r)   ĥ = g(a_h + (r ∘ h)·U_h)
 *   h' = z ∘ h + (1 - z) ∘ ĥ
 * </pre>
 *
 * <p>With a clip threshold (ONNX), the argument of each σ and g is clipped.
 *
 * <p>With the fast backend, no mask and no clip, {@code reset_after = true}, sigmoid gates, tanh
 * and units a multiple of the vector's lanes, with the Vector API ({@link Simd}) each step is one
 * call of {@link GruKernels#step}, products and gates fused. Otherwise the shared loop of {@link
 * RecurrentCell} runs, its step's product through {@link MatMul} (on the fast backend {@link
 * VectorKernels#multiply} for 4 to 64 rows).
 */
public final class GruCell extends RecurrentCell {

  private final boolean resetAfter;
  // (3 * units): recurrent bias, only with reset_after; zeros otherwise
  private final float[] recurrentBias;
  // reset_after = false splits U: (units, 2 * units) for z, r and (units, units) for h
  private final float[] recurrentZr;
  private final float[] recurrentH;
  // the weights packed for GruKernels.step; made on first use
  private volatile GruKernels.PackedGru packed;

  /**
   * @param bias input bias {@code [3u]}
   * @param recurrentBias recurrent bias {@code [3u]} when {@code resetAfter}, else null
   */
  public GruCell(
      int inputSize,
      int units,
      Activation activation,
      Activation recurrentActivation,
      boolean resetAfter,
      float[] kernel,
      float[] recurrentKernel,
      float[] bias,
      float[] recurrentBias) {
    super(inputSize, units, activation, recurrentActivation, kernel, recurrentKernel, bias);
    this.resetAfter = resetAfter;
    if (resetAfter) {
      requireLength("recurrent bias", recurrentBias, 3L * units);
      this.recurrentBias = recurrentBias;
      this.recurrentZr = null;
      this.recurrentH = null;
    } else {
      if (recurrentBias != null) {
        throw new IllegalArgumentException("reset_after=false GRU has no recurrent bias");
      }
      this.recurrentBias = new float[3 * units];
      this.recurrentZr = new float[units * 2 * units];
      this.recurrentH = new float[units * units];
      for (int k = 0; k < units; k++) {
        System.arraycopy(recurrentKernel, k * 3 * units, recurrentZr, k * 2 * units, 2 * units);
        System.arraycopy(recurrentKernel, k * 3 * units + 2 * units, recurrentH, k * units, units);
      }
    }
  }

  public boolean resetAfter() {
    return resetAfter;
  }

  @Override
  public int gates() {
    return 3;
  }

  @Override
  public int stateCount() {
    return 1;
  }

  @Override
  public String kind() {
    return "GRU";
  }

  @Override
  public long parameterCount() {
    return super.parameterCount() + (resetAfter ? recurrentBias.length : 0);
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
    if (resetAfter && fusedStepApplies(mask, mm)) {
      return runFused(x, n, t, states, reverse);
    }
    return super.run(x, n, t, states, reverse, mask, zeroOutputForMask, mm);
  }

  /** {@link #run} through {@link GruKernels#step}: rows {@code [x of the step, h]}. */
  private float[] runFused(float[] x, int n, int t, float[][] states, boolean reverse) {
    GruKernels.PackedGru w = packed();
    float[] scratch = new float[GruKernels.SCRATCH];
    return runRows(
        x, n, t, states, reverse, (xh, next) -> GruKernels.step(w, xh, n, next, scratch));
  }

  /** The weights packed for {@link GruKernels#step}; made on first use. */
  private GruKernels.PackedGru packed() {
    GruKernels.PackedGru p = packed;
    if (p == null) {
      p = GruKernels.PackedGru.of(inputSize, units, kernel, recurrentKernel, bias, recurrentBias);
      packed = p;
    }
    return p;
  }

  @Override
  void step(float[] xz, int n, float[][] states, float[][] next, MatMul mm) {
    int u = units;
    float[] h = states[0];
    if (resetAfter) {
      // (n, 3u): q = h·U + b_rec
      float[] q = new float[n * 3 * u];
      mm.multiply(h, n, u, recurrentKernel, 3 * u, q, false);
      for (int r = 0; r < n; r++) {
        int b = r * 3 * u;
        for (int j = 0; j < u; j++) {
          float z = recurrentActivation.apply(clip(xz[b + j] + q[b + j] + recurrentBias[j]));
          float rr =
              recurrentActivation.apply(clip(xz[b + u + j] + q[b + u + j] + recurrentBias[u + j]));
          float hh =
              activation.apply(
                  clip(xz[b + 2 * u + j] + rr * (q[b + 2 * u + j] + recurrentBias[2 * u + j])));
          next[0][r * u + j] = z * h[r * u + j] + (1 - z) * hh;
        }
      }
      return;
    }
    // (n, 2u): h·U_z, h·U_r
    float[] q = new float[n * 2 * u];
    mm.multiply(h, n, u, recurrentZr, 2 * u, q, false);
    float[] z = new float[n * u];
    float[] rh = new float[n * u];
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < u; j++) {
        z[r * u + j] = recurrentActivation.apply(clip(xz[r * 3 * u + j] + q[r * 2 * u + j]));
        float rr = recurrentActivation.apply(clip(xz[r * 3 * u + u + j] + q[r * 2 * u + u + j]));
        rh[r * u + j] = rr * h[r * u + j];
      }
    }
    // (n, u): (r ∘ h)·U_h
    float[] qh = new float[n * u];
    mm.multiply(rh, n, u, recurrentH, u, qh, false);
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < u; j++) {
        float hh = activation.apply(clip(xz[r * 3 * u + 2 * u + j] + qh[r * u + j]));
        float zz = z[r * u + j];
        next[0][r * u + j] = zz * h[r * u + j] + (1 - zz) * hh;
      }
    }
  }
}
