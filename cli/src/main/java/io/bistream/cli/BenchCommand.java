package io.bistream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.management.OperatingSystemMXBean;
import io.bistream.cli.BenchEngines.Engine;
import io.bistream.cli.BenchEngines.Net;
import io.bistream.core.layers.Simd;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.JobOptions;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench}: BiStream against ONNX Runtime Java and DL4J on the same BiLSTM (D=64, H=128 per
 * direction, T=256, concat; weights from the committed fixture), then BiStream against ONNX Runtime
 * on a BiGRU of the same sizes, offline and lookahead (C=64, R=64), batches 1/32/256, 1 and 2
 * threads. Outputs are cross-checked before anything is timed; within a round the engines take
 * turns of 50 ms; the median of the rounds is reported next to the SGEMM roofline measured in the
 * same run, and the ratio to ONNX Runtime is the median of the rounds' own ratios.
 */
@Command(
    name = "bench",
    description =
        "BiStream vs ONNX Runtime (vs DL4J) on a BiLSTM and a BiGRU: sample-steps/s, GFLOP/s, %% of SGEMM,"
            + " ratio to ONNX Runtime. --pipeline runs the Flink job instead.")
final class BenchCommand implements Callable<Integer> {

  private static final int D = BenchEngines.D;
  private static final int H = BenchEngines.H;
  // One sample-step: 2 directions x 4 gates x H x (D + H) multiply-adds x 2 FLOPs.
  static final double FLOPS_PER_STEP = 2.0 * 4 * H * (D + H) * 2;
  // The same for the GRU's 3 gates (294,912 FLOPs; the products only, as for the LSTM).
  static final double GRU_FLOPS_PER_STEP = 2.0 * 3 * H * (D + H) * 2;
  private static final int CHUNK = 64;
  private static final int LOOKAHEAD = 64;
  // The shortest timed measurement: calls repeat until it is filled.
  private static final double MIN_TIMED_SECONDS = 0.25;
  // One engine's turn within a round.
  private static final double TURN_SECONDS = 0.05;
  // Between turns: the process counts as idle once it used at most a tenth of this window's CPU.
  private static final long QUIET_WINDOW_MS = 30;
  private static final long QUIET_AT_MOST_MS = 1000;

  @Option(names = "--quick", description = "T=128, batches 1 and 32, one timed round")
  boolean quick;

  @Option(names = "--json", paramLabel = "FILE", description = "also write the rows as JSON")
  File json;

  @Option(names = "--plot", paramLabel = "PNG", description = "also plot the rows (bar chart)")
  File plot;

  @Option(names = "--rounds", description = "timed rounds per row (median); default 3, quick 1")
  Integer rounds;

  @Option(
      names = "--models",
      split = ",",
      paramLabel = "MODEL",
      defaultValue = "bilstm,bigru",
      description = "the models to run, comma-separated: bilstm, bigru")
  List<String> models;

  @Option(names = "--pipeline", description = "the Flink job end to end instead (bench pipeline)")
  boolean pipeline;

  @Option(
      names = "--floor",
      description =
          "--pipeline: also one-step records on the demo model, each mode beside trivial jobs"
              + " with the same source, keyBy and sink (the floor), one of them writing outputs of"
              + " the job's shape")
  boolean floor;

  @Option(
      names = "--long-sequence",
      description =
          "--pipeline: also one exact-mode sequence of 1,000,000 steps (--quick 100,000) on each state"
              + " backend, its rate early, late and per tenth")
  boolean longSequence;

  @Option(
      names = "--paced",
      description =
          "--pipeline: also latency under load: 3,000 sequences (--quick 600) each sending a step"
              + " every 50 ms, lookahead C=R=16, written and visible latency beside the ideal")
  boolean paced;

  @Option(
      names = "--kernels",
      description = "the step kernels alone beside an SGEMM and the whole model (bench kernels)")
  boolean kernels;

  @Option(names = "--sequences", defaultValue = "256", description = "sequences for --pipeline")
  int sequences;

  @Option(names = "--steps", defaultValue = "2048", description = "steps per sequence, --pipeline")
  int pipelineSteps;

  @Option(
      names = "--per-chunk-output",
      description = "--pipeline: one output record per chunk (\"ys\") instead of per step")
  boolean perChunkOutput;

  @Option(
      names = "--binary-floats",
      description = "--pipeline: inputs (xs_f32) and outputs (--binary-floats) as base64 float32")
  boolean binaryFloats;

