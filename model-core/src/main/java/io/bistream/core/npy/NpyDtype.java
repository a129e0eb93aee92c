package io.bistream.core.npy;

/**
 * The NumPy element types BiStream reads from {@code .npy} files.
 *
 * <p>Float types are read into {@code float[]} (float64 narrowed to the nearest float32), integer
 * and bool types into {@code int[]} (int64 only when every value fits in an int). Each constant
 * knows its little-endian NumPy descr, e.g. {@code "<f4"}; single-byte types use NumPy's {@code
 * '|'} ("byte order not applicable"), e.g. {@code "|u1"}.
 */
public enum NpyDtype {
  FLOAT32('f', 4, "float32"),
  FLOAT64('f', 8, "float64"),
  INT8('i', 1, "int8"),
  INT32('i', 4, "int32"),
  INT64('i', 8, "int64"),
  UINT8('u', 1, "uint8"),
  BOOL('b', 1, "bool");

  private final char kind;
  private final int itemSize;
  private final String numpyName;

  NpyDtype(char kind, int itemSize, String numpyName) {
    this.kind = kind;
    this.itemSize = itemSize;
    this.numpyName = numpyName;
  }

  /**
   * NumPy's type character: {@code 'f'} float, {@code 'i'} signed, {@code 'u'} unsigned, {@code
   * 'b'} bool.
   */
  public char kind() {
    return kind;
  }

  /** Bytes per element in the file. */
  public int itemSize() {
    return itemSize;
  }

  /** NumPy's name for the type, e.g. {@code "float64"}. */
  public String numpyName() {
    return numpyName;
  }

  /** True when elements are read into {@code float[]}, false for {@code int[]}. */
  public boolean isFloat() {
    return kind == 'f';
  }

  /** The little-endian descr NumPy writes for this type, e.g. {@code "<f4"} or {@code "|b1"}. */
  public String descr() {
    return (itemSize == 1 ? "|" : "<") + kind + itemSize;
  }

  /** The supported type with this kind character and size, or null. */
  static NpyDtype of(char kind, int itemSize) {
    for (NpyDtype t : values()) {
      if (t.kind == kind && t.itemSize == itemSize) {
        return t;
      }
    }
    return null;
  }
}
