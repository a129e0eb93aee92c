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
}
