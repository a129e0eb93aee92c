package io.bistream.job.faults;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rescaling the real job (issue 16's acceptance): stop-with-savepoint at parallelism 1 mid-stream,
 * resume at 2, stop-with-savepoint again, resume at 1 until every sequence ended; max parallelism
 * set explicitly and the same in all three runs. The input arrives in three portions, one per run,
 * so each run starts with sequences open in the savepoint and leaves others open in the next. The
 * committed outputs (read_committed) must be those of a failure-free run of the same input, each
 * once, in exact, lookahead and stateful mode (one pipeline per mode in each job).
 */
class JobRescaleTest {

  private static final String MODEL = Offline.MODEL;
  private static final int D = Offline.D;
  private static final int SEQUENCES = 18;
  private static final int MAX_PARALLELISM = 64;

  /** Steps [0, 5) come in the first portion, [5, 10) in the second, [10, 15) in the third. */
  private static final int[] PORTION_STARTS = {0, 5, 10, 15};

  private static final List<String> MODES = List.of("exact", "lookahead", "stateful");

  private static EmbeddedKafka kafka;
  private static MiniCluster cluster;
  private static Map<String, float[]> inputs; // seq -> [t, D]

  @BeforeAll
  static void startBrokerAndCluster() throws Exception {
    kafka = EmbeddedKafka.start();
    cluster = ClusterRuns.start(2);
    inputs = new TreeMap<>();
    Random rnd = new Random(16);
    for (int s = 0; s < SEQUENCES; s++) {
      // Ends in the first (s % 3 == 0), second or third portion: 3-4, 8-9 or 13-14 steps.
      int t = 3 + (s % 3) * 5 + s % 2;
      float[] x = new float[t * D];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      inputs.put("r-" + s, x);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  /** The records of one portion, one step per record, interleaved across sequences. */
  private static List<Map.Entry<String, String>> portion(int p) {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    for (int t = PORTION_STARTS[p]; t < PORTION_STARTS[p + 1]; t++) {
      for (Map.Entry<String, float[]> in : inputs.entrySet()) {
        int length = in.getValue().length / D;
        if (t < length) {
          String seq = in.getKey();
          out.add(Map.entry(seq, InputEvent.json(seq, t, in.getValue(), t, 1, D, t == length - 1)));
        }
      }
    }
    return out;
  }

  /** Sequences still open after the first {@code portions} portions. */
  private static Set<String> openAfter(int portions) {
    Set<String> open = new TreeSet<>();
    for (Map.Entry<String, float[]> in : inputs.entrySet()) {
      if (in.getValue().length / D > PORTION_STARTS[portions]) {
        open.add(in.getKey());
      }
    }
    return open;
  }

  private static List<JobOptions> pipelines(String run, int parallelism) throws Exception {
    List<JobOptions> all = new ArrayList<>();
    for (String mode : MODES) {
      JobOptions o = LocalRun.options(kafka, MODEL, run + "-in-" + mode, run + "-out-" + mode);
      o.mode = StreamConfig.Mode.named(mode);
      o.chunk = 4;
      o.lookahead = 3;
      o.parallelism = parallelism;
      // Only end markers end sequences: an idle timeout must not decide what a run outputs.
      o.idleTimeout = Duration.ofMinutes(10);
      kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
      all.add(o);
    }
    return all;
  }

  /** One job holding every pipeline of {@code run}, so a savepoint covers every mode. */
  private static JobClient submit(List<JobOptions> run, String savepoint, String name)
      throws Exception {
    return ClusterRuns.submit(cluster, run, MAX_PARALLELISM, savepoint, name);
  }

  private static void produce(List<JobOptions> run, int portion) throws Exception {
    for (JobOptions o : run) {
      kafka.produce(o.inputTopic, portion(portion));
    }
  }

  private static void awaitCheckpointed(List<JobOptions> run, JobClient job) throws Exception {
    for (JobOptions o : run) {
      ClusterRuns.awaitCheckpointedInput(
          o.bootstrapServers,
          "bistream-" + o.inputTopic + "-" + o.outputTopic,
          o.inputTopic,
          job,
          Duration.ofSeconds(120));
    }
  }

  private static void awaitEnded(List<JobOptions> run, JobClient job) throws Exception {
    for (JobOptions o : run) {
      LocalRun.awaitEnded(
          kafka, job, o.outputTopic, inputs.keySet(), Duration.ofSeconds(180), n -> {});
    }
  }

  private static String stopWithSavepoint(JobClient job, String dir) throws Exception {
    return job.stopWithSavepoint(false, dir, SavepointFormatType.CANONICAL).get();
  }

  /** Every open sequence of every mode is in the savepoint's keyed state, and no other. */
  private static void assertSavepointHoldsOpen(
      List<JobOptions> run, String savepoint, Set<String> open) throws Exception {
    for (JobOptions o : run) {
      try (var state = ClusterRuns.sequenceState(savepoint, o.settings())) {
        assertThat(ClusterRuns.keys(state, "sequence"))
            .as("open sequences of %s in %s", o.mode, savepoint)
            .isEqualTo(open);
      }
    }
  }

  private static long lapStart = System.nanoTime();

  /** Prints how long the step just done took: where the test's time goes. */
  private static void lap(String done) {
    long now = System.nanoTime();
    System.out.printf("rescale test: %s in %d ms%n", done, (now - lapStart) / 1_000_000);
    lapStart = now;
  }

  @Test
  void stopWithSavepointAtOneResumeAtTwoAndBackCommitsTheFailureFreeOutputsOnce() throws Exception {
    // The failure-free reference: all input, one job, no stop.
    lap("start");
    List<JobOptions> reference = pipelines("ref", 2);
    for (int p = 0; p < 3; p++) {
      produce(reference, p);
    }
    JobClient ref = submit(reference, null, "reference");
    try {
      awaitEnded(reference, ref);
    } finally {
      LocalRun.cancel(ref);
    }
    lap("reference run");

    String savepoints = kafka.scratchDirectory("savepoints-").toUri().toString();
    List<JobOptions> one = pipelines("rescaled", 1);
    produce(one, 0);
    JobClient first = submit(one, null, "rescaled");
    awaitCheckpointed(one, first);
    lap("first portion at parallelism 1");
    String atOne = stopWithSavepoint(first, savepoints);
    lap("stop-with-savepoint");
    assertSavepointHoldsOpen(one, atOne, openAfter(1));

    List<JobOptions> two = new ArrayList<>();
    for (JobOptions o : one) {
      o.parallelism = 2;
      two.add(o);
    }
    produce(two, 1);
    JobClient second = submit(two, atOne, "rescaled");
    awaitCheckpointed(two, second);
    lap("second portion at parallelism 2");
    String atTwo = stopWithSavepoint(second, savepoints);
    assertSavepointHoldsOpen(two, atTwo, openAfter(2));

    for (JobOptions o : two) {
      o.parallelism = 1;
    }
    produce(two, 2);
    JobClient third = submit(two, atTwo, "rescaled");
    try {
      awaitEnded(two, third);
    } finally {
      LocalRun.cancel(third);
    }
    lap("third portion at parallelism 1");

    Model model = ModelFiles.load(Path.of(MODEL));
    for (int m = 0; m < MODES.size(); m++) {
      OutputLedger want =
          OutputLedger.of(
              kafka.readCommitted(reference.get(m).outputTopic, Duration.ofSeconds(30)));
      OutputLedger got =
          OutputLedger.of(kafka.readCommitted(two.get(m).outputTopic, Duration.ofSeconds(30)));
      OutputLedger.Comparison c = got.compareWith(want, 1e-5f);
      System.out.printf("rescale 1 -> 2 -> 1, %s: %s%n", MODES.get(m), c);
      assertThat(c.same()).as(MODES.get(m) + ": " + c).isTrue();
      assertThat(got.ended()).isEqualTo(inputs.keySet());
      // The reference itself is model-core's answer, so "same as the reference" means right.
      OutputLedger.Comparison offline =
          want.compareWith(
              Offline.ledger(model, two.get(m).settings().stream(), D, inputs, seq -> "end_marker"),
              1e-5f);
      assertThat(offline.same()).as("reference vs model-core: " + offline).isTrue();
      assertThat(kafka.readCommitted(two.get(m).deadLetterTopic, Duration.ofSeconds(5))).isEmpty();
    }
  }
}
