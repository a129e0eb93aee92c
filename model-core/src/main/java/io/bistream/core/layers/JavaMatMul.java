package io.bistream.core.layers;

/** The reference {@link MatMul}: a plain i-k-j loop, easy to check by eye. */
public final class JavaMatMul implements MatMul {

  // It keeps no state.
  @Override
  public MatMul forAnotherThread() {
    return this;
  }

  @Override
  public void multiply(
      float[] a, int rows, int k, float[] w, int cols, float[] out, boolean accumulate) {
    if (!accumulate) {
      java.util.Arrays.fill(out, 0, rows * cols, 0f);
    }
    for (int i = 0; i < rows; i++) {
      int outRow = i * cols;
      for (int p = 0; p < k; p++) {
        float av = a[i * k + p];
        if (av == 0f) {
          continue;
        }
        int wRow = p * cols;
        for (int j = 0; j < cols; j++) {
          out[outRow + j] += av * w[wRow + j];
        }
      }
    }
  }
}