  @Option(
      names = "--modes",
      split = ",",
      defaultValue = "exact,lookahead,stateful",
      paramLabel = "MODE",
      converter = JobOptions.ModeConverter.class,
      description = "--pipeline: the modes to run, comma-separated")
  List<StreamConfig.Mode> modes;

  @Option(
      names = "--broker-dir",
      paramLabel = "DIR",
      description =
          "--pipeline: where the embedded broker keeps its logs; default /dev/shm (memory) when it"
              + " has 2 GiB free, else the temporary directory")
  Path brokerDir;

  record Turn(double seconds, int calls) {}

  private record Row(
      String model,
      String engine,
      String mode,
      int batch,
      int threads,
      double stepsPerS,
      double vsOrt) {}

  @Override
  public Integer call() throws Exception {
    if (pipeline) {
      if (brokerDir != null && !(Files.isDirectory(brokerDir) && Files.isWritable(brokerDir))) {
        throw new IllegalArgumentException(
            "--broker-dir "
                + brokerDir
                + ": expected a writable directory, found "
                + (Files.exists(brokerDir) ? "one it cannot write into or a file" : "nothing"));
      }
      return new PipelineBench(
              sequences,
              pipelineSteps,
              modes,
              perChunkOutput,
              binaryFloats,
              json,
              brokerDir,
              floor,
              longSequence,
              paced,
              quick)
          .run();
    }
    if (kernels) {
      return new KernelBench(KernelBench.Settings.of(quick, rounds), json).run();
    }
    List<Net> nets = nets();
    int t = quick ? 128 : 256;
    int[] batches = quick ? new int[] {1, 32} : new int[] {1, 32, 256};
    int timed = rounds != null ? rounds : quick ? 1 : 3;
    Path dir = BenchEngines.fixture();
    crossCheck(dir);
    Map<Integer, Double> sgemm = new LinkedHashMap<>();
    for (int threads : new int[] {1, 2}) {
      sgemm.put(threads, sgemmGflops(threads));
    }
    setMathThreads(1);
    CpuInfo cpu = CpuInfo.read();
    System.out.println("CPU: " + cpu);
    System.out.println("BiStream kernels: " + Simd.describe());
    System.out.printf(
        "SGEMM 1024^3 via Nd4j.gemm: %.1f GFLOP/s on 1 thread, %.1f on 2%n",
        sgemm.get(1), sgemm.get(2));
    System.out.printf(
        "BiLSTM and BiGRU D=%d H=%d T=%d concat; lookahead C=%d R=%d; median of %d interleaved"
            + " round(s)%n%n",
        D, H, t, CHUNK, LOOKAHEAD, timed);
    System.out.printf(
        "%-7s %-12s %-10s %5s %7s %15s %8s %8s %12s%n",
        "model", "engine", "mode", "N", "threads", "sample-steps/s", "GFLOP/s", "%SGEMM", "vs ORT");
    List<Row> rows = new ArrayList<>();
    for (Net net : nets) {
      for (int threads : new int[] {1, 2}) {
        for (int n : batches) {
          rows.addAll(measure(dir, net, n, t, threads, timed, sgemm.get(threads)));
        }
      }
    }
    if (json != null) {
      writeJson(rows, sgemm, cpu);
      System.out.println("\nwrote " + json);
    }
    if (plot != null) {
      writePlot(rows);
      System.out.println("wrote " + plot);
    }
    return 0;
  }

  private List<Net> nets() {
    List<Net> nets = new ArrayList<>();
    for (Net net : Net.values()) {
      if (models.contains(net.label)) {
        nets.add(net);
      }
    }
    for (String m : models) {
      if (nets.stream().noneMatch(net -> net.label.equals(m))) {
        throw new IllegalArgumentException(
            "--models: expected bilstm or bigru, found \"" + m + "\"");
      }
    }
    return nets;
  }

