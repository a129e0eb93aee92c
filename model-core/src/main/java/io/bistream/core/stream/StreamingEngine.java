package io.bistream.core.stream;

import io.bistream.core.layers.BatchNormalization;
import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.ElementWise;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.GlobalPooling1D;
import io.bistream.core.layers.LastStep;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.LayerNormalization;
import io.bistream.core.layers.Masking;
import io.bistream.core.layers.MatMul;
import io.bistream.core.layers.Recurrent;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * Runs a sequence model over sequences that arrive chunk by chunk (docs/architecture.md, "Streaming
 * modes").
 *
 * <ul>
 *   <li><b>exact</b>: the causal prefix of the model (per-step layers, unidirectional recurrent
 *       layers) runs as steps arrive, with its states carried, and the input rows of the first
 *       Bidirectional layer are buffered; the rest, that layer's forward half included, runs when
 *       the sequence ends (a last-step Bidirectional layer's forward half still runs as steps
 *       arrive). Outputs equal offline {@code predict}. A model with no bidirectional layer emits
 *       per chunk.
 *   <li><b>lookahead(C, R)</b> (LC-BLSTM, Zhang et al. 2016): for the chunk [s, s+c) every layer
 *       runs over the window [s, min(end, s+C+R)); forward halves start from the state carried at
 *       s, backward halves from zero at the window end; the c outputs are released and each forward
 *       half carries its state after step s+c-1.
 *   <li><b>stateful</b>: each chunk of C steps is one Keras batch of a {@code stateful=True} model:
 *       forward and backward halves both start from where they ended on the previous chunk.
 *   <li><b>context(L, C, R)</b> (context-sensitive chunks, Chen &amp; Huo 2015; Kaldi nnet3 chunk
 *       width with extra left/right context): the chunk [s, s+c) is the whole model run on the
 *       window [max(0, s-L), min(end, s+C+R)) from zero states in every direction, of which the c
 *       rows of the chunk are kept. Nothing is carried between chunks; a sequence keeps only the
 *       steps its next windows need. Unidirectional models follow the same definition (their
 *       forward pass restarts at each window), as they are trained and decoded that way.
 * </ul>
 *
 * <p>A model ending in a {@code return_sequences=False} layer, or reading out step T-1 of a
 * sequence output ({@link LastStep}, torch's {@code y[:, -1]}), releases one output, for step T-1,
 * when the sequence ends: in exact mode the offline value; in lookahead and stateful mode step T-1
 * of the last window. Context mode refuses such models, as its definition is per step. {@link
 * #advanceAll} advances many sequences at once: windows of equal shape go through each layer and
 * direction in one batched call.
 */
public final class StreamingEngine {

  /** A chain element: one layer with its role in streaming. */
  private record Stage(Layer layer, Kind kind) {}

  private enum Kind {
    PER_STEP, // Dense, Activation, Dropout, Masking, Embedding: step by step, no state
    UNI, // unidirectional recurrent, return_sequences
    BI, // Bidirectional, return_sequences
    LAST_UNI, // unidirectional recurrent, last step only
    LAST_BI, // Bidirectional, last step only
    READOUT, // LastStep: row T-1 of a per-step sequence output (torch's y[:, -1])
    POOL, // GlobalPooling1D: the mean or maximum of every released row, one output at the end
    TAIL // per-sample layers after a last-step layer
  }

  /**
   * New steps for one sequence: {@code count} rows of the model's input width, in {@code steps}
   * from index {@code from} on.
   */
  public record Feed(SequenceState state, float[] steps, int from, int count, boolean end) {

    /** The steps from index 0 of {@code steps}. */
    public Feed(SequenceState state, float[] steps, int count, boolean end) {
      this(state, steps, 0, count, end);
    }
  }

  private final StreamConfig config;
  private final boolean context; // context mode: every window stands alone, nothing carried
  private final Model.Backend backend;
  private final List<Stage> stages;
  private final int inputWidth;
  private final int tokenVocabulary; // 0 unless the input is token ids
  private final int outputWidth;
  private final int firstBidirectional; // exact mode runs the stages before it as steps arrive
  private final int lastStepStage; // index of the last-step stage, or -1
  // the pool's reduction when the one-output stage pools every step (Kind.POOL), else null
  private final GlobalPooling1D.Reduce poolReduce;
  // index of the top recurrent stage: those below feed windows above them, or -1
  private final int topRecurrentStage;

  public StreamingEngine(Model model, StreamConfig config) {
    this(model, config, Model.Backend.ND4J);
  }

  public StreamingEngine(Model model, StreamConfig config, Model.Backend backend) {
    this.config = config;
    this.context = config.mode() == StreamConfig.Mode.CONTEXT;
    this.backend = backend;
    this.stages = compile(model);
    int bi = -1;
    int last = -1;
    int top = -1;
    for (int i = 0; i < stages.size(); i++) {
      Kind k = stages.get(i).kind();
      if (bi < 0 && (k == Kind.BI || k == Kind.LAST_BI)) {
        bi = i;
      }
      if (k == Kind.LAST_UNI || k == Kind.LAST_BI || k == Kind.READOUT || k == Kind.POOL) {
        last = i;
      }
      if (k != Kind.PER_STEP && k != Kind.TAIL && k != Kind.READOUT && k != Kind.POOL) {
        top = i;
      }
    }
    this.firstBidirectional = bi;
    this.lastStepStage = last;
    this.topRecurrentStage = top;
    this.poolReduce =
        last >= 0 && stages.get(last).layer() instanceof GlobalPooling1D pool
            ? pool.reduce()
            : null;
    if (context && last >= 0) {
      throw new IllegalArgumentException(
          model.source().file()
              + ": context mode releases each chunk's per-step outputs, but layer '"
              + stages.get(last).layer().name()
              + switch (stages.get(last).kind()) {
                case READOUT -> "' reads out step T-1 of the sequence only";
                case POOL -> "' pools every step of the sequence into one output";
                default -> "' returns its last step only (return_sequences=False)";
              }
              + ": one output per sequence, which no window of a chunk defines. Use exact mode"
              + " (or lookahead or stateful) for this model.");
    }
    this.inputWidth = stepWidth(model);
    Model.Input in = model.inputs().get(0);
    this.tokenVocabulary = in.tokenIds() ? in.vocabularySize() : 0;
    this.outputWidth = probeOutputWidth(model);
  }

  /**
   * Values per step the model's input takes. A width the file leaves unknown (an input declared
   * {@code [None, None]} that feeds no Embedding) is refused here, when the job is built, rather
   * than failing every record later.
   */
  private static int stepWidth(Model model) {
    Model.Input in = model.inputs().get(0);
    int width = in.width();
    if (width < 1) {
      throw new IllegalArgumentException(
          model.source().file()
              + ": input '"
              + in.name()
              + "' is declared "
              + in
              + ": expected a known number of values per step (the last dimension), or token ids"
              + " feeding an Embedding; found "
              + (width < 0 ? "an unknown last dimension" : "a last dimension of " + width)
              + ". Re-save the model with its input shape set, e.g. Input(shape=(None, D)).");
    }
    return width;
  }

  /**
   * The vocabulary size when the model takes token ids, one per step (valid ids are the integers in
   * [0, size)); 0 when it takes values.
   */
  public int tokenVocabulary() {
    return tokenVocabulary;
  }

  public StreamConfig config() {
    return config;
  }

  /** Values per input step (1 for token-id models). */
  public int inputWidth() {
    return inputWidth;
  }

  /** Values per output row. */
  public int outputWidth() {
    return outputWidth;
  }

  /** True when the model releases one output per sequence, at its end. */
  public boolean lastStepModel() {
    return lastStepStage >= 0;
  }

  /** True when feeding {@code count} more steps would fail the sequence (REJECT policy). */
  public boolean wouldReject(SequenceState s, int count) {
    return config.mode() == StreamConfig.Mode.EXACT
        && config.overflow() == StreamConfig.Overflow.REJECT
        && firstBidirectional >= 0
        && s.received + count > config.maxSequenceSteps();
  }

  /** Input steps a sequence holds in buffers: what bounds its memory. */
  public long bufferedSteps(SequenceState s) {
    return s.pending.length() / inputWidth + s.bufMask.length();
  }

  public SequenceState newSequence() {
    float[][] fwd = new float[stages.size()][];
    float[][] bwd = new float[stages.size()][];
    for (int i = 0; i < stages.size(); i++) {
      RecurrentCell f = forwardCell(stages.get(i));
      if (f != null && carriesForward(i)) {
        fwd[i] = new float[f.stateCount() * f.units()];
      }
      RecurrentCell b = backwardCell(stages.get(i));
      if (b != null && config.mode() == StreamConfig.Mode.STATEFUL) {
        bwd[i] = new float[b.stateCount() * b.units()];
      }
    }
    return new SequenceState(fwd, bwd);
  }

  /**
   * Whether stage {@code i}'s forward half carries its state from one engine call to the next:
   * never in context mode; in exact mode only before the first bidirectional stage, and in it when
   * it outputs its last step only (the rest runs when the sequence ends, from zero states).
   */
  private boolean carriesForward(int i) {
    if (context) {
      return false;
    }
    if (config.mode() != StreamConfig.Mode.EXACT
        || firstBidirectional < 0
        || i < firstBidirectional) {
      return true;
    }
    return i == firstBidirectional && stages.get(i).kind() == Kind.LAST_BI;
  }

  /**
   * A new sequence whose length is known, fed {@code feed} steps at a time ({@link
   * OfflineStreaming}): its buffer of pending raw steps is sized once for the most it will hold, so
   * it does not grow by copies while the first window fills.
   */
  SequenceState newSequence(long steps, int feed) {
    SequenceState s = newSequence();
    boolean buffers =
        context
            || firstBidirectional >= 0
                && config.mode() != StreamConfig.Mode.EXACT; // exact buffers elsewhere
    if (buffers) {
      // Before an advance fewer steps than one window are pending (else it would have run);
      // the feed comes on top.
      long window = (long) config.leftContext() + config.chunk() + config.lookahead();
      long most = Math.min(steps, window + feed);
      s.pending = new Floats(new float[Math.toIntExact(most * inputWidth)], 0);
    }
    return s;
  }

  /** Advances one sequence; returns the outputs released, in step order. */
  public List<Emission> advance(SequenceState state, float[] steps, int count, boolean end) {
    return advanceAll(List.of(new Feed(state, steps, count, end))).get(0);
  }

  /**
   * Advances many sequences of this model at once. Windows of equal shape are computed together,
   * one batched call per layer and direction; results equal advancing each alone.
   *
   * @return per feed, the outputs released, in step order
   */
  public List<List<Emission>> advanceAll(List<Feed> feeds) {
    return advanceAll(feeds, null);
  }

  /**
   * Where released per-step rows go instead of new {@link Emission}s: the rows are passed in the
   * engine's own array, valid during the call only, so a caller that assembles them anyway ({@link
   * OfflineStreaming}) copies each row once.
   */
  interface RowSink {
    /**
     * Rows {@code [firstStep, firstStep + steps)} of feed {@code feed}: {@code steps * width}
     * values of {@code values} from {@code offset} on.
     */
    void rows(int feed, long firstStep, float[] values, int offset, int steps, int width);
  }

  /** Per feed the emissions, and the sink that takes per-step rows instead (or null). */
  private record Outputs(List<List<Emission>> lists, RowSink sink) {}

  /**
   * {@link #advanceAll(List)}, per-step rows handed to {@code sink} (when not null) instead of
   * returned; last-step outputs are returned either way.
   */
  List<List<Emission>> advanceAll(List<Feed> feeds, RowSink sink) {
    List<List<Emission>> lists = new ArrayList<>();
    for (Feed f : feeds) {
      accept(f);
      lists.add(new ArrayList<>());
    }
    Outputs out = new Outputs(lists, sink);
    MatMul mm = backendMatMul();
    if (context) {
      advanceContext(feeds, out, mm);
    } else if (firstBidirectional < 0) {
      // Unidirectional models are causal: every mode is exact and releases per chunk.
      advanceExact(feeds, out, mm, i -> true);
    } else if (config.mode() == StreamConfig.Mode.EXACT) {
      // Sequences that outgrew max-sequence-steps continue in lookahead mode.
      advanceExact(feeds, out, mm, i -> !feeds.get(i).state().degraded);
      advanceChunked(feeds, out, mm, i -> feeds.get(i).state().degraded);
    } else {
      advanceChunked(feeds, out, mm, i -> true);
    }
    for (int i = 0; i < feeds.size(); i++) {
      SequenceState s = feeds.get(i).state();
      if (feeds.get(i).end() && poolReduce != null && s.pool != null) {
        s.candidate = s.pooled(poolReduce);
      }
      if (feeds.get(i).end() && lastStepModel() && s.candidate != null) {
        lists.get(i).add(lastStepEmission(s, mm));
      }
    }
    return lists;
  }

  // ------------------------------------------------------------------ feeding

  private void accept(Feed f) {
    SequenceState s = f.state();
    if (s.ended) {
      throw new IllegalStateException(
          "sequence already ended after " + s.received + " steps; data after end is invalid");
    }
    if (f.count() < 0
        || f.from() < 0
        || (long) f.count() * inputWidth > (long) f.steps().length - f.from()) {
      throw new IllegalArgumentException(
          "feed of "
              + f.count()
              + " steps needs "
              + (long) f.count() * inputWidth
              + " values (width "
              + inputWidth
              + "), found "
              + (f.steps().length - f.from())
              + (f.from() == 0 ? "" : " from index " + f.from()));
    }
    s.received += f.count();
    s.ended = f.end();
    if (firstBidirectional < 0 && !context) {
      return; // causal: nothing buffered
    }
    boolean exact = config.mode() == StreamConfig.Mode.EXACT;
    boolean degrade = exact && config.overflow() == StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD;
    if (!exact || degrade) {
      // Raw steps for lookahead/stateful windows, or for a degraded exact sequence's replay.
      s.pending.append(f.steps(), f.from(), f.count() * inputWidth);
    }
    if (exact && !s.degraded && s.received > config.maxSequenceSteps()) {
      if (!degrade) {
        throw new SequenceTooLongException(s.received, config.maxSequenceSteps());
      }
      degrade(s);
    }
  }

  /**
   * Restarts an exact sequence in lookahead mode from its first step: its raw steps are all still
   * pending, the exact buffers and states are dropped. Its outputs are marked degraded.
   */
  private static void degrade(SequenceState s) {
    Arrays.fill(s.fwd, null); // none carried: lookahead starts every stage from zero states
    s.bufIn.clear();
    s.bufMask.clear();
    s.bufFwd.clear();
    s.candidate = null;
    s.firstBackward = null;
    s.chunkStart = 0;
    s.degraded = true;
  }

  // ------------------------------------------------------------------ exact

  private void advanceExact(List<Feed> feeds, Outputs out, MatMul mm, IntPredicate included) {
    // 1. The causal prefix over the new steps, batched by chunk length.
    Map<Integer, List<Integer>> byLength = new LinkedHashMap<>();
    for (int i = 0; i < feeds.size(); i++) {
      if (included.test(i) && feeds.get(i).count() > 0) {
        byLength.computeIfAbsent(feeds.get(i).count(), k -> new ArrayList<>()).add(i);
      }
    }
    for (Map.Entry<Integer, List<Integer>> group : byLength.entrySet()) {
      int w = group.getKey();
      List<Integer> idx = group.getValue();
      int n = idx.size();
      float[] x = new float[n * w * inputWidth];
      List<SequenceState> states = new ArrayList<>();
      for (int r = 0; r < n; r++) {
        Feed f = feeds.get(idx.get(r));
        System.arraycopy(f.steps(), f.from(), x, r * w * inputWidth, w * inputWidth);
        states.add(f.state());
      }
      int stop = firstBidirectional < 0 ? stages.size() : firstBidirectional;
      Run run = runStages(0, stop, x, null, inputWidth, n, w, w, states, mm);
      if (firstBidirectional < 0) {
        release(run, idx, states, out, 0, w);
        continue;
      }
      Stage b = stages.get(firstBidirectional);
      if (b.kind() == Kind.LAST_BI) {
        // Only the forward half's last output is needed: its state is carried, no rows kept.
        Recurrent fwd = forwardLayer(b);
        float[][] st = gather(states, firstBidirectional, fwd.cell(), true);
        fwd.cell().run(run.h, n, w, st, false, run.mask, fwd.zeroOutputForMask(), mm);
        scatter(states, firstBidirectional, fwd.cell(), st, true);
      }
      // The first bidirectional stage's input rows, for both its halves at the end.
      float[] keep = new float[w];
      for (int r = 0; r < n; r++) {
        SequenceState s = states.get(r);
        s.bufIn.append(run.h, r * w * run.width, w * run.width);
        for (int t = 0; t < w; t++) {
          keep[t] = run.mask == null || run.mask[r * w + t] ? 1f : 0f;
        }
        s.bufMask.append(keep, 0, w);
      }
    }
    if (firstBidirectional < 0) {
      return;
    }
    // 2. Sequences that ended: the first bidirectional stage, then the rest of the model, batched
    // by length and by the forward outputs a state from an earlier version already holds.
    int uf = forwardLayer(stages.get(firstBidirectional)).cell().units();
    Map<Finish, List<Integer>> ending = new LinkedHashMap<>();
    for (int i = 0; i < feeds.size(); i++) {
      SequenceState s = feeds.get(i).state();
      if (included.test(i) && feeds.get(i).end() && s.received > 0) {
        Finish f = new Finish(Math.toIntExact(s.received), s.bufFwd.length() / uf);
        ending.computeIfAbsent(f, k -> new ArrayList<>()).add(i);
      }
    }
    for (Map.Entry<Finish, List<Integer>> group : ending.entrySet()) {
      finishExact(group.getKey(), group.getValue(), feeds, out, mm);
    }
  }

  /**
   * Sequences of {@code steps} steps ending together, whose first {@code computed} forward outputs
   * of the first bidirectional stage are buffered: states written while that half still ran as
   * steps arrived (docs/architecture.md, "Why it is built this way") carry its state after them.
   */
  private record Finish(int steps, int computed) {}

  private void finishExact(Finish f, List<Integer> idx, List<Feed> feeds, Outputs out, MatMul mm) {
    int t = f.steps();
    int n = idx.size();
    Stage b = stages.get(firstBidirectional);
    Bidirectional bi = (Bidirectional) b.layer();
    List<SequenceState> states = statesOf(feeds, idx);
    int width = states.get(0).bufIn.length() / t;
    float[] x = new float[n * t * width];
    boolean[] mask = null;
    for (int r = 0; r < n; r++) {
      SequenceState s = states.get(r);
      s.bufIn.copyTo(0, x, r * t * width, t * width);
      float[] m = s.bufMask.toArray();
      for (int k = 0; k < t; k++) {
        if (m[k] == 0f) {
          mask = mask == null ? allTrue(n * t) : mask;
          mask[r * t + k] = false;
        }
      }
    }
    RecurrentCell back = bi.backward().cell();
    float[][] zero = back.zeroStates(n);
    float[] yb =
        back.run(x, n, t, zero, true, mask, bi.backward().zeroOutputForMask(), mm); // aligned
    RecurrentCell fcell = bi.forward().cell();
    int uf = fcell.units();
    int ub = back.units();
    Tensor merged;
    if (b.kind() == Kind.BI) {
      float[] yf = forwardAtEnd(states, f, x, mask, width, mm);
      merged = bi.merge(new Tensor(yf, new int[] {n, t, uf}), new Tensor(yb, new int[] {n, t, ub}));
    } else {
      float[] lastF = new float[n * uf];
      float[] firstB = new float[n * ub];
      for (int r = 0; r < n; r++) {
        System.arraycopy(states.get(r).fwd[firstBidirectional], 0, lastF, r * uf, uf);
        System.arraycopy(yb, r * t * ub, firstB, r * ub, ub);
      }
      merged =
          bi.merge(new Tensor(lastF, new int[] {n, uf}), new Tensor(firstB, new int[] {n, ub}));
    }
    for (SequenceState s : states) {
      s.bufIn.clear();
      s.bufMask.clear();
      s.bufFwd.clear();
      s.pending.clear();
    }
    if (b.kind() == Kind.LAST_BI) {
      setCandidates(states, merged.data(), merged.dim(-1));
      return;
    }
    // The layers above see the whole sequence at once: fresh states, window = chunk = t.
    Run run =
        runStages(
            firstBidirectional + 1,
            stages.size(),
            merged.data(),
            mask,
            merged.dim(-1),
            n,
            t,
            t,
            states,
            mm);
    release(run, idx, states, out, 0, t);
  }

  /**
   * The first bidirectional stage's forward outputs {@code [n, t, units]} over the input rows
   * {@code x} ({@code [n, t, width]}): those buffered for the first {@code f.computed()} steps, the
   * rest run from the forward state carried after them.
   */
  private float[] forwardAtEnd(
      List<SequenceState> states, Finish f, float[] x, boolean[] mask, int width, MatMul mm) {
    Recurrent fwd = forwardLayer(stages.get(firstBidirectional));
    RecurrentCell cell = fwd.cell();
    int n = states.size();
    int t = f.steps();
    int k = f.computed();
    int u = cell.units();
    float[] xs = k == 0 ? x : slice(x, n, t, width, k, t);
    boolean[] ms = k == 0 ? mask : slice(mask, n, t, k, t);
    float[][] st = gather(states, firstBidirectional, cell, true);
    float[] y = cell.run(xs, n, t - k, st, false, ms, fwd.zeroOutputForMask(), mm);
    if (k == 0) {
      return y;
    }
    float[] yf = new float[n * t * u];
    for (int r = 0; r < n; r++) {
      states.get(r).bufFwd.copyTo(0, yf, r * t * u, k * u);
      System.arraycopy(y, r * (t - k) * u, yf, (r * t + k) * u, (t - k) * u);
    }
    return yf;
  }

  // ------------------------------------------------------------------ lookahead, stateful

  private void advanceChunked(List<Feed> feeds, Outputs out, MatMul mm, IntPredicate included) {
    boolean stateful = config.mode() == StreamConfig.Mode.STATEFUL;
    int c = config.chunk();
    int need = stateful ? c : c + config.lookahead();
    while (true) {
      // One window per sequence per round, grouped by shape.
      Map<Window, List<Integer>> ready = new LinkedHashMap<>();
      for (int i = 0; i < feeds.size(); i++) {
        if (!included.test(i)) {
          continue;
        }
        SequenceState s = feeds.get(i).state();
        int avail = s.pending.length() / inputWidth;
        int w;
        if (avail >= need) {
          w = need;
        } else if (s.ended && avail > 0) {
          w = avail;
        } else {
          continue;
        }
        ready.computeIfAbsent(new Window(w, 0, Math.min(c, w)), k -> new ArrayList<>()).add(i);
      }
      if (ready.isEmpty()) {
        return;
      }
      for (Map.Entry<Window, List<Integer>> group : ready.entrySet()) {
        Window win = group.getKey();
        List<Integer> idx = group.getValue();
        List<SequenceState> states = statesOf(feeds, idx);
        float[] x = gatherWindows(states, win.steps());
        int n = idx.size();
        int w = win.steps();
        Run run = runStages(0, stages.size(), x, null, inputWidth, n, w, win.chunk(), states, mm);
        for (SequenceState s : states) {
          s.pending.dropFirst(win.chunk() * inputWidth);
          s.chunkStart += win.chunk();
        }
        release(run, idx, states, out, 0, win.chunk());
      }
    }
  }

  /** The sequences of feeds {@code idx}, in that order. */
  private static List<SequenceState> statesOf(List<Feed> feeds, List<Integer> idx) {
    List<SequenceState> states = new ArrayList<>(idx.size());
    for (int i : idx) {
      states.add(feeds.get(i).state());
    }
    return states;
  }

  /** The first {@code w} pending steps of each sequence, as one batch (n, w, inputWidth). */
  private float[] gatherWindows(List<SequenceState> states, int w) {
    float[] x = new float[states.size() * w * inputWidth];
    for (int k = 0; k < states.size(); k++) {
      states.get(k).pending.copyTo(0, x, k * w * inputWidth, w * inputWidth);
    }
    return x;
  }

  /**
   * A window's shape: its steps, the left-context steps before its chunk (0 but in context mode),
   * the chunk.
   */
  private record Window(int steps, int left, int chunk) {}

  // ------------------------------------------------------------------ context

  /**
   * Context mode. A sequence's pending buffer starts at {@code max(0, chunkStart - L)}: the left
   * context of the next chunk, then the steps from the chunk on. A chunk is computed once R steps
   * past it arrived (or the sequence ended); the steps no later window reaches are then dropped.
   */
  private void advanceContext(List<Feed> feeds, Outputs out, MatMul mm) {
    int l = config.leftContext();
    while (true) {
      // One window per sequence per round, grouped by shape: windows of sequences at the same
      // phase go through every layer in one batched call.
      Map<Window, List<Integer>> ready = new LinkedHashMap<>();
      for (int i = 0; i < feeds.size(); i++) {
        Window win = contextWindow(feeds.get(i).state());
        if (win != null) {
          ready.computeIfAbsent(win, k -> new ArrayList<>()).add(i);
        }
      }
      if (ready.isEmpty()) {
        return;
      }
      for (Map.Entry<Window, List<Integer>> group : ready.entrySet()) {
        Window win = group.getKey();
        List<Integer> idx = group.getValue();
        List<SequenceState> states = statesOf(feeds, idx);
        float[] x = gatherWindows(states, win.steps());
        int n = idx.size();
        int w = win.steps();
        Run run = runStages(0, stages.size(), x, null, inputWidth, n, w, w, states, mm);
        for (SequenceState s : states) {
          long next = s.chunkStart + win.chunk();
          // The next window starts at max(0, next - L); this one started at chunkStart - left.
          long drop = Math.max(0, next - l) - (s.chunkStart - win.left());
          s.pending.dropFirst(Math.toIntExact(drop) * inputWidth);
          s.chunkStart = next;
          if (s.ended && next == s.received) {
            s.pending.clear(); // no chunk follows: its left context is not needed
          }
        }
        release(run, idx, states, out, win.left(), win.chunk());
      }
    }
  }

  /**
   * The window of a sequence's next chunk: its left context (up to L steps before the chunk), the
   * chunk and R steps past it, or fewer once the sequence ended; null while those steps have not
   * all arrived.
   */
  private Window contextWindow(SequenceState s) {
    int c = config.chunk();
    int r = config.lookahead();
    int left = (int) Math.min(config.leftContext(), s.chunkStart);
    int ahead = s.pending.length() / inputWidth - left; // steps from the chunk start on
    int w;
    if (ahead >= c + r) {
      w = c + r;
    } else if (s.ended && ahead > 0) {
      w = ahead;
    } else {
      return null;
    }
    return new Window(left + w, left, Math.min(c, w));
  }

  // ------------------------------------------------------------------ the chain

  /** Outputs of a run: rows of the first {@code c} steps, or last-step candidates. */
  private record Run(float[] h, boolean[] mask, int width) {}

  /**
   * Runs stages {@code [from, to)} over a window of {@code w} steps of {@code n} sequences. Forward
   * halves start from the carried states and carry on their state after step {@code c - 1} (in
   * context mode: from zero, carrying nothing); backward halves start from zero at the window end
   * (or, in stateful mode, from their carried state). When the window reaches a last-step stage,
   * its output is stored as the sequences' candidate (only when {@code c == w}, the window that can
   * be final) and the run stops.
   */
  private Run runStages(
      int from,
      int to,
      float[] x,
      boolean[] mask,
      int width,
      int n,
      int w,
      int c,
      List<SequenceState> states,
      MatMul mm) {
    float[] h = x;
    boolean stateful = config.mode() == StreamConfig.Mode.STATEFUL;
    boolean whole = c == w; // the window is its chunk: the one that can end the sequence
    for (int i = from; i < to; i++) {
      Stage stage = stages.get(i);
      switch (stage.kind()) {
        case PER_STEP -> {
          Layer.Output o =
              stage.layer().apply(List.of(new Tensor(h, new int[] {n, w, width})), mask, mm);
          Tensor y = o.tensors().get(0);
          h = y.data();
          mask = o.mask();
          width = y.dim(-1);
        }
        case UNI, BI, LAST_UNI, LAST_BI -> {
          Recurrent fwd = forwardLayer(stage);
          RecurrentCell fc = fwd.cell();
          boolean last = stage.kind() == Kind.LAST_UNI || stage.kind() == Kind.LAST_BI;
          float[] yf;
          if (context) {
            // Context windows stand alone: from zero over the whole window, nothing carried.
            yf = fc.run(h, n, w, fc.zeroStates(n), false, mask, fwd.zeroOutputForMask(), mm);
          } else {
            float[][] st = gather(states, i, fc, true);
            // Forward outputs past step c - 1 feed only the windows of recurrent stages above;
            // the top recurrent stage releases its first c rows, so it skips those steps.
            boolean ahead = i < topRecurrentStage;
            yf = runSplit(fc, h, n, w, width, c, st, mask, fwd.zeroOutputForMask(), ahead, mm);
            // st now holds the state after step c - 1: what the stage carries on.
            scatter(states, i, fc, st, true);
          }
          // Above the top recurrent stage only the chunk's c rows are read (released, or fed to
          // per-step layers), so from here on the window is the chunk.
          int kept = i == topRecurrentStage && !last ? c : w;
          Tensor yfT = new Tensor(yf, new int[] {n, yf.length / (n * fc.units()), fc.units()});
          // (the last row computed: step w - 1, or c - 1 when a top stage stopped at the chunk,
          // whose candidate is then not kept)
          Tensor result = last ? lastStep(yfT, yfT.dim(1) - 1) : yfT;
          if (stage.layer() instanceof Bidirectional bi) {
            RecurrentCell bc = bi.backward().cell();
            float[][] bst = stateful ? gather(states, i, bc, false) : bc.zeroStates(n);
            float[] yb = bc.run(h, n, w, bst, true, mask, bi.backward().zeroOutputForMask(), mm);
            if (stateful) {
              scatter(states, i, bc, bst, false);
            }
            Tensor ybT = new Tensor(yb, new int[] {n, w, bc.units()});
            Tensor ybUse = last ? lastStep(ybT, 0) : ybT;
            if (last && !stateful) {
              // The backward half's last-step output is its output at step 0, computed in the
              // first chunk's window like every other step's output.
              ybUse = firstBackward(states, ybUse);
            }
            result = last ? bi.merge(result, ybUse) : bi.mergeFirstSteps(result, ybUse, kept);
          } else if (yfT.dim(1) > kept) {
            result =
                new Tensor(
                    slice(yf, n, yfT.dim(1), fc.units(), 0, kept), new int[] {n, kept, fc.units()});
          }
          if (kept < w) {
            mask = slice(mask, n, w, 0, kept);
            w = kept;
          }
          if (last) {
            if (whole) {
              setCandidates(states, result.data(), result.dim(-1));
            }
            return new Run(null, null, result.dim(-1));
          }
          h = result.data();
          width = result.dim(-1);
        }
        case READOUT -> {
          // Row w - 1 of the window, kept whenever the chunk is the whole window (c == w): the
          // window that ends the sequence always is such a one, and it is kept last.
          if (whole) {
            setCandidates(
                states, lastStep(new Tensor(h, new int[] {n, w, width}), w - 1).data(), width);
          }
          return new Run(null, null, width);
        }
        case POOL -> {
          // The pool's input rows: release() folds the chunk's rows into the pool.
          return new Run(h, mask, width);
        }
        case TAIL -> throw new IllegalStateException("tail layers run at the end");
      }
    }
    return new Run(h, mask, width);
  }

  /**
   * Runs a forward cell over the window: the first c steps from the carried state, whose result is
   * kept in {@code st} as the state to carry on, then the remaining lookahead steps from a copy
   * when {@code runAhead}.
   *
   * @return {@code [n, w, units]}, or {@code [n, c, units]} without {@code runAhead}
   */
  private static float[] runSplit(
      RecurrentCell cell,
      float[] h,
      int n,
      int w,
      int width,
      int c,
      float[][] st,
      boolean[] mask,
      boolean zeroOut,
      boolean runAhead,
      MatMul mm) {
    if (c == w) {
      return cell.run(h, n, w, st, false, mask, zeroOut, mm);
    }
    float[] y1 =
        cell.run(
            slice(h, n, w, width, 0, c), n, c, st, false, slice(mask, n, w, 0, c), zeroOut, mm);
    if (!runAhead) {
      return y1; // [n, c, units]: the caller keeps only the chunk's rows
    }
    float[][] ahead = new float[st.length][];
    for (int k = 0; k < st.length; k++) {
      ahead[k] = st[k].clone();
    }
    float[] y2 =
        cell.run(
            slice(h, n, w, width, c, w),
            n,
            w - c,
            ahead,
            false,
            slice(mask, n, w, c, w),
            zeroOut,
            mm);
    return concatTime(y1, c, y2, w - c, n, cell.units());
  }

  private static Tensor firstBackward(List<SequenceState> states, Tensor rows) {
    int u = rows.dim(-1);
    float[] out = new float[rows.data().length];
    for (int r = 0; r < states.size(); r++) {
      SequenceState s = states.get(r);
      if (s.chunkStart == 0) {
        s.firstBackward = java.util.Arrays.copyOfRange(rows.data(), r * u, (r + 1) * u);
      }
      System.arraycopy(s.firstBackward, 0, out, r * u, u);
    }
    return new Tensor(out, rows.shape());
  }

  /** Releases rows [from, from + c) of each sequence's window (per-step models). */
  private void release(
      Run run, List<Integer> idx, List<SequenceState> states, Outputs out, int from, int c) {
    if (run.h() == null) {
      return; // last-step model: released at the end
    }
    int n = idx.size();
    int w = run.h().length / (n * run.width());
    if (poolReduce != null) {
      for (int r = 0; r < n; r++) {
        states.get(r).pool(poolReduce, run.h(), run.mask(), r * w + from, c, run.width());
      }
      return;
    }
    for (int r = 0; r < n; r++) {
      SequenceState s = states.get(r);
      int at = (r * w + from) * run.width();
      if (out.sink() != null) {
        out.sink().rows(idx.get(r), s.emitted, run.h(), at, c, run.width());
      } else {
        float[] rows = new float[c * run.width()];
        System.arraycopy(run.h(), at, rows, 0, c * run.width());
        out.lists().get(idx.get(r)).add(new Emission(s.emitted, c, run.width(), rows, s.degraded));
      }
      s.emitted += c;
    }
  }

  private Emission lastStepEmission(SequenceState s, MatMul mm) {
    float[] h = s.candidate.clone(); // shared with snapshots; the tail layers get their own
    for (int i = lastStepStage + 1; i < stages.size(); i++) {
      Tensor y =
          stages
              .get(i)
              .layer()
              .apply(List.of(new Tensor(h, new int[] {1, h.length})), null, mm)
              .tensors()
              .get(0);
      h = y.data();
    }
    s.candidate = null;
    s.emitted = s.received;
    return new Emission(s.received - 1, 1, h.length, h, s.degraded);
  }

  private static void setCandidates(List<SequenceState> states, float[] rows, int width) {
    for (int r = 0; r < states.size(); r++) {
      float[] c = new float[width];
      System.arraycopy(rows, r * width, c, 0, width);
      states.get(r).candidate = c;
    }
  }

  // ------------------------------------------------------------------ states

  /**
   * Gathers stage i's carried states of n sequences into {@code [stateCount][n * units]}: zeros for
   * a sequence that carries none there.
   */
  private static float[][] gather(
      List<SequenceState> states, int i, RecurrentCell cell, boolean forward) {
    int u = cell.units();
    float[][] st = cell.zeroStates(states.size());
    for (int r = 0; r < states.size(); r++) {
      float[] packed = forward ? states.get(r).fwd[i] : states.get(r).bwd[i];
      if (packed == null) {
        continue; // none carried: zero states
      }
      for (int k = 0; k < st.length; k++) {
        System.arraycopy(packed, k * u, st[k], r * u, u);
      }
    }
    return st;
  }

  /**
   * Puts stage i's states back, each sequence's into a new array: a state's arrays are replaced,
   * never changed in place (SequenceState), so a snapshot taken before stays what it was.
   */
  private static void scatter(
      List<SequenceState> states, int i, RecurrentCell cell, float[][] st, boolean forward) {
    int u = cell.units();
    for (int r = 0; r < states.size(); r++) {
      float[] packed = new float[st.length * u];
      for (int k = 0; k < st.length; k++) {
        System.arraycopy(st[k], r * u, packed, k * u, u);
      }
      if (forward) {
        states.get(r).fwd[i] = packed;
      } else {
        states.get(r).bwd[i] = packed;
      }
    }
  }

  // ------------------------------------------------------------------ compile

  private static List<Stage> compile(Model model) {
    String file = model.source().file();
    if (model.inputs().size() != 1 || model.outputs().size() != 1) {
      throw new IllegalArgumentException(
          file
              + ": streaming needs one input and one output; the model has "
              + model.inputs().size()
              + " inputs and "
              + model.outputs().size()
              + " outputs");
    }
    List<Stage> stages = new ArrayList<>();
    Model.TensorRef previous = new Model.TensorRef(model.inputs().get(0).name(), 0, 0);
    boolean afterLast = false;
    boolean masked = false; // a Masking or a mask_zero Embedding came before
    for (Model.Node node : model.nodes()) {
      Layer l = node.layer();
      if (node.inbound().size() != 1 || !node.inbound().get(0).equals(previous)) {
        throw new IllegalArgumentException(
            file
                + ": layer '"
                + l.name()
                + "' is not in a single chain; streaming supports"
                + " Sequential and linear Functional models");
      }
      previous = new Model.TensorRef(l.name(), node.nodeIndex(), 0);
      masked |= l instanceof Masking || l instanceof Embedding e && e.maskZero();
      Kind kind;
      if (afterLast) {
        if (!(l instanceof Dense
            || l instanceof ElementWise
            || l instanceof BatchNormalization
            || l instanceof LayerNormalization)) {
          throw unsupported(
              file,
              l,
              "only Dense, Activation, BatchNormalization and LayerNormalization may follow a"
                  + " last-step layer");
        }
        kind = Kind.TAIL;
      } else if (l instanceof LastStep) {
        kind = Kind.READOUT;
      } else if (l instanceof GlobalPooling1D pool) {
        if (pool.reduce() == GlobalPooling1D.Reduce.MAX && masked) {
          throw unsupported(
              file, l, "a mask reaches it, which Keras' GlobalMaxPooling1D does not support");
        }
        kind = Kind.POOL;
      } else if (l instanceof Dense
          || l instanceof ElementWise
          || l instanceof BatchNormalization
          || l instanceof LayerNormalization
          || l instanceof Masking
          || l instanceof Embedding) {
        kind = Kind.PER_STEP;
      } else if (l instanceof Recurrent r) {
        if (r.goBackwards() || r.returnState()) {
          throw unsupported(file, l, "go_backwards and return_state layers cannot stream");
        }
        kind = r.returnSequences() ? Kind.UNI : Kind.LAST_UNI;
      } else if (l instanceof Bidirectional b) {
        if (b.forward().goBackwards()
            || b.forward().returnState()
            || b.mergeMode() == Bidirectional.MergeMode.NONE) {
          throw unsupported(
              file, l, "go_backwards, return_state and merge_mode=None cannot stream");
        }
        kind = b.forward().returnSequences() ? Kind.BI : Kind.LAST_BI;
      } else {
        throw unsupported(
            file, l, "streaming supports recurrent, Bidirectional and per-step layers");
      }
      afterLast |=
          kind == Kind.LAST_UNI
              || kind == Kind.LAST_BI
              || kind == Kind.READOUT
              || kind == Kind.POOL;
      stages.add(new Stage(l, kind));
    }
    if (!previous.equals(model.outputs().get(0))) {
      throw new IllegalArgumentException(
          file + ": the model output " + model.outputs().get(0) + " is not the end of the chain");
    }
    return stages;
  }

  private static IllegalArgumentException unsupported(String file, Layer l, String why) {
    return new IllegalArgumentException(
        file + ": layer '" + l.name() + "' (" + l.kind() + "): " + why);
  }

  private int probeOutputWidth(Model model) {
    List<List<int[]>> shapes = model.traceShapes();
    int[] last = shapes.get(shapes.size() - 1).get(0);
    return last[last.length - 1];
  }

  private static Recurrent forwardLayer(Stage s) {
    return s.layer() instanceof Bidirectional b ? b.forward() : (Recurrent) s.layer();
  }

  private static RecurrentCell forwardCell(Stage s) {
    return switch (s.kind()) {
      case UNI, BI, LAST_UNI, LAST_BI -> forwardLayer(s).cell();
      default -> null;
    };
  }

  private static RecurrentCell backwardCell(Stage s) {
    return s.layer() instanceof Bidirectional b ? b.backward().cell() : null;
  }

  private MatMul backendMatMul() {
    return backend == Model.Backend.ND4J
        ? new io.bistream.core.layers.Nd4jMatMul()
        : new io.bistream.core.layers.JavaMatMul();
  }

  // ------------------------------------------------------------------ array helpers

  private static Tensor lastStep(Tensor seq, int step) {
    int n = seq.dim(0);
    int t = seq.dim(1);
    int f = seq.dim(2);
    float[] out = new float[n * f];
    for (int r = 0; r < n; r++) {
      System.arraycopy(seq.data(), (r * t + step) * f, out, r * f, f);
    }
    return new Tensor(out, new int[] {n, f});
  }

  static float[] slice(float[] a, int n, int t, int f, int from, int to) {
    float[] out = new float[n * (to - from) * f];
    for (int r = 0; r < n; r++) {
      System.arraycopy(a, (r * t + from) * f, out, r * (to - from) * f, (to - from) * f);
    }
    return out;
  }

  private static boolean[] slice(boolean[] m, int n, int t, int from, int to) {
    if (m == null) {
      return null;
    }
    boolean[] out = new boolean[n * (to - from)];
    for (int r = 0; r < n; r++) {
      System.arraycopy(m, r * t + from, out, r * (to - from), to - from);
    }
    return out;
  }

  private static float[] concatTime(float[] a, int ta, float[] b, int tb, int n, int f) {
    float[] out = new float[n * (ta + tb) * f];
    for (int r = 0; r < n; r++) {
      System.arraycopy(a, r * ta * f, out, r * (ta + tb) * f, ta * f);
      System.arraycopy(b, r * tb * f, out, (r * (ta + tb) + ta) * f, tb * f);
    }
    return out;
  }

  private static boolean[] allTrue(int size) {
    boolean[] m = new boolean[size];
    Arrays.fill(m, true);
    return m;
  }
}
