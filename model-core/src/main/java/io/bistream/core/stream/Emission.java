package io.bistream.core.stream;

/**
 * Outputs a sequence released, in step order: {@code steps} rows of {@code width} values for input
 * steps {@code firstStep ..}. A last-step model releases one row, for step T-1, when the sequence
 * ends.
 *
 * @param degraded true when exact mode degraded to lookahead for this sequence
 */
public record Emission(long firstStep, int steps, int width, float[] values, boolean degraded) {

  /** Row {@code i} (0-based within this emission). */
  public float[] row(int i) {
    float[] r = new float[width];
    System.arraycopy(values, i * width, r, 0, width);
    return r;
  }
}
