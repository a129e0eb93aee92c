package io.bistream.cli;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.LstmCell;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench}: offline throughput of a BiLSTM (D=64, H=128 per direction, T=256, concat) in
 * sample-steps/s, next to the machine's SGEMM GFLOP/s measured in the same run, with the plain Java
 * reference path as the side-by-side peer. Rounds are interleaved; the median is reported.
 */
@Command(
    name = "bench",
    description = "BiLSTM throughput: offline vs SGEMM roofline, streaming vs offline, same run.")
final class BenchCommand implements Callable<Integer> {

  private static final int D = 64;
  private static final int H = 128;
  // One sample-step: 2 directions x 4 gates x H x (D + H) multiply-adds x 2 FLOPs.
  private static final double FLOPS_PER_STEP = 2.0 * 4 * H * (D + H) * 2;

  @Option(names = "--steps", defaultValue = "256", description = "T")
  int steps;

  @Option(names = "--batches", defaultValue = "1,64", split = ",", description = "N values")
  int[] batches;

  @Option(names = "--rounds", defaultValue = "3", description = "timed rounds (median)")
  int rounds;

  @Option(names = "--chunk", defaultValue = "64", description = "C for the streaming rows")
  int chunk;

  @Override
  public Integer call() {
    double gflops = sgemmGflops();
    System.out.printf(
        "SGEMM 1024^3 via Nd4j.gemm: %.1f GFLOP/s (OMP_NUM_THREADS=%s)%n",
        gflops, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));
    Model model = bilstm(new Random(1));
    System.out.printf(
        "%-10s %5s %16s %9s %8s %12s%n",
        "engine", "N", "sample-steps/s", "GFLOP/s", "%SGEMM", "vs reference");
    for (int n : batches) {
      Tensor x = input(n, new Random(2));
      List<Double> fast = new ArrayList<>();
      List<Double> reference = new ArrayList<>();
      time(model, x, Model.Backend.ND4J); // warm-up
      time(model, x, Model.Backend.REFERENCE);
      for (int r = 0; r < rounds; r++) {
        fast.add(time(model, x, Model.Backend.ND4J));
        reference.add(time(model, x, Model.Backend.REFERENCE));
      }
      double f = n * (double) steps / median(fast);
      double ref = n * (double) steps / median(reference);
      row("nd4j", n, f, gflops, f / ref);
      row("reference", n, ref, gflops, 1.0);
    }
    System.out.printf(
        "%nstreaming, chunks of C=%d steps, all sequences advanced together, vs offline%n", chunk);
    System.out.printf(
        "%-16s %5s %16s %9s %12s%n", "mode", "N", "sample-steps/s", "GFLOP/s", "vs offline");
    for (int n : batches) {
      Tensor x = input(n, new Random(3));
      List<StreamConfig> modes =
          List.of(StreamConfig.exact(), StreamConfig.lookahead(chunk, chunk));
      List<Double> offline = new ArrayList<>();
      List<List<Double>> streamed = new ArrayList<>();
      for (StreamConfig ignored : modes) {
        streamed.add(new ArrayList<>());
      }
      for (int r = 0; r <= rounds; r++) { // round 0 warms up
        double o = time(model, x, Model.Backend.ND4J);
        if (r > 0) {
          offline.add(o);
        }
        for (int k = 0; k < modes.size(); k++) {
          StreamingEngine engine = new StreamingEngine(model, modes.get(k));
          long start = System.nanoTime();
          OfflineStreaming.run(engine, x, chunk);
          if (r > 0) {
            streamed.get(k).add((System.nanoTime() - start) / 1e9);
          }
        }
      }
      double off = n * (double) steps / median(offline);
      streamRow("offline", n, off, off);
      streamRow("exact", n, n * (double) steps / median(streamed.get(0)), off);
      streamRow("lookahead R=" + chunk, n, n * (double) steps / median(streamed.get(1)), off);
    }
    return 0;
  }

  private static void streamRow(String mode, int n, double stepsPerS, double offline) {
    System.out.printf(
        "%-16s %5d %,16.0f %9.2f %11.2fx%n",
        mode, n, stepsPerS, stepsPerS * FLOPS_PER_STEP / 1e9, stepsPerS / offline);
  }

  private static void row(String engine, int n, double stepsPerS, double sgemm, double ratio) {
    double achieved = stepsPerS * FLOPS_PER_STEP / 1e9;
    System.out.printf(
        "%-10s %5d %,16.0f %9.2f %7.1f%% %11.2fx%n",
        engine, n, stepsPerS, achieved, 100 * achieved / sgemm, ratio);
  }

  private static double time(Model model, Tensor x, Model.Backend backend) {
    long start = System.nanoTime();
    model.predict(List.of(x), backend);
    return (System.nanoTime() - start) / 1e9;
  }

  private static double median(List<Double> values) {
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return v[v.length / 2];
  }

  private static double sgemmGflops() {
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

  private Tensor input(int n, Random rnd) {
    float[] x = new float[n * steps * D];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return new Tensor(x, new int[] {n, steps, D});
  }

  private static Model bilstm(Random rnd) {
    Recurrent forward = new Recurrent("fwd", lstm(rnd), true, false, false, false);
    Recurrent backward = new Recurrent("bwd", lstm(rnd), true, false, true, false);
    Bidirectional bi =
        new Bidirectional("bilstm", forward, backward, Bidirectional.MergeMode.CONCAT);
    return new Model(
        new Model.Source("generated BiLSTM D=64 H=128", "bench", "-"),
        List.of(new Model.Input("x", new int[] {-1, D}, false)),
        List.of(new Model.Node(bi, 0, List.of(new Model.TensorRef("x", 0, 0)))),
        List.of(new Model.TensorRef("bilstm", 0, 0)));
  }

  private static LstmCell lstm(Random rnd) {
    return new LstmCell(
        D,
        H,
        Activation.TANH,
        Activation.SIGMOID,
        uniform(rnd, D * 4 * H, 0.1),
        uniform(rnd, H * 4 * H, 0.1),
        uniform(rnd, 4 * H, 0.1));
  }

  private static float[] uniform(Random rnd, int size, double scale) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    }
    return a;
  }

  @Override
  public String toString() {
    return "bench " + steps + " " + Arrays.toString(batches);
  }
}
