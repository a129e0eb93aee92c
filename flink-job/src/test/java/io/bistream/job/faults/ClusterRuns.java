package io.bistream.job.faults;

import io.bistream.job.BiStreamJobMain;
import io.bistream.job.JobOptions;
import io.bistream.job.JobSettings;
import io.bistream.job.SequenceOperator;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.io.DataInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.filesystem.AbstractFsCheckpointStorageAccess;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The real job on a MiniCluster the test holds (for savepoints, restores at another parallelism and
 * checkpoint statistics), and what a savepoint holds of {@link SequenceOperator}'s state.
 */
final class ClusterRuns {

  private ClusterRuns() {}

  /** A MiniCluster with one TaskManager of {@code slots} slots. */
  static MiniCluster start(int slots) throws Exception {
    MiniCluster cluster =
        new MiniCluster(
            new MiniClusterConfiguration.Builder()
                .setConfiguration(new Configuration())
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(slots)
                .withRandomPorts()
                .build());
    cluster.start();
    return cluster;
  }

  /**
   * Submits one job holding a pipeline per entry of {@code pipelines} (each built as {@code run}
   * builds it; the environment from the first) to {@code cluster}, with an explicit max
   * parallelism, restored from {@code savepoint} unless it is null.
   */
  static JobClient submit(
      MiniCluster cluster,
      List<JobOptions> pipelines,
      int maxParallelism,
      String savepoint,
      String name)
      throws Exception {
    TestStreamEnvironment.setAsContext(cluster, pipelines.get(0).parallelism);
    try {
      StreamExecutionEnvironment env = LocalRun.environment(pipelines.get(0));
      env.setMaxParallelism(maxParallelism);
      for (JobOptions o : pipelines) {
        BiStreamJobMain.build(o, env);
      }
      StreamGraph graph = env.getStreamGraph();
      graph.setJobName(name);
      if (savepoint != null) {
        // What --restore <path> is to do; allowNonRestoredState false: every state must map.
        graph.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(savepoint, false));
      }
      return env.executeAsync(graph);
    } finally {
      TestStreamEnvironment.unsetAsContext();
    }
  }

  /**
   * Waits until the job's consumer group has committed offsets at least at the end offsets {@code
   * topic} has now: the Kafka source commits them when a checkpoint completes, so every record
   * produced so far was processed and is covered by a checkpoint.
   */
  static void awaitCheckpointedInput(
      String bootstrapServers, String group, String topic, JobClient job, Duration timeout)
      throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrapServers);
    try (Admin admin = Admin.create(p)) {
      Map<TopicPartition, OffsetSpec> latest = new TreeMap<>(ClusterRuns::byPartition);
      for (var partition :
          admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions()) {
        latest.put(new TopicPartition(topic, partition.partition()), OffsetSpec.latest());
      }
      Map<TopicPartition, Long> end = new TreeMap<>(ClusterRuns::byPartition);
      admin.listOffsets(latest).all().get().forEach((tp, info) -> end.put(tp, info.offset()));
      long deadline = System.nanoTime() + timeout.toNanos();
      while (true) {
        Map<TopicPartition, OffsetAndMetadata> committed =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        boolean done = true;
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
          OffsetAndMetadata c = committed.get(e.getKey());
          done &= c != null && c.offset() >= e.getValue();
        }
        if (done) {
          return;
        }
        if (job.getJobExecutionResult().isDone()) {
          job.getJobExecutionResult().get(); // throws the job's failure
          throw new IllegalStateException("the job ended before it read " + topic + " to " + end);
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "group " + group + " committed " + committed + ", expected at least " + end);
        }
        Thread.sleep(200);
      }
    }
  }

  private static int byPartition(TopicPartition a, TopicPartition b) {
    return Integer.compare(a.partition(), b.partition());
  }

  /**
   * {@link SequenceOperator}'s keyed state and timers in a savepoint or retained checkpoint, all
   * subtasks merged into one harness subtask. The operator is found by its uid, {@code
   * "bistream-sequences-<input>-<output>"} ({@code BiStreamJob}). The caller closes the harness.
   */
  static KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> sequenceState(
      String pointer, JobSettings settings) throws Exception {
    CheckpointMetadata metadata;
    var location = AbstractFsCheckpointStorageAccess.resolveCheckpointPointer(pointer);
    try (InputStream in = location.getMetadataHandle().openInputStream()) {
      metadata =
          Checkpoints.loadCheckpointMetadata(
              new DataInputStream(in), ClusterRuns.class.getClassLoader(), pointer);
    }
    String uid = "bistream-sequences-" + settings.inputTopic() + "-" + settings.outputTopic();
    List<OperatorState> keyed =
        metadata.getOperatorStates().stream()
            .filter(s -> s.getOperatorUid().filter(uid::equals).isPresent())
            .collect(Collectors.toList());
    if (keyed.size() != 1) {
      throw new IllegalStateException(
          "expected one operator with uid "
              + uid
              + " in "
              + pointer
              + ", found "
              + metadata.getOperatorStates().stream()
                  .map(s -> s.getOperatorUid().orElse("(no uid) " + s.getOperatorID()))
                  .toList());
    }
    OperatorState op = keyed.get(0);
    List<OperatorSubtaskState> subtasks = new ArrayList<>();
    for (int i = 0; i < op.getParallelism(); i++) {
      OperatorSubtaskState s = op.getState(i);
      subtasks.add(s == null ? OperatorSubtaskState.builder().build() : s);
    }
    OperatorSubtaskState merged =
        AbstractStreamOperatorTestHarness.repartitionOperatorState(
            AbstractStreamOperatorTestHarness.repackageState(
                subtasks.toArray(new OperatorSubtaskState[0])),
            op.getMaxParallelism(),
            op.getParallelism(),
            1,
            0);
    var h =
        new KeyedOneInputStreamOperatorTestHarness<>(
            new SequenceOperator(settings),
            (InputEvent e) -> e.seq,
            Types.STRING,
            op.getMaxParallelism(),
            1,
            0);
    h.setProcessingTime(0);
    h.initializeState(merged);
    h.open();
    return h;
  }

  /**
   * Keys with an entry in {@link SequenceOperator}'s keyed state {@code name}: "sequence" for open
   * sequences, "tombstone" for ended ones still retained, "reorder" for those buffering steps.
   */
  static Set<String> keys(
      KeyedOneInputStreamOperatorTestHarness<String, InputEvent, OutputRecord> h, String name)
      throws Exception {
    // Open sequences and ended-sequence tombstones share one state, told apart by its value.
    if (name.equals("sequence") || name.equals("tombstone")) {
      return SequenceOperator.sequences(
          h.getOperator().<String>getKeyedStateBackend(), name.equals("tombstone"));
    }
    return h.getOperator()
        .<String>getKeyedStateBackend()
        .getKeys(name, VoidNamespace.INSTANCE)
        .collect(Collectors.toSet());
  }
}
