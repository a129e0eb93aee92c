package io.bistream.job.records;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Real serialized bytes in, events or dead letters out (DESIGN.md §5). */
class RecordParserTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private final RecordParser parser = new RecordParser(2, 200, 3);

  private RecordParser.Result parse(String key, String value) {
    return parser.parse(
        key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8),
        "in",
        2,
        41,
        1000);
  }

  @Test
  void parsesOneStepManyStepsAndEndMarkers() {
    InputEvent one = parse("s-17", "{\"seq\":\"s-17\",\"t\":1042,\"x\":[0.1,0.2]}").event();
    assertThat(one.seq).isEqualTo("s-17");
    assertThat(one.t).isEqualTo(1042);
    assertThat(one.values).containsExactly(0.1f, 0.2f);
    InputEvent many = parse("s-17", "{\"seq\":\"s-17\",\"t\":1043,\"xs\":[[1,2],[3,4]]}").event();
    assertThat(many.steps).isEqualTo(2);
    assertThat(many.values).containsExactly(1f, 2f, 3f, 4f);
    InputEvent end = parse(null, "{\"seq\":\"s-17\",\"t\":1045,\"end\":true}").event();
    assertThat(end.end).isTrue();
    assertThat(end.steps).isZero();
  }

  @Test
  void keepsNonAsciiSequenceIds() {
    InputEvent e = parse("séquence-✓", "{\"seq\":\"séquence-✓\",\"t\":0,\"x\":[1,2]}").event();
    assertThat(e.seq).isEqualTo("séquence-✓");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "bad_json          | {\"seq\":\"a\",\"t\":0,\"x\":[1,2]",
        "bad_json          | \u00ff\u00fe not json",
        "wrong_width       | {\"seq\":\"a\",\"t\":0,\"x\":[1,2,3]}",
        "not_finite        | {\"seq\":\"a\",\"t\":0,\"x\":[NaN,2]}",
        "not_finite        | {\"seq\":\"a\",\"t\":0,\"x\":[1e40,2]}",
        "bad_record        | {\"seq\":\"a\",\"t\":-1,\"x\":[1,2]}",
        "bad_record        | {\"seq\":\"a\",\"x\":[1,2]}",
        "bad_record        | {\"seq\":\"a\",\"t\":0}",
        "bad_record        | {\"seq\":\"a\",\"t\":0,\"x\":[1,\"b\"]}",
        "oversize          | {\"seq\":\"a\",\"t\":0,\"xs\":[[1,2],[1,2],[1,2],[1,2]]}",
        "key_mismatch      | {\"seq\":\"b\",\"t\":0,\"x\":[1,2]}"
      })
  void refusesInvalidRecordsWithReasonAndSource(String reason, String value) throws Exception {
    RecordParser.Result r = parse("a", value.trim());
    assertThat(r.event()).isNull();
    JsonNode dl = JSON.readTree(r.deadLetter());
    assertThat(dl.get("reason").asText()).isEqualTo(reason.trim());
    assertThat(dl.get("topic").asText()).isEqualTo("in");
    assertThat(dl.get("partition").asInt()).isEqualTo(2);
    assertThat(dl.get("offset").asLong()).isEqualTo(41);
    assertThat(dl.get("record").asText()).isEqualTo(value.trim());
    assertThat(dl.get("detail").asText()).isNotBlank();
  }

  @Test
  void refusesRecordsOverTheByteLimitAndTruncatesTheCopy() throws Exception {
    String big = "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"pad\":\"" + "z".repeat(300) + "\"}";
    JsonNode dl = JSON.readTree(parse("a", big).deadLetter());
    assertThat(dl.get("reason").asText()).isEqualTo("oversize");
    assertThat(dl.get("detail").asText()).contains("the limit is 200");
  }

  private static String f32(float... v) {
    return Float32.base64(v, 0, v.length);
  }

  @Test
  void parsesBinaryStepsToTheExactFloats() {
    float[] v = {0.1f, -2.5e-8f, Float.MIN_VALUE, 3.4e38f};
    InputEvent e = parse("b", "{\"seq\":\"b\",\"t\":7,\"xs_f32\":\"" + f32(v) + "\"}").event();
    assertThat(e.t).isEqualTo(7);
    assertThat(e.steps).isEqualTo(2);
    assertThat(e.values).containsExactly(v);
    InputEvent end = parse("b", "{\"seq\":\"b\",\"t\":9,\"xs_f32\":\"\",\"end\":true}").event();
    assertThat(end.end).isTrue();
    assertThat(end.steps).isZero();
  }

  @ParameterizedTest(name = "{0}: {2}")
  @CsvSource(
      delimiter = '|',
      value = {
        "bad_record  | not base64                     | \"xs_f32\" is not base64",
        "bad_record  | 12                             | must be a base64 string",
        "wrong_width | 3 values                       | holds 12 bytes, not whole steps",
        "not_finite  | NaN at step 1                  | step 8 value 0 is NaN",
        "bad_record  | with xs                        | more than one of",
        "bad_record  | empty without end              | carries no step (x, xs or xs_f32) and no end",
        "oversize    | 4 steps                        | record has 4 steps, the limit is 3"
      })
  void binaryStepsThatAreNotWholeFiniteStepsAreDeadLetters(
      String reason, String what, String detail) throws Exception {
    String xs =
        switch (what.trim()) {
          case "not base64" -> "\"xs_f32\":\"***\"";
          case "12" -> "\"xs_f32\":12";
          case "3 values" -> "\"xs_f32\":\"" + f32(1, 2, 3) + "\"";
          case "NaN at step 1" -> "\"xs_f32\":\"" + f32(1, 2, Float.NaN, 4) + "\"";
          case "with xs" -> "\"xs\":[[1,2]],\"xs_f32\":\"" + f32(1, 2) + "\"";
          case "empty without end" -> "\"xs_f32\":\"\"";
          default -> "\"xs_f32\":\"" + f32(1, 2, 3, 4, 5, 6, 7, 8) + "\"";
        };
    RecordParser.Result r = parse("a", "{\"seq\":\"a\",\"t\":7," + xs + "}");
    assertThat(r.event()).isNull();
    assertThat(r.reason().name().toLowerCase(java.util.Locale.ROOT)).isEqualTo(reason.trim());
    JsonNode dl = JSON.readTree(r.deadLetter());
    assertThat(dl.get("detail").asText()).contains(detail.trim());
  }
}
