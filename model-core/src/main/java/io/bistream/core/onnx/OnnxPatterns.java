package io.bistream.core.onnx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import onnx.Onnx;

/**
 * Finds the multi-node forms in which {@code torch.onnx.export} writes layers ONNX has no single op
 * for (at the opsets torch 1.13 writes): LayerNorm before opset 17, and GELU. A form is matched by
 * structure only, as a whole: every node of it consumed by the next one alone; the constants it
 * needs (epsilon, the exponent 2, sqrt(2), 0.5, ...) are checked by the importer when it maps the
 * last node. A node that starts such a form but does not complete it is recorded with the reason,
 * so the importer refuses it saying which step differs instead of mapping part of it.
 *
 * <ul>
 *   <li>LayerNorm: {@code m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); y = Div(d,
 *       Sqrt(Add(v, eps)))}, then optionally {@code Mul(y, weight)} and {@code Add(., bias)}.
 *   <li>GELU (exact): {@code Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)}.
 *   <li>GELU (tanh): {@code Mul(0.5, Mul(x, Add(1, Tanh(Mul(c, Add(x, Mul(0.044715, Mul(x, Mul(x,
 *       x)))))))))} with {@code c = sqrt(2 / pi)}.
 * </ul>
 */
final class OnnxPatterns {

  enum Kind {
    LAYER_NORM,
    GELU,
    GELU_TANH
  }

  /**
   * A matched form: its data input, the node indices it covers, its last node, and the names of the
   * constant inputs by role ({@code epsilon}, {@code exponent}, {@code weight}, {@code bias},
   * {@code sqrt2}, {@code one}, {@code half}, {@code cube}, {@code scale}) and the ReduceMean
   * nodes.
   */
  record Match(
      Kind kind,
      String input,
      Set<Integer> nodes,
      int last,
      Map<String, String> constants,
      List<Onnx.NodeProto> reductions) {}

  static final String LAYER_NORM_FORM =
      "a decomposed LayerNorm (ReduceMean, Sub, Pow 2, ReduceMean, Add epsilon, Sqrt, Div, then"
          + " optionally Mul weight and Add bias)";
  static final String GELU_FORM =
      "GELU as torch exports it (Div by sqrt(2), Erf, Add 1, Mul by x, Mul 0.5)";
  static final String GELU_TANH_FORM =
      "GELU(approximate='tanh') as torch exports it (x * x * x, * 0.044715, + x, * sqrt(2/pi),"
          + " Tanh, + 1, * x, * 0.5)";

  private final List<Onnx.NodeProto> nodes;
  private final Map<String, Integer> producer = new HashMap<>();
  private final Map<String, List<Integer>> consumers = new HashMap<>();
  private final Set<String> graphOutputs = new HashSet<>();
  private final Set<String> constants = new HashSet<>();
  private final Map<Integer, Match> byNode = new HashMap<>();
  private final Map<Integer, String> failures = new HashMap<>();

  OnnxPatterns(Onnx.GraphProto graph) {
    this.nodes = graph.getNodeList();
    graph.getInitializerList().forEach(t -> constants.add(t.getName()));
    graph.getOutputList().forEach(o -> graphOutputs.add(o.getName()));
    for (int i = 0; i < nodes.size(); i++) {
      Onnx.NodeProto n = nodes.get(i);
      for (String out : n.getOutputList()) {
        producer.put(out, i);
      }
      if (n.getOpType().equals("Constant")) {
        constants.addAll(n.getOutputList());
      }
      for (String in : new HashSet<>(n.getInputList())) {
        consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
      }
    }
    for (int i = 0; i < nodes.size(); i++) {
      String op = nodes.get(i).getOpType();
      try {
        Match m =
            switch (op) {
              case "ReduceMean" -> layerNorm(i);
              case "Erf" -> gelu(i);
              case "Mul" -> isSquare(nodes.get(i)) ? geluTanh(i) : null;
              default -> null;
            };
        if (m != null) {
          m.nodes().forEach(k -> byNode.put(k, m));
        }
      } catch (Mismatch e) {
        failures.put(i, e.getMessage());
      }
    }
  }

  /** The matched form node {@code i} belongs to, or null. */
  Match match(int i) {
    return byNode.get(i);
  }

  /**
   * Why node {@code i}, which starts a form, is not one (unless it is part of another match), or
   * null.
   */
  String failure(int i) {
    return byNode.containsKey(i) ? null : failures.get(i);
  }

  // ---------------------------------------------------------------- the forms

