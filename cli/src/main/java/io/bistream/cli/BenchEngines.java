package io.bistream.cli;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.bistream.core.ModelFiles;
import io.bistream.core.keras.KerasFiles;
import io.bistream.core.keras.NamedArray;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The engines {@code bench} runs side by side on two fixtures: a PyTorch BiLSTM and a PyTorch BiGRU
 * (D=64, H=128 per direction, concat), each exported to ONNX and mapped to the Keras layout by the
 * committed {@code bench/generate.py}. Every engine maps {@code x [n, T, D]} to {@code y [n, T,
 * 2H]}.
 */
final class BenchEngines {

  static final int D = 64;
  static final int H = 128;

  private BenchEngines() {}

  /** The two fixture models: their label in the bench's rows and their files. */
  enum Net {
    BILSTM("bilstm", "model", "", 2),
    BIGRU("bigru", "gru", "gru_", 1);

    final String label;
    private final String base;
    private final String prefix;
    // states a one-way ONNX model takes and returns: (h, c) or h
    final int states;

    Net(String label, String base, String prefix, int states) {
      this.label = label;
      this.base = base;
      this.prefix = prefix;
      this.states = states;
    }

    Path keras(Path dir) {
      return dir.resolve(base + ".json");
    }

    Path onnx(Path dir) {
      return dir.resolve(base + ".onnx");
    }

    Path file(Path dir, String name) {
      return dir.resolve(prefix + name);
    }
  }

  /** Maps {@code x [n, t, D]} to {@code y [n, t, 2H]}. */
  interface Compute {
    float[] run(float[] x, int n, int t) throws Exception;
  }

  /** One way of computing the BiLSTM's outputs. Not thread-safe; close when done. */
  record Engine(String name, String mode, Compute compute, AutoCloseable resources)
      implements AutoCloseable {

    float[] run(float[] x, int n, int t) throws Exception {
      return compute.run(x, n, t);
    }

    @Override
    public void close() throws Exception {
      resources.close();
    }
  }

