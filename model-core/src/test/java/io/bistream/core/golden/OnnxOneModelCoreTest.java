package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.ModelFiles;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.Dense;
import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One model core: the same PyTorch module exported to ONNX and written as a TF.js layers model
 * (weights mapped by {@code golden/onnx/generate.py}) builds the same layer kinds and gives the
 * same outputs, both equal to PyTorch's.
 */
class OnnxOneModelCoreTest {

  private static final String CASE = "one_core_bilstm_bigru_softmax";

  @Test
  void onnxAndKerasLayoutsOfOneModuleGiveTheSameOutputs() throws Exception {
    Path dir = OnnxGoldenTest.root().resolve(CASE);
    Model onnx = ModelFiles.load(dir.resolve("model.onnx"));
    Model keras = ModelFiles.load(dir.resolve("keras/model.json"));
    assertThat(onnx.source().format()).isEqualTo("onnx");
    assertThat(keras.source().format()).isEqualTo("tfjs-layers");
    assertThat(kinds(onnx)).containsExactly("Bidirectional", "Bidirectional", "MatMul");
    assertThat(kinds(keras)).containsExactly("Bidirectional", "Bidirectional", "TimeDistributed");
    assertThat(onnx.nodes().get(0).layer()).isInstanceOf(Bidirectional.class);
    assertThat(onnx.nodes().get(2).layer()).isInstanceOf(Dense.class);
    assertThat(onnx.parameterCount()).isEqualTo(keras.parameterCount());

    Tensor x = OnnxGoldenTest.tensor(NpyReader.read(dir.resolve("x.npy")));
    float[] expected = NpyReader.read(dir.resolve("y.npy")).floats();
    for (Model.Backend backend : Model.Backend.values()) {
      float[] fromOnnx = onnx.predict(List.of(x), backend).get(0).data();
      float[] fromKeras = keras.predict(List.of(x), backend).get(0).data();
      Tolerance.assertClose("onnx vs keras " + backend, fromOnnx, fromKeras, 1e-5, 1e-6);
      Tolerance.assertClose("keras vs pytorch " + backend, fromKeras, expected, 1e-5, 1e-6);
    }
  }

  @Test
  void onnxModelStreamsExactlyLikeOffline() throws Exception {
    Path dir = OnnxGoldenTest.root().resolve(CASE);
    Model onnx = ModelFiles.load(dir.resolve("model.onnx"));
    Tensor x = OnnxGoldenTest.tensor(NpyReader.read(dir.resolve("x.npy")));
    float[] offline = onnx.predict(x).data();
    for (int feed : new int[] {1, 7, 40}) {
      StreamingEngine engine = new StreamingEngine(onnx, StreamConfig.exact());
      float[] streamed = OfflineStreaming.run(engine, x, feed).data();
      Tolerance.assertClose("exact streaming, feed " + feed, streamed, offline, 1e-6, 1e-7);
    }
  }

  private static List<String> kinds(Model m) {
    return m.nodes().stream().map(n -> n.layer().kind()).toList();
  }
}