  /**
   * Sample-steps/s per engine and mode, one group of bars per (N, threads); a linear axis, since
   * engines without a mode (DL4J streaming) are plotted as 0.
   */
  private void writePlot(List<Row> rows) throws Exception {
    List<String> groups =
        rows.stream().map(r -> "N=" + r.batch() + " t=" + r.threads()).distinct().toList();
    CategoryChart chart =
        new CategoryChartBuilder()
            .width(1000)
            .height(480)
            .title("BiLSTM and BiGRU D=64 H=128: sample-steps/s (higher is better)")
            .xAxisTitle("batch N, threads t")
            .yAxisTitle("sample-steps/s")
            .build();
    for (String series : rows.stream().map(BenchCommand::series).distinct().toList()) {
      List<Double> values = new ArrayList<>();
      for (String g : groups) {
        values.add(
            rows.stream()
                .filter(r -> series(r).equals(series))
                .filter(r -> ("N=" + r.batch() + " t=" + r.threads()).equals(g))
                .mapToDouble(Row::stepsPerS)
                .findFirst()
                .orElse(0));
      }
      chart.addSeries(series, groups, values);
    }
    BitmapEncoder.saveBitmap(chart, plot.toString(), BitmapEncoder.BitmapFormat.PNG);
  }

  private static String series(Row r) {
    return r.model() + " " + r.engine() + " " + r.mode();
  }

  private List<Row> measure(Path dir, Net net, int n, int t, int threads, int timed, double sgemm)
      throws Exception {
    List<Engine> engines = engines(dir, net, threads);
    float[] x = input(n, t, new Random(n));
    List<List<Double>> times = new ArrayList<>();
    try {
      for (Engine e : engines) {
        times.add(new ArrayList<>());
        warmUp(e, x, n, t, threads);
      }
      for (int r = 0; r < timed; r++) {
        double[] perCall = round(engines, x, n, t, threads);
        for (int k = 0; k < engines.size(); k++) {
          times.get(k).add(perCall[k]);
        }
      }
    } finally {
      for (Engine e : engines) {
        e.close();
      }
    }
    List<Row> rows = new ArrayList<>();
    for (int k = 0; k < engines.size(); k++) {
      Engine e = engines.get(k);
      double vsOrt = Double.NaN;
      for (int j = 0; j < engines.size(); j++) {
        if (engines.get(j).name().equals("onnxruntime") && engines.get(j).mode().equals(e.mode())) {
          vsOrt = pairedRatio(times.get(j), times.get(k));
        }
      }
      Row row =
          new Row(
              net.label,
              e.name(),
              e.mode(),
              n,
              threads,
              n * (double) t / median(times.get(k)),
              vsOrt);
      rows.add(row);
      double flops = net == Net.BIGRU ? GRU_FLOPS_PER_STEP : FLOPS_PER_STEP;
      double gflops = row.stepsPerS() * flops / 1e9;
      System.out.printf(
          "%-7s %-12s %-10s %5d %7d %,15.0f %8.1f %7.1f%% %11.2fx%n",
          row.model(),
          row.engine(),
          row.mode(),
          n,
          threads,
          row.stepsPerS(),
          gflops,
          100 * gflops / sgemm,
          row.vsOrt());
    }
    return rows;
  }

  /**
   * The median over rounds of one engine's speed relative to another's measured next to it in the
   * same round: on a shared host the speed of the whole machine drifts from round to round, and a
   * ratio of two medians taken from different rounds would carry that drift.
   */
  static double pairedRatio(List<Double> referenceSeconds, List<Double> seconds) {
    List<Double> ratios = new ArrayList<>();
    for (int r = 0; r < seconds.size(); r++) {
      ratios.add(referenceSeconds.get(r) / seconds.get(r));
    }
    return median(ratios);
  }

  private static List<Engine> engines(Path dir, Net net, int threads) throws Exception {
    StreamConfig lookahead = StreamConfig.lookahead(CHUNK, LOOKAHEAD);
    if (net == Net.BIGRU) { // DL4J has no Keras-compatible GRU to compare
      return List.of(
          BenchEngines.bistream(dir, net, null, CHUNK, threads),
          BenchEngines.ortOffline(dir, net, threads),
          BenchEngines.bistream(dir, net, lookahead, CHUNK, threads),
          BenchEngines.ortLookahead(dir, net, threads, CHUNK, LOOKAHEAD));
    }
    return List.of(
        BenchEngines.bistream(dir, null, CHUNK, threads),
        BenchEngines.ortOffline(dir, threads),
        BenchEngines.dl4j(dir),
        BenchEngines.bistream(dir, lookahead, CHUNK, threads),
        BenchEngines.ortLookahead(dir, threads, CHUNK, LOOKAHEAD));
  }

