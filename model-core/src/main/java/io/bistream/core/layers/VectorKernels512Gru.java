package io.bistream.core.layers;

import static io.bistream.core.layers.FastMath.A1;
import static io.bistream.core.layers.FastMath.A11;
import static io.bistream.core.layers.FastMath.A13;
import static io.bistream.core.layers.FastMath.A3;
import static io.bistream.core.layers.FastMath.A5;
import static io.bistream.core.layers.FastMath.A7;
import static io.bistream.core.layers.FastMath.A9;
import static io.bistream.core.layers.FastMath.B0;
import static io.bistream.core.layers.FastMath.B2;
import static io.bistream.core.layers.FastMath.B4;
import static io.bistream.core.layers.FastMath.B6;
import static io.bistream.core.layers.FastMath.CLAMP;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * One GRU step ({@code reset_after = true}, sigmoid gates, tanh candidate) in 512-bit registers,
 * for CPUs with AVX-512 ({@link Simd#WIDE}): the input and recurrent products and the gates fused,
 * as {@link VectorKernels512#lstmStep} does for the LSTM. Units in groups of 16, one vector per
 * gate; per row four accumulators, since the candidate's input part {@code a_h} and recurrent part
 * {@code q_h} stay apart until the reset gate scales {@code q_h}:
 *
 * <pre>
 *   z = σ(x·W_z + h·U_z + b_z)   r = σ(x·W_r + h·U_r + b_r)   (both biases summed)
 *   ĥ = tanh(x·W_h + b_in_h + r ∘ (h·U_h + b_rec_h))          h' = ĥ + z ∘ (h - ĥ)
 * </pre>
 *
 * Tiles of 4 rows hold 16 accumulators, the group's three weight vectors and one broadcast (20 of
 * the 32 registers); a lone row unrolls {@code k} by two. docs/benchmarks.md ("GRU") has the
 * measurements against the 256-bit path.
 */
final class VectorKernels512Gru {

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
  private static final int LANES = 16;

  /** Units per group: one 512-bit vector of each gate. */
  static final int UNITS = LANES;

  // Per input row of a group's panel: its 16 columns of the z, r and h blocks side by side.
  private static final int PANEL = 3 * LANES;

  private VectorKernels512Gru() {}

  /**
   * The weights of one GRU direction packed for {@link #step}: per group of 16 units a panel of
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
   * it is. {@code xh} is only read.
   */
  static void step(PackedGru w, float[] xh, int n, float[] next) {
    int d = w.inputSize();
    int u = w.units();
    int k = d + u;
    for (int q = 0; q < u / UNITS; q++) {
      int panel = q * k * PANEL;
      int j = q * UNITS;
      int r = 0;
      for (; r + 3 < n; r += 4) {
        tile4(w, xh, r * k, d, k, panel, j, next);
      }
      for (; r < n; r++) {
        tile1(w, xh, r * k, d, k, panel, j, next);
      }
    }
  }

  /** Four rows of one group: products, gates and the new h. */
  private static void tile4(
      PackedGru p, float[] a, int a0, int d, int k, int panel, int j, float[] next) {
    float[] w = p.weights();
    int u = p.units();
    FloatVector bz = FloatVector.fromArray(S, p.init(), j);
    FloatVector br = FloatVector.fromArray(S, p.init(), u + j);
    FloatVector ba = FloatVector.fromArray(S, p.init(), 2 * u + j);
    FloatVector bq = FloatVector.fromArray(S, p.init(), 3 * u + j);
    FloatVector z0 = bz;
    FloatVector r0 = br;
    FloatVector a0v = ba;
    FloatVector q0 = bq;
    FloatVector z1 = bz;
    FloatVector r1 = br;
    FloatVector a1v = ba;
    FloatVector q1 = bq;
    FloatVector z2 = bz;
    FloatVector r2 = br;
    FloatVector a2v = ba;
    FloatVector q2 = bq;
    FloatVector z3 = bz;
    FloatVector r3 = br;
    FloatVector a3v = ba;
    FloatVector q3 = bq;
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    // the x rows feed the candidate's input part
    for (int kk = 0; kk < d; kk++) {
      int b = panel + kk * PANEL;
      FloatVector wz = FloatVector.fromArray(S, w, b);
      FloatVector wr = FloatVector.fromArray(S, w, b + LANES);
      FloatVector wh = FloatVector.fromArray(S, w, b + 2 * LANES);
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(wz, z0);
      r0 = v.fma(wr, r0);
      a0v = v.fma(wh, a0v);
      v = FloatVector.broadcast(S, a[a1 + kk]);
      z1 = v.fma(wz, z1);
      r1 = v.fma(wr, r1);
      a1v = v.fma(wh, a1v);
      v = FloatVector.broadcast(S, a[a2 + kk]);
      z2 = v.fma(wz, z2);
      r2 = v.fma(wr, r2);
      a2v = v.fma(wh, a2v);
      v = FloatVector.broadcast(S, a[a3 + kk]);
      z3 = v.fma(wz, z3);
      r3 = v.fma(wr, r3);
      a3v = v.fma(wh, a3v);
    }
    // the h rows feed its recurrent part
    for (int kk = d; kk < k; kk++) {
      int b = panel + kk * PANEL;
      FloatVector wz = FloatVector.fromArray(S, w, b);
      FloatVector wr = FloatVector.fromArray(S, w, b + LANES);
      FloatVector wh = FloatVector.fromArray(S, w, b + 2 * LANES);
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      z0 = v.fma(wz, z0);
      r0 = v.fma(wr, r0);
      q0 = v.fma(wh, q0);
      v = FloatVector.broadcast(S, a[a1 + kk]);
      z1 = v.fma(wz, z1);
      r1 = v.fma(wr, r1);
      q1 = v.fma(wh, q1);
      v = FloatVector.broadcast(S, a[a2 + kk]);
      z2 = v.fma(wz, z2);
      r2 = v.fma(wr, r2);
      q2 = v.fma(wh, q2);
      v = FloatVector.broadcast(S, a[a3 + kk]);
      z3 = v.fma(wz, z3);
      r3 = v.fma(wr, r3);
      q3 = v.fma(wh, q3);
    }
    int h = d + j;
    cell(z0, r0, a0v, q0, a, a0 + h, next);
    cell(z1, r1, a1v, q1, a, a1 + h, next);
    cell(z2, r2, a2v, q2, a, a2 + h, next);
    cell(z3, r3, a3v, q3, a, a3 + h, next);
  }

  /** One row of one group, {@code k} unrolled by two (eight accumulators). */
  private static void tile1(
      PackedGru p, float[] a, int a0, int d, int k, int panel, int j, float[] next) {
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
    cell(z0.add(z1), r0.add(r1), ah, q0.add(q1), a, a0 + d + j, next);
  }

  /** The gates of 16 units of one row; h is read from {@code a} and written to {@code next}. */
  private static void cell(
      FloatVector z,
      FloatVector r,
      FloatVector ah,
      FloatVector qh,
      float[] a,
      int h,
      float[] next) {
    FloatVector zg = sigmoid(z);
    FloatVector candidate = tanh(sigmoid(r).fma(qh, ah));
    FloatVector old = FloatVector.fromArray(S, a, h);
    zg.fma(old.sub(candidate), candidate).intoArray(next, h);
  }

  private static FloatVector sigmoid(FloatVector v) {
    return tanh(v.mul(0.5f)).fma(0.5f, 0.5f);
  }

  /** {@link FastMath}'s rational tanh, as {@link VectorKernels512#activate} computes it. */
  private static FloatVector tanh(FloatVector v) {
    FloatVector x = v.blend(CLAMP, v.compare(VectorOperators.GT, CLAMP));
    x = x.blend(-CLAMP, x.compare(VectorOperators.LT, -CLAMP));
    FloatVector x2 = x.mul(x);
    FloatVector p = x2.fma(A13, A11);
    p = p.fma(x2, FloatVector.broadcast(S, A9));
    p = p.fma(x2, FloatVector.broadcast(S, A7));
    p = p.fma(x2, FloatVector.broadcast(S, A5));
    p = p.fma(x2, FloatVector.broadcast(S, A3));
    p = p.fma(x2, FloatVector.broadcast(S, A1));
    p = p.mul(x);
    FloatVector qq = x2.fma(B6, B4);
    qq = qq.fma(x2, FloatVector.broadcast(S, B2));
    qq = qq.fma(x2, FloatVector.broadcast(S, B0));
    return p.div(qq);
  }
}
