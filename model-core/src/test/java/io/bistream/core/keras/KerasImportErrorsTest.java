package io.bistream.core.keras;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken or unsupported model files fail with a message naming file, layer and expectation. */
class KerasImportErrorsTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private static Path shared(String relative) {
    String dir = System.getProperty("bistream.shared.dir", "../../shared");
    return Path.of(dir, "conformance/keras", relative);
  }

  private Path tfjsCopy(String model) throws Exception {
    Path src = Path.of(getClass().getResource("/golden/tfjs/models/" + model).toURI());
    Path dst = tmp.resolve(model);
    Files.createDirectories(dst);
    for (String f : new String[] {"model.json", "weights.bin"}) {
      Files.copy(src.resolve(f), dst.resolve(f));
    }
    return dst.resolve("model.json");
  }

  @Test
  void unsupportedLayerNamesFileLayerAndSupportedSet() {
    Path file = shared("tfkeras/convlstm2d_3.h5");
    assertThatThrownBy(() -> ModelFiles.load(file))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("(ConvLSTM2D)")
        .hasMessageContaining("supported: InputLayer, LSTM, GRU");
  }

  @Test
  void truncatedHdf5FileIsReportedAsCorruptOrTruncated() throws Exception {
    byte[] whole = Files.readAllBytes(shared("tfkeras/rnn_221.h5"));
    Path cut = tmp.resolve("cut.h5");
    Files.write(cut, Arrays.copyOf(whole, whole.length / 2));
    assertThatThrownBy(() -> ModelFiles.load(cut))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith(cut.toString())
        .hasMessageContaining("corrupt or truncated");
  }

  @Test
  void garbageAfterTheHdf5SignatureIsReportedAsCorrupt() throws Exception {
    byte[] whole = Files.readAllBytes(shared("tfkeras/rnn_221.h5"));
    for (int i = 8; i < 2048; i++) {
      whole[i] = (byte) (i * 31);
    }
    Path bad = tmp.resolve("bad.h5");
    Files.write(bad, whole);
    assertThatThrownBy(() -> ModelFiles.load(bad))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith(bad.toString());
  }

  @Test
  void weightShapeMismatchSaysExpectedAndFound() throws Exception {
    Path model = tfjsCopy("bilstm_concat");
    ObjectNode root = (ObjectNode) JSON.readTree(model.toFile());
    // Declare one kernel with a wrong width: the shard still holds the same number of values.
    var weights = root.withArray("weightsManifest").get(0).withArray("weights");
    var shape = (com.fasterxml.jackson.databind.node.ArrayNode) weights.get(0).get("shape");
    int rows = shape.get(0).asInt();
    int cols = shape.get(1).asInt();
    shape.removeAll().add(cols).add(rows);
    JSON.writeValue(model.toFile(), root);
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining(model.toString())
        .hasMessageContaining("layer '")
        .hasMessageContaining("expected [input, ");
  }

  @Test
  void truncatedWeightShardSaysHowManyBytesAreMissing() throws Exception {
    Path model = tfjsCopy("bilstm_concat");
    Path shard = model.resolveSibling("weights.bin");
    byte[] bytes = Files.readAllBytes(shard);
    Files.write(shard, Arrays.copyOf(bytes, bytes.length - 8));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("weight shards end early");
  }

  @Test
  void unsupportedOptionIsNamed() throws Exception {
    Path model = tfjsCopy("bilstm_concat");
    String text =
        Files.readString(model)
            .replace("\"merge_mode\":\"concat\"", "\"merge_mode\":\"max\"")
            .replace("\"merge_mode\": \"concat\"", "\"merge_mode\": \"max\"");
    Files.writeString(model, text);
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("(Bidirectional)")
        .hasMessageContaining("unsupported merge_mode 'max'");
  }

  @Test
  void invalidJsonSaysWhere() throws Exception {
    Path model = tfjsCopy("bilstm_concat");
    Files.writeString(model, "{\"modelTopology\": {\"class_name\": ");
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("not valid JSON (line 1");
  }

  @Test
  void weightsOnlyFileTellsWhatToPassInstead() {
    Path file = shared("fullconfigs/lstm/lstm_th_keras_2_weights.h5");
    assertThatThrownBy(() -> ModelFiles.load(file))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("weights-only")
        .hasMessageContaining("--weights");
  }

  /** A copy of a golden/torch Keras 3 archive with its config.json edited by {@code edit}. */
  private Path keras3Copy(String model, java.util.function.UnaryOperator<String> edit)
      throws Exception {
    return KerasArchives.copyWithConfig(model, tmp.resolve(model), edit);
  }

  @Test
  void opNodeThatIsNoMaskIsRefusedNamingTheNodeAndTheOp() throws Exception {
    Path model =
        keras3Copy(
            "embedding_mask_not_equal_bilstm_keras3.keras",
            c -> c.replace("\"class_name\": \"NotEqual\"", "\"class_name\": \"Add\""));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining(model.toString())
        .hasMessageContaining("'not_equal'")
        .hasMessageContaining("op Add")
        .hasMessageContaining("NotEqual");
  }

  @Test
  void maskOpComparingIdsWithAnotherValueThanZeroIsRefused() throws Exception {
    Path model =
        keras3Copy(
            "embedding_mask_not_equal_bilstm_keras3.keras",
            c ->
                c.replace(
                    "\"keras_history\": [\"ids\", 0, 0]}}, 0]",
                    "\"keras_history\": [\"ids\", 0, 0]}}, 5]"));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("'not_equal'")
        .hasMessageContaining("'bidirectional'")
        .hasMessageContaining("!= 5");
  }

  @Test
  void equalMaskKeepsThePaddingStepsAndIsRefusedNamingTheOpAndTheLayer() throws Exception {
    Path model =
        keras3Copy(
            "embedding_mask_not_equal_bilstm_keras3.keras",
            c -> c.replace("\"class_name\": \"NotEqual\"", "\"class_name\": \"Equal\""));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageStartingWith(model + ": layer 'bidirectional' (Bidirectional): ")
        .hasMessageContaining("op node 'not_equal' = (ids == 0)")
        .hasMessageContaining("expected a step kept where ids != v");
  }

  @Test
  void dtypePolicyOtherThanFloat32IsRefusedNamingLayerAndPolicy() throws Exception {
    Path model =
        keras3Copy(
            "bigru_concat_keras3.keras",
            c ->
                c.replace(
                    "\"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"float32\"}",
                    "\"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"mixed_float16\"}"));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining(model.toString())
        .hasMessageContaining("layer '")
        .hasMessageContaining("dtype policy 'mixed_float16'")
        .hasMessageContaining("float32");
  }

  @Test
  void float64LayerDtypeIsRefused() throws Exception {
    // A plain dtype string, as tf.keras 2 and the Keras 3 legacy .h5 write it.
    Path model =
        keras3Copy(
            "bigru_concat_keras3.keras",
            c ->
                c.replaceAll(
                    "\"dtype\": \\{\"module\": \"keras\", \"class_name\": \"DTypePolicy\","
                        + " \"config\": \\{\"name\": \"float32\"}, \"registered_name\": null"
                        + "(, \"shared_object_id\": \\d+)?}",
                    "\"dtype\": \"float64\""));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("dtype policy 'float64'");
  }

  @Test
  void kerasArchitectureJsonWithoutWeightsSaysToPassTheWeights() throws Exception {
    Path arch =
        Path.of(
            getClass()
                .getResource(
                    "/golden/real/keras/k2.1-json+weights-embedding-bilstm/"
                        + "bidirectional_lstm_softmax_architecture.json")
                .toURI());
    assertThatThrownBy(() -> ModelFiles.load(arch))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining(arch.toString())
        .hasMessageContaining("architecture JSON")
        .hasMessageContaining("--weights");
  }

  @Test
  void layerWithoutAnyWeightsInTheFileSaysSoAndNamesTheCurrentWeightName() throws Exception {
    Path model = tfjsCopy("embedding_float32_inputlayer_bilstm");
    ObjectNode root = (ObjectNode) JSON.readTree(model.toFile());
    var weights =
        (com.fasterxml.jackson.databind.node.ArrayNode)
            root.withArray("weightsManifest").get(0).get("weights");
    for (int i = weights.size() - 1; i >= 0; i--) {
      if (weights.get(i).get("name").asText().startsWith("emb")) {
        weights.remove(i);
      }
    }
    JSON.writeValue(model.toFile(), root);
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("(Embedding)")
        .hasMessageContaining("missing weight 'embeddings'")
        .hasMessageContaining("the file has no weights for this layer");
  }

  @Test
  void customLayerIsRefusedAsCustomCodeNamingItsRegistration() throws Exception {
    Path model =
        keras3Copy(
            "stacked_bilstm_bigru_softmax_keras3.keras",
            c ->
                c.replace(
                        "{\"module\": \"keras.layers\", \"class_name\": \"Dense\"",
                        "{\"module\": \"attention\", \"class_name\": \"SelfAttention\"")
                    .replace(
                        "\"registered_name\": null, \"build_config\": {\"input_shape\": [null, null, 8]}",
                        "\"registered_name\": \"Custom>SelfAttention\", \"build_config\": {\"input_shape\": [null, null, 8]}"));
    assertThatThrownBy(() -> ModelFiles.load(model))
        .isInstanceOf(ModelFormatException.class)
        .hasMessageContaining("layer 'dense' (SelfAttention)")
        .hasMessageContaining("custom layer")
        .hasMessageContaining("'Custom>SelfAttention'")
        .hasMessageContaining("module 'attention'")
        .hasMessageContaining("supported: InputLayer");
  }

  @Test
  void missingFileIsNamed() {
    Path file = tmp.resolve("nope.h5");
    assertThatThrownBy(() -> ModelFiles.load(file))
        .isInstanceOf(ModelFormatException.class)
        .hasMessage(file + ": no such model file");
  }
}
