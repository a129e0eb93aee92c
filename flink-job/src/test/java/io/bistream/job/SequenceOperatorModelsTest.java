package io.bistream.job;

import static io.bistream.job.SequenceOperatorFaultTest.EMBEDDING;
import static io.bistream.job.SequenceOperatorFaultTest.assertSchemas;
import static io.bistream.job.SequenceOperatorFaultTest.end;
import static io.bistream.job.SequenceOperatorFaultTest.outputs;
import static io.bistream.job.SequenceOperatorFaultTest.predict;
import static io.bistream.job.SequenceOperatorFaultTest.record;
import static io.bistream.job.SequenceOperatorFaultTest.rows;
import static io.bistream.job.SequenceOperatorFaultTest.settings;
import static io.bistream.job.SequenceOperatorFaultTest.values;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.ModelFiles;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.ModelUpdate;
import io.bistream.job.records.OutputRecord;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Model upgrades on the keyed operator's broadcast input (docs/operations.md, "Model upgrades"):
 * each sequence finishes on the model version it started on, across a checkpoint and restore; bad
 * model records are dead letters and change nothing.
 */
class SequenceOperatorModelsTest {

  /** The job's --model: a BiLSTM taking 3 values per step. */
  private static final String LSTM = SequenceOperatorTest.MODEL;

  /** Another model taking 3 values per step: a BiGRU (TF.js golden model). */
  static final String GRU =
      Path.of("../model-core/src/test/resources/golden/tfjs/models/bigru_concat/model.json")
          .toAbsolutePath()
          .normalize()
          .toString();

  private static final int D = 3;

  static Stream<StreamConfig> modes() {
    return Stream.of(
        StreamConfig.exact(),
        StreamConfig.lookahead(2, 1),
        StreamConfig.stateful(2),
        StreamConfig.context(2, 2, 1));
  }

  static KeyedTwoInputStreamOperatorTestHarness<String, InputEvent, ModelUpdate, OutputRecord>
      harness(SequenceOperator op) throws Exception {
    return new KeyedTwoInputStreamOperatorTestHarness<>(
        op, (InputEvent e) -> e.seq, null, Types.STRING);
  }

  static ModelUpdate update(String model, String version, long offset) {
    String text = "{\"model\":\"" + model + "\",\"version\":\"" + version + "\"}";
    return ModelUpdate.parse(text.getBytes(StandardCharsets.UTF_8), "models", 0, offset);
  }

  /**
   * {@code model}'s outputs for steps 0..t-1 of {@link SequenceOperatorFaultTest#rows}, offline.
   */
  private static float[] offline(String model, StreamConfig mode, int t) throws Exception {
    if (mode.mode() == StreamConfig.Mode.EXACT) {
      return predict(model, rows(0, t), t, D); // the whole sequence at once
    }
    StreamingEngine engine = new StreamingEngine(ModelFiles.load(Path.of(model)), mode);
    return OfflineStreaming.run(engine, new Tensor(rows(0, t), new int[] {1, t, D}), 1).data();
  }

  @ParameterizedTest
  @MethodSource("modes")
  void eachSequenceFinishesOnTheModelItStartedOnAcrossARestore(StreamConfig mode) throws Exception {
    JobSettings s = settings(LSTM, mode, 2);
    List<OutputRecord> out = new ArrayList<>();
    var first = new SequenceOperator(s);
    var h = harness(first);
    h.open();
    h.processElement1(record("a", 0, rows(0, 3), D, false, 1), 0); // on --model ("initial")
    h.processElement2(update(GRU, "v2", 0), 0);
    h.processElement1(record("b", 0, rows(0, 2), D, false, 2), 0); // on v2
    assertThat(first.sequencesPerVersion()).isEqualTo(Map.of("initial", 1L, "v2", 1L));
    OperatorSubtaskState snapshot = h.snapshot(1, 1);
    out.addAll(h.extractOutputValues());
    h.close();

    var restored = new SequenceOperator(s);
    h = harness(restored);
    h.initializeState(snapshot);
    h.open();
    assertThat(restored.sequencesPerVersion())
        .as("counted again from the restored sequences")
        .isEqualTo(Map.of("initial", 1L, "v2", 1L));
    h.processElement1(record("c", 0, rows(0, 6), D, true, 3), 0); // on v2, the restored newest
    h.processElement1(record("a", 3, rows(3, 3), D, true, 4), 0);
    h.processElement1(record("b", 2, rows(2, 4), D, true, 5), 0);
    h.prepareSnapshotPreBarrier(2);
    out.addAll(h.extractOutputValues());
    assertThat(restored.loadedVersions())
        .as("the initial model went with its last sequence")
        .containsExactly("v2");
    assertThat(restored.sequencesPerVersion()).isEmpty();
    h.close();

    assertSchemas(out);
    float[] lstm = offline(LSTM, mode, 6);
    float[] gru = offline(GRU, mode, 6);
    assertThat(lstm).as("the two models differ on these steps").isNotEqualTo(gru);
    Map<String, String> pinned = Map.of("a", "initial", "b", "v2", "c", "v2");
    for (var seq : pinned.entrySet()) {
      List<JsonNode> records = values(out, "out", seq.getKey());
      assertThat(outputs(records))
          .as("%s in %s", seq.getKey(), mode.mode())
          .containsExactly(seq.getValue().equals("initial") ? lstm : gru);
      assertThat(end(records).get("steps").asLong()).isEqualTo(6);
      for (JsonNode r : records) {
        assertThat(r.get("model_version").asText()).isEqualTo(seq.getValue());
      }
    }
  }

