package io.bistream.job;

import static io.bistream.job.SequenceOperatorFaultTest.assertOnlyTombstonesLeft;
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
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * Control records (reset, flush), the end reasons they give, and a sequence's own idle timeout
 * (docs/operations.md, "Control records and end reasons"). Outputs are compared with the model's
 * offline outputs (exact mode) or with a run of the same mode that ends with an end marker instead.
 */
class SequenceOperatorControlTest {

  private static final String MODEL = SequenceOperatorTest.MODEL;
  private static final int D = 3;
  private static final List<StreamConfig> MODES =
      List.of(
          StreamConfig.exact(),
          StreamConfig.lookahead(2, 1),
          StreamConfig.stateful(2),
          StreamConfig.context(2, 2, 1));

  private static InputEvent control(String seq, InputEvent.Control c, long offset) {
    InputEvent e = record(seq, 0, new float[0], D, false, offset);
    e.control = c;
    return e;
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> restored(
      JobSettings s, OperatorSubtaskState snapshot, long now) throws Exception {
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s), (InputEvent e) -> e.seq, Types.STRING);
    h.setProcessingTime(now);
    h.initializeState(snapshot);
    h.open();
    return h;
  }

  /** The records of one sequence split after each end record: one list per run. */
  private static List<List<JsonNode>> runs(List<JsonNode> out) {
    List<List<JsonNode>> runs = new ArrayList<>();
    List<JsonNode> run = new ArrayList<>();
    for (JsonNode n : out) {
      run.add(n);
      if (n.has("end")) {
        runs.add(run);
        run = new ArrayList<>();
      }
    }
    if (!run.isEmpty()) {
      runs.add(run);
    }
    return runs;
  }

  @Test
  void aControlRecordAndAnIdleTimeoutCrossTheShuffleAsFlinkSerializesRecords() throws Exception {
    var serializer =
        org.apache.flink.api.common.typeinfo.TypeInformation.of(InputEvent.class)
            .createSerializer(new org.apache.flink.api.common.serialization.SerializerConfigImpl());
    InputEvent reset = control("c", InputEvent.Control.RESET, 9);
    InputEvent data = record("c", 0, rows(0, 1), D, false, 10);
    data.idleTimeoutMs = 3_600_000;
    for (InputEvent e : List.of(reset, data)) {
      var out = new org.apache.flink.core.memory.DataOutputSerializer(64);
      serializer.serialize(e, out);
      InputEvent read =
          serializer.deserialize(
              new org.apache.flink.core.memory.DataInputDeserializer(out.getCopyOfBuffer()));
      assertThat(read).usingRecursiveComparison().isEqualTo(e);
    }
  }

  // ------------------------------------------------------------------ flush

  @Test
  void shouldEndAFlushedSequenceInEveryModeAsIfItsEndMarkerArrivedThere() throws Exception {
    for (StreamConfig mode : MODES) {
      var h = SequenceOperatorFaultTest.harness(settings(MODEL, mode, 1));
      h.processElement(record("f", 0, rows(0, 3), D, false, 1), 0);
      h.processElement(record("f", 3, rows(3, 2), D, false, 2), 0);
      h.processElement(control("f", InputEvent.Control.FLUSH, 3), 0);
      h.processElement(record("f", 5, rows(5, 1), D, false, 4), 0); // after the flush
      h.processElement(control("f", InputEvent.Control.FLUSH, 5), 0); // again

      var marked = SequenceOperatorFaultTest.harness(settings(MODEL, mode, 1));
      marked.processElement(record("f", 0, rows(0, 3), D, false, 1), 0);
      marked.processElement(record("f", 3, rows(3, 2), D, true, 2), 0);
      float[] withEndMarker = outputs(values(marked.extractOutputValues(), "out", "f"));
      marked.close();

      List<OutputRecord> raw = h.extractOutputValues();
      assertSchemas(raw);
      List<JsonNode> out = values(raw, "out", "f");
      assertThat(outputs(out)).as(mode.mode().name()).isNotEmpty().containsExactly(withEndMarker);
      if (mode.mode() == StreamConfig.Mode.EXACT) {
        assertThat(outputs(out)).containsExactly(predict(MODEL, rows(0, 5), 5, D));
      }
      assertThat(end(out).toString())
          .isEqualTo(
              "{\"seq\":\"f\",\"end\":true,\"steps\":5,\"why\":\"flush\",\"model_version\":\"initial\"}");
      List<JsonNode> dlq = values(raw, "dlq", null);
      assertThat(dlq)
          .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
          .containsExactly("data_after_end@4", "data_after_end@5");
      assertThat(dlq).allSatisfy(n -> assertThat(n.get("detail").asText()).contains("(flush)"));
      assertOnlyTombstonesLeft(h, 1);
      h.close();
    }
  }

  @Test
  void shouldEndAFlushedSequenceAtItsGapAndDeadLetterTheStepsWaitingBehindIt() throws Exception {
    var h = SequenceOperatorFaultTest.harness(settings(MODEL, StreamConfig.exact(), 1));
    h.processElement(record("g", 0, rows(0, 2), D, false, 1), 0);
    h.processElement(record("g", 3, rows(3, 2), D, false, 2), 0); // step 2 not there yet
    h.processElement(control("g", InputEvent.Control.FLUSH, 3), 0);
    h.processElement(record("g", 2, rows(2, 1), D, false, 4), 0); // too late

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    List<JsonNode> out = values(raw, "out", "g");
    assertThat(outputs(out)).containsExactly(predict(MODEL, rows(0, 2), 2, D));
    assertThat(end(out).get("why").asText()).isEqualTo("flush");
    assertThat(end(out).get("steps").asLong()).isEqualTo(2);
    List<JsonNode> dlq = values(raw, "dlq", null);
    assertThat(dlq)
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly("gap_not_filled@2", "data_after_end@4");
    assertThat(dlq.get(0).get("detail").asText())
        .contains("step 3 waited for step 2")
        .contains("flushed");
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  @Test
  void shouldDeadLetterAFlushOfASequenceTheJobHoldsNothingOf() throws Exception {
    var h = SequenceOperatorFaultTest.harness(settings(MODEL, StreamConfig.exact(), 1));
    h.processElement(control("nobody", InputEvent.Control.FLUSH, 7), 0);
    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(values(raw, "out", null)).isEmpty();
    List<JsonNode> dlq = values(raw, "dlq", null);
    assertThat(dlq).hasSize(1);
    assertThat(dlq.get(0).get("reason").asText()).isEqualTo("bad_record");
    assertThat(dlq.get(0).get("detail").asText()).contains("nothing to flush");
    assertThat(h.numKeyedStateEntries()).isZero();
    assertThat(h.numProcessingTimeTimers()).isZero();
    h.close();
  }

  // ------------------------------------------------------------------ reset

  @Test
  void shouldEndAResetSequenceAndStartItAgainAtStepZeroInEveryMode() throws Exception {
    for (StreamConfig mode : MODES) {
      for (int batchSize : new int[] {1, 4}) {
        var h = SequenceOperatorFaultTest.harness(settings(MODEL, mode, batchSize));
        h.processElement(record("r", 0, rows(0, 3), D, false, 1), 0);
        h.processElement(record("r", 3, rows(3, 2), D, false, 2), 0);
        h.processElement(control("r", InputEvent.Control.RESET, 3), 0);
        h.processElement(record("r", 0, rows(10, 4), D, false, 4), 0); // other values from 0
        h.processElement(record("r", 4, rows(14, 2), D, true, 5), 0);
        h.prepareSnapshotPreBarrier(1);

        // The first run releases what the same steps release with no reset after them.
        var before = SequenceOperatorFaultTest.harness(settings(MODEL, mode, 1));
        before.processElement(record("r", 0, rows(0, 3), D, false, 1), 0);
        before.processElement(record("r", 3, rows(3, 2), D, false, 2), 0);
        List<JsonNode> released = values(before.extractOutputValues(), "out", "r");
        before.close();
        // The second is a sequence of its own.
        var fresh = SequenceOperatorFaultTest.harness(settings(MODEL, mode, 1));
        fresh.processElement(record("r", 0, rows(10, 6), D, true, 1), 0);
        float[] second = outputs(values(fresh.extractOutputValues(), "out", "r"));
        fresh.close();

        List<OutputRecord> raw = h.extractOutputValues();
        assertSchemas(raw);
        String as = mode.mode() + " batch " + batchSize;
        assertThat(values(raw, "dlq", null)).as(as).isEmpty();
        List<List<JsonNode>> runs = runs(values(raw, "out", "r"));
        assertThat(runs).as(as).hasSize(2);
        List<JsonNode> first = runs.get(0);
        assertThat(first.subList(0, first.size() - 1)).as(as).isEqualTo(released);
        assertThat(end(first).toString())
            .isEqualTo(
                "{\"seq\":\"r\",\"end\":true,\"steps\":5,\"why\":\"reset\",\"model_version\":\"initial\"}");
        assertThat(outputs(runs.get(1))).as(as).isNotEmpty().containsExactly(second);
        if (mode.mode() == StreamConfig.Mode.EXACT) {
          assertThat(first).as("exact mode released nothing before the reset").hasSize(1);
          assertThat(outputs(runs.get(1))).containsExactly(predict(MODEL, rows(10, 6), 6, D));
        }
        assertThat(end(runs.get(1)).get("why").asText()).isEqualTo("end_marker");
        assertOnlyTombstonesLeft(h, 1);
        h.close();
      }
    }
  }

  @Test
  void shouldDeadLetterTheStepsAResetSequenceHadWaitingBehindAGap() throws Exception {
    var h = SequenceOperatorFaultTest.harness(settings(MODEL, StreamConfig.exact(), 1));
    h.processElement(record("r", 0, rows(0, 2), D, false, 1), 0);
    h.processElement(record("r", 3, rows(3, 1), D, false, 2), 0); // waits for step 2
    h.processElement(control("r", InputEvent.Control.RESET, 3), 0);
    h.processElement(record("r", 0, rows(0, 2), D, true, 4), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    List<JsonNode> dlq = values(raw, "dlq", null);
    assertThat(dlq)
        .extracting(n -> n.get("reason").asText() + "@" + n.get("offset").asLong())
        .containsExactly("gap_not_filled@2");
    assertThat(dlq.get(0).get("detail").asText()).contains("reset");
    List<List<JsonNode>> runs = runs(values(raw, "out", "r"));
    assertThat(runs.get(0)).hasSize(1);
    assertThat(end(runs.get(0)).get("why").asText()).isEqualTo("reset");
    assertThat(end(runs.get(0)).get("steps").asLong()).isEqualTo(2);
    assertThat(outputs(runs.get(1))).containsExactly(predict(MODEL, rows(0, 2), 2, D));
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  @Test
  void shouldLetAnEndedSequenceStartAgainAfterAResetAndIgnoreAResetOfNothing() throws Exception {
    var h = SequenceOperatorFaultTest.harness(settings(MODEL, StreamConfig.exact(), 1));
    h.processElement(control("new", InputEvent.Control.RESET, 1), 0);
    assertThat(h.numKeyedStateEntries()).as("a reset of nothing keeps nothing").isZero();
    assertThat(h.extractOutputValues()).isEmpty();
    h.processElement(record("e", 0, rows(0, 2), D, true, 2), 0);
    h.processElement(control("e", InputEvent.Control.RESET, 3), 0);
    assertThat(h.numKeyedStateEntries()).as("the tombstone went").isZero();
    assertThat(h.numProcessingTimeTimers()).as("with its retention timer").isZero();
    h.processElement(record("e", 0, rows(5, 3), D, true, 4), 0);

    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(values(raw, "dlq", null)).isEmpty();
    List<List<JsonNode>> runs = runs(values(raw, "out", "e"));
    assertThat(runs).hasSize(2);
    assertThat(outputs(runs.get(0))).containsExactly(predict(MODEL, rows(0, 2), 2, D));
    assertThat(outputs(runs.get(1))).containsExactly(predict(MODEL, rows(5, 3), 3, D));
    assertThat(end(runs.get(0)).get("why").asText()).isEqualTo("end_marker");
    assertThat(end(runs.get(1)).get("why").asText()).isEqualTo("end_marker");
    assertOnlyTombstonesLeft(h, 1);
    h.close();
  }

  // ------------------------------------------------------------------ docs/operations.md

  private static String xs(float[] rows) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < rows.length / D; i++) {
      b.append(i == 0 ? "" : ",")
          .append(
              java.util.Arrays.toString(java.util.Arrays.copyOfRange(rows, i * D, (i + 1) * D)));
    }
    return b.append("]").toString();
  }

  @Test
  void theWorkedExampleOfTheOperationsGuideGivesTheRecordsItShows() throws Exception {
    // docs/operations.md, "Control records and end reasons": the same records, parsed as the
    // job parses them, with the values elided there.
    float[] a1 = rows(0, 3);
    float[] a2 = rows(20, 2);
    String[] in = {
      "{\"seq\":\"a\",\"t\":0,\"xs\":" + xs(a1) + ",\"idle_timeout_ms\":3600000}",
      "{\"seq\":\"b\",\"t\":0,\"xs\":" + xs(rows(0, 2)) + "}",
      "{\"seq\":\"b\",\"t\":3,\"x\":" + java.util.Arrays.toString(rows(3, 1)) + "}",
      "{\"seq\":\"b\",\"control\":\"flush\"}",
      "{\"seq\":\"b\",\"t\":2,\"x\":" + java.util.Arrays.toString(rows(2, 1)) + "}",
      "{\"seq\":\"a\",\"control\":\"reset\"}",
      "{\"seq\":\"a\",\"t\":0,\"xs\":" + xs(a2) + ",\"end\":true}",
      "{\"seq\":\"c\",\"control\":\"restart\"}"
    };
    var parser = new io.bistream.job.records.RecordParser(D, 1 << 20, 4096);
    var h = SequenceOperatorFaultTest.harness(settings(MODEL, StreamConfig.exact(), 64));
    List<String> parserDeadLetters = new ArrayList<>();
    for (int offset = 0; offset < in.length; offset++) {
      var r =
          parser.parse(
              null,
              in[offset].getBytes(java.nio.charset.StandardCharsets.UTF_8),
              "in",
              0,
              offset,
              1_000 + offset);
      if (r.event() != null) {
        h.processElement(r.event(), 0);
      } else {
        parserDeadLetters.add(r.deadLetter());
      }
    }
    h.prepareSnapshotPreBarrier(1);
    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    assertThat(
            values(raw, "out", null).stream()
                .map(n -> n.has("end") ? n.toString() : n.get("seq").asText() + "@" + n.get("t"))
                .toList())
        .containsExactly(
            "b@0",
            "b@1",
            "{\"seq\":\"b\",\"end\":true,\"steps\":2,\"why\":\"flush\",\"model_version\":\"initial\"}",
            "{\"seq\":\"a\",\"end\":true,\"steps\":3,\"why\":\"reset\",\"model_version\":\"initial\"}",
            "a@0",
            "a@1",
            "{\"seq\":\"a\",\"end\":true,\"steps\":2,\"why\":\"end_marker\",\"model_version\":\"initial\"}");
    assertThat(outputs(values(raw, "out", "b"))).containsExactly(predict(MODEL, rows(0, 2), 2, D));
    assertThat(outputs(runs(values(raw, "out", "a")).get(1)))
        .containsExactly(predict(MODEL, a2, 2, D));
    List<String> dead = new ArrayList<>();
    for (JsonNode n : values(raw, "dlq", null)) {
      ((com.fasterxml.jackson.databind.node.ObjectNode) n).remove(List.of("topic", "partition"));
      dead.add(n.toString());
    }
    for (String d : parserDeadLetters) {
      var n =
          (com.fasterxml.jackson.databind.node.ObjectNode)
              new com.fasterxml.jackson.databind.ObjectMapper().readTree(d);
      n.remove(List.of("topic", "partition"));
      dead.add(n.toString());
    }
    assertThat(dead)
        .containsExactlyInAnyOrder(
            "{\"reason\":\"gap_not_filled\",\"detail\":\"step 3 waited for step 2: the sequence was"
                + " flushed before the gap was filled\",\"seq\":\"b\",\"offset\":2,\"record\":null}",
            "{\"reason\":\"data_after_end\",\"detail\":\"sequence b already ended after 2 steps"
                + " (flush)\",\"seq\":\"b\",\"offset\":4,\"record\":null}",
            "{\"reason\":\"bad_record\",\"detail\":\"unknown control \\\"restart\\\": expected"
                + " \\\"reset\\\" (start the sequence again at step 0) or \\\"flush\\\" (end it"
                + " now)\",\"seq\":\"c\",\"offset\":7,\"record\":\"{\\\"seq\\\":\\\"c\\\",\\\"control\\\":\\\"restart\\\"}\"}");
    h.close();
  }

  // ------------------------------------------------------------------ restore

  @Test
  void shouldApplyAControlRecordOnceAcrossARestoreThatReplaysFromTheCheckpoint() throws Exception {
    JobSettings s = settings(MODEL, StreamConfig.lookahead(2, 1), 1);
    List<InputEvent> before =
        List.of(record("a", 0, rows(0, 3), D, false, 1), record("b", 0, rows(0, 2), D, false, 2));
    List<InputEvent> after =
        List.of(
            control("a", InputEvent.Control.RESET, 3),
            control("b", InputEvent.Control.FLUSH, 4),
            record("a", 0, rows(7, 3), D, true, 5),
            record("b", 2, rows(2, 1), D, false, 6));
    // Uninterrupted, with a checkpoint between the two parts.
    var h = SequenceOperatorFaultTest.harness(s);
    for (InputEvent e : before) {
      h.processElement(e, 0);
    }
    OperatorSubtaskState checkpoint = h.snapshot(1, 1);
    int atCheckpoint = h.extractOutputValues().size();
    for (InputEvent e : after) {
      h.processElement(e, 0);
    }
    List<OutputRecord> all = h.extractOutputValues();
    OperatorSubtaskState later = h.snapshot(2, 2);
    h.close();

    // A failure after the controls: the job restarts from the checkpoint and reads them again.
    var r = restored(s, checkpoint, 0);
    for (InputEvent e : after) {
      r.processElement(e, 0);
    }
    List<OutputRecord> replayed = r.extractOutputValues();
    r.close();
    assertThat(replayed)
        .extracting(OutputRecord::text)
        .containsExactlyElementsOf(
            all.subList(atCheckpoint, all.size()).stream().map(OutputRecord::text).toList());
    List<JsonNode> a = values(all, "out", "a");
    assertThat(a.stream().filter(n -> n.has("end")).map(n -> n.get("why").asText()))
        .containsExactly("reset", "end_marker");
    assertThat(end(values(all, "out", "b")).get("why").asText()).isEqualTo("flush");

    // A restore from a checkpoint after them holds their effect: nothing is applied again.
    var l = restored(s, later, 0);
    l.processElement(record("b", 3, rows(3, 1), D, false, 7), 0);
    l.processElement(record("a", 3, rows(3, 1), D, false, 8), 0);
    List<JsonNode> dlq = values(l.extractOutputValues(), "dlq", null);
    assertThat(dlq)
        .extracting(n -> n.get("seq").asText() + "@" + n.get("detail").asText())
        .containsExactly(
            "b@sequence b already ended after 2 steps (flush)",
            "a@sequence a already ended after 3 steps (end_marker)");
    l.close();
  }

  // ------------------------------------------------------------------ idle timeout per sequence

  @Test
  void shouldEndEachSequenceAfterTheIdleTimeoutItsRecordsAskedAcrossARestore() throws Exception {
    JobSettings s = settings(MODEL, StreamConfig.exact(), 1); // --idle-timeout 30s
    var h = SequenceOperatorFaultTest.harness(s);
    h.setProcessingTime(0);
    InputEvent hours = record("hours", 0, rows(0, 2), D, false, 1);
    hours.idleTimeoutMs = 3_600_000;
    InputEvent seconds = record("seconds", 0, rows(0, 2), D, false, 2);
    seconds.idleTimeoutMs = 2_000;
    h.processElement(hours, 0);
    h.processElement(seconds, 0);
    h.processElement(record("job", 0, rows(0, 2), D, false, 3), 0);
    InputEvent later = record("later", 0, rows(0, 1), D, false, 4);
    h.processElement(later, 0);
    h.setProcessingTime(1_000);
    InputEvent asks = record("later", 1, rows(1, 1), D, false, 5);
    asks.idleTimeoutMs = 5_000; // asked on a later record: counts from it
    h.processElement(asks, 0);

    h.setProcessingTime(1_999);
    assertThat(values(h.extractOutputValues(), "out", null)).isEmpty();
    h.setProcessingTime(2_000);
    h.setProcessingTime(6_000);
    h.setProcessingTime(30_000);
    List<JsonNode> ended = values(h.extractOutputValues(), "out", null);
    assertThat(ended.stream().filter(n -> n.has("end")).map(JsonNode::toString))
        .containsExactly(
            "{\"seq\":\"seconds\",\"end\":true,\"steps\":2,\"why\":\"idle_timeout\",\"model_version\":\"initial\"}",
            "{\"seq\":\"later\",\"end\":true,\"steps\":2,\"why\":\"idle_timeout\",\"model_version\":\"initial\"}",
            "{\"seq\":\"job\",\"end\":true,\"steps\":2,\"why\":\"idle_timeout\",\"model_version\":\"initial\"}");
    assertThat(outputs(values(h.extractOutputValues(), "out", "seconds")))
        .containsExactly(predict(MODEL, rows(0, 2), 2, D));
    OperatorSubtaskState snapshot = h.snapshot(1, 30_000);
    h.close();

    var r = restored(s, snapshot, 30_000);
    r.setProcessingTime(3_599_999);
    assertThat(values(r.extractOutputValues(), "out", "hours")).as("still open").isEmpty();
    r.setProcessingTime(3_600_000);
    List<JsonNode> hoursOut = values(r.extractOutputValues(), "out", "hours");
    assertThat(outputs(hoursOut)).containsExactly(predict(MODEL, rows(0, 2), 2, D));
    assertThat(end(hoursOut).get("why").asText()).isEqualTo("idle_timeout");
    // The others' tombstones are gone after --ended-retention (10 min).
    assertOnlyTombstonesLeft(r, 1);
    r.close();
  }
}
