package io.bistream.core.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.layers.Activation;
import io.bistream.core.layers.Dense;
import io.bistream.core.layers.ElementWise;
import io.bistream.core.layers.Embedding;
import io.bistream.core.layers.Layer;
import io.bistream.core.layers.Masking;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Which inputs take token ids follows from the graph: an input that reaches an Embedding unchanged
 * (directly or through Masking / Dropout-like identities) takes ids below that Embedding's
 * vocabulary, whatever the file declared.
 */
class TokenInputsTest {

  private static Embedding embedding(String name, int vocabulary) {
    return new Embedding(name, vocabulary, 2, new float[vocabulary * 2], false);
  }

  /** A chain model over one input declared as floats of shape [None] (as a float32 InputLayer). */
  private static Model chain(Layer... layers) {
    List<Model.Node> nodes = new ArrayList<>();
    Model.TensorRef previous = new Model.TensorRef("ids", 0, 0);
    for (Layer l : layers) {
      nodes.add(new Model.Node(l, 0, List.of(previous)));
      previous = new Model.TensorRef(l.name(), 0, 0);
    }
    return new Model(
        new Model.Source("chain.json", "test", "-"),
        List.of(new Model.Input("ids", new int[] {-1}, false)),
        nodes,
        List.of(previous));
  }

  @Test
  void inputFeedingAnEmbeddingTakesTokenIdsBelowItsVocabulary() {
    Model.Input in = chain(embedding("emb", 7)).inputs().get(0);
    assertThat(in.tokenIds()).isTrue();
    assertThat(in.vocabularySize()).isEqualTo(7);
    assertThat(in.width()).isEqualTo(1);
  }

  @Test
  void tokenIdInputSaysSoWithItsVocabularyWhenShown() {
    Model.Input in = chain(embedding("emb", 7)).inputs().get(0);
    assertThat(in.toString()).isEqualTo("ids[T] (token ids in [0, 7))");
    Dense scale =
        new Dense("scale", "Dense", 1, 1, new float[] {2f}, new float[] {0f}, Activation.LINEAR);
    assertThat(chain(scale).inputs().get(0).toString()).isEqualTo("ids[None]");
  }

  @Test
  void shouldSeeThroughDropoutAndMaskingBeforeTheEmbedding() {
    Model m =
        chain(
            ElementWise.identity("drop", "Dropout"), new Masking("mask", 0f), embedding("emb", 11));
    assertThat(m.inputs().get(0).tokenIds()).isTrue();
    assertThat(m.inputs().get(0).vocabularySize()).isEqualTo(11);
  }

  @Test
  void inputChangedByALayerBeforeTheEmbeddingIsNotTokenIds() {
    Dense scale =
        new Dense("scale", "Dense", 1, 1, new float[] {2f}, new float[] {0f}, Activation.LINEAR);
    Model m = chain(scale, embedding("emb", 5));
    assertThat(m.inputs().get(0).tokenIds()).isFalse();
    assertThat(m.inputs().get(0).width()).as("unknown: declared [None]").isEqualTo(-1);
  }

  @Test
  void inputFeedingTwoEmbeddingsTakesIdsValidForBoth() {
    Model.TensorRef ids = new Model.TensorRef("ids", 0, 0);
    Model m =
        new Model(
            new Model.Source("two.json", "test", "-"),
            List.of(new Model.Input("ids", new int[] {-1}, false)),
            List.of(
                new Model.Node(embedding("big", 20), 0, List.of(ids)),
                new Model.Node(embedding("small", 6), 0, List.of(ids))),
            List.of(new Model.TensorRef("small", 0, 0)));
    assertThat(m.inputs().get(0).vocabularySize()).isEqualTo(6);
  }
}
