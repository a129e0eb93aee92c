package io.bistream.core.keras;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.layers.Activation;
import io.bistream.core.layers.BatchNormalization;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.ElementWise;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.GlobalPooling1D;
import io.bistream.core.layers.GruCell;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.LayerNormalization;
import io.bistream.core.layers.LstmCell;
import io.bistream.core.layers.Masking;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.layers.Reshaping;
import io.bistream.core.layers.SimpleRnnCell;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Builds a {@link Model} from a Keras model config (Keras 1, 2 and 3 layouts, and TF.js's topology,
 * which is the Keras 2 layout) and a {@link WeightStore}.
 *
 * <p>Weights are matched by name ({@code kernel}, {@code recurrent_kernel}, {@code bias}; Keras 1
 * per-gate {@code W_i}, {@code U_f}, ...), never by position, except where the format has no names
 * (Keras 3, whose store gives canonical names).
 */
final class KerasModelBuilder {

  static final String SUPPORTED =
      "InputLayer, LSTM, GRU, SimpleRNN, Bidirectional, Dense, TimeDistributed(Dense),"
          + " TimeDistributedDense, Embedding, Masking, BatchNormalization, LayerNormalization,"
          + " GlobalAveragePooling1D,"
          + " GlobalMaxPooling1D, Activation, Dropout, SpatialDropout1D,"
          + " GaussianNoise, GaussianDropout, AlphaDropout, RepeatVector, Reshape, Flatten";

  private static final Set<String> IDENTITY =
      Set.of(
          "Dropout",
          "SpatialDropout1D",
          "GaussianNoise",
          "GaussianDropout",
          "AlphaDropout",
          "ActivityRegularization");

  private final String file;
  private final int kerasMajor;
  private final WeightStore weights;

  KerasModelBuilder(String file, int kerasMajor, WeightStore weights) {
    this.file = file;
    this.kerasMajor = kerasMajor;
    this.weights = weights;
  }

  /** Keras major version from a {@code keras_version} string ("2.2.4-tf" gives 2). */
  static int majorVersion(String kerasVersion) {
    if (kerasVersion == null || kerasVersion.isBlank()) {
      return 2;
    }
    if (kerasVersion.startsWith("tfjs")) {
      return 2; // TF.js layers follow the Keras 2 definitions (hard_sigmoid = 0.2x + 0.5).
    }
    char c = kerasVersion.trim().charAt(0);
    return Character.isDigit(c) ? c - '0' : 2;
  }

  Model build(JsonNode topology, Model.Source source) throws ModelFormatException {
    String className = text(topology, "class_name", "");
    JsonNode config = topology.get("config");
    if (config == null) {
      throw new ModelFormatException(file + ": model config has no 'config' entry");
    }
    return switch (className) {
      case "Sequential" -> sequential(config, source);
      case "Model", "Functional" -> functional(config, source);
      default ->
          throw new ModelFormatException(
              file
                  + ": unsupported model class '"
                  + className
                  + "'; expected Sequential, Model or Functional");
    };
  }

  // ---------------------------------------------------------------- graphs

  private Model sequential(JsonNode config, Model.Source source) throws ModelFormatException {
    JsonNode layers = config.isArray() ? config : config.get("layers");
    if (layers == null || !layers.isArray() || layers.isEmpty()) {
      throw new ModelFormatException(file + ": Sequential model has no layers");
    }
    List<Model.Input> inputs = new ArrayList<>();
    List<Model.Node> nodes = new ArrayList<>();
    Model.TensorRef previous = null;
    for (JsonNode entry : layers) {
      String cls = text(entry, "class_name", "");
      JsonNode cfg = entry.path("config");
      String name = text(cfg, "name", cls.toLowerCase());
      if (previous == null) {
        String inputName = cls.equals("InputLayer") ? name : name + "_input";
        int[] shape = declaredInputShape(cfg);
        if (shape == null) {
          throw ModelFormatException.inLayer(
              file, name, cls, "the first layer declares no input shape (batch_input_shape)");
        }
        // Whether it takes token ids follows from the graph (Model marks inputs feeding an
        // Embedding), not from the declared dtype.
        inputs.add(new Model.Input(inputName, shape, false));
        previous = new Model.TensorRef(inputName, 0, 0);
        if (cls.equals("InputLayer")) {
          continue;
        }
      }
      nodes.add(new Model.Node(layer(cls, cfg, name, entry), 0, List.of(previous)));
      previous = new Model.TensorRef(name, 0, 0);
    }
    return new Model(source, inputs, nodes, List.of(previous));
  }