  @ParameterizedTest
  @MethodSource("modes")
  void aModelRecordTheJobCannotUseIsADeadLetterAndServingGoesOn(StreamConfig mode)
      throws Exception {
    var op = new SequenceOperator(settings(LSTM, mode, 1));
    var h = harness(op);
    h.open();
    h.processElement1(record("a", 0, rows(0, 2), D, false, 1), 0);
    h.processElement2(update(EMBEDDING, "tokens", 10), 0); // token ids, not 3 values
    h.processElement2(update("/nonexistent/bistream/model.json", "gone", 11), 0);
    h.processElement2(update(GRU, "initial", 12), 0); // the name of --model's version
    h.processElement2(
        ModelUpdate.parse("{\"model\":".getBytes(StandardCharsets.UTF_8), "models", 0, 13), 0);
    h.processElement2(
        ModelUpdate.parse(
            "{\"model\":\"x.json\"}".getBytes(StandardCharsets.UTF_8), "models", 0, 14),
        0);
    h.processElement1(record("b", 0, rows(0, 6), D, true, 2), 0);
    h.processElement1(record("a", 2, rows(2, 4), D, true, 3), 0);
    h.prepareSnapshotPreBarrier(1);
    List<OutputRecord> out = h.extractOutputValues();
    assertSchemas(out);
    assertThat(op.loadedVersions()).containsExactly("initial");
    h.close();

    List<JsonNode> dead = values(out, "dlq", null);
    assertThat(dead).extracting(n -> n.get("reason").asText()).containsOnly("bad_model");
    assertThat(dead)
        .extracting(n -> n.get("offset").asLong())
        .containsExactly(10L, 11L, 12L, 13L, 14L);
    JsonNode tokens = dead.get(0);
    assertThat(tokens.get("version").asText()).isEqualTo("tokens");
    assertThat(tokens.get("model").asText()).isEqualTo(EMBEDDING);
    assertThat(tokens.get("expected").asText()).isEqualTo("input width 3");
    assertThat(tokens.get("found").asText()).startsWith("token ids in [0, ");
    assertThat(dead.get(1).get("found").asText()).contains("/nonexistent/bistream/model.json");
    assertThat(dead.get(2).get("expected").asText()).contains(LSTM);
    assertThat(dead.get(2).get("found").asText()).contains(GRU);
    assertThat(dead.get(3).get("detail").asText()).contains("not JSON");
    assertThat(dead.get(4).get("detail").asText()).contains("\"version\"");

    float[] lstm = offline(LSTM, mode, 6);
    for (String seq : List.of("a", "b")) {
      List<JsonNode> records = values(out, "out", seq);
      assertThat(outputs(records)).as("%s in %s", seq, mode.mode()).containsExactly(lstm);
      assertThat(end(records).get("model_version").asText()).isEqualTo("initial");
    }
  }

  // ------------------------------------------------------------------ state of format version 4

  private static OperatorSubtaskState v4() throws Exception {
    return OperatorSnapshotUtil.readStateHandle(
        Path.of("src/test/resources", StateFixtureWriter.V4_MODELS_STATE).toString());
  }