  private Match layerNorm(int first) throws Mismatch {
    Set<Integer> covered = new HashSet<>();
    Map<String, String> c = new HashMap<>();
    Onnx.NodeProto r1 = nodes.get(first);
    covered.add(first);
    String x = r1.getInput(0);
    if (constants.contains(x)) {
      return null; // folded as a constant
    }
    String form = "starts " + LAYER_NORM_FORM + " but ";
    try {
      Onnx.NodeProto sub = next(r1, "Sub", covered);
      if (!sub.getInput(0).equals(x)) {
        throw new Mismatch("Sub " + label(sub) + " subtracts the mean from another tensor");
      }
      List<Integer> uses = uses(sub);
      Onnx.NodeProto pow = null;
      Onnx.NodeProto div = null;
      for (int k : uses) {
        Onnx.NodeProto u = nodes.get(k);
        if (u.getOpType().equals("Pow") && u.getInput(0).equals(sub.getOutput(0))) {
          pow = u;
          covered.add(k);
        } else if (u.getOpType().equals("Div") && u.getInput(0).equals(sub.getOutput(0))) {
          div = u;
        }
      }
      if (uses.size() != 2 || pow == null || div == null) {
        throw new Mismatch(
            "the output of "
                + label(sub)
                + " is consumed by "
                + ops(uses)
                + ", expected Pow and Div");
      }
      c.put("exponent", pow.getInput(1));
      Onnx.NodeProto r2 = next(pow, "ReduceMean", covered);
      Onnx.NodeProto add = next(r2, "Add", covered);
      c.put("epsilon", other(add, r2.getOutput(0)));
      Onnx.NodeProto sqrt = next(add, "Sqrt", covered);
      Onnx.NodeProto d2 = next(sqrt, "Div", covered);
      if (d2 != div || !div.getInput(1).equals(sqrt.getOutput(0))) {
        throw new Mismatch(label(d2) + " does not divide the centred input by the Sqrt");
      }
      Onnx.NodeProto last = div;
      Onnx.NodeProto mul = single(div, "Mul");
      if (mul != null && constants.contains(other(mul, div.getOutput(0)))) {
        covered.add(producer.get(mul.getOutput(0)));
        c.put("weight", other(mul, div.getOutput(0)));
        last = mul;
        Onnx.NodeProto bias = single(mul, "Add");
        if (bias != null && constants.contains(other(bias, mul.getOutput(0)))) {
          covered.add(producer.get(bias.getOutput(0)));
          c.put("bias", other(bias, mul.getOutput(0)));
          last = bias;
        }
      }
      return new Match(
          Kind.LAYER_NORM, x, covered, producer.get(last.getOutput(0)), c, List.of(r1, r2));
    } catch (Mismatch e) {
      throw new Mismatch(form + e.getMessage());
    }
  }

  private Match gelu(int erfIndex) throws Mismatch {
    Onnx.NodeProto erf = nodes.get(erfIndex);
    String form =
        "operator Erf is not supported on its own, only inside " + GELU_FORM + ", and here ";
    try {
      Integer at = producer.get(erf.getInput(0));
      Onnx.NodeProto div = at == null ? null : nodes.get(at);
      if (div == null || !div.getOpType().equals("Div")) {
        throw new Mismatch(
            "its input comes from "
                + (div == null ? "the graph input" : div.getOpType() + " " + label(div))
                + ", expected Div by sqrt(2)");
      }
      Set<Integer> covered = new HashSet<>(List.of(at, erfIndex));
      if (uses(div).size() != 1) {
        throw new Mismatch("the output of " + label(div) + " is used by other nodes too");
      }
      String x = div.getInput(0);
      Map<String, String> c = new HashMap<>();
      c.put("sqrt2", div.getInput(1));
      Onnx.NodeProto add = next(erf, "Add", covered);
      c.put("one", other(add, erf.getOutput(0)));
      Onnx.NodeProto m1 = next(add, "Mul", covered);
      String m1Other = other(m1, add.getOutput(0));
      Onnx.NodeProto m2 = next(m1, "Mul", covered);
      String m2Other = other(m2, m1.getOutput(0));
      if (m1Other.equals(x) && constants.contains(m2Other)) {
        c.put("half", m2Other);
      } else if (m2Other.equals(x) && constants.contains(m1Other)) {
        c.put("half", m1Other);
      } else {
        throw new Mismatch(
            "the two Mul nodes " + label(m1) + ", " + label(m2) + " are not x and 0.5");
      }
      return new Match(Kind.GELU, x, covered, producer.get(m2.getOutput(0)), c, List.of());
    } catch (Mismatch e) {
      throw new Mismatch(form + e.getMessage());
    }
  }

  private static boolean isSquare(Onnx.NodeProto n) {
    return n.getInputCount() == 2 && n.getInput(0).equals(n.getInput(1));
  }