  private Model functional(JsonNode config, Model.Source source) throws ModelFormatException {
    Map<String, JsonNode> entries = new LinkedHashMap<>();
    Map<String, JsonNode> opEntries = new LinkedHashMap<>();
    for (JsonNode entry : config.path("layers")) {
      String name = text(entry.path("config"), "name", text(entry, "name", ""));
      (MaskOps.isOpNode(entry) ? opEntries : entries).put(name, entry);
    }
    MaskOps ops = new MaskOps(file, opEntries);
    List<Model.Input> inputs = new ArrayList<>();
    Map<String, Layer> built = new HashMap<>();
    Set<Model.TensorRef> available = new HashSet<>();
    List<Pending> pending = new ArrayList<>();
    for (Map.Entry<String, JsonNode> e : entries.entrySet()) {
      String name = e.getKey();
      String cls = text(e.getValue(), "class_name", "");
      JsonNode cfg = e.getValue().path("config");
      if (cls.equals("InputLayer")) {
        int[] shape = declaredInputShape(cfg);
        if (shape == null) {
          throw ModelFormatException.inLayer(file, name, cls, "no batch_input_shape");
        }
        inputs.add(new Model.Input(name, shape, false));
        available.add(new Model.TensorRef(name, 0, 0));
        continue;
      }
      built.put(name, layer(cls, cfg, name, e.getValue()));
      JsonNode inbound = e.getValue().path("inbound_nodes");
      for (int k = 0; k < inbound.size(); k++) {
        List<Model.TensorRef> refs = inboundRefs(inbound.get(k), name, cls);
        for (Model.TensorRef r : refs) {
          if (ops.isOp(r.layer())) {
            throw ops.refused(r.layer(), "is an input of layer '" + name + "'");
          }
        }
        List<Model.TensorRef> masks = new ArrayList<>();
        collectKerasTensors(inbound.get(k).path("kwargs").get("mask"), masks);
        pending.add(new Pending(name, cls, k, refs, masks));
      }
    }
    List<Pending> order = dependencyOrder(pending, available);
    List<Model.Node> nodes = new ArrayList<>();
    for (Pending p : order) {
      nodes.add(new Model.Node(built.get(p.layer()), p.node(), p.refs()));
    }
    carryMasks(order, nodes, ops);
    List<Model.TensorRef> outputs = layerRefs(config.path("output_layers"));
    for (Model.TensorRef r : outputs) {
      if (ops.isOp(r.layer())) {
        throw ops.refused(r.layer(), "is a model output");
      }
    }
    List<Model.Input> ordered = new ArrayList<>();
    for (Model.TensorRef ref : layerRefs(config.path("input_layers"))) {
      inputs.stream().filter(i -> i.name().equals(ref.layer())).forEach(ordered::add);
    }
    return new Model(source, ordered.isEmpty() ? inputs : ordered, nodes, outputs);
  }

  /**
   * The layer calls in an order where each comes after the calls whose outputs it uses ({@code
   * available}: the model inputs to start with); a config lists them in any order.
   */
  private List<Pending> dependencyOrder(List<Pending> pending, Set<Model.TensorRef> available)
      throws ModelFormatException {
    List<Pending> order = new ArrayList<>();
    while (!pending.isEmpty()) {
      boolean progress = false;
      for (Iterator<Pending> it = pending.iterator(); it.hasNext(); ) {
        Pending p = it.next();
        if (!available.containsAll(p.refs())) {
          continue;
        }
        order.add(p);
        for (int k = 0; k < 8; k++) {
          available.add(new Model.TensorRef(p.layer(), p.node(), k));
        }
        it.remove();
        progress = true;
      }
      if (!progress) {
        throw new ModelFormatException(
            file
                + ": layer '"
                + pending.get(0).layer()
                + "' uses tensors that no layer produces: "
                + pending.get(0).refs());
      }
    }
    return order;
  }

  /** A layer call read from the config, waiting for its inputs. */
  private record Pending(
      String layer,
      String cls,
      int node,
      List<Model.TensorRef> refs,
      List<Model.TensorRef> masks) {}

  /** Gives each recurrent call in {@code nodes} the mask its config passed as {@code mask=}. */
  private void carryMasks(List<Pending> calls, List<Model.Node> nodes, MaskOps ops)
      throws ModelFormatException {
    for (Pending p : calls) {
      for (Model.TensorRef m : p.masks()) {
        MaskOps.Mask mask = ops.resolve(m, p.layer(), p.cls());
        Model.Node node = producer(nodes, new Model.TensorRef(p.layer(), p.node(), 0));
        if (node.layer() instanceof Recurrent || node.layer() instanceof Bidirectional) {
          carryMask(nodes, nodes.indexOf(node), mask, p.cls());
        }
        // Other layers given a mask (TimeDistributed(Dense)) compute the same without it.
      }
    }
  }

