package io.bistream.job.faults;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Process crash (docs/operations.md, fault table): the job runs as a child JVM ({@code
 * BiStreamJobMain}, a MiniCluster like {@code ./bistream run}) against a real broker in this JVM,
 * is killed with SIGKILL at a random point after a checkpoint completed and outputs were committed,
 * and is started again. Its committed outputs (read_committed) are compared with a failure-free run
 * of the same input.
 *
 * <p>CI size: 20 sequences x 60 steps, one step per record, interleaved with staggered starts, each
 * ending with an end marker. Larger: {@code -Dbistream.faults.sequences=50
 * -Dbistream.faults.steps=200}; replay a kill point with {@code -Dbistream.faults.seed=<printed
 * seed>}.
 */
class ProcessCrashFaultTest {

  private static final int SEQUENCES = Integer.getInteger("bistream.faults.sequences", 20);
  private static final int STEPS = Integer.getInteger("bistream.faults.steps", 60);
  private static final long SEED = Long.getLong("bistream.faults.seed", System.nanoTime());
  private static final String MODEL = Offline.MODEL;
  private static final int D = Offline.D;
  private static final Duration WAIT = Duration.ofMinutes(4);
  private static final ObjectMapper JSON = new ObjectMapper();

  private static EmbeddedKafka kafka;
  private static List<List<Map.Entry<String, String>>> rounds; // records, in produce order
  private static Set<String> sequences;
  private static final Map<String, OutputLedger> REFERENCES = new ConcurrentHashMap<>();
  private static final List<Process> CHILDREN = new ArrayList<>();
  private static volatile RuntimeException producerFailure;

