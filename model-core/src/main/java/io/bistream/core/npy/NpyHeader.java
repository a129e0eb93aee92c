package io.bistream.core.npy;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The preamble and header dict of an {@code .npy} file, checked against what BiStream can read.
 *
 * <p>Layout (NEP 1, {@code numpy.lib.format}): the magic {@code \x93NUMPY}, major and minor version
 * bytes, the header length (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), then the
 * header: a Python dict literal {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}
 * padded with spaces and a newline, Latin-1 in versions 1.0 and 2.0 and UTF-8 in 3.0. The data
 * follows the header. Like NumPy, this does not require the padding or the trailing newline.
 *
 * @param shape validated: every dimension is in int range and the element count fits a Java array
 * @param dataOffset where the data starts: preamble plus header length
 * @param fileSize the whole file's size, which must be exactly {@code dataOffset + dataBytes()}
 */
record NpyHeader(
    NpyDtype dtype,
    ByteOrder byteOrder,
    boolean fortranOrder,
    int[] shape,
    long dataOffset,
    long fileSize) {

  static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

  /** The largest array the JVM reliably allocates. */
  private static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

  private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

  /** Byte order, kind character, item size: {@code <f4}, {@code |u1}, {@code <U12}, {@code |O}. */
  private static final Pattern DESCR = Pattern.compile("([<>|=]?)([a-zA-Z])(\\d*)(\\[.*])?");

  /** Number of elements; fits an int by construction. */
  int size() {
    return (int) NpyArray.elementCount(shape);
  }

  /** Bytes of data the shape and dtype call for. */
  long dataBytes() {
    return (long) size() * dtype.itemSize();
  }

  /** Reads and validates everything before the data, including that the data length matches. */
  static NpyHeader read(Path file, FileChannel channel) throws IOException {
    long fileSize = channel.size();
    ByteBuffer preamble = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    int got = NpyReader.readFully(channel, preamble);
    checkMagic(file, preamble, got);

    int major = got > 6 ? preamble.get(6) & 0xff : -1;
    int minor = got > 7 ? preamble.get(7) & 0xff : -1;
    if (got >= 8 && !(major >= 1 && major <= 3 && minor == 0)) {
      throw new NpyFormatException(
          file,
          "unsupported .npy format version "
              + major
              + "."
              + minor
              + "; expected 1.0, 2.0 or 3.0. Save the array again with np.save.");
    }
    int preambleSize = major == 1 ? 10 : 12;
    if (got < preambleSize) {
      throw new NpyFormatException(
          file,
          "truncated preamble: the file is "
              + fileSize
              + " bytes long, too short for the magic, version and header length ("
              + (got < 8 ? "10 or 12" : preambleSize)
              + " bytes). The file was cut short; save it again.");
    }
    long headerLength =
        major == 1 ? preamble.getShort(8) & 0xffff : preamble.getInt(8) & 0xffffffffL;
    if (preambleSize + headerLength > fileSize) {
      throw new NpyFormatException(
          file,
          "truncated header: the preamble announces a "
              + headerLength
              + "-byte header but the file ends "
              + (fileSize - preambleSize)
              + " bytes after the preamble. The file was cut short; save it again.");
    }
    if (headerLength > MAX_ELEMENTS) {
      throw new NpyFormatException(
          file, "header of " + headerLength + " bytes; expected a header dict of a few hundred.");
    }
    ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
    channel.position(preambleSize);
    NpyReader.readFully(channel, headerBytes);
    headerBytes.flip();
    String text = decode(file, headerBytes, major);

    Map<?, ?> dict = parseDict(file, text);
    boolean fortranOrder = fortranOrder(file, dict.get("fortran_order"));
    int[] shape = shape(file, dict.get("shape"));
    Object descr = dict.get("descr");
    NpyDtype dtype = dtype(file, descr);
    ByteOrder order =
        ((String) descr).startsWith(">") ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
    NpyHeader header =
        new NpyHeader(dtype, order, fortranOrder, shape, preambleSize + headerLength, fileSize);
    header.checkDataLength(file);
    return header;
  }

  private static void checkMagic(Path file, ByteBuffer start, int got) throws NpyFormatException {
    boolean prefixMatches = true;
    for (int i = 0; i < Math.min(got, MAGIC.length); i++) {
      prefixMatches &= start.get(i) == MAGIC[i];
    }
    if (got == 0) {
      throw new NpyFormatException(
          file, "the file is empty; expected an .npy file starting with \\x93NUMPY.");
    }
    if (prefixMatches) {
      return; // a short file with a correct start is reported as truncated by the caller
    }
    String found = pythonBytes(start, Math.min(got, 8));
    String hint;
    if (got >= 4 && start.getInt(0) == 0x04034b50) { // "PK\3\4", little-endian
      hint =
          " It is a zip archive, probably an .npz from np.savez: extract the .npy files in it"
              + " (unzip), or np.load it and np.save each array.";
    } else if ((start.get(0) & 0xff) == 0x80) {
      hint =
          " It looks like a Python pickle (pickle.dump, torch.save); save the array with np.save.";
    } else if (isText(start, got)) {
      hint = " It looks like text (np.savetxt?); save the array with np.save.";
    } else {
      hint = " Save the array with np.save.";
    }
    throw new NpyFormatException(
        file,
        "not a NumPy .npy file: expected the magic bytes \\x93NUMPY at the start, found "
            + found
            + "."
            + hint);
  }

  private static boolean isText(ByteBuffer start, int got) {
    for (int i = 0; i < got; i++) {
      int b = start.get(i) & 0xff;
      if (b > 0x7e || (b < 0x20 && b != '\n' && b != '\r' && b != '\t')) {
        return false;
      }
    }
    return true;
  }

  /** Bytes the way Python prints them: {@code b'PK\x03\x04'}. */
  private static String pythonBytes(ByteBuffer buf, int n) {
    StringBuilder s = new StringBuilder("b'");
    for (int i = 0; i < n; i++) {
      int b = buf.get(i) & 0xff;
      s.append(
          b >= 0x20 && b < 0x7f && b != '\'' && b != '\\'
              ? String.valueOf((char) b)
              : String.format("\\x%02x", b));
    }
    return s.append('\'').toString();
  }

  private static String decode(Path file, ByteBuffer bytes, int major) throws NpyFormatException {
    if (major < 3) {
      return StandardCharsets.ISO_8859_1.decode(bytes).toString();
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(bytes)
          .toString();
    } catch (CharacterCodingException e) {
      throw new NpyFormatException(
          file, "malformed header: version 3.0 headers are UTF-8, found invalid bytes.", e);
    }
  }

  private static Map<?, ?> parseDict(Path file, String text) throws NpyFormatException {
    String example =
        "expected a dict like {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    Object parsed;
    try {
      parsed = PythonLiteral.parse(text);
    } catch (PythonLiteral.SyntaxError e) {
      throw new NpyFormatException(
          file,
          "malformed header: "
              + e.getMessage()
              + " in "
              + quote(text)
              + "; "
              + example
              + ". Save the array again with np.save.");
    }
    if (!(parsed instanceof Map<?, ?> dict)) {
      throw new NpyFormatException(
          file, "malformed header: " + example + ", found " + quote(text) + ".");
    }
    if (!dict.keySet().equals(KEYS)) {
      List<String> keys = new ArrayList<>();
      dict.keySet().forEach(k -> keys.add(String.valueOf(k)));
      throw new NpyFormatException(
          file,
          "malformed header: expected exactly the keys [descr, fortran_order, shape], found "
              + new TreeSet<>(keys)
              + ". Save the array again with np.save.");
    }
    return dict;
  }

  private static boolean fortranOrder(Path file, Object value) throws NpyFormatException {
    if (value instanceof Boolean b) {
      return b;
    }
    throw new NpyFormatException(
        file,
        "malformed header: 'fortran_order' must be True or False, found " + python(value) + ".");
  }

  private static int[] shape(Path file, Object value) throws NpyFormatException {
    String expected = "; expected a tuple of non-negative integers such as (2, 3), (5,) or ()";
    if (!(value instanceof PythonLiteral.Tuple tuple)) {
      throw new NpyFormatException(
          file, "malformed header: 'shape' is " + python(value) + expected + ".");
    }
    int[] shape = new int[tuple.items().size()];
    for (int axis = 0; axis < shape.length; axis++) {
      Object d = tuple.items().get(axis);
      if (!(d instanceof BigInteger n) || n.signum() < 0) {
        throw new NpyFormatException(
            file,
            "malformed header: 'shape' "
                + python(value)
                + " has "
                + python(d)
                + " at axis "
                + axis
                + expected
                + ".");
      }
      if (n.bitLength() > 31) {
        throw new NpyFormatException(
            file,
            "shape "
                + python(value)
                + " has "
                + n
                + " elements along axis "
                + axis
                + "; a Java array holds at most "
                + MAX_ELEMENTS
                + ". Split the array into smaller files.");
      }
      shape[axis] = n.intValue();
    }
    long count = NpyArray.elementCount(shape);
    if (count > MAX_ELEMENTS) {
      throw new NpyFormatException(
          file,
          "shape "
              + NpyArray.pythonShape(shape)
              + " has "
              + (count == Long.MAX_VALUE ? "more than 2^63" : count)
              + " elements; a Java array holds at most "
              + MAX_ELEMENTS
              + ". Split the array into smaller files.");
    }
    return shape;
  }

  private static NpyDtype dtype(Path file, Object descr) throws NpyFormatException {
    String supported = "expected float32, float64, int8, int32, int64, uint8 or bool";
    if (descr instanceof List<?>) {
      throw new NpyFormatException(
          file,
          "unsupported structured dtype "
              + python(descr)
              + " (named fields); "
              + supported
              + ". Save each field as its own array, e.g. np.save('x.npy', a['x']).");
    }
    Matcher m = descr instanceof String s ? DESCR.matcher(s) : null;
    if (m == null || !m.matches()) {
      throw new NpyFormatException(
          file,
          "malformed header: 'descr' is "
              + python(descr)
              + "; expected a type string such as '<f4'.");
    }
    String order = m.group(1);
    char kind = m.group(2).charAt(0);
    int size = m.group(3).isEmpty() || m.group(3).length() > 4 ? 0 : Integer.parseInt(m.group(3));
    if (kind == 'O') {
      throw new NpyFormatException(
          file,
          "object array (descr "
              + python(descr)
              + ": Python objects stored as a pickle); "
              + supported
              + ". BiStream never unpickles; convert with np.asarray(a, dtype='float32') and save"
              + " with np.save(..., allow_pickle=False).");
    }
    NpyDtype dtype = m.group(4) == null ? NpyDtype.of(kind, size) : null;
    if (dtype == null) {
      throw new NpyFormatException(
          file,
          "unsupported dtype "
              + python(descr)
              + " ("
              + numpyName(kind, size)
              + "); "
              + supported
              + "."
              + conversionHint(kind));
    }
    if (size > 1 && !(order.equals("<") || order.equals(">"))) {
      throw new NpyFormatException(
          file,
          "dtype "
              + python(descr)
              + " does not say whether the file is little- or big-endian; expected '<"
              + kind
              + size
              + "' or '>"
              + kind
              + size
              + "'. Save the array with np.save, which always records the byte order.");
    }
    return dtype;
  }

  private void checkDataLength(Path file) throws NpyFormatException {
    long found = fileSize - dataOffset;
    long expected = dataBytes();
    if (found == expected) {
      return;
    }
    String needs =
        "shape "
            + NpyArray.pythonShape(shape)
            + " of "
            + dtype.numpyName()
            + " needs "
            + expected
            + " bytes of data after the "
            + dataOffset
            + "-byte header, found "
            + found;
    if (found < expected) {
      throw new NpyFormatException(
          file,
          "truncated data: "
              + needs
              + ". The file was cut short (interrupted save or copy?); save it again.");
    }
    // NumPy ignores trailing bytes; BiStream refuses them, because they usually mean several
    // arrays saved to one file handle, and silently reading only the first hides that.
    throw new NpyFormatException(
        file,
        "unexpected bytes after the data: "
            + needs
            + ". BiStream reads one array per file; if several arrays were saved to one file"
            + " handle, save each with its own np.save.");
  }

  private static String numpyName(char kind, int size) {
    return switch (kind) {
      case 'f' -> "float" + 8 * size;
      case 'i' -> "int" + 8 * size;
      case 'u' -> "uint" + 8 * size;
      case 'c' -> "complex" + 8 * size;
      case 'b' -> "bool";
      case 'U' -> "unicode string";
      case 'S', 'a' -> "byte string";
      case 'V' -> "raw bytes (void)";
      case 'M' -> "datetime64";
      case 'm' -> "timedelta64";
      default -> "unknown type";
    };
  }

  private static String conversionHint(char kind) {
    return switch (kind) {
      case 'f', 'c' -> " Convert with a.astype('float32').";
      case 'i', 'u', 'b' -> " Convert with a.astype('int32').";
      default -> " Only numeric arrays can be read.";
    };
  }

  /** A value as Python would print it, for messages. */
  private static String python(Object value) {
    if (value == null) {
      return "None";
    }
    if (value instanceof String s) {
      return "'" + s + "'";
    }
    if (value instanceof Boolean b) {
      return b ? "True" : "False";
    }
    if (value instanceof PythonLiteral.Tuple t) {
      StringBuilder s = new StringBuilder("(");
      for (int i = 0; i < t.items().size(); i++) {
        s.append(i == 0 ? "" : ", ").append(python(t.items().get(i)));
      }
      return s.append(t.items().size() == 1 ? ",)" : ")").toString();
    }
    if (value instanceof List<?> list) {
      List<String> items = new ArrayList<>();
      list.forEach(v -> items.add(python(v)));
      return "[" + String.join(", ", items) + "]";
    }
    return String.valueOf(value);
  }

  /** The header text for a message, stripped of its padding and cut if long. */
  private static String quote(String text) {
    String t = text.strip();
    return '"' + (t.length() > 120 ? t.substring(0, 120) + "..." : t) + '"';
  }
}