  /**
   * Makes the recurrent node at {@code at} receive {@code mask}, which Keras passed to it as {@code
   * mask=}: ids != 0 is the mask of an Embedding with {@code mask_zero} on those ids, any(x != v)
   * the mask of a Masking(v) on x. Our graph carries a mask with the data from the layer that makes
   * it, so that layer must be on the data path: an Embedding of the same ids gets {@code
   * mask_zero}; a data input that is x unchanged gets a Masking(v) node before the recurrent layer.
   */
  private void carryMask(List<Model.Node> nodes, int at, MaskOps.Mask mask, String cls)
      throws ModelFormatException {
    Model.Node node = nodes.get(at);
    Model.TensorRef data = node.inbound().get(0);
    String where = "gets mask= from op node '" + mask.op() + "' = " + mask.expression() + ", but ";
    // Layers our graph passes a mask through unchanged: Dense, Activation, Dropout..., and
    // recurrent layers that return sequences (Keras' RNN.compute_mask hands the mask on).
    Model.TensorRef cur = data;
    Model.Node maker = producer(nodes, cur);
    while (maker != null && passesMaskOn(maker.layer()) && !maker.inbound().isEmpty()) {
      cur = maker.inbound().get(0);
      maker = producer(nodes, cur);
    }
    if (!mask.overFeatures()) {
      if (!(maker != null
          && maker.layer() instanceof Embedding e
          && sameValues(nodes, maker.inbound().get(0), mask.source()))) {
        throw ModelFormatException.inLayer(
            file,
            node.layer().name(),
            cls,
            where + "its input does not come from an Embedding of '" + mask.source() + "'");
      }
      if (mask.value() != 0) {
        throw ModelFormatException.inLayer(
            file,
            node.layer().name(),
            cls,
            where
                + "only ids != 0 (Embedding mask_zero) can be carried as a mask; found ids != "
                + MaskOps.number(mask.value()));
      }
      if (!e.maskZero()) {
        int k = nodes.indexOf(maker);
        nodes.set(k, new Model.Node(e.withMaskZero(), maker.nodeIndex(), maker.inbound()));
      }
      return;
    }
    if (maker != null
        && maker.layer() instanceof Masking m
        && m.maskValue() == (float) mask.value()
        && sameValues(nodes, maker.inbound().get(0), mask.source())) {
      return; // the Masking layer on the data path makes this very mask
    }
    if (!sameValues(nodes, data, mask.source())) {
      throw ModelFormatException.inLayer(
          file,
          node.layer().name(),
          cls,
          where
              + "its input is computed from '"
              + mask.source()
              + "' rather than passed on unchanged, so no Masking layer can carry it");
    }
    Masking masking = new Masking(mask.op(), (float) mask.value());
    List<Model.TensorRef> inbound = new ArrayList<>(node.inbound());
    inbound.set(0, new Model.TensorRef(masking.name(), 0, 0));
    nodes.set(at, new Model.Node(node.layer(), node.nodeIndex(), inbound));
    nodes.add(at, new Model.Node(masking, 0, List.of(data)));
  }

  private static boolean passesMaskOn(Layer layer) {
    return layer instanceof Dense
        || layer instanceof ElementWise
        || layer instanceof Recurrent r && r.returnSequences()
        || layer instanceof Bidirectional b && b.forward().returnSequences();
  }

  /** The node that computes {@code ref}, or null for a model input. */
  private static Model.Node producer(List<Model.Node> nodes, Model.TensorRef ref) {
    for (Model.Node n : nodes) {
      if (n.layer().name().equals(ref.layer()) && n.nodeIndex() == ref.node()) {
        return n;
      }
    }
    return null;
  }

  /** Whether {@code ref} holds the values of {@code source}, passed on by identity layers. */
  private static boolean sameValues(
      List<Model.Node> nodes, Model.TensorRef ref, Model.TensorRef source) {
    Model.TensorRef cur = ref;
    for (int hops = 0; hops <= nodes.size(); hops++) {
      if (cur.equals(source)) {
        return true;
      }
      Model.Node p = producer(nodes, cur);
      if (p == null || !(p.layer() instanceof ElementWise w && w.isIdentity())) {
        return false;
      }
      cur = p.inbound().get(0);
    }
    return false;
  }

  /** Refs of one inbound node: Keras 2 / TF.js lists, or Keras 3 {args, kwargs}. */
  private List<Model.TensorRef> inboundRefs(JsonNode node, String layer, String cls)
      throws ModelFormatException {
    List<Model.TensorRef> refs = new ArrayList<>();
    if (node.isArray()) {
      for (JsonNode r : node) {
        refs.add(new Model.TensorRef(r.get(0).asText(), r.get(1).asInt(), r.get(2).asInt()));
        JsonNode kwargs = r.size() > 3 ? r.get(3) : null;
        if (kwargs != null && kwargs.has("initial_state")) {
          collectKerasTensors(kwargs.get("initial_state"), refs);
        }
      }
    } else if (node.isObject()) {
      collectKerasTensors(node.path("args"), refs);
      JsonNode kwargs = node.path("kwargs");
      if (kwargs.has("initial_state")) {
        collectKerasTensors(kwargs.get("initial_state"), refs);
      }
    }
    if (refs.isEmpty()) {
      throw ModelFormatException.inLayer(file, layer, cls, "inbound node lists no input tensor");
    }
    return refs;
  }

  private static void collectKerasTensors(JsonNode n, List<Model.TensorRef> refs) {
    if (n == null || n.isNull()) {
      return;
    }
    if (n.isArray()) {
      if (n.size() >= 3 && n.get(0).isTextual() && n.get(1).isNumber()) {
        refs.add(new Model.TensorRef(n.get(0).asText(), n.get(1).asInt(), n.get(2).asInt()));
        return;
      }
      for (JsonNode c : n) {
        collectKerasTensors(c, refs);
      }
      return;
    }
    JsonNode history = n.path("config").path("keras_history");
    if (history.isArray() && history.size() >= 3) {
      refs.add(
          new Model.TensorRef(
              history.get(0).asText(), history.get(1).asInt(), history.get(2).asInt()));
    }
  }

