package io.bistream.core.layers;

/**
 * {@code tanh} and the logistic sigmoid over float arrays, written as straight-line loops of
 * multiply, add, divide, min and max that HotSpot's C2 compiles to AVX vector instructions.
 *
 * <p>{@code tanh} is the odd rational approximation of degree 13/6 that Eigen (and through it
 * TensorFlow's CPU kernels) uses for float: at most 4e-7 from the exact value on the whole line
 * (the tests check a dense grid). The sigmoid is {@code 0.5 + 0.5 tanh(x / 2)}: within 2e-7
 * absolute of {@code 1 / (1 + e^-x)}. Per element this costs a few nanoseconds less than one call
 * of {@link Math#exp}, which is what makes a recurrence step at batch 1 cheap.
 */
final class FastMath {

  // Beyond this |x| the float tanh rounds to ±1 (Eigen's clamp).
  static final float CLAMP = 7.90531110763549805f;
  static final float A1 = 4.89352455891786e-03f;
  static final float A3 = 6.37261928875436e-04f;
  static final float A5 = 1.48572235717979e-05f;
  static final float A7 = 5.12229709037114e-08f;
  static final float A9 = -8.60467152213735e-11f;
  static final float A11 = 2.00018790482477e-13f;
  static final float A13 = -2.76076847742355e-16f;
  static final float B0 = 4.89352518554385e-03f;
  static final float B2 = 2.26843463243900e-03f;
  static final float B4 = 1.18534705686654e-04f;
  static final float B6 = 1.19825839466702e-06f;

  private FastMath() {}

  /** {@code a[i] = tanh(a[i])} for {@code len} values from {@code off}. */
  static void tanh(float[] a, int off, int len) {
    for (int i = off; i < off + len; i++) {
      a[i] = rationalTanh(a[i]);
    }
  }

  /** {@code a[i] = 1 / (1 + e^-a[i])} for {@code len} values from {@code off}. */
  static void sigmoid(float[] a, int off, int len) {
    for (int i = off; i < off + len; i++) {
      a[i] = 0.5f + 0.5f * rationalTanh(0.5f * a[i]);
    }
  }

  private static float rationalTanh(float v) {
    float x = Math.max(-CLAMP, Math.min(CLAMP, v));
    float x2 = x * x;
    float p = A13;
    p = p * x2 + A11;
    p = p * x2 + A9;
    p = p * x2 + A7;
    p = p * x2 + A5;
    p = p * x2 + A3;
    p = p * x2 + A1;
    p = p * x;
    float q = B6;
    q = q * x2 + B4;
    q = q * x2 + B2;
    q = q * x2 + B0;
    return p / q;
  }
}
