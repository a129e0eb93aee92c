package io.bistream.core.stream;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.GruCell;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.LstmCell;
import io.bistream.core.layers.Masking;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.layers.SimpleRnnCell;
import io.bistream.core.model.Model;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Random sequence models for property tests: stacks of (Bi)LSTM/GRU/RNN with heads. */
final class RandomModels {

  private RandomModels() {}

  static float[] uniform(Random rnd, int size, double scale) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    }
    return a;
  }

  static RecurrentCell cell(Random rnd, int in) {
    int u = 2 + rnd.nextInt(4);
    return switch (rnd.nextInt(4)) {
      case 0 ->
          new LstmCell(
              in,
              u,
              Activation.TANH,
              Activation.SIGMOID,
              uniform(rnd, in * 4 * u, 0.6),
              uniform(rnd, u * 4 * u, 0.6),
              uniform(rnd, 4 * u, 0.3));
      case 1 ->
          new GruCell(
              in,
              u,
              Activation.TANH,
              Activation.SIGMOID,
              true,
              uniform(rnd, in * 3 * u, 0.6),
              uniform(rnd, u * 3 * u, 0.6),
              uniform(rnd, 3 * u, 0.3),
              uniform(rnd, 3 * u, 0.3));
      case 2 ->
          new GruCell(
              in,
              u,
              Activation.TANH,
              Activation.HARD_SIGMOID_KERAS2,
              false,
              uniform(rnd, in * 3 * u, 0.6),
              uniform(rnd, u * 3 * u, 0.6),
              uniform(rnd, 3 * u, 0.3),
              null);
      default ->
          new SimpleRnnCell(
              in,
              u,
              Activation.TANH,
              uniform(rnd, in * u, 0.6),
              uniform(rnd, u * u, 0.6),
              uniform(rnd, u, 0.3));
    };
  }

  /**
   * A chain: optional Masking, 1-3 recurrent layers (mostly Bidirectional), an optional Dense head;
   * with {@code lastStep} the top recurrent layer returns its last step only.
   */
  static Model chain(long seed, int inputWidth, boolean lastStep, boolean masking) {
    Random rnd = new Random(seed);
    List<Layer> layers = new ArrayList<>();
    if (masking) {
      layers.add(new Masking("mask", 0f));
    }
    int width = inputWidth;
    int depth = 1 + rnd.nextInt(3);
    for (int d = 0; d < depth; d++) {
      boolean top = d == depth - 1;
      boolean seq = !(top && lastStep);
      RecurrentCell f = cell(rnd, width);
      if (rnd.nextInt(4) == 0 && !(top && lastStep && d == 0 && rnd.nextBoolean())) {
        layers.add(new Recurrent("rnn" + d, f, seq, false, false, false));
        width = f.units();
        continue;
      }
      RecurrentCell b = f;
      Bidirectional.MergeMode merge =
          Bidirectional.MergeMode.values()[rnd.nextInt(4)]; // concat, sum, mul, ave
      if (merge == Bidirectional.MergeMode.CONCAT) {
        b = cell(rnd, width); // may differ in kind and units
      } else {
        while (b.units() != f.units() || b == f) {
          b = cell(rnd, width);
        }
      }
      layers.add(
          new Bidirectional(
              "bi" + d,
              new Recurrent("bi" + d + "/f", f, seq, false, false, false),
              new Recurrent("bi" + d + "/b", b, seq, false, true, false),
              merge));
      width = merge == Bidirectional.MergeMode.CONCAT ? f.units() + b.units() : f.units();
    }
    if (rnd.nextBoolean()) {
      int out = 2 + rnd.nextInt(3);
      layers.add(
          new Dense(
              "head",
              "Dense",
              width,
              out,
              uniform(rnd, width * out, 0.7),
              uniform(rnd, out, 0.2),
              rnd.nextBoolean() ? Activation.SOFTMAX : Activation.LINEAR));
    }
    List<Model.Node> nodes = new ArrayList<>();
    String previous = "x";
    for (Layer l : layers) {
      nodes.add(new Model.Node(l, 0, List.of(new Model.TensorRef(previous, 0, 0))));
      previous = l.name();
    }
    return new Model(
        new Model.Source("random-" + seed, "generated", "-"),
        List.of(new Model.Input("x", new int[] {-1, inputWidth}, false)),
        nodes,
        List.of(new Model.TensorRef(previous, 0, 0)));
  }
}
