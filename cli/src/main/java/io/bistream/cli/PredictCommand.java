package io.bistream.cli;

import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.npy.NpyWriter;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code predict}: runs a model over a {@code .npy} batch of sequences. */
@Command(
    name = "predict",
    description = {
      "Runs a model over X.npy and writes Y.npy.",
      "X: float32 [N,T,D] (or [T,D]), or token ids [N,T] for Embedding models",
      "   (int32/int64, or float32 holding integers, each below the vocabulary size).",
      "Y: float32 [N,T,F], or [N,F] when the model ends in a last-step layer."
    })
final class PredictCommand implements Callable<Integer> {

  /** {@code --mode} for the whole model at once, {@link Model#predict}. */
  static final String OFFLINE = "offline";

  @Mixin ModelOptions modelOptions;

  @Option(names = "--input", required = true, description = "X.npy")
  Path input;

  @Option(names = "--output", required = true, description = "Y.npy")
  Path output;

  @Option(
      names = "--mode",
      defaultValue = OFFLINE,
      converter = ModeOrOffline.class,
      completionCandidates = ModeNames.class,
      description = "${COMPLETION-CANDIDATES}")
  StreamConfig.Mode mode; // null: offline

  @Option(
      names = "--chunk",
      defaultValue = "64",
      description =
          "chunk length C: steps per arrival, and the chunk of lookahead/stateful/context")
  int chunk;

  @Option(
      names = {"--lookahead", "--right-context"},
      defaultValue = "0",
      description = "R: future steps a chunk's window reaches (lookahead and context modes)")
  int lookahead;

  @Option(
      names = "--left-context",
      defaultValue = "0",
      description = "L: past steps a chunk's window reaches (context mode)")
  int leftContext;

  @Override
  public Integer call() throws Exception {
    if (mode == null && leftContext != 0) {
      // the streaming modes' StreamConfig refuses it the same way
      throw new IllegalArgumentException(
          "left-context applies to context mode only; found left-context "
              + leftContext
              + " with mode offline");
    }
    Model m = modelOptions.load();
    Tensor x = readInput(input, m);
    if (m.inputs().size() > 1) {
      throw new IllegalArgumentException(
          modelOptions.model
              + " takes "
              + m.inputs().size()
              + " inputs "
              + m.inputs()
              + "; predict feeds only the sequence input");
    }
    List<Tensor> ys =
        mode == null
            ? offline(m, x)
            : List.of(OfflineStreaming.run(new StreamingEngine(m, streamConfig()), x, chunk));
    for (int k = 0; k < ys.size(); k++) {
      Path target = k == 0 ? output : sibling(output, "_" + k);
      Tensor y = ys.get(k);
      NpyWriter.write(target, NpyArray.ofFloats(y.shape(), y.data()));
      System.out.println(
          "wrote "
              + target
              + " "
              + Arrays.toString(y.shape())
              + " (output "
              + m.outputs().get(k)
              + ")");
    }
    return 0;
  }

  // With a second core, the backward directions run on it beside the forward ones.
  private static List<Tensor> offline(Model m, Tensor x) {
    if (Runtime.getRuntime().availableProcessors() < 2) {
      return m.predict(List.of(x), Model.Backend.ND4J);
    }
    ExecutorService beside = Executors.newSingleThreadExecutor();
    try {
      return m.predict(List.of(x), Model.Backend.ND4J, beside);
    } finally {
      beside.shutdownNow();
    }
  }

  StreamConfig streamConfig() {
    return new StreamConfig(
        mode, chunk, lookahead, Long.MAX_VALUE, StreamConfig.Overflow.REJECT, leftContext);
  }

  /**
   * Reads X as the model's first input: token ids as any integer dtype or integral floats, features
   * as floats; a single sequence gets a batch of one (the model input decides, see {@link
   * Model.Input#tensorFrom}).
   */
  static Tensor readInput(Path file, Model m) throws Exception {
    return m.inputs().get(0).tensorFrom(NpyReader.read(file), file.toString());
  }

  private static Path sibling(Path p, String suffix) {
    String name = p.getFileName().toString();
    int dot = name.lastIndexOf('.');
    String stem = dot > 0 ? name.substring(0, dot) : name;
    return p.resolveSibling(stem + suffix + (dot > 0 ? name.substring(dot) : ""));
  }

  /** {@value #OFFLINE} (null), or a streaming mode by its name. */
  static final class ModeOrOffline implements CommandLine.ITypeConverter<StreamConfig.Mode> {
    @Override
    public StreamConfig.Mode convert(String value) {
      if (value.equalsIgnoreCase(OFFLINE)) {
        return null;
      }
      try {
        return StreamConfig.Mode.named(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(
            "expected "
                + OFFLINE
                + " or a streaming mode, one of "
                + StreamConfig.Mode.userNames()
                + "; found '"
                + value
                + "'");
      }
    }
  }

  /** {@value #OFFLINE} and the streaming modes' names, for help. */
  static final class ModeNames implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      List<String> names = new java.util.ArrayList<>(List.of(OFFLINE));
      names.addAll(StreamConfig.Mode.userNames());
      return names.iterator();
    }
  }
}
