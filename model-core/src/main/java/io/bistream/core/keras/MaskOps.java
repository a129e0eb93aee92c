package io.bistream.core.keras;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The op nodes of a Keras 3 Functional config read as padding masks.
 *
 * <p>Keras 3 records the operations a graph applies outside layers ({@code keras.src.ops}) as nodes
 * of their own. A layer's mask is one of them: {@code Layer.__call__} passes the input's mask to a
 * recurrent layer as {@code mask=}, and {@code Embedding.compute_mask} builds it as {@code
 * ops.not_equal(ids, 0)}, {@code Masking.compute_mask} as {@code ops.any(ops.not_equal(x, v),
 * axis=-1)}. A config entry of such an op has {@code module "keras.src.ops.numpy"}, its {@code
 * config} is {@code {"name": ...}} plus its constructor arguments (e.g. {@code axis}), and its
 * inbound node's {@code args} hold the tensors and constants it was called with.
 *
 * <p>Read here: NotEqual and Equal of a tensor and a constant, LogicalNot, Any and All over the
 * last axis, Cast to bool (= NotEqual 0). Of what they compute, two forms are padding masks and
 * load: a step kept where {@code ids != v} (token ids, per step) and where {@code any(x != v)} over
 * the features (Masking semantics). Anything else is refused naming the node and the op.
 */
final class MaskOps {

  /** What the supported ops are, for error messages. */
  static final String SUPPORTED =
      "the only op nodes that load are padding masks passed to a recurrent layer as mask="
          + " (NotEqual, Equal, LogicalNot, Any/All over axis -1, Cast to bool; as Keras 3 writes"
          + " for Embedding(mask_zero=True) and Masking)";

  /** A config entry that is a Keras 3 op, not a layer. */
  static boolean isOpNode(JsonNode entry) {
    String module = entry.path("module").asText("");
    return module.startsWith("keras.src.ops") || module.startsWith("keras.ops");
  }

  /**
   * A padding mask over {@code source}: a step is kept where {@code source != value} (token ids)
   * or, with {@code overFeatures}, where any feature of {@code source} differs from {@code value}.
   */
  record Mask(
      Model.TensorRef source, double value, boolean overFeatures, String op, String expression) {}

  /** An element-wise comparison, then maybe a reduction over features, then maybe negated. */
  private record Predicate(
      Model.TensorRef source,
      double value,
      boolean equal,
      String reduce,
      boolean negated,
      String expression) {}

  private final String file;
  private final Map<String, JsonNode> ops;

  /**
   * @param ops the op entries of the config by name
   */
  MaskOps(String file, Map<String, JsonNode> ops) {
    this.file = file;
    this.ops = ops;
  }

  boolean isOp(String name) {
    return ops.containsKey(name);
  }

  /** The refusal for an op node used other than as a mask. */
  ModelFormatException refused(String op, String use) {
    JsonNode entry = ops.get(op);
    return new ModelFormatException(
        file
            + ": op node '"
            + op
            + "' (op "
            + entry.path("class_name").asText("?")
            + " from "
            + entry.path("module").asText("?")
            + ") "
            + use
            + "; "
            + SUPPORTED);
  }

  /**
   * The padding mask that op node output {@code ref} computes, given to {@code layer} as {@code
   * mask=}.
   */
  Mask resolve(Model.TensorRef ref, String layer, String cls) throws ModelFormatException {
    Predicate p = predicate(ref, layer);
    boolean keepWhereDiffers = p.equal() == p.negated();
    String op = ref.layer();
    if (p.reduce().isEmpty() && keepWhereDiffers) {
      return new Mask(p.source(), p.value(), false, op, p.expression());
    }
    if (p.reduce().equals("any") && !p.equal() && !p.negated()
        || p.reduce().equals("all") && p.equal() && p.negated()) {
      return new Mask(p.source(), p.value(), true, op, p.expression());
    }
    throw ModelFormatException.inLayer(
        file,
        layer,
        cls,
        "gets mask= from op node '"
            + op
            + "' = "
            + p.expression()
            + ", which keeps no padding form; expected a step kept where ids != v, or where"
            + " any(x != v) over the features");
  }

