package io.bistream.core.npy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The array record validates itself and compares by content. */
class NpyArrayTest {

  @Test
  void rejectsShapeThatDoesNotMatchTheDataLength() {
    assertThatThrownBy(() -> NpyArray.ofFloats(new int[] {2, 3}, new float[5]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("shape (2, 3) needs 6 elements, found 5");
  }

  @Test
  void rejectsShapeWhoseProductOverflows() {
    int big = Integer.MAX_VALUE;
    assertThatThrownBy(() -> NpyArray.ofInts(new int[] {big, big, big}, new int[1]))
        .hasMessage(
            "shape (2147483647, 2147483647, 2147483647) needs more than 2^63 elements,"
                + " found 1");
  }

  @Test
  void acceptsAZeroDimensionAfterOneThatWouldOverflow() {
    int big = Integer.MAX_VALUE;

    NpyArray a = NpyArray.ofInts(new int[] {big, big, big, 0}, new int[0]);

    assertThat(a.size()).isZero();
  }

  @Test
  void rejectsNegativeDimension() {
    assertThatThrownBy(() -> NpyArray.ofFloats(new int[] {3, -1}, new float[0]))
        .hasMessage("shape (3, -1) has a negative dimension at axis 1");
  }

  @Test
  void requiresExactlyOneDataArrayMatchingTheDtype() {
    assertThatThrownBy(() -> new NpyArray(NpyDtype.FLOAT32, new int[] {1}, null, null))
        .hasMessage("exactly one of floats and ints must be non-null, found neither");
    assertThatThrownBy(
            () -> new NpyArray(NpyDtype.FLOAT32, new int[] {1}, new float[1], new int[1]))
        .hasMessage("exactly one of floats and ints must be non-null, found both");
    assertThatThrownBy(() -> new NpyArray(NpyDtype.INT64, new int[] {1}, new float[1], null))
        .hasMessage("dtype int64 is held in ints, found data in floats");
  }

  @Test
  void scalarHasRankZeroAndOneElement() {
    NpyArray a = NpyArray.ofFloats(new int[0], new float[] {2f});

    assertThat(a.rank()).isZero();
    assertThat(a.size()).isEqualTo(1);
    assertThat(a).hasToString("NpyArray[float32 ()]");
  }

  @Test
  void copiesTheShapeButSharesTheData() {
    int[] shape = {2};
    float[] data = {1, 2};
    NpyArray a = NpyArray.ofFloats(shape, data);

    shape[0] = 7;
    a.shape()[0] = 9;

    assertThat(a.shape()).containsExactly(2);
    assertThat(a.floats()).isSameAs(data);
  }

  @Test
  void comparesByDtypeShapeAndContents() {
    NpyArray a = NpyArray.ofInts(new int[] {2, 2}, new int[] {1, 2, 3, 4});

    assertThat(a).isEqualTo(NpyArray.ofInts(new int[] {2, 2}, new int[] {1, 2, 3, 4}));
    assertThat(a).hasSameHashCodeAs(NpyArray.ofInts(new int[] {2, 2}, new int[] {1, 2, 3, 4}));
    assertThat(a).isNotEqualTo(NpyArray.ofInts(new int[] {4}, new int[] {1, 2, 3, 4}));
    assertThat(a)
        .isNotEqualTo(new NpyArray(NpyDtype.INT64, new int[] {2, 2}, null, new int[] {1, 2, 3, 4}));
  }

  @Test
  void knowsNumpysDescrForEachDtype() {
    assertThat(NpyDtype.FLOAT32.descr()).isEqualTo("<f4");
    assertThat(NpyDtype.FLOAT64.descr()).isEqualTo("<f8");
    assertThat(NpyDtype.INT32.descr()).isEqualTo("<i4");
    assertThat(NpyDtype.INT64.descr()).isEqualTo("<i8");
    assertThat(NpyDtype.UINT8.descr()).isEqualTo("|u1");
    assertThat(NpyDtype.INT8.descr()).isEqualTo("|i1");
    assertThat(NpyDtype.BOOL.descr()).isEqualTo("|b1");
  }
}
