package io.bistream.core.keras;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Test helper: the golden/torch Keras files, and copies of its Keras 3 archives with config.json
 * edited.
 */
final class KerasArchives {

  private KerasArchives() {}

  static Path golden(String relative) throws Exception {
    return Path.of(KerasArchives.class.getResource("/golden/torch/" + relative).toURI());
  }

  /** Writes {@code target}: golden/torch/models/{@code model} with config.json run through edit. */
  static Path copyWithConfig(String model, Path target, UnaryOperator<String> edit)
      throws Exception {
    try (var in = new ZipInputStream(Files.newInputStream(golden("models/" + model)));
        var out = new ZipOutputStream(Files.newOutputStream(target))) {
      for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
        byte[] bytes = in.readAllBytes();
        if (e.getName().equals("config.json")) {
          String edited = edit.apply(new String(bytes, StandardCharsets.UTF_8));
          if (edited.equals(new String(bytes, StandardCharsets.UTF_8))) {
            throw new IllegalArgumentException("the edit changed nothing in " + model);
          }
          bytes = edited.getBytes(StandardCharsets.UTF_8);
        }
        out.putNextEntry(new ZipEntry(e.getName()));
        out.write(bytes);
        out.closeEntry();
      }
    }
    return target;
  }
}
