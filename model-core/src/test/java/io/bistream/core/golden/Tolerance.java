package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.fail;

import java.util.Arrays;

/** Element-wise comparison {@code |a - e| <= atol + rtol * |e|} with a readable failure. */
public final class Tolerance {

  private Tolerance() {}

  public static void assertClose(
      String what, float[] actual, float[] expected, double rtol, double atol) {
    if (actual.length != expected.length) {
      fail(what + ": " + actual.length + " values, expected " + expected.length);
    }
    double worst = 0;
    int worstAt = -1;
    for (int i = 0; i < actual.length; i++) {
      double err = Math.abs(actual[i] - expected[i]);
      double allowed = atol + rtol * Math.abs(expected[i]);
      if (!(err <= allowed) && (worstAt < 0 || err - allowed > worst)) {
        worst = err - allowed;
        worstAt = i;
      }
    }
    if (worstAt >= 0) {
      fail(
          what
              + ": value "
              + worstAt
              + " is "
              + actual[worstAt]
              + ", expected "
              + expected[worstAt]
              + " (rtol "
              + rtol
              + ", atol "
              + atol
              + "); first values "
              + Arrays.toString(Arrays.copyOf(actual, Math.min(6, actual.length)))
              + " vs "
              + Arrays.toString(Arrays.copyOf(expected, Math.min(6, expected.length))));
    }
  }
}
