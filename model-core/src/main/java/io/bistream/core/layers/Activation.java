package io.bistream.core.layers;

import java.util.Locale;

/**
 * Element-wise activation functions with the exact definitions Keras uses.
 *
 * <p>{@code hard_sigmoid} changed between Keras versions: Keras 2 (and TF.js) define it as {@code
 * clip(0.2x + 0.5, 0, 1)}, Keras 3 as {@code relu6(x + 3) / 6 = clip(x/6 + 0.5, 0, 1)}. {@link
 * #fromKeras(String, int)} picks the one the file's Keras major version defines. {@code softmax}
 * and {@code log_softmax} normalise over the last axis; every other function is element-wise.
 */
public enum Activation {
  LINEAR("linear"),
  TANH("tanh"),
  SIGMOID("sigmoid"),
  HARD_SIGMOID_KERAS2("hard_sigmoid"),
  HARD_SIGMOID_KERAS3("hard_sigmoid"),
  RELU("relu"),
  ELU("elu"),
  SELU("selu"),
  SOFTSIGN("softsign"),
  SOFTPLUS("softplus"),
  SWISH("swish"),
  EXPONENTIAL("exponential"),
  /** {@code x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))}: torch's {@code GELU()}, Keras' default. */
  GELU("gelu"),
  /**
   * {@code 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))}: {@code GELU(approximate='tanh')}.
   */
  GELU_TANH("gelu_tanh"),
  SOFTMAX("softmax"),
  LOG_SOFTMAX("log_softmax");

  private static final double SELU_ALPHA = 1.6732632423543772848170429916717;
  private static final double SELU_SCALE = 1.0507009873554804934193349852946;

  private final String kerasName;

  Activation(String kerasName) {
    this.kerasName = kerasName;
  }

  /** The name Keras writes in a config. */
  public String kerasName() {
    return kerasName;
  }

  /**
   * Maps a Keras activation name to its definition.
   *
   * @param name the config value, e.g. {@code "tanh"} or {@code "hardSigmoid"} (TF.js spelling)
   * @param kerasMajor the Keras major version that wrote the file (decides {@code hard_sigmoid})
   * @throws IllegalArgumentException naming the activation and the supported ones
   */
  public static Activation fromKeras(String name, int kerasMajor) {
    String key = name == null ? "linear" : name.replaceAll("([a-z])([A-Z])", "$1_$2");
    key = key.toLowerCase(Locale.ROOT);
    return switch (key) {
      case "linear", "none" -> LINEAR;
      case "tanh" -> TANH;
      case "sigmoid" -> SIGMOID;
      case "hard_sigmoid" -> kerasMajor >= 3 ? HARD_SIGMOID_KERAS3 : HARD_SIGMOID_KERAS2;
      case "relu" -> RELU;
      case "elu" -> ELU;
      case "selu" -> SELU;
      case "softsign" -> SOFTSIGN;
      case "softplus" -> SOFTPLUS;
      case "swish", "silu" -> SWISH;
      case "exponential" -> EXPONENTIAL;
      case "gelu" -> GELU;
      case "softmax" -> SOFTMAX;
      case "log_softmax" -> LOG_SOFTMAX;
      default ->
          throw new IllegalArgumentException(
              "unsupported activation '"
                  + name
                  + "'; supported: linear, tanh, sigmoid, hard_sigmoid, relu, elu, selu, softsign,"
                  + " softplus, swish, exponential, gelu, softmax, log_softmax");
    };
  }