  /** Finishes "lstm" and "gru" of the v4 fixture (each fed 0..2) with steps 3..5 and the end. */
  private static void finishV4(
      KeyedTwoInputStreamOperatorTestHarness<String, InputEvent, ModelUpdate, OutputRecord> h,
      String seq)
      throws Exception {
    h.processElement1(record(seq, 3, rows(3, 3), D, true, 10), 0);
  }

  private static void assertPinned(List<OutputRecord> out, String seq, String model, String version)
      throws Exception {
    List<JsonNode> records = values(out, "out", seq);
    assertThat(outputs(records)).as(seq).containsExactly(predict(model, rows(0, 6), 6, D));
    assertThat(end(records).get("steps").asLong()).isEqualTo(6);
    assertThat(records)
        .allSatisfy(r -> assertThat(r.get("model_version").asText()).isEqualTo(version));
  }

  @Test
  void stateOfFormatVersionFourRestoresEachSequenceOnItsModelWithoutTheModelTopic()
      throws Exception {
    // The fixture's job ran with a model topic; this one (one input, no --model-topic) has only
    // --model, yet "gru" finishes on the v2 model the broadcast state names, and v2 stays the
    // newest: new sequences start on it.
    var op = new SequenceOperator(settings(LSTM, StreamConfig.exact(), 1));
    var h =
        new org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness<>(
            op, (InputEvent e) -> e.seq, Types.STRING);
    h.initializeState(v4());
    h.open();
    assertThat(op.sequencesPerVersion()).isEqualTo(Map.of("initial", 1L, "v2", 1L));
    h.processElement(record("lstm", 3, rows(3, 3), D, true, 10), 0);
    h.processElement(record("gru", 3, rows(3, 3), D, true, 11), 0);
    h.processElement(record("new", 0, rows(0, 6), D, true, 12), 0);
    List<OutputRecord> out = h.extractOutputValues();
    assertSchemas(out);
    assertPinned(out, "lstm", LSTM, "initial");
    assertPinned(out, "gru", GRU, "v2");
    assertPinned(out, "new", GRU, "v2");
    assertThat(op.loadedVersions()).containsExactly("v2");
    h.close();
  }

  @Test
  void stateOfFormatVersionThreeRestoresOnTheJobsModelWhenAModelTopicIsAdded() throws Exception {
    // Written by a job without versions ("open" fed 0..4, 6..7 waiting for 5): restored into the
    // two-input operator, "open" stays on --model after a model record moves new sequences.
    var op = new SequenceOperator(settings(LSTM, StreamConfig.exact(), 1));
    var h = harness(op);
    h.initializeState(
        OperatorSnapshotUtil.readStateHandle(
            Path.of("src/test/resources", StateFixtureWriter.V3_STATE).toString()));
    h.open();
    assertThat(op.sequencesPerVersion()).isEqualTo(Map.of("initial", 1L));
    h.processElement2(update(GRU, "v2", 0), 0);
    h.processElement1(record("open", 5, rows(5, 1), D, false, 4), 0);
    h.processElement1(record("open", 8, rows(8, 2), D, true, 5), 0);
    h.processElement1(record("new", 0, rows(0, 6), D, true, 6), 0);
    List<OutputRecord> out = h.extractOutputValues();
    assertSchemas(out);
    List<JsonNode> open = values(out, "out", "open");
    assertThat(outputs(open)).containsExactly(predict(LSTM, rows(0, 10), 10, D));
    assertThat(end(open).get("model_version").asText()).isEqualTo("initial");
    assertPinned(out, "new", GRU, "v2");
    assertThat(op.loadedVersions()).containsExactly("v2");
    h.close();
  }

