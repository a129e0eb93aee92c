package io.bistream.core.golden;

import static io.bistream.core.golden.JsonTensors.tensor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyDtype;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.npy.NpyWriter;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
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
    // Exact mode equals offline; so does lookahead whose R covers the whole sequence
    // (docs/architecture.md, "Streaming modes").
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
        .hasMessageContaining("bi1_input[T, None]")
        .hasMessageContaining("an unknown last dimension");
  }

  @Test
  void idsAsInt32Int64OrIntegralFloat32NpyAllGiveTheTfjsPredictions(@TempDir Path dir)
      throws Exception {
    JsonNode c = JSON.readTree(caseFile().toFile());
    Tensor ids = tensor(c.get("inputs").get(0));
    Tensor expected = tensor(c.get("outputs").get(0));
    Model model = ModelFiles.load(modelFile());
    int[] asInts = new int[ids.data().length];
    for (int i = 0; i < asInts.length; i++) {
      asInts[i] = (int) ids.data()[i];
    }
    Path int64 = dir.resolve("ids64.npy");
    writeInt64Npy(int64, ids.shape(), asInts);
    Path int32 = dir.resolve("ids32.npy");
    NpyWriter.write(int32, NpyArray.ofInts(ids.shape(), asInts));
    Path float32 = dir.resolve("ids_f32.npy");
    NpyWriter.write(float32, NpyArray.ofFloats(ids.shape(), ids.data()));
    for (Path file : new Path[] {int64, int32, float32}) {
      NpyArray read = NpyReader.read(file);
      Tensor x = model.inputs().get(0).tensorFrom(read, file.toString());
      Tensor y = model.predict(x);
      assertThat(y.shape()).as(read.dtype().numpyName()).containsExactly(expected.shape());
      Tolerance.assertClose(
          "ids as " + read.dtype().numpyName(), y.data(), expected.data(), 1e-5, 1e-6);
    }
    assertThat(NpyReader.read(int64).dtype()).isEqualTo(NpyDtype.INT64);
  }

  @Test
  void nonIntegralOrOutOfRangeIdsAreRefusedNamingTheInputTheRangeAndTheValue() throws Exception {
    Model model = ModelFiles.load(modelFile());
    Model.Input in = model.inputs().get(0);
    float[] fractional = {1, 2, 3.5f, 4};
    assertThatThrownBy(
            () -> in.tensorFrom(NpyArray.ofFloats(new int[] {2, 2}, fractional), "x.npy"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("x.npy")
        .hasMessageContaining("input '" + in.name() + "'")
        .hasMessageContaining("integer token ids in [0, 9)")
        .hasMessageContaining("found 3.5 at [1, 0]");
    int[] tooBig = {1, 9, 3, 4};
    assertThatThrownBy(() -> in.tensorFrom(NpyArray.ofInts(new int[] {1, 4}, tooBig), "x.npy"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("input '" + in.name() + "'")
        .hasMessageContaining("[0, 9)")
        .hasMessageContaining("found 9 at [0, 1]");
    // The graph refuses the same ids when they reach it as a tensor, naming the model input.
    Tensor bad = new Tensor(new float[] {1, -1}, new int[] {1, 2});
    assertThatThrownBy(() -> model.predict(bad))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("input '" + in.name() + "'")
        .hasMessageContaining("[0, 9)")
        .hasMessageContaining("found -1 at [0, 1]");
  }

  @Test
  void integerArrayForAFeatureInputIsRefusedWithTheDeclaredShape() throws Exception {
    Path source = caseFile().getParent().resolve("../models/bilstm_concat/model.json").normalize();
    Model model = ModelFiles.load(source);
    Model.Input in = model.inputs().get(0);
    int width = in.shape()[in.shape().length - 1];
    assertThatThrownBy(
            () -> in.tensorFrom(NpyArray.ofInts(new int[] {2, 3}, new int[6]), "ids.npy"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("ids.npy")
        .hasMessageContaining(
            "input '" + in.name() + "' takes float32 features [N,T," + width + "]")
        .hasMessageContaining("found int32 [2, 3]")
        .hasMessageContaining("save X as float32");
  }

  /** A little-endian int64 {@code .npy} (version 1.0), as {@code np.save} writes int64 arrays. */
  private static void writeInt64Npy(Path file, int[] shape, int[] values) throws Exception {
    StringBuilder dims = new StringBuilder();
    for (int d : shape) {
      dims.append(d).append(", ");
    }
    String header =
        "{'descr': '<i8', 'fortran_order': False, 'shape': ("
            + dims.toString().replaceAll(", $", shape.length == 1 ? "," : "")
            + "), }";
    int padded = ((10 + header.length() + 1 + 63) / 64) * 64 - 10;
    header = header + " ".repeat(padded - header.length() - 1) + "\n";
    ByteBuffer b =
        ByteBuffer.allocate(10 + header.length() + 8 * values.length)
            .order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
    b.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
    for (int v : values) {
      b.putLong(v);
    }
    Files.write(file, b.array());
  }
}