  private Match geluTanh(int first) throws Mismatch {
    Onnx.NodeProto sq = nodes.get(first);
    String x = sq.getInput(0);
    if (constants.contains(x)) {
      return null;
    }
    Set<Integer> covered = new HashSet<>(List.of(first));
    Map<String, String> c = new HashMap<>();
    try {
      Onnx.NodeProto cube = next(sq, "Mul", covered);
      expect(other(cube, sq.getOutput(0)).equals(x), cube, "x * x * x");
      Onnx.NodeProto scaled = next(cube, "Mul", covered);
      c.put("cube", constant(scaled, cube.getOutput(0)));
      Onnx.NodeProto inner = next(scaled, "Add", covered);
      expect(other(inner, scaled.getOutput(0)).equals(x), inner, "x + 0.044715 x^3");
      Onnx.NodeProto times = next(inner, "Mul", covered);
      c.put("scale", constant(times, inner.getOutput(0)));
      Onnx.NodeProto tanh = next(times, "Tanh", covered);
      Onnx.NodeProto plus = next(tanh, "Add", covered);
      c.put("one", constant(plus, tanh.getOutput(0)));
      Onnx.NodeProto byX = next(plus, "Mul", covered);
      expect(other(byX, plus.getOutput(0)).equals(x), byX, "x * (1 + tanh(...))");
      Onnx.NodeProto half = next(byX, "Mul", covered);
      c.put("half", constant(half, byX.getOutput(0)));
      return new Match(Kind.GELU_TANH, x, covered, producer.get(half.getOutput(0)), c, List.of());
    } catch (Mismatch e) {
      throw new Mismatch(
          "Mul of a tensor by itself is supported only as the start of "
              + GELU_TANH_FORM
              + ", and here "
              + e.getMessage());
    }
  }

  // ---------------------------------------------------------------- steps

  /** The one consumer of {@code n}'s output, which must be a {@code op} node; adds it. */
  private Onnx.NodeProto next(Onnx.NodeProto n, String op, Set<Integer> covered) throws Mismatch {
    String out = n.getOutput(0);
    List<Integer> uses = uses(n);
    if (graphOutputs.contains(out)) {
      throw new Mismatch("the output of " + label(n) + " is a graph output, expected only " + op);
    }
    if (uses.size() != 1) {
      throw new Mismatch(
          "the output of " + label(n) + " is consumed by " + ops(uses) + ", expected only " + op);
    }
    Onnx.NodeProto u = nodes.get(uses.get(0));
    if (!u.getOpType().equals(op)) {
      throw new Mismatch(
          "the output of " + label(n) + " is consumed by " + u.getOpType() + ", expected " + op);
    }
    covered.add(uses.get(0));
    return u;
  }

  /** The one consumer of {@code n}'s output when it is a {@code op} node, else null. */
  private Onnx.NodeProto single(Onnx.NodeProto n, String op) {
    List<Integer> uses = uses(n);
    if (uses.size() != 1 || graphOutputs.contains(n.getOutput(0))) {
      return null;
    }
    Onnx.NodeProto u = nodes.get(uses.get(0));
    return u.getOpType().equals(op) && u.getInputCount() == 2 ? u : null;
  }

  private List<Integer> uses(Onnx.NodeProto n) {
    return consumers.getOrDefault(n.getOutput(0), List.of());
  }

  /** The input of a two-input node other than {@code value}. */
  private static String other(Onnx.NodeProto n, String value) {
    return n.getInput(0).equals(value) ? n.getInput(1) : n.getInput(0);
  }

  private String constant(Onnx.NodeProto n, String value) throws Mismatch {
    String o = other(n, value);
    if (!constants.contains(o)) {
      throw new Mismatch(label(n) + " takes a run-time '" + o + "' where a constant is expected");
    }
    return o;
  }

  private static void expect(boolean ok, Onnx.NodeProto n, String what) throws Mismatch {
    if (!ok) {
      throw new Mismatch(label(n) + " does not compute " + what);
    }
  }

  private String ops(List<Integer> uses) {
    if (uses.isEmpty()) {
      return "no node";
    }
    return uses.stream()
        .map(k -> nodes.get(k).getOpType() + " " + label(nodes.get(k)))
        .collect(Collectors.joining(", "));
  }

  private static String label(Onnx.NodeProto n) {
    return "'" + (n.getName().isEmpty() ? n.getOutput(0) : n.getName()) + "'";
  }

  /** A step of a form that differs: the message says which and how. */
  private static final class Mismatch extends Exception {
    Mismatch(String message) {
      super(message);
    }
  }
}
