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
 * {@link VectorKernels#lstmStep} in 512-bit registers, for CPUs with AVX-512 ({@link Simd#WIDE}):
 * units in groups of 16 (one vector per gate), panels of 32 columns (two gates of a group), 5 x 32
 * result tiles in ten accumulators. The same loop structure as the 256-bit kernel, which stays for
 * AVX2 and for units not a multiple of 16; docs/benchmarks.md ("Kernel width") has the measurements
 * that decide which one runs by default.
 */
final class VectorKernels512 {

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
  private static final int LANES = 16;

  /** Units per group: one 512-bit vector of each gate. */
  static final int UNITS = LANES;

  /** Columns per packed panel: two gates of a group. */
  static final int PANEL = 2 * LANES;

  private VectorKernels512() {}

  /** Whether this JVM runs 512-bit float vectors in registers on this CPU. */
  static boolean supported() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= S.vectorBitSize();
  }

  /** Length of the scratch array {@link #lstmStep} needs for {@code n} rows. */
  static int lstmScratch(int n) {
    return 4 * UNITS * n;
  }

  /** {@link VectorKernels.PackedLstm} for groups of 16 units; {@code u} a multiple of 16. */
  record PackedLstm(int inputSize, int units, float[] weights, float[] bias) {

    static PackedLstm of(int d, int u, float[] kernel, float[] recurrentKernel, float[] bias) {
      return new PackedLstm(d, u, packLstm(kernel, recurrentKernel, d, u), bias);
    }
  }

  /**
   * As the 256-bit packing with groups of 16 units: per group two panels (gates i and f, then g and
   * o), each holding for every one of the {@code d + u} rows the 16 columns of the group from each
   * of its two gate blocks side by side (32 values, two cache lines).
   */
  private static float[] packLstm(float[] kernel, float[] recurrent, int d, int u) {
    float[] out = new float[kernel.length + recurrent.length];
    int at = 0;
    for (int q = 0; q < u / UNITS; q++) {
      for (int pair = 0; pair < 4; pair += 2) {
        for (int kk = 0; kk < d + u; kk++) {
          float[] w = kk < d ? kernel : recurrent;
          int row = (kk < d ? kk : kk - d) * 4 * u;
          for (int gate = pair; gate < pair + 2; gate++) {
            System.arraycopy(w, row + gate * u + q * UNITS, out, at, UNITS);
            at += UNITS;
          }
        }
      }
    }
    return out;
  }

  /** {@link VectorKernels#lstmStep} with groups of 16 units; same arguments and layout. */
  static void lstmStep(PackedLstm w, float[] xh, float[] c, int n, float[] next, float[] z) {
    int d = w.inputSize();
    int u = w.units();
    int k = d + u;
    int fives = VectorKernels.fiveRowTiles(n) * 5;
    int tiled = fives + (n - fives) / 4 * 4;
    for (int q = 0; q < u / UNITS; q++) {
      for (int pair = 0; pair < 4; pair += 2) {
        int panel = (q * 4 + pair) * k * UNITS;
        int at0 = pair * n * UNITS;
        int at1 = at0 + n * UNITS;
        int bias = pair * u + q * UNITS;
        FloatVector b0 = FloatVector.fromArray(S, w.bias(), bias);
        FloatVector b1 = FloatVector.fromArray(S, w.bias(), bias + u);
        for (int m = 0; m < tiled; m++) {
          b0.intoArray(z, at0 + m * UNITS);
          b1.intoArray(z, at1 + m * UNITS);
        }
        int r = 0;
        for (; r < fives; r += 5) {
          int o = r * UNITS;
          tile5(xh, r * k, k, w.weights(), panel, z, at0 + o, at1 + o);
        }
        for (; r + 3 < n; r += 4) {
          int o = r * UNITS;
          tile4(xh, r * k, k, w.weights(), panel, z, at0 + o, at1 + o);
        }
        for (; r < n; r++) {
          int o = r * UNITS;
          tile1(xh, r * k, k, w.weights(), panel, w.bias(), bias, bias + u, z, at0 + o, at1 + o);
        }
      }
      lstmCells(z, n, c, q * UNITS, u, next, d + q * UNITS, k);
    }
  }

  /** Four rows against one panel, added to {@code out} (row {@code m} at {@code o + m * 16}). */
  private static void tile4(
      float[] a, int a0, int k, float[] w, int panel, float[] out, int o0, int o1) {
    int s = UNITS;
    FloatVector c00 = FloatVector.fromArray(S, out, o0);
    FloatVector c01 = FloatVector.fromArray(S, out, o1);
    FloatVector c10 = FloatVector.fromArray(S, out, o0 + s);
    FloatVector c11 = FloatVector.fromArray(S, out, o1 + s);
    FloatVector c20 = FloatVector.fromArray(S, out, o0 + 2 * s);
    FloatVector c21 = FloatVector.fromArray(S, out, o1 + 2 * s);
    FloatVector c30 = FloatVector.fromArray(S, out, o0 + 3 * s);
    FloatVector c31 = FloatVector.fromArray(S, out, o1 + 3 * s);
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    for (int kk = 0; kk < k; kk++) {
      int b = panel + kk * PANEL;
      FloatVector w0 = FloatVector.fromArray(S, w, b);
      FloatVector w1 = FloatVector.fromArray(S, w, b + LANES);
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      c00 = v.fma(w0, c00);
      c01 = v.fma(w1, c01);
      v = FloatVector.broadcast(S, a[a1 + kk]);
      c10 = v.fma(w0, c10);
      c11 = v.fma(w1, c11);
      v = FloatVector.broadcast(S, a[a2 + kk]);
      c20 = v.fma(w0, c20);
      c21 = v.fma(w1, c21);
      v = FloatVector.broadcast(S, a[a3 + kk]);
      c30 = v.fma(w0, c30);
      c31 = v.fma(w1, c31);
    }
    c00.intoArray(out, o0);
    c01.intoArray(out, o1);
    c10.intoArray(out, o0 + s);
    c11.intoArray(out, o1 + s);
    c20.intoArray(out, o0 + 2 * s);
    c21.intoArray(out, o1 + 2 * s);
    c30.intoArray(out, o0 + 3 * s);
    c31.intoArray(out, o1 + 3 * s);
  }

  /** {@link #tile4} for five rows: ten accumulators. */
  private static void tile5(
      float[] a, int a0, int k, float[] w, int panel, float[] out, int o0, int o1) {
    int s = UNITS;
    FloatVector c00 = FloatVector.fromArray(S, out, o0);
    FloatVector c01 = FloatVector.fromArray(S, out, o1);
    FloatVector c10 = FloatVector.fromArray(S, out, o0 + s);
    FloatVector c11 = FloatVector.fromArray(S, out, o1 + s);
    FloatVector c20 = FloatVector.fromArray(S, out, o0 + 2 * s);
    FloatVector c21 = FloatVector.fromArray(S, out, o1 + 2 * s);
    FloatVector c30 = FloatVector.fromArray(S, out, o0 + 3 * s);
    FloatVector c31 = FloatVector.fromArray(S, out, o1 + 3 * s);
    FloatVector c40 = FloatVector.fromArray(S, out, o0 + 4 * s);
    FloatVector c41 = FloatVector.fromArray(S, out, o1 + 4 * s);
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    int a4 = a3 + k;
    for (int kk = 0; kk < k; kk++) {
      int b = panel + kk * PANEL;
      FloatVector w0 = FloatVector.fromArray(S, w, b);
      FloatVector w1 = FloatVector.fromArray(S, w, b + LANES);
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      c00 = v.fma(w0, c00);
      c01 = v.fma(w1, c01);
      v = FloatVector.broadcast(S, a[a1 + kk]);
      c10 = v.fma(w0, c10);
      c11 = v.fma(w1, c11);
      v = FloatVector.broadcast(S, a[a2 + kk]);
      c20 = v.fma(w0, c20);
      c21 = v.fma(w1, c21);
      v = FloatVector.broadcast(S, a[a3 + kk]);
      c30 = v.fma(w0, c30);
      c31 = v.fma(w1, c31);
      v = FloatVector.broadcast(S, a[a4 + kk]);
      c40 = v.fma(w0, c40);
      c41 = v.fma(w1, c41);
    }
    c00.intoArray(out, o0);
    c01.intoArray(out, o1);
    c10.intoArray(out, o0 + s);
    c11.intoArray(out, o1 + s);
    c20.intoArray(out, o0 + 2 * s);
    c21.intoArray(out, o1 + 2 * s);
    c30.intoArray(out, o0 + 3 * s);
    c31.intoArray(out, o1 + 3 * s);
    c40.intoArray(out, o0 + 4 * s);
    c41.intoArray(out, o1 + 4 * s);
  }

  /** One row from the bias, {@code k} unrolled by four (eight accumulators). */
  private static void tile1(
      float[] a,
      int a0,
      int k,
      float[] w,
      int panel,
      float[] init,
      int i0,
      int i1,
      float[] out,
      int o0,
      int o1) {
    FloatVector c0 = FloatVector.fromArray(S, init, i0);
    FloatVector c1 = FloatVector.fromArray(S, init, i1);
    FloatVector d0 = FloatVector.zero(S);
    FloatVector d1 = d0;
    FloatVector e0 = d0;
    FloatVector e1 = d0;
    FloatVector f0 = d0;
    FloatVector f1 = d0;
    int kk = 0;
    for (; kk + 3 < k; kk += 4) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      c0 = v.fma(FloatVector.fromArray(S, w, b), c0);
      c1 = v.fma(FloatVector.fromArray(S, w, b + LANES), c1);
      v = FloatVector.broadcast(S, a[a0 + kk + 1]);
      d0 = v.fma(FloatVector.fromArray(S, w, b + 2 * LANES), d0);
      d1 = v.fma(FloatVector.fromArray(S, w, b + 3 * LANES), d1);
      v = FloatVector.broadcast(S, a[a0 + kk + 2]);
      e0 = v.fma(FloatVector.fromArray(S, w, b + 4 * LANES), e0);
      e1 = v.fma(FloatVector.fromArray(S, w, b + 5 * LANES), e1);
      v = FloatVector.broadcast(S, a[a0 + kk + 3]);
      f0 = v.fma(FloatVector.fromArray(S, w, b + 6 * LANES), f0);
      f1 = v.fma(FloatVector.fromArray(S, w, b + 7 * LANES), f1);
    }
    for (; kk < k; kk++) {
      int b = panel + kk * PANEL;
      FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
      c0 = v.fma(FloatVector.fromArray(S, w, b), c0);
      c1 = v.fma(FloatVector.fromArray(S, w, b + LANES), c1);
    }
    c0.add(d0).add(e0.add(f0)).intoArray(out, o0);
    c1.add(d1).add(e1.add(f1)).intoArray(out, o1);
  }

  /** {@link VectorKernels}' gates and state update for 16 units (gate-major {@code z}). */
  private static void lstmCells(
      float[] z, int rows, float[] c, int cOff, int cStride, float[] h, int hOff, int hStride) {
    int block = rows * UNITS;
    activate(z, 0, 2 * block, true); // i, f
    activate(z, 2 * block, block, false); // g
    activate(z, 3 * block, block, true); // o
    for (int m = 0; m < rows; m++) {
      int at = m * UNITS;
      FloatVector i = FloatVector.fromArray(S, z, at);
      FloatVector f = FloatVector.fromArray(S, z, block + at);
      FloatVector g = FloatVector.fromArray(S, z, 2 * block + at);
      FloatVector cNew = f.mul(FloatVector.fromArray(S, c, cOff + m * cStride)).add(i.mul(g));
      cNew.intoArray(c, cOff + m * cStride);
      cNew.intoArray(z, 2 * block + at);
    }
    activate(z, 2 * block, block, false); // tanh(c), where g was
    for (int m = 0; m < rows; m++) {
      int at = m * UNITS;
      FloatVector o = FloatVector.fromArray(S, z, 3 * block + at);
      o.mul(FloatVector.fromArray(S, z, 2 * block + at)).intoArray(h, hOff + m * hStride);
    }
  }

  /** {@link VectorKernels#activate} on 16 lanes; {@code len} a multiple of 16. */
  static void activate(float[] a, int off, int len, boolean sigmoid) {
    float in = sigmoid ? 0.5f : 1f;
    float outScale = sigmoid ? 0.5f : 1f;
    float outShift = sigmoid ? 0.5f : 0f;
    for (int j = 0; j < len; j += LANES) {
      FloatVector v = FloatVector.fromArray(S, a, off + j);
      FloatVector x = v.mul(in);
      x = x.blend(CLAMP, x.compare(VectorOperators.GT, CLAMP));
      x = x.blend(-CLAMP, x.compare(VectorOperators.LT, -CLAMP));
      FloatVector x2 = x.mul(x);
      FloatVector p = x2.fma(A13, A11);
      p = p.fma(x2, FloatVector.broadcast(S, A9));
      p = p.fma(x2, FloatVector.broadcast(S, A7));
      p = p.fma(x2, FloatVector.broadcast(S, A5));
      p = p.fma(x2, FloatVector.broadcast(S, A3));
      p = p.fma(x2, FloatVector.broadcast(S, A1));
      p = p.mul(x);
      FloatVector q = x2.fma(B6, B4);
      q = q.fma(x2, FloatVector.broadcast(S, B2));
      q = q.fma(x2, FloatVector.broadcast(S, B0));
      p.div(q).fma(outScale, outShift).intoArray(a, off + j);
    }
  }
}
