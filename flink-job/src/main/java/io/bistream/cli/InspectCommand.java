package io.bistream.cli;

import io.bistream.core.model.Model;
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
    List<List<int[]>> shapes = m.traceShapes();
    for (int i = 0; i < m.nodes().size(); i++) {
      Model.Node n = m.nodes().get(i);
      String shape =
          shapes.get(i).stream().map(s -> shapeText(s, m)).collect(Collectors.joining(" "));
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
    out.append("(None = batch; 2 = a time dimension the model leaves open)\n");
    out.append("outputs  ").append(m.outputs()).append('\n');
    out.append(String.format("params   %,d%n", m.parameterCount()));
    return out.toString();
  }

  private static String shapeText(int[] shape, Model m) {
    StringBuilder b = new StringBuilder("[None");
    for (int i = 1; i < shape.length; i++) {
      b.append(',').append(shape[i]);
    }
    return b.append(']').toString();
  }
}
