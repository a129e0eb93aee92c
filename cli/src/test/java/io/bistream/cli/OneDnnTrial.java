package io.bistream.cli;

import io.bistream.cli.BenchEngines.Engine;
import io.bistream.core.keras.KerasFiles;
import io.bistream.core.keras.NamedArray;
import io.bistream.core.layers.Simd;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.javacpp.Loader;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.LSTMLayer;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.config.LSTMActivations;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.config.LSTMDataFormat;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.config.LSTMDirectionMode;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.config.LSTMLayerConfig;
import org.nd4j.linalg.api.ops.impl.layers.recurrent.weights.LSTMLayerWeights;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * The oneDNN trial of issue 18 (docs/benchmarks.md, "oneDNN trial"): libnd4j's fused {@code
 * lstmLayer} op (bidirectional, concat) against ONNX Runtime offline and BiStream offline on the
 * bench fixture, in one process, on whichever ND4J native build is on the class path. {@code
 * scripts/onednn-trial.sh} runs it once per build, alternating. Not a test and not shipped: it
 * lives with the test sources, and the oneDNN build is only on the class path under {@code
 * -Ponednn-trial}.
 *
 * <p>Arguments: {@code threads label [check | batches...]}. Prints one {@code RESULT} line per
 * engine and batch; {@code check} stops after the cross-check (the script runs it once with {@code
 * DNNL_VERBOSE=1} to see oneDNN's own log of the primitive it ran).
 */
final class OneDnnTrial {

  private static final int D = BenchEngines.D;
  private static final int H = BenchEngines.H;
  private static final int T = 256;
  private static final int ROUNDS = 5;
  private static final double TURN_SECONDS = 0.2;
  private static final double WARM_SECONDS = 1.0;

  private OneDnnTrial() {}

  public static void main(String[] args) throws Exception {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
    String label = args.length > 1 ? args[1] : "unnamed";
    boolean checkOnly = args.length > 2 && args[2].equals("check");
    List<Integer> batches = new ArrayList<>();
    for (int i = checkOnly ? 3 : 2; i < args.length; i++) {
      batches.add(Integer.parseInt(args[i]));
    }
    if (batches.isEmpty()) {
      batches = List.of(1, 32, 256);
    }
    System.out.println("build: " + label + ", threads " + threads);
    Nd4j.getBackend(); // loads the native build; NativeOpsHolder needs it loaded first
    System.out.println("libnd4j buildInfo: " + buildInfo());
    Loader.getLoadedLibraries()
        .forEach(
            (k, v) -> {
              if (k.contains("nd4j")) {
                System.out.println("loaded: " + v);
              }
            });
    System.out.println("helpers allowed: " + Nd4j.getEnvironment().helpersAllowed());
    System.out.println("BiStream kernels: " + Simd.describe());
    System.out.println("CPU: " + CpuInfo.read());

    Path dir = BenchEngines.fixture();
    List<Engine> engines =
        List.of(
            BenchEngines.ortOffline(dir, threads),
            BenchEngines.bistream(dir, null, 64, threads),
            lstmLayer(dir));
    try {
      crossCheck(dir, engines);
      for (int n : checkOnly ? List.<Integer>of() : batches) {
        measure(engines, n, threads, label);
      }
    } finally {
      for (Engine e : engines) {
        e.close();
      }
    }
  }

  /** The libnd4j build's description; "HAVE_ONEDNN" in it marks the oneDNN build. */
  private static String buildInfo() {
    return NativeOpsHolder.getInstance().getDeviceNativeOps().buildInfo().replace('\n', ' ');
  }

  /**
   * libnd4j's {@code lstmLayer} with the fixture's Keras weights: input and output {@code [n, T,
   * ...]} (NTS), both directions concatenated. Keras' gate order i, f, c, o is the op's own order
   * (the oneDNN helper maps the 4H axis to oneDNN's i, f, c~, o), so the kernels go in unchanged.
   */
  static Engine lstmLayer(Path dir) throws Exception {
    Map<String, NamedArray> keras = KerasFiles.tfjsWeights(dir.resolve("model.json"));
    float[] wx = new float[2 * D * 4 * H];
    float[] wr = new float[2 * H * 4 * H];
    float[] b = new float[2 * 4 * H];
    int side = 0;
    for (String name : List.of("forward", "backward")) {
      String k = "bilstm/" + name + "_lstm/";
      System.arraycopy(keras.get(k + "kernel").data(), 0, wx, side * D * 4 * H, D * 4 * H);
      System.arraycopy(
          keras.get(k + "recurrent_kernel").data(), 0, wr, side * H * 4 * H, H * 4 * H);
      System.arraycopy(keras.get(k + "bias").data(), 0, b, side * 4 * H, 4 * H);
      side++;
    }
    INDArray wxArray = Nd4j.create(wx, new long[] {2, D, 4L * H}, 'c');
    INDArray wrArray = Nd4j.create(wr, new long[] {2, H, 4L * H}, 'c');
    INDArray bArray = Nd4j.create(b, new long[] {2, 4L * H}, 'c');
    LSTMLayerConfig config =
        LSTMLayerConfig.builder()
            .lstmdataformat(LSTMDataFormat.NTS)
            .directionMode(LSTMDirectionMode.BIDIR_CONCAT)
            .gateAct(LSTMActivations.SIGMOID)
            .cellAct(LSTMActivations.TANH)
            .outAct(LSTMActivations.TANH)
            .retFullSequence(true)
            // the oneDNN helper of 1.0.0-M2.1 fails ("object is not initialized") unless it is
            // given the last h and c to write as well
            .retLastH(true)
            .retLastC(true)
            .cellClip(0)
            .build();
    // The integer and float arguments as ND4J's own op class encodes the config. That class is not
    // run itself: its INDArray constructor in 1.0.0-M2.1 passes the arrays as outputs, not inputs.
    LSTMLayer encoded =
        new LSTMLayer(
            null,
            null,
            null,
            null,
            LSTMLayerWeights.builder().iWeights(wxArray).irWeights(wrArray).iBias(bArray).build(),
            config);
    long[] iArgs = encoded.iArgs();
    double[] tArgs = encoded.tArgs();
    int[] ints = new int[iArgs.length];
    for (int i = 0; i < ints.length; i++) {
      ints[i] = (int) iArgs[i];
    }
    Double[] floats = new Double[tArgs.length];
    for (int i = 0; i < floats.length; i++) {
      floats[i] = tArgs[i];
    }
    BenchEngines.Compute compute =
        (x, n, t) -> {
          INDArray in = Nd4j.create(x, new long[] {n, t, D}, 'c');
          INDArray y = Nd4j.createUninitialized(DataType.FLOAT, n, t, 2L * H);
          INDArray lastH = Nd4j.createUninitialized(DataType.FLOAT, 2, n, H);
          INDArray lastC = Nd4j.createUninitialized(DataType.FLOAT, 2, n, H);
          Nd4j.exec(
              DynamicCustomOp.builder("lstmLayer")
                  .addInputs(in, wxArray, wrArray, bArray)
                  .addOutputs(y, lastH, lastC)
                  .addIntegerArguments(ints)
                  .addFloatingPointArguments(floats)
                  // has biases, seqLen, initial h, initial c, peepholes; returns the full sequence,
                  // the last h, the last c
                  .addBooleanArguments(true, false, false, false, false, true, true, true)
                  .build());
          return y.data().asFloat();
        };
    return new Engine("nd4j-lstmLayer", "offline", compute, () -> {});
  }

  /** Every engine against PyTorch's output on the probe: nothing is timed unless all agree. */
  private static void crossCheck(Path dir, List<Engine> engines) throws Exception {
    NpyArray px = NpyReader.read(dir.resolve("probe_x.npy"));
    float[] want = NpyReader.read(dir.resolve("probe_y.npy")).floats();
    StringBuilder report = new StringBuilder("cross-check vs PyTorch (probe):");
    for (Engine e : engines) {
      float[] got = e.run(px.floats(), px.shape()[0], px.shape()[1]);
      if (got.length != want.length) {
        throw new IllegalStateException(
            e.name() + " gives " + got.length + " outputs on the probe, PyTorch " + want.length);
      }
      double d = 0;
      for (int i = 0; i < got.length; i++) {
        d = Math.max(d, Math.abs(got[i] - want[i]));
      }
      report.append(String.format(" %s %.1e", e.name(), d));
      if (!(d < 1e-4)) {
        throw new IllegalStateException(e.name() + " differs from PyTorch by " + d);
      }
    }
    System.out.println(report);
  }

  /**
   * Warm-up, then {@link #ROUNDS} rounds in which each engine takes one turn of at least {@link
   * #TURN_SECONDS}; ratios to ONNX Runtime are paired round by round (as {@code bench} does).
   */
  private static void measure(List<Engine> engines, int n, int threads, String label)
      throws Exception {
    float[] x = BenchCommand.input(n, T, new Random(n));
    for (Engine e : engines) {
      long start = System.nanoTime();
      for (int i = 0; i < 2 || System.nanoTime() - start < WARM_SECONDS * 1e9; i++) {
        turn(e, x, n, threads, 0);
      }
    }
    List<List<Double>> times = new ArrayList<>();
    engines.forEach(e -> times.add(new ArrayList<>()));
    for (int r = 0; r < ROUNDS; r++) {
      for (int k = 0; k < engines.size(); k++) {
        times.get(k).add(turn(engines.get(k), x, n, threads, TURN_SECONDS));
        BenchCommand.untilQuiet();
      }
    }
    for (int k = 0; k < engines.size(); k++) {
      double stepsPerS = n * (double) T / BenchCommand.median(times.get(k));
      double vsOrt = BenchCommand.pairedRatio(times.get(0), times.get(k));
      System.out.printf(
          "RESULT build=%s threads=%d N=%d engine=%s steps_per_s=%.0f vs_ort=%.3f%n",
          label, threads, n, engines.get(k).name(), stepsPerS, vsOrt);
    }
  }

  /** Seconds per call over calls filling {@code atLeast} (at least one call). */
  private static double turn(Engine e, float[] x, int n, int threads, double atLeast)
      throws Exception {
    // libnd4j's op (and oneDNN's OpenMP pool under it) takes ND4J's thread setting; BiStream and
    // ONNX Runtime are given their threads when built.
    BenchCommand.setMathThreads(e.name().startsWith("nd4j") ? threads : 1);
    long start = System.nanoTime();
    int calls = 0;
    double s;
    do {
      e.run(x, n, T);
      calls++;
      s = (System.nanoTime() - start) / 1e9;
    } while (s < atLeast);
    BenchCommand.setMathThreads(1);
    return s / calls;
  }
}
