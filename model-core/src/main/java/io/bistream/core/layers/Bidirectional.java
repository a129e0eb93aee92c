package io.bistream.core.layers;

import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * Bidirectional recurrent layer (Schuster &amp; Paliwal 1997) with the Keras {@code Bidirectional}
 * wrapper's semantics.
 *
 * <p>The forward layer reads x_0..x_{T-1}; the backward layer reads x_{T-1}..x_0 and its output is
 * re-reversed, so step t of both halves refers to input step t. The halves are merged by {@link
 * MergeMode}; {@code NONE} returns them as two outputs. With {@code return_sequences=false} each
 * half contributes the output of its last processed step. {@code return_state} appends the forward
 * states, then the backward states; initial states are split the same way. As Keras does, both
 * halves output zeros at masked steps when returning sequences.
 */
public final class Bidirectional implements Layer {

  /** How the two halves are combined. */
  public enum MergeMode {
    CONCAT,
    SUM,
    MUL,
    AVE,
    NONE;

    /** Parses a Keras {@code merge_mode} value (null means NONE). */
    public static MergeMode fromKeras(String mode) {
      if (mode == null || mode.equals("null") || mode.equalsIgnoreCase("none")) {
        return NONE;
      }
      return switch (mode.toLowerCase(Locale.ROOT)) {
        case "concat" -> CONCAT;
        case "sum" -> SUM;
        case "mul" -> MUL;
        case "ave" -> AVE;
        default ->
            throw new IllegalArgumentException(
                "unsupported merge_mode '" + mode + "'; expected concat, sum, mul, ave or None");
      };
    }
  }

  private final String name;
  private final Recurrent forward;
  private final Recurrent backward;
  private final MergeMode mergeMode;

