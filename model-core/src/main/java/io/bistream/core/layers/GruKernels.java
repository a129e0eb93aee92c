package io.bistream.core.layers;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * One GRU step ({@code reset_after = true}, sigmoid gates, tanh candidate) in the vector registers
 * of the JVM's one width ({@link VectorKernels}): the input and recurrent products and the gates
 * fused, as {@link VectorKernels#lstmStep} does for the LSTM. Units in groups of L lanes (16 with
 * AVX-512, 8 with AVX2), one vector per gate; per row four accumulators, since the candidate's
 * input part {@code a_h} and recurrent part {@code q_h} stay apart until the reset gate scales
 * {@code q_h}:
 *
 * <pre>
 *   z = σ(x·W_z + h·U_z + b_z)   r = σ(x·W_r + h·U_r + b_r)   (both biases summed)
 *   ĥ = tanh(x·W_h + b_in_h + r ∘ (h·U_h + b_rec_h))          h' = ĥ + z ∘ (h - ĥ)
 * </pre>
 *
 * Tiles of 4 rows run in two passes, over the x rows (z, r, a_h) and over the h rows (z, r, q_h),
 * 12 accumulators each, and leave them in a small scratch array whose gates a second loop computes.
 * Measured here, one step of 32 rows alone (D=64, H=128): 132 GFLOP/s this way, 30 with all 16
 * accumulators in one loop or the gates inlined after it (C2 then spilled or boxed the vectors). A
 * lone row unrolls {@code k} by two. docs/benchmarks.md ("GRU") has the measurements against the
 * 256-bit path.
 */
final class GruKernels {

  // the JVM's one vector width (VectorKernels)
  private static final VectorSpecies<Float> S = VectorKernels.SPECIES;
  private static final int LANES = S.length();

  /** Units per group: one vector of each gate. */
  static final int UNITS = LANES;

  // Per input row of a group's panel: its L columns of the z, r and h blocks side by side.
  private static final int PANEL = 3 * LANES;

  /** Length of the scratch array {@link #step} takes: four accumulators of four rows. */
  static final int SCRATCH = 4 * 4 * LANES;

  private GruKernels() {}

  /**
   * The weights of one GRU direction packed for {@link #step}: per group of L units a panel of
   * {@code d + u} rows (kernel rows, then recurrent rows) of 48 values; {@code init} holds per unit
   * the four accumulators' starting values: {@code [b_z, b_r, b_in_h, b_rec_h]}, each {@code [u]}.
   */
  record PackedGru(int inputSize, int units, float[] weights, float[] init) {

    /**
     * @param kernel {@code [d, 3u]}, Keras gate order z, r, h
     * @param recurrentKernel {@code [u, 3u]}
     * @param bias input bias {@code [3u]}
     * @param recurrentBias {@code [3u]}
     */
    static PackedGru of(
        int d,
        int u,
        float[] kernel,
        float[] recurrentKernel,
        float[] bias,
        float[] recurrentBias) {
      if (u % UNITS != 0) {
        throw new IllegalArgumentException("units must be a multiple of " + UNITS + ", found " + u);
      }
      float[] w = new float[(d + u) * 3 * u];
      int at = 0;
      for (int q = 0; q < u / UNITS; q++) {
        for (int kk = 0; kk < d + u; kk++) {
          float[] src = kk < d ? kernel : recurrentKernel;
          int row = (kk < d ? kk : kk - d) * 3 * u;
          for (int gate = 0; gate < 3; gate++) {
            System.arraycopy(src, row + gate * u + q * UNITS, w, at, UNITS);
            at += UNITS;
          }
        }
      }
      float[] init = new float[4 * u];
      for (int j = 0; j < u; j++) {
        init[j] = bias[j] + recurrentBias[j];
        init[u + j] = bias[u + j] + recurrentBias[u + j];
        init[2 * u + j] = bias[2 * u + j];
        init[3 * u + j] = recurrentBias[2 * u + j];
      }
      return new PackedGru(d, u, w, init);
    }
  }

  /**
   * One step of {@code n} rows. Row {@code m} of {@code xh} is {@code [x (d), h (u)]} at {@code m *
   * (d + u)}; the new h goes to the h part of the same row of {@code next}, whose x part is left as
   * it is. {@code xh} is only read; {@code scratch} holds at least {@link #SCRATCH} values.
   */
  static void step(PackedGru w, float[] xh, int n, float[] next, float[] scratch) {
    int d = w.inputSize();
    int u = w.units();
    int k = d + u;
    for (int q = 0; q < u / UNITS; q++) {
      int panel = q * k * PANEL;
      int j = q * UNITS;
      int r = 0;
      for (; r + 3 < n; r += 4) {
        tile4(w, xh, r * k, d, k, panel, j, scratch);
        cells(scratch, 4, xh, r * k + d + j, k, next);
      }
      for (; r < n; r++) {
        tile1(w, xh, r * k, d, k, panel, j, scratch);
        cells(scratch, 1, xh, r * k + d + j, k, next);
      }
    }
  }

