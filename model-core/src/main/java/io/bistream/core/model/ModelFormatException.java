package io.bistream.core.model;

import java.io.IOException;

/**
 * A model file that cannot be used: unsupported layer or option, weight shape mismatch, corrupt or
 * truncated file. The message names the file, the layer when there is one, what was expected and
 * what was found.
 */
public class ModelFormatException extends IOException {

  public ModelFormatException(String message) {
    super(message);
  }

  public ModelFormatException(String message, Throwable cause) {
    super(message, cause);
  }

  /** "file: layer 'name' (Class): detail". */
  public static ModelFormatException inLayer(
      String file, String layer, String className, String detail) {
    return new ModelFormatException(
        file + ": layer '" + layer + "' (" + className + "): " + detail);
  }
}
