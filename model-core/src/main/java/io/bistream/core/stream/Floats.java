package io.bistream.core.stream;

import java.util.Arrays;

/** A growable float array for buffered steps: append at the end, drop from the front. */
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
      data = Arrays.copyOf(data, Math.max(length + len, data.length * 2));
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

  void clear() {
    data = new float[16];
    length = 0;
  }
}
