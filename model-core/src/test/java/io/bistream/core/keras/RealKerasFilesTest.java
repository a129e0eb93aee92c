package io.bistream.core.keras;

import static io.bistream.core.golden.JsonTensors.tensor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.golden.Tolerance;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Real Keras files from public repositories (golden/real/keras, SOURCE.md beside each): every one
 * either has a golden case whose PyTorch reference GoldenCasesTest checks, or is refused with the
 * message pinned here (and listed in golden/real/README.md).
 */
class RealKerasFilesTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Files refused on purpose: folder/file -> the message after "path: ". */
  static final Map<String, String> REFUSED =
      Map.of(
          "k3.13-custom-selfattention/best_model.keras",
          "layer 'self_attention' (SelfAttention): a custom layer (registered as"
              + " 'SelfAttention') is user code, which BiStream cannot run; supported: "
              + KerasModelBuilder.SUPPORTED);

  private static Path root() throws Exception {
    return Path.of(RealKerasFilesTest.class.getResource("/golden/real/keras").toURI());
  }

  private static List<String> modelFiles() throws Exception {
    Path root = root();
    try (Stream<Path> files = Files.walk(root)) {
      return files
          .filter(
              p ->
                  p.toString().endsWith(".h5")
                      || p.toString().endsWith(".keras")
                      || p.toString().endsWith(".json")
                          && !p.getParent().getFileName().toString().equals("cases"))
          .filter(p -> !p.getFileName().toString().contains("inputs_and_outputs"))
          .map(p -> root.relativize(p).toString())
          .sorted()
          .toList();
    }
  }

  @Test
  void everyRealFileHasAGoldenCaseOrAPinnedRefusal() throws Exception {
    Set<String> covered = new TreeSet<>();
    try (Stream<Path> cases = Files.list(root().resolve("cases"))) {
      for (Path c : cases.toList()) {
        var json = JSON.readTree(c.toFile());
        for (String key : new String[] {"model", "weights"}) {
          if (json.has(key)) {
            covered.add(
                root().resolve("cases").resolve(json.get(key).asText()).normalize().toString());
          }
        }
      }
    }
    List<String> files = modelFiles();
    assertThat(files).as("real Keras files").hasSizeGreaterThanOrEqualTo(10);
    for (String f : files) {
      assertThat(covered.contains(root().resolve(f).toString()) || REFUSED.containsKey(f))
          .as("%s has a case in golden/real/keras/cases or a pinned refusal", f)
          .isTrue();
      assertThat(root().resolve(f).resolveSibling("SOURCE.md")).as("source of " + f).exists();
    }
  }

  /** Real models the streaming engine takes in exact mode give their PyTorch outputs too. */
  @Test
  void realFilesStreamedInExactModeGiveTheReferenceOutputs() throws Exception {
    List<String> notStreamed = new java.util.ArrayList<>();
    int streamed = 0;
    try (Stream<Path> cases = Files.list(root().resolve("cases"))) {
      for (Path c : cases.sorted().toList()) {
        var json = JSON.readTree(c.toFile());
        Path model = c.getParent().resolve(json.get("model").asText()).normalize();
        Model m =
            json.has("weights")
                ? ModelFiles.load(model, c.getParent().resolve(json.get("weights").asText()))
                : ModelFiles.load(model);
        StreamingEngine engine;
        try {
          engine =
              new StreamingEngine(
                  m, new StreamConfig(StreamConfig.Mode.EXACT, 3, 0, 1 << 20, null));
        } catch (IllegalArgumentException e) {
          notStreamed.add(c.getFileName() + ": " + e.getMessage());
          continue;
        }
        Tensor x = tensor(json.get("inputs").get(0));
        Tensor want = tensor(json.get("outputs").get(0));
        Tensor y = OfflineStreaming.run(engine, x, 3);
        assertThat(y.shape()).as(c.getFileName().toString()).containsExactly(want.shape());
        Tolerance.assertClose(
            c.getFileName() + " streamed",
            y.data(),
            want.data(),
            json.path("rtol").asDouble(1e-5),
            json.path("atol").asDouble(1e-6));
        streamed++;
      }
    }
    // Its input is one vector [12] that a Reshape turns into a sequence: no steps to stream.
    assertThat(notStreamed)
        .singleElement()
        .asString()
        .startsWith("k3.9-reshape-lstm-emg.json: ")
        .endsWith(
            "model.keras: layer 'reshape' (Reshape): streaming supports recurrent,"
                + " Bidirectional and per-step layers");
    assertThat(streamed).isGreaterThan(10);
  }

  @Test
  void refusedRealFilesSayExactlyWhy() throws Exception {
    for (Map.Entry<String, String> e : REFUSED.entrySet()) {
      Path file = root().resolve(e.getKey());
      assertThatThrownBy(() -> ModelFiles.load(file))
          .as(e.getKey())
          .isInstanceOf(ModelFormatException.class)
          .hasMessage(file + ": " + e.getValue());
    }
  }
}
