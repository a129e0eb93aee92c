package io.bistream.core.npy;

import static io.bistream.core.npy.NpyFixtures.float32Values;
import static io.bistream.core.npy.NpyFixtures.intValues;
import static io.bistream.core.npy.NpyFixtures.path;
import static io.bistream.core.npy.NpyFixtures.shape;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Reading files written by real NumPy; expected values are what NumPy read back (expected.json).
 */
class NpyReaderTest {

  static java.util.stream.Stream<String> readableFixtures() {
    return NpyFixtures.readable();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("readableFixtures")
  void readsEveryNumpyFixtureAsNumpySeesIt(String name) throws Exception {
    NpyArray a = NpyReader.read(path(name));

    assertThat(a.dtype().numpyName()).isEqualTo(NpyFixtures.numpyDtype(name));
    assertThat(a.shape()).containsExactly(shape(name));
    if (a.dtype().isFloat()) {
      assertThat(a.ints()).isNull();
      // Arrays.equals on floats compares bits: NaN matches NaN, -0.0 does not match 0.0.
      assertThat(a.floats()).isEqualTo(float32Values(name));
    } else {
      assertThat(a.floats()).isNull();
      assertThat(a.ints()).isEqualTo(intValues(name));
    }
  }

  @Test
  void readsLittleEndianFloat32InRowMajorOrder() throws Exception {
    NpyArray a = NpyReader.read(path("f4_2x3.npy"));

    assertThat(a.dtype()).isEqualTo(NpyDtype.FLOAT32);
    assertThat(a.rank()).isEqualTo(2);
    assertThat(a.size()).isEqualTo(6);
    // [[0.5, -1.25, 3.0], [1e-3, 65504.0, -0.0]]: element [0, 1] at 0 * 3 + 1
    assertThat(a.floats()[1]).isEqualTo(-1.25f);
    assertThat(a.floats()).isEqualTo(float32Values("f4_2x3.npy"));
  }

  @Test
  void readsBigEndianFilesToTheSameValuesAsLittleEndian() throws Exception {
    assertThat(NpyReader.read(path("f4_big_endian_2x3.npy")))
        .isEqualTo(NpyReader.read(path("f4_2x3.npy")));
    assertThat(NpyReader.read(path("i4_big_endian_2x3.npy")))
        .isEqualTo(NpyReader.read(path("i4_2x3.npy")));
    assertThat(NpyReader.read(path("f8_big_endian_2x3.npy")))
        .isEqualTo(NpyReader.read(path("f8_2x3.npy")));
    assertThat(NpyReader.read(path("i8_big_endian_4.npy")))
        .isEqualTo(NpyReader.read(path("i8_4.npy")));
  }

  @Test
  void readsFortranOrderFloat64AsRowMajorFloat32() throws Exception {
    NpyArray a = NpyReader.read(path("f8_fortran_2x3x4.npy"));

    assertThat(a.dtype()).isEqualTo(NpyDtype.FLOAT64);
    assertThat(a.shape()).containsExactly(2, 3, 4);
    // arange(24).reshape(2, 3, 4) / 8: element [1, 2, 3] is 23 / 8 at row-major 1*12 + 2*4 + 3.
    assertThat(a.floats()[23]).isEqualTo(2.875f);
    assertThat(a.floats()).isEqualTo(float32Values("f8_fortran_2x3x4.npy"));
  }

  @Test
  void readsFortranOrderIntsAndNonSquareFloatsAsRowMajor() throws Exception {
    assertThat(NpyReader.read(path("i4_fortran_2x3.npy")).ints())
        .isEqualTo(NpyReader.read(path("i4_2x3.npy")).ints());
    // f4_fortran_3x2 is the transpose of f4_2x3: element [i, j] equals f4_2x3[j, i].
    float[] t = NpyReader.read(path("f4_fortran_3x2.npy")).floats();
    float[] c = NpyReader.read(path("f4_2x3.npy")).floats();
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 2; j++) {
        assertThat(t[i * 2 + j]).isEqualTo(c[j * 3 + i]);
      }
    }
  }

  @Test
  void narrowsFloat64ToNearestFloat32LikeNumpyAstype() throws Exception {
    NpyArray a = NpyReader.read(path("f8_2x3.npy"));

    assertThat(a.dtype()).isEqualTo(NpyDtype.FLOAT64);
    // [[0.1, 1/3, 1e40], [-1e-50, 2.5, pi]]: 1e40 overflows to infinity, -1e-50 underflows to -0.
    assertThat(a.floats()[2]).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Float.floatToIntBits(a.floats()[3])).isEqualTo(Float.floatToIntBits(-0.0f));
    assertThat(a.floats()).isEqualTo(float32Values("f8_2x3.npy"));
  }

  @Test
  void keepsNanInfinitiesSubnormalsAndNegativeZeroBitExact() throws Exception {
    float[] f = NpyReader.read(path("f4_special_values.npy")).floats();

    assertThat(f[0]).isNaN();
    assertThat(f[3]).isEqualTo(Float.MIN_VALUE);
    assertThat(f[4]).isEqualTo(Float.MAX_VALUE);
    assertThat(f).isEqualTo(float32Values("f4_special_values.npy"));
  }

  @Test
  void readsInt64WithinIntRangeAndRecordsTheSourceDtype() throws Exception {
    NpyArray a = NpyReader.read(path("i8_4.npy"));

    assertThat(a.dtype()).isEqualTo(NpyDtype.INT64);
    assertThat(a.ints()).containsExactly(Integer.MIN_VALUE, Integer.MAX_VALUE, 0, 42);
  }

  @Test
  void readsUint8Int8AndBoolAsInts() throws Exception {
    assertThat(NpyReader.read(path("u1_4.npy")).ints()).containsExactly(0, 127, 128, 255);
    assertThat(NpyReader.read(path("i1_4.npy")).ints()).containsExactly(-128, -1, 0, 127);
    NpyArray bools = NpyReader.read(path("bool_3.npy"));
    assertThat(bools.dtype()).isEqualTo(NpyDtype.BOOL);
    assertThat(bools.ints()).containsExactly(1, 0, 1);
  }

  @Test
  void readsVersion2And3HeadersLikeVersion1() throws Exception {
    NpyArray v1 = NpyReader.read(path("f4_2x3.npy"));

    assertThat(NpyReader.read(path("f4_v2_2x3.npy"))).isEqualTo(v1);
    assertThat(NpyReader.read(path("f4_v3_2x3.npy"))).isEqualTo(v1);
  }

  @Test
  void readsZeroDimensionalArrayAsRankZeroWithOneElement() throws Exception {
    NpyArray f = NpyReader.read(path("f4_scalar.npy"));
    NpyArray i = NpyReader.read(path("i4_scalar.npy"));

    assertThat(f.rank()).isZero();
    assertThat(f.size()).isEqualTo(1);
    assertThat(f.floats()).containsExactly(3.5f);
    assertThat(i.ints()).containsExactly(-7);
  }

  @Test
  void readsEmptyArraysWithTheirShape() throws Exception {
    NpyArray flat = NpyReader.read(path("f4_empty_0.npy"));
    NpyArray cube = NpyReader.read(path("i4_empty_2x0x3.npy"));

    assertThat(flat.shape()).containsExactly(0);
    assertThat(flat.floats()).isEmpty();
    assertThat(cube.shape()).containsExactly(2, 0, 3);
    assertThat(cube.ints()).isEmpty();
  }

  @Test
  void readsHeaderThatFillsItsBlockExactlyPaddedByAWhole64Bytes() throws Exception {
    NpyArray a = NpyReader.read(path("i4_padding_boundary.npy"));

    assertThat(a.rank()).isEqualTo(14);
    assertThat(a.ints()[99]).isEqualTo(99);
  }
}