  @BeforeAll
  static void startBrokerAndGenerateInput() {
    System.out.printf(
        "process-crash faults: %d sequences x %d steps, seed %d (-Dbistream.faults.seed=%d)%n",
        SEQUENCES, STEPS, SEED, SEED);
    kafka = EmbeddedKafka.start();
    Random rnd = new Random(11);
    sequences = new TreeSet<>();
    Map<String, float[]> x = new HashMap<>();
    for (int s = 0; s < SEQUENCES; s++) {
      String seq = "crash-" + s;
      sequences.add(seq);
      float[] v = new float[STEPS * D];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) rnd.nextGaussian();
      }
      x.put(seq, v);
    }
    // Sequence s starts at round 2s: sequences end at different times, so outputs of exact mode
    // (written when a sequence ends) are committed throughout the run, not all at its end.
    rounds = new ArrayList<>();
    for (int r = 0; r < STEPS + 2 * (SEQUENCES - 1); r++) {
      List<Map.Entry<String, String>> round = new ArrayList<>();
      for (int s = 0; s < SEQUENCES; s++) {
        int t = r - 2 * s;
        if (t >= 0 && t < STEPS) {
          String seq = "crash-" + s;
          round.add(Map.entry(seq, InputEvent.json(seq, t, x.get(seq), t, 1, D, t == STEPS - 1)));
        }
      }
      rounds.add(round);
    }
  }

  @AfterAll
  static void stopChildrenAndBroker() throws Exception {
    for (Process p : CHILDREN) {
      p.destroyForcibly();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"exact", "lookahead", "stateful"})
  void aJobKilledMidStreamAndRestoredFromItsLatestCheckpointCommitsEveryOutputOnce(String mode)
      throws Exception {
    Crash crash = crashAndRestart(mode, "restore", true);
    OutputLedger.Comparison c = crash.ledger.compareWith(reference(mode), 1e-5f);
    System.out.printf(
        "process crash, --restore latest, %s: %d output records, %d duplicates, %d missing,"
            + " %d extra, %d differing; killed after %d committed outputs; recovery (restart to"
            + " first new output) %d ms%n",
        mode,
        crash.ledger.records(),
        c.duplicates(),
        c.missing(),
        c.extra(),
        c.differing(),
        crash.outputsAtKill,
        crash.recovery.toMillis());
    assertThat(crash.restartLog).contains("restoring from the newest complete checkpoint");
    assertThat(c.same()).as(c.toString()).isTrue();
    assertThat(crash.deadLetters).as("dead letters of the restored run").isEmpty();
  }

  /**
   * Without {@code --restore}, the new job has no state and reads on from the consumer group's
   * committed offsets. Nothing may come out twice or differ from the failure-free run; a sequence
   * that was mid-way at the crash may lack outputs, but only visibly: its later steps are {@code
   * state_lost} dead letters.
   *
   * <p>Needs the operator's {@code state_lost} dead letters (issue 16, another part): before they
   * are merged, steps of sequences whose start the new job never saw are not reported as such. The
   * end record of such a sequence is not compared (what it says is that part's decision).
   */
  @Test
  void aJobRestartedWithoutStateResumesFromCommittedOffsetsWithoutDuplicatesOrSilentLoss()
      throws Exception {
    String mode = "lookahead";
    Crash crash = crashAndRestart(mode, "committed", false);
    OutputLedger reference = reference(mode);
    OutputLedger.Comparison c = crash.ledger.compareWith(reference, 1e-5f);
    System.out.printf(
        "process crash, restart from committed offsets, %s: %s; %d dead letters; killed after %d"
            + " committed outputs%n",
        mode, c, crash.deadLetters.size(), crash.outputsAtKill);
    assertThat(crash.restartLog).contains("input from committed offsets");
    assertThat(crash.ledger.duplicates()).as(c.toString()).isZero();
    Set<String> stateLost = new HashSet<>();
    for (ConsumerRecord<String, String> r : crash.deadLetters) {
      JsonNode n = JSON.readTree(r.value());
      assertThat(n.get("reason").asText()).as(r.value()).isEqualTo("state_lost");
      stateLost.add(n.get("seq").asText());
    }
    for (String seq : sequences) {
      Map<Long, float[]> want = reference.rows(seq);
      Map<Long, float[]> got = crash.ledger.rows(seq);
      // Whatever came out is what the failure-free run computed: nothing guessed.
      for (Map.Entry<Long, float[]> g : got.entrySet()) {
        assertThat(want)
            .as("%s t=%d is a step of the input", seq, g.getKey())
            .containsKey(g.getKey());
        assertThat(g.getValue())
            .as("%s t=%d", seq, g.getKey())
            .containsExactly(want.get(g.getKey()), org.assertj.core.data.Offset.offset(1e-5f));
      }
      boolean complete =
          got.size() == want.size()
              && crash.ledger.end(seq) != null
              && crash.ledger.end(seq).equals(reference.end(seq));
      assertThat(complete || stateLost.contains(seq))
          .as("%s: every output, or its lost state reported as state_lost", seq)
          .isTrue();
    }
  }

  // ------------------------------------------------------------------ the runs

  /** A faulted run's result. */
  private record Crash(
      OutputLedger ledger,
      List<ConsumerRecord<String, String>> deadLetters,
      long outputsAtKill,
      Duration recovery,
      String restartLog) {}

  /**
   * Starts the job as a child JVM, produces the input paced once its first checkpoint completed,
   * kills the JVM (SIGKILL) once a random share of the outputs is committed, starts it again (with
   * {@code --restore latest} when {@code restore}) and waits until every sequence has ended.
   */
  private static Crash crashAndRestart(String mode, String name, boolean restore) throws Exception {
    String in = "crash-" + name + "-" + mode + "-in";
    String out = "crash-" + name + "-" + mode + "-out";
    String dlq = in + "-dead-letters";
    kafka.createTopics(2, in, out, dlq);
    Path checkpoints = kafka.scratchDirectory("crash-checkpoints-");
    Path logs = Files.createDirectories(Path.of("target", "fault-logs"));
    List<String> args =
        List.of(
            "--bootstrap-servers",
            kafka.bootstrapServers(),
            "--input-topic",
            in,
            "--output-topic",
            out,
            "--dead-letter-topic",
            dlq,
            "--model",
            MODEL,
            "--mode",
            mode,
            "--chunk",
            "8",
            "--lookahead",
            "8",
            "--checkpoint-dir",
            checkpoints.toUri().toString(),
            "--checkpoint-interval",
            "500ms",
            // longer than the restart, so no sequence ends by idle timeout while the job is down
            "--idle-timeout",
            "5m");
    Random rnd = new Random(SEED ^ name.hashCode() ^ mode.hashCode());
    long total = (long) SEQUENCES * STEPS;
    long killAfter = 1 + (long) (rnd.nextDouble() * 0.5 * total);
    Path firstLog = logs.resolve(name + "-" + mode + "-1.log");
    Process first = launch(args, firstLog);
    Thread producer = null;
    try (KafkaConsumer<String, String> follow = kafka.committedConsumer(out, WAIT)) {
      Progress seen = new Progress();
      awaitCheckpoint(checkpoints, first, firstLog);
      producer = produceInRounds(in);
      // Kill once enough outputs are committed, a random moment into a checkpoint interval.
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (seen.stepOutputs < killAfter) {
        seen.poll(follow);
        requireAlive(first, firstLog, deadline);
      }
      Thread.sleep(rnd.nextInt(400));
      first.destroyForcibly().waitFor();
      seen.drain(follow);
      long outputsAtKill = seen.records;
      assertThat(seen.ended)
          .as("the crash came mid-stream: some sequences had not ended")
          .hasSizeLessThan(SEQUENCES);

      List<String> again = new ArrayList<>(args);
      if (restore) {
        again.addAll(List.of("--restore", "latest"));
      }
      Path secondLog = logs.resolve(name + "-" + mode + "-2.log");
      long restarted = System.nanoTime();
      Process second = launch(again, secondLog);
      long firstNewOutput = -1;
      deadline = System.nanoTime() + WAIT.toNanos();
      // Without state, a sequence that was mid-way never ends: it is accounted for once its
      // steps come back as state_lost dead letters.
      Set<String> accounted = new HashSet<>();
      try (KafkaConsumer<String, String> lost = kafka.committedConsumer(dlq, WAIT)) {
        while (!accounted.containsAll(sequences)) {
          seen.poll(follow);
          for (ConsumerRecord<String, String> r : lost.poll(Duration.ofMillis(10))) {
            JsonNode n = JSON.readTree(r.value());
            if (n.path("reason").asText().equals("state_lost")) {
              accounted.add(n.get("seq").asText());
            }
          }
          accounted.addAll(seen.ended);
          if (firstNewOutput < 0 && seen.records > outputsAtKill) {
            firstNewOutput = System.nanoTime();
          }
          requireAlive(second, secondLog, deadline);
        }
      }
      producer.join();
      second.destroyForcibly().waitFor();
      return new Crash(
          OutputLedger.of(kafka.readCommitted(out, Duration.ofSeconds(30))),
          kafka.readCommitted(dlq, Duration.ofSeconds(10)),
          outputsAtKill,
          Duration.ofNanos(firstNewOutput < 0 ? 0 : firstNewOutput - restarted),
          Files.readString(secondLog, StandardCharsets.UTF_8));
    } finally {
      if (producer != null) {
        producer.interrupt();
      }
    }
  }

  /** The failure-free run of {@code mode}: the same job in this JVM, same options. */
  private static OutputLedger reference(String mode) throws Exception {
    OutputLedger cached = REFERENCES.get(mode);
    if (cached != null) {
      return cached;
    }
    JobOptions o = LocalRun.options(kafka, MODEL, "ref-" + mode + "-in", "ref-" + mode + "-out");
    o.mode = StreamConfig.Mode.named(mode);
    o.chunk = 8;
    o.lookahead = 8;
    o.idleTimeout = Duration.ofMinutes(5);
    kafka.createTopics(2, o.inputTopic, o.outputTopic, o.deadLetterTopic);
    List<Map.Entry<String, String>> all = new ArrayList<>();
    rounds.forEach(all::addAll);
    kafka.produce(o.inputTopic, all);
    JobClient job = LocalRun.start(List.of(o), "reference-" + mode);
    try {
      OutputLedger ledger =
          OutputLedger.of(LocalRun.awaitEnded(kafka, job, o.outputTopic, sequences, WAIT, n -> {}));
      assertThat(ledger.steps())
          .as(
              "reference outputs; dead letters: %s",
              kafka.readCommitted(o.deadLetterTopic, Duration.ofSeconds(5)).stream()
                  .limit(5)
                  .map(ConsumerRecord::value)
                  .toList())
          .isEqualTo((long) SEQUENCES * STEPS);
      REFERENCES.put(mode, ledger);
      return ledger;
    } finally {
      LocalRun.cancel(job);
    }
  }

  /** Produces the input a round at a time, ~50 ms apart, in a thread of its own. */
  private static Thread produceInRounds(String topic) {
    Thread t =
        new Thread(
            () -> {
              try (KafkaProducer<String, String> p = kafka.producer()) {
                for (List<Map.Entry<String, String>> round : rounds) {
                  EmbeddedKafka.send(p, topic, round);
                  Thread.sleep(50);
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              } catch (RuntimeException e) {
                producerFailure = e; // the input is incomplete: the test fails with this
              }
            },
            "fault-producer");
    t.start();
    return t;
  }

  /** Runs {@code BiStreamJobMain} in a new JVM on this test's class path, output to {@code log}. */
  private static Process launch(List<String> args, Path log) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(
        List.of(
            "-Xmx768m",
            "--add-modules",
            "jdk.incubator.vector",
            "-Dlog4j2.statusLoggerLevel=OFF",
            "-cp",
            System.getProperty("java.class.path"),
            "io.bistream.job.BiStreamJobMain"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(log.toFile());
    pb.environment().put("OMP_NUM_THREADS", "1");
    Process p = pb.start();
    synchronized (CHILDREN) {
      CHILDREN.add(p);
    }
    return p;
  }

  /** Waits until a complete checkpoint (a {@code _metadata} file) exists under {@code dir}. */
  private static void awaitCheckpoint(Path dir, Process job, Path log) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (true) {
      try (Stream<Path> files = Files.walk(dir)) {
        if (files.anyMatch(f -> f.getFileName().toString().equals("_metadata"))) {
          return;
        }
      }
      requireAlive(job, log, deadline);
      Thread.sleep(100);
    }
  }

  private static void requireAlive(Process job, Path log, long deadline) throws Exception {
    if (producerFailure != null) {
      throw new AssertionError("producing the input failed", producerFailure);
    }
    if (!job.isAlive() || System.nanoTime() > deadline) {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      throw new AssertionError(
          (job.isAlive() ? "timed out; " : "the job process exited with " + job.exitValue() + "; ")
              + "last lines of "
              + log
              + ":\n"
              + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size())));
    }
  }

  /** What a read_committed consumer has seen of the output topic so far. */
  private static final class Progress {
    long records;
    long stepOutputs;
    final Set<String> ended = new HashSet<>();

    void poll(KafkaConsumer<String, String> c) throws Exception {
      for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
        records++;
        JsonNode n = JSON.readTree(r.value());
        if (n.path("end").asBoolean(false)) {
          ended.add(n.get("seq").asText());
        } else {
          stepOutputs++;
        }
      }
    }

    /** Reads everything committed up to now (the last stable offsets). */
    void drain(KafkaConsumer<String, String> c) throws Exception {
      Map<TopicPartition, Long> end = c.endOffsets(c.assignment());
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (end.entrySet().stream().anyMatch(e -> c.position(e.getKey()) < e.getValue())
          && System.nanoTime() < deadline) {
        poll(c);
      }
    }
  }
}
