package io.bistream.core.model;

import io.bistream.core.layers.ElementWise;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.JavaMatMul;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.Masking;
import io.bistream.core.layers.MatMul;
import io.bistream.core.layers.Nd4jMatMul;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * An inference graph of {@link Layer}s: Keras Sequential models and Functional graphs (each node
 * applies a layer to earlier tensors; recurrent nodes may take initial states as extra inputs).
 *
 * <p>{@link #predict} is the offline reference: every sequence of the batch processed whole.
 */
public final class Model {

  /** Which matrix product the layers use: ND4J's GEMM (default) or the plain Java reference. */
  public enum Backend {
    ND4J,
    REFERENCE;

    MatMul newMatMul() {
      return this == ND4J ? new Nd4jMatMul() : new JavaMatMul();
    }
  }

  /** Output {@code index} of the {@code node}-th application of layer {@code layer}. */
  public record TensorRef(String layer, int node, int index) {
    @Override
    public String toString() {
      return layer + (node == 0 && index == 0 ? "" : "[" + node + "," + index + "]");
    }
  }

  /**
   * A model input; {@code shape} excludes the batch dimension, -1 where unknown. A token-id input
   * (one that feeds an {@link Embedding}) takes one id per step, an integer in [0, {@code
   * vocabularySize}); other inputs have {@code vocabularySize} 0.
   */
  public record Input(String name, int[] shape, boolean tokenIds, int vocabularySize) {
    public Input {
      shape = shape.clone();
    }

    /** An input as declared by a model file, before the graph tells whether it takes token ids. */
    public Input(String name, int[] shape, boolean tokenIds) {
      this(name, shape, tokenIds, 0);
    }

    /**
     * Whether this input is a sequence whose first axis is time: token ids, or [T, D] features. A
     * rank-1 input of other values (an initial state) has no time axis.
     */
    public boolean hasTimeAxis() {
      return tokenIds || shape.length >= 2;
    }

    /**
     * Values per step: 1 for token ids (whatever dtype or trailing dimension the file declares:
     * Keras casts ids to integers inside the Embedding), else the last dimension; -1 when the file
     * leaves it unknown.
     */
    public int width() {
      if (tokenIds) {
        return 1;
      }
      return shape.length == 0 ? -1 : shape[shape.length - 1];
    }

    /**
     * The values of an array read from {@code where} as this input's tensor, with a batch of one
     * added to a single sequence. Token ids may come as any integer dtype or as integral floats
     * (Keras casts ids to integers inside the Embedding, so a float32 InputLayer takes them too);
     * each must be in [0, vocabularySize). Feature inputs take floats.
     *
     * @throws IllegalArgumentException naming {@code where}, this input, what it takes and what was
     *     found
     */
    public Tensor tensorFrom(NpyArray a, String where) {
      float[] data;
      if (a.floats() != null) {
        data = a.floats();
      } else if (tokenIds) {
        data = new float[a.ints().length];
        for (int i = 0; i < data.length; i++) {
          data[i] = a.ints()[i];
        }
      } else {
        throw new IllegalArgumentException(
            where
                + ": model input '"
                + name
                + "' takes float32 features "
                + expectedShape()
                + ", found "
                + a.dtype().numpyName()
                + " "
                + Arrays.toString(a.shape())
                + "; save X as float32 (X.astype('float32'))");
      }
      int[] shape = a.shape();
      if (tokenIds && shape.length >= 2 && shape[shape.length - 1] == 1) {
        shape = Arrays.copyOf(shape, shape.length - 1); // [N,T,1]: one id per step
      }
      if (shape.length == this.shape.length) {
        int[] batched = new int[shape.length + 1];
        batched[0] = 1;
        System.arraycopy(shape, 0, batched, 1, shape.length);
        shape = batched;
      }
      if (shape.length != this.shape.length + 1) {
        throw new IllegalArgumentException(
            where
                + ": model input '"
                + name
                + "' takes "
                + (tokenIds ? "integer token ids " : "float32 features ")
                + expectedShape()
                + ", found "
                + a.dtype().numpyName()
                + " "
                + Arrays.toString(a.shape()));
      }
      Tensor x = new Tensor(data, shape);
      requireTokenIds(x, where + ": ");
      return x;
    }

    /**
     * Refuses values of a token-id input that are not integers in [0, vocabularySize), naming this
     * input, the range and the first bad value with its index; a no-op for feature inputs.
     */
    void requireTokenIds(Tensor x, String prefix) {
      if (!tokenIds) {
        return;
      }
      float[] v = x.data();
      for (int i = 0; i < v.length; i++) {
        if (v[i] != Math.rint(v[i]) || v[i] < 0 || v[i] >= vocabularySize) {
          throw new IllegalArgumentException(
              prefix
                  + "model input '"
                  + name
                  + "' takes integer token ids in [0, "
                  + vocabularySize
                  + "), found "
                  + (Float.isFinite(v[i]) && v[i] == Math.rint(v[i])
                      ? String.valueOf((long) v[i])
                      : String.valueOf(v[i]))
                  + " at "
                  + Arrays.toString(index(i, x.shape())));
        }
      }
    }

    /** The shape this input takes, batch first: [N,T] for ids, [N,T,D] with declared sizes. */
    public String expectedShape() {
      StringBuilder b = new StringBuilder("[N");
      for (int i = 0; i < shape.length; i++) {
        String unknown = i == 0 ? "T" : i == shape.length - 1 ? "D" : "?";
        b.append(',').append(shape[i] < 0 ? unknown : String.valueOf(shape[i]));
      }
      return b.append(']').toString();
    }

    @Override
    public String toString() {
      StringBuilder dims = new StringBuilder("[");
      for (int i = 0; i < shape.length; i++) {
        // the first axis of a sequence input is time: T where the model leaves it open
        boolean time = i == 0 && hasTimeAxis();
        dims.append(i == 0 ? "" : ", ")
            .append(shape[i] >= 0 ? String.valueOf(shape[i]) : time ? "T" : "None");
      }
      return name
          + dims.append(']')
          + (tokenIds
              ? vocabularySize > 0 ? " (token ids in [0, " + vocabularySize + "))" : " (token ids)"
              : "");
    }
  }

  /** One application of a layer to earlier tensors. */
  public record Node(Layer layer, int nodeIndex, List<TensorRef> inbound) {
    public Node {
      inbound = List.copyOf(inbound);
    }
  }

  /** Where the model came from, for {@code inspect} and error messages. */
  public record Source(String file, String format, String version) {}

  private final Source source;
  private final List<Input> inputs;
  private final List<Node> nodes;
  private final List<TensorRef> outputs;

  public Model(Source source, List<Input> inputs, List<Node> nodes, List<TensorRef> outputs) {
    this.source = source;
    this.nodes = List.copyOf(nodes);
    this.inputs = tokenInputs(inputs, this.nodes);
    this.outputs = List.copyOf(outputs);
  }

  /**
   * The inputs with those that feed an Embedding, directly or through layers that pass values
   * unchanged (Masking, Dropout and other inference-time identities), marked as token ids with the
   * smallest vocabulary among the Embeddings they feed. Derived from the graph, not from the file's
   * declared dtype: a Keras file may declare a float32 InputLayer before an Embedding.
   */
  private static List<Input> tokenInputs(List<Input> declared, List<Node> nodes) {
    Map<String, Integer> vocabulary = new HashMap<>();
    for (Node n : nodes) {
      if (n.layer() instanceof Embedding e && !n.inbound().isEmpty()) {
        String input = passThroughSource(n.inbound().get(0), nodes);
        if (input != null) {
          vocabulary.merge(input, e.inputDim(), Math::min);
        }
      }
    }
    List<Input> result = new ArrayList<>();
    for (Input in : declared) {
      Integer v = vocabulary.get(in.name());
      result.add(v == null ? in : new Input(in.name(), in.shape(), true, v));
    }
    return List.copyOf(result);
  }

  /** The model input that {@code ref} carries unchanged, or null when a layer computes it. */
  private static String passThroughSource(TensorRef ref, List<Node> nodes) {
    TensorRef at = ref;
    for (int hops = 0; hops <= nodes.size(); hops++) {
      Node producer = null;
      for (Node n : nodes) {
        if (n.layer().name().equals(at.layer()) && n.nodeIndex() == at.node()) {
          producer = n;
        }
      }
      if (producer == null) {
        return at.layer(); // no layer makes it: a model input
      }
      boolean unchanged =
          producer.layer() instanceof Masking
              || producer.layer() instanceof ElementWise w && w.isIdentity();
      if (!unchanged || producer.inbound().isEmpty()) {
        return null;
      }
      at = producer.inbound().get(0);
    }
    return null;
  }

  public Source source() {
    return source;
  }

  public List<Input> inputs() {
    return inputs;
  }

  public List<Node> nodes() {
    return nodes;
  }

  public List<TensorRef> outputs() {
    return outputs;
  }

  public long parameterCount() {
    long total = 0;
    for (Node n : nodes) {
      if (n.nodeIndex() == 0) {
        total += n.layer().parameterCount();
      }
    }
    return total;
  }

  /** Offline prediction of a single-input, single-output model with the ND4J backend. */
  public Tensor predict(Tensor x) {
    List<Tensor> out = predict(List.of(x), Backend.ND4J);
    return out.get(0);
  }

  /**
   * Offline prediction.
   *
   * @param values one tensor per model input, in {@link #inputs()} order
   * @return one tensor per model output, in {@link #outputs()} order
   */
  public List<Tensor> predict(List<Tensor> values, Backend backend) {
    return predict(values, backend, null);
  }

  /**
   * Offline prediction on the calling thread and, where a layer has independent work, on {@code
   * beside}: the two directions of a bidirectional layer run at the same time, one on each. The
   * results are the same as without it.
   *
   * @param beside runs the backward directions; null runs everything on the calling thread
   */
  public List<Tensor> predict(List<Tensor> values, Backend backend, Executor beside) {
    if (values.size() != inputs.size()) {
      throw new IllegalArgumentException(
          "model "
              + source.file()
              + " takes "
              + inputs.size()
              + " inputs "
              + inputs
              + ", found "
              + values.size());
    }
    Map<TensorRef, Tensor> tensors = evaluate(values, backend, beside);
    List<Tensor> result = new ArrayList<>();
    for (TensorRef ref : outputs) {
      result.add(tensors.get(ref));
    }
    return result;
  }

  /** Every tensor the graph computes, by reference. */
  private Map<TensorRef, Tensor> evaluate(List<Tensor> values, Backend backend, Executor beside) {
    MatMul mm = backend.newMatMul();
    Map<TensorRef, Tensor> tensors = new HashMap<>();
    Map<TensorRef, boolean[]> masks = new HashMap<>();
    for (int i = 0; i < inputs.size(); i++) {
      tensors.put(
          new TensorRef(inputs.get(i).name(), 0, 0), checkInput(inputs.get(i), values.get(i)));
    }
    for (Node node : nodes) {
      List<Tensor> in = new ArrayList<>();
      for (TensorRef ref : node.inbound()) {
        Tensor t = tensors.get(ref);
        if (t == null) {
          throw new IllegalStateException("tensor " + ref + " used before it is computed");
        }
        in.add(t);
      }
      Layer.Output out;
      try {
        out = node.layer().apply(in, masks.get(node.inbound().get(0)), mm, beside);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(source.file() + ": " + e.getMessage(), e);
      }
      for (int k = 0; k < out.tensors().size(); k++) {
        TensorRef ref = new TensorRef(node.layer().name(), node.nodeIndex(), k);
        tensors.put(ref, out.tensors().get(k));
        if (out.mask() != null) {
          masks.put(ref, out.mask());
        }
      }
    }
    return tensors;
  }

  /**
   * Output shapes of every node for a batch of one, unknown time dimensions taken as 2 steps.
   * Index: node position in {@link #nodes()}.
   */
  public List<List<int[]>> traceShapes() {
    return traceShapes(2);
  }

  /**
   * Output shapes of every node for a batch of one, unknown dimensions taken as {@code openSteps}:
   * two traces with different {@code openSteps} tell which output dimensions follow the time length
   * (what {@code inspect} shows as T).
   */
  public List<List<int[]>> traceShapes(int openSteps) {
    List<Tensor> probe = new ArrayList<>();
    for (Input in : inputs) {
      int[] shape = new int[in.shape().length + 1];
      shape[0] = 1;
      for (int i = 0; i < in.shape().length; i++) {
        shape[i + 1] = in.shape()[i] < 0 ? openSteps : in.shape()[i];
      }
      probe.add(Tensor.zeros(shape));
    }
    List<List<int[]>> shapes = new ArrayList<>();
    Map<TensorRef, Tensor> all = evaluate(probe, Backend.REFERENCE, null);
    for (Node node : nodes) {
      List<int[]> out = new ArrayList<>();
      for (int k = 0;
          all.containsKey(new TensorRef(node.layer().name(), node.nodeIndex(), k));
          k++) {
        out.add(all.get(new TensorRef(node.layer().name(), node.nodeIndex(), k)).shape());
      }
      shapes.add(out);
    }
    return shapes;
  }

  private Tensor checkInput(Input spec, Tensor x) {
    boolean ok = x.rank() == spec.shape().length + 1;
    for (int i = 0; ok && i < spec.shape().length; i++) {
      ok = spec.shape()[i] < 0 || spec.shape()[i] == x.dim(i + 1);
    }
    if (!ok) {
      throw new IllegalArgumentException(
          "model "
              + source.file()
              + " input '"
              + spec.name()
              + "' expects [batch, "
              + Arrays.toString(spec.shape()).replace("-1", "any").replaceAll("[\\[\\]]", "")
              + "], found "
              + x.shapeString());
    }
    spec.requireTokenIds(x, "model " + source.file() + ": ");
    return x;
  }

  /** Row-major flat position {@code flat} as an index into {@code shape}. */
  private static int[] index(int flat, int[] shape) {
    int[] at = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      at[d] = flat % shape[d];
      flat /= shape[d];
    }
    return at;
  }
}
