package io.bistream.core.keras;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import io.jhdf.HdfFile;
import io.jhdf.api.Attribute;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * Reads Keras-config models from disk: Keras 1/2 HDF5 ({@code model.save}), Keras 3 {@code .keras}
 * archives, TF.js layers models ({@code model.json} + weight shards), and a bare architecture JSON
 * plus a weights-only HDF5 ({@code save_weights}).
 *
 * <p>Every failure surfaces as {@link ModelFormatException} naming the file; no parser exception
 * escapes.
 */
public final class KerasFiles {

  private static final ObjectMapper JSON = new ObjectMapper();

  private KerasFiles() {}

  /** A Keras 1/2 HDF5 file written by {@code model.save}. */
  public static Model loadH5(Path file) throws ModelFormatException {
    String label = file.toString();
    try (HdfFile hdf = openHdf(file)) {
      String config = stringAttribute(hdf, "model_config");
      if (config == null) {
        throw new ModelFormatException(
            label
                + ": no 'model_config' attribute: this looks like a weights-only file"
                + " (save_weights). Pass the architecture JSON as the model and this file as"
                + " --weights.");
      }
      String version = stringAttribute(hdf, "keras_version");
      Node weightsRoot = hdf.getChild("model_weights");
      if (!(weightsRoot instanceof Group g)) {
        throw new ModelFormatException(label + ": no 'model_weights' group");
      }
      return build(label, parseJson(label, config), version, "keras-h5", new H5Weights(label, g));
    } catch (RuntimeException e) {
      throw corrupt(label, "HDF5", e);
    }
  }

  /** An architecture JSON ({@code model.to_json()}) with a weights-only HDF5. */
  public static Model loadJsonWithWeights(Path json, Path weights) throws ModelFormatException {
    String label = json.toString();
    JsonNode topology = parseJson(label, readString(json));
    try (HdfFile hdf = openHdf(weights)) {
      String version = stringAttribute(hdf, "keras_version");
      Node root = hdf.getChild("model_weights");
      Group g = root instanceof Group mg ? mg : hdf;
      return build(label, topology, version, "keras-json+h5", new H5Weights(weights.toString(), g));
    } catch (RuntimeException e) {
      throw corrupt(weights.toString(), "HDF5", e);
    }
  }

