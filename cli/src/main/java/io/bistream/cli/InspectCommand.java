package io.bistream.cli;

import io.bistream.core.model.Model;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code inspect}: format, layers, wiring and parameter counts of a model file. */
@Command(name = "inspect", description = "Shows a model's format, layers, shapes and parameters.")
final class InspectCommand implements Callable<Integer> {

  @Mixin ModelOptions modelOptions;

  @Override
  public Integer call() throws Exception {
    Model m = modelOptions.load();
    System.out.println(describe(m));
    return 0;
  }

  static String describe(Model m) {
    StringBuilder out = new StringBuilder();
    out.append("model    ").append(m.source().file()).append('\n');
    out.append("format   ")
        .append(m.source().format())
        .append(" (version ")
        .append(m.source().version())
        .append(")\n");
    out.append("inputs   ").append(m.inputs()).append('\n');
    out.append(
        String.format(
            "%-22s %-16s %-16s %10s  %s%n", "layer", "class", "output shape", "params", "config"));
    // Two traces with different open time lengths: the dimensions that differ follow T.
    List<List<int[]>> two = m.traceShapes(2);
    List<List<int[]>> three = m.traceShapes(3);
    for (int i = 0; i < m.nodes().size(); i++) {
      Model.Node n = m.nodes().get(i);
      List<String> shown = new ArrayList<>();
      for (int k = 0; k < two.get(i).size(); k++) {
        shown.add(shapeText(two.get(i).get(k), three.get(i).get(k)));
      }
      String shape = String.join(" ", shown);
      String from = n.inbound().stream().map(Object::toString).collect(Collectors.joining(", "));
      out.append(
          String.format(
              "%-22s %-16s %-16s %,10d  %s  <- %s%n",
              n.layer().name(),
              n.layer().kind(),
              shape,
              n.layer().parameterCount(),
              n.layer().describe(),
              from));
    }
    out.append(timeNote(m)).append('\n');
    out.append("outputs  ").append(m.outputs()).append('\n');
    out.append(String.format("params   %,d%n", m.parameterCount()));
    return out.toString();
  }

  /**
   * What the time column of the shapes means: the length the model fixes, or T where the model
   * leaves time open.
   */
  private static String timeNote(Model m) {
    List<Model.Input> sequences = m.inputs().stream().filter(Model.Input::hasTimeAxis).toList();
    String fixed =
        sequences.stream()
            .map(in -> in.shape()[0])
            .filter(t -> t >= 0)
            .distinct()
            .map(String::valueOf)
            .collect(Collectors.joining(", "));
    boolean open = sequences.stream().anyMatch(in -> in.shape()[0] < 0);
    return "(None = batch"
        + (fixed.isEmpty() ? "" : "; T = " + fixed + ", fixed by the model")
        + (open ? "; T = the time steps, which the model leaves open" : "")
        + ")";
  }

  /**
   * One output shape from its traces at 2 and 3 open time steps: a dimension that is 2 and 3 is
   * {@code T}, one that grows as k*T (a Flatten over time) is {@code kT}.
   */
  private static String shapeText(int[] atTwo, int[] atThree) {
    StringBuilder b = new StringBuilder("[None");
    for (int i = 1; i < atTwo.length; i++) {
      int a = atTwo[i];
      int c = atThree[i];
      String dim;
      if (a == c) {
        dim = String.valueOf(a);
      } else if (a % 2 == 0 && c % 3 == 0 && a / 2 == c / 3) {
        dim = a == 2 ? "T" : a / 2 + "T";
      } else {
        dim = "?";
      }
      b.append(',').append(dim);
    }
    return b.append(']').toString();
  }
}
