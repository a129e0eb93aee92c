package io.bistream.core.golden;

import static io.bistream.core.golden.JsonTensors.tensor;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every golden case under {@code golden/<source>/cases} (see golden/FORMAT.md): the model file, the
 * inputs, and the outputs the reference framework (TF.js or PyTorch) computed. Each case runs with
 * both matrix-product backends.
 */
class GoldenCasesTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Stream<String> cases() throws Exception {
    Path root = Path.of(GoldenCasesTest.class.getResource("/golden").toURI());
    List<String> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(root)) {
      files
          .filter(p -> p.getParent().getFileName().toString().equals("cases"))
          .filter(p -> p.toString().endsWith(".json"))
          .filter(p -> !p.toString().contains("node_modules"))
          .forEach(p -> found.add(root.relativize(p).toString()));
    }
    assertThat(found).as("golden cases on the test classpath").isNotEmpty();
    return found.stream().sorted();
  }

  /** The model case {@code c} (read from {@code file}) names. */
  static Model model(Path file, JsonNode c) throws Exception {
    String ref = c.get("model").asText();
    Path modelPath =
        ref.startsWith("shared:")
            ? SharedData.dir().resolve(ref.substring("shared:".length()))
            : file.getParent().resolve(ref).normalize();
    // An architecture JSON with a save_weights file names both (golden/FORMAT.md).
    return c.has("weights")
        ? ModelFiles.load(modelPath, file.getParent().resolve(c.get("weights").asText()))
        : ModelFiles.load(modelPath);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void modelReproducesReferenceOutputs(String casePath) throws Exception {
    Path file = Path.of(GoldenCasesTest.class.getResource("/golden/" + casePath).toURI());
    JsonNode c = JSON.readTree(file.toFile());
    Assumptions.assumeFalse(c.has("skip"), () -> "generator skipped: " + c.get("skip").asText());
    Model model = model(file, c);
    List<Tensor> inputs = new ArrayList<>();
    for (JsonNode in : c.get("inputs")) {
      inputs.add(tensor(in));
    }
    double rtol = c.path("rtol").asDouble(1e-5);
    double atol = c.path("atol").asDouble(1e-6);
    boolean kerasMaskSemantics = c.get("name").asText().startsWith("tfjs_semantics_");
    for (Model.Backend backend : Model.Backend.values()) {
      List<Tensor> outputs = model.predict(inputs, backend);
      assertSameWithDirectionsBeside(model, inputs, backend, outputs);
      assertThat(outputs).hasSize(c.get("outputs").size());
      for (int k = 0; k < outputs.size(); k++) {
        Tensor expected = tensor(c.get("outputs").get(k));
        float[] want = expected.data();
        if (kerasMaskSemantics) {
          // TF.js repeats the previous output at masked steps inside Bidirectional; Keras (and
          // BiStream) output zeros there. Compare every other step as TF.js computed it.
          want = zeroMaskedSteps(want, inputs.get(0), expected.dim(-1));
        }
        assertThat(outputs.get(k).shape())
            .as("output %d shape", k)
            .containsExactly(expected.shape());
        Tolerance.assertClose(
            casePath + " output " + k + " (" + backend + ")",
            outputs.get(k).data(),
            want,
            rtol,
            atol);
      }
    }
  }

  // Each Bidirectional layer's backward direction runs on the executor, with identical results.
  private static void assertSameWithDirectionsBeside(
      Model model, List<Tensor> inputs, Model.Backend backend, List<Tensor> sequential) {
    AtomicInteger runs = new AtomicInteger();
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Executor beside =
          task -> {
            runs.incrementAndGet();
            pool.execute(task);
          };
      List<Tensor> parallel = model.predict(inputs, backend, beside);
      for (int k = 0; k < sequential.size(); k++) {
        assertThat(parallel.get(k).data())
            .as("output %d with directions in parallel (%s)", k, backend)
            .containsExactly(sequential.get(k).data());
      }
    } finally {
      pool.shutdownNow();
    }
    long bidirectional =
        model.nodes().stream().filter(n -> n.layer() instanceof Bidirectional).count();
    assertThat(runs.get()).as("backward directions run beside").isEqualTo(bidirectional);
  }

  private static float[] zeroMaskedSteps(float[] values, Tensor x, int width) {
    float[] out = values.clone();
    int f = x.dim(-1);
    for (int step = 0; step < x.rows(); step++) {
      boolean masked = true;
      for (int j = 0; j < f; j++) {
        masked &= x.data()[step * f + j] == 0f;
      }
      if (masked) {
        java.util.Arrays.fill(out, step * width, (step + 1) * width, 0f);
      }
    }
    return out;
  }
}
