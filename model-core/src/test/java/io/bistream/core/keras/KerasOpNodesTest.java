package io.bistream.core.keras;

import static io.bistream.core.golden.JsonTensors.tensor;
import static io.bistream.core.keras.KerasArchives.golden;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.golden.Tolerance;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.Masking;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras 3 mask op nodes (golden/torch cases written by generate.py, PyTorch references): they load
 * as the mask of an Embedding or Masking layer, so the model takes token ids and streams like any
 * masked model.
 */
class KerasOpNodesTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static void streamsLikePytorch(String name) throws Exception {
    JsonNode c = JSON.readTree(golden("cases/" + name + ".json").toFile());
    Tensor x = tensor(c.get("inputs").get(0));
    Tensor expected = tensor(c.get("outputs").get(0));
    Model model = ModelFiles.load(golden("models/" + name + ".keras"));
    StreamingEngine engine =
        new StreamingEngine(model, new StreamConfig(StreamConfig.Mode.EXACT, 3, 0, 1_000, null));
    for (int feed : new int[] {1, 3, x.dim(1)}) {
      Tensor y = OfflineStreaming.run(engine, x, feed);
      assertThat(y.shape()).containsExactly(expected.shape());
      Tolerance.assertClose(name + " exact, feed " + feed, y.data(), expected.data(), 1e-5, 1e-6);
    }
  }

  @Test
  void notEqualMaskOpBecomesTheEmbeddingsZeroMaskAndTheInputTakesTokenIds() throws Exception {
    Model model =
        ModelFiles.load(golden("models/embedding_mask_logical_not_equal_bilstm_keras3.keras"));
    assertThat(model.inputs().get(0).tokenIds()).isTrue();
    assertThat(model.inputs().get(0).vocabularySize()).isEqualTo(12);
    assertThat(model.nodes())
        .anySatisfy(
            n ->
                assertThat(n.layer())
                    .isInstanceOfSatisfying(
                        Embedding.class,
                        e -> {
                          assertThat(e.maskZero())
                              .as("mask_zero=false in the file, mask op ids != 0")
                              .isTrue();
                        }));
    assertThat(model.nodes()).noneMatch(n -> n.layer().name().contains("equal"));
    streamsLikePytorch("embedding_mask_not_equal_bilstm_keras3");
    streamsLikePytorch("embedding_mask_logical_not_equal_bilstm_keras3");
    streamsLikePytorch("embedding_mask_not_equal_stacked_lstm_keras3");
  }

  @Test
  void castOfTheIdsToBoolIsTheSameZeroMask(@TempDir Path tmp) throws Exception {
    // mask=ops.cast(ids, "bool") instead of ops.not_equal(ids, 0): the same padding mask.
    Path model =
        KerasArchives.copyWithConfig(
            "embedding_mask_not_equal_bilstm_keras3.keras",
            tmp.resolve("cast.keras"),
            c ->
                c.replace(
                        "\"class_name\": \"NotEqual\", \"config\": {\"name\": \"not_equal\"}",
                        "\"class_name\": \"Cast\", \"config\": {\"name\": \"not_equal\","
                            + " \"dtype\": \"bool\"}")
                    .replace(
                        "\"keras_history\": [\"ids\", 0, 0]}}, 0]",
                        "\"keras_history\": [\"ids\", 0, 0]}}]"));
    JsonNode c =
        JSON.readTree(golden("cases/embedding_mask_not_equal_bilstm_keras3.json").toFile());
    Tensor y = ModelFiles.load(model).predict(tensor(c.get("inputs").get(0)));
    Tensor expected = tensor(c.get("outputs").get(0));
    assertThat(y.shape()).containsExactly(expected.shape());
    Tolerance.assertClose("Cast(ids, bool) mask", y.data(), expected.data(), 1e-5, 1e-6);
  }

  @Test
  void anyNotEqualMaskOpIsTheMaskingLayersMask() throws Exception {
    Model model = ModelFiles.load(golden("models/masking_any_not_equal_gru_last_keras3.keras"));
    assertThat(model.nodes().stream().filter(n -> n.layer() instanceof Masking).count())
        .as("the Masking layer already on the data path makes the mask; nothing is added")
        .isEqualTo(1);
    streamsLikePytorch("masking_any_not_equal_gru_last_keras3");
  }

  @Test
  void anyNotEqualMaskOpOnTheRawInputAddsAMaskingBeforeTheRecurrentLayer() throws Exception {
    Model model = ModelFiles.load(golden("models/any_not_equal_mask_gru_last_keras3.keras"));
    Model.Node first = model.nodes().get(0);
    assertThat(first.layer()).isInstanceOf(Masking.class);
    assertThat(first.layer().name()).isEqualTo("any");
    assertThat(model.nodes().get(1).inbound().get(0).layer()).isEqualTo("any");
    streamsLikePytorch("any_not_equal_mask_gru_last_keras3");
  }
}