  /**
   * Four rows of one group: the accumulators of row {@code m} go to {@code out} at {@code g * 64 +
   * m * L} for g = z, r, a_h, q_h. Two passes, over the x rows (z, r, a_h) and over the h rows (z,
   * r, q_h), so that each holds 12 accumulators: with all 16 in one loop (20 registers in use) it
   * ran at half the speed of two-row tiles here, although AVX-512 has 32 registers.
   */
  private static void tile4(
      PackedGru p, float[] a, int a0, int d, int k, int panel, int j, float[] out) {
    int u = p.units();
    float[] init = p.init();
    for (int g = 0; g < 4; g++) {
      FloatVector b = FloatVector.fromArray(S, init, g * u + j);
      for (int m = 0; m < 4; m++) {
        b.intoArray(out, g * 4 * LANES + m * LANES);
      }
    }
    pass4(p.weights(), a, a0, k, 0, d, panel, out, 8 * LANES);
    pass4(p.weights(), a, a0, k, d, k, panel, out, 12 * LANES);
  }

  /**
   * Rows {@code [from, to)} of a group's panel against four rows of {@code a}, added to the z and r
   * accumulators in {@code acc} and to the third ones at {@code third}.
   */
  private static void pass4(
      float[] w, float[] a, int a0, int k, int from, int to, int panel, float[] acc, int third) {
    int s = LANES;
    int rr = 4 * LANES;
    FloatVector z0 = FloatVector.fromArray(S, acc, 0);
    FloatVector z1 = FloatVector.fromArray(S, acc, s);
    FloatVector z2 = FloatVector.fromArray(S, acc, 2 * s);
    FloatVector z3 = FloatVector.fromArray(S, acc, 3 * s);
    FloatVector r0 = FloatVector.fromArray(S, acc, rr);
    FloatVector r1 = FloatVector.fromArray(S, acc, rr + s);
    FloatVector r2 = FloatVector.fromArray(S, acc, rr + 2 * s);
    FloatVector r3 = FloatVector.fromArray(S, acc, rr + 3 * s);
    FloatVector h0 = FloatVector.fromArray(S, acc, third);
    FloatVector h1 = FloatVector.fromArray(S, acc, third + s);
    FloatVector h2 = FloatVector.fromArray(S, acc, third + 2 * s);
    FloatVector h3 = FloatVector.fromArray(S, acc, third + 3 * s);
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    for (int kk = from; kk < to; kk++) {
      int b = panel + kk * PANEL;
      FloatVector wz = FloatVector.fromArray(S, w, b);
      FloatVector wr = FloatVector.fromArray(S, w, b + LANES);
      FloatVector wh = FloatVector.fromArray(S, w, b + 2 * LANES);
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(wz, z0);
      r0 = v.fma(wr, r0);
      h0 = v.fma(wh, h0);
      v = FloatVector.broadcast(S, a[a1 + kk]);
      z1 = v.fma(wz, z1);
      r1 = v.fma(wr, r1);
      h1 = v.fma(wh, h1);
      v = FloatVector.broadcast(S, a[a2 + kk]);
      z2 = v.fma(wz, z2);
      r2 = v.fma(wr, r2);
      h2 = v.fma(wh, h2);
      v = FloatVector.broadcast(S, a[a3 + kk]);
      z3 = v.fma(wz, z3);
      r3 = v.fma(wr, r3);
      h3 = v.fma(wh, h3);
    }
    z0.intoArray(acc, 0);
    z1.intoArray(acc, s);
    z2.intoArray(acc, 2 * s);
    z3.intoArray(acc, 3 * s);
    r0.intoArray(acc, rr);
    r1.intoArray(acc, rr + s);
    r2.intoArray(acc, rr + 2 * s);
    r3.intoArray(acc, rr + 3 * s);
    h0.intoArray(acc, third);
    h1.intoArray(acc, third + s);
    h2.intoArray(acc, third + 2 * s);
    h3.intoArray(acc, third + 3 * s);
  }