  /**
   * @param backward the backward layer as Keras builds it (its {@code go_backwards} is the opposite
   *     of the forward layer's)
   */
  public Bidirectional(String name, Recurrent forward, Recurrent backward, MergeMode mergeMode) {
    if (forward.returnSequences() != backward.returnSequences()
        || forward.returnState() != backward.returnState()) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "': forward and backward layers must agree on return_sequences and return_state");
    }
    if (mergeMode != MergeMode.CONCAT
        && mergeMode != MergeMode.NONE
        && forward.cell().units() != backward.cell().units()) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "': merge_mode "
              + mergeMode
              + " needs equal units, found forward "
              + forward.cell().units()
              + " and backward "
              + backward.cell().units());
    }
    this.name = name;
    boolean zero = forward.returnSequences();
    this.forward = forward.withZeroOutputForMask(zero);
    this.backward = backward.withZeroOutputForMask(zero);
    this.mergeMode = mergeMode;
  }

  public Recurrent forward() {
    return forward;
  }

  public Recurrent backward() {
    return backward;
  }

  public MergeMode mergeMode() {
    return mergeMode;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String kind() {
    return "Bidirectional";
  }

  @Override
  public long parameterCount() {
    return forward.parameterCount() + backward.parameterCount();
  }

  @Override
  public String describe() {
    return "merge_mode="
        + mergeMode.name().toLowerCase(Locale.ROOT)
        + " forward "
        + forward.describe()
        + " | backward "
        + backward.describe();
  }

  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm) {
    return apply(inputs, mask, mm, null);
  }

  /** With {@code beside} not null, the backward direction runs there while the forward runs. */
  @Override
  public Output apply(List<Tensor> inputs, boolean[] mask, MatMul mm, Executor beside) {
    Tensor x = inputs.get(0);
    List<Tensor> states = inputs.subList(1, inputs.size());
    int half = states.size() / 2;
    if (states.size() % 2 != 0) {
      throw new IllegalArgumentException(
          "layer '" + name + "' needs an even number of initial states, found " + states.size());
    }
    List<Tensor> backwardStates = states.subList(half, states.size());
    CompletableFuture<Recurrent.Run> pending =
        beside == null
            ? null
            : CompletableFuture.supplyAsync(
                () -> backward.run(x, backwardStates, mask, mm.forAnotherThread()), beside);
    Recurrent.Run f = forward.run(x, states.subList(0, half), mask, mm);
    Recurrent.Run b = pending == null ? backward.run(x, backwardStates, mask, mm) : join(pending);
    Tensor yf;
    Tensor yb;
    if (forward.returnSequences()) {
      yf = forward.sequenceOutput(f);
      // Keras reverses the backward layer's output back into input order.
      yb = backward.reversedSequenceOutput(b);
    } else {
      yf = forward.lastOutput(f);
      yb = backward.lastOutput(b);
    }
    List<Tensor> out = new ArrayList<>();
    if (mergeMode == MergeMode.NONE) {
      out.add(yf);
      out.add(yb);
    } else {
      out.add(merge(yf, yb));
    }
    if (forward.returnState()) {
      out.addAll(forward.stateTensors(f));
      out.addAll(backward.stateTensors(b));
    }
    return new Output(out, forward.returnSequences() ? mask : null);
  }

  // The backward run's own exception, not the future's wrapper around it.
  private static Recurrent.Run join(CompletableFuture<Recurrent.Run> pending) {
    try {
      return pending.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      if (e.getCause() instanceof Error r) {
        throw r;
      }
      throw e;
    }
  }

  /**
   * {@link #merge} of the first {@code steps} time steps of sequence outputs {@code yf [n, tf, uf]}
   * and {@code yb [n, tb, ub]} ({@code tf, tb >= steps}): {@code [n, steps, merged]}, with no copy
   * of either half's rows beyond those steps.
   */
  public Tensor mergeFirstSteps(Tensor yf, Tensor yb, int steps) {
    int n = yf.dim(0);
    int tf = yf.dim(1);
    int tb = yb.dim(1);
    if (tf == steps && tb == steps) {
      return merge(yf, yb);
    }
    if (yb.dim(0) != n || tf < steps || tb < steps) {
      throw new IllegalArgumentException(
          "layer '"
              + name
              + "': cannot merge the first "
              + steps
              + " steps of "
              + yf.shapeString()
              + " and "
              + yb.shapeString());
    }
    int fa = yf.dim(2);
    int fb = yb.dim(2);
    float[] a = yf.data();
    float[] b = yb.data();
    if (mergeMode == MergeMode.CONCAT) {
      float[] out = new float[n * steps * (fa + fb)];
      for (int r = 0; r < n; r++) {
        for (int s = 0; s < steps; s++) {
          int o = (r * steps + s) * (fa + fb);
          System.arraycopy(a, (r * tf + s) * fa, out, o, fa);
          System.arraycopy(b, (r * tb + s) * fb, out, o + fa, fb);
        }
      }
      return new Tensor(out, new int[] {n, steps, fa + fb});
    }
    float[] out = new float[n * steps * fa];
    for (int r = 0; r < n; r++) {
      for (int s = 0; s < steps; s++) {
        combine(a, (r * tf + s) * fa, b, (r * tb + s) * fb, out, (r * steps + s) * fa, fa);
      }
    }
    return new Tensor(out, new int[] {n, steps, fa});
  }

  /** Combines forward and backward outputs of equal leading shape by the merge mode. */
  public Tensor merge(Tensor yf, Tensor yb) {
    float[] a = yf.data();
    float[] b = yb.data();
    if (mergeMode == MergeMode.CONCAT) {
      int fa = yf.dim(-1);
      int fb = yb.dim(-1);
      int rows = yf.rows();
      float[] out = new float[rows * (fa + fb)];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(a, r * fa, out, r * (fa + fb), fa);
        System.arraycopy(b, r * fb, out, r * (fa + fb) + fa, fb);
      }
      int[] shape = yf.shape().clone();
      shape[shape.length - 1] = fa + fb;
      return new Tensor(out, shape);
    }
    float[] out = new float[a.length];
    combine(a, 0, b, 0, out, 0, a.length);
    return new Tensor(out, yf.shape().clone());
  }

  /** {@code len} values of the element-wise merge modes (SUM, MUL, AVE). */
  private void combine(float[] a, int ai, float[] b, int bi, float[] out, int oi, int len) {
    for (int i = 0; i < len; i++) {
      out[oi + i] =
          switch (mergeMode) {
            case SUM -> a[ai + i] + b[bi + i];
            case MUL -> a[ai + i] * b[bi + i];
            case AVE -> (a[ai + i] + b[bi + i]) / 2;
            default -> throw new IllegalStateException(mergeMode.name());
          };
    }
  }
}