  private static List<Model.TensorRef> layerRefs(JsonNode n) {
    List<Model.TensorRef> refs = new ArrayList<>();
    collectKerasTensors(n, refs);
    return refs;
  }

  /** The declared input shape without the batch dimension (-1 where unknown), or null. */
  private static int[] declaredInputShape(JsonNode cfg) {
    JsonNode shape = cfg.get("batch_input_shape");
    if (shape == null || shape.isNull()) {
      shape = cfg.get("batch_shape");
    }
    if (shape != null && shape.isArray()) {
      int[] s = new int[shape.size() - 1];
      for (int i = 1; i < shape.size(); i++) {
        s[i - 1] = shape.get(i).isNull() ? -1 : shape.get(i).asInt();
      }
      return s;
    }
    if (cfg.has("input_dim") && !cfg.has("output_dim") || cfg.has("input_length")) {
      // Keras 1: input_dim (+ input_length) on the first layer; Embedding has both dims.
      int length = cfg.path("input_length").isInt() ? cfg.get("input_length").asInt() : -1;
      return cfg.has("output_dim") && cfg.has("input_length")
          ? new int[] {length}
          : new int[] {length, cfg.get("input_dim").asInt()};
    }
    return null;
  }

  // ---------------------------------------------------------------- layers

  private Layer layer(String cls, JsonNode cfg, String name, JsonNode entry)
      throws ModelFormatException {
    requireFloat32(cfg, name, cls);
    requireFloat32(cfg.path("layer").path("config"), name, cls);
    requireFloat32(cfg.path("backward_layer").path("config"), name, cls);
    try {
      return switch (cls) {
        case "LSTM", "GRU", "SimpleRNN" -> recurrent(cls, cfg, name, weights(name, cls), name);
        case "Bidirectional" -> bidirectional(cfg, name);
        case "Dense" -> dense(name, "Dense", cfg, weights(name, cls));
        case "TimeDistributed" -> timeDistributed(cfg, name);
        case "TimeDistributedDense" -> dense(name, cls, cfg, weights(name, cls));
        case "Embedding" -> embedding(cfg, name);
        case "Masking" -> new Masking(name, (float) cfg.path("mask_value").asDouble(0.0));
        case "BatchNormalization" -> batchNormalization(cfg, name);
        case "LayerNormalization" -> layerNormalization(cfg, name);
        case "GlobalAveragePooling1D", "GlobalMaxPooling1D" -> globalPooling(cls, cfg, name);
        case "Activation" ->
            new ElementWise(
                name, cls, Activation.fromKeras(activationName(cfg, "activation"), kerasMajor));
        case "RepeatVector" -> Reshaping.repeatVector(name, cfg.path("n").asInt());
        case "Flatten" -> Reshaping.flatten(name);
        case "Reshape" -> Reshaping.reshape(name, ints(cfg.path("target_shape")));
        default -> {
          if (IDENTITY.contains(cls)) {
            yield ElementWise.identity(name, cls);
          }
          throw ModelFormatException.inLayer(file, name, cls, unsupported(cls, entry));
        }
      };
    } catch (IllegalArgumentException e) {
      throw ModelFormatException.inLayer(file, name, cls, e.getMessage());
    }
  }

  /**
   * Why a layer class is refused: Python code (Lambda, a custom class registered by the user) or a
   * built-in layer outside the supported set.
   */
  private static String unsupported(String cls, JsonNode entry) {
    String module = entry.path("module").asText("");
    String registered = entry.path("registered_name").asText("");
    if (cls.equals("Lambda")) {
      return "a Lambda layer holds Python code, which BiStream cannot run; rebuild the model"
          + " without it; supported: "
          + SUPPORTED;
    }
    // Built-in Keras 3 layers name their module (keras.layers) and no registration; a user's class
    // has its own module, or none and a registered name.
    boolean custom =
        !module.isEmpty() && !module.startsWith("keras") && !module.startsWith("tensorflow")
            || module.isEmpty() && !registered.isEmpty()
            || registered.contains(">") && !registered.startsWith("keras");
    if (custom) {
      return "a custom layer (registered as '"
          + (registered.isEmpty() ? cls : registered)
          + "'"
          + (module.isEmpty() ? "" : ", module '" + module + "'")
          + ") is user code, which BiStream cannot run; supported: "
          + SUPPORTED;
    }
    return "unsupported layer; supported: " + SUPPORTED;
  }

  /**
   * Refuses a layer whose dtype (a string, or a Keras 3 DTypePolicy / tf.keras mixed-precision
   * Policy object) is not float32: mixed_float16, bfloat16 or float64 layers compute in another
   * precision than the float32 this engine uses, so their outputs would differ from the
   * framework's.
   */
  private void requireFloat32(JsonNode cfg, String name, String cls) throws ModelFormatException {
    JsonNode dtype = cfg.get("dtype");
    if (dtype == null || dtype.isNull()) {
      return;
    }
    String policy =
        dtype.isObject()
            ? dtype.path("config").path("name").asText(dtype.path("class_name").asText("?"))
            : dtype.asText();
    if (!policy.equals("float32")) {
      throw ModelFormatException.inLayer(
          file,
          name,
          cls,
          "dtype policy '"
              + policy
              + "': BiStream computes in float32 only; re-save the model with the float32 policy"
              + " (keras.config.set_dtype_policy('float32'))");
    }
  }

