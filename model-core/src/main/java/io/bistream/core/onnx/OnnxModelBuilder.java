package io.bistream.core.onnx;

import static io.bistream.core.onnx.ConstFolding.clampAxis;
import static io.bistream.core.onnx.ConstFolding.clampIndex;
import static io.bistream.core.onnx.ConstFolding.sortedAxes;
import static io.bistream.core.onnx.ConstFolding.transpose2d;
import static io.bistream.core.onnx.OnnxProtos.declaredShape;
import static io.bistream.core.onnx.OnnxProtos.floatAttr;
import static io.bistream.core.onnx.OnnxProtos.hasAttr;
import static io.bistream.core.onnx.OnnxProtos.intAttr;
import static io.bistream.core.onnx.OnnxProtos.longsAttr;
import static io.bistream.core.onnx.OnnxProtos.stringAttr;
import static io.bistream.core.onnx.OnnxProtos.stringsAttr;
import static io.bistream.core.onnx.OnnxProtos.tensor;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.ElementWise;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.LastStep;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.LayerNormalization;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.bistream.core.onnx.Symbolic.Affine;
import io.bistream.core.onnx.Symbolic.Atom;
import io.bistream.core.onnx.Symbolic.Const;
import io.bistream.core.onnx.Symbolic.Dim;
import io.bistream.core.onnx.Symbolic.Dyn;
import io.bistream.core.onnx.Symbolic.Filled;
import io.bistream.core.onnx.Symbolic.Final;
import io.bistream.core.onnx.Symbolic.Stacked;
import io.bistream.core.onnx.Symbolic.SymVec;
import io.bistream.core.onnx.Symbolic.Unavailable;
import io.bistream.core.onnx.Symbolic.Value;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import onnx.Onnx;

/**
 * Maps an ONNX graph onto the core layers: {@code LSTM}/{@code GRU}/{@code RNN} nodes become {@link
 * Recurrent} or {@link Bidirectional} layers with Keras-layout weights, {@code MatMul}/{@code
 * Add}/{@code Gemm} become {@link Dense}, activations fold into the Dense or become {@link
 * ElementWise}. Everything else is shape plumbing, evaluated over {@link Symbolic} values: a
 * Transpose/Reshape/Squeeze of a run-time tensor only changes how its atoms (N, T, feature factors)
 * are grouped into ONNX axes, and a consumer checks that the grouping it needs holds.
 *
 * <p>Weights are mapped by {@link OnnxCells}; any node whose inputs are all constants is evaluated
 * by {@link ConstFolding} (exports without constant folding keep the gate reordering as such
 * nodes). Batch and time stay symbolic even in a static-shape export, so the model takes any N and
 * T. A size-1 feature factor is still a feature: one input feature ({@code [N, T, 1]}, or {@code
 * [N, T]} with the feature axis added in the graph) is the common univariate series. A Gather of a
 * constant table by the input ids is torch's {@code nn.Embedding}. The final hidden states {@code
 * Y_h} (torch's {@code h_n}) are a {@link Stacked} of per-direction {@link Symbolic.Final}s: index,
 * squeeze, view or permute them and the last layer's states map onto the layer run with {@code
 * return_sequences=false}.
 */
final class OnnxModelBuilder {

  // The supported ops, defined once: SUPPORTED_OPS, KEEPS_LEADING_AXES and the SUPPORTED message
  // are built from these groups, so they cannot drift apart.

  private static final List<String> RECURRENT = List.of("LSTM", "GRU", "RNN");

  /** The Dense head and activations: last-axis maps of a sequence. */
  private static final List<String> LAYER_OPS =
      List.of("MatMul", "Add", "Gemm", "Relu", "Tanh", "Sigmoid", "Softmax", "LogSoftmax");

  /** The LayerNorm op (opset 17), also matched in its decomposed form. */
  private static final String LAYER_NORM = "LayerNormalization";

  /** Parts of the LayerNorm and GELU forms {@link OnnxPatterns} matches, never on their own. */
  private static final List<String> FORM_PARTS = List.of("ReduceMean", "Pow", "Sqrt", "Erf");

  /** Plumbing that regroups or indexes axes. */
  private static final List<String> SHAPE_PLUMBING =
      List.of(
          "Transpose",
          "Reshape",
          "Squeeze",
          "Unsqueeze",
          "Slice",
          "Gather",
          "Concat",
          "Shape",
          "Constant",
          "ConstantOfShape",
          "Expand");

  /** Plumbing that leaves every axis as it is. */
  private static final List<String> PASS_THROUGH = List.of("Cast", "Identity");

  /** Element-wise arithmetic with a constant operand. */
  private static final List<String> BY_CONSTANTS = List.of("Sub", "Mul", "Div");

  /** Every group above: the ops the {@link #map} switch maps or {@link OnnxPatterns} matches. */
  private static final List<List<String>> MAPPED =
      List.of(
          RECURRENT,
          LAYER_OPS,
          List.of(LAYER_NORM),
          FORM_PARTS,
          SHAPE_PLUMBING,
          PASS_THROUGH,
          BY_CONSTANTS);

  /** Ops only {@link ConstFolding} evaluates: supported when every input is a constant. */
  private static final List<String> CONSTANT_ONLY =
      ConstFolding.OPS.stream()
          .filter(op -> MAPPED.stream().noneMatch(group -> group.contains(op)))
          .sorted()
          .toList();

  /** Ops the importer accepts in a graph. */
  static final Set<String> SUPPORTED_OPS =
      Stream.concat(MAPPED.stream(), Stream.of(CONSTANT_ONLY))
          .flatMap(List::stream)
          .collect(Collectors.toUnmodifiableSet());

  /** Ops that leave a sequence's batch and time axes where they are (last-axis maps). */
  static final Set<String> KEEPS_LEADING_AXES =
      Stream.of(PASS_THROUGH, LAYER_OPS, List.of(LAYER_NORM), BY_CONSTANTS)
          .flatMap(List::stream)
          .collect(Collectors.toUnmodifiableSet());

  static final String SUPPORTED =
      String.join(", ", RECURRENT)
          + ", "
          + String.join(", ", LAYER_OPS)
          + ", "
          + LAYER_NORM
          + " (and its decomposed form), GELU (erf and tanh forms; "
          + String.join(", ", FORM_PARTS)
          + " only inside these forms), Gather of the last step of a sequence output, Gather of"
          + " an embedding table by the input ids, and the shape plumbing "
          + String.join(", ", SHAPE_PLUMBING)
          + ", "
          + String.join(", ", PASS_THROUGH)
          + ", "
          + String.join("/", BY_CONSTANTS)
          + " by constants"
          + (CONSTANT_ONLY.isEmpty()
              ? ""
              : ", and " + String.join(", ", CONSTANT_ONLY) + " of constants");

  /** ONNX integer element types (uint8 to uint64). */
  private static final Set<Long> INTEGER_TYPES = Set.of(2L, 3L, 4L, 5L, 6L, 7L, 12L, 13L);

  private final String file;
  private final Onnx.ModelProto proto;
  private final Onnx.GraphProto graph;
  private final Map<String, Value> values = new HashMap<>();
  private final List<Model.Input> inputs = new ArrayList<>();
  private final List<Model.Node> nodes = new ArrayList<>();
  private final Set<String> layerNames = new HashSet<>();
  private final Map<String, Symbolic.Recurrence> recurrences = new HashMap<>();
  private final Set<String> integerIds = new HashSet<>(); // graph values cast to integer ids
  private int nextAtom = 3;
  private String layoutNote = "";
  private Onnx.NodeProto node; // the node being mapped, for error messages

  OnnxModelBuilder(String file, Onnx.ModelProto proto) {
    this.file = file;
    this.proto = proto;
    this.graph = proto.getGraph();
  }

  Model build() throws ModelFormatException {
    Onnx.ValueInfoProto in = sequenceInput();
    int[] bt = declaredShape(in).length == 3 ? batchAndTimeAxes(in.getName()) : null;
    if (bt != null) {
      return build(bt);
    }
    // The walk stopped at plumbing it does not follow (an Unsqueeze of an [N, T] input, a
    // Reshape): the mapping checks the layout at the recurrent node anyway, and only one
    // assignment can pass that check, so try batch-major, then time-major.
    try {
      return new OnnxModelBuilder(file, proto).build(new int[] {0, 1});
    } catch (ModelFormatException batchMajor) {
      try {
        return new OnnxModelBuilder(file, proto).build(new int[] {1, 0});
      } catch (ModelFormatException timeMajor) {
        throw neitherLayout(in, batchMajor, timeMajor);
      }
    }
  }

  /** The first graph input that is not an initializer: the sequence. */
  private Onnx.ValueInfoProto sequenceInput() throws ModelFormatException {
    Set<String> initializers = new HashSet<>();
    graph.getInitializerList().forEach(t -> initializers.add(t.getName()));
    for (Onnx.ValueInfoProto in : graph.getInputList()) {
      if (!initializers.contains(in.getName())) {
        return in;
      }
    }
    throw new ModelFormatException(file + ": the graph has no input");
  }

  /**
   * Both readings of an input whose layout the graph does not tell failed: either reason may be the
   * real one, so both are given (each without the file and the list of supported ops it repeats).
   */
  private ModelFormatException neitherLayout(
      Onnx.ValueInfoProto in, ModelFormatException batchMajor, ModelFormatException timeMajor) {
    String d = declaredShape(in).length == 3 ? ", D]" : "]";
    String supported = ". Supported ops: " + SUPPORTED;
    boolean listsOps = false;
    List<String> reasons = new ArrayList<>();
    for (ModelFormatException e : List.of(batchMajor, timeMajor)) {
      String reason = e.getMessage();
      if (reason.startsWith(file + ": ")) {
        reason = reason.substring(file.length() + 2);
      }
      if (reason.endsWith(supported)) {
        reason = reason.substring(0, reason.length() - supported.length());
        listsOps = true;
      }
      reasons.add(reason);
    }
    return new ModelFormatException(
        file
            + ": the graph does not tell which axes of input '"
            + in.getName()
            + "' are batch and time, and both readings fail: as batch-major [N, T"
            + d
            + ": "
            + reasons.get(0)
            + "; as time-major [T, N"
            + d
            + ": "
            + reasons.get(1)
            + (listsOps ? supported : ""));
  }

