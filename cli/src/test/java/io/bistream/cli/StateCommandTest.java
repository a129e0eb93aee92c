package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code state} reads what a running job holds: one job with an exact and a lookahead pipeline
 * (RocksDB, incremental checkpoints) is left with sequences open, one with a step waiting in its
 * reorder buffer and one ended; its savepoint (canonical format) and its retained checkpoint
 * (RocksDB files) both list them with the steps they were given.
 */
class StateCommandTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL =
      Path.of("../model-core/src/test/resources/golden/tfjs/models/bilstm_concat/model.json")
          .toAbsolutePath()
          .normalize();

  private static EmbeddedKafka kafka;
  private static String savepoint;
  private static Path checkpoint;

  @TempDir static Path dir;

  @BeforeAll
  static void runJobAndSnapshotIt() throws Exception {
    kafka = EmbeddedKafka.start();
    List<JobOptions> pipelines = new ArrayList<>();
    for (StreamConfig.Mode mode : List.of(StreamConfig.Mode.EXACT, StreamConfig.Mode.LOOKAHEAD)) {
      String name = mode.name().toLowerCase();
      JobOptions o = LocalRun.options(kafka, MODEL.toString(), "st-in-" + name, "st-out-" + name);
      o.mode = mode;
      o.chunk = 2;
      o.lookahead = 2;
      o.stateBackend = "rocksdb";
      // Long timeouts: the open sequences and the gap must still be open at the savepoint.
      o.idleTimeout = Duration.ofMinutes(10);
      o.reorderTimeout = Duration.ofMinutes(10);
      o.checkpointDir = pipelines.isEmpty() ? o.checkpointDir : pipelines.get(0).checkpointDir;
      kafka.createTopics(1, o.inputTopic, o.outputTopic, o.deadLetterTopic);
      kafka.produce(o.inputTopic, LocalRun.keyed(input()));
      pipelines.add(o);
    }
    JobClient job = LocalRun.start(pipelines, "state-test");
    try {
      // One partition: once "done" has ended, every record before it was taken in.
      for (JobOptions o : pipelines) {
        LocalRun.awaitEnded(
            kafka, job, o.outputTopic, Set.of("done"), Duration.ofSeconds(60), n -> {});
      }
      savepoint =
          job.triggerSavepoint(
                  kafka.scratchDirectory("savepoints-").toUri().toString(),
                  SavepointFormatType.CANONICAL)
              .get();
      // A checkpoint after the savepoint holds the same state: no input arrives any more.
      Thread.sleep(1500);
    } finally {
      LocalRun.cancel(job);
    }
    checkpoint = newestCheckpoint(Path.of(java.net.URI.create(pipelines.get(0).checkpointDir)));
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (kafka != null) {
      kafka.close();
    }
  }

  /**
   * "a": steps 0..4, no end; "b": steps 0..2, then step 5 (3 and 4 never come: it waits in the
   * reorder buffer); "done": steps 0..1 and its end marker, last.
   */
  private static List<String> input() {
    List<String> lines = new ArrayList<>();
    for (int t = 0; t < 5; t++) {
      lines.add(step("a", t, false));
    }
    for (int t : new int[] {0, 1, 2, 5}) {
      lines.add(step("b", t, false));
    }
    lines.add(step("done", 0, false));
    lines.add(step("done", 1, true));
    return lines;
  }

  private static String step(String seq, int t, boolean end) {
    return String.format(
        "{\"seq\":\"%s\",\"t\":%d,\"x\":[%d.5,-0.25,%d]%s}",
        seq, t, t, t % 2, end ? ",\"end\":true" : "");
  }

  private static Path newestCheckpoint(Path storage) throws Exception {
    try (Stream<Path> files = Files.walk(storage)) {
      return files
          .filter(p -> p.getFileName().toString().equals("_metadata"))
          .filter(p -> p.getParent().getFileName().toString().startsWith("chk-"))
          .max((x, y) -> Long.compare(x.toFile().lastModified(), y.toFile().lastModified()))
          .orElseThrow(() -> new AssertionError("no retained checkpoint under " + storage));
    }
  }

  private static JsonNode json(String... args) throws Exception {
    CliRun run = CliRun.of(args);
    assertThat(run.code()).as(run.err()).isZero();
    return JSON.readTree(run.out());
  }

  /** Per pipeline ("st-in-exact-st-out-exact", ...): seq -> its JSON. */
  private static Map<String, Map<String, JsonNode>> open(JsonNode report) {
    Map<String, Map<String, JsonNode>> m = new HashMap<>();
    for (JsonNode p : report.get("pipelines")) {
      Map<String, JsonNode> seqs = new HashMap<>();
      p.get("open").forEach(s -> seqs.put(s.get("seq").asText(), s));
      m.put(p.get("pipeline").asText(), seqs);
    }
    return m;
  }

  @Test
  void shouldListOpenSequencesWithTheirModeAndStepsFromASavepointAndACheckpoint() throws Exception {
    // The savepoint's directory, and the checkpoint by its _metadata file: both are accepted.
    for (String path : List.of(savepoint, checkpoint.toString())) {
      JsonNode report = json("state", "--savepoint", path, "--json");
      Map<String, Map<String, JsonNode>> open = open(report);
      assertThat(open.keySet())
          .as(path)
          .containsExactlyInAnyOrder(
              "st-in-exact-st-out-exact", "st-in-lookahead-st-out-lookahead");
      for (var e : open.entrySet()) {
        String mode = e.getKey().contains("exact") ? "exact" : "lookahead";
        Map<String, JsonNode> seqs = e.getValue();
        assertThat(seqs.keySet()).as(path + " " + mode).containsExactlyInAnyOrder("a", "b");
        JsonNode a = seqs.get("a");
        JsonNode b = seqs.get("b");
        assertThat(a.get("mode").asText()).isEqualTo(mode);
        assertThat(a.get("stepsSeen").asLong()).isEqualTo(5);
        assertThat(a.get("reorderSteps").asLong()).isZero();
        assertThat(b.get("stepsSeen").asLong()).isEqualTo(4);
        assertThat(b.get("stepsFed").asLong()).isEqualTo(3);
        assertThat(b.get("reorderSteps").asLong()).isEqualTo(1);
        assertThat(a.get("stepsReleased").asLong() + a.get("stepsHeld").asLong()).isEqualTo(5);
        if (mode.equals("exact")) {
          // Exact mode releases nothing before the end and buffers every step.
          assertThat(a.get("stepsReleased").asLong()).isZero();
          assertThat(a.get("exactSteps").asLong()).isEqualTo(5);
          assertThat(b.get("exactSteps").asLong()).isEqualTo(3);
        } else {
          assertThat(a.get("exactSteps").asLong()).isZero();
        }
        assertThat(a.get("bytes").asLong()).isPositive();
        assertThat(a.get("idleMillis").asLong()).isNotNegative();
        // Its first record came before its latest, both before the snapshot.
        assertThat(a.get("startedAt").asLong()).isPositive();
        assertThat(a.get("ageMillis").asLong())
            .isGreaterThanOrEqualTo(a.get("idleMillis").asLong());
        assertThat(a.get("modelVersion").asText()).isEqualTo("initial"); // --model-version
      }
      for (JsonNode p : report.get("pipelines")) {
        assertThat(p.get("ended")).hasSize(1);
        JsonNode done = p.get("ended").get(0);
        assertThat(done.get("seq").asText()).isEqualTo("done");
        assertThat(done.get("why").asText()).isEqualTo("end_marker");
        assertThat(done.get("steps").asLong()).isEqualTo(2);
      }
    }
  }

  @Test
  void seqShowsTheCarriedForwardStateOfTheModelsLstm() throws Exception {
    // h and c of the forward LSTM, as the model file declares its units, in lookahead mode; exact
    // mode carries none (it buffers the layer's input rows and runs it when the sequence ends).
    JsonNode model = JSON.readTree(MODEL.toFile());
    int units = 0;
    for (JsonNode l : model.at("/modelTopology/config/layers")) {
      units = Math.max(units, l.at("/config/layer/config/units").asInt(0));
    }
    assertThat(units).isPositive();
    JsonNode report = json("state", "--savepoint", savepoint, "--seq", "a", "--json");
    for (JsonNode p : report.get("pipelines")) {
      assertThat(p.get("open")).hasSize(1);
      JsonNode a = p.get("open").get(0);
      JsonNode forward = a.get("forward");
      List<Integer> carried = new ArrayList<>();
      forward.forEach(s -> carried.add(s.isNull() ? 0 : s.get("floats").asInt()));
      if (p.get("pipeline").asText().endsWith("-exact")) {
        assertThat(carried).as(p.get("pipeline").asText()).isNotEmpty().containsOnly(0);
        continue;
      }
      assertThat(carried).as(p.get("pipeline").asText()).contains(2 * units);
      JsonNode lstm = forward.get(carried.indexOf(2 * units));
      assertThat(lstm.get("values")).hasSize(2 * units);
      // After five steps of nonzero input the carried state is not the zero start state.
      boolean nonzero = false;
      for (JsonNode v : lstm.get("values")) {
        nonzero |= v.asDouble() != 0;
      }
      assertThat(nonzero).isTrue();
    }

    CliRun table = CliRun.of("state", "--savepoint", savepoint, "--seq", "a");
    assertThat(table.code()).as(table.err()).isZero();
    assertThat(table.out())
        .contains("sequence a (pipeline st-in-exact-st-out-exact)")
        .contains("mode           lookahead, chunk 2, lookahead 2")
        .contains("forward  " + 2 * units + " floats in [");
  }

  @Test
  void tableListsEachPipelineWithItsOpenAndEndedSequences() throws Exception {
    CliRun run = CliRun.of("state", "--savepoint", savepoint);
    assertThat(run.code()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("pipeline st-in-exact-st-out-exact: 2 open, 1 ended")
        .contains("pipeline st-in-lookahead-st-out-lookahead: 2 open, 1 ended")
        .containsPattern("\\n  a +exact +0 +5 +0 +5 +0 +5 ")
        .containsPattern("\\n  done +end_marker +2 steps");
  }

  @Test
  void shouldRefuseAPathThatIsNoSavepointNamingIt() throws Exception {
    Path missing = dir.resolve("nowhere");
    Path empty = Files.createDirectories(dir.resolve("chk-7"));
    Path garbage = Files.createDirectories(dir.resolve("garbage"));
    Files.writeString(garbage.resolve("_metadata"), "not a checkpoint");
    for (Path p : List.of(missing, empty, garbage)) {
      CliRun run = CliRun.of("state", "--savepoint", p.toString());
      assertThat(run.code()).as(p.toString()).isEqualTo(2);
      assertThat(run.err()).contains("error: --savepoint " + p).doesNotContain("\tat ");
    }
    assertThat(CliRun.of("state", "--savepoint", missing.toString()).err())
        .contains("no such file or directory");
    assertThat(CliRun.of("state", "--savepoint", empty.toString()).err())
        .contains("not a complete savepoint or checkpoint");

    // A pipeline this job does not have: the uids found are named.
    CliRun wrong =
        CliRun.of(
            "state", "--savepoint", savepoint, "--input-topic", "other", "--output-topic", "out");
    assertThat(wrong.code()).isEqualTo(2);
    assertThat(wrong.err())
        .contains("holds no BiStream sequence state")
        .contains("bistream-sequences-other-out")
        .contains("bistream-sequences-st-in-exact-st-out-exact")
        .doesNotContain("\tat ");

    CliRun unknown = CliRun.of("state", "--savepoint", savepoint, "--seq", "zz");
    assertThat(unknown.code()).isEqualTo(2);
    assertThat(unknown.err()).contains("--seq zz").contains("holds no state for this sequence");
  }
}
