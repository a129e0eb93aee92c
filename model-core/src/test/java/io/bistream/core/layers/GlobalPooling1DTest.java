package io.bistream.core.layers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.tensor.Tensor;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Keras' pooling definitions on hand-worked values: the masked mean divides the kept steps' sum by
 * their count (keras.layers.GlobalAveragePooling1D.call); the maximum takes no mask.
 */
class GlobalPooling1DTest {

  // two sequences of 3 steps, 2 features
  private static final Tensor X =
      new Tensor(new float[] {1, -2, 3, 4, 5, 0, /* */ -1, 1, 7, 7, -3, 9}, new int[] {2, 3, 2});

  @Test
  void averageCountsOnlyTheStepsTheMaskKeeps() {
    boolean[] mask = {true, true, false, /* */ true, false, true};
    Layer.Output out =
        new GlobalPooling1D("gap", GlobalPooling1D.Reduce.AVERAGE)
            .apply(List.of(X), mask, new JavaMatMul());
    assertThat(out.tensors().get(0).shape()).containsExactly(2, 2);
    assertThat(out.tensors().get(0).data()).containsExactly(2f, 1f, -2f, 5f);
    assertThat(out.mask()).isNull();
  }

  @Test
  void averageWithoutMaskIsTheMeanOverTime() {
    Layer.Output out =
        new GlobalPooling1D("gap", GlobalPooling1D.Reduce.AVERAGE)
            .apply(List.of(X), null, new JavaMatMul());
    assertThat(out.tensors().get(0).data())
        .containsExactly(new float[] {3f, 2f / 3f, 1f, 17f / 3f}, Offset.offset(1e-6f));
  }

  @Test
  void maximumTakesTheLargestStepPerFeatureAndRefusesAMask() {
    GlobalPooling1D max = new GlobalPooling1D("gmp", GlobalPooling1D.Reduce.MAX);
    assertThat(max.apply(List.of(X), null, new JavaMatMul()).tensors().get(0).data())
        .containsExactly(5f, 4f, 7f, 9f);
    assertThatThrownBy(() -> max.apply(List.of(X), new boolean[6], new JavaMatMul()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("layer 'gmp' (GlobalMaxPooling1D) receives a mask");
  }
}
