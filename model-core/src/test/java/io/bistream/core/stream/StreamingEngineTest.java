package io.bistream.core.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.bistream.core.layers.Bidirectional;
import io.bistream.core.layers.JavaMatMul;
import io.bistream.core.layers.RecurrentCell;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Properties of the streaming engine that hold for any model (docs/architecture.md, "Streaming
 * modes").
 */
class StreamingEngineTest {

  static final int D = 3;

  static float[] sequence(Random rnd, int t, boolean withMaskedSteps) {
    float[] x = RandomModels.uniform(rnd, t * D, 1.0);
    if (withMaskedSteps) {
      for (int step = 1; step < t; step += 3) {
        Arrays.fill(x, step * D, (step + 1) * D, 0f);
      }
    }
    return x;
  }

  static float[] offline(Model m, float[] x, int t) {
    return m.predict(List.of(new Tensor(x.clone(), new int[] {1, t, D})), Model.Backend.ND4J)
        .get(0)
        .data();
  }

  static void assertClose(float[] actual, float[] expected, String what) {
    assertThat(actual).as(what).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat(actual[i])
          .as("%s value %d", what, i)
          .isCloseTo(expected[i], within((float) (1e-6 + 1e-5 * Math.abs(expected[i]))));
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
  void exactModeEqualsOfflineForEveryChunkLength(long seed) {
    int t = 11;
    boolean lastStep = seed % 3 == 0;
    boolean masking = seed % 4 == 1;
    Model m = RandomModels.chain(seed, D, lastStep, masking);
    float[] x = sequence(new Random(seed), t, masking);
    float[] expected = offline(m, x, t);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    for (int feed = 1; feed <= t; feed++) {
      assertClose(Streams.run(engine, x, t, feed), expected, "seed " + seed + " feed " + feed);
    }
  }

  /**
   * Exact mode ran the first bidirectional layer's forward half as steps arrived until format
   * version 7 of the job's state: a sequence then holds that half's outputs for its first steps and
   * its state after them. Such sequences, ended in one batched call beside each other (two with the
   * same number of outputs, so in one group; one with every output already computed), finish as
   * offline {@code predict}.
   */
  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 4, 5, 7, 8, 10, 11})
  void exactStateHoldingForwardOutputsOfItsFirstStepsFinishesAsOffline(long seed) {
    int t = 9;
    Model m = RandomModels.chain(seed, D, false, true);
    int stage = firstBidirectional(m);
    if (stage < 0) {
      return; // this seed's model has no bidirectional layer with an output per step
    }
    Bidirectional bi = (Bidirectional) m.nodes().get(stage).layer();
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    Random rnd = new Random(seed);
    int[] computed = {3, 5, 5, t};
    List<float[]> inputs = new ArrayList<>();
    List<StreamingEngine.Feed> ends = new ArrayList<>();
    for (int k : computed) {
      float[] x = sequence(rnd, t, true);
      inputs.add(x);
      SequenceState s = engine.newSequence();
      engine.advance(s, Arrays.copyOf(x, k * D), k, false);
      asWrittenBeforeVersion7(s, stage, bi);
      SequenceState restored = SequenceState.restore(s.snapshot());
      float[] rest = Arrays.copyOfRange(x, k * D, t * D);
      ends.add(new StreamingEngine.Feed(restored, rest, t - k, true));
    }
    List<List<Emission>> out = engine.advanceAll(ends);
    for (int i = 0; i < computed.length; i++) {
      assertClose(
          Streams.assemble(out.get(i), engine, t),
          offline(m, inputs.get(i), t),
          "seed " + seed + ", forward outputs of " + computed[i] + " steps held");
    }
  }

  /** The stage of {@code m}'s first bidirectional layer, if it has an output per step, or -1. */
  private static int firstBidirectional(Model m) {
    for (int i = 0; i < m.nodes().size(); i++) {
      if (m.nodes().get(i).layer() instanceof Bidirectional b) {
        return b.forward().returnSequences() ? i : -1;
      }
    }
    return -1;
  }

  /**
   * Gives exact-mode state {@code s} what the engine kept before format version 7: the forward
   * half's outputs over the buffered input rows, and its state after them, packed (h, then c).
   */
  private static void asWrittenBeforeVersion7(SequenceState s, int stage, Bidirectional bi) {
    RecurrentCell cell = bi.forward().cell();
    int k = s.bufMask.length();
    float[] maskValues = s.bufMask.toArray();
    boolean[] mask = new boolean[k];
    for (int i = 0; i < k; i++) {
      mask[i] = maskValues[i] != 0f;
    }
    float[][] states = cell.zeroStates(1);
    float[] y =
        cell.run(
            s.bufIn.toArray(),
            1,
            k,
            states,
            false,
            mask,
            bi.forward().zeroOutputForMask(),
            new JavaMatMul());
    assertThat(s.bufFwd.length()).as("nothing computed ahead since version 7").isZero();
    s.bufFwd.append(y, 0, y.length);
    float[] packed = new float[states.length * cell.units()];
    for (int i = 0; i < states.length; i++) {
      System.arraycopy(states[i], 0, packed, i * cell.units(), cell.units());
    }
    s.fwd[stage] = packed;
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {11, 12, 13, 14, 15, 16})
  void lookaheadCoveringTheWholeSequenceEqualsOffline(long seed) {
    int t = 9;
    Model m = RandomModels.chain(seed, D, seed % 2 == 0, seed % 3 == 0);
    float[] x = sequence(new Random(seed), t, seed % 3 == 0);
    float[] expected = offline(m, x, t);
    for (int chunk : new int[] {1, 2, 4, 9}) {
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(chunk, t));
      for (int feed : new int[] {1, 3, t}) {
        assertClose(Streams.run(engine, x, t, feed), expected, "C=" + chunk + " feed " + feed);
      }
    }
  }

  /**
   * The definition of context mode, computed with offline {@code predict}: chunk [s, s+c) is the
   * model run alone on the window [max(0, s-L), min(t, s+C+R)), of which the c rows of the chunk
   * are kept.
   */
  private static float[] contextByDefinition(Model m, float[] x, int t, int l, int c, int r) {
    float[] out = null;
    int f = 0;
    for (int s = 0; s < t; s += c) {
      int chunk = Math.min(c, t - s);
      int from = Math.max(0, s - l);
      int to = Math.min(t, s + c + r);
      float[] window = offline(m, Arrays.copyOfRange(x, from * D, to * D), to - from);
      if (out == null) {
        f = window.length / (to - from);
        out = new float[t * f];
      }
      System.arraycopy(window, (s - from) * f, out, s * f, chunk * f);
    }
    return out;
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {51, 52, 53, 54, 55, 56, 57, 58})
  void contextCoveringTheWholeSequenceEqualsOffline(long seed) {
    Random rnd = new Random(seed);
    int t = 5 + rnd.nextInt(9);
    boolean masking = seed % 3 == 0;
    Model m = RandomModels.chain(seed, D, false, masking);
    float[] x = sequence(rnd, t, masking);
    float[] expected = offline(m, x, t);
    for (int chunk : new int[] {1, 2, 4, t}) {
      // L >= s for every chunk start s < t, and R >= t: every window is the whole sequence.
      int l = t - 1 + rnd.nextInt(3);
      int r = t + rnd.nextInt(3);
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.context(l, chunk, r));
      for (int feed : new int[] {1, 3, t}) {
        assertClose(
            Streams.run(engine, x, t, feed),
            expected,
            "t=" + t + " L=" + l + " C=" + chunk + " R=" + r + " feed " + feed);
      }
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {61, 62, 63, 64, 65, 66})
  void contextWithoutContextEqualsEachChunkRunAloneOffline(long seed) {
    Random rnd = new Random(seed);
    int t = 7 + rnd.nextInt(8);
    Model m = RandomModels.chain(seed, D, false, seed % 2 == 0);
    float[] x = sequence(rnd, t, seed % 2 == 0);
    for (int chunk : new int[] {1, 3, 5}) {
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.context(0, chunk, 0));
      float[] alone = new float[0];
      for (int s = 0; s < t; s += chunk) {
        int c = Math.min(chunk, t - s);
        float[] y = offline(m, Arrays.copyOfRange(x, s * D, (s + c) * D), c);
        alone = concat(alone, y);
      }
      for (int feed : new int[] {1, 2, t}) {
        assertClose(Streams.run(engine, x, t, feed), alone, "C=" + chunk + " feed " + feed);
      }
    }
  }

  private static float[] concat(float[] a, float[] b) {
    float[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {71, 72, 73, 74, 75, 76, 77, 78})
  void contextChunkEqualsTheModelRunOnItsWindowAlone(long seed) {
    Random rnd = new Random(seed);
    int t = 6 + rnd.nextInt(12);
    Model m = RandomModels.chain(seed, D, false, seed % 4 == 0);
    float[] x = sequence(rnd, t, seed % 4 == 0);
    for (int round = 0; round < 3; round++) {
      int l = rnd.nextInt(5);
      int c = 1 + rnd.nextInt(5);
      int r = rnd.nextInt(5);
      float[] expected = contextByDefinition(m, x, t, l, c, r);
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.context(l, c, r));
      for (int feed : new int[] {1, 1 + rnd.nextInt(t), t}) {
        assertClose(
            Streams.run(engine, x, t, feed),
            expected,
            "t=" + t + " L=" + l + " C=" + c + " R=" + r + " feed " + feed);
      }
    }
  }

  @Test
  void contextOutputsDoNotDependOnHowStepsArriveOrWhichSequencesShareABatch() {
    Model m = RandomModels.chain(79, D, false, true);
    int l = 3;
    int c = 2;
    int r = 2;
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.context(l, c, r));
    Random rnd = new Random(79);
    int n = 12;
    int[] lengths = new int[n];
    int[] fed = new int[n];
    float[][] xs = new float[n][];
    List<SequenceState> states = new ArrayList<>();
    List<List<Emission>> got = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      lengths[i] = 1 + rnd.nextInt(15);
      xs[i] = sequence(rnd, lengths[i], true);
      states.add(engine.newSequence());
      got.add(new ArrayList<>());
    }
    // Sequences start in different rounds and take 0..4 steps per round: each batch mixes
    // sequences at different chunk starts, left contexts and window lengths.
    for (int round = 0; Arrays.stream(fed).sum() < Arrays.stream(lengths).sum(); round++) {
      List<StreamingEngine.Feed> feeds = new ArrayList<>();
      List<Integer> who = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        if (round < i % 4 || fed[i] == lengths[i]) {
          continue;
        }
        int k = Math.min(rnd.nextInt(5), lengths[i] - fed[i]);
        boolean end = fed[i] + k == lengths[i];
        if (k == 0 && !end) {
          continue;
        }
        feeds.add(
            new StreamingEngine.Feed(
                states.get(i), Arrays.copyOfRange(xs[i], fed[i] * D, (fed[i] + k) * D), k, end));
        who.add(i);
        fed[i] += k;
      }
      List<List<Emission>> out = engine.advanceAll(feeds);
      for (int j = 0; j < who.size(); j++) {
        got.get(who.get(j)).addAll(out.get(j));
      }
    }
    for (int i = 0; i < n; i++) {
      assertClose(
          Streams.assemble(got.get(i), engine, lengths[i]),
          contextByDefinition(m, xs[i], lengths[i], l, c, r),
          "sequence " + i + " of " + lengths[i] + " steps");
    }
  }

  @Test
  void contextModeDiffersFromOfflineWhenTheWindowsAreShorterThanTheSequence() {
    // Guards the properties above against an engine that ignores the windows.
    int t = 12;
    Model m = RandomModels.chain(81, D, false, false);
    float[] x = sequence(new Random(81), t, false);
    float[] streamed = Streams.run(new StreamingEngine(m, StreamConfig.context(2, 3, 1)), x, t, 2);
    float[] offline = offline(m, x, t);
    double maxDiff = 0;
    for (int i = 0; i < offline.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(streamed[i] - offline[i]));
    }
    assertThat(maxDiff).isGreaterThan(1e-3);
  }

  @Test
  void contextReleasesAChunkOnceItsRightContextArrivedAndKeepsOnlyLeftContextAndPending() {
    Model m = RandomModels.chain(22, D, false, false);
    int l = 3;
    int c = 4;
    int r = 2;
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.context(l, c, r));
    SequenceState s = engine.newSequence();
    float[] step = {0.1f, 0.2f, 0.3f};
    List<String> released = new ArrayList<>();
    for (int i = 0; i < 14; i++) {
      for (Emission e : engine.advance(s, step, 1, i == 13)) {
        released.add(e.firstStep() + "+" + e.steps() + "@" + i);
      }
      assertThat(engine.bufferedSteps(s)).isLessThanOrEqualTo(l + c + r);
    }
    // [0,4) needs step 5 (C + R - 1), [4,8) step 9, [8,12) step 13 = the end, [12,14) the end.
    assertThat(released).containsExactly("0+4@5", "4+4@9", "8+4@13", "12+2@13");
    assertThat(engine.bufferedSteps(s)).isZero();
    // No recurrent state is carried: the snapshot holds the pending steps (its first array) only.
    SequenceState fresh = engine.newSequence();
    engine.advance(fresh, new float[7 * D], 7, false); // chunk [0,4) out; keeps 1..6
    assertThat(engine.bufferedSteps(fresh)).isEqualTo(6); // L=3 before step 4, then 4..6
    SequenceState.Snapshot snap = fresh.snapshot();
    assertThat(Arrays.stream(snap.arrays()).skip(1).mapToInt(a -> a.length).sum())
        .as("values besides the pending steps in a context snapshot")
        .isZero();
  }

  @Test
  void contextModeRefusesALastStepModelNamingTheLayer() {
    Model m = RandomModels.chain(3, D, true, false);
    assertThatThrownBy(() -> new StreamingEngine(m, StreamConfig.context(2, 3, 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("random-3")
        .hasMessageContaining("context mode")
        .hasMessageContaining("return_sequences=False")
        .hasMessageContaining("exact");
  }

  @Test
  void contextConfigNamesTheOptionItRefuses() {
    assertThatThrownBy(() -> StreamConfig.context(-1, 4, 2))
        .hasMessage("left-context must be 0 or more steps, found -1");
    assertThatThrownBy(() -> StreamConfig.context(2, 0, 2))
        .hasMessage("chunk must be at least 1 step, found 0");
    assertThatThrownBy(() -> StreamConfig.context(2, 4, -3))
        .hasMessage("lookahead must be 0 or more steps, found -3");
    assertThatThrownBy(() -> new StreamConfig(StreamConfig.Mode.LOOKAHEAD, 4, 2, 100, null, 3))
        .hasMessage(
            "left-context applies to context mode only; found left-context 3 with mode"
                + " lookahead");
  }

  @Test
  void lookaheadReleasesAChunkAsSoonAsItsWindowIsComplete() {
    Model m = RandomModels.chain(21, D, false, false);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(4, 2));
    SequenceState s = engine.newSequence();
    float[] step = {0.1f, 0.2f, 0.3f};
    List<Integer> releasedAfter = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      for (Emission e : engine.advance(s, step, 1, false)) {
        releasedAfter.add(i);
        assertThat(e.steps()).isEqualTo(4);
      }
    }
    // Chunk [0,4) needs steps up to 5 (C + R - 1); chunk [4,8) needs step 9.
    assertThat(releasedAfter).containsExactly(5, 9);
    assertThat(engine.bufferedSteps(s)).isEqualTo(2);
  }

  @Test
  void unidirectionalModelsReleaseEveryChunkInEveryModeAndEqualOffline() {
    Random rnd = new Random(3);
    io.bistream.core.layers.RecurrentCell c1 = RandomModels.cell(rnd, D);
    io.bistream.core.layers.RecurrentCell c2 = RandomModels.cell(rnd, c1.units());
    Model m =
        new Model(
            new Model.Source("uni", "generated", "-"),
            List.of(new Model.Input("x", new int[] {-1, D}, false)),
            List.of(
                new Model.Node(
                    new io.bistream.core.layers.Recurrent("r1", c1, true, false, false, false),
                    0,
                    List.of(new Model.TensorRef("x", 0, 0))),
                new Model.Node(
                    new io.bistream.core.layers.Recurrent("r2", c2, true, false, false, false),
                    0,
                    List.of(new Model.TensorRef("r1", 0, 0)))),
            List.of(new Model.TensorRef("r2", 0, 0)));
    float[] x = sequence(rnd, 7, false);
    for (StreamConfig cfg :
        List.of(StreamConfig.exact(), StreamConfig.lookahead(4, 3), StreamConfig.stateful(4))) {
      StreamingEngine engine = new StreamingEngine(m, cfg);
      SequenceState s = engine.newSequence();
      List<Emission> out = engine.advance(s, Arrays.copyOf(x, 2 * D), 2, false);
      assertThat(out).as(cfg.mode().name()).hasSize(1);
      assertThat(out.get(0).steps()).isEqualTo(2);
      assertThat(engine.bufferedSteps(s)).isZero();
      assertClose(Streams.run(engine, x, 7, 2), offline(m, x, 7), cfg.mode().name());
    }
    // Context mode keeps its definition for them too: no state is carried, every window starts
    // from zero (models trained on such chunks are decoded that way).
    StreamingEngine context = new StreamingEngine(m, StreamConfig.context(1, 2, 1));
    assertClose(
        Streams.run(context, x, 7, 3), contextByDefinition(m, x, 7, 1, 2, 1), "context L=1");
    assertClose(
        Streams.run(new StreamingEngine(m, StreamConfig.context(6, 2, 0)), x, 7, 3),
        offline(m, x, 7),
        "context L >= t");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"EXACT", "LOOKAHEAD", "STATEFUL", "CONTEXT"})
  void snapshotAfterAnyChunkRestoresAndContinuesBitIdentically(String mode) {
    int t = 13;
    StreamingEngine engine = chunkedEngine(mode, 31);
    float[] x = sequence(new Random(5), t, true);
    float[] uninterrupted = Streams.run(engine, x, t, 2);
    for (int cut = 1; cut < t; cut += 2) {
      int restoreAt = cut;
      float[] restored =
          feedInPieces(
              engine,
              x,
              t,
              2,
              (at, s) ->
                  at == restoreAt - 1 || at == restoreAt
                      ? SequenceState.restore(s.snapshot()) // as Flink would after a restart
                      : s);
      assertThat(restored).as("cut at %d", cut).isEqualTo(uninterrupted);
    }
  }

  // An engine on a random chain with masking, in {@code mode} with chunks of 3 and lookahead 2
  // (and, in context mode, left context 4).
  private static StreamingEngine chunkedEngine(String mode, long modelSeed) {
    return new StreamingEngine(
        RandomModels.chain(modelSeed, D, false, true),
        new StreamConfig(StreamConfig.Mode.valueOf(mode), 3, 2, 1000, null, leftContext(mode)));
  }

  private static int leftContext(String mode) {
    return mode.equals("CONTEXT") ? 4 : 0;
  }

  /**
   * Feeds {@code x} to a new sequence in pieces of {@code k} steps; before each piece, the state
   * passes through {@code beforePiece} (with the piece's first step). The assembled outputs.
   */
  private static float[] feedInPieces(
      StreamingEngine engine,
      float[] x,
      int t,
      int k,
      BiFunction<Integer, SequenceState, SequenceState> beforePiece) {
    SequenceState s = engine.newSequence();
    List<Emission> all = new ArrayList<>();
    for (int at = 0; at < t; at += k) {
      s = beforePiece.apply(at, s);
      int len = Math.min(k, t - at);
      float[] piece = Arrays.copyOfRange(x, at * D, (at + len) * D);
      all.addAll(engine.advance(s, piece, len, at + len == t));
    }
    return Streams.assemble(all, engine, t);
  }

  /**
   * A snapshot shares the carried states and the step buffers instead of copying them (the job
   * keeps them in its state and restores from them after a failed call): the sequence advancing
   * further, from the snapshot or from a restore of it, must leave every one of them as it was, the
   * buffers up to their lengths.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"EXACT", "LOOKAHEAD", "STATEFUL", "CONTEXT"})
  void advancingFurtherNeverChangesTheValuesOfAnEarlierSnapshot(String mode) {
    int t = 30;
    StreamingEngine engine = chunkedEngine(mode, 35);
    float[] x = sequence(new Random(7), t, true);
    List<SequenceState.Snapshot> taken = new ArrayList<>();
    List<float[][]> asTaken = new ArrayList<>();
    feedInPieces(
        engine,
        x,
        t,
        2,
        (at, s) -> {
          SequenceState.Snapshot snap = s.snapshot();
          taken.add(snap);
          asTaken.add(values(snap));
          return at % 4 == 0 ? SequenceState.restore(snap) : s;
        });
    // arrays 0-3: the step buffers; 4.. : the last-step candidate, the first backward output, the
    // states per stage
    int[] carried = new int[2];
    asTaken.forEach(
        v -> {
          carried[0] += v[0].length + v[1].length + v[2].length + v[3].length;
          carried[1] += Arrays.stream(v, 4, v.length).mapToInt(a -> a.length).sum();
        });
    assertThat(carried[0]).as("values buffered across snapshots").isPositive();
    if (!mode.equals("CONTEXT")) {
      assertThat(carried[1]).as("values carried across snapshots").isPositive();
    }
    for (int i = 0; i < taken.size(); i++) {
      float[][] now = values(taken.get(i));
      for (int k = 0; k < now.length; k++) {
        assertThat(now[k]).as("snapshot %d, array %d", i, k).isEqualTo(asTaken.get(i)[k]);
      }
    }
  }

  /** Copies of a snapshot's values: its arrays, the step buffers (0-3) up to their lengths. */
  private static float[][] values(SequenceState.Snapshot snap) {
    float[][] v = new float[snap.arrays().length][];
    for (int k = 0; k < v.length; k++) {
      int length = k < 4 ? (int) snap.counters()[7 + k] : snap.arrays()[k].length;
      v[k] = Arrays.copyOf(snap.arrays()[k], length);
    }
    return v;
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"EXACT", "LOOKAHEAD", "STATEFUL", "CONTEXT"})
  void restoringEverySnapshotAsTheJobDoesContinuesBitIdentically(String mode) {
    int t = 40;
    StreamingEngine engine = chunkedEngine(mode, 33);
    float[] x = sequence(new Random(6), t, true);
    int[] copies = {0};
    float[][] buffer = {null};
    float[] restored =
        feedInPieces(
            engine,
            x,
            t,
            1,
            (at, s) -> {
              SequenceState.Snapshot snap = s.snapshot();
              copies[0] += snap.arrays()[1] == buffer[0] ? 0 : 1;
              buffer[0] = snap.arrays()[1];
              return SequenceState.restore(snap); // the job restores before every advance
            });
    assertThat(restored).isEqualTo(Streams.run(engine, x, t, 1));
    if (mode.equals("EXACT")) {
      // The buffer grows by half as much again: a new array a few times, not at every step.
      assertThat(copies[0]).as("exact buffers copied into snapshots").isBetween(2, 12);
    }
  }

  @Test
  void snapshotWrittenBeforeBufferLengthsWereKeptStillRestores() {
    int t = 9;
    Model m = RandomModels.chain(35, D, false, false);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    float[] x = sequence(new Random(7), t, false);
    SequenceState s = engine.newSequence();
    List<Emission> all = new ArrayList<>(engine.advance(s, Arrays.copyOf(x, 5 * D), 5, false));
    SequenceState.Snapshot now = s.snapshot();
    float[][] exactlyFull = now.arrays().clone();
    for (int i = 0; i < 4; i++) {
      exactlyFull[i] = Arrays.copyOf(exactlyFull[i], (int) now.counters()[7 + i]);
    }
    SequenceState old =
        SequenceState.restore(
            new SequenceState.Snapshot(Arrays.copyOf(now.counters(), 7), exactlyFull));
    all.addAll(engine.advance(old, Arrays.copyOfRange(x, 5 * D, t * D), t - 5, true));
    assertThat(Streams.assemble(all, engine, t)).isEqualTo(Streams.run(engine, x, t, 5));
  }

  @Test
  void snapshotWhoseBufferLengthExceedsItsArrayIsRejected() {
    SequenceState.Snapshot snap =
        new StreamingEngine(RandomModels.chain(35, D, false, false), StreamConfig.exact())
            .newSequence()
            .snapshot();
    long[] counters = snap.counters().clone();
    counters[8] = snap.arrays()[1].length + 1L;
    assertThatThrownBy(
            () -> SequenceState.restore(new SequenceState.Snapshot(counters, snap.arrays())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("snapshot buffer 1 holds");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"EXACT", "LOOKAHEAD", "STATEFUL", "CONTEXT"})
  void batchedAdvanceOf64SequencesEquals64SingleAdvances(String mode) {
    Model m = RandomModels.chain(41, D, false, false);
    StreamConfig cfg =
        new StreamConfig(StreamConfig.Mode.valueOf(mode), 4, 3, 1000, null, leftContext(mode));
    StreamingEngine engine = new StreamingEngine(m, cfg);
    Random rnd = new Random(9);
    int n = 64;
    int[] lengths = new int[n];
    float[][] xs = new float[n][];
    for (int i = 0; i < n; i++) {
      lengths[i] = 5 + rnd.nextInt(12);
      xs[i] = sequence(rnd, lengths[i], false);
    }
    List<SequenceState> states = new ArrayList<>();
    List<List<Emission>> batched = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      states.add(engine.newSequence());
      batched.add(new ArrayList<>());
    }
    for (int at = 0; at < 16; at += 3) {
      List<StreamingEngine.Feed> feeds = new ArrayList<>();
      List<Integer> who = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        if (at < lengths[i]) {
          int k = Math.min(3, lengths[i] - at);
          feeds.add(
              new StreamingEngine.Feed(
                  states.get(i),
                  Arrays.copyOfRange(xs[i], at * D, (at + k) * D),
                  k,
                  at + k == lengths[i]));
          who.add(i);
        }
      }
      List<List<Emission>> out = engine.advanceAll(feeds);
      for (int j = 0; j < who.size(); j++) {
        batched.get(who.get(j)).addAll(out.get(j));
      }
    }
    for (int i = 0; i < n; i++) {
      float[] single = Streams.run(engine, xs[i], lengths[i], 3);
      assertClose(Streams.assemble(batched.get(i), engine, lengths[i]), single, "sequence " + i);
    }
  }

  @Test
  void exactModeRejectsSequencesBeyondMaxSequenceSteps() {
    Model m = RandomModels.chain(1, D, false, false);
    StreamingEngine engine =
        new StreamingEngine(
            m, new StreamConfig(StreamConfig.Mode.EXACT, 4, 0, 5, StreamConfig.Overflow.REJECT));
    SequenceState s = engine.newSequence();
    engine.advance(s, new float[5 * D], 5, false);
    assertThatThrownBy(() -> engine.advance(s, new float[D], 1, false))
        .isInstanceOf(SequenceTooLongException.class)
        .hasMessageContaining("6 steps, more than max-sequence-steps 5");
  }

  @Test
  void exactModeDegradesToLookaheadBeyondMaxSequenceStepsAndMarksTheOutputs() {
    int t = 12;
    Model m = RandomModels.chain(5, D, false, false);
    float[] x = sequence(new Random(8), t, false);
    StreamingEngine degrading =
        new StreamingEngine(
            m,
            new StreamConfig(
                StreamConfig.Mode.EXACT, 3, 2, 5, StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD));
    SequenceState s = degrading.newSequence();
    List<Emission> all = new ArrayList<>();
    for (int at = 0; at < t; at += 2) {
      all.addAll(degrading.advance(s, Arrays.copyOfRange(x, at * D, (at + 2) * D), 2, at + 2 == t));
    }
    assertThat(all).isNotEmpty().allMatch(Emission::degraded);
    float[] lookahead = Streams.run(new StreamingEngine(m, StreamConfig.lookahead(3, 2)), x, t, 2);
    assertThat(Streams.assemble(all, degrading, t)).isEqualTo(lookahead);
  }

  @Test
  void dataAfterEndIsRefused() {
    StreamingEngine engine =
        new StreamingEngine(RandomModels.chain(2, D, false, false), StreamConfig.exact());
    SequenceState s = engine.newSequence();
    engine.advance(s, new float[D], 1, true);
    assertThatThrownBy(() -> engine.advance(s, new float[D], 1, false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already ended");
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 4, 5, 6})
  void offlineStreamingEqualsStreamingEachSequenceAlone(long seed) {
    // OfflineStreaming batches the sequences, reads their steps in place and writes released rows
    // straight into its result; stacked, masked and last-step models alike.
    int n = 3;
    int t = 13;
    boolean lastStep = seed % 3 == 0;
    boolean masking = seed % 4 == 1;
    Model m = RandomModels.chain(seed, D, lastStep, masking);
    Random rnd = new Random(seed);
    for (StreamConfig config :
        List.of(
            StreamConfig.lookahead(4, 3),
            StreamConfig.lookahead(5, 0),
            StreamConfig.stateful(4),
            StreamConfig.exact())) {
      StreamingEngine engine = new StreamingEngine(m, config);
      float[] x = new float[n * t * D];
      for (int r = 0; r < n; r++) {
        System.arraycopy(sequence(rnd, t, masking), 0, x, r * t * D, t * D);
      }
      for (int feed : new int[] {1, 3, 4, t}) {
        float[] batched =
            OfflineStreaming.run(engine, new Tensor(x, new int[] {n, t, D}), feed).data();
        int f = batched.length / n;
        for (int r = 0; r < n; r++) {
          float[] alone =
              Streams.run(engine, Arrays.copyOfRange(x, r * t * D, (r + 1) * t * D), t, feed);
          assertClose(
              Arrays.copyOfRange(batched, r * f, (r + 1) * f),
              alone,
              config + " feed " + feed + " sequence " + r);
        }
      }
    }
  }

  @Test
  void feedReadsItsStepsFromItsOffset() {
    Model m = RandomModels.chain(2, D, false, false);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(2, 1));
    int t = 5;
    float[] x = sequence(new Random(9), t, false);
    float[] padded = new float[(t + 2) * D];
    System.arraycopy(x, 0, padded, 2 * D, t * D);
    SequenceState s = engine.newSequence();
    List<Emission> got = new ArrayList<>();
    got.addAll(
        engine.advanceAll(List.of(new StreamingEngine.Feed(s, padded, 2 * D, 3, false))).get(0));
    got.addAll(
        engine.advanceAll(List.of(new StreamingEngine.Feed(s, padded, 5 * D, 2, true))).get(0));
    assertThat(Streams.assemble(got, engine, t)).containsExactly(Streams.run(engine, x, t, 3));
    assertThatThrownBy(
            () ->
                engine.advanceAll(
                    List.of(
                        new StreamingEngine.Feed(engine.newSequence(), padded, 6 * D, 2, false))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("feed of 2 steps needs " + 2 * D + " values")
        .hasMessageContaining("found " + D + " from index " + 6 * D);
  }
}
