package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token-id inputs as a framework writes them: a TF.js Sequential model whose explicit InputLayer
 * declares float32 before its Embedding (golden/tfjs, case embedding_float32_inputlayer_bilstm).
 * The input takes one id per step whatever dtype the file declares, and streams like any model.
 */
class TokenIdInputTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CASE = "/golden/tfjs/cases/embedding_float32_inputlayer_bilstm.json";

  private static Path caseFile() throws Exception {
    return Path.of(TokenIdInputTest.class.getResource(CASE).toURI());
  }

  private static Path modelFile() throws Exception {
    return caseFile()
        .getParent()
        .resolve("../models/embedding_float32_inputlayer_bilstm/model.json")
        .normalize();
  }

  @Test
  void float32InputLayerBeforeAnEmbeddingTakesOneTokenIdPerStep() throws Exception {
    Model model = ModelFiles.load(modelFile());
    Model.Input in = model.inputs().get(0);
    assertThat(in.tokenIds()).isTrue();
    assertThat(in.vocabularySize()).as("the Embedding's input_dim in model.json").isEqualTo(9);
    StreamingEngine engine =
        new StreamingEngine(model, new StreamConfig(StreamConfig.Mode.EXACT, 3, 0, 1_000, null));
    assertThat(engine.inputWidth()).isEqualTo(1);
    assertThat(engine.tokenVocabulary()).isEqualTo(9);
  }

  @Test
  void streamedTokenIdsEqualTheTfjsPredictions() throws Exception {
    JsonNode c = JSON.readTree(caseFile().toFile());
    Tensor ids = tensor(c.get("inputs").get(0));
    Tensor expected = tensor(c.get("outputs").get(0));
    Model model = ModelFiles.load(modelFile());
    // Exact mode equals offline; so does lookahead whose R covers the whole sequence (DESIGN §4).
    StreamConfig[] configs = {
      new StreamConfig(StreamConfig.Mode.EXACT, 3, 0, 1_000, null),
      new StreamConfig(StreamConfig.Mode.LOOKAHEAD, 3, ids.dim(1), 1_000, null)
    };
    for (StreamConfig cfg : configs) {
      StreamingEngine engine = new StreamingEngine(model, cfg);
      for (int feed : new int[] {1, 3, ids.dim(1)}) {
        Tensor y = OfflineStreaming.run(engine, ids, feed);
        assertThat(y.shape()).containsExactly(expected.shape());
        Tolerance.assertClose(
            "token ids streamed " + cfg.mode() + " feed " + feed,
            y.data(),
            expected.data(),
            1e-5,
            1e-6);
      }
    }
  }

  @Test
  void inputWithUnknownWidthIsRefusedNamingTheFileAndTheShape(@TempDir Path dir) throws Exception {
    // A float model re-declared with an unknown last dimension: the weights load, but no record
    // could say how many values a step has.
    Path source = caseFile().getParent().resolve("../models/bilstm_concat").normalize();
    ObjectNode json = (ObjectNode) JSON.readTree(source.resolve("model.json").toFile());
    ObjectNode inputLayer = (ObjectNode) json.at("/modelTopology/config/layers/0/config");
    ArrayNode unknown = JSON.createArrayNode().addNull().addNull().addNull();
    inputLayer.set("batch_input_shape", unknown);
    Files.copy(source.resolve("weights.bin"), dir.resolve("weights.bin"));
    Path file = dir.resolve("model.json");
    JSON.writeValue(file.toFile(), json);
    Model model = ModelFiles.load(file);
    assertThatThrownBy(
            () ->
                new StreamingEngine(
                    model, new StreamConfig(StreamConfig.Mode.EXACT, 3, 0, 1_000, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("bi1_input[None, None]")
        .hasMessageContaining("an unknown last dimension");
  }

  private static Tensor tensor(JsonNode n) {
    int[] shape = new int[n.get("shape").size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = n.get("shape").get(i).asInt();
    }
    float[] values = new float[n.get("data").size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) n.get("data").get(i).asDouble();
    }
    return new Tensor(values, shape);
  }
}
