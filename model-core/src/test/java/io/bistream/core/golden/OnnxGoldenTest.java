package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every PyTorch model exported to ONNX by {@code golden/onnx/generate.py} reproduces PyTorch's
 * outputs through BiStream, with both matrix-product backends. Inputs and outputs are stored in
 * BiStream's [N, T, F] convention; initial states {@code [k, N, H]} as the graph takes them, fed as
 * the k model inputs {@code name[i]}.
 */
class OnnxGoldenTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Stream<String> cases() throws Exception {
    Path root = root();
    try (Stream<Path> dirs = Files.list(root)) {
      List<String> found =
          dirs.filter(d -> Files.exists(d.resolve("case.json")))
              .map(d -> d.getFileName().toString())
              .sorted()
              .toList();
      assertThat(found).as("ONNX golden cases").hasSizeGreaterThanOrEqualTo(8);
      return found.stream();
    }
  }

  static Path root() throws Exception {
    return Path.of(OnnxGoldenTest.class.getResource("/golden/onnx").toURI());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void onnxModelReproducesPyTorchOutputs(String name) throws Exception {
    Path dir = root().resolve(name);
    JsonNode c = JSON.readTree(dir.resolve("case.json").toFile());
    Model model = ModelFiles.load(dir.resolve(c.get("model").asText()));
    assertThat(model.source().format()).isEqualTo("onnx");
    int opset = c.has("opset") ? c.get("opset").asInt() : 14;
    assertThat(model.source().version()).startsWith("opset " + opset + ", producer pytorch");
    assertThat(model.inputs().get(0).shape()).as("time stays open").startsWith(-1);
    List<Tensor> inputs = inputs(dir, c);
    Tensor expected = tensor(NpyReader.read(dir.resolve(c.get("outputs").get(0).asText())));
    predictsOnEveryBackend(name, model, inputs, expected, c);
  }

  /** The model's one output on {@code inputs} is {@code expected}, within the case's tolerances. */
  static void predictsOnEveryBackend(
      String name, Model model, List<Tensor> inputs, Tensor expected, JsonNode c) {
    for (Model.Backend backend : Model.Backend.values()) {
      List<Tensor> out = model.predict(inputs, backend);
      assertThat(out).hasSize(1);
      assertThat(out.get(0).shape()).as("output shape").containsExactly(expected.shape());
      Tolerance.assertClose(
          name + " (" + backend + ")",
          out.get(0).data(),
          expected.data(),
          c.get("rtol").asDouble(),
          c.get("atol").asDouble());
    }
  }

  @org.junit.jupiter.api.Test
  void staticShapeExportRunsOnOtherBatchAndTimeSizes() throws Exception {
    Path dir = root().resolve("lstm_2layer_static_last_step");
    Model model = ModelFiles.load(dir.resolve("model.onnx"));
    Tensor x = tensor(NpyReader.read(dir.resolve("x_other.npy")));
    Tensor expected = tensor(NpyReader.read(dir.resolve("y_other.npy")));
    assertThat(x.shape()).containsExactly(3, 17, 3); // traced on [2, 9, 3]
    Tensor y = model.predict(x);
    assertThat(y.shape()).containsExactly(expected.shape());
    Tolerance.assertClose("static export on [3, 17, 3]", y.data(), expected.data(), 1e-5, 1e-6);
  }

  @org.junit.jupiter.api.Test
  void fixedTimeExportSaysTheLengthItDeclaresAndThatAnyLengthRuns() throws Exception {
    // Exported without dynamic_axes on 16 steps; inspect shows this note in its format line.
    Model model = ModelFiles.load(root().resolve("lstm_1feature_seq_first_fixed_t/model.onnx"));
    assertThat(model.source().version())
        .contains("input 'x' declares T = 16 (the export's trace), BiStream runs any T");
    Model open = ModelFiles.load(root().resolve("lstm_1feature_batch_first_forecast/model.onnx"));
    assertThat(open.source().version()).doesNotContain("declares T");
  }

  /** x, then each state file split along its first axis, in the model's input order. */
  static List<Tensor> inputs(Path dir, JsonNode c) throws Exception {
    List<Tensor> out = new ArrayList<>();
    for (JsonNode f : c.get("inputs")) {
      Tensor t = tensor(NpyReader.read(dir.resolve(f.asText())));
      if (out.isEmpty()) {
        out.add(t);
        continue;
      }
      int k = t.dim(0);
      int per = t.data().length / k;
      for (int i = 0; i < k; i++) {
        out.add(
            new Tensor(
                Arrays.copyOfRange(t.data(), i * per, (i + 1) * per),
                Arrays.copyOfRange(t.shape(), 1, t.rank())));
      }
    }
    return out;
  }

  static Tensor tensor(NpyArray a) {
    return new Tensor(a.floats(), a.shape());
  }
}