  /**
   * f(x) for the element-wise functions; {@link #SOFTMAX} and {@link #LOG_SOFTMAX} must use {@link
   * #applyRows}.
   */
  public float apply(float v) {
    double x = v;
    double y =
        switch (this) {
          case LINEAR -> x;
          case TANH -> Math.tanh(x);
          case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
          case HARD_SIGMOID_KERAS2 -> Math.min(1.0, Math.max(0.0, 0.2 * x + 0.5));
          case HARD_SIGMOID_KERAS3 -> Math.min(1.0, Math.max(0.0, x / 6.0 + 0.5));
          case RELU -> Math.max(0.0, x);
          case ELU -> x > 0 ? x : Math.expm1(x);
          case SELU -> SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x));
          case SOFTSIGN -> x / (1.0 + Math.abs(x));
          case SOFTPLUS -> Math.max(x, 0.0) + Math.log1p(Math.exp(-Math.abs(x)));
          case SWISH -> x / (1.0 + Math.exp(-x));
          case EXPONENTIAL -> Math.exp(x);
          case GELU -> 0.5 * x * (1.0 + erf(x / Math.sqrt(2.0)));
          case GELU_TANH ->
              0.5 * x * (1.0 + Math.tanh(Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));
          case SOFTMAX, LOG_SOFTMAX ->
              throw new IllegalStateException(kerasName + " is not element-wise");
        };
    return (float) y;
  }

  /**
   * The error function in double precision (Java has none): {@code erf(z) = 2/sqrt(pi) e^{-z^2}
   * sum_n 2^n z^{2n+1} / (1 * 3 * ... * (2n+1))}, a series of positive terms (no cancellation) that
   * converges for every z; beyond |z| = 6, erf is +-1 in double (erfc(6) = 2e-17).
   */
  static double erf(double z) {
    double a = Math.abs(z);
    if (a >= 6.0) {
      return Math.signum(z);
    }
    if (Double.isNaN(z)) {
      return z;
    }
    double term = a;
    double sum = a;
    for (int n = 1; n < 500 && term > sum * 1e-17; n++) {
      term *= 2.0 * a * a / (2 * n + 1);
      sum += term;
    }
    return Math.signum(z) * Math.min(1.0, 2.0 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum);
  }

  /** Applies in place to {@code len} values from {@code off}. */
  public void apply(float[] a, int off, int len) {
    if (this == LINEAR) {
      return;
    }
    if (this == SOFTMAX || this == LOG_SOFTMAX) {
      applyRows(a, off, len, len);
      return;
    }
    for (int i = off; i < off + len; i++) {
      a[i] = apply(a[i]);
    }
  }

  /**
   * Like {@link #apply(float[], int, int)}, with {@code tanh} and {@code sigmoid} through the
   * vectorised approximations of {@link FastMath} (within 4e-7 of the exact values): what the
   * recurrent cells use on the fast backend, where these two run for every unit of every step.
   */
  void applyFast(float[] a, int off, int len) {
    switch (this) {
      case TANH -> FastMath.tanh(a, off, len);
      case SIGMOID -> FastMath.sigmoid(a, off, len);
      default -> apply(a, off, len);
    }
  }

  /**
   * Applies in place to {@code len} values from {@code off} laid out as rows of {@code width}:
   * softmax normalises each row, log_softmax gives {@code x - max - log(sum(exp(x - max)))} per
   * row; element-wise functions ignore the row structure. Each {@code exp} is taken once per value
   * and kept in double until the division, so the result is what taking it twice gave.
   */
  public void applyRows(float[] a, int off, int len, int width) {
    if (this != SOFTMAX && this != LOG_SOFTMAX) {
      apply(a, off, len);
      return;
    }
    double[] e = new double[width];
    for (int row = off; row < off + len; row += width) {
      double max = Double.NEGATIVE_INFINITY;
      for (int i = row; i < row + width; i++) {
        max = Math.max(max, a[i]);
      }
      double sum = 0;
      for (int i = 0; i < width; i++) {
        e[i] = Math.exp(a[row + i] - max);
        sum += e[i];
      }
      if (this == SOFTMAX) {
        for (int i = 0; i < width; i++) {
          a[row + i] = (float) (e[i] / sum);
        }
      } else {
        double logSum = Math.log(sum);
        for (int i = row; i < row + width; i++) {
          a[i] = (float) (a[i] - max - logSum);
        }
      }
    }
  }
}
