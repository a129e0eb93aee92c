package io.bistream.job.records;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Records of the model control topic: parsed without throwing, refused naming what is wrong. */
class ModelUpdateTest {

  private static ModelUpdate parse(String text) {
    return ModelUpdate.parse(
        text == null ? null : text.getBytes(StandardCharsets.UTF_8), "models", 0, 7);
  }

  @Test
  void aModelRecordNamesItsModelAndVersion() {
    ModelUpdate u = parse("{\"model\":\"file:/models/v2/model.json\",\"version\":\"v2\"}");
    assertThat(u.problem).isNull();
    assertThat(u.model).isEqualTo("file:/models/v2/model.json");
    assertThat(u.version).isEqualTo("v2");
  }

  @Test
  void anythingElseHasAProblemNamingWhatIsWrong() {
    assertThat(parse(null).problem).isEqualTo("an empty record");
    assertThat(parse("{\"model\":").problem).startsWith("not JSON (");
    assertThat(parse("[1]").problem).isEqualTo("not a JSON object: [1]");
    assertThat(parse("{\"version\":\"v2\"}").problem).contains("\"model\" must be");
    assertThat(parse("{\"model\":\"m.json\",\"version\":2}").problem)
        .isEqualTo("\"version\" must be a non-empty string, found 2");
  }

  @Test
  void itsDeadLetterNamesTheRecordAndWhatWasExpectedAndFound() throws Exception {
    ModelUpdate u = parse("{\"model\":\"m.json\",\"version\":\"v3\"}");
    JsonNode n =
        new ObjectMapper().readTree(u.deadLetter("refused", "input width 3", "input width 5"));
    assertThat(n.get("reason").asText()).isEqualTo("bad_model");
    assertThat(n.get("model").asText()).isEqualTo("m.json");
    assertThat(n.get("version").asText()).isEqualTo("v3");
    assertThat(n.get("expected").asText()).isEqualTo("input width 3");
    assertThat(n.get("found").asText()).isEqualTo("input width 5");
    assertThat(n.get("topic").asText()).isEqualTo("models");
    assertThat(n.get("offset").asLong()).isEqualTo(7);
    assertThat(n.get("record").asText()).isEqualTo("{\"model\":\"m.json\",\"version\":\"v3\"}");
  }
}
