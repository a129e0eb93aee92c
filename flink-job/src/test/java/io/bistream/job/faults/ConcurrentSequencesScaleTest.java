package io.bistream.job.faults;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.job.JobOptions;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointStatsCounts;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.util.stats.StatsSummarySnapshot;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Many concurrent sequences through the real job with the RocksDB state backend (issue 16's scale
 * acceptance): short sequences (4 steps, one step per record, then an end marker), interleaved so
 * that all of them are open at once. The run must complete with every step output once, values as
 * model-core computes them, a bounded heap, and no sequence state or timer left once every sequence
 * ended (read from a final savepoint).
 *
 * <p>5,000 sequences by default (CI); the full size with {@code -Dbistream.scale.sequences=100000}
 * (docs/operations.md reports that run's numbers).
 */
class ConcurrentSequencesScaleTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = Offline.MODEL;
  private static final int D = Offline.D;
  private static final int STEPS = 4;
  private static final int SEQUENCES = Integer.getInteger("bistream.scale.sequences", 5_000);
  private static final int SPOT_CHECKS = 25;
  private static final long MB = 1 << 20;

  private static String seq(int s) {
    return "s-" + s;
  }

  private static int index(String seq) {
    return Integer.parseInt(seq.substring(2));
  }

  /** Step {@code t} of sequence {@code s}. */
  private static float[] x(int s, int t) {
    return new float[] {(float) Math.sin(s + t), (float) Math.cos(0.3 * s - t), 0.01f * (s % 97)};
  }

  private static float[] steps(int s) {
    float[] all = new float[STEPS * D];
    for (int t = 0; t < STEPS; t++) {
      System.arraycopy(x(s, t), 0, all, t * D, D);
    }
    return all;
  }

  /** Step by step, each step of every sequence before the next step of any: all open at once. */
  private static void produce(EmbeddedKafka kafka, String topic) {
    try (KafkaProducer<String, String> producer = kafka.producer()) {
      for (int t = 0; t <= STEPS; t++) {
        for (int s = 0; s < SEQUENCES; s++) {
          String value =
              t < STEPS
                  ? InputEvent.json(seq(s), t, x(s, t), 0, 1, D, false)
                  : "{\"seq\":\"" + seq(s) + "\",\"t\":" + STEPS + ",\"end\":true}";
          producer.send(new ProducerRecord<>(topic, seq(s), value));
        }
      }
      producer.flush();
    }
  }

  /**
   * Creates the broker's transaction and consumer-offset topics (50 partitions each) before the
   * timed run: a fresh broker does that on first use, which would count as the job's time.
   */
  private static void warmUp(EmbeddedKafka kafka) throws Exception {
    kafka.createTopics(1, "warm-up");
    try (KafkaProducer<String, String> p = kafka.producer("warm-up")) {
      p.initTransactions();
      p.beginTransaction();
      p.send(new ProducerRecord<>("warm-up", "k", "v"));
      p.commitTransaction();
    }
    try (KafkaConsumer<String, String> c =
        kafka.committedConsumer("warm-up", Duration.ofMinutes(1))) {
      while (c.poll(Duration.ofMillis(500)).isEmpty()) {
        // until the committed record is visible
      }
      c.commitSync();
    }
  }

  /** Heap in use after full collections: what the JVM must retain. */
  private static long usedHeapAfterGc() throws InterruptedException {
    Runtime rt = Runtime.getRuntime();
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(200);
    }
    return rt.totalMemory() - rt.freeMemory();
  }

  /** When every task of {@code job} is running (initialized, reading): its start-up excluded. */
  private static long awaitTasksRunning(MiniCluster cluster, JobClient job) throws Exception {
    while (true) {
      boolean all = true;
      for (AccessExecutionVertex v :
          cluster.getExecutionGraph(job.getJobID()).get().getAllExecutionVertices()) {
        all &= v.getExecutionState() == ExecutionState.RUNNING;
      }
      if (all) {
        return System.nanoTime();
      }
      if (job.getJobExecutionResult().isDone()) {
        job.getJobExecutionResult().get();
        throw new IllegalStateException("the job ended before its tasks ran");
      }
      Thread.sleep(50);
    }
  }

  /** Adds why checkpoints in the job's (short) checkpoint history failed; returns the counts. */
  private static CheckpointStatsCounts noteFailedCheckpoints(
      MiniCluster cluster, JobClient job, Set<String> why) throws Exception {
    CheckpointStatsSnapshot stats =
        cluster.getExecutionGraph(job.getJobID()).get().getCheckpointStatsSnapshot();
    for (AbstractCheckpointStats c : stats.getHistory().getCheckpoints()) {
      if (c instanceof FailedCheckpointStats f) {
        why.add(f.getFailureMessage());
      }
    }
    return stats.getCounts();
  }

  private static long usedHeap() {
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  private static long bytesUnder(String uri) throws IOException {
    try (Stream<Path> files = Files.walk(Path.of(java.net.URI.create(uri)))) {
      return files
          .filter(Files::isRegularFile)
          .mapToLong(
              f -> {
                try {
                  return Files.size(f);
                } catch (IOException e) {
                  throw new UncheckedIOException(e);
                }
              })
          .sum();
    }
  }

  private static String summary(StatsSummarySnapshot s, long unit, String name) {
    return String.format(
        "%s min %d / avg %d / max %d",
        name, s.getMinimum() / unit, s.getAverage() / unit, s.getMaximum() / unit);
  }

  @Test
  void everyStepOfManyConcurrentSequencesComesOutOnceAndNoStateIsLeft() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        MiniCluster cluster = ClusterRuns.start(2)) {
      JobOptions o = LocalRun.options(kafka, MODEL, "scale-in", "scale-out");
      o.stateBackend = "rocksdb";
      o.parallelism = 2;
      o.checkpointInterval = Duration.ofSeconds(1);
      // Only end markers end sequences: the idle timeout must not decide the outputs.
      o.idleTimeout = Duration.ofMinutes(30);
      kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
      warmUp(kafka);
      long records = (long) SEQUENCES * (STEPS + 1);
      long produceStart = System.nanoTime();
      produce(kafka, o.inputTopic);
      System.out.printf(
          "scale: produced %,d records (%,d sequences) in %d ms%n",
          records, SEQUENCES, (System.nanoTime() - produceStart) / 1_000_000);

      long heapBefore = usedHeapAfterGc();
      long start = System.nanoTime();
      JobClient job = ClusterRuns.submit(cluster, List.of(o), 128, null, "scale");
      BitSet ended = new BitSet(SEQUENCES);
      long running = awaitTasksRunning(cluster, job);
      // Checkpoints that failed before the first one completed: triggered while tasks were still
      // starting ("Not all required tasks are currently running"), not a fault of the run.
      long failedAtStart = -1;
      long peakHeap = 0;
      int polls = 0;
      Set<String> checkpointFailures = new TreeSet<>();
      Duration timeout = Duration.ofMinutes(5 + SEQUENCES / 2_000);
      long deadline = start + timeout.toNanos();
      // Follows the output keeping one bit per sequence, so the test itself retains next to
      // nothing while the heap is measured.
      try (KafkaConsumer<String, String> out = kafka.committedConsumer(o.outputTopic, timeout)) {
        while (ended.cardinality() < SEQUENCES) {
          for (ConsumerRecord<String, String> r : out.poll(Duration.ofMillis(500))) {
            if (r.value().contains("\"end\"")) {
              ended.set(index(JSON.readTree(r.value()).get("seq").asText()));
            }
          }
          peakHeap = Math.max(peakHeap, usedHeap());
          if (++polls % 4 == 0) {
            var counts = noteFailedCheckpoints(cluster, job, checkpointFailures);
            if (failedAtStart < 0 && counts.getNumberOfCompletedCheckpoints() > 0) {
              failedAtStart = counts.getNumberOfFailedCheckpoints();
            }
          }
          if (job.getJobExecutionResult().isDone()) {
            job.getJobExecutionResult().get();
            throw new IllegalStateException("the job stopped before every sequence ended");
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException(
                ended.cardinality() + " of " + SEQUENCES + " sequences ended within " + timeout);
          }
        }
      }
      long end = System.nanoTime();
      long wallMillis = (end - start) / 1_000_000;
      long processingMillis = Math.max(1, (end - running) / 1_000_000);
      long heapAfter = usedHeapAfterGc();

      noteFailedCheckpoints(cluster, job, checkpointFailures); // before the stop aborts any
      CheckpointStatsSnapshot stats =
          cluster.getExecutionGraph(job.getJobID()).get().getCheckpointStatsSnapshot();
      var counts = stats.getCounts();
      var summary = stats.getSummaryStats();
      String savepoint =
          job.stopWithSavepoint(
                  false,
                  kafka.scratchDirectory("savepoint-").toUri().toString(),
                  SavepointFormatType.CANONICAL)
              .get();
      long savepointBytes = bytesUnder(savepoint);

      System.out.printf(
          "scale: %,d sequences x %d steps + end marker, RocksDB, parallelism %d: all ended in"
              + " %,d ms from job submission (%,.0f input records/s), %,d ms after every task"
              + " was running (%,.0f input records/s)%n",
          SEQUENCES,
          STEPS,
          o.parallelism,
          wallMillis,
          records * 1000.0 / wallMillis,
          processingMillis,
          records * 1000.0 / processingMillis);
      System.out.printf(
          "scale: heap used after GC %d MB before the job, %d MB after every sequence ended;"
              + " peak used (no GC) %d MB%n",
          heapBefore / MB, heapAfter / MB, peakHeap / MB);
      System.out.printf(
          "scale: checkpoints %d completed, %d failed (%d of them before the first completed); %s;"
              + " %s; final savepoint %,d KB%n",
          counts.getNumberOfCompletedCheckpoints(),
          counts.getNumberOfFailedCheckpoints(),
          failedAtStart,
          summary(summary.getStateSizeStats(), 1024, "state size KB"),
          summary(summary.getEndToEndDurationStats(), 1, "duration ms"),
          savepointBytes / 1024);
      checkpointFailures.forEach(m -> System.out.println("scale: a checkpoint failed: " + m));

      // No sequence state and no timer left: only the ended-sequence tombstones (one per sequence,
      // to refuse data after end, each with the timer that removes it) are in the final savepoint.
      try (var state = ClusterRuns.sequenceState(savepoint, o.settings())) {
        long open = ClusterRuns.keys(state, "sequence").size();
        long buffering = ClusterRuns.keys(state, "reorder").size();
        long tombstones = ClusterRuns.keys(state, "tombstone").size();
        System.out.printf(
            "scale: final savepoint: %d open sequences, %d reorder buffers, %d timers, %,d"
                + " ended-sequence tombstones%n",
            open, buffering, state.numProcessingTimeTimers(), tombstones);
        assertThat(open).isZero();
        assertThat(buffering).isZero();
        // Each tombstone's retention timer, and no other.
        assertThat(state.numProcessingTimeTimers()).isEqualTo(SEQUENCES);
        assertThat(tombstones).isEqualTo(SEQUENCES);
      }

      OutputLedger ledger =
          OutputLedger.of(kafka.readCommitted(o.outputTopic, Duration.ofMinutes(2)));
      assertThat(ledger.duplicates()).as("duplicated outputs").isZero();
      assertThat(ledger.steps()).as("distinct step outputs").isEqualTo((long) SEQUENCES * STEPS);
      assertThat(ledger.ended()).hasSize(SEQUENCES);
      for (int s = 0; s < SEQUENCES; s++) {
        assertThat(ledger.rows(seq(s))).as("steps of %s", seq(s)).hasSize(STEPS);
        assertThat(ledger.end(seq(s)).get("steps").asLong()).isEqualTo(STEPS);
      }
      Model model = ModelFiles.load(Path.of(MODEL));
      for (int i = 0; i < SPOT_CHECKS; i++) {
        int s = (int) ((long) i * SEQUENCES / SPOT_CHECKS) + i % 7;
        float[] want = Offline.outputs(model, o.settings().stream(), D, steps(s));
        int f = want.length / STEPS;
        Map<Long, float[]> got = ledger.rows(seq(s));
        for (int t = 0; t < STEPS; t++) {
          for (int j = 0; j < f; j++) {
            assertThat(got.get((long) t)[j])
                .as("%s t=%d value %d", seq(s), t, j)
                .isCloseTo(want[t * f + j], org.assertj.core.data.Offset.offset(1e-5f));
          }
        }
      }
      assertThat(kafka.readCommitted(o.deadLetterTopic, Duration.ofSeconds(5))).isEmpty();

      // Nothing per sequence may stay on the heap once sequences end: state lives in RocksDB.
      // Allowance: 96 MB for the broker's and Flink's own working sets (network buffers, caches,
      // client batches), plus 512 bytes per sequence, far above the state a heap backend would
      // retain per ended sequence but far below the run's input (~100 bytes x 5 per sequence)
      // and its outputs held anywhere.
      long bound = 96 * MB + 512L * SEQUENCES;
      assertThat(heapAfter - heapBefore)
          .as("heap growth after GC (bound %d MB)", bound / MB)
          .isLessThan(bound);
    }
  }
}
