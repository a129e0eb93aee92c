package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * A unidirectional recurrent layer with Keras semantics ({@code LSTM}, {@code GRU}, {@code
 * SimpleRNN}).
 *
 * <p>With {@code go_backwards} the steps are processed from last to first and, as in Keras, the
 * returned sequence is in processing order (reversed). {@code return_sequences=false} returns the
 * output of the last processed step. {@code return_state} appends the final states. Extra inputs
 * after the sequence are the initial states.
 */
public final class Recurrent implements Layer {

  private final String name;
  private final RecurrentCell cell;
  private final boolean returnSequences;
  private final boolean returnState;
  private final boolean goBackwards;
  private final boolean zeroOutputForMask;
  private final boolean inputOrderOutput;

  public Recurrent(
      String name,
      RecurrentCell cell,
      boolean returnSequences,
      boolean returnState,
      boolean goBackwards,
      boolean zeroOutputForMask) {
    this(name, cell, returnSequences, returnState, goBackwards, zeroOutputForMask, false);
  }

  private Recurrent(
      String name,
      RecurrentCell cell,
      boolean returnSequences,
      boolean returnState,
      boolean goBackwards,
      boolean zeroOutputForMask,
      boolean inputOrderOutput) {
    this.name = name;
    this.cell = cell;
    this.returnSequences = returnSequences;
    this.returnState = returnState;
    this.goBackwards = goBackwards;
    this.zeroOutputForMask = zeroOutputForMask;
    this.inputOrderOutput = inputOrderOutput;
  }

  /**
   * The same layer returning its sequence in input order even with {@code goBackwards} (step i of
   * the output belongs to input step i) instead of Keras's processing order: the ONNX {@code
   * direction=reverse} convention.
   */
  public Recurrent withOutputInInputOrder() {
    return new Recurrent(
        name, cell, returnSequences, returnState, goBackwards, zeroOutputForMask, true);
  }

  public RecurrentCell cell() {
    return cell;
  }

  public boolean returnSequences() {
    return returnSequences;
  }

  public boolean returnState() {
    return returnState;
  }

  public boolean goBackwards() {
    return goBackwards;
  }

  public boolean zeroOutputForMask() {
    return zeroOutputForMask;
  }

  /** The same layer with another {@code zero_output_for_mask} (Bidirectional forces it). */
  public Recurrent withZeroOutputForMask(boolean zero) {
    return new Recurrent(
        name, cell, returnSequences, returnState, goBackwards, zero, inputOrderOutput);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return cell.kind();
  }

  @Override
  public long parameterCount() {
    return cell.parameterCount();
  }

  @Override
  public String describe() {
    return cell
        + (returnSequences ? " return_sequences" : "")
        + (returnState ? " return_state" : "")
        + (goBackwards ? " go_backwards" : "")
        + (goBackwards && inputOrderOutput ? " (output in input order)" : "");
  }

  /** Result of one direction: outputs aligned with input steps, and the final states. */
  record Run(float[] aligned, float[][] states, int n, int t) {}

  Run run(Tensor x, List<Tensor> initialStates, boolean[] mask, MatMul mm) {
    Layer.requireSequence(this, x, cell.inputSize());
    int n = x.dim(0);
    int t = x.dim(1);
    float[][] states = cell.zeroStates(n);
    if (!initialStates.isEmpty()) {
      if (initialStates.size() != states.length) {
        throw new IllegalArgumentException(
            "layer '"
                + name
                + "' ("
                + kind()
                + ") takes "
                + states.length
                + " initial state tensors, found "
                + initialStates.size());
      }
      for (int k = 0; k < states.length; k++) {
        Tensor s = initialStates.get(k);
        if (s.data().length != n * cell.units()) {
          throw new IllegalArgumentException(
              "layer '"
                  + name
                  + "' initial state "
                  + k
                  + " must be ["
                  + n
                  + ", "
                  + cell.units()
                  + "], found "
                  + s.shapeString());
        }
        states[k] = s.data().clone();
      }
    }
    float[] aligned = cell.run(x.data(), n, t, states, goBackwards, mask, zeroOutputForMask, mm);
    return new Run(aligned, states, n, t);
  }

  /**
   * This layer's sequence output from an aligned run: reversed when going backwards (Keras), unless
   * the output is kept in input order (ONNX).
   */
  Tensor sequenceOutput(Run run) {
    return sequence(run, false);
  }

  /**
   * {@link #sequenceOutput} reversed in time, which Keras's Bidirectional takes from its backward
   * layer: for a layer going backwards that is the aligned run itself, with no copy.
   */
  Tensor reversedSequenceOutput(Run run) {
    return sequence(run, true);
  }

  private Tensor sequence(Run run, boolean reversed) {
    boolean reverse = (goBackwards && !inputOrderOutput) != reversed;
    float[] seq = reverse ? reverseTime(run.aligned, run.n, run.t, cell.units()) : run.aligned;
    return new Tensor(seq, new int[] {run.n, run.t, cell.units()});
  }

  /** The output of the last processed step: {@code [n, units]}. */
  Tensor lastOutput(Run run) {
    int u = cell.units();
    int step = goBackwards ? 0 : run.t - 1;
    float[] last = new float[run.n * u];
    if (run.t > 0) {
      for (int r = 0; r < run.n; r++) {
        System.arraycopy(run.aligned, (r * run.t + step) * u, last, r * u, u);
      }
    }
    return new Tensor(last, new int[] {run.n, u});
  }

  List<Tensor> stateTensors(Run run) {
    List<Tensor> out = new ArrayList<>();
    for (float[] s : run.states) {
      out.add(new Tensor(s, new int[] {run.n, cell.units()}));
    }
    return out;
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    Run run = run(inputs.get(0), inputs.subList(1, inputs.size()), mask, mm);
    List<Tensor> out = new ArrayList<>();
    out.add(returnSequences ? sequenceOutput(run) : lastOutput(run));
    if (returnState) {
      out.addAll(stateTensors(run));
    }
    return new Output(out, returnSequences ? mask : null);
  }

  private static float[] reverseTime(float[] a, int n, int t, int f) {
    float[] r = new float[a.length];
    for (int i = 0; i < n; i++) {
      for (int s = 0; s < t; s++) {
        System.arraycopy(a, (i * t + s) * f, r, (i * t + (t - 1 - s)) * f, f);
      }
    }
    return r;
  }
}
