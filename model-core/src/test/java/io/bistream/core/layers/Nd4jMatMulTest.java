package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The native GEMM path of {@link Nd4jMatMul}: its products, and the native buffers a thread keeps
 * for them, which must not grow with the number of shapes it has seen (exact mode's products at a
 * sequence's end have as many rows as the sequence has steps).
 */
class Nd4jMatMulTest {

  private static final int K = 8;
  private static final int COLS = 3; // not a multiple of the Vector API panel: the GEMM path

  @Test
  void productsOfEveryShapeShareTwoBuffersPerThreadSizedByTheLargest() throws Exception {
    onAThreadOfItsOwn(Nd4jMatMulTest::manyShapes);
  }

  private static void manyShapes() {
    Random rnd = new Random(5);
    float[] w = RecurrentBackendsTest.random(rnd, K * COLS, 1);
    Nd4jMatMul mm = new Nd4jMatMul();
    int most = 0;
    for (int rows = Nd4jMatMul.JAVA_ROWS; rows < Nd4jMatMul.JAVA_ROWS + 300; rows += 3) {
      float[] a = RecurrentBackendsTest.random(rnd, rows * K, 1);
      float[] out = RecurrentBackendsTest.random(rnd, rows * COLS, 1);
      float[] before = out.clone();
      boolean accumulate = rows % 2 == 0;
      mm.multiply(a, rows, K, w, COLS, out, accumulate);
      assertProduct(a, rows, w, out, accumulate ? before : null, 1);
      most = rows;
    }
    assertThat(Nd4jMatMul.scratchFloats())
        .as("100 shapes, the largest [%d, %d] x [%d, %d]", most, K, K, COLS)
        .isLessThan(2L * most * (K + COLS));
  }

  @Test
  void aProductLargerThanWhatAThreadKeepsLeavesNoBufferThatLargeBehind() throws Exception {
    onAThreadOfItsOwn(Nd4jMatMulTest::oneLargeProduct);
  }

  private static void oneLargeProduct() {
    Random rnd = new Random(6);
    float[] w = RecurrentBackendsTest.random(rnd, K * COLS, 1);
    // Both the operand and the result outgrow what a thread keeps.
    int rows = Math.toIntExact(Nd4jMatMul.KEPT_FLOATS / COLS + 1);
    float[] a = RecurrentBackendsTest.random(rnd, rows * K, 1);
    float[] out = new float[rows * COLS];
    new Nd4jMatMul().multiply(a, rows, K, w, COLS, out, false);
    assertProduct(a, rows, w, out, null, 4099);
    assertThat(Nd4jMatMul.scratchFloats()).isZero();
  }

  /** Runs {@code test} where no earlier product left buffers: the buffers are per thread. */
  private static void onAThreadOfItsOwn(Runnable test) throws Exception {
    ExecutorService thread = Executors.newSingleThreadExecutor();
    try {
      thread.submit(test).get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Error error) {
        throw error;
      }
      throw e;
    } finally {
      thread.shutdown();
    }
  }

  /**
   * {@code out} is {@code a w} (plus {@code added}), by the definition, in double precision: every
   * {@code stride}th row and the last.
   */
  private static void assertProduct(
      float[] a, int rows, float[] w, float[] out, float[] added, int stride) {
    int[] checked =
        IntStream.concat(
                IntStream.iterate(0, r -> r < rows, r -> r + stride), IntStream.of(rows - 1))
            .toArray();
    for (int r : checked) {
      for (int c = 0; c < COLS; c++) {
        double sum = added == null ? 0 : added[r * COLS + c];
        for (int i = 0; i < K; i++) {
          sum += (double) a[r * K + i] * w[i * COLS + c];
        }
        assertThat(out[r * COLS + c])
            .as("row %d, column %d", r, c)
            .isCloseTo((float) sum, within(1e-5f));
      }
    }
  }
}