  /** Until the JIT has compiled the hot loops: at least 3 calls and 1.5 s. */
  private static void warmUp(Engine e, float[] x, int n, int t, int threads) throws Exception {
    long start = System.nanoTime();
    for (int i = 0; i < 3 || System.nanoTime() - start < 1_500_000_000L; i++) {
      seconds(e, x, n, t, threads, MIN_TIMED_SECONDS);
    }
  }

  /**
   * One timed round: seconds per call of each engine. The engines take turns of {@link
   * #TURN_SECONDS} until each has run {@link #MIN_TIMED_SECONDS}, so a change in the shared host's
   * speed, which moves single runs by 40% within seconds here, reaches all of them alike.
   */
  private static double[] round(List<Engine> engines, float[] x, int n, int t, int threads)
      throws Exception {
    return interleavedRound(
        engines.size(),
        (k, atLeast) -> seconds(engines.get(k), x, n, t, threads, atLeast),
        TURN_SECONDS,
        MIN_TIMED_SECONDS);
  }

  /** One turn of item {@code k}: calls for at least {@code atLeast} seconds. */
  interface TurnTaker {
    Turn turn(int k, double atLeast) throws Exception;
  }

  /**
   * One timed round of {@code count} items taking turns of {@code turnSeconds} until each has run
   * {@code minSeconds}, with an idle wait ({@link #untilQuiet}) after every turn: seconds per call
   * of each. Shared by {@code bench} and {@code bench --kernels}.
   */
  static double[] interleavedRound(
      int count, TurnTaker turns, double turnSeconds, double minSeconds) throws Exception {
    double[] spent = new double[count];
    long[] calls = new long[count];
    boolean more = true;
    while (more) {
      more = false;
      for (int k = 0; k < count; k++) {
        if (spent[k] < minSeconds) {
          Turn turn = turns.turn(k, turnSeconds);
          untilQuiet();
          spent[k] += turn.seconds();
          calls[k] += turn.calls();
          more |= spent[k] < minSeconds;
        }
      }
    }
    double[] perCall = new double[count];
    for (int k = 0; k < count; k++) {
      perCall[k] = spent[k] / calls[k];
    }
    return perCall;
  }

  /** A timed call. */
  interface Call {
    void run() throws Exception;
  }

  /** Calls {@code call} until at least {@code atLeast} seconds have passed. */
  static Turn repeat(Call call, double atLeast) throws Exception {
    long start = System.nanoTime();
    int calls = 0;
    double s;
    do {
      call.run();
      calls++;
      s = (System.nanoTime() - start) / 1e9;
    } while (s < atLeast);
    return new Turn(s, calls);
  }

  /**
   * Waits, untimed, until no thread of this process is using the CPU (at most {@link
   * #QUIET_AT_MOST_MS}), so that no engine's threads run into the next engine's turn. ONNX
   * Runtime's intra-op workers spin for 30-40 ms after a run at 2 threads (measured here: 3-4 ticks
   * of 10 ms of CPU in the 50 ms after its last call, none after); the engine whose turn came next
   * lost a core to them for most of its 50 ms.
   */
  static void untilQuiet() throws InterruptedException {
    long deadline = System.nanoTime() + QUIET_AT_MOST_MS * 1_000_000L;
    long before = processCpuNanos();
    while (before >= 0 && System.nanoTime() < deadline) {
      Thread.sleep(QUIET_WINDOW_MS);
      long now = processCpuNanos();
      if (now - before <= QUIET_WINDOW_MS * 1_000_000L / 10) {
        return;
      }
      before = now;
    }
  }