  private Model build(int[] sequenceAxes) throws ModelFormatException {
    for (Onnx.TensorProto t : graph.getInitializerList()) {
      values.put(t.getName(), tensor(t, file + ": initializer '" + t.getName() + "'"));
    }
    declareInputs(sequenceAxes);
    OnnxPatterns patterns = new OnnxPatterns(graph);
    for (int i = 0; i < graph.getNodeCount(); i++) {
      Onnx.NodeProto n = graph.getNode(i);
      node = n;
      OnnxPatterns.Match form = patterns.match(i);
      if (form != null && form.last() != i) {
        continue; // inside a LayerNorm or GELU form: mapped as a whole at its last node
      }
      String failure = patterns.failure(i);
      if (failure != null && constantInputs(n) == null) {
        throw error(null, failure);
      }
      List<Value> out;
      try {
        out = form != null ? List.of(form(form)) : map(n);
      } catch (IllegalArgumentException e) {
        // From constant folding, cell construction or a layer's own checks.
        throw error(null, e.getMessage());
      }
      for (int k = 0; k < n.getOutputCount() && k < out.size(); k++) {
        values.put(n.getOutput(k), out.get(k));
      }
    }
    node = null;
    if (recurrences.isEmpty()) {
      throw new ModelFormatException(
          file
              + ": the graph has no LSTM, GRU or RNN node, so the batch and time axes of its"
              + " input are unknown. Supported ops: "
              + SUPPORTED);
    }
    List<Model.TensorRef> outputs = new ArrayList<>();
    for (Onnx.ValueInfoProto o : graph.getOutputList()) {
      outputs.add(output(o.getName()));
    }
    return new Model(new Model.Source(file, "onnx", version()), inputs, used(outputs), outputs);
  }

  /**
   * The nodes the outputs depend on: a recurrent node whose sequence output Y is not used (only its
   * final states) is dropped in favour of its last-step twin.
   */
  private List<Model.Node> used(List<Model.TensorRef> outputs) {
    Set<String> needed = new HashSet<>();
    outputs.forEach(o -> needed.add(o.layer()));
    List<Model.Node> kept = new ArrayList<>();
    for (int i = nodes.size() - 1; i >= 0; i--) {
      Model.Node n = nodes.get(i);
      if (needed.contains(n.layer().name())) {
        kept.add(0, n);
        n.inbound().forEach(r -> needed.add(r.layer()));
      }
    }
    return kept;
  }

  private String version() {
    OptionalLong declared = declaredOpset();
    String opset = declared.isPresent() ? Long.toString(declared.getAsLong()) : "?";
    String producer = (proto.getProducerName() + " " + proto.getProducerVersion()).trim();
    return "opset " + opset + (producer.isEmpty() ? "" : ", producer " + producer) + layoutNote;
  }

  // ---------------------------------------------------------------- inputs and outputs

  /**
   * The first non-initializer input is the sequence; which of its axes is batch and which is time
   * follows from the recurrent node it reaches through Transposes. Every other input {@code [k, N,
   * H]} is a stack of initial states.
   */
  private void declareInputs(int[] bt) throws ModelFormatException {
    boolean first = true;
    for (Onnx.ValueInfoProto in : graph.getInputList()) {
      if (values.containsKey(in.getName())) {
        continue; // an initializer listed as input (IR < 4)
      }
      if (first) {
        declareSequence(in, bt);
        first = false;
      } else {
        declareInitialStates(in);
      }
    }
    if (first) {
      throw new ModelFormatException(file + ": the graph has no input");
    }
  }

  /** The sequence input: batch and time at axes {@code bt}, then the features (if rank 3). */
  private void declareSequence(Onnx.ValueInfoProto in, int[] bt) throws ModelFormatException {
    long[] shape = declaredShape(in);
    boolean univariate = shape.length == 2;
    if (!univariate && (shape.length != 3 || shape[2] <= 0)) {
      throw inputError(
          in, "expected a sequence [N, T, D] or [T, N, D] with static D, or [N, T] / [T, N]");
    }
    int width = univariate ? 1 : (int) shape[2];
    layoutNote = layoutNote(in.getName(), shape, bt);
    Atom n = batchAtom();
    Atom t = timeAtom();
    Atom d = feature(width);
    // [N, T] holds the one feature in no axis: a size-1 factor has no place in the layout.
    List<List<Atom>> axes =
        new ArrayList<>(
            univariate ? List.of(List.of(), List.of()) : List.of(List.of(), List.of(), List.of(d)));
    axes.set(bt[0], List.of(n));
    axes.set(bt[1], List.of(t));
    values.put(in.getName(), new Dyn(ref(in.getName()), axes, List.of(d), true));
    // Time stays open even when the export traced a fixed length: the plumbing accepted above
    // never depends on it.
    inputs.add(new Model.Input(in.getName(), new int[] {-1, width}, false));
  }

  /**
   * What the model's source line says about how the graph's input differs from what BiStream takes:
   * a missing feature axis, time-major, a traced fixed T.
   */
  private static String layoutNote(String input, long[] shape, int[] bt) {
    String note = "";
    if (shape.length == 2) {
      note =
          "; input '"
              + input
              + "' is "
              + (bt[0] == 0 ? "[N, T]" : "[T, N]")
              + " in the graph (one feature), BiStream takes [N, T, 1]";
    } else if (bt[0] != 0) {
      note = "; input '" + input + "' is time-major in the graph, BiStream takes [N, T, D]";
    }
    if (shape[bt[1]] > 0) {
      note +=
          "; input '"
              + input
              + "' declares T = "
              + shape[bt[1]]
              + " (the export's trace), BiStream runs any T";
    }
    return note;
  }

  /** A further input {@code [k, N, H]}: a stack of k initial states, one model input each. */
  private void declareInitialStates(Onnx.ValueInfoProto in) throws ModelFormatException {
    long[] shape = declaredShape(in);
    if (shape.length == 1) {
      throw inputError(
          in,
          "a second input of one value per sequence: sequence lengths (pack_padded_sequence) are"
              + " not supported: BiStream runs every sequence whole; export the model without"
              + " packing");
    }
    if (shape.length != 3 || shape[0] <= 0 || shape[2] <= 0) {
      throw inputError(
          in, "expected an initial state [layers * directions, N, H] with static first and last");
    }
    List<Value> items = new ArrayList<>();
    for (int i = 0; i < shape[0]; i++) {
      String name = in.getName() + "[" + i + "]";
      Atom h = feature((int) shape[2]);
      items.add(new Dyn(ref(name), List.of(List.of(batchAtom()), List.of(h)), List.of(h), false));
      inputs.add(new Model.Input(name, new int[] {(int) shape[2]}, false));
    }
    values.put(in.getName(), new Stacked(items));
  }

  private ModelFormatException inputError(Onnx.ValueInfoProto in, String expected) {
    return new ModelFormatException(
        file
            + ": graph input '"
            + in.getName()
            + "' has shape "
            + Arrays.toString(declaredShape(in)).replace("-1", "?")
            + "; "
            + expected);
  }

  /**
   * {batch axis, time axis} of the sequence input, from the recurrent node it feeds: followed
   * through Transposes and through ops that keep the leading axes (casts, the Dense head ops and
   * activations).
   */
  private int[] batchAndTimeAxes(String input) throws ModelFormatException {
    int[] src = {0, 1, 2};
    String v = input;
    for (int hops = 0; hops < graph.getNodeCount(); hops++) {
      Onnx.NodeProto next = null;
      for (Onnx.NodeProto n : graph.getNodeList()) {
        if (n.getInputList().contains(v) && !n.getOpType().equals("Shape")) {
          next = n;
          break;
        }
      }
      if (next == null) {
        break;
      }
      String op = next.getOpType();
      if (op.equals("Transpose")) {
        long[] perm = longsAttr(next, "perm", new long[] {2, 1, 0});
        int[] moved = new int[3];
        for (int i = 0; i < 3; i++) {
          moved[i] = src[(int) perm[i]];
        }
        src = moved;
      } else if (RECURRENT.contains(op) && next.getInput(0).equals(v)) {
        boolean batchMajor = intAttr(next, "layout", 0) == 1;
        return batchMajor ? new int[] {src[0], src[1]} : new int[] {src[1], src[0]};
      } else if (!SUPPORTED_OPS.contains(op)) {
        throw error(next, null, "operator " + op + " is not supported");
      } else if (!KEEPS_LEADING_AXES.contains(op)) {
        break;
      }
      v = next.getOutput(0);
    }
    return null;
  }

  private Model.TensorRef output(String name) throws ModelFormatException {
    if (values.get(name) instanceof Stacked st && !(viewOf(st) instanceof Dyn)) {
      throw new ModelFormatException(
          file
              + ": graph output '"
              + name
              + "' is a stack of "
              + st.items().size()
              + " states [layers * directions, N, H] (such as h_n); BiStream's model outputs are"
              + " [N, T, F] or [N, F] tensors: output h_n[-1] (or the concatenation of the last"
              + " layer's directions), or export the model without this output");
    }
    Dyn d = dyn(name, "graph output '" + name + "'");
    List<Atom> order = new ArrayList<>();
    d.axes().forEach(axis -> order.addAll(nonUnit(axis)));
    int firstFeature = order.size();
    for (int i = 0; i < order.size(); i++) {
      if (order.get(i).kind() == 'F') {
        firstFeature = Math.min(firstFeature, i);
      } else if (i > firstFeature) {
        firstFeature = -1;
        break;
      }
    }
    if (firstFeature < 0 || !flatFeatures(d).equals(nonUnit(d.features()))) {
      throw new ModelFormatException(
          file
              + ": graph output '"
              + name
              + "' is laid out as "
              + d.view()
              + "; expected batch and time axes before all feature axes, features in order");
    }
    return d.ref();
  }

  /** The feature atoms of a view in ONNX order, unit factors dropped. */
  private static List<Atom> flatFeatures(Dyn d) {
    List<Atom> out = new ArrayList<>();
    for (List<Atom> axis : d.axes()) {
      for (Atom a : axis) {
        if (a.kind() == 'F' && !a.unit()) {
          out.add(a);
        }
      }
    }
    return out;
  }

  private static List<Atom> nonUnit(List<Atom> atoms) {
    return atoms.stream().filter(a -> !a.unit()).toList();
  }

  // ---------------------------------------------------------------- node dispatch