  private static final List<String> CELL_VARIABLES = List.of("kernel", "recurrent_kernel", "bias");

  /** A layer's weights; its class gives the names Keras 3 leaves off (see {@link WeightStore}). */
  private List<NamedArray> weights(String layer, String cls) throws ModelFormatException {
    return weights.layerWeights(
        layer,
        switch (cls) {
          case "Embedding" -> List.of("embeddings");
          case "Dense", "TimeDistributed" -> List.of("kernel", "bias");
          default -> CELL_VARIABLES;
        });
  }

  private Layer bidirectional(JsonNode cfg, String name) throws ModelFormatException {
    JsonNode inner = cfg.path("layer");
    String innerCls = text(inner, "class_name", "");
    JsonNode innerCfg = inner.path("config");
    List<NamedArray> all = weights(name, "Bidirectional");
    List<NamedArray> fw = filter(all, w -> direction(w.name()) > 0);
    List<NamedArray> bw = filter(all, w -> direction(w.name()) < 0);
    if (fw.isEmpty() && bw.isEmpty() && !all.isEmpty()) {
      // Unnamed halves (e.g. positional stores): Keras writes forward weights first.
      fw = all.subList(0, all.size() / 2);
      bw = all.subList(all.size() / 2, all.size());
    }
    Recurrent forward = recurrent(innerCls, innerCfg, name, fw, name + "/forward");
    JsonNode backCfg = cfg.get("backward_layer");
    Recurrent backward;
    if (backCfg != null && !backCfg.isNull()) {
      backward =
          recurrent(
              text(backCfg, "class_name", ""),
              backCfg.path("config"),
              name,
              bw,
              name + "/backward");
    } else {
      Recurrent mirror = recurrent(innerCls, innerCfg, name, bw, name + "/backward");
      backward =
          new Recurrent(
              mirror.name(),
              mirror.cell(),
              mirror.returnSequences(),
              mirror.returnState(),
              !forward.goBackwards(),
              false);
    }
    if (backward.goBackwards() == forward.goBackwards()) {
      throw ModelFormatException.inLayer(
          file, name, "Bidirectional", "backward_layer must have go_backwards opposite to layer");
    }
    return new Bidirectional(
        name, forward, backward, Bidirectional.MergeMode.fromKeras(textOrNull(cfg, "merge_mode")));
  }

  /** +1 for forward weights, -1 for backward, 0 when the name says neither. */
  private static int direction(String weightName) {
    for (String part : weightName.split("/")) {
      if (part.startsWith("forward")) {
        return 1;
      }
      if (part.startsWith("backward")) {
        return -1;
      }
    }
    return 0;
  }

  private Recurrent recurrent(
      String cls, JsonNode cfg, String layerName, List<NamedArray> w, String label)
      throws ModelFormatException {
    if (cfg.path("time_major").asBoolean(false)) {
      throw ModelFormatException.inLayer(file, layerName, cls, "time_major=true is not supported");
    }
    int units = cfg.has("units") ? cfg.get("units").asInt() : cfg.path("output_dim").asInt();
    Activation act = Activation.fromKeras(activationName(cfg, "activation"), kerasMajor);
    String rName =
        cfg.has("recurrent_activation")
            ? activationName(cfg, "recurrent_activation")
            : cfg.has("inner_activation") ? activationName(cfg, "inner_activation") : "sigmoid";
    Activation rAct = Activation.fromKeras(rName, kerasMajor);
    RecurrentCell cell =
        switch (cls) {
          case "LSTM" -> lstm(cfg, layerName, w, units, act, rAct);
          case "GRU" -> gru(cfg, layerName, w, units, act, rAct);
          case "SimpleRNN" -> simpleRnn(layerName, w, units, act);
          default ->
              throw ModelFormatException.inLayer(
                  file,
                  layerName,
                  cls,
                  "unsupported recurrent layer; expected LSTM, GRU or SimpleRNN");
        };
    return new Recurrent(
        label,
        cell,
        cfg.path("return_sequences").asBoolean(false),
        cfg.path("return_state").asBoolean(false),
        cfg.path("go_backwards").asBoolean(false),
        cfg.path("zero_output_for_mask").asBoolean(false));
  }