  /**
   * The CPU time all threads of this process have used, in nanoseconds; -1: the JVM cannot tell.
   */
  static long processCpuNanos() {
    return ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /**
   * Seconds and calls of {@code e} over as many calls as fill {@code atLeast}: one call at N=1
   * lasts a few milliseconds, where one GC pause or JIT compilation would decide the row.
   */
  private static Turn seconds(Engine e, float[] x, int n, int t, int threads, double atLeast)
      throws Exception {
    // DL4J's only lever is ND4J's own thread pool; BiStream and ONNX Runtime set their own.
    setMathThreads(e.name().equals("dl4j") ? threads : 1);
    Turn turn = repeat(() -> e.run(x, n, t), atLeast);
    setMathThreads(1);
    return turn;
  }

  /**
   * For each model, every engine against PyTorch's output on the probe, then the lookahead engines
   * against each other on longer sequences: nothing is timed unless all agree.
   */
  static void crossCheck(Path dir) throws Exception {
    for (Net net : Net.values()) {
      crossCheck(dir, net);
    }
  }

  private static void crossCheck(Path dir, Net net) throws Exception {
    NpyArray px = NpyReader.read(net.file(dir, "probe_x.npy"));
    NpyArray py = NpyReader.read(net.file(dir, "probe_y.npy"));
    float[] x = px.floats();
    float[] want = py.floats();
    int n = px.shape()[0];
    int t = px.shape()[1];
    StringBuilder report = new StringBuilder(net.label + " cross-check vs PyTorch (probe):");
    for (Engine e : offlineEngines(dir, net)) {
      try (e) {
        double d = maxDiff(e.run(x, n, t), want);
        report.append(String.format(" %s %.1e", e.name(), d));
        require(d < 1e-4, net.label + " " + e.name() + " offline differs from PyTorch by " + d);
      }
    }
    int tl = 200;
    float[] xl = input(3, tl, new Random(9));
    StreamConfig lookahead = StreamConfig.lookahead(CHUNK, LOOKAHEAD);
    try (Engine bs = BenchEngines.bistream(dir, net, lookahead, CHUNK, 1);
        Engine ort = BenchEngines.ortLookahead(dir, net, 1, CHUNK, LOOKAHEAD)) {
      double d = maxDiff(bs.run(xl, 3, tl), ort.run(xl, 3, tl));
      report.append(String.format("; lookahead bistream vs onnxruntime %.1e", d));
      require(
          d < 1e-4, net.label + " lookahead outputs of BiStream and ONNX Runtime differ by " + d);
    }
    System.out.println(report);
  }

  private static List<Engine> offlineEngines(Path dir, Net net) throws Exception {
    return net == Net.BIGRU
        ? List.of(
            BenchEngines.bistream(dir, net, null, CHUNK, 1), BenchEngines.ortOffline(dir, net, 1))
        : List.of(
            BenchEngines.bistream(dir, null, CHUNK, 1),
            BenchEngines.ortOffline(dir, 1),
            BenchEngines.dl4j(dir));
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalStateException("bench cross-check failed: " + message);
    }
  }

  private static double maxDiff(float[] a, float[] b) {
    require(a.length == b.length, "output sizes " + a.length + " and " + b.length);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private void writeJson(List<Row> rows, Map<Integer, Double> sgemm, CpuInfo cpu) throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    root.put("cpu", cpu.model());
    root.put("cores", cpu.cores());
    root.putPOJO("cpu_vector_flags", cpu.vectorFlags());
    root.put("kernels", Simd.describe());
    root.put("sgemm_gflops", sgemm.get(1));
    root.put("sgemm_gflops_2_threads", sgemm.get(2));
    ArrayNode out = root.putArray("rows");
    for (Row r : rows) {
      out.addObject()
          .put("model", r.model())
          .put("engine", r.engine())
          .put("mode", r.mode())
          .put("batch", r.batch())
          .put("threads", r.threads())
          .put("steps_per_s", Math.round(r.stepsPerS()))
          .put("vs_onnxruntime", Math.round(r.vsOrt() * 1000) / 1000.0);
    }
    mapper.writerWithDefaultPrettyPrinter().writeValue(json, root);
  }

  static double median(List<Double> values) {
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return v[v.length / 2];
  }

  static void setMathThreads(int threads) {
    Nd4j.getEnvironment().setMaxThreads(threads);
    Nd4j.getEnvironment().setMaxMasterThreads(threads);
    Nd4j.factory().blas().setMaxThreads(threads);
  }

  static double sgemmGflops(int threads) {
    setMathThreads(threads);
    int size = 1024;
    INDArray a = Nd4j.rand(DataType.FLOAT, size, size);
    INDArray b = Nd4j.rand(DataType.FLOAT, size, size);
    INDArray c = Nd4j.createUninitialized(DataType.FLOAT, size, size);
    Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
    double best = Double.MAX_VALUE;
    for (int r = 0; r < 5; r++) {
      long start = System.nanoTime();
      Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
      best = Math.min(best, (System.nanoTime() - start) / 1e9);
    }
    return 2.0 * size * size * size / best / 1e9;
  }

  /** {@code [n, t, D]} standard normal values. */
  static float[] input(int n, int t, Random rnd) {
    return gaussian(n * t * D, rnd);
  }

  /** {@code length} values drawn from the standard normal distribution. */
  static float[] gaussian(int length, Random rnd) {
    float[] x = new float[length];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }
}
