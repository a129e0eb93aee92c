package io.bistream.core;

import io.bistream.core.keras.KerasFiles;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.bistream.core.onnx.OnnxFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Opens a model file of any supported format, detected from its content rather than its name: HDF5
 * (Keras 1/2 {@code .h5}), zip (Keras 3 {@code .keras}) or JSON (TF.js {@code model.json}). ONNX
 * protobuf has no signature, so {@code .onnx} files are recognised by their name, or by the first
 * byte of a {@code ModelProto} (field 1, {@code ir_version}, tag 0x08).
 */
public final class ModelFiles {

  private static final byte[] HDF5_MAGIC = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

  private ModelFiles() {}

  /** Loads a self-contained model file. */
  public static Model load(Path file) throws ModelFormatException {
    byte[] head = head(file);
    if (startsWith(head, HDF5_MAGIC)) {
      return KerasFiles.loadH5(file);
    }
    if (startsWith(head, new byte[] {'P', 'K'})) {
      return KerasFiles.loadKerasArchive(file);
    }
    if (head.length > 0 && (head[0] == '{' || Character.isWhitespace(head[0]))) {
      return KerasFiles.loadTfjs(file);
    }
    if (file.toString().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx")
        || (head.length > 0 && head[0] == 0x08)) {
      return OnnxFiles.load(file);
    }
    throw new ModelFormatException(
        file
            + ": unknown model format; expected a Keras .h5 (HDF5), a Keras 3 .keras archive (zip)"
            + ", a TF.js model.json or an ONNX .onnx file");
  }

  /** Loads an architecture JSON with a separate weights file ({@code save_weights} HDF5). */
  public static Model load(Path architecture, Path weights) throws ModelFormatException {
    return KerasFiles.loadJsonWithWeights(architecture, weights);
  }

  private static byte[] head(Path file) throws ModelFormatException {
    if (!Files.isRegularFile(file)) {
      throw new ModelFormatException(file + ": no such model file");
    }
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(8);
    } catch (IOException e) {
      throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static boolean startsWith(byte[] a, byte[] prefix) {
    if (a.length < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (a[i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }
}