  private LstmCell lstm(
      JsonNode cfg, String layer, List<NamedArray> w, int units, Activation act, Activation rAct)
      throws ModelFormatException {
    NamedArray kernel = find(w, "kernel");
    if (kernel == null && find(w, "W_i") != null) {
      // Keras 1: one tensor per gate, concatenated here in Keras 2 order i, f, c, o.
      String[] g = {"i", "f", "c", "o"};
      NamedArray[] k = new NamedArray[4];
      NamedArray[] u = new NamedArray[4];
      NamedArray[] b = new NamedArray[4];
      for (int i = 0; i < 4; i++) {
        k[i] = require(w, "W_" + g[i], layer, "LSTM");
        u[i] = require(w, "U_" + g[i], layer, "LSTM");
        b[i] = require(w, "b_" + g[i], layer, "LSTM");
      }
      int in = k[0].shape()[0];
      return new LstmCell(
          in, units, act, rAct, concatColumns(k), concatColumns(u), concatColumns(b));
    }
    kernel = require(w, "kernel", layer, "LSTM");
    int in = checkKernel(kernel, units, 4, layer, "LSTM");
    NamedArray rec = require(w, "recurrent_kernel", layer, "LSTM");
    checkShape(rec, new int[] {units, 4 * units}, layer, "LSTM");
    float[] bias = optionalBias(w, 4 * units, layer, "LSTM", cfg);
    return new LstmCell(in, units, act, rAct, kernel.data(), rec.data(), bias);
  }

  private GruCell gru(
      JsonNode cfg, String layer, List<NamedArray> w, int units, Activation act, Activation rAct)
      throws ModelFormatException {
    NamedArray kernel = find(w, "kernel");
    if (kernel == null && find(w, "W_z") != null) {
      String[] g = {"z", "r", "h"};
      NamedArray[] k = new NamedArray[3];
      NamedArray[] u = new NamedArray[3];
      NamedArray[] b = new NamedArray[3];
      for (int i = 0; i < 3; i++) {
        k[i] = require(w, "W_" + g[i], layer, "GRU");
        u[i] = require(w, "U_" + g[i], layer, "GRU");
        b[i] = require(w, "b_" + g[i], layer, "GRU");
      }
      return new GruCell(
          k[0].shape()[0],
          units,
          act,
          rAct,
          false,
          concatColumns(k),
          concatColumns(u),
          concatColumns(b),
          null);
    }
    kernel = require(w, "kernel", layer, "GRU");
    int in = checkKernel(kernel, units, 3, layer, "GRU");
    NamedArray rec = require(w, "recurrent_kernel", layer, "GRU");
    checkShape(rec, new int[] {units, 3 * units}, layer, "GRU");
    boolean resetAfter =
        cfg.has("reset_after") ? cfg.get("reset_after").asBoolean() : kerasMajor >= 3;
    NamedArray bias = find(w, "bias");
    if (!resetAfter) {
      float[] b = optionalBias(w, 3 * units, layer, "GRU", cfg);
      return new GruCell(in, units, act, rAct, false, kernel.data(), rec.data(), b, null);
    }
    float[] inBias = new float[3 * units];
    float[] recBias = new float[3 * units];
    if (bias != null) {
      checkShape(bias, new int[] {2, 3 * units}, layer, "GRU (reset_after=true)");
      System.arraycopy(bias.data(), 0, inBias, 0, 3 * units);
      System.arraycopy(bias.data(), 3 * units, recBias, 0, 3 * units);
    } else if (cfg.path("use_bias").asBoolean(true)) {
      throw missing(w, "bias", layer, "GRU");
    }
    return new GruCell(in, units, act, rAct, true, kernel.data(), rec.data(), inBias, recBias);
  }

  private SimpleRnnCell simpleRnn(String layer, List<NamedArray> w, int units, Activation act)
      throws ModelFormatException {
    NamedArray kernel = find(w, "kernel");
    if (kernel == null) { // Keras 1: W, U, b
      kernel = requireOrKeras1(w, "kernel", layer, "SimpleRNN");
      NamedArray u = require(w, "U", layer, "SimpleRNN");
      NamedArray b = require(w, "b", layer, "SimpleRNN");
      return new SimpleRnnCell(kernel.shape()[0], units, act, kernel.data(), u.data(), b.data());
    }
    int in = checkKernel(kernel, units, 1, layer, "SimpleRNN");
    NamedArray rec = require(w, "recurrent_kernel", layer, "SimpleRNN");
    checkShape(rec, new int[] {units, units}, layer, "SimpleRNN");
    NamedArray bias = find(w, "bias");
    float[] b =
        bias == null ? new float[units] : checkShape(bias, new int[] {units}, layer, "SimpleRNN");
    return new SimpleRnnCell(in, units, act, kernel.data(), rec.data(), b);
  }

  private Dense dense(String name, String kind, JsonNode cfg, List<NamedArray> w)
      throws ModelFormatException {
    int units = cfg.has("units") ? cfg.get("units").asInt() : cfg.path("output_dim").asInt();
    NamedArray kernel = requireOrKeras1(w, "kernel", name, kind);
    if (kernel.shape().length != 2 || kernel.shape()[1] != units) {
      throw ModelFormatException.inLayer(
          file,
          name,
          kind,
          "kernel shape " + Arrays.toString(kernel.shape()) + ", expected [input, " + units + "]");
    }
    NamedArray bias = find(w, "bias");
    if (bias == null) {
      bias = find(w, "b");
    }
    float[] b = bias == null ? new float[units] : checkShape(bias, new int[] {units}, name, kind);
    Activation act = Activation.fromKeras(activationName(cfg, "activation"), kerasMajor);
    return new Dense(name, kind, kernel.shape()[0], units, kernel.data(), b, act);
  }

