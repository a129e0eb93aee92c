package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.runtime.jobgraph.JobVertex;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/**
 * How the job's operators are chained into tasks: every output leaves from the keyed operator's own
 * task, with no trip over Flink's network to a sink thread; the source's task holds only the source
 * and the parser, and the parse dead letters' sink is a task of its own.
 */
class JobGraphTest {

  @Test
  void theKeyedOperatorWritesToKafkaInItsOwnTask() throws Exception {
    for (boolean models : new boolean[] {false, true}) {
      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
      List<String> args =
          new ArrayList<>(
              List.of(
                  "--bootstrap-servers",
                  "broker:9093",
                  "--input-topic",
                  "in",
                  "--output-topic",
                  "out",
                  "--model",
                  SequenceOperatorTest.MODEL));
      if (models) {
        args.addAll(List.of("--model-topic", "models"));
      }
      BiStreamJobMain.build(JobOptions.parse(args.toArray(String[]::new)), env);
      List<String> tasks = new ArrayList<>();
      for (JobVertex v : env.getStreamGraph().getJobGraph().getVertices()) {
        tasks.add(v.getName());
      }
      assertThat(tasks)
          .as("tasks with --model-topic: %s", models)
          .anySatisfy(
              t ->
                  assertThat(t)
                      .startsWith("bistream-sequences-in-out")
                      .contains("kafka-output-in-out: Writer"))
          .anySatisfy(t -> assertThat(t).isEqualTo("Source: kafka-in-out -> validate-in-out"))
          .anySatisfy(
              t ->
                  assertThat(t)
                      .isEqualTo(
                          "kafka-parse-dead-letters-in-out: Writer"
                              + " -> kafka-parse-dead-letters-in-out: Committer"))
          .noneSatisfy(t -> assertThat(t).startsWith("kafka-output-in-out"));
    }
  }
}