  private List<Value> map(Onnx.NodeProto n) throws ModelFormatException {
    String op = n.getOpType();
    if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
      throw error(null, "operator domain '" + n.getDomain() + "' is not supported");
    }
    if (op.equals("Concat") || op.equals("Identity")) {
      // Stacking the layers' Y_c into c_n for a graph output: report it at the output.
      for (String name : n.getInputList()) {
        if (values.get(name) instanceof Unavailable u) {
          return List.of(u);
        }
      }
    }
    if (!Set.of("Gather", "Shape", "Identity").contains(op)
        && n.getInputList().stream().anyMatch(integerIds::contains)) {
      // The cast truncated the values; only an embedding lookup reads them as ids.
      throw error(
          null,
          "the input cast to integer ids may only index an embedding table (Gather), found " + op);
    }
    List<Const> constants = constantInputs(n);
    if (constants != null && ConstFolding.OPS.contains(op)) {
      return List.of(ConstFolding.evaluate(n, constants, opset()));
    }
    return switch (op) {
      case "LSTM", "GRU", "RNN" -> recurrent(n);
      case "Constant" -> List.of(constant(n));
      case "Identity", "Cast" -> {
        if (op.equals("Identity") && integerIds.contains(n.getInput(0))) {
          integerIds.add(n.getOutput(0));
        }
        yield List.of(cast(n));
      }
      case "Shape" -> List.of(shape(in(n, 0)));
      case "Gather" -> List.of(gather(in(n, 0), in(n, 1), (int) intAttr(n, "axis", 0)));
      case "Unsqueeze" -> List.of(unsqueeze(in(n, 0), axesOf(n, 1)));
      case "Squeeze" -> List.of(squeeze(in(n, 0), axesOf(n, 1)));
      case "Concat" -> List.of(concat(n));
      case "Slice" -> List.of(slice(n));
      case "Reshape" -> List.of(reshape(in(n, 0), in(n, 1), intAttr(n, "allowzero", 0) == 1));
      case "Transpose" -> List.of(transpose(in(n, 0), longsAttr(n, "perm", null)));
      case "ConstantOfShape" -> List.of(constantOfShape(n));
      case "Expand" -> List.of(expand(in(n, 0), in(n, 1)));
      case "MatMul" -> List.of(matMul(n));
      case "Gemm" -> List.of(gemm(n));
      case "Add" -> List.of(add(n));
      case "Mul" -> List.of(mul(n));
      case "Sub" -> List.of(sub(n));
      case "Div" -> List.of(div(n));
      case "Relu" -> List.of(activation(n, Activation.RELU));
      case "Tanh" -> List.of(activation(n, Activation.TANH));
      case "Sigmoid" -> List.of(activation(n, Activation.SIGMOID));
      case "Softmax" -> List.of(activation(n, Activation.SOFTMAX));
      case "LogSoftmax" -> List.of(activation(n, Activation.LOG_SOFTMAX));
      case "LayerNormalization" -> layerNormalization(n);
      default -> throw error(null, "operator " + op + " is not supported");
    };
  }

  /**
   * The inputs of {@code n} when all are known at import time (absent optional inputs as null; a
   * filled tensor of static shape materialised), else null.
   */
  private List<Const> constantInputs(Onnx.NodeProto n) throws ModelFormatException {
    List<Const> out = new ArrayList<>();
    for (int k = 0; k < n.getInputCount(); k++) {
      Value v = in(n, k);
      if (v == null) {
        out.add(null);
      } else if (v instanceof Const c) {
        out.add(c);
      } else if (v instanceof Filled f && f.shape().stream().allMatch(Dim::isStatic)) {
        int[] shape = f.shape().stream().mapToInt(d -> (int) d.size()).toArray();
        double[] data = new double[Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        Arrays.fill(data, f.value());
        out.add(new Const(shape, data));
      } else {
        return null;
      }
    }
    return out.isEmpty() || out.get(0) == null ? null : out;
  }

  private Value in(Onnx.NodeProto n, int k) throws ModelFormatException {
    if (k >= n.getInputCount() || n.getInput(k).isEmpty()) {
      return null;
    }
    Value v = values.get(n.getInput(k));
    if (v == null) {
      throw error(null, "input '" + n.getInput(k) + "' is not produced by any earlier node");
    }
    if (v instanceof Unavailable u) {
      throw error(null, "input '" + n.getInput(k) + "' is " + u.what() + "; " + u.supported());
    }
    return v;
  }

  private Value cast(Onnx.NodeProto n) throws ModelFormatException {
    Value v = in(n, 0);
    long to = intAttr(n, "to", 1);
    boolean toInteger = INTEGER_TYPES.contains(to);
    if (n.getOpType().equals("Cast") && v instanceof Dyn d && to != 1) {
      // Ids (the graph input, whatever its dtype) cast to integers for an Embedding's Gather.
      if (!(toInteger && isGraphInput(d))) {
        throw error(
            "to",
            "only casts of constants and shapes, of the input ids to integers, or to float32, are"
                + " supported");
      }
      integerIds.add(n.getOutput(0));
    }
    return v;
  }

  // ---------------------------------------------------------------- constants and shapes

  private Value constant(Onnx.NodeProto n) throws ModelFormatException {
    for (Onnx.AttributeProto a : n.getAttributeList()) {
      switch (a.getName()) {
        case "value":
          return tensor(a.getT(), file + ": Constant value");
        case "value_float":
          return new Const(new int[0], new double[] {a.getF()});
        case "value_int":
          return new Const(new int[0], new double[] {a.getI()});
        case "value_floats":
          return new Const(
              new int[] {a.getFloatsCount()},
              a.getFloatsList().stream().mapToDouble(Float::doubleValue).toArray());
        case "value_ints":
          return new Const(
              new int[] {a.getIntsCount()},
              a.getIntsList().stream().mapToDouble(Long::doubleValue).toArray());
        default:
          throw error(a.getName(), "Constant attribute is not supported");
      }
    }
    throw error("value", "Constant without a value");
  }

  private Value shape(Value v) throws ModelFormatException {
    int[] s = intAttrs("start", "end");
    List<Dim> dims = new ArrayList<>();
    if (v instanceof Affine) {
      v = dyn(v, "input"); // the shape of a Dense output: the layer it becomes
    }
    if (v instanceof Const c) {
      for (int d : c.shape()) {
        dims.add(Dim.of(d));
      }
    } else if (v instanceof Dyn d) {
      for (List<Atom> axis : d.axes()) {
        dims.add(dimOf(axis));
      }
    } else if (v instanceof Filled f) {
      dims.addAll(f.shape());
    } else if (v instanceof Stacked st) {
      dims.add(Dim.of(st.items().size()));
      dims.add(new Dim('N', -1));
      dims.add(Dim.of(hiddenOf(st.items().get(0))));
    } else if (v instanceof Final f) {
      dims.add(new Dim('N', -1));
      dims.add(Dim.of(f.node().hidden()));
    } else {
      throw error(null, "cannot take the shape of " + describe(v));
    }
    int r = dims.size();
    int start = s[0] == Integer.MIN_VALUE ? 0 : clampAxis(s[0], r);
    int end = s[1] == Integer.MIN_VALUE ? r : clampAxis(s[1], r);
    return simplify(new SymVec(dims.subList(start, Math.max(start, end)), false));
  }

  private int[] intAttrs(String... names) {
    int[] out = new int[names.length];
    for (int i = 0; i < names.length; i++) {
      out[i] = (int) intAttr(node, names[i], Integer.MIN_VALUE);
    }
    return out;
  }

  private Dim dimOf(List<Atom> axis) throws ModelFormatException {
    long size = 1;
    Dim symbolic = null;
    for (Atom a : axis) {
      if (a.kind() == 'F') {
        size *= a.size();
      } else if (symbolic == null) {
        symbolic = new Dim(a.kind(), -1);
      } else {
        throw error(null, "an axis holds both batch and time; shape " + axis + " is not static");
      }
    }
    if (symbolic != null && size != 1) {
      throw error(null, "axis " + axis + " mixes batch or time with features");
    }
    return symbolic != null ? symbolic : Dim.of(size);
  }

  /** A shape vector with only static entries becomes a constant. */
  private static Value simplify(SymVec v) {
    if (v.dims().stream().allMatch(Dim::isStatic)) {
      double[] data = v.dims().stream().mapToDouble(Dim::size).toArray();
      return new Const(v.scalar() ? new int[0] : new int[] {data.length}, data);
    }
    return v;
  }

  private static SymVec symVec(Value v) {
    if (v instanceof SymVec s) {
      return s;
    }
    if (v instanceof Const c && c.rank() <= 1) {
      List<Dim> dims = new ArrayList<>();
      for (long x : c.longs()) {
        dims.add(Dim.of(x));
      }
      return new SymVec(dims, c.rank() == 0);
    }
    return null;
  }

  private Value gather(Value data, Value indices, int axis) throws ModelFormatException {
    if (data instanceof Const table && indices instanceof Dyn ids) {
      return embedding(table, ids, axis);
    }
    if (!(indices instanceof Const idx) || idx.rank() > 1) {
      throw error(null, "Gather indices must be a constant scalar or vector");
    }
    long[] at = idx.longs();
    SymVec s = symVec(data);
    if (s != null && !s.scalar() && (axis == 0 || axis == -1)) {
      List<Dim> out = new ArrayList<>();
      for (long i : at) {
        out.add(s.dims().get((int) (i < 0 ? i + s.dims().size() : i)));
      }
      return simplify(new SymVec(out, idx.rank() == 0));
    }
    if (data instanceof Stacked st && axis == 0 && idx.rank() == 0) {
      long i = at[0] < 0 ? at[0] + st.items().size() : at[0];
      return st.items().get((int) i);
    }
    if (data instanceof Affine) {
      data = dyn(data, "input"); // a step of a per-step Dense output: the layer it becomes
    }
    if (data instanceof Dyn d && idx.rank() == 0) {
      return lastStepOf(d, clampAxis(axis, d.rank()), at[0]);
    }
    throw error("axis", "Gather of " + describe(data) + " on axis " + axis + " is not supported");
  }

  /**
   * torch {@code nn.Embedding}: rows of a constant table {@code [vocabulary, dim]} picked by the
   * input ids, i.e. an {@link Embedding} layer (ids [N, T] to [N, T, dim]).
   */
  private Dyn embedding(Const table, Dyn ids, int axis) throws ModelFormatException {
    if (table.rank() != 2
        || axis != 0
        || !isGraphInput(ids)
        || !nonUnit(ids.features()).isEmpty()) {
      throw error(
          null,
          "Gather of a constant of shape "
              + Arrays.toString(table.shape())
              + " by "
              + describe(ids)
              + " on axis "
              + axis
              + " is supported only as an embedding: a [vocabulary, dim] table on axis 0, indexed"
              + " by the graph input's ids (one per step)");
    }
    String name = layerName(node);
    int dim = table.shape()[1];
    nodes.add(
        new Model.Node(
            new Embedding(name, table.shape()[0], dim, table.floats(), false),
            0,
            List.of(ids.ref())));
    Atom e = feature(dim);
    List<List<Atom>> axes = new ArrayList<>(ids.axes());
    axes.add(List.of(e));
    return new Dyn(ref(name), axes, List.of(e), ids.hasTime());
  }

  private boolean isGraphInput(Dyn d) {
    return d.ref().index() == 0 && inputs.stream().anyMatch(i -> i.name().equals(d.ref().layer()));
  }

  /**
   * One step of a sequence output. {@code y[:, -1]} of a unidirectional node's output (or {@code
   * y[:, 0]} going in reverse) is the output of its last processed step, i.e. the layer with {@code
   * return_sequences=false}. {@code y[:, -1]} of any other sequence (a bidirectional or stacked
   * output, a per-step head) is a {@link LastStep} readout: for a bidirectional output, the forward
   * state at T-1 beside the backward output after ONE step. Other steps have no core layer.
   */
  private Dyn lastStepOf(Dyn d, int axis, long index) throws ModelFormatException {
    boolean timeAxis = nonUnit(d.axes().get(axis)).equals(List.of(timeAtom()));
    if (!timeAxis) {
      throw error(
          "axis",
          "Gather of one step of "
              + describe(d)
              + " on axis "
              + axis
              + " is supported only on the time axis T (the last step of a sequence output)");
    }
    Symbolic.Recurrence rec = recurrences.get(d.ref().layer());
    boolean uni = rec != null && rec.layers().size() == 1 && d.ref().index() == 0;
    boolean reverse = uni && rec.layers().get(0).goBackwards();
    if (uni && index == (reverse ? 0 : -1)) {
      Dyn last = lastStep(rec, Bidirectional.MergeMode.NONE, 0, rec.hidden());
      List<List<Atom>> axes = new ArrayList<>(d.axes());
      axes.remove(axis);
      return new Dyn(last.ref(), axes, d.features(), false);
    }
    if (index != -1) {
      throw error(
          null,
          "Gather picks step "
              + index
              + " of "
              + (uni
                  ? "the "
                      + (reverse ? "reverse" : "forward")
                      + " output of node '"
                      + rec.name()
                      + "'"
                  : describe(d))
              + "; only the last step (-1) of a sequence output maps onto a layer"
              + (reverse ? " (or step 0, the last one a reverse node processes)" : "")
              + ": it needs the whole sequence (use y[:, -1] or the final states h_n)");
    }
    String name = layerName(node);
    nodes.add(new Model.Node(new LastStep(name), 0, List.of(d.ref())));
    List<List<Atom>> axes = new ArrayList<>(d.axes());
    axes.remove(axis);
    return new Dyn(ref(name), axes, d.features(), false);
  }

  // ---------------------------------------------------------------- LayerNorm and GELU

  /**
   * ONNX {@code LayerNormalization} (opset 17) over the last axis: a {@link LayerNormalization}
   * layer. Its optional Mean and InvStdDev outputs are not mapped.
   */
  private List<Value> layerNormalization(Onnx.NodeProto n) throws ModelFormatException {
    checkAttributes(n, Set.of("axis", "epsilon", "stash_type"));
    Dyn x = dyn(in(n, 0), "input X");
    long axis = intAttr(n, "axis", -1);
    if (axis != -1 && axis != x.rank() - 1) {
      throw error("axis", "LayerNormalization over axis " + axis + "; only the last is supported");
    }
    double eps = hasAttr(n, "epsilon") ? floatAttr(n, "epsilon", 1e-5f) : 1e-5;
    Value scale = in(n, 1);
    Value bias = in(n, 2);
    Dyn y = layerNorm(x, eps, scale, bias, layerName(n));
    Unavailable stats =
        new Unavailable(
            "the Mean/InvStdDev output of LayerNormalization node " + nodeLabel(n),
            "BiStream maps its normalised output Y only");
    return List.of(y, stats, stats);
  }

  private Dyn layerNorm(Dyn x, double eps, Value scale, Value bias, String name)
      throws ModelFormatException {
    int f = x.featureSize();
    checkRows(x, f);
    float[] gamma = new float[f];
    Arrays.fill(gamma, 1f);
    if (scale != null) {
      gamma = biasVector(scale, f);
    }
    float[] beta = bias == null ? new float[f] : biasVector(bias, f);
    nodes.add(
        new Model.Node(new LayerNormalization(name, f, gamma, beta, eps), 0, List.of(x.ref())));
    return new Dyn(ref(name), x.axes(), x.features(), x.hasTime());
  }

  /** A LayerNorm or GELU form matched by {@link OnnxPatterns}, mapped at its last node. */
  private Value form(OnnxPatterns.Match m) throws ModelFormatException {
    Value input = values.get(m.input());
    if (input == null) {
      throw error(null, "input '" + m.input() + "' is not produced by any earlier node");
    }
    String base = node.getName().contains("/") ? node.getName() : "";
    base = base.isEmpty() ? "" : base.substring(0, base.lastIndexOf('/'));
    return switch (m.kind()) {
      case LAYER_NORM -> {
        Dyn x = dyn(input, "LayerNorm input");
        for (Onnx.NodeProto r : m.reductions()) {
          long[] axes = longsAttr(r, "axes", null);
          boolean last =
              axes != null && axes.length == 1 && (axes[0] == -1 || axes[0] == x.rank() - 1);
          if (!last || intAttr(r, "keepdims", 1) == 0) {
            throw error(
                null,
                OnnxPatterns.LAYER_NORM_FORM
                    + ": ReduceMean "
                    + nodeLabel(r)
                    + " must reduce the last axis only, keeping it; found axes "
                    + Arrays.toString(axes));
          }
        }
        double exponent = scalar(m, "exponent", OnnxPatterns.LAYER_NORM_FORM);
        if (exponent != 2) {
          throw error(
              null,
              OnnxPatterns.LAYER_NORM_FORM + ": the Pow exponent must be 2, found " + exponent);
        }
        double eps = scalar(m, "epsilon", OnnxPatterns.LAYER_NORM_FORM);
        Value w =
            m.constants().containsKey("weight") ? values.get(m.constants().get("weight")) : null;
        Value b = m.constants().containsKey("bias") ? values.get(m.constants().get("bias")) : null;
        yield layerNorm(x, eps, w, b, formName(base, "LayerNorm"));
      }
      case GELU -> {
        check(m, "sqrt2", Math.sqrt(2), OnnxPatterns.GELU_FORM);
        check(m, "one", 1, OnnxPatterns.GELU_FORM);
        check(m, "half", 0.5, OnnxPatterns.GELU_FORM);
        yield input instanceof Affine af && af.activation() == Activation.LINEAR
            ? elementWise(input, Activation.GELU, null, null)
            : elementWise(input, Activation.GELU, formName(base, "Gelu"), "Gelu");
      }
      case GELU_TANH -> {
        check(m, "cube", 0.044715, OnnxPatterns.GELU_TANH_FORM);
        check(m, "scale", Math.sqrt(2 / Math.PI), OnnxPatterns.GELU_TANH_FORM);
        check(m, "one", 1, OnnxPatterns.GELU_TANH_FORM);
        check(m, "half", 0.5, OnnxPatterns.GELU_TANH_FORM);
        yield input instanceof Affine af && af.activation() == Activation.LINEAR
            ? elementWise(input, Activation.GELU_TANH, null, null)
            : elementWise(input, Activation.GELU_TANH, formName(base, "Gelu"), "Gelu");
      }
    };
  }

  private String formName(String base, String kind) {
    String name = base.isEmpty() ? kind : base;
    String unique = name;
    for (int k = 1; !layerNames.add(unique); k++) {
      unique = name + "_" + k;
    }
    return unique;
  }

  private double scalar(OnnxPatterns.Match m, String role, String form)
      throws ModelFormatException {
    Value v = values.get(m.constants().get(role));
    if (!(v instanceof Const c) || c.data().length != 1) {
      throw error(
          null, form + ": its " + role + " must be a constant scalar, found " + describe(v));
    }
    return c.data()[0];
  }

  private void check(OnnxPatterns.Match m, String role, double expected, String form)
      throws ModelFormatException {
    double found = scalar(m, role, form);
    if (Math.abs(found - expected) > 1e-6 * Math.abs(expected)) {
      throw error(null, form + ": its " + role + " must be " + expected + ", found " + found);
    }
  }

  private long[] axesOf(Onnx.NodeProto n, int inputIndex) throws ModelFormatException {
    Value v = in(n, inputIndex);
    if (v instanceof Const c) {
      return c.longs();
    }
    if (v != null) {
      throw error("axes", "axes must be a constant");
    }
    return longsAttr(n, "axes", null);
  }

  private Value unsqueeze(Value v, long[] axes) throws ModelFormatException {
    v = viewOf(v);
    if (axes == null) {
      throw error("axes", "Unsqueeze needs axes");
    }
    if (v instanceof SymVec s && s.scalar() && axes.length == 1 && axes[0] == 0) {
      return new SymVec(s.dims(), false);
    }
    if (v instanceof Filled f) {
      List<Dim> shape = new ArrayList<>(f.shape());
      for (long a : sortedAxes(axes, shape.size() + axes.length)) {
        shape.add((int) a, Dim.of(1));
      }
      return new Filled(shape, f.value());
    }
    if (v instanceof Dyn d) {
      List<List<Atom>> axesOut = new ArrayList<>(d.axes());
      for (long a : sortedAxes(axes, d.rank() + axes.length)) {
        axesOut.add((int) a, List.of());
      }
      return new Dyn(d.ref(), axesOut, d.features(), d.hasTime());
    }
    throw error("axes", "Unsqueeze of " + describe(v) + " is not supported");
  }

  private Value squeeze(Value v, long[] axes) throws ModelFormatException {
    if (v instanceof Stacked st
        && st.items().size() == 1
        && axes != null
        && axes.length == 1
        && (axes[0] == 0 || axes[0] == -3)) {
      // h_n.squeeze(0) of one layer and direction: its only final state, as h_n[0] / h_n[-1].
      return st.items().get(0);
    }
    v = viewOf(v);
    if (v instanceof Dyn d) {
      List<List<Atom>> axesOut = new ArrayList<>(d.axes());
      if (axes == null) {
        throw error("axes", "Squeeze of a run-time tensor needs explicit axes");
      }
      long[] sorted = sortedAxes(axes, d.rank());
      for (int i = sorted.length - 1; i >= 0; i--) {
        List<Atom> axis = axesOut.remove((int) sorted[i]);
        if (!nonUnit(axis).isEmpty()) {
          throw error("axes", "cannot squeeze axis " + sorted[i] + " of size " + dimOf(axis));
        }
      }
      return new Dyn(d.ref(), axesOut, d.features(), d.hasTime());
    }
    throw error("axes", "Squeeze of " + describe(v) + " is not supported");
  }

  private Value concat(Onnx.NodeProto n) throws ModelFormatException {
    long axis = intAttr(n, "axis", 0);
    List<Value> parts = new ArrayList<>();
    for (int k = 0; k < n.getInputCount(); k++) {
      parts.add(in(n, k));
    }
    if (axis == 0 && parts.stream().allMatch(p -> p instanceof Stacked)) {
      // PyTorch's h_n of a stack: the final states of every layer, layer by layer.
      List<Value> items = new ArrayList<>();
      parts.forEach(p -> items.addAll(((Stacked) p).items()));
      return new Stacked(items);
    }
    if ((axis == 1 || axis == -1)
        && parts.size() == 2
        && parts.get(0) instanceof Final f
        && parts.get(1) instanceof Final b
        && f.node() == b.node()
        && f.dir() == 0
        && b.dir() == 1) {
      // torch.cat((h_n[-2], h_n[-1]), 1): both halves' final states, Keras
      // Bidirectional(return_sequences=False, merge_mode='concat').
      return lastStep(f.node(), Bidirectional.MergeMode.CONCAT, 0, 2 * f.node().hidden());
    }
    List<Dim> dims = new ArrayList<>();
    for (Value v : parts) {
      SymVec s = symVec(v);
      if (s == null || s.scalar()) {
        throw error(
            "axis",
            "Concat of "
                + describe(v)
                + " on axis "
                + axis
                + " is not supported (shape vectors, stacked final states, or the two directions'"
                + " final states of one bidirectional node)");
      }
      dims.addAll(s.dims());
    }
    return simplify(new SymVec(dims, false));
  }

  /**
   * {@code h_n.view(layers, dirs, N, H)}: a stack {@code [k, N, H]} whose first axis is split into
   * static factors becomes a stack of stacks, row-major; null when the target is not of that form.
   */
  private static Stacked nestedStack(Stacked st, SymVec t) {
    List<Dim> dims = t.dims();
    int k = dims.size() - 2;
    if (k < 2 || !dims.get(k).equals(new Dim('N', -1))) {
      return null;
    }
    long product = 1;
    for (int i = 0; i < k; i++) {
      if (!dims.get(i).isStatic() || dims.get(i).size() <= 0) {
        return null;
      }
      product *= dims.get(i).size();
    }
    if (product != st.items().size()) {
      return null;
    }
    List<Value> items = st.items();
    for (int i = k - 1; i >= 1; i--) {
      int size = (int) dims.get(i).size();
      List<Value> grouped = new ArrayList<>();
      for (int j = 0; j < items.size(); j += size) {
        grouped.add(new Stacked(items.subList(j, j + size)));
      }
      items = grouped;
    }
    return new Stacked(items);
  }

  /**
   * A pending Dense, a final state or a stack of them seen as a run-time tensor, so views apply to
   * it: {@code Final} is {@code [N, H]}; a stack of one value is {@code [1, N, H]}; the stack of
   * both directions' final states of one node is {@code [2, N, H]} over the concat of its last
   * steps (fwd then bwd, the core order), so {@code h_n.permute(1, 0, 2).reshape(N, -1)} is {@code
   * cat(h_n[-2], h_n[-1])}. Anything else is returned unchanged.
   */
  private Value viewOf(Value v) throws ModelFormatException {
    if (v instanceof Final f) {
      return dyn(f, "final state");
    }
    if (v instanceof Affine a) {
      return dyn(a, "Dense output"); // a view of a Dense output: the layer it becomes
    }
    if (!(v instanceof Stacked st)) {
      return v;
    }
    if (st.items().size() == 1
        && (st.items().get(0) instanceof Final || st.items().get(0) instanceof Dyn)) {
      Dyn d = dyn(st.items().get(0), "state");
      List<List<Atom>> axes = new ArrayList<>();
      axes.add(List.of());
      axes.addAll(d.axes());
      return new Dyn(d.ref(), axes, d.features(), d.hasTime());
    }
    if (st.items().size() == 2
        && st.items().get(0) instanceof Final f
        && st.items().get(1) instanceof Final b
        && f.node() == b.node()
        && f.node().layers().size() == 2
        && f.dir() == 0
        && b.dir() == 1) {
      int h = f.node().hidden();
      Dyn both = lastStep(f.node(), Bidirectional.MergeMode.CONCAT, 0, 2 * h);
      Atom dir = feature(2);
      Atom units = feature(h);
      return new Dyn(
          both.ref(),
          List.of(List.of(dir), List.of(batchAtom()), List.of(units)),
          List.of(dir, units),
          false);
    }
    return v;
  }

  private int hiddenOf(Value item) throws ModelFormatException {
    if (item instanceof Dyn d) {
      return d.featureSize();
    }
    if (item instanceof Final f) {
      return f.node().hidden();
    }
    throw error(null, "unexpected stacked value " + describe(item));
  }

  /**
   * The recurrent node run again with {@code return_sequences=false}: output {@code index} of a
   * layer whose last-step output has {@code units} features.
   */
  private Dyn lastStep(Symbolic.Recurrence r, Bidirectional.MergeMode merge, int index, int units) {
    String name =
        r.name()
            + "/last"
            + (merge == Bidirectional.MergeMode.NONE ? "" : "_" + merge.name().toLowerCase());
    if (layerNames.add(name)) {
      Layer layer;
      if (r.layers().size() == 2) {
        Recurrent fwd = r.layers().get(0);
        Recurrent bwd = r.layers().get(1);
        layer =
            new Bidirectional(
                name,
                new Recurrent(fwd.name(), fwd.cell(), false, false, false, false),
                new Recurrent(bwd.name(), bwd.cell(), false, false, true, false),
                merge);
      } else {
        Recurrent one = r.layers().get(0);
        layer = new Recurrent(name, one.cell(), false, false, one.goBackwards(), false);
      }
      nodes.add(new Model.Node(layer, 0, r.inbound()));
    }
    Atom f = feature(units);
    return new Dyn(
        new Model.TensorRef(name, 0, index),
        List.of(List.of(batchAtom()), List.of(f)),
        List.of(f),
        false);
  }

  private Value slice(Onnx.NodeProto n) throws ModelFormatException {
    Value v = in(n, 0);
    long[] starts;
    long[] ends;
    long[] axes;
    long[] steps = null;
    if (n.getInputCount() >= 3) {
      starts = constLongs(in(n, 1), "starts");
      ends = constLongs(in(n, 2), "ends");
      axes = in(n, 3) == null ? null : constLongs(in(n, 3), "axes");
      steps = in(n, 4) == null ? null : constLongs(in(n, 4), "steps");
    } else {
      starts = longsAttr(n, "starts", null);
      ends = longsAttr(n, "ends", null);
      axes = longsAttr(n, "axes", null);
    }
    if (steps != null && Arrays.stream(steps).anyMatch(s -> s != 1)) {
      throw error("steps", "only step 1 is supported");
    }
    if (v instanceof Dyn d) {
      return sliceDyn(d, starts, ends, axes);
    }
    int rank = rankOf(v);
    List<int[]> ranges = new ArrayList<>(); // {axis, start, end}
    for (int i = 0; i < starts.length; i++) {
      int axis = (int) (axes == null ? i : axes[i] < 0 ? axes[i] + rank : axes[i]);
      long size = sizeOf(v, axis);
      ranges.add(
          new int[] {axis, (int) clampIndex(starts[i], size), (int) clampIndex(ends[i], size)});
    }
    if (v instanceof SymVec s && ranges.size() == 1) {
      return simplify(new SymVec(s.dims().subList(ranges.get(0)[1], ranges.get(0)[2]), false));
    }
    if (v instanceof Stacked st && ranges.size() == 1 && ranges.get(0)[0] == 0) {
      return new Stacked(st.items().subList(ranges.get(0)[1], ranges.get(0)[2]));
    }
    if (v instanceof Filled f) {
      List<Dim> shape = new ArrayList<>(f.shape());
      for (int[] r : ranges) {
        shape.set(r[0], Dim.of(r[2] - r[1]));
      }
      return new Filled(shape, f.value());
    }
    throw error(null, "Slice of " + describe(v) + " is not supported");
  }

  /**
   * Slice of a run-time tensor: whole static axes pass; on the time axis of a unidirectional node's
   * output, {@code y[-1:]} (or {@code y[:1]} going in reverse) is its last processed step, kept as
   * an axis of size 1 (tf2onnx writes Keras' {@code return_sequences=False} this way).
   */
  private Value sliceDyn(Dyn d, long[] starts, long[] ends, long[] axes)
      throws ModelFormatException {
    Dyn out = d;
    for (int i = 0; i < starts.length; i++) {
      int axis = (int) (axes == null ? i : axes[i] < 0 ? axes[i] + d.rank() : axes[i]);
      List<Atom> atoms = nonUnit(out.axes().get(axis));
      if (atoms.stream().allMatch(a -> a.kind() == 'F')) {
        long size = atoms.stream().mapToLong(Atom::size).reduce(1, (a, b) -> a * b);
        if (clampIndex(starts[i], size) == 0 && clampIndex(ends[i], size) == size) {
          continue; // the whole axis
        }
      } else if (atoms.equals(List.of(timeAtom()))) {
        boolean toEnd = ends[i] >= Integer.MAX_VALUE;
        long index = starts[i] == -1 && toEnd ? -1 : starts[i] == 0 && ends[i] == 1 ? 0 : 1;
        if (index != 1) {
          Dyn last = lastStepOf(out, axis, index);
          List<List<Atom>> kept = new ArrayList<>(last.axes());
          kept.add(axis, List.of());
          out = new Dyn(last.ref(), kept, last.features(), false);
          continue;
        }
      }
      throw error(
          null,
          "Slice ["
              + starts[i]
              + ":"
              + ends[i]
              + "] of "
              + describe(d)
              + " on axis "
              + axis
              + " is not supported; supported: whole static axes, and the last step [-1:] of a"
              + " sequence output on its time axis");
    }
    return out;
  }

  private int rankOf(Value v) {
    if (v instanceof Const c) {
      return c.rank();
    }
    if (v instanceof Filled f) {
      return f.shape().size();
    }
    if (v instanceof Dyn d) {
      return d.rank();
    }
    if (v instanceof Stacked) {
      return 3;
    }
    return 1;
  }

  /** Size of a static axis; Long.MAX_VALUE when symbolic (slices then clamp to the request). */
  private long sizeOf(Value v, int axis) {
    if (v instanceof Const c) {
      return c.shape()[axis];
    }
    if (v instanceof SymVec s) {
      return s.dims().size();
    }
    if (v instanceof Stacked st && axis == 0) {
      return st.items().size();
    }
    if (v instanceof Filled f && f.shape().get(axis).isStatic()) {
      return f.shape().get(axis).size();
    }
    return Long.MAX_VALUE;
  }

  private long[] constLongs(Value v, String what) throws ModelFormatException {
    if (v instanceof Const c) {
      return c.longs();
    }
    throw error(null, what + " must be a constant, found " + describe(v));
  }

  private Value constantOfShape(Onnx.NodeProto n) throws ModelFormatException {
    SymVec s = symVec(in(n, 0));
    if (s == null) {
      throw error(null, "ConstantOfShape needs a shape vector");
    }
    double value = 0;
    for (Onnx.AttributeProto a : n.getAttributeList()) {
      if (a.getName().equals("value")) {
        value = tensor(a.getT(), file + ": ConstantOfShape value").data()[0];
      }
    }
    return new Filled(s.dims(), value);
  }

  /** Expand of a constant with one value everywhere (PyTorch's zero states): a filled tensor. */
  private Value expand(Value v, Value shape) throws ModelFormatException {
    SymVec s = symVec(shape);
    if (v instanceof Const c && s != null && c.data().length > 0) {
      boolean uniform = Arrays.stream(c.data()).allMatch(x -> x == c.data()[0]);
      if (uniform && c.rank() <= s.dims().size()) {
        List<Dim> dims = new ArrayList<>(s.dims());
        int offset = dims.size() - c.rank();
        for (int i = 0; i < c.rank(); i++) {
          Dim target = dims.get(offset + i);
          if (target.isStatic() && target.size() == 1) {
            dims.set(offset + i, Dim.of(c.shape()[i]));
          }
        }
        return new Filled(dims, c.data()[0]);
      }
    }
    if (v instanceof Filled f && s != null && f.shape().size() == s.dims().size()) {
      return new Filled(s.dims(), f.value());
    }
    throw error(null, "Expand of " + describe(v) + " is not supported (only uniform constants)");
  }

  private Value transpose(Value v, long[] perm) throws ModelFormatException {
    v = viewOf(v);
    int rank = rankOf(v);
    if (perm == null) {
      perm = new long[rank];
      for (int i = 0; i < rank; i++) {
        perm[i] = rank - 1 - i;
      }
    }
    if (v instanceof Dyn d) {
      List<List<Atom>> out = new ArrayList<>();
      for (long p : perm) {
        out.add(d.axes().get((int) p));
      }
      return new Dyn(d.ref(), out, d.features(), d.hasTime());
    }
    throw error("perm", "Transpose of " + describe(v) + " is not supported");
  }

  // ---------------------------------------------------------------- reshape of run-time tensors

  private Value reshape(Value v, Value target, boolean allowZero) throws ModelFormatException {
    SymVec t = symVec(target);
    if (t == null || t.scalar()) {
      throw error(null, "Reshape target must be a constant or a shape vector");
    }
    if (v instanceof Const) {
      throw error(null, "cannot reshape a constant to a batch or time dimension " + t.dims());
    }
    Stacked nested = v instanceof Stacked st ? nestedStack(st, t) : null;
    if (nested != null) {
      return nested;
    }
    v = viewOf(v);
    if (!(v instanceof Dyn d)) {
      throw error(null, "Reshape of " + describe(v) + " is not supported");
    }
    List<Dim> dims = new ArrayList<>(t.dims());
    for (int i = 0; i < dims.size(); i++) {
      if (!allowZero && dims.get(i).isStatic() && dims.get(i).size() == 0) {
        dims.set(i, dimOf(d.axes().get(i)));
      }
    }
    List<Atom> flat = new ArrayList<>();
    d.axes().forEach(flat::addAll);
    List<Atom> features = new ArrayList<>(d.features());
    int infer = -1;
    for (int i = 0; i < dims.size(); i++) {
      if (dims.get(i).isStatic() && dims.get(i).size() == -1) {
        infer = i;
      }
    }
    List<List<Atom>> out = new ArrayList<>();
    for (int i = 0; i < dims.size(); i++) {
      out.add(new ArrayList<>());
    }
    int lo = 0;
    int hi = flat.size();
    int stop = infer < 0 ? dims.size() : infer;
    for (int i = 0; i < stop; i++) {
      lo = consume(dims.get(i), flat, lo, +1, out.get(i), features, d);
    }
    if (infer >= 0) {
      for (int i = dims.size() - 1; i > infer; i--) {
        hi = consume(dims.get(i), flat, hi, -1, out.get(i), features, d);
      }
      out.get(infer).addAll(flat.subList(lo, hi));
    } else if (!nonUnit(flat.subList(lo, hi)).isEmpty()) {
      throw reshapeError(d, t);
    }
    return new Dyn(d.ref(), out, features, d.hasTime());
  }

  /**
   * Takes atoms for one target dimension from {@code flat}, starting at {@code at} going {@code
   * dir}; splits a feature atom when the dimension cuts through it. Returns the new position.
   */
  private int consume(
      Dim want, List<Atom> flat, int at, int dir, List<Atom> into, List<Atom> features, Dyn d)
      throws ModelFormatException {
    long need = want.isStatic() ? want.size() : 1;
    boolean needSymbol = !want.isStatic();
    while (true) {
      int idx = dir > 0 ? at : at - 1;
      boolean done = need == 1 && !needSymbol;
      if (idx < 0 || idx >= flat.size()) {
        if (done) {
          return at;
        }
        throw error("shape", "cannot reshape " + d.view() + " to a dimension " + want);
      }
      Atom a = flat.get(idx);
      if (done && !a.unit()) {
        return at;
      }
      if (needSymbol && a.kind() == 'F' && !a.unit() && need == 1) {
        throw mixesError(d, want, null);
      }
      if (a.kind() != 'F') {
        if (!needSymbol || a.kind() != want.symbol()) {
          throw mixesError(d, want, a);
        }
        needSymbol = false;
      } else if (need % a.size() == 0) {
        need /= a.size();
      } else if (a.size() % need == 0) {
        // The dimension ends inside this feature factor: split it in two.
        splitFeature(flat, features, idx, dir > 0 ? need : a.size() / need);
        if (dir < 0) {
          at++; // the list grew before the cursor
        }
        continue;
      } else {
        throw error("shape", "cannot reshape " + d.view() + " to a dimension " + want);
      }
      if (dir > 0) {
        into.add(a);
        at++;
      } else {
        into.add(0, a);
        at--;
      }
    }
  }

  /**
   * Reshaping {@code d} to a dimension {@code want} of batch or time would put features into it
   * ({@code other} null), or puts batch or time atom {@code other} into the wrong dimension.
   */
  private ModelFormatException mixesError(Dyn d, Dim want, Atom other) {
    if (other == null) {
      return error(
          "shape",
          "reshape of "
              + d.view()
              + " would mix "
              + (want.symbol() == 'N' ? "batch" : "time")
              + " and features into one dimension "
              + want
              + ": its rows would not be "
              + (want.symbol() == 'N' ? "the sequences of the batch" : "time steps"));
    }
    return error(
        "shape",
        "reshape of "
            + d.view()
            + " would mix "
            + (other.kind() == 'N' ? "batch" : "time")
            + " into a dimension "
            + want);
  }

  /**
   * Splits feature atom {@code flat[idx]} into an outer factor of {@code outerSize} and the inner
   * rest, in {@code flat} and in the feature order {@code features} alike.
   */
  private void splitFeature(List<Atom> flat, List<Atom> features, int idx, long outerSize) {
    Atom a = flat.get(idx);
    Atom outer = feature((int) outerSize);
    Atom inner = feature((int) (a.size() / outerSize));
    flat.set(idx, outer);
    flat.add(idx + 1, inner);
    int fi = features.indexOf(a);
    features.set(fi, outer);
    features.add(fi + 1, inner);
  }

  private ModelFormatException reshapeError(Dyn d, SymVec t) {
    return error("shape", "cannot reshape " + d.view() + " to " + t.dims());
  }

  // ---------------------------------------------------------------- recurrent nodes

  private List<Value> recurrent(Onnx.NodeProto n) throws ModelFormatException {
    String op = n.getOpType();
    checkRecurrentAttributes(n);
    int gates = op.equals("LSTM") ? 4 : op.equals("GRU") ? 3 : 1;
    int hidden = (int) intAttr(n, "hidden_size", -1);
    String direction = stringAttr(n, "direction", "forward");
    int dirs = direction.equals("bidirectional") ? 2 : 1;
    long layout = intAttr(n, "layout", 0);
    Dyn x = dyn(n.getInput(0), "input X");
    Const w = weight(n, 1, "W", new int[] {dirs, gates * hidden, -1});
    int inputSize = w.shape()[2];
    Const r = weight(n, 2, "R", new int[] {dirs, gates * hidden, hidden});
    Const b = in(n, 3) == null ? null : weight(n, 3, "B", new int[] {dirs, 2 * gates * hidden});
    if (in(n, 4) != null) {
      throw error(
          null, "input sequence_lens is not supported (every sequence must be full length)");
    }
    if (op.equals("LSTM") && in(n, 7) != null) {
      throw error(null, "input P (peepholes) is not supported");
    }
    checkSequenceInput(x, layout == 1, inputSize);
    List<String> acts = stringsAttr(n, "activations");
    int perDir = gates == 4 ? 3 : gates == 3 ? 2 : 1;
    if (!acts.isEmpty() && acts.size() != perDir * dirs) {
      throw error(
          "activations", "expected " + perDir * dirs + " activations, found " + acts.size());
    }
    List<Model.TensorRef> inbound = recurrentInbound(n, x, dirs, hidden, layout);
    String name = layerName(n);
    Recurrent[] layers = new Recurrent[dirs];
    for (int d = 0; d < dirs; d++) {
      List<String> mine = acts.isEmpty() ? List.of() : acts.subList(d * perDir, (d + 1) * perDir);
      RecurrentCell cell =
          OnnxCells.cell(
              op, intAttr(n, "linear_before_reset", 0) != 0, d, hidden, inputSize, w, r, b, mine);
      if (hasAttr(n, "clip")) {
        cell.withClip(floatAttr(n, "clip", Float.POSITIVE_INFINITY));
      }
      boolean backward = direction.equals("reverse") || d == 1;
      layers[d] =
          new Recurrent(
              dirs == 2 ? name + (d == 0 ? "/forward" : "/backward") : name,
              cell,
              true,
              false,
              backward,
              false);
      if (direction.equals("reverse")) {
        layers[d] = layers[d].withOutputInInputOrder();
      }
    }
    Layer layer =
        dirs == 2
            ? new Bidirectional(name, layers[0], layers[1], Bidirectional.MergeMode.CONCAT)
            : layers[0];
    nodes.add(new Model.Node(layer, 0, inbound));
    return recurrentOutputs(n, name, layers, inbound, hidden, layout);
  }

  /** The attributes of a recurrent node that BiStream cannot map, refused by name. */
  private void checkRecurrentAttributes(Onnx.NodeProto n) throws ModelFormatException {
    checkAttributes(
        n,
        Set.of(
            "hidden_size",
            "direction",
            "layout",
            "activations",
            "linear_before_reset",
            "input_forget",
            "clip",
            "activation_alpha",
            "activation_beta"));
    for (String a : List.of("activation_alpha", "activation_beta")) {
      if (hasAttr(n, a)) {
        throw error(a, "parameterised activations are not supported");
      }
    }
    if (intAttr(n, "input_forget", 0) != 0) {
      throw error("input_forget", "only input_forget=0 is supported");
    }
    String direction = stringAttr(n, "direction", "forward");
    if (!Set.of("forward", "reverse", "bidirectional").contains(direction)) {
      throw error("direction", "expected forward, reverse or bidirectional, found " + direction);
    }
    long layout = intAttr(n, "layout", 0);
    if (layout != 0 && layout != 1) {
      throw error("layout", "expected 0 or 1, found " + layout);
    }
    if (hasAttr(n, "clip")) {
      float clip = floatAttr(n, "clip", Float.POSITIVE_INFINITY);
      if (!(clip > 0)) {
        throw error("clip", "expected a positive threshold, found " + clip);
      }
    }
  }

  /**
   * The layer's inbound tensors: the sequence X, then per direction its initial hidden state and
   * (LSTM) cell state when the node is given them.
   */
  private List<Model.TensorRef> recurrentInbound(
      Onnx.NodeProto n, Dyn x, int dirs, int hidden, long layout) throws ModelFormatException {
    boolean lstm = n.getOpType().equals("LSTM");
    List<Model.TensorRef> inbound = new ArrayList<>(List.of(x.ref()));
    List<Model.TensorRef> h0 = initialStates(in(n, 5), "initial_h", dirs, hidden, layout);
    List<Model.TensorRef> c0 =
        lstm ? initialStates(in(n, 6), "initial_c", dirs, hidden, layout) : List.of();
    if (lstm && h0.isEmpty() != c0.isEmpty()) {
      throw error(null, "initial_h and initial_c must both be given or both be absent");
    }
    for (int d = 0; d < dirs; d++) {
      inbound.add(h0.isEmpty() ? null : h0.get(d));
      if (!c0.isEmpty()) {
        inbound.add(c0.get(d));
      }
    }
    inbound.removeIf(java.util.Objects::isNull);
    return inbound;
  }

  /**
   * The node's outputs as symbolic values: Y [T, dirs, N, H] (layout 0) or [N, T, dirs, H] (layout
   * 1); Y_h as the stack of the directions' final states (layout 0 only); Y_c refused where used.
   */
  private List<Value> recurrentOutputs(
      Onnx.NodeProto n,
      String name,
      Recurrent[] layers,
      List<Model.TensorRef> inbound,
      int hidden,
      long layout) {
    String op = n.getOpType();
    int dirs = layers.length;
    Atom dirAtom = feature(dirs);
    Atom hAtom = feature(hidden);
    Atom nAtom = batchAtom();
    Atom tAtom = timeAtom();
    List<List<Atom>> view =
        layout == 0
            ? List.of(List.of(tAtom), List.of(dirAtom), List.of(nAtom), List.of(hAtom))
            : List.of(List.of(nAtom), List.of(tAtom), List.of(dirAtom), List.of(hAtom));
    Dyn y = new Dyn(ref(name), view, List.of(dirAtom, hAtom), true);
    Symbolic.Recurrence rec = new Symbolic.Recurrence(name, List.of(layers), inbound, hidden);
    recurrences.put(name, rec);
    List<Value> finals = new ArrayList<>();
    for (int d = 0; d < dirs; d++) {
      finals.add(new Final(rec, d));
    }
    String where = op + " node " + nodeLabel(n);
    Value yh =
        layout == 0
            ? new Stacked(finals)
            : new Unavailable(
                "the final hidden state Y_h of layout=1 " + where,
                "BiStream maps Y_h of layout=0 nodes (as torch.onnx.export writes them); take"
                    + " the last step of the sequence output Y instead");
    Unavailable yc =
        new Unavailable(
            "the final cell state Y_c of " + where,
            "BiStream maps the sequence output Y and the final hidden state Y_h (h_n) of an "
                + op
                + ", not its cell state");
    return List.of(y, yh, yc);
  }

  private void checkSequenceInput(Dyn x, boolean batchMajor, int inputSize)
      throws ModelFormatException {
    // X is rank 3 by the ONNX spec. Compare axis by axis with size-1 factors dropped, but never
    // drop a whole axis: with one input feature the feature axis holds only a size-1 factor, and
    // it is still the feature axis.
    Atom outer = batchMajor ? batchAtom() : timeAtom();
    Atom inner = batchMajor ? timeAtom() : batchAtom();
    boolean ok =
        x.rank() == 3
            && nonUnit(x.axes().get(0)).equals(List.of(outer))
            && nonUnit(x.axes().get(1)).equals(List.of(inner))
            && x.axes().get(2).stream().allMatch(a -> a.kind() == 'F')
            && flatFeatures(x).equals(nonUnit(x.features()))
            && x.hasTime();
    if (!ok || x.featureSize() != inputSize) {
      throw error(
          "layout",
          "input X is laid out as "
              + x.view()
              + " with "
              + x.featureSize()
              + " features; expected "
              + (batchMajor ? "[N] [T] [features]" : "[T] [N] [features]")
              + " with "
              + inputSize
              + " features (the W input's last dimension)");
    }
  }

  private List<Model.TensorRef> initialStates(
      Value v, String what, int dirs, int hidden, long layout) throws ModelFormatException {
    if (v == null) {
      return List.of();
    }
    if (v instanceof Filled f && f.value() == 0) {
      List<Dim> expected =
          layout == 0
              ? List.of(Dim.of(dirs), new Dim('N', -1), Dim.of(hidden))
              : List.of(new Dim('N', -1), Dim.of(dirs), Dim.of(hidden));
      if (f.shape().equals(expected)) {
        return List.of(); // zeros: the same as absent
      }
      throw error(null, what + " of zeros has shape " + f.shape() + ", expected " + expected);
    }
    if (v instanceof Const c && Arrays.stream(c.data()).allMatch(z -> z == 0) && c.rank() == 3) {
      // Zeros traced at a fixed batch size (a static export folded without symbolic shapes):
      // zeros for any batch, the same as absent.
      int dirAxis = layout == 0 ? 0 : 1;
      if (c.shape()[dirAxis] == dirs && c.shape()[2] == hidden) {
        return List.of();
      }
    }
    if (v instanceof Stacked st && layout == 0 && st.items().size() == dirs) {
      List<Model.TensorRef> refs = new ArrayList<>();
      for (Value item : st.items()) {
        if (!(item instanceof Dyn d)) {
          throw error(null, what + " must come from a graph input, found " + describe(item));
        }
        if (d.featureSize() != hidden) {
          throw error(null, what + " has " + d.featureSize() + " units, expected " + hidden);
        }
        refs.add(d.ref());
      }
      return refs;
    }
    throw error(
        null,
        what
            + " must be a graph input [directions, N, H] (or a slice of one), zeros or absent;"
            + " found "
            + describe(v));
  }

  private Const weight(Onnx.NodeProto n, int k, String what, int[] expected)
      throws ModelFormatException {
    Value v = in(n, k);
    if (!(v instanceof Const c)) {
      throw error(null, "input " + what + " must be an initializer or constant");
    }
    boolean ok = c.rank() == expected.length;
    for (int i = 0; ok && i < expected.length; i++) {
      ok = expected[i] < 0 || expected[i] == c.shape()[i];
    }
    if (!ok) {
      throw error(
          null,
          "input "
              + what
              + " has shape "
              + Arrays.toString(c.shape())
              + ", expected "
              + Arrays.toString(expected).replace("-1", "D"));
    }
    return c;
  }

  // ---------------------------------------------------------------- heads

  private Value matMul(Onnx.NodeProto n) throws ModelFormatException {
    Dyn x = dyn(n.getInput(0), "input A");
    Value b = in(n, 1);
    if (!(b instanceof Const w) || w.rank() != 2) {
      throw error(null, "MatMul input B must be a constant matrix, found " + describe(b));
    }
    checkRows(x, w.shape()[0]);
    return new Affine(
        x,
        w.shape()[0],
        w.shape()[1],
        w.floats(),
        new float[w.shape()[1]],
        Activation.LINEAR,
        layerName(n),
        "MatMul");
  }

  private Value gemm(Onnx.NodeProto n) throws ModelFormatException {
    checkAttributes(n, Set.of("alpha", "beta", "transA", "transB"));
    if (intAttr(n, "transA", 0) != 0) {
      throw error("transA", "only transA=0 is supported");
    }
    Dyn x = dyn(n.getInput(0), "input A");
    Value bv = in(n, 1);
    if (!(bv instanceof Const b) || b.rank() != 2) {
      throw error(null, "Gemm input B must be a constant matrix, found " + describe(bv));
    }
    boolean transB = intAttr(n, "transB", 0) != 0;
    int in = b.shape()[transB ? 1 : 0];
    int out = b.shape()[transB ? 0 : 1];
    double[] kernel = transB ? transpose2d(b.data(), b.shape()[0], b.shape()[1]) : b.data();
    float alpha = floatAttr(n, "alpha", 1f);
    float beta = floatAttr(n, "beta", 1f);
    float[] k = new float[kernel.length];
    for (int i = 0; i < k.length; i++) {
      k[i] = alpha * (float) kernel[i];
    }
    float[] bias = new float[out];
    Value c = in(n, 2);
    if (c != null) {
      float[] cb = biasVector(c, out);
      for (int j = 0; j < out; j++) {
        bias[j] = beta * cb[j];
      }
    }
    checkRows(x, in);
    return new Affine(x, in, out, k, bias, Activation.LINEAR, layerName(n), "Gemm");
  }

  private Value add(Onnx.NodeProto n) throws ModelFormatException {
    Value a = in(n, 0);
    Value b = in(n, 1);
    Symbolic.Recurrence both = bothDirections(a, b);
    if (both != null) {
      // h_n[-2] + h_n[-1]: Keras Bidirectional(return_sequences=False, merge_mode='sum').
      return lastStep(both, Bidirectional.MergeMode.SUM, 0, both.hidden());
    }
    if (a instanceof Const) {
      Value t = a;
      a = b;
      b = t;
    }
    if (!(b instanceof Const bias)) {
      throw error(null, "Add of two run-time tensors is not supported; one side must be a bias");
    }
    return withBias(n, a, bias, 1);
  }

  /** The node whose forward and backward final states a and b are (either order), or null. */
  private static Symbolic.Recurrence bothDirections(Value a, Value b) {
    if (a instanceof Final f
        && b instanceof Final g
        && f.node() == g.node()
        && f.dir() != g.dir()) {
      return f.node();
    }
    return null;
  }

  /** x - c is a bias of -c; c - x is -x (a diagonal of -1) plus the bias c. */
  private Value sub(Onnx.NodeProto n) throws ModelFormatException {
    Value a = in(n, 0);
    Value b = in(n, 1);
    if (b instanceof Const c) {
      return withBias(n, a, c, -1);
    }
    if (a instanceof Const c) {
      return withBias(n, scaled(n, b, new Const(new int[0], new double[] {1}), v -> -v), c, 1);
    }
    throw error(null, "Sub of two run-time tensors is not supported; one side must be a constant");
  }

  private Value mul(Onnx.NodeProto n) throws ModelFormatException {
    Value a = in(n, 0);
    Value b = in(n, 1);
    if (a instanceof Const) {
      Value t = a;
      a = b;
      b = t;
    }
    if (!(b instanceof Const scale)) {
      throw error(
          null, "Mul of two run-time tensors is not supported; one side must be a constant");
    }
    return scaled(n, a, scale, v -> v);
  }

  /** x / c is x times 1 / c (within a rounding of the quotient). */
  private Value div(Onnx.NodeProto n) throws ModelFormatException {
    if (!(in(n, 1) instanceof Const c)) {
      throw error(null, "Div is supported only by a constant divisor");
    }
    return scaled(n, in(n, 0), c, v -> 1 / v);
  }

  /** A bias ({@code sign} times a constant broadcast over the last axis) added to a value. */
  private Value withBias(Onnx.NodeProto n, Value a, Const bias, int sign)
      throws ModelFormatException {
    Affine f =
        a instanceof Affine af && af.activation() == Activation.LINEAR
            ? af
            : identity(dyn(a, "input"), layerName(n));
    float[] add = biasVector(bias, f.out());
    float[] sum = f.bias().clone();
    for (int j = 0; j < sum.length; j++) {
      sum[j] += sign * add[j];
    }
    return new Affine(
        f.input(), f.in(), f.out(), f.kernel(), sum, f.activation(), f.name(), f.kind());
  }

  /**
   * A run-time tensor times a constant per-feature scale (an inference BatchNormalization as
   * tf2onnx writes it, a standardisation): a Dense with that diagonal, exact in float since every
   * other term is 0.
   */
  private Value scaled(
      Onnx.NodeProto n, Value a, Const scale, java.util.function.DoubleUnaryOperator f)
      throws ModelFormatException {
    Dyn x = dyn(a, "input");
    int width = x.featureSize();
    float[] s = biasVector(scale, width);
    checkRows(x, width);
    float[] diagonal = new float[width * width];
    for (int i = 0; i < width; i++) {
      diagonal[i * width + i] = (float) f.applyAsDouble(s[i]);
    }
    return new Affine(
        x,
        width,
        width,
        diagonal,
        new float[width],
        Activation.LINEAR,
        layerName(n),
        n.getOpType());
  }

  /** A bias added to a value that no MatMul produced: an identity Dense (exact in float). */
  private Affine identity(Dyn x, String name) throws ModelFormatException {
    int f = x.featureSize();
    checkRows(x, f);
    float[] eye = new float[f * f];
    for (int i = 0; i < f; i++) {
      eye[i * f + i] = 1;
    }
    return new Affine(x, f, f, eye, new float[f], Activation.LINEAR, name, "Add");
  }

  private float[] biasVector(Value v, int size) throws ModelFormatException {
    if (v instanceof Const c && c.data().length == size) {
      boolean lastAxis = c.rank() >= 1 && c.shape()[c.rank() - 1] == size;
      if (lastAxis || size == 1) {
        return c.floats();
      }
    }
    if (v instanceof Const c && c.data().length == 1) {
      float[] out = new float[size];
      Arrays.fill(out, (float) c.data()[0]);
      return out;
    }
    throw error(null, "bias " + describe(v) + " does not broadcast over the last axis of " + size);
  }

  private Value activation(Onnx.NodeProto n, Activation a) throws ModelFormatException {
    Value v = in(n, 0);
    if (a == Activation.SOFTMAX || a == Activation.LOG_SOFTMAX) {
      int rank = rankOf(v instanceof Affine af ? af.input() : v);
      long opset = opset();
      long axis = intAttr(n, "axis", opset >= 13 ? -1 : 1);
      if (axis < 0) {
        axis += rank;
      }
      if (axis != rank - 1) {
        throw error(
            "axis", n.getOpType() + " over axis " + axis + "; only the last axis is supported");
      }
    }
    if (v instanceof Affine af && af.activation() == Activation.LINEAR) {
      return elementWise(v, a, null, null); // folded into the Dense: no layer of its own
    }
    return elementWise(v, a, layerName(n), n.getOpType());
  }

  /** An element-wise activation: folded into a pending Dense, else its own layer. */
  private Value elementWise(Value v, Activation a, String name, String kind)
      throws ModelFormatException {
    if (v instanceof Affine af && af.activation() == Activation.LINEAR) {
      return new Affine(
          af.input(), af.in(), af.out(), af.kernel(), af.bias(), a, af.name(), af.kind());
    }
    Dyn x = dyn(v, "input");
    checkRows(x, x.featureSize());
    nodes.add(new Model.Node(new ElementWise(name, kind, a), 0, List.of(x.ref())));
    return new Dyn(ref(name), x.axes(), x.features(), x.hasTime());
  }

  private long opset() {
    return declaredOpset().orElse(13);
  }

  /** The version of the default (ai.onnx) operator set the model imports, if it says. */
  private OptionalLong declaredOpset() {
    return proto.getOpsetImportList().stream()
        .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
        .mapToLong(Onnx.OperatorSetIdProto::getVersion)
        .findFirst();
  }

  /** The value must be rows of features: the last axis all features, batch/time elsewhere. */
  private void checkRows(Dyn x, int features) throws ModelFormatException {
    List<Atom> last = nonUnit(x.axes().get(x.rank() - 1));
    boolean ok = last.equals(nonUnit(x.features())) && x.featureSize() == features;
    for (int i = 0; i < x.rank() - 1; i++) {
      ok &= x.axes().get(i).stream().allMatch(a -> a.kind() != 'F' || a.unit());
    }
    if (!ok) {
      throw error(
          null,
          "input is laid out as "
              + x.view()
              + "; expected rows of "
              + features
              + " features on the last axis, in the order the layer computed them "
              + nonUnit(x.features()));
    }
  }

  // ---------------------------------------------------------------- run-time values

  private Dyn dyn(String name, String what) throws ModelFormatException {
    Value v = values.get(name);
    String named = what.contains("'" + name + "'") ? what : what + " '" + name + "'";
    if (v == null) {
      throw error(null, named + " is not produced by any node");
    }
    return dyn(v, named);
  }

  /** A run-time value, turning a pending affine map into a Dense layer. */
  private Dyn dyn(Value v, String what) throws ModelFormatException {
    if (v instanceof Dyn d) {
      return d;
    }
    if (v instanceof Affine a) {
      String name = a.name();
      nodes.add(
          new Model.Node(
              new Dense(name, a.kind(), a.in(), a.out(), a.kernel(), a.bias(), a.activation()),
              0,
              List.of(a.input().ref())));
      Atom f = feature(a.out());
      List<List<Atom>> axes = new ArrayList<>(a.input().axes());
      axes.set(axes.size() - 1, List.of(f));
      Dyn out = new Dyn(ref(name), axes, List.of(f), a.input().hasTime());
      values.replaceAll((k, x) -> x == a ? out : x);
      return out;
    }
    if (v instanceof Final f) {
      return lastStep(f.node(), Bidirectional.MergeMode.NONE, f.dir(), f.node().hidden());
    }
    if (v instanceof Stacked st && viewOf(st) instanceof Dyn d) {
      return d;
    }
    if (v instanceof Unavailable u) {
      throw error(null, what + " is " + u.what() + "; " + u.supported());
    }
    throw error(null, what + " must be computed from the model input, found " + describe(v));
  }

  private static String describe(Value v) {
    if (v == null) {
      return "an absent input";
    }
    if (v instanceof Const c) {
      return "a constant of shape " + Arrays.toString(c.shape());
    }
    if (v instanceof SymVec s) {
      return "the shape vector " + s.dims();
    }
    if (v instanceof Filled f) {
      return "a filled tensor of shape " + f.shape();
    }
    if (v instanceof Stacked st) {
      return "a stack of " + st.items().size() + " per-direction states";
    }
    if (v instanceof Dyn d) {
      return "a run-time tensor " + d.view();
    }
    if (v instanceof Affine) {
      return "a pending MatMul/Gemm result";
    }
    if (v instanceof Final f) {
      return "the final state of direction " + f.dir() + " of node '" + f.node().name() + "'";
    }
    return ((Unavailable) v).what();
  }

  private Model.TensorRef ref(String name) {
    return new Model.TensorRef(name, 0, 0);
  }

  private Atom feature(int size) {
    return new Atom('F', size, nextAtom++);
  }

  private static Atom batchAtom() {
    return new Atom('N', -1, 1);
  }

  private static Atom timeAtom() {
    return new Atom('T', -1, 2);
  }

  private String layerName(Onnx.NodeProto n) {
    String base = n.getName().isEmpty() ? n.getOpType() + "_" + n.getOutput(0) : n.getName();
    String name = base;
    for (int k = 1; !layerNames.add(name); k++) {
      name = base + "_" + k;
    }
    return name;
  }

  // ---------------------------------------------------------------- errors

  private void checkAttributes(Onnx.NodeProto n, Set<String> known) throws ModelFormatException {
    for (Onnx.AttributeProto a : n.getAttributeList()) {
      if (!known.contains(a.getName())) {
        throw error(
            a.getName(),
            "attribute is not supported; supported attributes of "
                + n.getOpType()
                + ": "
                + known.stream().sorted().collect(Collectors.joining(", ")));
      }
    }
  }

  /** 'name', or #index with the output names when the node is unnamed (PyTorch before 1.12). */
  private String nodeLabel(Onnx.NodeProto n) {
    if (!n.getName().isEmpty()) {
      return "'" + n.getName() + "'";
    }
    return "#"
        + graph.getNodeList().indexOf(n)
        + " (unnamed, outputs "
        + n.getOutputList().stream().map(o -> "'" + o + "'").collect(Collectors.joining(", "))
        + ")";
  }

  /** {@link #error(Onnx.NodeProto, String, String)} at the node being mapped. */
  private ModelFormatException error(String attribute, String detail) {
    return error(node, attribute, detail);
  }

  /** "file: node 'name' (Op): attribute 'a': detail. Supported ops: ...". */
  private ModelFormatException error(Onnx.NodeProto at, String attribute, String detail) {
    String where = at == null ? "" : "node " + nodeLabel(at) + " (" + at.getOpType() + "): ";
    return new ModelFormatException(
        file
            + ": "
            + where
            + (attribute == null ? "" : "attribute '" + attribute + "': ")
            + detail
            + ". Supported ops: "
            + SUPPORTED);
  }
}
