package io.bistream.core.npy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Reads NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0) into {@link NpyArray}s.
 *
 * <p>Supported dtypes are those of {@link NpyDtype}, little- or big-endian. float32 and float64
 * become {@code float[]} (float64 rounded to the nearest float, so magnitudes beyond float range
 * become infinities); int8, uint8, bool, int32 and int64 become {@code int[]}, and an int64 value
 * outside int range is an error naming its index. Fortran-order files are transposed into row-major
 * order; 0-d and empty arrays are supported. The file must hold exactly the bytes its header calls
 * for: unlike NumPy, trailing bytes are rejected, since they usually mean several arrays were saved
 * to one file. Every failure, including I/O errors, is an {@link NpyFormatException} naming the
 * file; object arrays are rejected without unpickling anything.
 */
public final class NpyReader {

  /** Bytes decoded per read; a multiple of every item size. */
  private static final int CHUNK_BYTES = 1 << 16;

  private NpyReader() {}

  /** Reads the array in {@code file}. */
  public static NpyArray read(Path file) throws NpyFormatException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      NpyHeader header = NpyHeader.read(file, channel);
      channel.position(header.dataOffset());
      int[] shape = header.shape();
      if (header.dtype().isFloat()) {
        float[] data = readFloats(file, channel, header);
        return new NpyArray(header.dtype(), shape, data, null);
      }
      int[] data = readInts(file, channel, header);
      return new NpyArray(header.dtype(), shape, null, data);
    } catch (NpyFormatException e) {
      throw e;
    } catch (IOException e) {
      throw new NpyFormatException(
          file,
          "cannot read the file ("
              + e.getClass().getSimpleName()
              + ": "
              + e.getMessage()
              + "); expected a readable .npy file.",
          e);
    } catch (RuntimeException e) {
      // The contract is that callers see only NpyFormatException naming the file; a bug here
      // keeps its stack trace as the cause.
      throw new NpyFormatException(
          file, "unexpected failure while reading (" + e + "); please report it with the file.", e);
    }
  }

  private static float[] readFloats(Path file, FileChannel channel, NpyHeader header)
      throws IOException {
    float[] out = new float[header.size()];
    readChunks(
        file,
        channel,
        header,
        (chunk, first, count) -> {
          switch (header.dtype()) {
            case FLOAT32 -> chunk.asFloatBuffer().get(out, first, count);
            case FLOAT64 -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = (float) chunk.getDouble(); // round to nearest, as astype
              }
            }
            default -> throw new IllegalStateException(header.dtype() + " is not a float type");
          }
        });
    return needsTranspose(header) ? permute(out, columnMajorOffsets(header.shape())) : out;
  }

  private static int[] readInts(Path file, FileChannel channel, NpyHeader header)
      throws IOException {
    int[] out = new int[header.size()];
    readChunks(
        file,
        channel,
        header,
        (chunk, first, count) -> {
          switch (header.dtype()) {
            case INT32 -> chunk.asIntBuffer().get(out, first, count);
            case INT64 -> {
              for (int i = 0; i < count; i++) {
                long v = chunk.getLong();
                if (v != (int) v) {
                  throw outOfIntRange(file, header, first + i, v);
                }
                out[first + i] = (int) v;
              }
            }
            case INT8 -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = chunk.get();
              }
            }
            case UINT8 -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = chunk.get() & 0xff;
              }
            }
            case BOOL -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = chunk.get() != 0 ? 1 : 0;
              }
            }
            default -> throw new IllegalStateException(header.dtype() + " is not an integer type");
          }
        });
    return needsTranspose(header) ? permute(out, columnMajorOffsets(header.shape())) : out;
  }

  /** Column-major storage differs from row-major only with two or more axes. */
  private static boolean needsTranspose(NpyHeader header) {
    return header.fortranOrder() && header.shape().length > 1;
  }

  /** Decodes {@code count} elements from {@code chunk} into positions {@code first...}. */
  private interface ChunkDecoder {
    void decode(ByteBuffer chunk, int first, int count) throws NpyFormatException;
  }

  /** Feeds the data to {@code decoder} in chunks, so no second copy of the file is held. */
  private static void readChunks(
      Path file, FileChannel channel, NpyHeader header, ChunkDecoder decoder) throws IOException {
    int itemSize = header.dtype().itemSize();
    int size = header.size();
    int perChunk = CHUNK_BYTES / itemSize;
    ByteBuffer chunk =
        ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, header.dataBytes()))
            .order(header.byteOrder());
    for (int done = 0; done < size; ) {
      int count = Math.min(size - done, perChunk);
      chunk.clear().limit(count * itemSize);
      if (readFully(channel, chunk) < count * itemSize) {
        throw new NpyFormatException(
            file,
            "the file ended while reading element "
                + done
                + " of "
                + size
                + ", although its size matched the header; was it changed while being read?");
      }
      chunk.flip();
      decoder.decode(chunk, done, count);
      done += count;
    }
  }

  private static NpyFormatException outOfIntRange(
      Path file, NpyHeader header, int fileIndex, long value) {
    return new NpyFormatException(
        file,
        "int64 value "
            + value
            + " at index "
            + Arrays.toString(unravel(fileIndex, header.shape(), header.fortranOrder()))
            + " does not fit in an int; expected int64 values in ["
            + Integer.MIN_VALUE
            + ", "
            + Integer.MAX_VALUE
            + "], since BiStream reads integer arrays into int[]. If the values are not"
            + " indices, save them as float with a.astype('float32').");
  }

  /** The multi-index of the element stored at {@code offset} in C or Fortran order. */
  static int[] unravel(long offset, int[] shape, boolean fortranOrder) {
    int[] index = new int[shape.length];
    for (int k = 0; k < shape.length; k++) {
      int axis = fortranOrder ? k : shape.length - 1 - k; // fastest-varying axis first
      index[axis] = (int) (offset % shape[axis]);
      offset /= shape[axis];
    }
    return index;
  }

  /**
   * For each element in row-major order, its offset in column-major storage. Walks a row-major
   * odometer (last axis fastest) while tracking the column-major offset, whose stride along an axis
   * is the product of the dimensions before it.
   */
  static int[] columnMajorOffsets(int[] shape) {
    int rank = shape.length;
    int[] stride = new int[rank];
    int s = 1;
    for (int axis = 0; axis < rank; axis++) {
      stride[axis] = s;
      s *= shape[axis];
    }
    int[] offsets = new int[(int) NpyArray.elementCount(shape)];
    int[] index = new int[rank];
    int offset = 0;
    for (int i = 0; i < offsets.length; i++) {
      offsets[i] = offset;
      for (int axis = rank - 1; axis >= 0; axis--) {
        if (++index[axis] < shape[axis]) {
          offset += stride[axis];
          break;
        }
        offset -= stride[axis] * (shape[axis] - 1); // carry: back to 0 on this axis
        index[axis] = 0;
      }
    }
    return offsets;
  }

  private static float[] permute(float[] data, int[] from) {
    float[] out = new float[data.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = data[from[i]];
    }
    return out;
  }

  private static int[] permute(int[] data, int[] from) {
    int[] out = new int[data.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = data[from[i]];
    }
    return out;
  }

  /** Reads until {@code buf} is full or the channel ends; returns the bytes read. */
  static int readFully(FileChannel channel, ByteBuffer buf) throws IOException {
    int total = 0;
    while (buf.hasRemaining()) {
      int n = channel.read(buf);
      if (n < 0) {
        break;
      }
      total += n;
    }
    return total;
  }
}
