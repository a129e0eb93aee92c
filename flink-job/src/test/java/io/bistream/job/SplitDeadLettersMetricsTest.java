package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.ParsedRecord;
import io.bistream.job.records.RecordParser;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.common.JobID;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.clusterframework.types.ResourceID;
import org.apache.flink.runtime.executiongraph.ExecutionAttemptID;
import org.apache.flink.runtime.metrics.groups.TaskManagerMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskMetricGroup;
import org.apache.flink.runtime.metrics.util.TestingMetricRegistry;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * The parse stage's dead-letter metric, read from a real metric registry as a reporter sees it: one
 * counter per reason, registered once, counting every bad record.
 */
class SplitDeadLettersMetricsTest {

  private static final String NAME = "parseDeadLetters";

  @Test
  void shouldCountEveryParseDeadLetterOfEachReason() throws Exception {
    // What a reporter gets: the metric registered under each identifier (first registration).
    Map<String, Metric> registered = new ConcurrentHashMap<>();
    TestingMetricRegistry registry =
        TestingMetricRegistry.builder()
            .setRegisterConsumer(
                (metric, name, group) ->
                    registered.putIfAbsent(group.getMetricIdentifier(name), metric))
            .build();
    TaskMetricGroup task =
        TaskManagerMetricGroup.createTaskManagerMetricGroup(registry, "host", ResourceID.generate())
            .addJob(new JobID(), "job")
            .addTask(ExecutionAttemptID.randomId(), "task");
    MockEnvironment env = new MockEnvironmentBuilder().setMetricGroup(task).build();
    RecordParser parser = new RecordParser(3, 1 << 20, 4096);
    List<String> values =
        List.of(
            "{not json",
            "{\"seq\":\"a\",\"t\":0,\"x\":[1,2]}",
            "[1,2",
            "{\"seq\":\"a\",\"t\":0,\"x\":[1,2,3]}",
            "{\"seq\":\"b\",\"t\":0,\"x\":[1]}",
            "{\"seq\":",
            "{\"seq\":\"c\",\"t\":0,\"x\":[1,2,3,4]}");
    try (OneInputStreamOperatorTestHarness<ParsedRecord, InputEvent> harness =
        new OneInputStreamOperatorTestHarness<>(
            new ProcessOperator<>(new BiStreamJob.SplitDeadLetters("dlq")), env)) {
      harness.open();
      long offset = 0;
      for (String v : values) {
        byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
        harness.processElement(
            ParsedRecord.of(parser.parse(null, bytes, "in", 0, offset++, 0L)), 0L);
      }
      assertThat(harness.extractOutputValues()).hasSize(1);
      assertThat(harness.getSideOutput(BiStreamJob.DEAD_LETTERS)).hasSize(6);
    }
    assertThat(counter(registered, DeadLetter.Reason.BAD_JSON)).isEqualTo(3);
    assertThat(counter(registered, DeadLetter.Reason.WRONG_WIDTH)).isEqualTo(3);
    for (DeadLetter.Reason r : DeadLetter.Reason.values()) {
      if (r != DeadLetter.Reason.BAD_JSON && r != DeadLetter.Reason.WRONG_WIDTH) {
        assertThat(counter(registered, r)).as(r.code()).isZero();
      }
    }
  }

  /** The registered counter of {@code reason}: present from the start, before any bad record. */
  private static long counter(Map<String, Metric> registered, DeadLetter.Reason reason) {
    String suffix = ".deadLetterReason." + reason.code() + "." + NAME;
    List<Metric> found =
        registered.entrySet().stream()
            .filter(e -> e.getKey().endsWith(suffix))
            .map(Map.Entry::getValue)
            .toList();
    assertThat(found).as("one %s counter registered for %s", NAME, reason.code()).hasSize(1);
    return ((Counter) found.get(0)).getCount();
  }
}
