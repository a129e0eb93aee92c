package io.bistream.core.golden;

import static io.bistream.core.golden.JsonTensors.tensor;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Streaming modes against TF.js references (golden/tfjs/streaming, written by
 * generate_streaming.mjs): stateful = a TF.js stateful model's predict on successive chunks;
 * lookahead = the LC-BLSTM definition of docs/architecture.md computed with TF.js layers; context =
 * TF.js predict on each chunk's window [max(0, s-L), min(T, s+C+R)) alone, the chunk's steps kept.
 * Each case is fed in several arrival sizes: how steps arrive must not change the outputs.
 */
class StreamingGoldenTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Stream<String> cases() throws Exception {
    Path dir = Path.of(StreamingGoldenTest.class.getResource("/golden/tfjs/streaming").toURI());
    try (Stream<Path> files = Files.list(dir)) {
      return files
          .map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".json"))
          .sorted()
          .toList()
          .stream();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void streamingModeReproducesTheTfjsReference(String name) throws Exception {
    Path file = Path.of(getClass().getResource("/golden/tfjs/streaming/" + name).toURI());
    JsonNode c = JSON.readTree(file.toFile());
    Model model = ModelFiles.load(file.getParent().resolve(c.get("model").asText()).normalize());
    StreamConfig.Mode mode =
        StreamConfig.Mode.valueOf(c.get("mode").asText().toUpperCase(Locale.ROOT));
    int chunk = c.get("chunk").asInt();
    StreamConfig cfg =
        new StreamConfig(
            mode,
            chunk,
            c.path("lookahead").asInt(0),
            1_000_000,
            null,
            c.path("left_context").asInt(0));
    Tensor x = tensor(c.get("inputs").get(0));
    Tensor expected = tensor(c.get("outputs").get(0));
    for (Model.Backend backend : Model.Backend.values()) {
      StreamingEngine engine = new StreamingEngine(model, cfg, backend);
      for (int feed : new int[] {1, chunk, x.dim(1)}) {
        Tensor y = OfflineStreaming.run(engine, x, feed);
        assertThat(y.shape()).containsExactly(expected.shape());
        Tolerance.assertClose(
            name + " " + backend + " feed " + feed,
            y.data(),
            expected.data(),
            c.path("rtol").asDouble(1e-5),
            c.path("atol").asDouble(1e-6));
      }
    }
  }
}
