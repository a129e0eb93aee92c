package io.bistream.core.golden;

import io.bistream.core.npy.NpyReader;
import java.nio.file.Path;

/** Reads numpy-written expected values. */
final class NpyFixtures {

  private NpyFixtures() {}

  static float[] floats(Path file) throws Exception {
    return NpyReader.read(file).floats();
  }
}
