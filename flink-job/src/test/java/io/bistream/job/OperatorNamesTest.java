package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.runtime.jobgraph.JobVertex;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Operator names fit Flink's 80-character limit for metric names (longer ones are truncated with a
 * warning), name their pipeline, and differ between pipelines of one job; the uids, which
 * savepoints restore by, stay "<role>-<input>-<output>".
 */
class OperatorNamesTest {

  /** Flink truncates operator names for metrics beyond this (MetricUtils). */
  private static final int FLINK_METRIC_NAME_LIMIT = 80;

  @ParameterizedTest
  @CsvSource({
    "demo-in, demo-out-lookahead, demo-out-stateful, true",
    "in, out, out2, true",
    "orders.enriched.features.v3, orders.enriched.predictions.bilstm.v3,"
        + " orders.enriched.predictions.bilstm.v4, false",
    "a-topic-name-of-a-hundred-characters-which-kafka-allows-as-it-allows-up-to-two-hundred-and-forty-nine,"
        + " out-1, out-2, false"
  })
  void namesFitTheMetricLimitNameThePipelineAndUidsKeepBothTopics(
      String in, String out, String otherOut, boolean namedInFull) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    BiStreamJobMain.build(options(in, out), env);
    BiStreamJobMain.build(options(in, otherOut), env);
    StreamGraph graph = env.getStreamGraph();

    List<String> names = new ArrayList<>();
    Set<String> uids = new HashSet<>();
    for (StreamNode node : graph.getStreamNodes()) {
      names.add(node.getOperatorName());
      uids.add(node.getTransformationUID());
    }
    // The source's coordinator registers its metrics under its task's name: the names of the
    // operators chained to the source, joined.
    List<String> sourceTasks = new ArrayList<>();
    for (JobVertex v : graph.getJobGraph().getVertices()) {
      if (v.getName().startsWith("Source: ")) {
        sourceTasks.add(v.getName());
      }
    }
    assertThat(sourceTasks).hasSize(2);
    for (List<String> list : List.of(names, sourceTasks)) {
      assertThat(list)
          .allSatisfy(n -> assertThat(n).hasSizeLessThanOrEqualTo(FLINK_METRIC_NAME_LIMIT))
          .doesNotHaveDuplicates();
    }
    if (namedInFull) {
      assertThat(names).anyMatch(n -> n.endsWith(in + "-" + out));
    }
    for (String role :
        List.of(
            "kafka-input-",
            "validate-",
            "bistream-sequences-",
            "kafka-output-",
            "kafka-parse-dead-letters-")) {
      assertThat(uids).contains(role + in + "-" + out, role + in + "-" + otherOut);
    }
    assertThat(names)
        .anyMatch(n -> n.startsWith("validate-"))
        .anyMatch(n -> n.startsWith("bistream-sequences-"));
  }

  private static JobOptions options(String in, String out) {
    return JobOptions.parse(
        "--bootstrap-servers",
        "broker:9093",
        "--input-topic",
        in,
        "--output-topic",
        out,
        "--model",
        SequenceOperatorTest.MODEL);
  }
}