  /** A Keras 3 {@code .keras} archive: {@code config.json}, {@code metadata.json}, weights h5. */
  public static Model loadKerasArchive(Path file) throws ModelFormatException {
    String label = file.toString();
    Map<String, byte[]> entries = new TreeMap<>();
    try (ZipInputStream zip = new ZipInputStream(Files.newInputStream(file))) {
      for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
        entries.put(e.getName(), zip.readAllBytes());
      }
    } catch (IOException | RuntimeException e) {
      throw new ModelFormatException(
          label + ": not a readable .keras archive (zip): " + e.getMessage(), e);
    }
    for (String needed : List.of("config.json", "model.weights.h5")) {
      if (!entries.containsKey(needed)) {
        throw new ModelFormatException(
            label + ": .keras archive has no '" + needed + "'; found " + entries.keySet());
      }
    }
    JsonNode config = parseJson(label + "!config.json", new String(entries.get("config.json")));
    String version = "3";
    if (entries.containsKey("metadata.json")) {
      version =
          parseJson(label + "!metadata.json", new String(entries.get("metadata.json")))
              .path("keras_version")
              .asText("3");
    }
    try (HdfFile hdf = HdfFile.fromBytes(entries.get("model.weights.h5"))) {
      return build(label, config, version, "keras-v3", new Keras3Weights(hdf, keras3Paths(config)));
    } catch (RuntimeException e) {
      throw corrupt(label + "!model.weights.h5", "HDF5", e);
    }
  }

  /** A TF.js layers model: {@code model.json} with its weight shards beside it. */
  public static Model loadTfjs(Path modelJson) throws ModelFormatException {
    String label = modelJson.toString();
    JsonNode root = parseJson(label, readString(modelJson));
    if (!root.has("modelTopology") && root.has("class_name") && root.has("config")) {
      throw new ModelFormatException(
          label
              + ": a Keras architecture JSON (model.to_json()) holds no weights; pass the file"
              + " written by save_weights with --weights (or load the .h5/.keras that"
              + " model.save wrote)");
    }
    JsonNode topology = root.path("modelTopology");
    if (topology.has("model_config")) {
      topology = topology.get("model_config"); // written by the Python converter
    }
    String version = root.path("modelTopology").path("keras_version").asText("tfjs");
    Map<String, NamedArray> byName = tfjsWeights(modelJson, root);
    WeightStore store =
        (layer, variableNames) ->
            byName.values().stream().filter(w -> w.name().startsWith(layer + "/")).toList();
    return build(label, topology, version, "tfjs-layers", store);
  }

  /** The weights a TF.js {@code model.json} lists in its manifest, by name, in stored order. */
  public static Map<String, NamedArray> tfjsWeights(Path modelJson) throws ModelFormatException {
    return tfjsWeights(modelJson, parseJson(modelJson.toString(), readString(modelJson)));
  }

  private static Map<String, NamedArray> tfjsWeights(Path modelJson, JsonNode root)
      throws ModelFormatException {
    String label = modelJson.toString();
    Map<String, NamedArray> byName = new java.util.LinkedHashMap<>();
    for (JsonNode group : root.path("weightsManifest")) {
      ByteBuffer data = readShards(modelJson, group.path("paths"));
      for (JsonNode spec : group.path("weights")) {
        String name = spec.path("name").asText();
        int[] shape = new int[spec.path("shape").size()];
        for (int i = 0; i < shape.length; i++) {
          shape[i] = spec.path("shape").get(i).asInt();
        }
        String dtype = spec.path("dtype").asText("float32");
        if (spec.has("quantization") || !dtype.equals("float32")) {
          throw new ModelFormatException(
              label
                  + ": weight '"
                  + name
                  + "' is "
                  + dtype
                  + (spec.has("quantization") ? " (quantized)" : "")
                  + "; expected unquantized float32");
        }
        int size = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        if (data.remaining() < 4L * size) {
          throw new ModelFormatException(
              label
                  + ": weight shards end early: weight '"
                  + name
                  + "' needs "
                  + 4L * size
                  + " bytes, "
                  + data.remaining()
                  + " remain");
        }
        float[] values = new float[size];
        data.asFloatBuffer().get(values);
        data.position(data.position() + 4 * size);
        byName.put(name, new NamedArray(name, shape, values));
      }
    }
    return byName;
  }

  private static ByteBuffer readShards(Path modelJson, JsonNode paths) throws ModelFormatException {
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    for (JsonNode p : paths) {
      Path shard = modelJson.resolveSibling(p.asText());
      try {
        all.write(Files.readAllBytes(shard));
      } catch (IOException e) {
        throw new ModelFormatException(
            modelJson + ": cannot read weight shard " + shard + ": " + e.getMessage(), e);
      }
    }
    return ByteBuffer.wrap(all.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static Model build(
      String label, JsonNode topology, String version, String format, WeightStore store)
      throws ModelFormatException {
    int major = KerasModelBuilder.majorVersion(version);
    Model.Source source = new Model.Source(label, format, version == null ? "unknown" : version);
    try {
      return new KerasModelBuilder(label, major, store).build(topology, source);
    } catch (ModelFormatException e) {
      throw e;
    } catch (io.jhdf.exceptions.HdfException e) {
      throw corrupt(label, "HDF5", e); // weights are read lazily, while building
    } catch (RuntimeException e) {
      throw new ModelFormatException(label + ": malformed model config: " + e, e);
    }
  }

  // ---------------------------------------------------------------- HDF5 helpers

  private static HdfFile openHdf(Path file) throws ModelFormatException {
    if (!Files.isReadable(file)) {
      throw new ModelFormatException(file + ": file not found or not readable");
    }
    try {
      return new HdfFile(file);
    } catch (RuntimeException e) {
      throw corrupt(file.toString(), "HDF5", e);
    }
  }

  private static ModelFormatException corrupt(String label, String kind, RuntimeException e) {
    return new ModelFormatException(
        label
            + ": not a readable "
            + kind
            + " model file (corrupt or truncated?): "
            + e.getMessage(),
        e);
  }

  static String stringAttribute(Node node, String name) {
    Attribute a = node.getAttribute(name);
    if (a == null) {
      return null;
    }
    Object v = a.getData();
    if (v instanceof String s) {
      return s;
    }
    if (v instanceof String[] arr && arr.length == 1) {
      return arr[0];
    }
    if (v instanceof byte[] bytes) {
      return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }
    return String.valueOf(v);
  }

  static List<String> stringListAttribute(Node node, String name) {
    Attribute a = node.getAttribute(name);
    if (a == null) {
      return List.of();
    }
    Object v = a.getData();
    if (v instanceof String[] arr) {
      return Arrays.asList(arr);
    }
    if (v instanceof String s) {
      return List.of(s);
    }
    return List.of();
  }

  static NamedArray readDataset(String name, Dataset d) {
    int[] shape = d.getDimensions();
    Object flat = d.isScalar() ? d.getData() : d.getDataFlat();
    float[] values;
    if (flat instanceof float[] f) {
      values = f;
    } else if (flat instanceof double[] dd) {
      values = new float[dd.length];
      for (int i = 0; i < dd.length; i++) {
        values[i] = (float) dd[i];
      }
    } else if (flat instanceof Float f) {
      values = new float[] {f};
    } else {
      throw new IllegalArgumentException(
          "weight '" + name + "' has type " + d.getJavaType() + ", expected float32");
    }
    return new NamedArray(name, shape, values);
  }

  private static JsonNode parseJson(String label, String text) throws ModelFormatException {
    try {
      return JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(
          label
              + ": model config is not valid JSON (line "
              + e.getLocation().getLineNr()
              + ", column "
              + e.getLocation().getColumnNr()
              + "): "
              + e.getOriginalMessage(),
          e);
    }
  }

  private static String readString(Path file) throws ModelFormatException {
    try (InputStream in = Files.newInputStream(file)) {
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  /** Keras 1/2 HDF5 weights: one group per layer, its {@code weight_names} attribute in order. */
  private record H5Weights(String label, Group root) implements WeightStore {
    @Override
    public List<NamedArray> layerWeights(String layer, List<String> variableNames)
        throws ModelFormatException {
      Node node = root.getChild(layer);
      if (!(node instanceof Group g)) {
        return List.of();
      }
      List<NamedArray> out = new ArrayList<>();
      for (String name : stringListAttribute(g, "weight_names")) {
        Node d;
        try {
          d = g.getByPath(name);
        } catch (RuntimeException e) {
          d = null;
        }
        if (!(d instanceof Dataset ds)) {
          throw new ModelFormatException(
              label
                  + ": layer '"
                  + layer
                  + "' lists weight '"
                  + name
                  + "' in weight_names but the file has no such dataset");
        }
        out.add(readDataset(name, ds));
      }
      return out;
    }
  }

  /**
   * Keras 3 names weight groups after the snake_case class name, numbered per class in config order
   * ({@code layers/bidirectional}, {@code layers/bidirectional_1}), not after the layer name;
   * Sequential models skip their InputLayer (keras/src/saving/saving_lib.py).
   */
  private static Map<String, String> keras3Paths(JsonNode config) {
    boolean sequential = config.path("class_name").asText().equals("Sequential");
    Map<String, Integer> counts = new java.util.HashMap<>();
    Map<String, String> paths = new java.util.HashMap<>();
    for (JsonNode layer : config.path("config").path("layers")) {
      String cls = layer.path("class_name").asText();
      if (sequential && cls.equals("InputLayer") || MaskOps.isOpNode(layer)) {
        continue; // ops are no layers: Functional.layers leaves them out, so they save nothing
      }
      String key =
          cls.replaceAll("\\W+", "")
              .replaceAll("(.)([A-Z][a-z]+)", "$1_$2")
              .replaceAll("([a-z])([A-Z])", "$1_$2")
              .toLowerCase(java.util.Locale.ROOT);
      int seen = counts.merge(key, 1, Integer::sum) - 1;
      paths.put(layer.path("config").path("name").asText(), seen == 0 ? key : key + "_" + seen);
    }
    return paths;
  }

  /**
   * Keras 3 weights: {@code layers/<path>/.../vars/<i>} datasets without names, {@code <path>} the
   * class-counter key of {@link #keras3Paths} (also tf.keras 2.14-2.15). tf.keras 2.12-2.13 key
   * each layer by its name under {@code _layer_checkpoint_dependencies/}. tf.keras saved on Windows
   * joins nested paths with backslashes inside one group name ({@code layers\\gru\\cell} holding
   * {@code vars}), so paths are compared with either separator. Variables are named by the order
   * Keras creates them, which the caller gives per layer class.
   */
  private static final class Keras3Weights implements WeightStore {
    private final Map<String, String> paths;
    // "layers/gru/cell/vars/0" -> dataset, whatever separator the file used
    private final Map<String, Dataset> datasets = new TreeMap<>();
    private final boolean byName;

    Keras3Weights(HdfFile hdf, Map<String, String> paths) {
      this.paths = paths;
      index(hdf, "");
      this.byName = datasets.keySet().stream().noneMatch(k -> k.startsWith("layers/"));
    }

    private void index(Group g, String prefix) {
      for (Map.Entry<String, Node> e : g.getChildren().entrySet()) {
        String path = prefix + e.getKey().replace('\\', '/');
        if (e.getValue() instanceof Dataset d) {
          datasets.put(path, d);
        } else if (e.getValue() instanceof Group child) {
          index(child, path + "/");
        }
      }
    }

    @Override
    public List<NamedArray> layerWeights(String layer, List<String> names) {
      String root =
          byName
              ? "_layer_checkpoint_dependencies/" + layer + "/"
              : "layers/" + paths.getOrDefault(layer, layer) + "/";
      // sub-path of each vars group below the layer (e.g. "forward_layer/cell/") -> index -> data
      Map<String, Map<Integer, Dataset>> groups = new TreeMap<>();
      for (Map.Entry<String, Dataset> e : datasets.entrySet()) {
        String key = e.getKey();
        int vars = key.lastIndexOf("vars/");
        if (!key.startsWith(root)
            || vars < root.length()
            || vars > 0 && key.charAt(vars - 1) != '/') {
          continue;
        }
        String index = key.substring(vars + "vars/".length());
        if (!index.matches("\\d+")) {
          continue;
        }
        groups
            .computeIfAbsent(key.substring(root.length(), vars), k -> new TreeMap<>())
            .put(Integer.parseInt(index), e.getValue());
      }
      List<NamedArray> out = new ArrayList<>();
      for (Map.Entry<String, Map<Integer, Dataset>> g : groups.entrySet()) {
        for (Map.Entry<Integer, Dataset> v : g.getValue().entrySet()) {
          int i = v.getKey();
          String leaf = i < names.size() ? names.get(i) : "var" + i;
          out.add(readDataset(g.getKey() + leaf, v.getValue()));
        }
      }
      return out;
    }
  }
}