  private static void store(
      FloatVector z, FloatVector r, FloatVector ah, FloatVector qh, float[] out, int o) {
    z.intoArray(out, o);
    r.intoArray(out, o + 4 * LANES);
    ah.intoArray(out, o + 8 * LANES);
    qh.intoArray(out, o + 12 * LANES);
  }

  /** One row of one group into {@code out} as {@link #tile4}'s first row, {@code k} by two. */
  private static void tile1(
      PackedGru p, float[] a, int a0, int d, int k, int panel, int j, float[] out) {
    float[] w = p.weights();
    int u = p.units();
    FloatVector z0 = FloatVector.fromArray(S, p.init(), j);
    FloatVector r0 = FloatVector.fromArray(S, p.init(), u + j);
    FloatVector h0 = FloatVector.fromArray(S, p.init(), 2 * u + j);
    FloatVector zero = FloatVector.zero(S);
    FloatVector z1 = zero;
    FloatVector r1 = zero;
    FloatVector h1 = zero;
    int kk = 0;
    for (; kk + 1 < d; kk += 2) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(FloatVector.fromArray(S, w, b), z0);
      r0 = v.fma(FloatVector.fromArray(S, w, b + LANES), r0);
      h0 = v.fma(FloatVector.fromArray(S, w, b + 2 * LANES), h0);
      v = FloatVector.broadcast(S, a[a0 + kk + 1]);
      z1 = v.fma(FloatVector.fromArray(S, w, b + 3 * LANES), z1);
      r1 = v.fma(FloatVector.fromArray(S, w, b + 4 * LANES), r1);
      h1 = v.fma(FloatVector.fromArray(S, w, b + 5 * LANES), h1);
    }
    for (; kk < d; kk++) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(FloatVector.fromArray(S, w, b), z0);
      r0 = v.fma(FloatVector.fromArray(S, w, b + LANES), r0);
      h0 = v.fma(FloatVector.fromArray(S, w, b + 2 * LANES), h0);
    }
    FloatVector ah = h0.add(h1);
    FloatVector q0 = FloatVector.fromArray(S, p.init(), 3 * u + j);
    FloatVector q1 = zero;
    for (; kk + 1 < k; kk += 2) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(FloatVector.fromArray(S, w, b), z0);
      r0 = v.fma(FloatVector.fromArray(S, w, b + LANES), r0);
      q0 = v.fma(FloatVector.fromArray(S, w, b + 2 * LANES), q0);
      v = FloatVector.broadcast(S, a[a0 + kk + 1]);
      z1 = v.fma(FloatVector.fromArray(S, w, b + 3 * LANES), z1);
      r1 = v.fma(FloatVector.fromArray(S, w, b + 4 * LANES), r1);
      q1 = v.fma(FloatVector.fromArray(S, w, b + 5 * LANES), q1);
    }
    for (; kk < k; kk++) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(FloatVector.fromArray(S, w, b), z0);
      r0 = v.fma(FloatVector.fromArray(S, w, b + LANES), r0);
      q0 = v.fma(FloatVector.fromArray(S, w, b + 2 * LANES), q0);
    }
    store(z0.add(z1), r0.add(r1), ah, q0.add(q1), out, 0);
  }

  /**
   * The gates of L units of {@code rows} rows from their accumulators in {@code acc} (as {@link
   * #tile4} leaves them); row {@code m}'s h is read from {@code a} and written to {@code next},
   * both at {@code h + m * stride}. The activations run in {@link VectorKernels#activate}'s loop.
   */
  private static void cells(float[] acc, int rows, float[] a, int h, int stride, float[] next) {
    int len = rows * LANES;
    VectorKernels.activate(acc, 0, len, true); // z
    VectorKernels.activate(acc, 4 * LANES, len, true); // r
    for (int m = 0; m < rows; m++) {
      int o = m * LANES;
      FloatVector r = FloatVector.fromArray(S, acc, 4 * LANES + o);
      FloatVector ah = FloatVector.fromArray(S, acc, 8 * LANES + o);
      FloatVector qh = FloatVector.fromArray(S, acc, 12 * LANES + o);
      r.fma(qh, ah).intoArray(acc, 8 * LANES + o);
    }
    VectorKernels.activate(acc, 8 * LANES, len, false); // the candidate
    for (int m = 0; m < rows; m++) {
      int o = m * LANES;
      FloatVector z = FloatVector.fromArray(S, acc, o);
      FloatVector candidate = FloatVector.fromArray(S, acc, 8 * LANES + o);
      FloatVector old = FloatVector.fromArray(S, a, h + m * stride);
      z.fma(old.sub(candidate), candidate).intoArray(next, h + m * stride);
    }
  }
}
