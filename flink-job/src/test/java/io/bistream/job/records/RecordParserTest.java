package io.bistream.job.records;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Real serialized bytes in, events or dead letters out (docs/schemas/, docs/architecture.md). */
class RecordParserTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectMapper EXACT =
      JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).build();
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

  // ------------------------------------------------------------------ step index t

  private RecordParser.Result withT(String t) {
    return parse("a", "{\"seq\":\"a\",\"t\":" + t + ",\"x\":[1,2]}");
  }

  @ParameterizedTest(name = "t = {0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "0                        | 0",
        "3.0                      | 3",
        "1e3                      | 1000",
        "-0.0                     | 0",
        "9223372036854775807      | 9223372036854775807",
        "9.223372036854775807e18  | 9223372036854775807"
      })
  void integralStepIndexesUpTo2To63Minus1AreReadExactly(String t, long expected) {
    InputEvent e = withT(t.trim()).event();
    assertThat(e).as("accepted").isNotNull();
    assertThat(e.t).isEqualTo(expected);
  }

  @ParameterizedTest(name = "t = {0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "1.5                      | 1.5",
        "1.0000000000000000001    | 1.0000000000000000001",
        "-1                       | -1",
        "-0.5                     | -0.5",
        "9223372036854775808      | 9223372036854775808",
        "18446744073709551616     | 18446744073709551616",
        "1e19                     | 1E+19",
        "1e400                    | 1E+400",
        "\"5\"                    | \"5\"",
        "null                     | null",
        "true                     | true",
        "NaN                      | NaN",
        "[0]                      | [0]"
      })
  void stepIndexThatIsNotAnIntegerInTheLongRangeIsABadRecordNamingIt(String t, String found)
      throws Exception {
    RecordParser.Result r = withT(t.trim());
    assertThat(r.event()).isNull();
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_RECORD);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .isEqualTo(
            "expected \"t\" as an integer step index in [0, 9223372036854775807], found "
                + found.trim());
  }

  @ParameterizedTest(name = "t = {0}")
  @ValueSource(
      strings = {
        "0",
        "3.0",
        "1e3",
        "9223372036854775807",
        "1.5",
        "-1",
        "9223372036854775808",
        "18446744073709551616",
        "1e19",
        "\"5\"",
        "null"
      })
  void theInputSchemaAndTheParserAgreeOnStepIndexes(String t) throws Exception {
    JsonSchema schema =
        JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012)
            .getSchema(Files.newInputStream(Path.of("../docs/schemas/input-record.schema.json")));
    String record = "{\"seq\":\"a\",\"t\":" + t + ",\"x\":[1,2]}";
    // Exact numbers for the validator: as doubles, 1e19 would be clamped to 2^63-1 and pass.
    boolean schemaAccepts = schema.validate(EXACT.readTree(record)).isEmpty();
    assertThat(withT(t).event() != null).as("parser accepts " + record).isEqualTo(schemaAccepts);
  }

  // ------------------------------------------------------------------ control and idle timeout

  @Test
  void parsesControlRecordsWithTheSequenceFromSeqOrFromTheKey() {
    InputEvent reset = parse("s-17", "{\"seq\":\"s-17\",\"control\":\"reset\"}").event();
    assertThat(reset.seq).isEqualTo("s-17");
    assertThat(reset.control).isEqualTo(InputEvent.Control.RESET);
    assertThat(reset.steps).isZero();
    assertThat(reset.end).isFalse();
    assertThat(reset.offset).as("where it is, for a dead letter").isEqualTo(41);
    InputEvent flush = parse("s-18", "{\"control\":\"flush\"}").event();
    assertThat(flush.seq).isEqualTo("s-18");
    assertThat(flush.control).isEqualTo(InputEvent.Control.FLUSH);
    assertThat(InputEvent.controlJson("s-17", InputEvent.Control.FLUSH))
        .isEqualTo("{\"seq\":\"s-17\",\"control\":\"flush\"}");
    assertThat(parse("a", "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}").event().control)
        .as("a record of steps")
        .isNull();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"seq\":\"a\",\"control\":\"restart\"}          | unknown control \"restart\"",
        "{\"seq\":\"a\",\"control\":\"RESET\"}            | unknown control \"RESET\"",
        "{\"seq\":\"a\",\"control\":1}                    | unknown control 1",
        "{\"seq\":\"a\",\"control\":null}                 | unknown control null",
        "{\"seq\":\"a\",\"control\":\"reset\",\"t\":5}      | found \"t\"",
        "{\"seq\":\"a\",\"control\":\"flush\",\"x\":[1,2]}  | found \"x\"",
        "{\"seq\":\"a\",\"control\":\"flush\",\"end\":true} | found \"end\"",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"control\":\"reset\"} | found \"t\"",
        "{\"seq\":\"a\",\"control\":\"reset\",\"idle_timeout_ms\":5} | found \"idle_timeout_ms\""
      })
  void refusesAMalformedControlRecordAsABadRecordSayingWhatIsWrong(String value, String says)
      throws Exception {
    RecordParser.Result r = parse("a", value.trim());
    assertThat(r.event()).isNull();
    JsonNode dl = JSON.readTree(r.deadLetter());
    assertThat(dl.get("reason").asText()).isEqualTo("bad_record");
    assertThat(dl.get("seq").asText()).isEqualTo("a");
    assertThat(dl.get("detail").asText()).contains(says.trim());
    assertThat(dl.get("record").asText()).isEqualTo(value.trim());
  }

  @Test
  void takesTheIdleTimeoutARecordAsksUpToTheJobsMaximum() {
    RecordParser bounded = new RecordParser(2, 200, 3, 1024, 0, 3_600_000);
    InputEvent e =
        bounded
            .parse(
                null,
                bytes("{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":3600000}"),
                "in",
                0,
                1,
                1)
            .event();
    assertThat(e.idleTimeoutMs).isEqualTo(3_600_000);
    InputEvent binary =
        bounded
            .parse(
                null,
                bytes("{\"seq\":\"a\",\"t\":0,\"xs_f32\":\"\",\"end\":true,\"idle_timeout_ms\":7}"),
                "in",
                0,
                1,
                1)
            .event();
    assertThat(binary.idleTimeoutMs).isEqualTo(7);
    assertThat(
            bounded
                .parse(
                    null,
                    bytes("{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":6e4}"),
                    "in",
                    0,
                    1,
                    1)
                .event()
                .idleTimeoutMs)
        .as("a number with no fractional part, as JSON Schema's integer")
        .isEqualTo(60_000);
    assertThat(parse("a", "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}").event().idleTimeoutMs)
        .as("none asked: the job's")
        .isZero();
  }

  @ParameterizedTest(name = "idle_timeout_ms = {0}")
  @ValueSource(
      strings = {"3600001", "0", "-5", "1.5", "3.6e6001", "\"60000\"", "null", "1e30", "NaN"})
  void refusesAnIdleTimeoutOutsideOneMillisecondToTheJobsMaximum(String ms) throws Exception {
    RecordParser bounded = new RecordParser(2, 200, 3, 1024, 0, 3_600_000);
    RecordParser.Result r =
        bounded.parse(
            null,
            bytes("{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":" + ms + "}"),
            "in",
            0,
            1,
            1);
    assertThat(r.event()).isNull();
    JsonNode dl = JSON.readTree(r.deadLetter());
    assertThat(dl.get("reason").asText()).isEqualTo("bad_record");
    assertThat(dl.get("detail").asText())
        .contains("idle_timeout_ms")
        .contains("3600000")
        .contains("--max-idle-timeout");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "{\"seq\":\"a\",\"control\":\"reset\"}",
        "{\"seq\":\"a\",\"control\":\"flush\"}",
        "{\"seq\":\"a\",\"control\":\"pause\"}",
        "{\"seq\":\"a\",\"control\":\"reset\",\"t\":0}",
        "{\"seq\":\"a\",\"control\":\"flush\",\"end\":true}",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":60000}",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":0}",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":1.5}",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"idle_timeout_ms\":6e4}",
        "{\"seq\":\"a\"}"
      })
  void theInputSchemaAndTheParserAgreeOnControlRecordsAndIdleTimeouts(String record)
      throws Exception {
    JsonSchema schema =
        JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012)
            .getSchema(Files.newInputStream(Path.of("../docs/schemas/input-record.schema.json")));
    boolean schemaAccepts = schema.validate(EXACT.readTree(record)).isEmpty();
    assertThat(parse("a", record).event() != null)
        .as("parser accepts " + record)
        .isEqualTo(schemaAccepts);
  }

  // ------------------------------------------------------------------ strict UTF-8

  private static byte[] bytes(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private RecordParser.Result parseBytes(byte[] key, byte[] value) {
    return parser.parse(key, value, "in", 2, 41, 1000);
  }

  // Malformed UTF-8 (Unicode §3.9): a stray continuation byte, bytes never used, an overlong
  // '/', a UTF-16 surrogate, a code point above U+10FFFF, a sequence cut off by the next byte.
  @ParameterizedTest(name = "key with {0}")
  @ValueSource(strings = {"80", "ff", "fe", "c0af", "eda080", "f4908080", "e282"})
  void keyThatIsNotUtf8IsABadRecordNamingTheFirstBadByte(String hex) throws Exception {
    byte[] bad = HexFormat.of().parseHex(hex);
    byte[] key = concat(bytes("s-é"), bad, bytes("z")); // "s-é" is 4 bytes
    RecordParser.Result r = parseBytes(key, bytes("{\"t\":0,\"x\":[1,2]}"));
    assertThat(r.event()).isNull();
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_RECORD);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .isEqualTo(
            "the record key is not valid UTF-8: byte 4 (0x"
                + hex.substring(0, 2)
                + ") of "
                + key.length);
  }

  @Test
  void twoMalformedIdsThatDecodeToTheSameTextAreNeitherAccepted() {
    // Decoded leniently both are "s\uFFFD": accepting them would merge two sequences.
    byte[] one = {'s', (byte) 0xff};
    byte[] two = {'s', (byte) 0xfe};
    assertThat(new String(one, StandardCharsets.UTF_8))
        .isEqualTo(new String(two, StandardCharsets.UTF_8));
    for (byte[] key : new byte[][] {one, two}) {
      assertThat(parseBytes(key, bytes("{\"t\":0,\"x\":[1,2]}")).reason())
          .isEqualTo(DeadLetter.Reason.BAD_RECORD);
    }
    byte[] seqOne = concat(bytes("{\"seq\":\"s"), new byte[] {(byte) 0xff}, bytes("\",\"t\":0}"));
    assertThat(parseBytes(null, seqOne).reason()).isEqualTo(DeadLetter.Reason.BAD_JSON);
  }

  @ParameterizedTest(name = "value with {0}")
  @ValueSource(strings = {"80", "ff", "fe", "c0af", "eda080", "f4908080", "e282"})
  void valueThatIsNotUtf8IsBadJsonNamingTheFirstBadByteWherever(String hex) throws Exception {
    byte[] bad = HexFormat.of().parseHex(hex);
    // In the id, in a member the job ignores, and between tokens.
    byte[][] values = {
      concat(bytes("{\"seq\":\"é"), bad, bytes("\",\"t\":0,\"x\":[1,2]}")),
      concat(bytes("{\"seq\":\"a\",\"t\":0,\"x\":[1,2],\"note\":\"ü"), bad, bytes("\"}")),
      concat(bytes("{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}"), bad)
    };
    int[] at = {10, 37, 27};
    for (int i = 0; i < values.length; i++) {
      RecordParser.Result r = parseBytes(null, values[i]);
      assertThat(r.reason()).as("value %d", i).isEqualTo(DeadLetter.Reason.BAD_JSON);
      JsonNode dl = JSON.readTree(r.deadLetter());
      assertThat(dl.get("detail").asText())
          .isEqualTo(
              "the record value is not valid UTF-8: byte "
                  + at[i]
                  + " (0x"
                  + hex.substring(0, 2)
                  + ") of "
                  + values[i].length);
      assertThat(dl.get("record").asText()).as("a lossy copy").contains("\uFFFD");
    }
  }

  @Test
  void validNonAsciiIdsAndTextOfEveryUtf8LengthAreKept() {
    String id = "é✓😀-ß"; // 2-, 3- and 4-byte characters
    InputEvent e =
        parseBytes(
                bytes(id),
                bytes("{\"seq\":\"" + id + "\",\"t\":0,\"x\":[1,2],\"note\":\"日本語 😀\"}"))
            .event();
    assertThat(e).isNotNull();
    assertThat(e.seq).isEqualTo(id);
  }

  @Test
  void utf16RecordIsBadJsonNotGuessedAtByTheParser() throws Exception {
    byte[] utf16 = "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}".getBytes(StandardCharsets.UTF_16LE);
    RecordParser.Result r = parseBytes(null, utf16);
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_JSON);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText()).contains("NUL byte at byte 1");
  }

  // ------------------------------------------------------------------ one JSON object

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]} xyz                  | 28",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}{\"seq\":\"a\",\"t\":1} | 27",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}]                     | 27",
        "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}\\t\\n0               | 29"
      })
  void dataAfterTheJsonObjectIsBadJsonNamingWhereItStarts(String value, int at) throws Exception {
    RecordParser.Result r = parse("a", value.trim().replace("\\t", "\t").replace("\\n", "\n"));
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_JSON);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .isEqualTo(
            "found data after the JSON object, from byte "
                + at
                + ": expected exactly one JSON object per record");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"[1,2]", "\"text\"", "12", "null", ""})
  void valueThatIsNotAJsonObjectIsBadJson(String value) throws Exception {
    RecordParser.Result r = parse("a", value);
    assertThat(r.reason()).isEqualTo(DeadLetter.Reason.BAD_JSON);
    assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
        .startsWith("expected a JSON object, found");
  }

  @Test
  void trailingWhitespaceAndNewlinesAreNotData() {
    assertThat(parse("a", "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}\r\n \t").event()).isNotNull();
  }

  @Test
  void duplicateMembersAreBadJson() {
    assertThat(parse("a", "{\"seq\":\"a\",\"t\":0,\"t\":1,\"x\":[1,2]}").reason())
        .isEqualTo(DeadLetter.Reason.BAD_JSON);
  }

  // ------------------------------------------------------------------ sequence ids

  private final RecordParser sixteenByteIds = new RecordParser(2, 1 << 20, 3, 16, 0);

  private RecordParser.Result withId(RecordParser p, String key, String seq) {
    String value =
        seq == null
            ? "{\"t\":0,\"x\":[1,2]}"
            : "{\"seq\":" + JSON.valueToTree(seq) + ",\"t\":0,\"x\":[1,2]}";
    return p.parse(key == null ? null : bytes(key), bytes(value), "in", 0, 7, 0);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"0123456789abcdef", "éééééééé", "😀😀😀😀", "a"})
  void idsUpToTheLimitInUtf8BytesAreAccepted(String id) {
    assertThat(withId(sixteenByteIds, id, id).event()).isNotNull();
    assertThat(withId(sixteenByteIds, null, id).event()).isNotNull();
    assertThat(withId(sixteenByteIds, id, null).event()).isNotNull();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"0123456789abcdefg, 17", "ééééééééé, 18", "😀😀😀😀a, 17"})
  void idOverTheLimitIsAnOversizeDeadLetterNamingLimitAndLength(String id, int length)
      throws Exception {
    for (String[] keyAndSeq : new String[][] {{null, id}, {id, null}, {id, id}}) {
      RecordParser.Result r = withId(sixteenByteIds, keyAndSeq[0], keyAndSeq[1]);
      assertThat(r.reason()).isEqualTo(DeadLetter.Reason.OVERSIZE);
      assertThat(JSON.readTree(r.deadLetter()).get("detail").asText())
          .contains("has " + length + " UTF-8 bytes, the limit")
          .contains(" is 16 (--max-sequence-id-bytes)");
    }
  }

  @Test
  void hundredKilobyteIdIsNeverCopiedWholeIntoADeadLetter() throws Exception {
    RecordParser defaults = new RecordParser(2, 1 << 20, 3);
    String id = "k".repeat(100 * 1024);
    for (String[] keyAndSeq : new String[][] {{null, id}, {id, null}, {id, id}}) {
      RecordParser.Result r = withId(defaults, keyAndSeq[0], keyAndSeq[1]);
      assertThat(r.reason()).isEqualTo(DeadLetter.Reason.OVERSIZE);
      JsonNode dl = JSON.readTree(r.deadLetter());
      assertThat(dl.get("detail").asText())
          .contains("has 102400 UTF-8 bytes, the limit")
          .contains(" is 1024 (--max-sequence-id-bytes)");
      assertThat(dl.get("seq").asText()).startsWith("kkk").endsWith("...(102400 bytes)");
      assertThat(dl.get("seq").asText().length()).isLessThan(200);
      assertThat(dl.get("record").asText().length()).isLessThanOrEqualTo(DeadLetter.MAX_COPY);
      assertThat(r.deadLetter().length()).as("whole dead letter").isLessThan(2 * 1024);
      if (keyAndSeq[0] != null) {
        assertThat(r.deadLetterKey()).endsWith("...(102400 bytes)").hasSizeLessThan(200);
      }
    }
  }

  @Test
  void emptyOrNonStringIdsAreBadRecords() throws Exception {
    assertThat(withId(parser, null, "").reason()).isEqualTo(DeadLetter.Reason.BAD_RECORD);
    assertThat(withId(parser, "", null).reason()).isEqualTo(DeadLetter.Reason.BAD_RECORD);
    RecordParser.Result number = parse(null, "{\"seq\":17,\"t\":0,\"x\":[1,2]}");
    assertThat(number.reason()).isEqualTo(DeadLetter.Reason.BAD_RECORD);
    assertThat(JSON.readTree(number.deadLetter()).get("detail").asText())
        .isEqualTo("expected \"seq\" as a string, found 17");
  }

  @Test
  void aLongRecordIsCopiedIntoItsDeadLetterCutWithItsLength() throws Exception {
    RecordParser roomy = new RecordParser(2, 1 << 20, 3);
    String value = "{\"seq\":\"a\",\"t\":-1,\"x\":[1,2],\"pad\":\"" + "p".repeat(5000) + "\"}";
    JsonNode dl = JSON.readTree(roomy.parse(null, bytes(value), "in", 0, 0, 0).deadLetter());
    String copy = dl.get("record").asText();
    assertThat(copy)
        .startsWith("{\"seq\":\"a\",\"t\":-1")
        .endsWith("...(" + value.length() + " bytes)");
    assertThat(copy.length()).isLessThanOrEqualTo(DeadLetter.MAX_COPY);
  }
}
