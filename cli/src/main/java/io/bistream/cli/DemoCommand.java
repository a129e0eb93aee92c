package io.bistream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
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
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code demo}: the main job on the embedded default. Starts a real in-JVM Kafka broker and a local
 * Flink MiniCluster, streams many interleaved generated sequences through the bundled BiLSTM in all
 * four modes at once (one pipeline per mode), then prints throughput, latency percentiles per mode
 * and the deviation of lookahead/stateful/context from exact, and writes a report.
 */
@Command(name = "demo", description = "Embedded Kafka + local Flink + bundled model, all modes.")
final class DemoCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> MODES = StreamConfig.Mode.userNames();

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
      defaultValue = "8",
      description = "spread the stream over this many seconds")
  int produceSeconds;

  @Option(names = "--report", defaultValue = "bistream-demo-report.md", description = "report")
  Path report;

  @Override
  public Integer call() throws Exception {
    long t0 = System.nanoTime();
    Path model = extractBundledModel();
    System.out.println("starting an embedded Kafka broker (KRaft) and a local Flink cluster ...");
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
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
      kafka.createTopics(4, "demo-in");
      for (String mode : MODES) {
        kafka.createTopics(4, "demo-out-" + mode, "demo-dead-letters-" + mode);
      }
      JobClient job = LocalRun.start(pipelines, "bistream-demo");
      int width = io.bistream.job.ModelCache.get(model.toString()).inputs().get(0).shape()[1];
      Map<String, float[]> inputs = generate(width);
      Map<String, Long> sentAt = produce(kafka, inputs, width);
      Map<String, List<ConsumerRecord<String, String>>> out = new LinkedHashMap<>();
      Progress progress =
          new Progress(
              "sequences ended (" + MODES.size() + " modes)", (long) MODES.size() * inputs.size());
      long[] ended = new long[MODES.size()];
      try {
        for (int m = 0; m < MODES.size(); m++) {
          int mi = m;
          out.put(
              MODES.get(m),
              LocalRun.awaitEnded(
                  kafka,
                  job,
                  "demo-out-" + MODES.get(m),
                  inputs.keySet(),
                  Duration.ofSeconds(90),
                  n -> {
                    ended[mi] = n;
                    progress.update(Arrays.stream(ended).sum());
                  }));
        }
      } finally {
        progress.finish();
        LocalRun.cancel(job);
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      Map<String, Map<String, Long>> deadLetters = new LinkedHashMap<>();
      for (String mode : MODES) {
        deadLetters.put(mode, deadLettersByReason(kafka, "demo-dead-letters-" + mode));
      }
      writeSummary(inputs, width, sentAt, out, seconds);
      return checkEveryStep(inputs, width, out, deadLetters) ? 0 : 1;
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
      Map<String, List<ConsumerRecord<String, String>>> out,
      Map<String, Map<String, Long>> deadLetters)
      throws IOException {
    long produced = inputs.values().stream().mapToLong(v -> v.length / width).sum();
    boolean complete = true;
    StringBuilder s = new StringBuilder("\nEvery step accounted for:\n\n");
    s.append("| mode | steps produced | output steps | missing | duplicated | wrong end records |");
    s.append(" dead letters by reason |\n|---|---|---|---|---|---|---|\n");
    for (String mode : MODES) {
      Set<String> seen = new HashSet<>();
      long duplicated = 0;
      long wrongEnds = 0;
      for (ConsumerRecord<String, String> r : out.get(mode)) {
        JsonNode n = JSON.readTree(r.value());
        String seq = n.path("seq").asText();
        if (n.has("y")) {
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

  /** Produces all sequences interleaved, a few steps per record, paced over the demo time. */
  private Map<String, Long> produce(EmbeddedKafka kafka, Map<String, float[]> inputs, int width)
      throws Exception {
    Random rnd = new Random(7);
    Map<String, Integer> next = new HashMap<>();
    Map<String, Long> sentAt = new HashMap<>();
    inputs.keySet().forEach(k -> next.put(k, 0));
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
          for (int i = 0; i < k; i++) {
            sentAt.put(e.getKey() + "/" + (at + i), now);
          }
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

  private void writeSummary(
      Map<String, float[]> inputs,
      int width,
      Map<String, Long> sentAt,
      Map<String, List<ConsumerRecord<String, String>>> out,
      double seconds)
      throws Exception {
    long steps = 0;
    Map<String, Map<String, float[]>> ys = new HashMap<>();
    Map<String, double[]> latency = new LinkedHashMap<>();
    for (String mode : MODES) {
      Map<String, float[]> y = new HashMap<>();
      List<Double> lat = new ArrayList<>();
      for (ConsumerRecord<String, String> r : out.get(mode)) {
        JsonNode n = JSON.readTree(r.value());
        if (n.has("y")) {
          String key = n.get("seq").asText() + "/" + n.get("t").asLong();
          float[] v = new float[n.get("y").size()];
          for (int j = 0; j < v.length; j++) {
            v[j] = n.get("y").get(j).floatValue();
          }
          y.put(key, v);
          Long sent = sentAt.get(key);
          if (sent != null) {
            lat.add((double) (r.timestamp() - sent));
          }
        }
      }
      ys.put(mode, y);
      double[] sorted = lat.stream().mapToDouble(Double::doubleValue).sorted().toArray();
      latency.put(mode, new double[] {pct(sorted, 50), pct(sorted, 95), pct(sorted, 99)});
      steps += y.size();
    }
    StringBuilder s = new StringBuilder();
    s.append("# BiStream demo report\n\n");
    s.append(
        String.format(
            Locale.ROOT,
            "%d sequences (%,d steps produced), %d modes in one Flink job, embedded Kafka, "
                + "exactly-once sink (checkpoint every 500 ms).%n%n",
            inputs.size(),
            inputs.values().stream().mapToLong(v -> v.length / width).sum(),
            MODES.size()));
    s.append(
        String.format(
            Locale.ROOT,
            "Throughput: %,d output steps committed in %.1f s wall time (%,.0f steps/s, incl."
                + " broker/cluster start and the %d s paced stream).%n%n",
            steps,
            seconds,
            steps / seconds,
            produceSeconds));
    s.append(
        "| mode | p50 ms | p95 ms | p99 ms | max |dev| vs exact | mean |dev| | argmax = exact |\n");
    s.append("|---|---|---|---|---|---|---|\n");
    Map<String, float[]> exact = ys.get(StreamConfig.Mode.EXACT.userName());
    for (String mode : MODES) {
      double[] l = latency.get(mode);
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
              "| %s%s | %.0f | %.0f | %.0f | %.2e | %.2e | %.1f%% |%n",
              mode,
              switch (StreamConfig.Mode.named(mode)) {
                case EXACT -> "";
                case LOOKAHEAD -> " (C=" + chunk + ", R=" + lookahead + ")";
                case CONTEXT -> " (L=" + leftContext + ", C=" + chunk + ", R=" + lookahead + ")";
                case STATEFUL -> " (C=" + chunk + ")";
              },
              l[0],
              l[1],
              l[2],
              max,
              n == 0 ? 0 : sum / n,
              rows == 0 ? 0 : 100.0 * agree / rows));
    }
    s.append(
        "\nLatency: from producing a step to its output record being written by the sink"
            + " (outputs become visible to read_committed consumers at the next checkpoint)."
            + " Exact waits for the end of each sequence; lookahead and context for C+R steps.\n");
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
    List<String> pcts = List.of("p50", "p95", "p99");
    for (int p = 0; p < 3; p++) {
      List<Double> v = new ArrayList<>();
      for (String mode : MODES) {
        v.add(latency.get(mode)[p]);
      }
      chart.addSeries(pcts.get(p), MODES, v);
    }
    BitmapEncoder.saveBitmap(chart, plot.toString(), BitmapEncoder.BitmapFormat.PNG);
    s.append("\n![latency](").append(plot.getFileName()).append(")\n");
    Files.writeString(report, s.toString());
    System.out.println("report: " + report.toAbsolutePath() + " (plot " + plot.getFileName() + ")");
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
