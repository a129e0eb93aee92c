package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code local} accounts for every line of its input: produced or refused, output or dead. */
class LocalCommandTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL =
      Path.of("../model-core/src/test/resources/golden/tfjs/models/bilstm_concat/model.json")
          .toAbsolutePath()
          .normalize()
          .toString();

  @TempDir Path dir;

  @Test
  void shouldDeadLetterARefusedLineWithItsNumberAndReportSequencesWithoutAnEndMarker()
      throws Exception {
    // A 2.2 MB record of 60,000 steps without an end marker: over the producer's 1 MB limit.
    Random rnd = new Random(3);
    StringBuilder huge = new StringBuilder("{\"seq\":\"huge\",\"t\":0,\"xs\":[");
    for (int i = 0; i < 60_000; i++) {
      huge.append(i == 0 ? "[" : ",[");
      for (int j = 0; j < 3; j++) {
        huge.append(j == 0 ? "" : ",").append(String.format("%.6f", rnd.nextGaussian()));
      }
      huge.append(']');
    }
    huge.append("]}");
    Path in =
        write(
            "{\"seq\":\"a\",\"t\":0,\"x\":[1,2,3]}",
            "{\"seq\":\"b\",\"t\":0,\"x\":[1,2,3]}",
            "{\"seq\":\"a\",\"t\":1,\"x\":[4,5,6]}",
            "",
            huge.toString(),
            "{not json",
            "{\"seq\":\"b\",\"t\":1,\"x\":[0,0,1]}",
            "{\"seq\":\"a\",\"t\":2,\"x\":[7,8,9],\"end\":true}");
    CliRun run = local(in, "--idle-timeout", "2s");

    assertThat(run.code()).as(run.err()).isZero();
    Map<String, Integer> steps = new HashMap<>();
    Map<String, Long> ends = new HashMap<>();
    for (String line : Files.readAllLines(dir.resolve("out.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      if (n.path("end").asBoolean(false)) {
        ends.put(n.get("seq").asText(), n.get("steps").asLong());
      } else {
        steps.merge(n.get("seq").asText(), 1, Integer::sum);
      }
    }
    assertThat(steps).isEqualTo(Map.of("a", 3, "b", 2));
    assertThat(ends).isEqualTo(Map.of("a", 3L, "b", 2L));

    List<JsonNode> dead = deadLetters();
    assertThat(dead)
        .extracting(n -> n.get("reason").asText())
        .containsExactlyInAnyOrder("oversize", "bad_json");
    JsonNode oversize =
        dead.stream().filter(n -> n.get("reason").asText().equals("oversize")).findFirst().get();
    assertThat(oversize.get("detail").asText()).contains("line 5 of").contains("in.jsonl");
    assertThat(oversize.get("seq").asText()).isEqualTo("huge");

    assertThat(run.err())
        .contains("1 sequences have no end marker")
        .contains("records: 7 read, 6 produced, 1 refused by the producer")
        .contains("dead letters: 2 (1 from the job, 1 refused)");
  }

  @Test
  void shouldExitNonZeroWithAMessageWhenNoRecordIsValid() throws Exception {
    Path in =
        write(
            "{not json",
            "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}",
            "{\"seq\":\"b\",\"t\":0,\"x\":[1,NaN,2]}");
    CliRun run = local(in);

    assertThat(run.code()).as(run.err()).isEqualTo(1);
    assertThat(run.err()).contains("no valid record in").contains("all 3 records are dead letters");
    assertThat(deadLetters())
        .extracting(n -> n.get("reason").asText())
        .containsExactlyInAnyOrder("bad_json", "wrong_width", "not_finite");
  }

  @Test
  void shouldNameTheFileAndLineWhenTheInputIsNotUtf8() throws Exception {
    Path in = dir.resolve("latin1.jsonl");
    List<byte[]> lines =
        List.of(
            "{\"seq\":\"a\",\"t\":0,\"x\":[1,2,3]}\n".getBytes(StandardCharsets.UTF_8),
            "\n".getBytes(StandardCharsets.UTF_8),
            "{\"seq\":\"s\u00e9q\",\"t\":0,\"x\":[1,2,3]}\n".getBytes(StandardCharsets.ISO_8859_1));
    try (var out = Files.newOutputStream(in)) {
      for (byte[] l : lines) {
        out.write(l);
      }
    }
    CliRun run = local(in);

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err()).contains("latin1.jsonl line 3: not valid UTF-8").doesNotContain("\tat ");
    assertThat(dir.resolve("out.jsonl")).doesNotExist();
  }

  private Path write(String... lines) throws Exception {
    return Files.write(dir.resolve("in.jsonl"), List.of(lines), StandardCharsets.UTF_8);
  }

  private CliRun local(Path in, String... extra) {
    List<String> args = new ArrayList<>(local(dir, in));
    args.addAll(List.of(extra));
    return CliRun.of(args.toArray(String[]::new));
  }

  /** {@code local} on {@code in}, its output and dead-letter files in {@code dir}. */
  static List<String> local(Path dir, Path in) {
    return List.of(
        "local",
        "--model",
        MODEL,
        "--input-file",
        in.toString(),
        "--output-file",
        dir.resolve("out.jsonl").toString(),
        "--dead-letter-file",
        dir.resolve("dead.jsonl").toString());
  }

  /** The dead-letter file, each record checked against docs/schemas/dead-letter.schema.json. */
  private List<JsonNode> deadLetters() throws Exception {
    JsonSchema schema;
    try (InputStream s = Files.newInputStream(Path.of("../docs/schemas/dead-letter.schema.json"))) {
      schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(s);
    }
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(dir.resolve("dead.jsonl"))) {
      JsonNode n = JSON.readTree(line);
      assertThat(schema.validate(n)).as(line).isEmpty();
      out.add(n);
    }
    return out;
  }
}