  /**
   * BatchNormalization at inference: the moving statistics, folded with gamma and beta into one
   * scale and offset per feature, as Keras' own {@code batch_normalization} op does.
   */
  private Layer batchNormalization(JsonNode cfg, String name) throws ModelFormatException {
    String cls = "BatchNormalization";
    int featureAxis = featureAxis(cfg, name, cls);
    boolean scale = cfg.path("scale").asBoolean(true);
    boolean center = cfg.path("center").asBoolean(true);
    List<String> variables = scaleAndCenter(scale, center);
    variables.add("moving_mean");
    variables.add("moving_variance");
    List<NamedArray> w = weights.layerWeights(name, variables);
    float[] mean = require(w, "moving_mean", name, cls).data();
    int features = mean.length;
    int[] shape = {features};
    float[] variance = checkShape(require(w, "moving_variance", name, cls), shape, name, cls);
    float[] gamma = scale ? checkShape(require(w, "gamma", name, cls), shape, name, cls) : null;
    float[] beta = center ? checkShape(require(w, "beta", name, cls), shape, name, cls) : null;
    float epsilon = (float) cfg.path("epsilon").asDouble(1e-3);
    return BatchNormalization.fromMovingStatistics(
        name, featureAxis, mean, variance, gamma, beta, epsilon);
  }

  /**
   * LayerNormalization over the feature axis. Keras computes {@code x * inv + (beta - mean * inv)}
   * with {@code inv = rsqrt(variance + epsilon) * gamma}, the same normalization as torch's
   * layer_norm; {@code rms_scaling} (no mean subtracted) is refused.
   */
  private Layer layerNormalization(JsonNode cfg, String name) throws ModelFormatException {
    String cls = "LayerNormalization";
    int featureAxis = featureAxis(cfg, name, cls);
    if (cfg.path("rms_scaling").asBoolean(false)) {
      throw ModelFormatException.inLayer(file, name, cls, "rms_scaling=True is not supported");
    }
    boolean scale = cfg.path("scale").asBoolean(true);
    boolean center = cfg.path("center").asBoolean(true);
    List<String> variables = scaleAndCenter(scale, center);
    if (variables.isEmpty()) {
      throw ModelFormatException.inLayer(
          file,
          name,
          cls,
          "center=False with scale=False (no weights to give the width) is not supported");
    }
    List<NamedArray> w = weights.layerWeights(name, variables);
    NamedArray first = require(w, variables.get(0), name, cls);
    int features = first.data().length;
    int[] shape = {features};
    float[] gamma = new float[features];
    Arrays.fill(gamma, 1f);
    float[] beta = new float[features];
    if (scale) {
      gamma = checkShape(require(w, "gamma", name, cls), shape, name, cls);
    }
    if (center) {
      beta = checkShape(require(w, "beta", name, cls), shape, name, cls);
    }
    return new LayerNormalization(
        name, featureAxis, features, gamma, beta, cfg.path("epsilon").asDouble(1e-3));
  }

  /**
   * The one axis a normalization layer normalizes, -1 when the config gives none. Keras saves a
   * built layer's axis as a list: [-1] (Keras 3) or the positive index, e.g. [2] (tf.keras 2).
   */
  private int featureAxis(JsonNode cfg, String name, String cls) throws ModelFormatException {
    JsonNode axis = cfg.path("axis");
    if (axis.isArray() && axis.size() == 1) {
      axis = axis.get(0);
    }
    if (!axis.isMissingNode() && !axis.isInt()) {
      throw ModelFormatException.inLayer(
          file, name, cls, "axis " + axis + ": only one axis, the feature axis, is supported");
    }
    return axis.asInt(-1);
  }

  /** A normalization layer's first variables in Keras' creation order: gamma, then beta. */
  private static List<String> scaleAndCenter(boolean scale, boolean center) {
    List<String> variables = new ArrayList<>();
    if (scale) {
      variables.add("gamma");
    }
    if (center) {
      variables.add("beta");
    }
    return variables;
  }

  private Layer globalPooling(String cls, JsonNode cfg, String name) throws ModelFormatException {
    String format = cfg.path("data_format").asText("channels_last");
    if (!format.equals("channels_last")) {
      throw ModelFormatException.inLayer(
          file, name, cls, "data_format '" + format + "': only channels_last is supported");
    }
    if (cfg.path("keepdims").asBoolean(false)) {
      throw ModelFormatException.inLayer(file, name, cls, "keepdims=True is not supported");
    }
    return new GlobalPooling1D(
        name,
        cls.equals("GlobalMaxPooling1D")
            ? GlobalPooling1D.Reduce.MAX
            : GlobalPooling1D.Reduce.AVERAGE);
  }

  private Layer timeDistributed(JsonNode cfg, String name) throws ModelFormatException {
    JsonNode inner = cfg.path("layer");
    String cls = text(inner, "class_name", "");
    if (!cls.equals("Dense")) {
      throw ModelFormatException.inLayer(
          file,
          name,
          "TimeDistributed",
          "wraps " + cls + "; only TimeDistributed(Dense) is supported");
    }
    return dense(name, "TimeDistributed", inner.path("config"), weights(name, "TimeDistributed"));
  }