  /** The fixture files, copied out of the jar once. */
  static Path fixture() {
    try {
      return BundledFiles.unpack(
          "/bench",
          List.of(
              "model.json",
              "weights.bin",
              "model.onnx",
              "forward.onnx",
              "backward.onnx",
              "probe_x.npy",
              "probe_y.npy",
              "gru.json",
              "gru_weights.bin",
              "gru.onnx",
              "gru_forward.onnx",
              "gru_backward.onnx",
              "gru_probe_x.npy",
              "gru_probe_y.npy"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot unpack the bench fixture", e);
    }
  }

  // ------------------------------------------------------------------ BiStream

  /**
   * BiStream offline ({@code mode = null}) or streaming, on {@code threads} Java threads with one
   * BLAS thread each. Offline, each pair of threads runs the two directions of one group of
   * sequences side by side (what {@link Model#predict(List, Model.Backend,
   * java.util.concurrent.Executor)} offers); streaming, the sequences are split into {@code
   * threads} groups, the way Flink scales with slots.
   */
  static Engine bistream(Path dir, StreamConfig mode, int chunk, int threads)
      throws ModelFormatException {
    return bistream(dir, Net.BILSTM, mode, chunk, threads);
  }

  /** {@link #bistream(Path, StreamConfig, int, int)} on either fixture model. */
  static Engine bistream(Path dir, Net net, StreamConfig mode, int chunk, int threads)
      throws ModelFormatException {
    Model model = ModelFiles.load(net.keras(dir));
    // Built once, outside the timed calls, as the job builds one per operator.
    StreamingEngine streaming = mode == null ? null : new StreamingEngine(model, mode);
    boolean pairs = mode == null && threads > 1;
    int groups = pairs ? threads / 2 : threads;
    ExecutorService pool = Executors.newFixedThreadPool(groups);
    ExecutorService beside = pairs ? Executors.newFixedThreadPool(groups) : null;
    Compute compute =
        (x, n, t) -> {
          int parts = Math.min(groups, n);
          List<Future<float[]>> futures = new ArrayList<>();
          for (int p = 0; p < parts; p++) {
            int from = n * p / parts;
            int to = n * (p + 1) / parts;
            float[] xs = java.util.Arrays.copyOfRange(x, from * t * D, to * t * D);
            Tensor in = new Tensor(xs, new int[] {to - from, t, D});
            futures.add(
                pool.submit(
                    () ->
                        mode == null
                            ? model.predict(List.of(in), Model.Backend.ND4J, beside).get(0).data()
                            : OfflineStreaming.run(streaming, in, chunk).data()));
          }
          float[] y = new float[n * t * 2 * H];
          int at = 0;
          for (Future<float[]> f : futures) {
            float[] part = f.get();
            System.arraycopy(part, 0, y, at, part.length);
            at += part.length;
          }
          return y;
        };
    return new Engine(
        "bistream",
        mode == null ? "offline" : "lookahead",
        compute,
        () -> {
          pool.shutdownNow();
          if (beside != null) {
            beside.shutdownNow();
          }
        });
  }

  // ------------------------------------------------------------------ ONNX Runtime

  private static OrtSession session(OrtEnvironment env, Path file, int threads)
      throws OrtException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    options.setIntraOpNumThreads(threads);
    options.setInterOpNumThreads(1);
    options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
    return env.createSession(file.toString(), options);
  }

  /** ONNX Runtime Java on the whole sequences: one {@code run} per batch. */
  static Engine ortOffline(Path dir, int threads) throws OrtException {
    return ortOffline(dir, Net.BILSTM, threads);
  }

  /** {@link #ortOffline(Path, int)} on either fixture model. */
  static Engine ortOffline(Path dir, Net net, int threads) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession s = session(env, net.onnx(dir), threads);
    Compute compute =
        (x, n, t) -> {
          try (OnnxTensor in =
                  OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {n, t, D});
              OrtSession.Result r = s.run(Map.of("x", in))) {
            return floats(r.get(0));
          }
        };
    return new Engine("onnxruntime", "offline", compute, s);
  }

  /**
   * ONNX Runtime streaming the LC-BLSTM windows the way a user would: per chunk of C steps, the
   * forward direction runs over the chunk from the carried (h, c) and hands its final states back;
   * the backward direction runs over the time-reversed window of C + R steps from zero states and
   * its first C outputs are kept. The same windows as BiStream's lookahead(C, R).
   */
  static Engine ortLookahead(Path dir, int threads, int chunk, int lookahead) throws OrtException {
    return ortLookahead(dir, Net.BILSTM, threads, chunk, lookahead);
  }

  /** {@link #ortLookahead(Path, int, int, int)} on either fixture model (a GRU carries only h). */
  static Engine ortLookahead(Path dir, Net net, int threads, int chunk, int lookahead)
      throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession fwd = session(env, net.file(dir, "forward.onnx"), threads);
    OrtSession bwd = session(env, net.file(dir, "backward.onnx"), threads);
    Compute compute =
        (x, n, t) -> {
          float[] y = new float[n * t * 2 * H];
          float[][] carried = new float[net.states][n * H];
          float[][] zeros = new float[net.states][n * H];
          for (int s = 0; s < t; s += chunk) {
            int len = Math.min(chunk, t - s);
            int window = Math.min(t, s + chunk + lookahead) - s;
            float[][] f = runOneWay(env, fwd, window(x, n, t, s, len, false), n, len, carried);
            carried = java.util.Arrays.copyOfRange(f, 1, f.length);
            float[][] b = runOneWay(env, bwd, window(x, n, t, s, window, true), n, window, zeros);
            for (int r = 0; r < n; r++) {
              for (int k = 0; k < len; k++) {
                int out = ((r * t) + s + k) * 2 * H;
                System.arraycopy(f[0], (r * len + k) * H, y, out, H);
                // reversed window: step k of the window is row window - 1 - k
                System.arraycopy(b[0], (r * window + window - 1 - k) * H, y, out + H, H);
              }
            }
          }
          return y;
        };
    return new Engine(
        "onnxruntime",
        "lookahead",
        compute,
        () -> {
          fwd.close();
          bwd.close();
        });
  }

  /**
   * One direction over {@code xs [n, len, D]} from the states {@code (h0, c0)} of an LSTM or {@code
   * (h0)} of a GRU: {y, hn, cn} or {y, hn}.
   */
  private static float[][] runOneWay(
      OrtEnvironment env, OrtSession session, float[] xs, int n, int len, float[][] states)
      throws OrtException {
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      in.put("x", OnnxTensor.createTensor(env, FloatBuffer.wrap(xs), new long[] {n, len, D}));
      String[] names = {"h0", "c0"};
      for (int k = 0; k < states.length; k++) {
        in.put(
            names[k],
            OnnxTensor.createTensor(env, FloatBuffer.wrap(states[k]), new long[] {1, n, H}));
      }
      try (OrtSession.Result r = session.run(in)) {
        float[][] out = new float[1 + states.length][];
        for (int k = 0; k < out.length; k++) {
          out[k] = floats(r.get(k));
        }
        return out;
      }
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }

  /** Steps {@code [s, s + len)} of every sequence, optionally time-reversed. */
  private static float[] window(float[] x, int n, int t, int s, int len, boolean reversed) {
    float[] w = new float[n * len * D];
    for (int r = 0; r < n; r++) {
      for (int k = 0; k < len; k++) {
        int step = reversed ? s + len - 1 - k : s + k;
        System.arraycopy(x, (r * t + step) * D, w, (r * len + k) * D, D);
      }
    }
    return w;
  }

  private static float[] floats(ai.onnxruntime.OnnxValue v) {
    FloatBuffer b = ((OnnxTensor) v).getFloatBuffer();
    float[] a = new float[b.remaining()];
    b.get(a);
    return a;
  }

  // ------------------------------------------------------------------ DL4J

  /** DL4J's {@code Bidirectional(LSTM)} with the fixture's Keras weights. */
  static Engine dl4j(Path dir) throws ModelFormatException {
    MultiLayerConfiguration conf =
        new NeuralNetConfiguration.Builder()
            .dataType(DataType.FLOAT)
            .list()
            .layer(
                new Bidirectional(
                    Bidirectional.Mode.CONCAT,
                    new LSTM.Builder()
                        .nIn(D)
                        .nOut(H)
                        .activation(org.nd4j.linalg.activations.Activation.TANH)
                        .gateActivationFunction(org.nd4j.linalg.activations.Activation.SIGMOID)
                        .build()))
            .setInputType(InputType.recurrent(D))
            .build();
    MultiLayerNetwork net = new MultiLayerNetwork(conf);
    net.init();
    Map<String, NamedArray> keras = KerasFiles.tfjsWeights(dir.resolve("model.json"));
    for (String side : List.of("forward", "backward")) {
      String p = "0_" + side.charAt(0);
      String k = "bilstm/" + side + "_lstm/";
      net.setParam(p + "W", dl4jGates(keras.get(k + "kernel").data(), D));
      net.setParam(p + "RW", dl4jGates(keras.get(k + "recurrent_kernel").data(), H));
      net.setParam(p + "b", dl4jGates(keras.get(k + "bias").data(), 1));
    }
    Compute compute =
        (x, n, t) -> {
          // DL4J takes [n, D, T] and gives [n, 2H, T]
          INDArray in = Nd4j.create(x, new long[] {n, t, D}, 'c').permute(0, 2, 1).dup('c');
          return net.output(in).permute(0, 2, 1).dup('c').data().asFloat();
        };
    return new Engine("dl4j", "offline", compute, () -> {});
  }

  /** Keras gate blocks i, f, c, o reordered to DL4J's c, f, o, i; {@code [rows, 4H]}. */
  private static INDArray dl4jGates(float[] keras, int rows) {
    int[] from = {2, 1, 3, 0};
    float[] out = new float[keras.length];
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < 4; g++) {
        System.arraycopy(keras, r * 4 * H + from[g] * H, out, r * 4 * H + g * H, H);
      }
    }
    return Nd4j.create(out, new long[] {rows, 4L * H}, 'c');
  }
}
