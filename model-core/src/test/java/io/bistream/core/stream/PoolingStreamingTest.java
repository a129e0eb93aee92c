package io.bistream.core.stream;

import static io.bistream.core.stream.StreamingEngineTest.D;
import static io.bistream.core.stream.StreamingEngineTest.assertClose;
import static io.bistream.core.stream.StreamingEngineTest.offline;
import static io.bistream.core.stream.StreamingEngineTest.sequence;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.GlobalPooling1D;
import io.bistream.core.model.Model;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Models that pool every step into one output (GlobalAveragePooling1D / GlobalMaxPooling1D) stream
 * as one output per sequence, at its end: the pool folds each chunk's released rows, so exact mode
 * equals offline and the pool survives a snapshot mid-sequence.
 */
class PoolingStreamingTest {

  /** A random recurrent stack (RandomModels.chain) with a pool and a Dense head on top. */
  private static Model pooled(long seed, boolean masking, GlobalPooling1D.Reduce reduce) {
    Model m = RandomModels.chain(seed, D, false, masking);
    List<Model.Node> nodes = new ArrayList<>(m.nodes());
    String top = nodes.get(nodes.size() - 1).layer().name();
    int width = m.traceShapes().get(nodes.size() - 1).get(0)[2];
    nodes.add(new Model.Node(new GlobalPooling1D("pool", reduce), 0, ref(top)));
    Random rnd = new Random(seed);
    nodes.add(
        new Model.Node(
            new Dense(
                "out",
                "Dense",
                width,
                2,
                RandomModels.uniform(rnd, width * 2, 0.7),
                RandomModels.uniform(rnd, 2, 0.2),
                Activation.LINEAR),
            0,
            ref("pool")));
    return new Model(m.source(), m.inputs(), nodes, ref("out"));
  }

  private static List<Model.TensorRef> ref(String layer) {
    return List.of(new Model.TensorRef(layer, 0, 0));
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 4, 5, 6})
  void exactModeEqualsOfflineForEveryChunkLength(long seed) {
    int t = 10;
    boolean masking = seed % 2 == 0; // the masked mean counts only the kept steps
    GlobalPooling1D.Reduce reduce =
        masking || seed % 3 != 0 ? GlobalPooling1D.Reduce.AVERAGE : GlobalPooling1D.Reduce.MAX;
    Model m = pooled(seed, masking, reduce);
    float[] x = sequence(new Random(seed), t, masking);
    float[] expected = offline(m, x, t);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.exact());
    assertThat(engine.lastStepModel()).isTrue();
    for (int feed = 1; feed <= t; feed++) {
      assertClose(Streams.run(engine, x, t, feed), expected, "seed " + seed + " feed " + feed);
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {11, 12, 13})
  void lookaheadCoveringTheWholeSequenceEqualsOffline(long seed) {
    int t = 9;
    Model m = pooled(seed, false, GlobalPooling1D.Reduce.AVERAGE);
    float[] x = sequence(new Random(seed), t, false);
    float[] expected = offline(m, x, t);
    for (int chunk : new int[] {1, 4, 9}) {
      StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(chunk, t));
      assertClose(Streams.run(engine, x, t, 2), expected, "C=" + chunk);
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {21, 22})
  void aPoolRestoredFromASnapshotContinuesAsIfUninterrupted(long seed) {
    int t = 12;
    Model m = pooled(seed, true, GlobalPooling1D.Reduce.AVERAGE);
    float[] x = sequence(new Random(seed), t, true);
    StreamingEngine engine = new StreamingEngine(m, StreamConfig.lookahead(3, 2));
    float[] uninterrupted = Streams.run(engine, x, t, 4);
    SequenceState s = engine.newSequence();
    float[] first = Arrays.copyOfRange(x, 0, 7 * D);
    assertThat(engine.advance(s, first, 7, false)).isEmpty();
    SequenceState restored = SequenceState.restore(s.snapshot());
    float[] rest = Arrays.copyOfRange(x, 7 * D, t * D);
    List<Emission> out = engine.advance(restored, rest, t - 7, true);
    assertThat(Streams.assemble(out, engine, t)).containsExactly(uninterrupted);
  }

  @Test
  void maxPoolingAfterAMaskAndContextModeAreRefusedNamingThePool() {
    long seed = 31;
    assertThatThrownBy(
            () ->
                new StreamingEngine(
                    pooled(seed, true, GlobalPooling1D.Reduce.MAX), StreamConfig.exact()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("layer 'pool' (GlobalMaxPooling1D): a mask reaches it");
    assertThatThrownBy(
            () ->
                new StreamingEngine(
                    pooled(seed, false, GlobalPooling1D.Reduce.AVERAGE),
                    StreamConfig.context(2, 3, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("layer 'pool' pools every step of the sequence into one output");
  }
}
