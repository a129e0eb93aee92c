package io.bistream.core.golden;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code ../shared} (the conformance fixtures) beside the checkout. */
final class SharedData {

  private SharedData() {}

  static Path dir() {
    String configured = System.getProperty("bistream.shared.dir");
    Path dir = configured != null ? Path.of(configured) : Path.of("..", "..", "shared");
    if (!Files.isDirectory(dir.resolve("conformance"))) {
      throw new IllegalStateException(
          "shared conformance data not found at "
              + dir.toAbsolutePath().normalize()
              + "; expected the repository's ../shared directory (set -Dbistream.shared.dir)");
    }
    return dir;
  }

  static Path keras(String relative) {
    return dir().resolve("conformance/keras").resolve(relative);
  }
}
