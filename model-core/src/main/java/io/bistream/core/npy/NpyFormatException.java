package io.bistream.core.npy;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Thrown when a file cannot be read as a NumPy {@code .npy} array BiStream supports.
 *
 * <p>The message always starts with the file, then says what was expected, what was found and, when
 * there is a fix, what to do, e.g. {@code "x.npy: unsupported dtype '<c8' (complex64); expected
 * float32, float64, int8, int32, int64, uint8 or bool. Convert with a.astype('float32')."}. I/O
 * failures while reading (missing file, permission) are reported the same way, with the original
 * exception as the cause.
 */
public class NpyFormatException extends IOException {

  private static final long serialVersionUID = 1L;

  private final transient Path file;

  public NpyFormatException(Path file, String problem) {
    super(file + ": " + problem);
    this.file = file;
  }

  public NpyFormatException(Path file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
    this.file = file;
  }

  /** The file that could not be read. */
  public Path file() {
    return file;
  }
}
