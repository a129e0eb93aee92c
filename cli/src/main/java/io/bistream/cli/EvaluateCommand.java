package io.bistream.cli;

import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code evaluate}: how far lookahead, stateful and context streaming deviate from offline
 * predictions, for a chunk length, a list of lookaheads (right contexts) and a list of left
 * contexts, as a table and a plot.
 */
@Command(
    name = "evaluate",
    description =
        "Deviation of lookahead/stateful/context streaming from offline, over a grid of R (and L).")
final class EvaluateCommand implements Callable<Integer> {

  @Mixin ModelOptions modelOptions;

  @Option(names = "--input", required = true, description = "X.npy as for predict")
  Path input;

  @Option(names = "--chunk", defaultValue = "16", description = "chunk length C")
  int chunk;

  @Option(
      names = "--lookahead",
      defaultValue = "0,4,16,64",
      split = ",",
      description = "lookaheads R to evaluate (comma-separated): lookahead and context modes")
  int[] lookaheads;

  @Option(
      names = "--left-context",
      defaultValue = "16",
      split = ",",
      description = "left contexts L of context mode (comma-separated); each with every R")
  int[] leftContexts;

  @Option(names = "--plot", defaultValue = "bistream-evaluate.png", description = "PNG to write")
  Path plot;

  /** Deviation of one streaming configuration from offline. */
  record Row(
      StreamConfig.Mode mode,
      int l,
      int r,
      double maxAbs,
      double meanAbs,
      double argmaxAgreement) {}

  @Override
  public Integer call() throws Exception {
    Model model = modelOptions.load();
    Tensor x = PredictCommand.readInput(input, model);
    Tensor offline = model.predict(List.of(x), Model.Backend.ND4J).get(0);
    List<StreamConfig> grid = new ArrayList<>();
    for (int r : lookaheads) {
      grid.add(StreamConfig.lookahead(chunk, r));
    }
    grid.add(StreamConfig.stateful(chunk));
    if (new StreamingEngine(model, StreamConfig.exact()).lastStepModel()) {
      System.out.println(
          "context mode skipped: the model releases one output per sequence (a last-step layer),"
              + " context mode's outputs are per step");
    } else {
      for (int l : leftContexts) {
        for (int r : lookaheads) {
          grid.add(StreamConfig.context(l, chunk, r));
        }
      }
    }
    List<Row> rows = new ArrayList<>();
    DemoCommand.Progress progress = new DemoCommand.Progress("configurations", grid.size());
    for (int i = 0; i < grid.size(); i++) {
      StreamConfig cfg = grid.get(i);
      Tensor y = OfflineStreaming.run(new StreamingEngine(model, cfg), x, chunk);
      rows.add(compare(cfg, y, offline));
      progress.update(i + 1);
    }
    progress.finish();
    System.out.printf(
        "model %s, %d sequences x %d steps, chunk C=%d%n",
        model.source().file(), x.dim(0), x.dim(1), chunk);
    System.out.printf(
        "%-10s %6s %6s %14s %14s %10s%n", "mode", "L", "R", "max |dev|", "mean |dev|", "argmax=");
    for (Row r : rows) {
      System.out.printf(
          Locale.ROOT,
          "%-10s %6s %6s %14.3e %14.3e %9.2f%%%n",
          r.mode(),
          r.mode() == StreamConfig.Mode.CONTEXT ? String.valueOf(r.l()) : "-",
          r.mode() == StreamConfig.Mode.STATEFUL ? "-" : String.valueOf(r.r()),
          r.maxAbs(),
          r.meanAbs(),
          100 * r.argmaxAgreement());
    }
    writePlot(rows);
    System.out.println("plot written to " + plot.toAbsolutePath());
    return 0;
  }

  static Row compare(StreamConfig cfg, Tensor y, Tensor offline) {
    float[] a = y.data();
    float[] b = offline.data();
    double max = 0;
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      double d = Math.abs(a[i] - b[i]);
      max = Math.max(max, d);
      sum += d;
    }
    int f = offline.dim(-1);
    int rows = b.length / f;
    int agree = 0;
    for (int r = 0; r < rows; r++) {
      agree += argmax(a, r * f, f) == argmax(b, r * f, f) ? 1 : 0;
    }
    return new Row(
        cfg.mode(),
        cfg.leftContext(),
        cfg.lookahead(),
        max,
        sum / a.length,
        rows == 0 ? 1 : agree / (double) rows);
  }

  private static int argmax(float[] a, int off, int len) {
    int best = 0;
    for (int i = 1; i < len; i++) {
      if (a[off + i] > a[off + best]) {
        best = i;
      }
    }
    return best;
  }

  private void writePlot(List<Row> rows) throws Exception {
    XYChart chart =
        new XYChartBuilder()
            .width(720)
            .height(420)
            .title("Deviation from offline, chunk C=" + chunk)
            .xAxisTitle("lookahead / right context R (steps)")
            .yAxisTitle("|streaming - offline|")
            .build();
    List<Double> r = new ArrayList<>();
    List<Double> max = new ArrayList<>();
    List<Double> mean = new ArrayList<>();
    double stateful = Double.NaN;
    // context mode: mean deviation over R, one series per left context L
    Map<Integer, List<Row>> context = new TreeMap<>();
    for (Row row : rows) {
      if (row.mode() == StreamConfig.Mode.STATEFUL) {
        stateful = Math.max(row.meanAbs(), 1e-12);
        continue;
      }
      if (row.mode() == StreamConfig.Mode.CONTEXT) {
        context.computeIfAbsent(row.l(), k -> new ArrayList<>()).add(row);
        continue;
      }
      r.add((double) row.r());
      max.add(Math.max(row.maxAbs(), 1e-12));
      mean.add(Math.max(row.meanAbs(), 1e-12));
    }
    chart.getStyler().setYAxisLogarithmic(true);
    chart.addSeries("lookahead max", r, max).setMarker(SeriesMarkers.CIRCLE);
    chart.addSeries("lookahead mean", r, mean).setMarker(SeriesMarkers.DIAMOND);
    if (!Double.isNaN(stateful) && !r.isEmpty()) {
      chart
          .addSeries(
              "stateful mean", List.of(r.get(0), r.get(r.size() - 1)), List.of(stateful, stateful))
          .setMarker(SeriesMarkers.NONE);
    }
    for (Map.Entry<Integer, List<Row>> e : context.entrySet()) {
      chart
          .addSeries(
              "context mean, L=" + e.getKey(),
              e.getValue().stream().map(row -> (double) row.r()).toList(),
              e.getValue().stream().map(row -> Math.max(row.meanAbs(), 1e-12)).toList())
          .setMarker(SeriesMarkers.SQUARE);
    }
    BitmapEncoder.saveBitmap(chart, plot.toString(), BitmapEncoder.BitmapFormat.PNG);
  }
}
