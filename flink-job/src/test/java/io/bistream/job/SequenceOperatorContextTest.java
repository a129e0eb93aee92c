package io.bistream.job;

import static io.bistream.job.SequenceOperatorFaultTest.assertOnlyTombstonesLeft;
import static io.bistream.job.SequenceOperatorFaultTest.assertSchemas;
import static io.bistream.job.SequenceOperatorFaultTest.end;
import static io.bistream.job.SequenceOperatorFaultTest.harness;
import static io.bistream.job.SequenceOperatorFaultTest.outputs;
import static io.bistream.job.SequenceOperatorFaultTest.record;
import static io.bistream.job.SequenceOperatorFaultTest.rows;
import static io.bistream.job.SequenceOperatorFaultTest.settings;
import static io.bistream.job.SequenceOperatorFaultTest.values;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.Test;

/**
 * Context mode in the keyed operator: against the TF.js reference of its definition, across batches
 * and a restore; and state written before context mode existed still restores.
 */
class SequenceOperatorContextTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path STREAMING =
      Path.of("../model-core/src/test/resources/golden/tfjs/streaming").toAbsolutePath();
  private static final int D = 3;

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> restored(
      JobSettings s, OperatorSubtaskState state) throws Exception {
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(s), (InputEvent e) -> e.seq, Types.STRING);
    h.initializeState(state);
    h.open();
    return h;
  }

  private static float[] floats(JsonNode a) {
    float[] out = new float[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) a.get(i).asDouble();
    }
    return out;
  }

  @Test
  void shouldReproduceTheTfjsContextReferenceAcrossBatchesAndARestoreUnderOtherSettings()
      throws Exception {
    // TF.js: each chunk [s, s+3) is predict() on [max(0, s-2), min(13, s+5)) alone.
    JsonNode c = JSON.readTree(STREAMING.resolve("context_bilstm_concat_l2_c3_r2.json").toFile());
    String model = STREAMING.resolve(c.get("model").asText()).normalize().toString();
    float[] x = floats(c.get("inputs").get(0).get("data"));
    float[] expected = floats(c.get("outputs").get(0).get("data"));
    int t = 13;
    int f = expected.length / (2 * t);
    float[] a = Arrays.copyOfRange(x, 0, t * D);
    float[] b = Arrays.copyOfRange(x, t * D, 2 * t * D);

    var h = harness(settings(model, StreamConfig.context(2, 3, 2), 2));
    h.processElement(record("a", 0, Arrays.copyOfRange(a, 0, 5 * D), D, false, 1), 0);
    h.processElement(record("b", 0, Arrays.copyOfRange(b, 0, D), D, false, 2), 0); // batch runs
    h.processElement(record("b", 1, Arrays.copyOfRange(b, D, 8 * D), D, false, 3), 0);
    h.processElement(record("a", 5, Arrays.copyOfRange(a, 5 * D, 6 * D), D, false, 4), 0);
    h.prepareSnapshotPreBarrier(1);
    OperatorSubtaskState snapshot = h.snapshot(1, 1);
    List<OutputRecord> raw = new ArrayList<>(h.extractOutputValues());
    h.close();

    // A restart whose job runs another mode: both sequences finish in context mode, from their
    // buffered steps alone (no recurrent state exists to carry).
    var after = restored(settings(model, StreamConfig.exact(), 1), snapshot);
    after.processElement(record("a", 6, Arrays.copyOfRange(a, 6 * D, t * D), D, true, 5), 0);
    for (int step = 8; step < t; step++) {
      float[] one = Arrays.copyOfRange(b, step * D, (step + 1) * D);
      after.processElement(record("b", step, one, D, step == t - 1, 6 + step), 0);
    }
    raw.addAll(after.extractOutputValues());
    assertSchemas(raw);
    assertThat(values(raw, "dlq", null)).isEmpty();
    for (int seq = 0; seq < 2; seq++) {
      List<JsonNode> out = values(raw, "out", seq == 0 ? "a" : "b");
      float[] got = outputs(out);
      float[] want = Arrays.copyOfRange(expected, seq * t * f, (seq + 1) * t * f);
      assertThat(got).hasSameSizeAs(want);
      for (int i = 0; i < want.length; i++) {
        assertThat(got[i])
            .as("sequence %d value %d", seq, i)
            .isCloseTo(
                want[i], org.assertj.core.data.Offset.offset(1e-6f + 1e-5f * Math.abs(want[i])));
      }
      assertThat(out.stream().filter(n -> !n.has("end")))
          .allSatisfy(n -> assertThat(n.get("mode").asText()).isEqualTo("context"));
      assertThat(end(out).get("steps").asLong()).isEqualTo(t);
      assertThat(end(out).get("why").asText()).isEqualTo("end_marker");
    }
    assertOnlyTombstonesLeft(after, 2);
    after.close();
  }

  @Test
  void stateWrittenBeforeContextModeRestoresAndItsSequenceFinishesInItsOwnMode() throws Exception {
    // Written by the job before context mode: lookahead(2, 1), "r" open with steps 0..2; its
    // KeyedSequence has no leftContext field (src/test/resources/state/README.md).
    OperatorSubtaskState old =
        OperatorSnapshotUtil.readStateHandle(
            Path.of("src/test/resources", StateFixtureWriter.BEFORE_CONTEXT).toString());
    String model = SequenceOperatorTest.MODEL;
    var clean = harness(settings(model, StreamConfig.lookahead(2, 1), 1));
    clean.processElement(record("r", 0, rows(0, 6), D, true, 1), 0);
    float[] lookahead = outputs(values(clean.extractOutputValues(), "out", "r"));
    clean.close();
    var contextRun = harness(settings(model, StreamConfig.context(3, 2, 1), 1));
    contextRun.processElement(record("n", 0, rows(0, 5), D, true, 1), 0);
    float[] context = outputs(values(contextRun.extractOutputValues(), "out", "n"));
    contextRun.close();

    var h = restored(settings(model, StreamConfig.context(3, 2, 1), 1), old);
    h.processElement(record("r", 3, rows(3, 3), D, true, 2), 0);
    h.processElement(record("n", 0, rows(0, 5), D, true, 3), 0);
    List<OutputRecord> raw = h.extractOutputValues();
    assertSchemas(raw);
    // Before the snapshot, chunk [0, 2) of "r" left (steps 0..2 are a chunk and its lookahead).
    List<JsonNode> r = values(raw, "out", "r");
    assertThat(r).hasSize(4 + 1);
    List<Float> rest = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      assertThat(r.get(i).get("t").asLong()).isEqualTo(2 + i);
      assertThat(r.get(i).get("mode").asText()).isEqualTo("lookahead");
      r.get(i).get("y").forEach(y -> rest.add(y.floatValue()));
    }
    int f = lookahead.length / 6;
    assertThat(rest).containsExactly(toObjects(Arrays.copyOfRange(lookahead, 2 * f, 6 * f)));
    assertThat(end(r).get("steps").asLong()).isEqualTo(6);
    List<JsonNode> n = values(raw, "out", "n");
    assertThat(outputs(n)).containsExactly(context);
    assertThat(n.subList(0, 5))
        .allSatisfy(o -> assertThat(o.get("mode").asText()).isEqualTo("context"));
    assertOnlyTombstonesLeft(h, 2);
    h.close();
  }

  private static Float[] toObjects(float[] a) {
    Float[] out = new Float[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i];
    }
    return out;
  }
}
