package io.bistream.cli;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code demo}: the main job on the embedded default. Until the Flink job lands this runs the
 * bundled stacked BiLSTM offline over a generated batch of sequences and says so.
 */
@Command(name = "demo", description = "Runs the bundled model over a generated stream.")
final class DemoCommand implements Callable<Integer> {

  @Option(names = "--sequences", defaultValue = "64", description = "number of sequences")
  int sequences;

  @Option(names = "--steps", defaultValue = "256", description = "steps per sequence")
  int steps;

  @Option(
      names = "--report",
      defaultValue = "bistream-demo-report.txt",
      description = "report file")
  Path report;

  @Override
  public Integer call() throws Exception {
    System.out.println(
        "BiStream demo: the Flink/Kafka job is not built yet (see the roadmap issues);"
            + " this run is the offline model core on the bundled model.");
    Path dir = extractBundledModel();
    Model model = ModelFiles.load(dir.resolve("model.json"));
    System.out.print(InspectCommand.describe(model));
    int features = model.inputs().get(0).shape()[1];
    Random rnd = new Random(7);
    int batch = 16;
    long start = System.nanoTime();
    long done = 0;
    Progress progress = new Progress("sequences", sequences);
    for (int first = 0; first < sequences; first += batch) {
      int n = Math.min(batch, sequences - first);
      float[] x = new float[n * steps * features];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      model.predict(List.of(new Tensor(x, new int[] {n, steps, features})), Model.Backend.ND4J);
      done += n;
      progress.update(done);
    }
    progress.finish();
    double seconds = (System.nanoTime() - start) / 1e9;
    String summary =
        String.format(
            "offline: %d sequences x %d steps in %.2f s = %,.0f sample-steps/s (batch %d, mode"
                + " offline)%n",
            sequences, steps, seconds, sequences * (double) steps / seconds, batch);
    System.out.print(summary);
    Files.writeString(report, InspectCommand.describe(model) + summary);
    System.out.println("report written to " + report.toAbsolutePath());
    return 0;
  }

  private static Path extractBundledModel() throws IOException {
    Path dir = Files.createTempDirectory("bistream-demo");
    dir.toFile().deleteOnExit();
    for (String name : List.of("model.json", "weights.bin")) {
      try (InputStream in = DemoCommand.class.getResourceAsStream("/demo/" + name)) {
        if (in == null) {
          throw new IOException("bundled demo model resource /demo/" + name + " is missing");
        }
        Path target = dir.resolve(name);
        Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        target.toFile().deleteOnExit();
      }
    }
    return dir;
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
      int filled = (int) (width * done / total);
      System.err.printf(
          "\r[%s%s] %d/%d %s", "#".repeat(filled), " ".repeat(width - filled), done, total, what);
    }

    void finish() {
      System.err.println();
    }
  }
}
