package io.bistream.core.npy;

import static io.bistream.core.npy.NpyFixtures.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the reader says about files it cannot read: every failure is an {@link NpyFormatException}
 * whose message names the file, what was expected, what was found and what to do.
 */
class NpyReaderErrorTest {

  @TempDir Path tmp;

  static Stream<String> rejectedFixtures() {
    return NpyFixtures.rejected();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rejectedFixtures")
  void everyRejectedFixtureFailsWithAMessageNamingTheFile(String name) {
    Path file = path(name);

    assertThatThrownBy(() -> NpyReader.read(file))
        .isExactlyInstanceOf(NpyFormatException.class)
        .hasMessageStartingWith(file + ": ")
        .satisfies(e -> assertThat(((NpyFormatException) e).file()).isEqualTo(file));
  }

  @Test
  void rejectsTextFileAsNotNpyAndSuggestsNpSave() {
    rejecting("text_not_npy.npy")
        .hasMessageContaining("not a NumPy .npy file")
        .hasMessageContaining("expected the magic bytes \\x93NUMPY at the start, found b'5.000000'")
        .hasMessageContaining("looks like text (np.savetxt?); save the array with np.save");
  }

  @Test
  void rejectsNpzArchiveAndSaysHowToGetTheArraysOut() {
    rejecting("npz_archive.npy")
        .hasMessageContaining("found b'PK\\x03\\x04")
        .hasMessageContaining("zip archive, probably an .npz from np.savez")
        .hasMessageContaining("unzip");
  }

  @Test
  void rejectsEmptyFile() {
    rejecting("empty_file.npy")
        .hasMessageEndingWith(
            "empty_file.npy: the file is empty;"
                + " expected an .npy file starting with \\x93NUMPY.");
  }

  @Test
  void rejectsTruncatedHeaderSayingHowLongItShouldBe() {
    rejecting("truncated_header.npy")
        .hasMessageContaining(
            "truncated header: the preamble announces a 118-byte header but the"
                + " file ends 30 bytes after the preamble");
  }

  @Test
  void rejectsTruncatedDataSayingBytesExpectedAndFound() {
    rejecting("truncated_data.npy")
        .hasMessageContaining(
            "truncated data: shape (2, 3) of float32 needs 24 bytes of data"
                + " after the 128-byte header, found 20")
        .hasMessageContaining("save it again");
  }

  @Test
  void rejectsTrailingBytesThatNumpyWouldIgnore() {
    assertThat(NpyFixtures.expected("trailing_bytes.npy").get("numpy_loads").asBoolean()).isTrue();

    rejecting("trailing_bytes.npy")
        .hasMessageContaining(
            "unexpected bytes after the data: shape (2, 3) of float32 needs 24"
                + " bytes of data after the 128-byte header, found 176")
        .hasMessageContaining("save each with its own np.save");
  }

  @Test
  void rejectsUnknownFormatVersion() {
    rejecting("version_4_0.npy")
        .hasMessageContaining("unsupported .npy format version 4.0; expected 1.0, 2.0 or 3.0");
  }

  @Test
  void rejectsMalformedHeaderDictSayingWhereParsingFailed() {
    rejecting("malformed_header.npy")
        .hasMessageContaining(
            "malformed header: expected ',' or ')' at header offset 56, found '}'")
        .hasMessageContaining("\"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }\"");
  }

  @Test
  void rejectsHeaderWithoutFortranOrderKey() {
    rejecting("missing_key.npy")
        .hasMessageContaining(
            "expected exactly the keys [descr, fortran_order, shape]," + " found [descr, shape]");
  }

  @Test
  void rejectsNegativeDimensionThatNumpyWouldInfer() {
    rejecting("negative_dimension.npy")
        .hasMessageContaining(
            "'shape' (-1, 3) has -1 at axis 0; expected a tuple of" + " non-negative integers");
  }

  @Test
  void rejectsShapeTooLargeForAJavaArrayBeforeAllocating() {
    rejecting("huge_shape.npy")
        .hasMessageContaining(
            "shape (100000, 100000, 100000) has 1000000000000000 elements;"
                + " a Java array holds at most 2147483639");
  }

  @Test
  void rejectsComplex64NamingTheDtypeAndHowToConvert() {
    Path file = path("complex64.npy");

    assertThatThrownBy(() -> NpyReader.read(file))
        .hasMessage(
            file
                + ": unsupported dtype '<c8' (complex64); expected float32, float64,"
                + " int8, int32, int64, uint8 or bool. Convert with a.astype('float32').");
  }

  @Test
  void rejectsFloat16SuggestingFloat32() {
    rejecting("float16.npy")
        .hasMessageContaining("unsupported dtype '<f2' (float16)")
        .hasMessageContaining("a.astype('float32')");
  }

  @Test
  void rejectsStringArraysAsNotNumeric() {
    rejecting("unicode.npy")
        .hasMessageContaining("unsupported dtype '<U2' (unicode string)")
        .hasMessageContaining("Only numeric arrays can be read.");
  }

  @Test
  void rejectsStructuredDtypeSuggestingOneFilePerField() {
    rejecting("structured.npy")
        .hasMessageContaining("unsupported structured dtype [('x', '<f4'), ('y', '<i4')]")
        .hasMessageContaining("np.save('x.npy', a['x'])");
  }

  @Test
  void rejectsObjectArrayWithoutUnpickling() {
    rejecting("object_array.npy")
        .hasMessageContaining("object array (descr '|O': Python objects stored as a pickle)")
        .hasMessageContaining("allow_pickle=False");
  }

  @Test
  void rejectsInt64OutsideIntRangeNamingTheIndex() {
    rejecting("i8_out_of_int_range.npy")
        .hasMessageContaining("int64 value 2147483648 at index [1, 0] does not fit in an int");
  }

  @Test
  void namesTheRowMajorIndexOfAnOutOfRangeInt64InAFortranFile() {
    rejecting("i8_fortran_out_of_int_range.npy")
        .hasMessageContaining("int64 value -2147483649 at index [1, 1]");
  }

  @Test
  void reportsMissingFileAsNpyFormatExceptionWithCause() {
    Path missing = tmp.resolve("missing.npy");

    assertThatThrownBy(() -> NpyReader.read(missing))
        .isExactlyInstanceOf(NpyFormatException.class)
        .hasMessageStartingWith(missing + ": cannot read the file (NoSuchFileException")
        .hasCauseInstanceOf(java.nio.file.NoSuchFileException.class);
  }

  @Test
  void rejectsShapeWrittenAsListOrBareInteger() throws IOException {
    assertThatThrownBy(
            () -> NpyReader.read(npy("'descr': '<f4', 'fortran_order': False, 'shape': [2]")))
        .hasMessageContaining("'shape' is [2]; expected a tuple");
    // "(2)" is the integer 2 in Python; a one-element tuple needs the comma.
    assertThatThrownBy(
            () -> NpyReader.read(npy("'descr': '<f4', 'fortran_order': False, 'shape': (2)")))
        .hasMessageContaining("'shape' is 2; expected a tuple");
  }

  @Test
  void rejectsFortranOrderThatIsNotABool() throws IOException {
    assertThatThrownBy(() -> NpyReader.read(npy("'descr': '<f4', 'fortran_order': 0, 'shape': ()")))
        .hasMessageContaining("'fortran_order' must be True or False, found 0");
  }

  @Test
  void rejectsMultiByteDtypeWithoutByteOrder() throws IOException {
    assertThatThrownBy(
            () -> NpyReader.read(npy("'descr': '=f4', 'fortran_order': False, 'shape': ()")))
        .hasMessageContaining(
            "dtype '=f4' does not say whether the file is little- or big-endian;"
                + " expected '<f4' or '>f4'");
  }

  @Test
  void acceptsPython2LongSuffixesAndMissingPadding() throws IOException {
    byte[] header =
        "{'descr': '<i4', 'fortran_order': False, 'shape': (1L, 2L)}"
            .getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(10 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
    b.put(NpyHeader.MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length);
    b.put(header).putInt(7).putInt(-8);
    Path file = Files.write(tmp.resolve("py2.npy"), b.array());

    NpyArray a = NpyReader.read(file);

    assertThat(a.shape()).containsExactly(1, 2);
    assertThat(a.ints()).containsExactly(7, -8);
  }

  @Test
  void truncatingAValidFileAtAnyByteGivesNpyFormatException() throws IOException {
    byte[] good = Files.readAllBytes(path("f8_fortran_2x3x4.npy"));
    for (int length = 0; length < good.length; length++) {
      Path file = Files.write(tmp.resolve("cut" + length + ".npy"), Arrays.copyOf(good, length));

      assertThat(catchThrowable(() -> NpyReader.read(file)))
          .as("cut after %d bytes", length)
          .isExactlyInstanceOf(NpyFormatException.class)
          .hasMessageStartingWith(file + ": ");
    }
  }

  @Test
  void corruptingAnyHeaderByteGivesAnArrayOrNpyFormatException() throws IOException {
    byte[] good = Files.readAllBytes(path("i4_fortran_2x3.npy"));
    int headerEnd = 128;
    byte[] replacements = {0, ' ', '(', ')', '\'', ',', '9', '-', (byte) 0xff};
    for (int pos = 0; pos < headerEnd; pos++) {
      for (byte r : replacements) {
        byte[] bad = good.clone();
        bad[pos] = r;
        Path file = Files.write(tmp.resolve("bad.npy"), bad);

        Throwable thrown = catchThrowable(() -> NpyReader.read(file));

        if (thrown != null) {
          assertThat(thrown)
              .as("byte %d set to %d", pos, r)
              .isExactlyInstanceOf(NpyFormatException.class)
              .hasMessageStartingWith(file + ": ")
              .hasNoCause();
        }
      }
    }
  }

  @Test
  void rejectsHeadersNestedDeeperThanAnyNumpyHeader() throws IOException {
    String deep = "(".repeat(10_000) + ")".repeat(10_000);

    assertThatThrownBy(
            () -> NpyReader.read(npy("'descr': '<f4', 'fortran_order': False, 'shape': " + deep)))
        .isExactlyInstanceOf(NpyFormatException.class)
        .hasMessageContaining("nesting deeper than 32");
  }

  private AbstractThrowableAssert<?, ? extends Throwable> rejecting(String name) {
    Path file = path(name);
    return assertThat(catchThrowable(() -> NpyReader.read(file)))
        .isExactlyInstanceOf(NpyFormatException.class)
        .hasMessageStartingWith(file + ": ");
  }

  /** A version 1.0 file whose header dict holds {@code entries}, with no data. */
  private Path npy(String entries) throws IOException {
    byte[] header = ("{" + entries + ", }\n").getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(10 + header.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(NpyHeader.MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length);
    b.put(header);
    return Files.write(tmp.resolve("handmade.npy"), b.array());
  }
}
