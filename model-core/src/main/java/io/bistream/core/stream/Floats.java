package io.bistream.core.stream;

import java.util.Arrays;

/**
 * A growable float array for buffered steps: append at the end, drop from the front. It may wrap an
 * array with spare room past its length ({@link #forSnapshot()}), which appends fill in place.
 */
final class Floats {

  private float[] data;
  private int length;

  Floats() {
    this(new float[16], 0);
  }

  Floats(float[] data, int length) {
    this.data = data;
    this.length = length;
  }

  int length() {
    return length;
  }

  void append(float[] src, int off, int len) {
    if (length + len > data.length) {
      // Half as much again: the spare room travels in snapshots, so it is kept smaller than a
      // doubling's.
      data = Arrays.copyOf(data, Math.max(length + len, data.length + data.length / 2));
    }
    System.arraycopy(src, off, data, length, len);
    length += len;
  }

  void copyTo(int from, float[] dst, int dstOff, int len) {
    System.arraycopy(data, from, dst, dstOff, len);
  }

  void dropFirst(int n) {
    System.arraycopy(data, n, data, 0, length - n);
    length -= n;
  }

  float[] toArray() {
    return Arrays.copyOf(data, length);
  }

  /**
   * The values for a snapshot: the backing array itself, shared with its spare room, while that
   * room is at most half the length, as in a buffer that grows; a trimmed copy otherwise, as in a
   * buffer drained from the front, whose room would cost state bytes for no values.
   */
  float[] forSnapshot() {
    return data.length - length <= length / 2 ? data : toArray();
  }

  void clear() {
    data = new float[16];
    length = 0;
  }
}
