package io.bistream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.model.Model;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.JobOptions;
import io.bistream.job.ModelCache;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code demo}: the main job on the embedded default. Starts a real in-JVM Kafka broker and a local
 * Flink MiniCluster, streams many interleaved generated sequences through the bundled BiLSTM in all
 * four modes at once (one pipeline per mode), then prints throughput, latency percentiles per mode
 * beside each mode's ideal wait, the deviation of lookahead/stateful/context from exact, and
 * accounts for every step; writes a report.
 *
 * <p>The stream starts only once a warm-up sequence has passed every pipeline end to end (its
 * outputs committed and read back), so the latencies are those of a running job and not of its
 * start-up, which the report breaks down instead.
 */
@Command(name = "demo", description = "Embedded Kafka + local Flink + bundled model, all modes.")
final class DemoCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> MODES = StreamConfig.Mode.userNames();
  // A sequence id no demo sequence ("demo-000", ...) can have.
  private static final String WARM_UP = "warm-up";
  private static final Duration WAIT = Duration.ofSeconds(90);

  @Option(names = "--sequences", defaultValue = "120", description = "interleaved sequences")
  int sequences;

  @Option(names = "--min-steps", defaultValue = "40", description = "shortest sequence")
  int minSteps;

  @Option(names = "--max-steps", defaultValue = "160", description = "longest sequence")
  int maxSteps;

  @Option(
      names = "--chunk",
      defaultValue = "16",
      description = "C for lookahead, stateful, context")
  int chunk;

  @Option(names = "--lookahead", defaultValue = "16", description = "R for lookahead and context")
  int lookahead;

  @Option(names = "--left-context", defaultValue = "16", description = "L for context")
  int leftContext;

  @Option(
      names = "--produce-seconds",
      defaultValue = "20",
      description = "spread the stream over this many seconds")
  int produceSeconds;

  @Option(names = "--report", defaultValue = "bistream-demo-report.md", description = "report")
  Path report;

  @Override
  public Integer call() throws Exception {
    long t0 = System.currentTimeMillis();
    Startup startup = new Startup(t0);
    System.out.println("starting an embedded Kafka broker (KRaft) and a local Flink cluster ...");
    // The broker starts on a thread of its own while this one loads and warms the model.
    CompletableFuture<EmbeddedKafka> broker = CompletableFuture.supplyAsync(EmbeddedKafka::start);
    Path model;
    Map<String, float[]> inputs;
    int width;
    try {
      model = extractBundledModel();
      Model loaded = ModelCache.get(model.toString());
      width = inputWidth(loaded);
      inputs = generate(width);
      warmEngines(loaded, inputs, width);
      startup.mark("model loaded, engines warmed (beside the broker's start)");
    } catch (Exception e) {
      broker.thenAccept(DemoCommand::closeQuietly);
      throw e;
    }
    try (EmbeddedKafka kafka = awaitBroker(broker)) {
      startup.mark("broker started");
      List<JobOptions> pipelines = pipelines(kafka, model);
      List<String> topics = new ArrayList<>(List.of("demo-in"));
      for (JobOptions o : pipelines) {
        topics.add(o.outputTopic);
        topics.add(o.deadLetterTopic);
      }
      kafka.createTopics(4, topics.toArray(String[]::new));
      startup.mark("topics created");
      List<String> outTopics = MODES.stream().map(m -> "demo-out-" + m).toList();
      // Kafka creates its consumer-offsets topic at the first offset commit: done here, beside the
      // cluster's start, rather than by the sources' first commits (at a checkpoint during the
      // stream), which fail and retry while the broker creates it.
      CompletableFuture<Void> coordinator =
          CompletableFuture.runAsync(() -> commitAnOffset(kafka.bootstrapServers()));
      long submitted = System.currentTimeMillis();
      JobClient job = LocalRun.start(pipelines, "bistream-demo");
      startup.mark("Flink cluster started, job submitted");
      Map<String, long[]> sentAt;
      Map<String, List<OutputFollower.Seen>> out = new LinkedHashMap<>();
      try (OutputFollower follower = new OutputFollower(kafka.bootstrapServers(), outTopics)) {
        // The warm-up sequence passes through every pipeline before the stream starts, so the
        // stream's latencies are the running job's, not its start-up's. Sent while the job's
        // tasks deploy (the pipelines read their input from its start).
        sendWarmUp(kafka, inputs.values().iterator().next(), width);
        awaitWarmUp(job, follower, outTopics, startup);
        coordinator.get();
        System.out.printf(
            Locale.ROOT,
            "start-up: %s%nthe first output was visible %.1f s after the job's submission;"
                + " the stream starts now%n",
            startup,
            (startup.last() - submitted) / 1e3);
        sentAt = produce(kafka, inputs, width);
        Progress progress =
            new Progress(
                "sequences ended (" + MODES.size() + " modes)",
                (long) MODES.size() * inputs.size());
        Map<String, Set<String>> awaited = new LinkedHashMap<>();
        outTopics.forEach(t -> awaited.put(t, inputs.keySet()));
        try {
          follower.awaitEnded(awaited, job, WAIT, progress::update);
        } finally {
          progress.finish();
        }
        for (String mode : MODES) {
          out.put(mode, follower.records("demo-out-" + mode));
        }
      } finally {
        LocalRun.cancel(job);
      }
      double seconds = (System.currentTimeMillis() - t0) / 1e3;
      Map<String, Map<String, Long>> deadLetters = new LinkedHashMap<>();
      for (String mode : MODES) {
        deadLetters.put(mode, deadLettersByReason(kafka, "demo-dead-letters-" + mode));
      }
      long checkpointMs = pipelines.get(0).checkpointInterval.toMillis();
      writeSummary(inputs, width, sentAt, out, startup, checkpointMs, seconds);
      return checkEveryStep(inputs, width, out, deadLetters) ? 0 : 1;
    }
  }

  /** One pipeline per mode, all reading the demo's input topic. */
  private List<JobOptions> pipelines(EmbeddedKafka kafka, Path model) throws IOException {
    List<JobOptions> pipelines = new ArrayList<>();
    for (String mode : MODES) {
      JobOptions o = LocalRun.options(kafka, model.toString(), "demo-in", "demo-out-" + mode);
      o.mode = StreamConfig.Mode.named(mode);
      o.chunk = chunk;
      o.lookahead = lookahead;
      o.leftContext = o.mode == StreamConfig.Mode.CONTEXT ? leftContext : 0;
      o.deadLetterTopic = "demo-dead-letters-" + mode;
      // Every demo sequence ends with an end marker; the idle timeout is only the safety net.
      // It counts in record time, so a job behind its input does not trigger it, but the
      // producer itself may pause on a busy machine: leave it ample room.
      o.idleTimeout = Duration.ofSeconds(10);
      pipelines.add(o);
    }
    return pipelines;
  }

  /**
   * Runs every pipeline's engine in this JVM (the MiniCluster's) on a few demo sequences before the
   * job starts: its first calls load classes and run interpreted, which would otherwise happen
   * inside the job, on the first records.
   */
  private void warmEngines(Model loaded, Map<String, float[]> inputs, int width) {
    List<float[]> some = inputs.values().stream().limit(8).toList();
    int steps = some.stream().mapToInt(x -> x.length / width).min().orElse(0);
    for (String mode : MODES) {
      StreamConfig.Mode m = StreamConfig.Mode.named(mode);
      StreamingEngine engine =
          new StreamingEngine(
              loaded,
              new StreamConfig(
                  m,
                  chunk,
                  lookahead,
                  steps,
                  StreamConfig.Overflow.REJECT,
                  m == StreamConfig.Mode.CONTEXT ? leftContext : 0));
      List<SequenceState> states = some.stream().map(x -> engine.newSequence()).toList();
      for (int at = 0; at < steps; at += 2) {
        List<StreamingEngine.Feed> feeds = new ArrayList<>();
        int k = Math.min(2, steps - at);
        for (int i = 0; i < some.size(); i++) {
          feeds.add(
              new StreamingEngine.Feed(states.get(i), some.get(i), at * width, k, at + k == steps));
        }
        engine.advanceAll(feeds);
      }
    }
  }

  /** The started broker, or the reason it could not start. */
  private static EmbeddedKafka awaitBroker(CompletableFuture<EmbeddedKafka> broker)
      throws Exception {
    try {
      return broker.get();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception c ? c : e;
    }
  }

  private static void closeQuietly(EmbeddedKafka kafka) {
    try {
      kafka.close();
    } catch (Exception e) {
      // best effort: the command is failing for another reason
    }
  }

  /**
   * Produces the warm-up sequence ({@value #WARM_UP}, C + R steps of {@code x} in two records, the
   * second with the end marker): every mode releases all its outputs at its end.
   */
  private void sendWarmUp(EmbeddedKafka kafka, float[] x, int width) throws Exception {
    int steps = Math.min(x.length / width, chunk + lookahead);
    int half = steps / 2;
    kafka.produce(
        "demo-in",
        List.of(
            Map.entry(WARM_UP, InputEvent.json(WARM_UP, 0, x, 0, half, width, false)),
            Map.entry(
                WARM_UP, InputEvent.json(WARM_UP, half, x, half, steps - half, width, true))));
  }

  /**
   * Waits until the job runs and every pipeline's output shows the warm-up's end record (read
   * committed), marking when the job ran, when the last pipeline wrote it and when it was visible.
   */
  private static void awaitWarmUp(
      JobClient job, OutputFollower follower, List<String> topics, Startup startup)
      throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (job.getJobStatus().get() != JobStatus.RUNNING
        && !job.getJobExecutionResult().isDone()
        && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    startup.mark("job RUNNING");
    Map<String, Set<String>> warmUp = new LinkedHashMap<>();
    topics.forEach(t -> warmUp.put(t, Set.of(WARM_UP)));
    follower.awaitEnded(warmUp, job, WAIT, n -> {});
    long written = 0;
    long visible = 0;
    for (String topic : topics) {
      OutputFollower.Seen end = follower.end(topic, WARM_UP);
      written = Math.max(written, end.record().timestamp());
      visible = Math.max(visible, end.seenAt());
    }
    startup.mark("warm-up output written by every pipeline", written);
    startup.mark("committed and visible", visible);
  }

  /** Commits an offset for a group of its own, which makes Kafka create its offsets topic. */
  private static void commitAnOffset(String bootstrapServers) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrapServers))) {
      admin
          .alterConsumerGroupOffsets(
              "bistream-demo-start",
              Map.of(new TopicPartition("demo-in", 0), new OffsetAndMetadata(0)))
          .all()
          .get();
    } catch (Exception e) {
      // The sources' own commits create the topic then, retrying; their outputs do not wait.
    }
  }

  /** Named points in time since the command started, in the order they were reached. */
  static final class Startup {
    private final long t0;
    private final Map<String, Long> marks = new LinkedHashMap<>();

    Startup(long t0) {
      this.t0 = t0;
    }

    void mark(String what) {
      mark(what, System.currentTimeMillis());
    }

    void mark(String what, long at) {
      marks.put(what, at);
    }

    long last() {
      return marks.values().stream().mapToLong(Long::longValue).max().orElse(t0);
    }

    /** Each step's duration and, in brackets, the time since the start. */
    @Override
    public String toString() {
      StringBuilder s = new StringBuilder();
      long previous = t0;
      List<Map.Entry<String, Long>> inOrder = new ArrayList<>(marks.entrySet());
      inOrder.sort(Map.Entry.comparingByValue());
      for (Map.Entry<String, Long> e : inOrder) {
        s.append(s.length() == 0 ? "" : ", ")
            .append(e.getKey())
            .append(
                String.format(
                    Locale.ROOT,
                    " +%.1f s (%.1f s)",
                    (e.getValue() - previous) / 1e3,
                    (e.getValue() - t0) / 1e3));
        previous = e.getValue();
      }
      return s.toString();
    }
  }

  /** Dead letters of one pipeline, counted by reason (committed ones only). */
  private static Map<String, Long> deadLettersByReason(EmbeddedKafka kafka, String topic)
      throws Exception {
    Map<String, Long> byReason = new TreeMap<>();
    for (ConsumerRecord<String, String> r : kafka.readCommitted(topic, Duration.ofSeconds(5))) {
      byReason.merge(JSON.readTree(r.value()).path("reason").asText("?"), 1L, Long::sum);
    }
    return byReason;
  }

  /**
   * Prints, and appends to the report, per mode: produced steps vs distinct output steps and dead
   * letters by reason; false when any valid step has no output or two, or an end record counts
   * wrong.
   */
  private boolean checkEveryStep(
      Map<String, float[]> inputs,
      int width,
      Map<String, List<OutputFollower.Seen>> out,
      Map<String, Map<String, Long>> deadLetters)
      throws IOException {
    long produced = inputs.values().stream().mapToLong(v -> v.length / width).sum();
    boolean complete = true;
    StringBuilder s =
        new StringBuilder(
            "\nEvery step accounted for (the stream's; the warm-up sequence is left out):\n\n");
    s.append("| mode | steps produced | output steps | missing | duplicated | wrong end records |");
    s.append(" dead letters by reason |\n|---|---|---|---|---|---|---|\n");
    for (String mode : MODES) {
      Set<String> seen = new HashSet<>();
      long duplicated = 0;
      long wrongEnds = 0;
      for (OutputFollower.Seen r : out.get(mode)) {
        JsonNode n = JSON.readTree(r.record().value());
        String seq = n.path("seq").asText();
        if (seq.equals(WARM_UP)) {
          continue; // not part of the stream: it ran before
        } else if (n.has("y")) {
          duplicated += seen.add(seq + "/" + n.get("t").asLong()) ? 0 : 1;
        } else if (n.path("end").asBoolean(false)) {
          float[] x = inputs.get(seq);
          wrongEnds += x != null && n.path("steps").asLong() == x.length / width ? 0 : 1;
        }
      }
      long missing = produced - seen.size();
      Map<String, Long> dl = deadLetters.get(mode);
      s.append(
          String.format(
              Locale.ROOT,
              "| %s | %,d | %,d | %,d | %,d | %d | %s |%n",
              mode,
              produced,
              seen.size(),
              missing,
              duplicated,
              wrongEnds,
              dl.isEmpty() ? "none" : dl.toString()));
      complete &= missing == 0 && duplicated == 0 && wrongEnds == 0 && dl.isEmpty();
    }
    if (!complete) {
      s.append(
          "\nERROR: not every produced step has exactly one output in every mode (the demo's"
              + " input is all valid); see the dead letters above.\n");
    }
    System.out.print(s);
    Files.writeString(report, s.toString(), StandardOpenOption.APPEND);
    return complete;
  }

  /** Sequences like the demo model's training data (tools/demo-model/README.md). */
  private Map<String, float[]> generate(int width) {
    Random rnd = new Random(2026);
    Map<String, float[]> inputs = new LinkedHashMap<>();
    for (int s = 0; s < sequences; s++) {
      int t = minSteps + rnd.nextInt(Math.max(1, maxSteps - minSteps + 1));
      double f1 = 0.05 + 0.25 * rnd.nextDouble();
      double f2 = 0.05 + 0.25 * rnd.nextDouble();
      double p1 = 2 * Math.PI * rnd.nextDouble();
      double p2 = 2 * Math.PI * rnd.nextDouble();
      float[] x = new float[t * width];
      double previous = 0;
      for (int i = 0; i < t; i++) {
        double x0 = Math.sin(f1 * i + p1) + Math.sin(f2 * i + p2) + 0.1 * rnd.nextGaussian();
        x[i * width] = (float) x0;
        if (width > 1) {
          x[i * width + 1] = (float) (i == 0 ? 0 : x0 - previous);
        }
        for (int j = 2; j < width; j++) {
          x[i * width + j] = (float) rnd.nextGaussian();
        }
        previous = x0;
      }
      inputs.put(String.format(Locale.ROOT, "demo-%03d", s), x);
    }
    return inputs;
  }

  /**
   * Produces all sequences interleaved, a few steps per record, paced over the demo time.
   *
   * @return per sequence, when each of its steps was sent (ms)
   */
  private Map<String, long[]> produce(EmbeddedKafka kafka, Map<String, float[]> inputs, int width)
      throws Exception {
    Random rnd = new Random(7);
    Map<String, Integer> next = new LinkedHashMap<>();
    Map<String, long[]> sentAt = new HashMap<>();
    inputs.forEach(
        (k, x) -> {
          next.put(k, 0);
          sentAt.put(k, new long[x.length / width]);
        });
    long total = inputs.values().stream().mapToLong(v -> v.length / width).sum();
    int rounds = (maxSteps + 1) / 2;
    Progress progress = new Progress("steps produced", total);
    long produced = 0;
    long start = System.nanoTime();
    try (KafkaProducer<String, String> producer = kafka.producer()) {
      for (int round = 0; !next.isEmpty(); round++) {
        List<Map.Entry<String, String>> batch = new ArrayList<>();
        long now = System.currentTimeMillis();
        for (var it = next.entrySet().iterator(); it.hasNext(); ) {
          var e = it.next();
          float[] x = inputs.get(e.getKey());
          int t = x.length / width;
          int at = e.getValue();
          int k = Math.min(1 + rnd.nextInt(3), t - at);
          Arrays.fill(sentAt.get(e.getKey()), at, at + k, now);
          String record = InputEvent.json(e.getKey(), at, x, at, k, width, at + k == t);
          batch.add(new AbstractMap.SimpleEntry<>(e.getKey(), record));
          produced += k;
          if (at + k == t) {
            it.remove();
          } else {
            e.setValue(at + k);
          }
        }
        EmbeddedKafka.send(producer, "demo-in", batch);
        progress.update(produced);
        long due = start + (long) ((round + 1) * produceSeconds * 1e9 / rounds);
        long sleep = (due - System.nanoTime()) / 1_000_000;
        if (sleep > 0) {
          Thread.sleep(sleep);
        }
      }
    }
    progress.finish();
    return sentAt;
  }

  /** One mode's latencies over every output step of the stream, in ms. */
  private record ModeLatency(double[] ideal, double[] written, double[] visible) {
    double check(long checkpointMs) {
      return DemoLatency.percentile(ideal, 50) + checkpointMs + 500;
    }
  }

  private void writeSummary(
      Map<String, float[]> inputs,
      int width,
      Map<String, long[]> sentAt,
      Map<String, List<OutputFollower.Seen>> out,
      Startup startup,
      long checkpointMs,
      double seconds)
      throws Exception {
    long steps = 0;
    Map<String, Map<String, float[]>> ys = new HashMap<>();
    Map<String, ModeLatency> latency = new LinkedHashMap<>();
    for (String mode : MODES) {
      StreamConfig.Mode m = StreamConfig.Mode.named(mode);
      Map<String, long[]> ideal = new HashMap<>();
      sentAt.forEach(
          (seq, sent) -> ideal.put(seq, DemoLatency.idealWaits(m, chunk, lookahead, sent)));
      Map<String, float[]> y = new HashMap<>();
      List<double[]> lat = new ArrayList<>();
      for (OutputFollower.Seen seen : out.get(mode)) {
        JsonNode n = JSON.readTree(seen.record().value());
        if (n.has("y")) {
          String seq = n.get("seq").asText();
          int t = n.get("t").asInt();
          float[] v = new float[n.get("y").size()];
          for (int j = 0; j < v.length; j++) {
            v[j] = n.get("y").get(j).floatValue();
          }
          y.put(seq + "/" + t, v);
          long[] sent = sentAt.get(seq);
          if (sent != null && t >= 0 && t < sent.length) {
            lat.add(
                new double[] {
                  ideal.get(seq)[t], seen.record().timestamp() - sent[t], seen.seenAt() - sent[t]
                });
          }
        }
      }
      ys.put(mode, y);
      latency.put(
          mode,
          new ModeLatency(
              lat.stream().mapToDouble(l -> l[0]).toArray(),
              lat.stream().mapToDouble(l -> l[1]).toArray(),
              lat.stream().mapToDouble(l -> l[2]).toArray()));
      steps += y.keySet().stream().filter(k -> !k.startsWith(WARM_UP + "/")).count();
    }
    StringBuilder s = new StringBuilder();
    s.append("# BiStream demo report\n\n");
    s.append(
        String.format(
            Locale.ROOT,
            "%d sequences (%,d steps produced over %d s, a step every %.0f ms per sequence on"
                + " average), %d modes in one Flink job, embedded Kafka, exactly-once sink"
                + " (checkpoint every %d ms).%n%n",
            inputs.size(),
            inputs.values().stream().mapToLong(v -> v.length / width).sum(),
            produceSeconds,
            DemoLatency.meanStepInterval(sentAt.values()),
            MODES.size(),
            checkpointMs));
    s.append(
        String.format(
            Locale.ROOT,
            "Start-up, each step's time and (since the command started): %s. The stream started"
                + " only then: a warm-up sequence had passed every pipeline end to end.%n%n",
            startup));
    s.append(
        String.format(
            Locale.ROOT,
            "Throughput: %,d output steps committed in %.1f s wall time (%,.0f steps/s, incl."
                + " broker/cluster start and the %d s paced stream).%n%n",
            steps,
            seconds,
            steps / seconds,
            produceSeconds));
    s.append("Latency per step, ms from producing the step:\n\n");
    s.append("| mode | ideal p50 | ideal p99 | written p50 | visible p50 | visible p95 |");
    s.append(" visible p99 | visible p50 <= ideal p50 + ").append(checkpointMs + 500);
    s.append(" ms |\n|---|---|---|---|---|---|---|---|\n");
    for (String mode : MODES) {
      ModeLatency l = latency.get(mode);
      double p50 = DemoLatency.percentile(l.visible(), 50);
      s.append(
          String.format(
              Locale.ROOT,
              "| %s%s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |%n",
              mode,
              settingsOf(mode),
              DemoLatency.percentile(l.ideal(), 50),
              DemoLatency.percentile(l.ideal(), 99),
              DemoLatency.percentile(l.written(), 50),
              p50,
              DemoLatency.percentile(l.visible(), 95),
              DemoLatency.percentile(l.visible(), 99),
              p50 <= l.check(checkpointMs)
                  ? "yes"
                  : String.format(Locale.ROOT, "NO (by %.0f ms)", p50 - l.check(checkpointMs))));
    }
    double stateful = DemoLatency.percentile(latency.get("stateful").visible(), 50);
    double look = DemoLatency.percentile(latency.get("lookahead").visible(), 50);
    double exactP50 = DemoLatency.percentile(latency.get("exact").visible(), 50);
    boolean ordered = stateful < look && look < exactP50;
    boolean within =
        latency.values().stream()
            .allMatch(l -> DemoLatency.percentile(l.visible(), 50) <= l.check(checkpointMs));
    s.append(
        String.format(
            Locale.ROOT,
            "%nIdeal: until the step that releases the output was produced: for exact the"
                + " sequence's last step, for stateful the last of its chunk of C, for lookahead and"
                + " context R steps past its chunk. Written: until the sink wrote the output (its"
                + " Kafka timestamp). Visible: until a read_committed consumer saw it, after the"
                + " next checkpoint committed it.%n%n"
                + "Visible p50 stateful < lookahead < exact: %s (%.0f < %.0f < %.0f ms). Every"
                + " mode's visible p50 within its ideal p50 + one checkpoint interval + 500 ms:"
                + " %s.%s%n",
            ordered ? "yes" : "NO",
            stateful,
            look,
            exactP50,
            within ? "yes" : "NO",
            ordered && within
                ? ""
                : " A job sharing its cores with other busy processes falls behind its input;"
                    + " run the demo again on an idle machine."));
    s.append("\nOutputs beside exact's (the same sequences and steps):\n\n");
    s.append("| mode | max |dev| vs exact | mean |dev| | argmax = exact |\n|---|---|---|---|\n");
    Map<String, float[]> exact = ys.get(StreamConfig.Mode.EXACT.userName());
    for (String mode : MODES) {
      double max = 0;
      double sum = 0;
      long n = 0;
      long agree = 0;
      long rows = 0;
      for (Map.Entry<String, float[]> e : ys.get(mode).entrySet()) {
        float[] ref = exact.get(e.getKey());
        if (ref == null) {
          continue;
        }
        for (int j = 0; j < ref.length; j++) {
          double d = Math.abs(e.getValue()[j] - ref[j]);
          max = Math.max(max, d);
          sum += d;
          n++;
        }
        agree += argmax(e.getValue()) == argmax(ref) ? 1 : 0;
        rows++;
      }
      s.append(
          String.format(
              Locale.ROOT,
              "| %s%s | %.2e | %.2e | %.1f%% |%n",
              mode,
              settingsOf(mode),
              max,
              n == 0 ? 0 : sum / n,
              rows == 0 ? 0 : 100.0 * agree / rows));
    }
    System.out.print(s);
    Path plot = report.resolveSibling(stem(report) + "-latency.png");
    CategoryChart chart =
        new CategoryChartBuilder()
            .width(640)
            .height(380)
            .title("Step-to-output latency per mode")
            .xAxisTitle("mode")
            .yAxisTitle("ms")
            .build();
    Map<String, java.util.function.Function<ModeLatency, Double>> series = new LinkedHashMap<>();
    series.put("ideal p50", l -> DemoLatency.percentile(l.ideal(), 50));
    series.put("visible p50", l -> DemoLatency.percentile(l.visible(), 50));
    series.put("visible p99", l -> DemoLatency.percentile(l.visible(), 99));
    series.forEach(
        (name, f) ->
            chart.addSeries(
                name, MODES, MODES.stream().map(m -> f.apply(latency.get(m))).toList()));
    BitmapEncoder.saveBitmap(chart, plot.toString(), BitmapEncoder.BitmapFormat.PNG);
    s.append("\n![latency](").append(plot.getFileName()).append(")\n");
    Files.writeString(report, s.toString());
    System.out.println("report: " + report.toAbsolutePath() + " (plot " + plot.getFileName() + ")");
  }

  /** The streaming settings a mode runs with, for the report's tables. */
  private String settingsOf(String mode) {
    return switch (StreamConfig.Mode.named(mode)) {
      case EXACT -> "";
      case LOOKAHEAD -> " (C=" + chunk + ", R=" + lookahead + ")";
      case CONTEXT -> " (L=" + leftContext + ", C=" + chunk + ", R=" + lookahead + ")";
      case STATEFUL -> " (C=" + chunk + ")";
    };
  }

  private static String stem(Path p) {
    String n = p.getFileName().toString();
    return n.contains(".") ? n.substring(0, n.lastIndexOf('.')) : n;
  }

  static double pct(double[] sorted, int p) {
    return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, sorted.length * p / 100)];
  }

  private static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      if (v[i] > v[best]) {
        best = i;
      }
    }
    return best;
  }

  /** Values per step of {@code model}'s (first) input. */
  static int inputWidth(Model model) {
    return model.inputs().get(0).shape()[1];
  }

  /** Values per step of the model in {@code file}. */
  static int inputWidth(Path file) throws IOException {
    return inputWidth(ModelCache.get(file.toString()));
  }

  /** Copies the bundled model (tools/demo-model/train.py wrote it) to a temporary directory. */
  static Path extractBundledModel() throws IOException {
    return BundledFiles.unpack("/demo", List.of("model.json", "weights.bin")).resolve("model.json");
  }

  /** A one-line text progress bar on stderr. */
  static final class Progress {
    private final String what;
    private final long total;

    Progress(String what, long total) {
      this.what = what;
      this.total = Math.max(1, total);
    }

    void update(long done) {
      int width = 30;
      int filled = (int) Math.min(width, width * done / total);
      System.err.printf(
          "\r[%s%s] %d/%d %s", "#".repeat(filled), " ".repeat(width - filled), done, total, what);
    }

    void finish() {
      System.err.println();
    }
  }
}
