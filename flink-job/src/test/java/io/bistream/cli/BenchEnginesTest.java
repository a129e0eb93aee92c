package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.bistream.cli.BenchEngines.Engine;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The bench's peers compute the same function: BiStream, ONNX Runtime and DL4J agree with PyTorch
 * on the committed fixture's probe, and the two lookahead implementations agree with each other.
 */
class BenchEnginesTest {

  @Test
  void everyEngineAgreesWithPyTorchAndLookaheadsAgree() {
    assertThatCode(() -> BenchCommand.crossCheck(BenchEngines.fixture()))
        .doesNotThrowAnyException();
  }

  @Test
  void lookaheadDiffersFromOfflineWhenTheWindowIsShort() throws Exception {
    Path dir = BenchEngines.fixture();
    NpyArray x = NpyReader.read(dir.resolve("probe_x.npy"));
    int n = x.shape()[0];
    int t = x.shape()[1];
    try (Engine offline = BenchEngines.ortOffline(dir, 1);
        Engine lookahead = BenchEngines.ortLookahead(dir, 1, 4, 2)) {
      float[] a = offline.run(x.floats(), n, t);
      float[] b = lookahead.run(x.floats(), n, t);
      double max = 0;
      for (int i = 0; i < a.length; i++) {
        max = Math.max(max, Math.abs(a[i] - b[i]));
      }
      // the cross-check above would pass vacuously if the windows were ignored
      assertThat(max).isGreaterThan(1e-3);
    }
  }
}
