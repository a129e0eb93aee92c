package io.bistream.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Files bundled in the jar (the demo model, the bench fixture), copied out for loaders. */
final class BundledFiles {

  private BundledFiles() {}

  /**
   * Copies resources {@code dir/name} into a new temporary directory, all deleted at exit.
   *
   * @throws IOException naming the resource when one is missing from the jar
   */
  static Path unpack(String dir, List<String> names) throws IOException {
    Path out = Files.createTempDirectory("bistream" + dir.replace('/', '-'));
    out.toFile().deleteOnExit();
    for (String name : names) {
      try (InputStream in = BundledFiles.class.getResourceAsStream(dir + "/" + name)) {
        if (in == null) {
          throw new IOException(
              "bundled resource " + dir + "/" + name + " is missing from the jar");
        }
        Files.copy(in, out.resolve(name));
      }
      out.resolve(name).toFile().deleteOnExit();
    }
    return out;
  }
}