  @Test
  void aRescaleGivesEverySubtaskTheModelVersionsAndEachSequenceItsModel() throws Exception {
    // As the v4 fixture (whose max parallelism 1 allows no rescale), restored on 2 subtasks: each
    // holds the versions (broadcast state), counts only its own sequences, and finishes them on
    // their models.
    int max = 128;
    var one =
        new KeyedTwoInputStreamOperatorTestHarness<String, InputEvent, ModelUpdate, OutputRecord>(
            new SequenceOperator(settings(LSTM, StreamConfig.exact(), 1)),
            (InputEvent e) -> e.seq,
            null,
            Types.STRING,
            max,
            1,
            0);
    one.open();
    one.processElement1(record("lstm", 0, rows(0, 3), D, false, 1), 0);
    one.processElement2(update(GRU, "v2", 0), 0);
    one.processElement1(record("gru", 0, rows(0, 3), D, false, 2), 0);
    OperatorSubtaskState before = one.snapshot(1, 1);
    List<OutputRecord> out = new ArrayList<>(one.extractOutputValues());
    one.close();
    for (int subtask = 0; subtask < 2; subtask++) {
      var op = new SequenceOperator(settings(LSTM, StreamConfig.exact(), 1));
      var h =
          new KeyedTwoInputStreamOperatorTestHarness<String, InputEvent, ModelUpdate, OutputRecord>(
              op, (InputEvent e) -> e.seq, null, Types.STRING, max, 2, subtask);
      h.initializeState(
          AbstractStreamOperatorTestHarness.repartitionOperatorState(before, max, 1, 2, subtask));
      h.open();
      Map<String, Long> expected = new java.util.HashMap<>();
      List<String> mine = new ArrayList<>();
      for (String seq : List.of("lstm", "gru", "new1", "new2", "new3")) {
        if (KeyGroupRangeAssignment.assignKeyToParallelOperator(seq, max, 2) == subtask) {
          mine.add(seq);
          if (!seq.startsWith("new")) {
            expected.put(seq.equals("lstm") ? "initial" : "v2", 1L);
          }
        }
      }
      assertThat(mine)
          .as("a new sequence on subtask %d", subtask)
          .anyMatch(k -> k.startsWith("new"));
      assertThat(op.sequencesPerVersion()).isEqualTo(expected);
      for (String seq : mine) {
        if (seq.startsWith("new")) {
          h.processElement1(record(seq, 0, rows(0, 6), D, true, 12), 0);
        } else {
          finishV4(h, seq);
        }
      }
      assertThat(op.sequencesPerVersion()).isEmpty();
      out.addAll(h.extractOutputValues());
      h.close();
    }
    assertSchemas(out);
    assertPinned(out, "lstm", LSTM, "initial");
    assertPinned(out, "gru", GRU, "v2");
    for (String seq : List.of("new1", "new2", "new3")) {
      assertPinned(out, seq, GRU, "v2");
    }
  }

  @Test
  void aModelRecordOfAVersionTheJobHasMakesItTheNewestAgain() throws Exception {
    // A rollback: v2, then the initial version's own record again.
    var op = new SequenceOperator(settings(LSTM, StreamConfig.exact(), 1));
    var h = harness(op);
    h.open();
    h.processElement2(update(GRU, "v2", 0), 0);
    h.processElement1(record("gru", 0, rows(0, 6), D, true, 1), 0);
    h.processElement2(update(LSTM, "initial", 1), 0);
    h.processElement1(record("lstm", 0, rows(0, 6), D, true, 2), 0);
    List<OutputRecord> out = h.extractOutputValues();
    assertThat(values(out, "dlq", null)).isEmpty();
    assertPinned(out, "gru", GRU, "v2");
    assertPinned(out, "lstm", LSTM, "initial");
    assertThat(op.loadedVersions()).containsExactly("initial");
    h.close();
  }

  @Test
  void theModelRecordSchemaAcceptsWhatTheJobTakesAndRejectsWhatItRefuses() throws Exception {
    var schema =
        com.networknt.schema.JsonSchemaFactory.getInstance(
                com.networknt.schema.SpecVersion.VersionFlag.V202012)
            .getSchema(
                java.nio.file.Files.newInputStream(
                    Path.of("../docs/schemas/model-record.schema.json")));
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    for (String text :
        List.of(
            "{\"model\":\"file:/models/v2/model.json\",\"version\":\"v2\"}",
            "{\"model\":\"m.json\",\"version\":\"\"}",
            "{\"model\":\"m.json\"}",
            "{\"model\":\"m.json\",\"version\":2}",
            "{\"model\":\"\",\"version\":\"v2\"}",
            "{\"model\":\"m.json\",\"version\":\" \"}")) {
      boolean taken =
          ModelUpdate.parse(text.getBytes(StandardCharsets.UTF_8), "models", 0, 0).problem == null;
      assertThat(schema.validate(json.readTree(text)).isEmpty()).as(text).isEqualTo(taken);
    }
  }
}
