package io.bistream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.ModelFiles;
import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.GruCell;
import io.bistream.core.layers.KernelProbe;
import io.bistream.core.layers.KernelProbe.Variant;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.layers.Simd;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code bench --kernels}: the recurrence step kernels alone, beside an SGEMM of the same shape and
 * the whole model (docs/benchmarks.md, "Kernels alone"). On the bench model's shapes (D=64, H=128):
 * one direction's LSTM step over {@code [x, h]} rows on each kernel width ({@link KernelProbe}),
 * the GRU step's product {@code h·U} likewise, each with {@code Nd4j.gemm} of its product's shape
 * as a peer, and {@code Model.predict} on the bench model, so the kernels' share of the whole
 * shows. Timing as in {@code bench}: after a warm-up, rounds in which the items take turns of 50 ms
 * with idle waits between; the median of the rounds, ratios as medians of the rounds' own ratios.
 *
 * <p>One JVM times the kernels of one vector width only, the width it runs ({@link Simd#WIDE}),
 * with the scalar ones: on JDK 17, once 256-bit and 512-bit vectors both ran in a process, code C2
 * compiles afterwards falls back to boxed vectors, 100-1000x slower (measured here: the 512-bit
 * LSTM step at N=32 ran at 100-127 GFLOP/s alone and at 0.1 after the 256-bit one had run). So
 * where the JVM runs 512-bit kernels, a second JVM with {@code -Dbistream.simd.bits=256} times the
 * 256-bit ones, and the two widths are compared through their ratios to the same GEMM peer. Before
 * anything is timed, every variant's outputs are checked against every other's (results do not
 * depend on what C2 made of the code).
 */
final class KernelBench {

  private static final int D = BenchEngines.D;
  private static final int H = BenchEngines.H;
  // Agreement of two variants, as the golden cases' default: |a - b| <= RTOL |b| + ATOL.
  static final double RTOL = 1e-5;
  static final double ATOL = 1e-6;

  /** How long and on what the bench runs. */
  record Settings(
      int[] batches,
      int rounds,
      double turnSeconds,
      double minTimedSeconds,
      double warmUpSeconds,
      int modelSteps) {

    static Settings of(boolean quick, Integer rounds) {
      return new Settings(
          quick ? new int[] {1, 32} : new int[] {1, 32, 256},
          rounds != null ? rounds : quick ? 1 : 3,
          0.05,
          0.25,
          0.4,
          64);
    }
  }

  /**
   * One timed item: {@code what} (lstm-step, gru-product, model), {@code kernel} (a variant's
   * label, gemm, offline), seconds per step and FLOPs per step.
   */
  record Row(
      String jvm,
      String what,
      String kernel,
      int batch,
      boolean inUse,
      double secondsPerStep,
      double gflops,
      double percentOfSgemm,
      double vs256,
      double vsGemm,
      double kernelShare) {}

  /** A timed call: {@code steps} steps of {@code flopsPerStep} each. */
  private record Item(
      String what, String kernel, boolean inUse, Runnable call, int steps, double flopsPerStep) {}

  private final Settings settings;
  private final File json;
  // SGEMM 1024^3 of this JVM's run, for the JSON
  private double cpuSgemm;

  KernelBench(Settings settings, File json) {
    this.settings = settings;
    this.json = json;
  }

  int run() throws Exception {
    List<Row> rows = runHere(false);
    if (Simd.WIDE) {
      rows = new ArrayList<>(rows);
      rows.addAll(runOtherWidth());
      System.out.println();
      System.out.println(
          "512-bit vs 256-bit LSTM step, each JVM's ratio to its gemm peer: "
              + compareWidths(rows));
    }
    if (json != null) {
      writeJson(rows, cpuSgemm, CpuInfo.read());
      System.out.println("\nwrote " + json);
    }
    return 0;
  }

  /** The second JVM of {@link #run}: {@code KernelBench ROUNDS BATCHES JSON}, rows into JSON. */
  public static void main(String[] args) throws Exception {
    int[] batches = Arrays.stream(args[1].split(",")).mapToInt(Integer::parseInt).toArray();
    Settings base = Settings.of(false, Integer.parseInt(args[0]));
    Settings s =
        new Settings(
            batches,
            base.rounds(),
            base.turnSeconds(),
            base.minTimedSeconds(),
            base.warmUpSeconds(),
            base.modelSteps());
    KernelBench bench = new KernelBench(s, new File(args[2]));
    List<Row> rows = bench.runHere(true);
    bench.writeJson(rows, bench.cpuSgemm, CpuInfo.read());
    System.exit(0);
  }

  /** This JVM's width and the scalar kernels, the model beside; prints the table. */
  private List<Row> runHere(boolean quiet) throws Exception {
    Path dir = BenchEngines.fixture();
    Model model = ModelFiles.load(dir.resolve("model.json"));
    KernelProbe lstm = KernelProbe.lstm(lstmCell(model));
    KernelProbe gru = KernelProbe.gruProduct(gruCell(new Random(7)));
    System.out.println(crossCheck(lstm, gru, settings.batches(), KernelBench::timedHere));
    BenchCommand.setMathThreads(1);
    double sgemm = BenchCommand.sgemmGflops(1);
    cpuSgemm = sgemm;
    BenchCommand.setMathThreads(1);
    String jvm = jvmWidth();
    if (!quiet) {
      CpuInfo cpu = CpuInfo.read();
      System.out.println("CPU: " + cpu);
      System.out.println("BiStream kernels: " + Simd.describe());
      System.out.println(
          "kernel variants on this CPU: LSTM step "
              + labels(lstm.variants())
              + "; GRU product "
              + labels(gru.variants())
              + " (* = what the model runs in that JVM)");
      System.out.printf(
          "LSTM step D=%d H=%d: [N, %d] x [%d, %d] and gates, one direction; GRU product [N, %d]"
              + " x [%d, %d]; gemm = Nd4j.gemm of the same product; model = Model.predict, BiLSTM"
              + " T=%d offline, per step of both directions; 1 thread; median of %d interleaved"
              + " round(s)%n",
          D, H, D + H, D + H, 4 * H, H, H, 3 * H, settings.modelSteps(), settings.rounds());
    }
    System.out.printf(
        "%n%s JVM: SGEMM 1024^3 via Nd4j.gemm %.1f GFLOP/s on 1 thread%n", jvm, sgemm);
    System.out.printf(
        "%-12s %-9s %5s %10s %8s %8s %11s %8s %13s%n",
        "what",
        "kernel",
        "N",
        "µs/step",
        "GFLOP/s",
        "%SGEMM",
        "vs 256-bit",
        "vs gemm",
        "kernel share");
    List<Row> rows = new ArrayList<>();
    for (int n : settings.batches()) {
      rows.addAll(measure(model, lstm, gru, n, sgemm));
    }
    return rows;
  }

  /** {@code 512-bit}, {@code 256-bit} or {@code scalar}: the vector width this JVM runs. */
  static String jvmWidth() {
    return Simd.WIDE
        ? Variant.VECTOR_512.label()
        : Simd.ENABLED ? Variant.VECTOR_256.label() : Variant.SCALAR.label();
  }

  /**
   * Whether {@code v} is timed in this JVM: the scalar kernels, and the vector ones of its width.
   */
  static boolean timedHere(Variant v) {
    return v == Variant.SCALAR || v.label().equals(jvmWidth());
  }

  /** The same bench in a second JVM on the 256-bit kernels; its rows. */
  private List<Row> runOtherWidth() throws Exception {
    File out = File.createTempFile("bistream-kernels-256", ".json");
    out.deleteOnExit();
    String javaCommand = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>();
    cmd.add(javaCommand);
    cmd.add("--add-modules");
    cmd.add("jdk.incubator.vector");
    cmd.add("-Dbistream.simd.bits=256");
    cmd.add("-Dlog4j2.statusLoggerLevel=OFF");
    cmd.add(KernelBench.class.getName());
    cmd.add(Integer.toString(settings.rounds()));
    cmd.add(
        Arrays.stream(settings.batches())
            .mapToObj(Integer::toString)
            .collect(Collectors.joining(",")));
    cmd.add(out.getPath());
    ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
    // the class path by environment, as ./bistream passes it (a long command line is trouble)
    pb.environment().put("CLASSPATH", System.getProperty("java.class.path"));
    int code = pb.start().waitFor();
    if (code != 0) {
      throw new IllegalStateException("the 256-bit JVM of bench --kernels exited with " + code);
    }
    List<Row> rows = new ArrayList<>();
    for (var node : new ObjectMapper().readTree(out).get("rows")) {
      rows.add(
          new Row(
              node.get("jvm").asText(),
              node.get("what").asText(),
              node.get("kernel").asText(),
              node.get("batch").asInt(),
              node.get("in_use").asBoolean(),
              node.get("us_per_step").asDouble() / 1e6,
              node.get("gflops").asDouble(),
              node.get("percent_of_sgemm").asDouble(),
              node.path("vs_256_bit").asDouble(Double.NaN),
              node.path("vs_gemm").asDouble(Double.NaN),
              node.path("kernel_share").asDouble(Double.NaN)));
    }
    return rows;
  }

  /** Per N: the 512-bit step's ratio to its gemm over the 256-bit step's ratio to its gemm. */
  static String compareWidths(List<Row> rows) {
    List<String> out = new ArrayList<>();
    for (Row wide : rows) {
      if (!wide.what().equals("lstm-step") || !wide.kernel().equals("512-bit")) {
        continue;
      }
      for (Row narrow : rows) {
        if (narrow.what().equals("lstm-step")
            && narrow.kernel().equals("256-bit")
            && narrow.batch() == wide.batch()) {
          out.add(String.format("N=%d %.2fx", wide.batch(), wide.vsGemm() / narrow.vsGemm()));
        }
      }
    }
    return String.join(", ", out);
  }

  /** The forward cell of the bench model's first bidirectional layer. */
  static RecurrentCell lstmCell(Model model) {
    return model.nodes().stream()
        .map(Model.Node::layer)
        .filter(Bidirectional.class::isInstance)
        .map(l -> ((Bidirectional) l).forward().cell())
        .findFirst()
        .orElseThrow(() -> new IllegalStateException("the bench model has no Bidirectional layer"));
  }

  /** A GRU of the bench model's shape, weights uniform in ±1/sqrt(H) (PyTorch's initialisation). */
  static RecurrentCell gruCell(Random rnd) {
    double scale = 1 / Math.sqrt(H);
    return new GruCell(
        D,
        H,
        Activation.TANH,
        Activation.SIGMOID,
        true,
        uniform(rnd, D * 3 * H, scale),
        uniform(rnd, H * 3 * H, scale),
        uniform(rnd, 3 * H, scale),
        uniform(rnd, 3 * H, scale));
  }

  private static String labels(List<Variant> variants) {
    return variants.stream().map(Variant::label).collect(Collectors.joining(", "));
  }

  /**
   * Every variant against every other, three steps from the same rows, at each of {@code batches}
   * and at 7 and 37 rows (tiles of 5, 4 and 1 rows); throws unless all agree within {@link #RTOL}.
   */
  static String crossCheck(
      KernelProbe lstm, KernelProbe gru, int[] batches, Predicate<Variant> which) {
    StringBuilder report = new StringBuilder("cross-check of the variants (max |difference|):");
    for (KernelProbe probe : List.of(lstm, gru)) {
      String what = probe == lstm ? "LSTM step" : "GRU product";
      double worst = 0;
      List<Integer> ns = new ArrayList<>();
      for (int n : batches) {
        ns.add(n);
      }
      ns.add(7);
      ns.add(37);
      for (int n : ns) {
        Random rnd = new Random(n);
        float[] rows = inputRows(probe, n, rnd);
        float[] c = gaussian(rnd, n * H, 0.5);
        List<Variant> variants = probe.variants().stream().filter(which).toList();
        List<float[]> results = new ArrayList<>();
        for (Variant v : variants) {
          KernelProbe.Step step = probe.step(v, rows, c, n);
          for (int s = 0; s < 3; s++) {
            step.run();
          }
          results.add(step.result());
        }
        for (int a = 0; a < variants.size(); a++) {
          for (int b = a + 1; b < variants.size(); b++) {
            String pair =
                what
                    + " at N="
                    + n
                    + ": "
                    + variants.get(a).label()
                    + " vs "
                    + variants.get(b).label();
            worst = Math.max(worst, requireAgree(pair, results.get(a), results.get(b)));
          }
        }
      }
      report.append(
          String.format(
              " %s %.1e (%s);",
              what, worst, labels(probe.variants().stream().filter(which).toList())));
    }
    report.setLength(report.length() - 1);
    return report.append(" all within ").append(RTOL).append(" relative").toString();
  }

  /**
   * The largest |a - b|; throws naming {@code what} unless every element is within {@link #RTOL}
   * relative (plus {@link #ATOL}) of the other's.
   */
  static double requireAgree(String what, float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalStateException(what + ": " + a.length + " and " + b.length + " values");
    }
    double worst = 0;
    for (int i = 0; i < a.length; i++) {
      double diff = Math.abs(a[i] - b[i]);
      if (!(diff <= RTOL * Math.max(Math.abs(a[i]), Math.abs(b[i])) + ATOL)) {
        throw new IllegalStateException(
            "kernel cross-check failed: "
                + what
                + " differ at value "
                + i
                + ": "
                + a[i]
                + " and "
                + b[i]
                + " (rtol "
                + RTOL
                + ", atol "
                + ATOL
                + ")");
      }
      worst = Math.max(worst, diff);
    }
    return worst;
  }

  /** The items of one batch size, timed side by side. */
  List<Row> measure(Model model, KernelProbe lstm, KernelProbe gru, int n, double sgemm)
      throws Exception {
    Random rnd = new Random(n);
    List<Item> items = new ArrayList<>();
    for (KernelProbe probe : List.of(lstm, gru)) {
      String what = probe == lstm ? "lstm-step" : "gru-product";
      float[] rows = inputRows(probe, n, rnd);
      float[] c = gaussian(rnd, n * H, 0.5);
      for (Variant v : probe.variants().stream().filter(KernelBench::timedHere).toList()) {
        KernelProbe.Step step = probe.step(v, rows, c, n);
        items.add(new Item(what, v.label(), v == probe.inUse(n), step::run, 1, probe.flops(n)));
      }
      int k = probe.rowWidth();
      int cols = (int) Math.round(probe.flops(1) / 2 / k);
      INDArray a = Nd4j.rand(DataType.FLOAT, n, k);
      INDArray w = Nd4j.rand(DataType.FLOAT, k, cols);
      INDArray out = Nd4j.createUninitialized(DataType.FLOAT, n, cols);
      items.add(
          new Item(
              what,
              "gemm",
              false,
              () -> Nd4j.gemm(a, w, out, false, false, 1.0, 0.0),
              1,
              probe.flops(n)));
    }
    int t = settings.modelSteps();
    float[] x = BenchCommand.input(n, t, rnd);
    Tensor in = new Tensor(x, new int[] {n, t, D});
    items.add(
        new Item(
            "model",
            "offline",
            true,
            () -> model.predict(List.of(in), Model.Backend.ND4J),
            t,
            n * BenchCommand.FLOPS_PER_STEP));

    List<List<Double>> times = new ArrayList<>();
    for (Item item : items) {
      times.add(new ArrayList<>());
      warmUp(item);
    }
    for (int r = 0; r < settings.rounds(); r++) {
      double[] perStep = round(items);
      for (int k = 0; k < items.size(); k++) {
        times.get(k).add(perStep[k]);
      }
    }

    List<Row> rows = new ArrayList<>();
    for (int k = 0; k < items.size(); k++) {
      Item item = items.get(k);
      double seconds = BenchCommand.median(times.get(k));
      double gflops = item.flopsPerStep() / seconds / 1e9;
      double vs256 = Double.NaN;
      double vsGemm = Double.NaN;
      double share = Double.NaN;
      for (int j = 0; j < items.size(); j++) {
        Item other = items.get(j);
        if (other.what().equals(item.what()) && !item.what().equals("model")) {
          if (other.kernel().equals(Variant.VECTOR_256.label())) {
            vs256 = BenchCommand.pairedRatio(times.get(j), times.get(k));
          } else if (other.kernel().equals("gemm")) {
            vsGemm = BenchCommand.pairedRatio(times.get(j), times.get(k));
          }
        }
        // the model runs the LSTM step of both directions per step
        if (item.what().equals("model") && other.what().equals("lstm-step") && other.inUse()) {
          List<Double> twice = times.get(j).stream().map(s -> 2 * s).toList();
          share = BenchCommand.pairedRatio(twice, times.get(k));
        }
      }
      Row row =
          new Row(
              jvmWidth(),
              item.what(),
              item.kernel(),
              n,
              item.inUse(),
              seconds,
              gflops,
              100 * gflops / sgemm,
              vs256,
              vsGemm,
              share);
      rows.add(row);
      System.out.printf(
          "%-12s %-9s %5d %10.2f %8.1f %7.1f%% %11s %8s %13s%n",
          row.what(),
          row.kernel() + (row.inUse() && !row.what().equals("model") ? "*" : ""),
          n,
          seconds * 1e6,
          gflops,
          row.percentOfSgemm(),
          ratio(vs256),
          ratio(vsGemm),
          Double.isNaN(share) ? "" : String.format("%.0f%%", 100 * share));
    }
    return rows;
  }

  private static String ratio(double r) {
    return Double.isNaN(r) ? "" : String.format("%.2fx", r);
  }

  /** Until the JIT has compiled the item's loops: at least 3 calls and the warm-up time. */
  private void warmUp(Item item) {
    long start = System.nanoTime();
    for (int i = 0; i < 3 || System.nanoTime() - start < settings.warmUpSeconds() * 1e9; i++) {
      item.call().run();
    }
  }

  /**
   * One timed round: seconds per step of each item. The items take turns until each has run the
   * minimum time, with idle waits between turns ({@link BenchCommand#untilQuiet}), as the engines
   * do in {@code bench}.
   */
  private double[] round(List<Item> items) throws Exception {
    double[] perStep =
        BenchCommand.interleavedRound(
            items.size(),
            (k, atLeast) -> BenchCommand.repeat(items.get(k).call()::run, atLeast),
            settings.turnSeconds(),
            settings.minTimedSeconds());
    for (int k = 0; k < perStep.length; k++) {
      perStep[k] /= items.get(k).steps();
    }
    return perStep;
  }

  /** A step's input rows: {@code [x, h]} for the LSTM (x normal, h in ±0.5), h for the GRU. */
  private static float[] inputRows(KernelProbe probe, int n, Random rnd) {
    int width = probe.rowWidth();
    float[] rows = new float[n * width];
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < width; j++) {
        boolean x = width > H && j < width - H;
        rows[r * width + j] =
            x ? (float) rnd.nextGaussian() : (float) ((rnd.nextDouble() * 2 - 1) * 0.5);
      }
    }
    return rows;
  }

  private static float[] gaussian(Random rnd, int size, double scale) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) (rnd.nextGaussian() * scale);
    }
    return a;
  }

  private static float[] uniform(Random rnd, int size, double scale) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    }
    return a;
  }

  private void writeJson(List<Row> rows, double sgemm, CpuInfo cpu) throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    root.put("cpu", cpu.model());
    root.put("cores", cpu.cores());
    root.putPOJO("cpu_vector_flags", cpu.vectorFlags());
    root.put("kernels", Simd.describe());
    root.put("sgemm_gflops", sgemm);
    root.put("note", "each JVM times the vector kernels of its own width (see KernelBench)");
    root.put("model_steps", settings.modelSteps());
    root.put("rounds", settings.rounds());
    ArrayNode out = root.putArray("rows");
    for (Row r : rows) {
      ObjectNode o =
          out.addObject()
              .put("jvm", r.jvm())
              .put("what", r.what())
              .put("kernel", r.kernel())
              .put("batch", r.batch())
              .put("in_use", r.inUse())
              .put("us_per_step", round3(r.secondsPerStep() * 1e6))
              .put("gflops", round3(r.gflops()))
              .put("percent_of_sgemm", round3(r.percentOfSgemm()));
      putIfKnown(o, "vs_256_bit", r.vs256());
      putIfKnown(o, "vs_gemm", r.vsGemm());
      putIfKnown(o, "kernel_share", r.kernelShare());
    }
    mapper.writerWithDefaultPrettyPrinter().writeValue(json, root);
  }

  private static void putIfKnown(ObjectNode o, String key, double v) {
    if (!Double.isNaN(v)) {
      o.put(key, round3(v));
    }
  }

  private static double round3(double v) {
    return Math.round(v * 1000) / 1000.0;
  }
}
