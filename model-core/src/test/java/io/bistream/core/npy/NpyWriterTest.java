package io.bistream.core.npy;

import static io.bistream.core.npy.NpyFixtures.path;
import static io.bistream.core.npy.NpyFixtures.shape;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Writing: byte-identical to {@code np.save} for the same array (so NumPy reads it without Python
 * in the test suite), and readable back by {@link NpyReader}.
 */
class NpyWriterTest {

  @TempDir Path tmp;

  static Stream<String> writerIdenticalFixtures() {
    return NpyFixtures.writerIdentical();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("writerIdenticalFixtures")
  void writesTheSameBytesAsNumpySave(String name) throws Exception {
    // Built from NumPy's recorded values, not from NpyReader, so the two are checked separately.
    NpyArray a =
        NpyFixtures.numpyDtype(name).equals("float32")
            ? NpyArray.ofFloats(shape(name), NpyFixtures.float32Values(name))
            : NpyArray.ofInts(shape(name), NpyFixtures.intValues(name));
    Path out = tmp.resolve(name);

    NpyWriter.write(out, a);

    assertThat(out).hasBinaryContent(Files.readAllBytes(path(name)));
  }

  @Test
  void writesNumpysExactVersion1HeaderForFloat32Matrix() throws Exception {
    Path out = tmp.resolve("m.npy");

    NpyWriter.write(out, NpyArray.ofFloats(new int[] {2, 3}, new float[6]));

    byte[] bytes = Files.readAllBytes(out);
    String header = new String(bytes, 10, 118, java.nio.charset.StandardCharsets.ISO_8859_1);
    assertThat(bytes).startsWith(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0});
    assertThat(header)
        .startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
        .endsWith(" \n")
        .hasSize(118);
    assertThat(bytes).hasSize(128 + 6 * 4);
  }

  @Test
  void roundTripsFloatsAndIntsOfEveryRankThroughTheReader() throws Exception {
    NpyArray[] arrays = {
      NpyArray.ofFloats(new int[] {}, new float[] {-2.5f}),
      NpyArray.ofFloats(new int[] {0}, new float[0]),
      NpyArray.ofFloats(new int[] {4}, new float[] {Float.NaN, -0f, Float.MIN_VALUE, 1e30f}),
      NpyArray.ofInts(new int[] {2, 0, 5}, new int[0]),
      NpyArray.ofInts(new int[] {2, 2}, new int[] {Integer.MIN_VALUE, -1, 0, Integer.MAX_VALUE}),
      NpyArray.ofFloats(new int[] {1, 2, 3, 1}, new float[] {1, 2, 3, 4, 5, 6}),
    };
    for (NpyArray a : arrays) {
      Path out = tmp.resolve("a.npy");

      NpyWriter.write(out, a);

      assertThat(NpyReader.read(out)).as("%s", a).isEqualTo(a);
    }
  }

  @Test
  void roundTripsArraysLargerThanOneIoChunk() throws Exception {
    // 100_000 elements are 400 kB: several 64 kB chunks in both directions.
    float[] floats = new float[100_000];
    int[] ints = new int[100_000];
    for (int i = 0; i < floats.length; i++) {
      floats[i] = i * 0.25f - 7f;
      ints[i] = i * 7919 - 300_000;
    }
    Path f = tmp.resolve("f.npy");
    Path i = tmp.resolve("i.npy");

    NpyWriter.write(f, NpyArray.ofFloats(new int[] {250, 400}, floats));
    NpyWriter.write(i, NpyArray.ofInts(new int[] {100_000}, ints));

    assertThat(NpyReader.read(f).floats()).isEqualTo(floats);
    assertThat(NpyReader.read(i).ints()).isEqualTo(ints);
  }

  @Test
  void writesFloat64SourcedArrayAsFloat32() throws Exception {
    NpyArray fromFloat64 = NpyReader.read(path("f8_2x3.npy"));
    Path out = tmp.resolve("narrowed.npy");

    NpyWriter.write(out, fromFloat64);

    NpyArray back = NpyReader.read(out);
    assertThat(back.dtype()).isEqualTo(NpyDtype.FLOAT32);
    assertThat(back.floats()).isEqualTo(fromFloat64.floats());
  }

  @Test
  void writesInt64AndBoolSourcedArraysAsInt32() throws Exception {
    Path out = tmp.resolve("ints.npy");

    NpyWriter.write(out, NpyReader.read(path("bool_3.npy")));

    NpyArray back = NpyReader.read(out);
    assertThat(back.dtype()).isEqualTo(NpyDtype.INT32);
    assertThat(back.ints()).containsExactly(1, 0, 1);
  }

  @Test
  void replacesAnExistingLongerFile() throws Exception {
    Path out = tmp.resolve("x.npy");
    Files.write(out, new byte[10_000]);

    NpyWriter.write(out, NpyArray.ofInts(new int[] {1}, new int[] {5}));

    assertThat(NpyReader.read(out).ints()).containsExactly(5);
  }

  @Test
  void refusesShapesWhoseHeaderExceedsVersion1() {
    int[] shape = new int[30_000];
    java.util.Arrays.fill(shape, 1);

    assertThatThrownBy(
            () -> NpyWriter.write(tmp.resolve("r.npy"), NpyArray.ofInts(shape, new int[1])))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("a shape of rank 30000 needs a ");
  }
}
