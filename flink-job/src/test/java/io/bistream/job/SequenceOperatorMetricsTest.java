package io.bistream.job;

import static io.bistream.job.SequenceOperatorFaultTest.record;
import static io.bistream.job.SequenceOperatorFaultTest.rows;
import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.metrics.groups.InternalOperatorMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** Every metric of the keyed operator, registered once, with its value after a known input. */
class SequenceOperatorMetricsTest {

  private static final int D = 3;

  /** An operator metric group that records each metric (subgroups as "key.value.name"). */
  static final class Recording extends UnregisteredMetricGroups.UnregisteredOperatorMetricGroup {
    final Map<String, Metric> metrics;
    final Map<String, Integer> registrations;
    final String prefix;

    Recording(Map<String, Metric> metrics, Map<String, Integer> registrations, String prefix) {
      this.metrics = metrics;
      this.registrations = registrations;
      this.prefix = prefix;
    }

    @Override
    protected void addMetric(String name, Metric metric) {
      if (registrations == null) {
        return; // Flink's own metrics, registered by the super constructor
      }
      registrations.merge(prefix + name, 1, Integer::sum);
      metrics.putIfAbsent(prefix + name, metric);
    }

    @Override
    public MetricGroup addGroup(String key, String value) {
      return new Recording(metrics, registrations, prefix + key + "." + value + ".");
    }
  }

  /** A task metric group whose operators record into {@link #operator}. */
  static final class RecordingTask extends UnregisteredMetricGroups.UnregisteredTaskMetricGroup {
    final Recording operator = new Recording(new HashMap<>(), new HashMap<>(), "");

    @Override
    public InternalOperatorMetricGroup getOrAddOperator(
        OperatorID id, String name, Map<String, String> additionalVariables) {
      return operator;
    }
  }

  private static long count(Recording m, String name) {
    return ((Counter) m.metrics.get(name)).getCount();
  }

  private static long gauge(Recording m, String name) {
    return ((Number) ((Gauge<?>) m.metrics.get(name)).getValue()).longValue();
  }

  @Test
  void everyMetricIsRegisteredOnceAndCountsWhatHappened() throws Exception {
    RecordingTask task = new RecordingTask();
    MockEnvironment env = new MockEnvironmentBuilder().setMetricGroup(task).build();
    var h =
        new KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord>(
            new SequenceOperator(
                SequenceOperatorFaultTest.settings(
                    SequenceOperatorTest.MODEL, StreamConfig.exact(), 1)),
            (InputEvent e) -> e.seq,
            Types.STRING,
            env);
    h.open();
    Recording m = task.operator;

    h.processElement(record("a", 0, rows(0, 1), D, false, 1), 0);
    h.processElement(record("a", 2, rows(2, 1), D, false, 2), 0); // buffered
    assertThat(gauge(m, "activeSequences")).isEqualTo(1);
    assertThat(gauge(m, "bufferedSteps")).isEqualTo(1);
    h.processElement(record("a", 1, rows(1, 1), D, false, 3), 0);
    h.processElement(record("a", 1, rows(1, 1), D, false, 4), 0); // a replay: duplicate
    h.processElement(record("a", 3, rows(3, 1), D, true, 5), 0); // "a" ends: 4 outputs, end
    h.processElement(record("b", 0, rows(0, 1), D, false, 6), 0);
    h.processElement(record("b", 0, rows(5, 1), D, false, 7), 0); // conflicting duplicate
    h.processElement(record("b", 1, new float[0], D, true, 8), 0); // "b" ends: 1 output, end
    h.processElement(record("c", 50, rows(50, 1), D, false, 9), 0); // state lost
    h.processElement(record("a", 4, rows(4, 1), D, false, 10), 0); // data after end

    assertThat(m.registrations).allSatisfy((name, n) -> assertThat(n).as(name).isEqualTo(1));
    assertThat(count(m, "bistreamRecordsIn")).isEqualTo(10);
    assertThat(count(m, "bistreamRecordsOut")).isEqualTo(7);
    assertThat(count(m, "duplicateSteps")).isEqualTo(1);
    Map<DeadLetter.Reason, Long> expected =
        Map.of(
            DeadLetter.Reason.CONFLICTING_DUPLICATE, 1L,
            DeadLetter.Reason.STATE_LOST, 1L,
            DeadLetter.Reason.DATA_AFTER_END, 1L);
    for (DeadLetter.Reason r : DeadLetter.Reason.values()) {
      assertThat(count(m, "deadLetterReason." + r.code() + ".deadLetters"))
          .as(r.code())
          .isEqualTo(expected.getOrDefault(r, 0L));
    }
    assertThat(h.extractOutputValues().stream().filter(o -> o.topic.equals("dlq")).count())
        .isEqualTo(3);
    assertThat(gauge(m, "activeSequences")).isZero();
    assertThat(gauge(m, "bufferedSteps")).isZero();
    // Engine calls: "a" at step 0, at steps 1-2, at its end; "b" at step 0, at its end.
    assertThat(((Histogram) m.metrics.get("chunkComputeMicros")).getCount()).isEqualTo(5);
    // Exact mode releases a sequence's outputs in one emission, at its end: "a" and "b".
    assertThat(((Histogram) m.metrics.get("eventToOutputMillis")).getCount()).isEqualTo(2);
    h.close();
    env.close();
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> harness(
      MockEnvironment env) throws Exception {
    return new KeyedOneInputStreamOperatorTestHarness<>(
        new SequenceOperator(
            SequenceOperatorFaultTest.settings(
                SequenceOperatorTest.MODEL, StreamConfig.exact(), 1)),
        (InputEvent e) -> e.seq,
        Types.STRING,
        env);
  }

  @Test
  void gaugesCountWhatARestoreHandsTheOperator() throws Exception {
    var before = harness(new MockEnvironmentBuilder().build());
    before.open();
    before.processElement(record("a", 0, rows(0, 1), D, false, 1), 0);
    before.processElement(record("a", 2, rows(2, 2), D, false, 2), 0); // 2 steps buffered
    before.processElement(record("b", 0, rows(0, 1), D, false, 3), 0);
    before.processElement(record("c", 0, rows(0, 1), D, true, 4), 0); // ended: not open
    var snapshot = before.snapshot(1, 1);
    before.close();

    RecordingTask task = new RecordingTask();
    MockEnvironment env = new MockEnvironmentBuilder().setMetricGroup(task).build();
    var after = harness(env);
    after.initializeState(snapshot);
    after.open();
    Recording m = task.operator;
    assertThat(gauge(m, "activeSequences")).isEqualTo(2);
    assertThat(gauge(m, "bufferedSteps")).isEqualTo(2);
    after.processElement(record("a", 1, rows(1, 1), D, false, 5), 0); // the buffer drains
    assertThat(gauge(m, "bufferedSteps")).isZero();
    after.processElement(record("a", 4, new float[0], D, true, 6), 0); // "a" ends
    assertThat(gauge(m, "activeSequences")).isEqualTo(1);
    after.close();
    env.close();
  }
}
