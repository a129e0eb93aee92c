package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ONNX files taken unchanged from public repositories ({@code golden/real/onnx/<name>/}, source in
 * each SOURCE.md) either reproduce the outputs PyTorch computes for them (a module rebuilt from the
 * file's initializers by {@code reference.py}), with both matrix-product backends, or are refused
 * with the message their case.json pins.
 */
class RealOnnxFilesTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Path root() throws Exception {
    return Path.of(RealOnnxFilesTest.class.getResource("/golden/real/onnx").toURI());
  }

  static Stream<String> files() throws Exception {
    try (Stream<Path> dirs = Files.list(root())) {
      List<String> found =
          dirs.filter(d -> Files.exists(d.resolve("case.json")))
              .map(d -> d.getFileName().toString())
              .sorted()
              .toList();
      assertThat(found).as("real ONNX files").isNotEmpty();
      return found.stream();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("files")
  void realFileLoadsAndMatchesPyTorchOrIsRefusedClearly(String name) throws Exception {
    Path dir = root().resolve(name);
    JsonNode c = JSON.readTree(dir.resolve("case.json").toFile());
    Path file = dir.resolve(c.get("model").asText());
    assertThat(dir.resolve("SOURCE.md")).as("source of " + name).exists();
    if (c.get("outcome").asText().equals("refused")) {
      var thrown =
          assertThatThrownBy(() -> ModelFiles.load(file))
              .isInstanceOf(ModelFormatException.class)
              .hasMessageStartingWith(file.toString());
      for (JsonNode fragment : c.get("error")) {
        thrown.hasMessageContaining(fragment.asText());
      }
      return;
    }
    Model model = ModelFiles.load(file);
    assertThat(model.source().format()).isEqualTo("onnx");
    List<Tensor> inputs = OnnxGoldenTest.inputs(dir, c);
    Tensor expected = OnnxGoldenTest.tensor(NpyReader.read(dir.resolve("y.npy")));
    OnnxGoldenTest.predictsOnEveryBackend(name, model, inputs, expected, c);
  }
}
