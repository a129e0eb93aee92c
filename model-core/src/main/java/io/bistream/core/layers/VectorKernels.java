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
 * The recurrence step's hot loops written with the Vector API (JDK 17 incubator), used when {@link
 * Simd#ENABLED}: the whole LSTM step ({@link #lstmStep}: both products, gates, state update) and a
 * GEMM over pre-packed weights for the few-row products of GRU and SimpleRNN steps ({@link
 * #multiply}).
 *
 * <p>One vector width for all of them: {@code L} = 8 lanes (256-bit, AVX2) or 16 (512-bit, where
 * the JVM prefers 512-bit vectors; see {@link #species}). Both hold a 5 x 2L tile of the result in
 * ten registers and walk {@code k} with one broadcast per row and two loads of weights per step.
 * The measurements below were taken at L = 8. Ten accumulators, because a fused multiply-add takes
 * 4 cycles on the project's machine (AMD Zen 3) and two issue per cycle: with the eight of a 4 x 16
 * tile any stall idles a pipe (5 x 16 made offline N=32 5-6% and N=256 10% faster, the two builds
 * run in alternating processes), and the twelve of 6 x 16 no longer fit C2's allocation of the 16
 * AVX2 registers (about half speed). Weights are packed once into panels of 2L columns, 8 KB per
 * panel at {@code k = 128} and L = 8, and the loops run panel by panel so a panel stays in L1 while
 * every row tile passes over it. On the project's machine this holds 55-73 GFLOP/s at 4 to 256
 * rows, where OpenBLAS, which packs the weights again on every call, reaches 10-45 at 4-32 rows
 * with the copies to native memory its call needs.
 *
 * <p>The gates evaluate {@link FastMath}'s rational approximations on L lanes at a time, with fused
 * multiply-adds.
 */
final class VectorKernels {

  // One width for every kernel in the JVM, fixed when the class loads (a constant to C2): on JDK
  // 17,
  // once vector code of two widths has run in one process, C2 compiles later vector code with
  // boxed vectors, 100-1000x slower (docs/benchmarks.md, "Kernel width").
  static final VectorSpecies<Float> SPECIES = species();
  private static final VectorSpecies<Float> S = SPECIES;
  private static final int LANES = S.length();

  /** Columns per packed panel: two vectors of floats. */
  static final int PANEL = 2 * LANES;

  private VectorKernels() {}

  /**
   * 512-bit vectors where the JVM prefers them (AVX-512) unless the system property {@code
   * bistream.simd.bits} is {@code 256} (for A/B runs and tests), else 256-bit.
   */
  private static VectorSpecies<Float> species() {
    boolean wide =
        FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512
            && !"256".equals(System.getProperty("bistream.simd.bits"));
    return wide ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
  }

  /** The width of every vector these kernels use: 256 or 512 bits. */
  static int bits() {
    return S.vectorBitSize();
  }

  /** The widest float vector the JVM uses on this CPU (256 on AVX2, 512 on AVX-512). */
  static int preferredBits() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize();
  }

  static boolean supported() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
  }

  /**
   * A row-major {@code [k, cols]} matrix as panels of {@link #PANEL} columns: value {@code (kk, p *
   * PANEL + j)} at {@code (p * k + kk) * PANEL + j}. {@code cols} must be a multiple of {@link
   * #PANEL}.
   */
  static float[] pack(float[] w, int k, int cols) {
    float[] out = new float[k * cols];
    for (int p = 0; p < cols / PANEL; p++) {
      for (int kk = 0; kk < k; kk++) {
        System.arraycopy(w, kk * cols + p * PANEL, out, (p * k + kk) * PANEL, PANEL);
      }
    }
    return out;
  }

  /**
   * {@code out[rows, cols] = a[rows, k] · w}, or {@code +=} when {@code accumulate}; {@code packed}
   * is {@code w} through {@link #pack}.
   */
  static void multiply(
      float[] a, int rows, int k, float[] packed, int cols, float[] out, boolean accumulate) {
    float[] init = accumulate ? out : null;
    int fives = fiveRowTiles(rows) * 5;
    for (int p = 0; p < cols / PANEL; p++) {
      int panel = p * k * PANEL;
      int col = p * PANEL;
      int r = 0;
      for (; r < fives; r += 5) {
        int o = r * cols + col;
        tile5(a, r * k, k, packed, panel, out, o, o + LANES, cols, accumulate);
      }
      for (; r + 3 < rows; r += 4) {
        int o = r * cols + col;
        tile4(a, r * k, k, packed, panel, out, o, o + LANES, cols, accumulate);
      }
      for (; r < rows; r++) {
        int o = r * cols + col;
        tile1(a, r * k, k, packed, panel, init, o, o + LANES, out, o, o + LANES);
      }
    }
  }

  /** Units per group of the fused LSTM step: one vector of each gate. */
  static final int UNITS = LANES;

  /** Length of the scratch array {@link #lstmStep} needs for {@code n} rows: their four gates. */
  static int lstmScratch(int n) {
    return 4 * UNITS * n;
  }

  /**
   * An LSTM's weights packed for {@link #lstmStep}: the kernel ({@code [d, 4u]}) stacked on the
   * recurrent kernel ({@code [u, 4u]}) through {@link #packLstm}, and the bias ({@code 4u}).
   */
  record PackedLstm(int inputSize, int units, float[] weights, float[] bias) {

    static PackedLstm of(int d, int u, float[] kernel, float[] recurrentKernel, float[] bias) {
      return new PackedLstm(d, u, packLstm(kernel, recurrentKernel, d, u), bias);
    }
  }

  /**
   * The {@code [d + u, 4u]} matrix of {@code kernel} ({@code [d, 4u]}) stacked on {@code recurrent}
   * ({@code [u, 4u]}), gate blocks i, f, g, o, packed for {@link #lstmStep}: for each group {@code
   * q} of {@link #UNITS} units, two panels, gates i and f then g and o; a panel holds, for each of
   * the {@code d + u} rows, the columns of the group from each of its two gate blocks side by side
   * (one or two cache lines). {@code u} must be a multiple of {@link #UNITS}.
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

  /**
   * One LSTM step of {@code n} rows, sigmoid gates and tanh, with the product, the gates and the
   * state update fused per group of {@link #UNITS} units: the pre-activations of a group live in
   * registers and a scratch of {@link #lstmScratch} floats (4 KB at {@code n = 32}), never in a
   * {@code [n, 4u]} array.
   *
   * <p>Row {@code r} of {@code xh} ({@code [n, d + u]}) is the step's input followed by the current
   * h; the new h goes to the h part of the same row of {@code next} (its x part is left alone), and
   * {@code c} ({@code [n, u]}) is updated in place. So a caller alternates two buffers and never
   * copies h between steps.
   *
   * <p>A tile is five (or four) rows against one panel (two gates of a group): ten accumulators,
   * one cache line of weights (two loads) and five broadcasts per step of {@code k = d + u}. A
   * panel (12 KB at {@code d = 64, u = 128}) stays in L1 while every row passes over it; then the
   * other panel; then the gates of all rows of the group in one pass. Rows left over (only below 16
   * rows) run one at a time.
   */
  static void lstmStep(PackedLstm w, float[] xh, float[] c, int n, float[] next, float[] z) {
    int d = w.inputSize();
    int u = w.units();
    int k = d + u;
    int eights = LANES == 16 ? n / 8 * 8 : 0; // 512-bit only: see tile8
    int fives = eights + fiveRowTiles(n - eights) * 5;
    int tiled = fives + (n - fives) / 4 * 4; // rows in tiles; tile1 reads the bias itself
    for (int q = 0; q < u / UNITS; q++) {
      for (int pair = 0; pair < 4; pair += 2) {
        int panel = (q * 4 + pair) * k * UNITS;
        int at0 = pair * n * UNITS; // gate g of row m at (g * n + m) * UNITS
        int at1 = at0 + n * UNITS;
        int bias = pair * u + q * UNITS; // of the first gate; the second's is u further
        FloatVector b0 = FloatVector.fromArray(S, w.bias(), bias);
        FloatVector b1 = FloatVector.fromArray(S, w.bias(), bias + u);
        for (int m = 0; m < tiled; m++) {
          b0.intoArray(z, at0 + m * UNITS);
          b1.intoArray(z, at1 + m * UNITS);
        }
        int r = 0;
        for (; r < eights; r += 8) {
          int o = r * UNITS;
          tile8(xh, r * k, k, w.weights(), panel, z, at0 + o, at1 + o, UNITS);
        }
        for (; r < fives; r += 5) {
          int o = r * UNITS;
          tile5(xh, r * k, k, w.weights(), panel, z, at0 + o, at1 + o, UNITS, true);
        }
        for (; r + 3 < n; r += 4) {
          int o = r * UNITS;
          tile4(xh, r * k, k, w.weights(), panel, z, at0 + o, at1 + o, UNITS, true);
        }
        for (; r < n; r++) {
          int o = r * UNITS;
          tile1(xh, r * k, k, w.weights(), panel, w.bias(), bias, bias + u, z, at0 + o, at1 + o);
        }
      }
      lstmCells(z, n, c, q * UNITS, u, next, d + q * UNITS, k);
    }
  }

  /**
   * Rows {@code a0}, {@code a0 + k}, {@code a0 + 2k}, {@code a0 + 3k} of {@code a} ({@code k}
   * values each) against one panel of 2L columns: row {@code m}'s first L columns go to {@code
   * out[o0 + m * stride]}, its last L to {@code out[o1 + m * stride]}, added to what is there when
   * {@code acc}. Eight accumulators, one cache line of weights (two loads) and four broadcasts per
   * step of {@code k}.
   */
  private static void tile4(
      float[] a,
      int a0,
      int k,
      float[] w,
      int panel,
      float[] out,
      int o0,
      int o1,
      int stride,
      boolean acc) {
    FloatVector c00 = acc ? FloatVector.fromArray(S, out, o0) : FloatVector.zero(S);
    FloatVector c01 = acc ? FloatVector.fromArray(S, out, o1) : FloatVector.zero(S);
    FloatVector c10 = acc ? FloatVector.fromArray(S, out, o0 + stride) : FloatVector.zero(S);
    FloatVector c11 = acc ? FloatVector.fromArray(S, out, o1 + stride) : FloatVector.zero(S);
    FloatVector c20 = acc ? FloatVector.fromArray(S, out, o0 + 2 * stride) : FloatVector.zero(S);
    FloatVector c21 = acc ? FloatVector.fromArray(S, out, o1 + 2 * stride) : FloatVector.zero(S);
    FloatVector c30 = acc ? FloatVector.fromArray(S, out, o0 + 3 * stride) : FloatVector.zero(S);
    FloatVector c31 = acc ? FloatVector.fromArray(S, out, o1 + 3 * stride) : FloatVector.zero(S);
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
    c10.intoArray(out, o0 + stride);
    c11.intoArray(out, o1 + stride);
    c20.intoArray(out, o0 + 2 * stride);
    c21.intoArray(out, o1 + 2 * stride);
    c30.intoArray(out, o0 + 3 * stride);
    c31.intoArray(out, o1 + 3 * stride);
  }

  /**
   * How many of {@code n} rows run in {@link #tile5}: as many as leave a multiple of four (at most
   * sixteen rows) for {@link #tile4}; below 16 rows a few may be left for {@link #tile1}.
   */
  static int fiveRowTiles(int n) {
    int fours = (5 - n % 5) % 5;
    return 4 * fours <= n ? (n - 4 * fours) / 5 : n / 5;
  }

  /**
   * {@link #tile4} for five rows: ten accumulators. Written out like it rather than sharing a loop
   * over an array of accumulators, which C2 would keep in memory, not in registers.
   */
  private static void tile5(
      float[] a,
      int a0,
      int k,
      float[] w,
      int panel,
      float[] out,
      int o0,
      int o1,
      int stride,
      boolean acc) {
    FloatVector c00 = acc ? FloatVector.fromArray(S, out, o0) : FloatVector.zero(S);
    FloatVector c01 = acc ? FloatVector.fromArray(S, out, o1) : FloatVector.zero(S);
    FloatVector c10 = acc ? FloatVector.fromArray(S, out, o0 + stride) : FloatVector.zero(S);
    FloatVector c11 = acc ? FloatVector.fromArray(S, out, o1 + stride) : FloatVector.zero(S);
    FloatVector c20 = acc ? FloatVector.fromArray(S, out, o0 + 2 * stride) : FloatVector.zero(S);
    FloatVector c21 = acc ? FloatVector.fromArray(S, out, o1 + 2 * stride) : FloatVector.zero(S);
    FloatVector c30 = acc ? FloatVector.fromArray(S, out, o0 + 3 * stride) : FloatVector.zero(S);
    FloatVector c31 = acc ? FloatVector.fromArray(S, out, o1 + 3 * stride) : FloatVector.zero(S);
    FloatVector c40 = acc ? FloatVector.fromArray(S, out, o0 + 4 * stride) : FloatVector.zero(S);
    FloatVector c41 = acc ? FloatVector.fromArray(S, out, o1 + 4 * stride) : FloatVector.zero(S);
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
    c10.intoArray(out, o0 + stride);
    c11.intoArray(out, o1 + stride);
    c20.intoArray(out, o0 + 2 * stride);
    c21.intoArray(out, o1 + 2 * stride);
    c30.intoArray(out, o0 + 3 * stride);
    c31.intoArray(out, o1 + 3 * stride);
    c40.intoArray(out, o0 + 4 * stride);
    c41.intoArray(out, o1 + 4 * stride);
  }

  /**
   * {@link #tile5} for eight rows: sixteen accumulators, for 512-bit vectors only (AVX-512 has 32
   * registers; the 16 of AVX2 could not hold them). Two weight loads and eight broadcasts per
   * sixteen multiply-adds, where five rows take five per ten.
   */
  private static void tile8(
      float[] a, int a0, int k, float[] w, int panel, float[] out, int o0, int o1, int stride) {
    FloatVector c00 = FloatVector.fromArray(S, out, o0);
    FloatVector c01 = FloatVector.fromArray(S, out, o1);
    FloatVector c10 = FloatVector.fromArray(S, out, o0 + stride);
    FloatVector c11 = FloatVector.fromArray(S, out, o1 + stride);
    FloatVector c20 = FloatVector.fromArray(S, out, o0 + 2 * stride);
    FloatVector c21 = FloatVector.fromArray(S, out, o1 + 2 * stride);
    FloatVector c30 = FloatVector.fromArray(S, out, o0 + 3 * stride);
    FloatVector c31 = FloatVector.fromArray(S, out, o1 + 3 * stride);
    FloatVector c40 = FloatVector.fromArray(S, out, o0 + 4 * stride);
    FloatVector c41 = FloatVector.fromArray(S, out, o1 + 4 * stride);
    FloatVector c50 = FloatVector.fromArray(S, out, o0 + 5 * stride);
    FloatVector c51 = FloatVector.fromArray(S, out, o1 + 5 * stride);
    FloatVector c60 = FloatVector.fromArray(S, out, o0 + 6 * stride);
    FloatVector c61 = FloatVector.fromArray(S, out, o1 + 6 * stride);
    FloatVector c70 = FloatVector.fromArray(S, out, o0 + 7 * stride);
    FloatVector c71 = FloatVector.fromArray(S, out, o1 + 7 * stride);
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    int a4 = a3 + k;
    int a5 = a4 + k;
    int a6 = a5 + k;
    int a7 = a6 + k;
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
      v = FloatVector.broadcast(S, a[a5 + kk]);
      c50 = v.fma(w0, c50);
      c51 = v.fma(w1, c51);
      v = FloatVector.broadcast(S, a[a6 + kk]);
      c60 = v.fma(w0, c60);
      c61 = v.fma(w1, c61);
      v = FloatVector.broadcast(S, a[a7 + kk]);
      c70 = v.fma(w0, c70);
      c71 = v.fma(w1, c71);
    }
    c00.intoArray(out, o0);
    c01.intoArray(out, o1);
    c10.intoArray(out, o0 + stride);
    c11.intoArray(out, o1 + stride);
    c20.intoArray(out, o0 + 2 * stride);
    c21.intoArray(out, o1 + 2 * stride);
    c30.intoArray(out, o0 + 3 * stride);
    c31.intoArray(out, o1 + 3 * stride);
    c40.intoArray(out, o0 + 4 * stride);
    c41.intoArray(out, o1 + 4 * stride);
    c50.intoArray(out, o0 + 5 * stride);
    c51.intoArray(out, o1 + 5 * stride);
    c60.intoArray(out, o0 + 6 * stride);
    c61.intoArray(out, o1 + 6 * stride);
    c70.intoArray(out, o0 + 7 * stride);
    c71.intoArray(out, o1 + 7 * stride);
  }

  /**
   * {@link #tile4} for one row, starting from {@code init[i0]} and {@code init[i1]} (zero when
   * {@code init} is null; reading the LSTM bias here rather than from a copy in {@code out} was 15%
   * faster at batch 1); {@code k} unrolled by four so eight accumulators keep both FMA pipes busy
   * instead of waiting on two dependent chains.
   */
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
    FloatVector c0 = init == null ? FloatVector.zero(S) : FloatVector.fromArray(S, init, i0);
    FloatVector c1 = init == null ? FloatVector.zero(S) : FloatVector.fromArray(S, init, i1);
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

  /**
   * The gates and state update of {@link #UNITS} units of {@code rows} rows from their
   * pre-activations in {@code z}, gate-major (gate {@code g} of row {@code m} at {@code (g * rows +
   * m) * UNITS}; consumed): {@code c} updated in place (row {@code m} at {@code cOff + m *
   * cStride}) and the new h written to {@code h} (row {@code m} at {@code hOff + m * hStride}).
   *
   * <p>Each activation is one call to {@link #activate} over all rows of the tile, so its
   * iterations are independent and overlap; one row at a time, each call waited on the latency of
   * the previous one. {@link #activate} is a leaf whose only calls are the Vector API's own
   * (force-inlined) methods: C2 stops inlining ordinary methods past a node budget
   * (NodeCountInliningCutoff), and a helper taking or returning a vector that is left out of line
   * boxes every vector it touches (five approximations in one loop body through helpers ran at 5 ns
   * per value instead of under 1).
   */
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

  /**
   * {@code a[off + j] = act(a[off + j])} for {@code j < len} (a multiple of L), {@code act} the
   * logistic sigmoid or tanh of {@link FastMath}.
   */
  static void activate(float[] a, int off, int len, boolean sigmoid) {
    // sigmoid(v) = 0.5 + 0.5 tanh(0.5 v); for tanh the scalings are exact identities
    float in = sigmoid ? 0.5f : 1f;
    float outScale = sigmoid ? 0.5f : 1f;
    float outShift = sigmoid ? 0.5f : 0f;
    for (int j = 0; j < len; j += LANES) {
      FloatVector v = FloatVector.fromArray(S, a, off + j);
      // compare and blend: lane-wise max/min keep Math.max's NaN and -0 rules at ~3x the cost
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
