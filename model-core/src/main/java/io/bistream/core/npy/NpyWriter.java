package io.bistream.core.npy;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes {@link NpyArray}s as NumPy {@code .npy} files, byte for byte as {@code np.save} does.
 *
 * <p>Output is format version 1.0, C order, little-endian: {@code float[]} data as {@code <f4} and
 * {@code int[]} data as {@code <i4}, whatever the array's source {@code dtype} (a float64 array
 * read by {@link NpyReader} already holds floats). The header is NumPy's: the dict {@code {'descr':
 * '<f4', 'fortran_order': False, 'shape': (2, 3), }}, then the 21 - digits(shape[0]) spaces NumPy
 * reserves for growing the first axis, then spaces and a newline up to a multiple of 64 bytes
 * counting the 10-byte preamble (a whole extra 64 when already aligned, as NumPy pads). An existing
 * file is replaced.
 */
public final class NpyWriter {

  /**
   * NumPy's {@code GROWTH_AXIS_MAX_DIGITS}: header room to rewrite the first dimension in place.
   */
  private static final int GROWTH_AXIS_MAX_DIGITS = 21;

  /** NumPy's {@code ARRAY_ALIGN}: data starts at a multiple of this. */
  private static final int ARRAY_ALIGN = 64;

  private static final int CHUNK_BYTES = 1 << 16;

  private NpyWriter() {}

  /** Writes {@code a} to {@code file}. */
  public static void write(Path file, NpyArray a) throws IOException {
    boolean floats = a.floats() != null;
    byte[] header = header(floats ? "<f4" : "<i4", a.shape());
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), CHUNK_BYTES)) {
      out.write(header);
      ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      int size = (int) a.size();
      for (int done = 0; done < size; ) {
        int count = Math.min(size - done, CHUNK_BYTES / 4);
        if (floats) {
          chunk.asFloatBuffer().put(a.floats(), done, count);
        } else {
          chunk.asIntBuffer().put(a.ints(), done, count);
        }
        out.write(chunk.array(), 0, count * 4);
        done += count;
      }
    }
  }

  /** Preamble and header, exactly as NumPy writes them for a C-order array in version 1.0. */
  static byte[] header(String descr, int[] shape) {
    StringBuilder dict =
        new StringBuilder("{'descr': '")
            .append(descr)
            .append("', 'fortran_order': False, 'shape': ")
            .append(NpyArray.pythonShape(shape))
            .append(", }");
    if (shape.length > 0) {
      dict.append(" ".repeat(GROWTH_AXIS_MAX_DIGITS - Integer.toString(shape[0]).length()));
    }
    int preamble = NpyHeader.MAGIC.length + 2 + 2; // magic, version, uint16 header length
    int withNewline = dict.length() + 1;
    int padding = ARRAY_ALIGN - (preamble + withNewline) % ARRAY_ALIGN;
    int headerLength = withNewline + padding;
    if (headerLength > 0xffff) {
      throw new IllegalArgumentException(
          "a shape of rank "
              + shape.length
              + " needs a "
              + headerLength
              + "-byte header; version 1.0 holds at most 65535 (NumPy allows at most 64 axes)");
    }
    dict.append(" ".repeat(padding)).append('\n');
    return ByteBuffer.allocate(preamble + headerLength)
        .order(ByteOrder.LITTLE_ENDIAN)
        .put(NpyHeader.MAGIC)
        .put((byte) 1)
        .put((byte) 0)
        .putShort((short) headerLength)
        .put(dict.toString().getBytes(StandardCharsets.ISO_8859_1))
        .array();
  }
}
