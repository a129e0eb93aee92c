package io.bistream.job.records;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.ModelFiles;
import io.bistream.job.JobOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * Token-id models refuse, record by record, any id their Embedding cannot look up: such an id would
 * otherwise fail inside the batched model call and take every sequence of the batch with it. The
 * model is a real TF.js file with a float32 InputLayer before its Embedding (vocabulary 9), from
 * model-core's golden fixtures.
 */
class TokenIdRecordsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODELS = "../model-core/src/test/resources/golden/tfjs/models/";
  private static final String TOKEN_MODEL =
      MODELS + "embedding_float32_inputlayer_bilstm/model.json";

  private static RecordParser parser;

  /** The job's options as the command line gives them: every limit at its default. */
  private static JobOptions options(String model) {
    JobOptions o = new JobOptions();
    new CommandLine(o)
        .parseArgs(
            "--bootstrap-servers", "broker:9093",
            "--input-topic", "in",
            "--output-topic", "out",
            "--model", model);
    return o;
  }

  @BeforeAll
  static void parserForTheTokenModel() throws Exception {
    parser =
        RecordParser.forJob(options(TOKEN_MODEL).settings(), ModelFiles.load(Path.of(TOKEN_MODEL)));
  }

  private static RecordParser.Result parse(String value) {
    return parser.parse(
        "s".getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8),
        "in",
        0,
        5,
        0);
  }

  @Test
  void idsInTheVocabularyAreOneValuePerStep() {
    InputEvent one = parse("{\"seq\":\"s\",\"t\":0,\"x\":[8]}").event();
    assertThat(one.values).containsExactly(8f);
    InputEvent many = parse("{\"seq\":\"s\",\"t\":1,\"xs\":[[0],[3.0],[7]]}").event();
    assertThat(many.steps).isEqualTo(3);
    assertThat(many.values).containsExactly(0f, 3f, 7f);
    String f32 = Float32.base64(new float[] {1, 2, 8}, 0, 3);
    assertThat(parse("{\"seq\":\"s\",\"t\":4,\"xs_f32\":\"" + f32 + "\"}").event().values)
        .containsExactly(1f, 2f, 8f);
  }

  @ParameterizedTest(name = "x = [{0}]")
  @CsvSource({
    "9, 9",
    "-1, -1",
    "2.5, 2.5",
    "1e9, 1.0E9",
    "-0.5, -0.5",
    "100000000000, 100000000000"
  })
  void idOutsideTheVocabularyOrNotAnIntegerIsABadTokenIdNamingStepValueAndRange(
      String id, String found) throws Exception {
    RecordParser.Result r = parse("{\"seq\":\"s\",\"t\":6,\"xs\":[[1],[" + id + "]]}");
    assertThat(r.event()).isNull();
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_TOKEN_ID);
    JsonNode dl = JSON.readTree(r.deadLetter());
    assertThat(dl.get("reason").asText()).isEqualTo("bad_token_id");
    assertThat(dl.get("detail").asText())
        .isEqualTo(
            "step 7: token id "
                + found
                + " is not an integer in [0, 9) (the vocabulary of the model's Embedding)");
  }

  @ParameterizedTest(name = "xs_f32 with {0}")
  @ValueSource(floats = {9f, -1f, 2.5f, 1e9f, Float.MIN_VALUE})
  void binaryStepsOfATokenModelFollowTheSameRule(float id) throws Exception {
    String f32 = Float32.base64(new float[] {4, id}, 0, 2);
    RecordParser.Result r = parse("{\"seq\":\"s\",\"t\":10,\"xs_f32\":\"" + f32 + "\"}");
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_TOKEN_ID);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .isEqualTo(
            "step 11: token id "
                + id
                + " is not an integer in [0, 9) (the vocabulary of the model's Embedding)");
  }

  @Test
  void notFiniteIdsStayNotFinite() {
    assertThat(parse("{\"seq\":\"s\",\"t\":0,\"x\":[NaN]}").reason())
        .isEqualTo(DeadLetter.Reason.NOT_FINITE);
  }

  @Test
  void idsWithoutAnExactFloat32AreRefusedInAHugeVocabulary() throws Exception {
    RecordParser huge = new RecordParser(1, 1000, 4, 64, 20_000_000);
    assertThat(
            huge.parse(null, "{\"seq\":\"s\",\"t\":0,\"x\":[16777216]}".getBytes(), "in", 0, 0, 0)
                .event())
        .isNotNull();
    RecordParser.Result r =
        huge.parse(null, "{\"seq\":\"s\",\"t\":0,\"x\":[16777217]}".getBytes(), "in", 0, 0, 0);
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_TOKEN_ID);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .contains("token id 16777217 has no exact float32 value");
  }

  @Test
  void valueModelsTakeAnyFiniteValue() {
    RecordParser values = new RecordParser(1, 1000, 4, 64, 0);
    assertThat(
            values
                .parse(null, "{\"seq\":\"s\",\"t\":0,\"x\":[-2.5]}".getBytes(), "in", 0, 0, 0)
                .event())
        .isNotNull();
  }

  @Test
  void modelWithAnUnknownInputWidthIsRefusedWhenTheJobIsBuilt(@TempDir Path dir) throws Exception {
    Path source = Path.of(MODELS, "bilstm_concat");
    ObjectNode json = (ObjectNode) JSON.readTree(source.resolve("model.json").toFile());
    ((ObjectNode) json.at("/modelTopology/config/layers/0/config"))
        .set("batch_input_shape", JSON.createArrayNode().addNull().addNull().addNull());
    Files.copy(source.resolve("weights.bin"), dir.resolve("weights.bin"));
    Path file = dir.resolve("model.json");
    JSON.writeValue(file.toFile(), json);
    assertThatThrownBy(
            () -> RecordParser.forJob(options(file.toString()).settings(), ModelFiles.load(file)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("an unknown last dimension");
  }
}
