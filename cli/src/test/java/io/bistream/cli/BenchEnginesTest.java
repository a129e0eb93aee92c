package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.bistream.cli.BenchEngines.Engine;
import io.bistream.cli.BenchEngines.Net;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The bench's peers compute the same function: on the BiLSTM and on the BiGRU fixture BiStream and
 * ONNX Runtime (and DL4J, BiLSTM only) agree with PyTorch on the committed probe, and the two
 * lookahead implementations agree with each other.
 */
class BenchEnginesTest {

  @Test
  void everyEngineAgreesWithPyTorchAndLookaheadsAgree() {
    assertThatCode(() -> BenchCommand.crossCheck(BenchEngines.fixture()))
        .doesNotThrowAnyException();
  }

  // The engine's outputs on the fixture's probe input.
  private static float[] onProbe(Engine e) throws Exception {
    return onProbe(e, Net.BILSTM);
  }

  private static float[] onProbe(Engine e, Net net) throws Exception {
    NpyArray x = NpyReader.read(net.file(BenchEngines.fixture(), "probe_x.npy"));
    return e.run(x.floats(), x.shape()[0], x.shape()[1]);
  }

  @Test
  void offlineOnTwoThreadsRunsTheDirectionsSideBySideWithTheSameResult() throws Exception {
    Path dir = BenchEngines.fixture();
    try (Engine one = BenchEngines.bistream(dir, null, 64, 1);
        Engine two = BenchEngines.bistream(dir, null, 64, 2)) {
      assertThat(onProbe(two)).containsExactly(onProbe(one));
    }
  }

  @Test
  void unknownModelIsRefusedNamingTheOptionAndTheChoices() {
    BenchCommand bench = new BenchCommand();
    bench.models = List.of("bigru", "transformer");
    assertThatThrownBy(bench::call)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--models: expected bilstm or bigru, found \"transformer\"");
  }

  @Test
  void nextTurnWaitsUntilNoThreadIsBusy() throws Exception {
    // What ONNX Runtime's workers do after a run: a thread that keeps a core busy for a while.
    long busyUntil = System.nanoTime() + 300_000_000L;
    Thread spinner =
        new Thread(
            () -> {
              while (System.nanoTime() < busyUntil) {
                Thread.onSpinWait();
              }
            });
    spinner.start();
    BenchCommand.untilQuiet();
    assertThat(System.nanoTime()).isGreaterThanOrEqualTo(busyUntil);
    spinner.join();
  }

  @Test
  void ratioToOnnxRuntimeIsTakenRoundByRound() {
    // Seconds per call. Rounds 1 and 3 say 0.8; round 2 caught the engine in a fast moment.
    // The medians of the two columns (2.0 and 1.25) would say 1.6.
    List<Double> ort = List.of(1.0, 2.0, 3.0);
    List<Double> engine = List.of(1.25, 1.0, 3.75);
    assertThat(BenchCommand.pairedRatio(ort, engine)).isCloseTo(0.8, within(1e-9));
  }

  @ParameterizedTest
  @EnumSource(Net.class)
  void lookaheadDiffersFromOfflineWhenTheWindowIsShort(Net net) throws Exception {
    Path dir = BenchEngines.fixture();
    try (Engine offline = BenchEngines.ortOffline(dir, net, 1);
        Engine lookahead = BenchEngines.ortLookahead(dir, net, 1, 4, 2)) {
      float[] a = onProbe(offline, net);
      float[] b = onProbe(lookahead, net);
      double max = 0;
      for (int i = 0; i < a.length; i++) {
        max = Math.max(max, Math.abs(a[i] - b[i]));
      }
      // the cross-check above would pass vacuously if the windows were ignored
      assertThat(max).isGreaterThan(1e-3);
    }
  }
}