  private Predicate predicate(Model.TensorRef ref, String layer) throws ModelFormatException {
    JsonNode entry = ops.get(ref.layer());
    if (entry == null) {
      throw new ModelFormatException(
          file
              + ": layer '"
              + layer
              + "' gets mask= from tensor "
              + ref
              + ", which no mask op computes; "
              + SUPPORTED);
    }
    String cls = entry.path("class_name").asText("");
    JsonNode inbound = entry.path("inbound_nodes").path(ref.node());
    List<Object> args = args(inbound.path("args"));
    JsonNode cfg = entry.path("config");
    Predicate p =
        switch (cls) {
          case "NotEqual", "Equal" -> comparison(cls.equals("Equal"), args);
          case "LogicalNot" -> negation(args, layer);
          case "Any", "All" -> reduction(cls, cfg, args, layer);
          case "Cast" -> castToBool(cfg, args, layer);
          default ->
              throw refused(ref.layer(), "is no mask op (feeds the mask of layer '" + layer + "')");
        };
    if (p == null) {
      throw refused(
          ref.layer(),
          "has arguments "
              + inbound.path("args")
              + " and config "
              + cfg
              + " that make no padding mask (feeds the mask of layer '"
              + layer
              + "')");
    }
    return p;
  }

  /** {@code x == v} or {@code x != v} of a tensor that is no op and a constant; else null. */
  private Predicate comparison(boolean equal, List<Object> args) {
    if (args.size() != 2) {
      return null;
    }
    Model.TensorRef tensor = null;
    Double constant = null;
    for (Object a : args) {
      if (a instanceof Model.TensorRef t) {
        tensor = t;
      } else if (a instanceof Double d) {
        constant = d;
      }
    }
    if (tensor == null || constant == null || ops.containsKey(tensor.layer())) {
      return null;
    }
    String expr = "(" + tensor.layer() + (equal ? " == " : " != ") + number(constant) + ")";
    return new Predicate(tensor, constant, equal, "", false, expr);
  }

  /** LogicalNot of another mask op; else null. */
  private Predicate negation(List<Object> args, String layer) throws ModelFormatException {
    Model.TensorRef t = opArgument(args);
    if (t == null) {
      return null;
    }
    Predicate p = predicate(t, layer);
    return new Predicate(
        p.source(), p.value(), p.equal(), p.reduce(), !p.negated(), "not" + p.expression());
  }

  /** Any or All over the last axis of an unreduced, unnegated comparison; else null. */
  private Predicate reduction(String cls, JsonNode cfg, List<Object> args, String layer)
      throws ModelFormatException {
    JsonNode axis = cfg.path("axis");
    boolean lastAxis =
        axis.isInt() && axis.asInt() == -1
            || axis.isArray() && axis.size() == 1 && axis.get(0).asInt() == -1;
    Model.TensorRef t = opArgument(args);
    if (t == null || !lastAxis || cfg.path("keepdims").asBoolean(false)) {
      return null;
    }
    Predicate p = predicate(t, layer);
    if (!p.reduce().isEmpty() || p.negated()) {
      return null;
    }
    String r = cls.toLowerCase(java.util.Locale.ROOT);
    return new Predicate(
        p.source(), p.value(), p.equal(), r, false, r + p.expression() + " over features");
  }

  /** Cast to bool: of a mask op, that op; of a tensor, {@code x != 0}; else null. */
  private Predicate castToBool(JsonNode cfg, List<Object> args, String layer)
      throws ModelFormatException {
    if (!cfg.path("dtype").asText("").equals("bool")
        || args.size() != 1
        || !(args.get(0) instanceof Model.TensorRef t)) {
      return null;
    }
    if (ops.containsKey(t.layer())) {
      return predicate(t, layer);
    }
    return new Predicate(t, 0, false, "", false, "(" + t.layer() + " != 0)");
  }

  /** The single argument of an op when it is the output of another op node; else null. */
  private Model.TensorRef opArgument(List<Object> args) {
    return args.size() == 1
            && args.get(0) instanceof Model.TensorRef t
            && ops.containsKey(t.layer())
        ? t
        : null;
  }

  /** An op's positional arguments: tensor refs and numeric constants (other values as null). */
  private static List<Object> args(JsonNode array) {
    List<Object> out = new ArrayList<>();
    for (JsonNode a : array) {
      if (a.isNumber()) {
        out.add(a.asDouble());
      } else if (a.isBoolean()) {
        out.add(a.asBoolean() ? 1.0 : 0.0);
      } else if (a.path("class_name").asText("").equals("__keras_tensor__")) {
        JsonNode h = a.path("config").path("keras_history");
        out.add(new Model.TensorRef(h.get(0).asText(), h.get(1).asInt(), h.get(2).asInt()));
      } else {
        out.add(null);
      }
    }
    return out;
  }

  static String number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
  }
}
