package io.bistream.core.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Streaming a model whose readout is step T-1 of a sequence output (torch's {@code fc(y[:, -1, :])}
 * of a bidirectional or stacked output), on the PyTorch exports of {@code golden/onnx}: one output
 * per sequence, at its end; exact mode equals offline.
 */
class LastStepReadoutStreamingTest {

  private static Model golden(String name) throws Exception {
    return ModelFiles.load(
        Path.of(
            LastStepReadoutStreamingTest.class
                .getResource("/golden/onnx/" + name + "/model.onnx")
                .toURI()));
  }

  /** The first sequence of the case's x.npy, {@code [t, d]} row-major. */
  private static float[] firstSequence(String name, int[] shape) throws Exception {
    var a =
        NpyReader.read(
            Path.of(
                LastStepReadoutStreamingTest.class
                    .getResource("/golden/onnx/" + name + "/x.npy")
                    .toURI()));
    shape[0] = a.shape()[1];
    shape[1] = a.shape()[2];
    return Arrays.copyOf(a.floats(), shape[0] * shape[1]);
  }

  private static float[] offline(Model m, float[] x, int t, int d) {
    return m.predict(List.of(new Tensor(x.clone(), new int[] {1, t, d})), Model.Backend.ND4J)
        .get(0)
        .data();
  }

  private static void assertClose(float[] actual, float[] expected, String what) {
    assertThat(actual).as(what).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat(actual[i])
          .as("%s value %d", what, i)
          .isCloseTo(expected[i], within((float) (1e-6 + 1e-5 * Math.abs(expected[i]))));
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "bilstm_last_step_linear",
        "bigru_2layer_last_step_layernorm_gelu",
        "bigru_last_step_layernorm_gelu_tanh",
        "bigru_per_step_linear_then_last_step",
        "layernorm_input_bilstm",
        "gru_per_step_linear_then_last_step",
        "bilstm_layernorm_op_gelu_per_step_opset17"
      })
  void exactModeEqualsOfflineForEveryFeedLength(String name) throws Exception {
    Model m = golden(name);
    int[] td = new int[2];
    float[] x = firstSequence(name, td);
    float[] expected = offline(m, x, td[0], td[1]);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    for (int feed = 1; feed <= td[0]; feed++) {
      assertClose(Streams.run(engine, x, td[0], feed), expected, name + " feed " + feed);
    }
  }

  @Test
  void readoutModelReleasesOneOutputAtTheEndInEveryChunkedMode() throws Exception {
    Model m = golden("bigru_2layer_last_step_layernorm_gelu");
    int[] td = new int[2];
    float[] x = firstSequence("bigru_2layer_last_step_layernorm_gelu", td);
    int t = td[0];
    int d = td[1];
    for (StreamConfig cfg :
        List.of(StreamConfig.exact(), StreamConfig.lookahead(3, 2), StreamConfig.stateful(3))) {
      StreamingEngine engine = new StreamingEngine(m, cfg);
      assertThat(engine.lastStepModel()).as(cfg.mode().name()).isTrue();
      SequenceState s = engine.newSequence();
      List<Emission> all = new ArrayList<>();
      for (int step = 0; step < t; step++) {
        List<Emission> out =
            engine.advance(s, Arrays.copyOfRange(x, step * d, (step + 1) * d), 1, step == t - 1);
        if (step < t - 1) {
          assertThat(out).as(cfg.mode() + " before the end, step " + step).isEmpty();
        }
        all.addAll(out);
      }
      assertThat(all).as(cfg.mode().name()).hasSize(1);
      assertThat(all.get(0).firstStep()).isEqualTo(t - 1);
      assertThat(all.get(0).values()).hasSize(engine.outputWidth()).hasSize(3);
    }
  }

  @Test
  void lookaheadOverOneBidirectionalLayerEqualsOfflineAtTheLastStep() {
    // Step T-1 of one bidirectional layer: the forward state carried exactly, the backward half
    // one step from zero at the end, which the last window computes as offline does.
    assertThatLookaheadEqualsOffline("bilstm_last_step_linear", 3, 0);
  }

  @Test
  void lookaheadCoveringTheWholeSequenceEqualsOfflineForAStack() {
    assertThatLookaheadEqualsOffline("bigru_2layer_last_step_layernorm_gelu", 2, 9);
  }

  private static void assertThatLookaheadEqualsOffline(String name, int chunk, int lookahead) {
    try {
      Model m = golden(name);
      int[] td = new int[2];
      float[] x = firstSequence(name, td);
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(chunk, lookahead));
      for (int feed : new int[] {1, 2, td[0]}) {
        assertClose(
            Streams.run(engine, x, td[0], feed),
            offline(m, x, td[0], td[1]),
            name + " feed " + feed);
      }
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void realWindPowerBiLstmStreamsExactlyToItsPyTorchOutput() throws Exception {
    // The real state_dict of golden/real/onnx/wind-bilstm-statedict: BiLSTM(31 -> 128),
    // o[:, -1, :], LayerNorm, Linear, GELU, Linear; PyTorch's output for its first sequence.
    Path dir =
        Path.of(
                getClass()
                    .getResource("/golden/real/onnx/wind-bilstm-statedict/model.onnx")
                    .toURI())
            .getParent();
    Model m = ModelFiles.load(dir.resolve("model.onnx"));
    var x = NpyReader.read(dir.resolve("x.npy"));
    var y = NpyReader.read(dir.resolve("y.npy"));
    int t = x.shape()[1];
    int d = x.shape()[2];
    float[] first = Arrays.copyOf(x.floats(), t * d);
    float[] expected = Arrays.copyOf(y.floats(), y.shape()[1]);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    for (int feed : new int[] {1, 7, t}) {
      assertClose(Streams.run(engine, first, t, feed), expected, "wind feed " + feed);
    }
  }

  @Test
  void contextModeRefusesAReadoutModelNamingTheLayer() throws Exception {
    Model m = golden("bilstm_last_step_linear");
    assertThatThrownBy(() -> new StreamingEngine(m, StreamConfig.context(2, 3, 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("context mode")
        .hasMessageContaining("'/Gather'")
        .hasMessageContaining("step T-1")
        .hasMessageContaining("exact");
  }
}