  private Embedding embedding(JsonNode cfg, String name) throws ModelFormatException {
    List<NamedArray> w = weights(name, "Embedding");
    NamedArray e = requireOrKeras1(w, "embeddings", name, "Embedding");
    int inputDim = cfg.path("input_dim").asInt();
    int outputDim = cfg.path("output_dim").asInt();
    checkShape(e, new int[] {inputDim, outputDim}, name, "Embedding");
    return new Embedding(
        name, inputDim, outputDim, e.data(), cfg.path("mask_zero").asBoolean(false));
  }

  // ---------------------------------------------------------------- weight helpers

  private static List<NamedArray> filter(List<NamedArray> all, Predicate<NamedArray> p) {
    return all.stream().filter(p).toList();
  }

  /** The weight whose leaf name is {@code leaf} or ends with {@code _leaf} (Keras 1). */
  private static NamedArray find(List<NamedArray> w, String leaf) {
    for (NamedArray a : w) {
      if (a.leaf().equals(leaf)) {
        return a;
      }
    }
    for (NamedArray a : w) {
      if (a.leaf().endsWith("_" + leaf)) {
        return a;
      }
    }
    return null;
  }

  /**
   * Weight {@code leaf}, or {@code W}, Keras 1's name for a layer's input kernel and for an
   * Embedding's matrix; a missing one is reported under its current name.
   */
  private NamedArray requireOrKeras1(List<NamedArray> w, String leaf, String layer, String cls)
      throws ModelFormatException {
    NamedArray a = find(w, leaf);
    if (a == null) {
      a = find(w, "W");
    }
    if (a == null) {
      throw missing(w, leaf, layer, cls);
    }
    return a;
  }

  private NamedArray require(List<NamedArray> w, String leaf, String layer, String cls)
      throws ModelFormatException {
    NamedArray a = find(w, leaf);
    if (a == null) {
      throw missing(w, leaf, layer, cls);
    }
    return a;
  }

  private ModelFormatException missing(List<NamedArray> w, String leaf, String layer, String cls) {
    String found =
        w.isEmpty()
            ? "the file has no weights for this layer (an .h5 keeps them under the layer's name,"
                + " a .keras archive under layers/<class name>[_n] in model order)"
            : "the file has " + w;
    return ModelFormatException.inLayer(
        file, layer, cls, "missing weight '" + leaf + "'; " + found);
  }

  private int checkKernel(NamedArray kernel, int units, int gates, String layer, String cls)
      throws ModelFormatException {
    if (kernel.shape().length != 2 || kernel.shape()[1] != gates * units) {
      throw ModelFormatException.inLayer(
          file,
          layer,
          cls,
          "kernel shape "
              + Arrays.toString(kernel.shape())
              + ", expected [input, "
              + gates * units
              + "] ("
              + gates
              + " gates x "
              + units
              + " units)");
    }
    return kernel.shape()[0];
  }

  private float[] checkShape(NamedArray a, int[] expected, String layer, String cls)
      throws ModelFormatException {
    if (!Arrays.equals(a.shape(), expected)) {
      throw ModelFormatException.inLayer(
          file,
          layer,
          cls,
          "weight '"
              + a.name()
              + "' has shape "
              + Arrays.toString(a.shape())
              + ", expected "
              + Arrays.toString(expected));
    }
    return a.data();
  }

  private float[] optionalBias(List<NamedArray> w, int size, String layer, String cls, JsonNode cfg)
      throws ModelFormatException {
    NamedArray bias = find(w, "bias");
    if (bias == null) {
      if (cfg.path("use_bias").asBoolean(true)) {
        throw missing(w, "bias", layer, cls);
      }
      return new float[size];
    }
    return checkShape(bias, new int[] {size}, layer, cls);
  }

  /** Concatenates matrices (or vectors) with equal row counts along their columns. */
  private static float[] concatColumns(NamedArray[] parts) {
    int rows = parts[0].shape().length == 1 ? 1 : parts[0].shape()[0];
    int total = 0;
    for (NamedArray p : parts) {
      total += p.data().length / rows;
    }
    float[] out = new float[rows * total];
    for (int r = 0; r < rows; r++) {
      int col = 0;
      for (NamedArray p : parts) {
        int cols = p.data().length / rows;
        System.arraycopy(p.data(), r * cols, out, r * total + col, cols);
        col += cols;
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- JSON helpers

  private static String text(JsonNode n, String field, String dflt) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? dflt : v.asText();
  }

  private static String textOrNull(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** An activation entry: a string, or a Keras 3 serialized object. */
  private static String activationName(JsonNode cfg, String field) {
    JsonNode v = cfg.get(field);
    if (v == null || v.isNull()) {
      return "linear";
    }
    if (v.isObject()) {
      JsonNode inner = v.path("config");
      return inner.isTextual() ? inner.asText() : text(v, "class_name", "linear");
    }
    return v.asText();
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).isNull() ? -1 : array.get(i).asInt();
    }
    return out;
  }
}
