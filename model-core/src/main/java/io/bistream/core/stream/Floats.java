package io.bistream.core.stream;

import java.util.Arrays;

/**
 * A growable float array for buffered steps: append at the end, drop from the front. It may wrap an
 * array with spare room past its length ({@link #forSnapshot()}), which appends fill in place. It
 * never writes below its length in an array a snapshot shares (one it handed out, or one it was
 * restored from): dropping from the front moves what is left to a new array then. So a snapshot's
 * values stay as they were while a state restored from it advances (SequenceState).
 */
final class Floats {

  private float[] data;
  private int length;
  private boolean shared; // a snapshot holds data: nothing below length is written in place

  Floats() {
    this(new float[16], 0);
  }

  Floats(float[] data, int length) {
    this.data = data;
    this.length = length;
  }

  /** The first {@code length} values of a snapshot's {@code data}, which it keeps as they are. */
  static Floats restored(float[] data, int length) {
    Floats f = new Floats(data, length);
    f.shared = true;
    return f;
  }

  int length() {
    return length;
  }

  void append(float[] src, int off, int len) {
    if (length + len > data.length) {
      // Half as much again: the spare room travels in snapshots, so it is kept smaller than a
      // doubling's.
      data = Arrays.copyOf(data, Math.max(length + len, data.length + data.length / 2));
      shared = false;
    }
    System.arraycopy(src, off, data, length, len);
    length += len;
  }

  void copyTo(int from, float[] dst, int dstOff, int len) {
    System.arraycopy(data, from, dst, dstOff, len);
  }

  /**
   * Drops the first {@code n} values: in place, or when a snapshot shares the array, to a new one
   * with half as much room again (once per chunk a window advances by, not per step), which {@link
   * #forSnapshot()} shares.
   */
  void dropFirst(int n) {
    if (n == 0) {
      return;
    }
    int left = length - n;
    if (shared) {
      float[] rest = new float[Math.max(16, left + left / 2)];
      System.arraycopy(data, n, rest, 0, left);
      data = rest;
      shared = false;
    } else {
      System.arraycopy(data, n, data, 0, left);
    }
    length = left;
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
    if (data.length - length <= length / 2) {
      shared = true;
      return data;
    }
    return toArray();
  }

  void clear() {
    data = new float[16];
    length = 0;
    shared = false;
  }
}
