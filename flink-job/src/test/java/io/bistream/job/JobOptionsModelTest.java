package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.model.Model;
import org.junit.jupiter.api.Test;

/**
 * {@code --model-version} and {@code --model-topic} (docs/operations.md, "Model upgrades"), and the
 * model cache's unloading of versions no sequence uses.
 */
class JobOptionsModelTest {

  @Test
  void theJobsModelIsVersionInitialAndThereIsNoModelTopicUnlessGiven() {
    JobSettings s = JobOptionsRestoreTest.options().settings();
    assertThat(s.modelVersion()).isEqualTo("initial");
    assertThat(s.modelTopic()).isNull();
    JobSettings given =
        JobOptionsRestoreTest.options("--model-version", "2026-12", "--model-topic", "models")
            .settings();
    assertThat(given.modelVersion()).isEqualTo("2026-12");
    assertThat(given.modelTopic()).isEqualTo("models");
  }

  @Test
  void anEmptyModelVersionOrTopicNamesItsOption() {
    assertThatThrownBy(() -> JobOptionsRestoreTest.options("--model-version", " ").settings())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--model-version");
    assertThatThrownBy(() -> JobOptionsRestoreTest.options("--model-topic", "").settings())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--model-topic");
  }

  @Test
  void anAcquiredModelIsDroppedWhenItsLastUserReleasesIt() throws Exception {
    // As a file: URI: a location no other test of this JVM takes.
    String gru = "file:" + SequenceOperatorModelsTest.GRU;
    ModelCache.release(gru); // no effect: nobody acquired it
    Model first = ModelCache.acquire(gru);
    Model second = ModelCache.acquire(gru);
    assertThat(second).isSameAs(first);
    ModelCache.release(gru);
    assertThat(ModelCache.loaded(gru)).as("one user left").isTrue();
    ModelCache.release(gru);
    assertThat(ModelCache.loaded(gru)).isFalse();
  }

  @Test
  void aModelTakenForTheJvmsLifeStaysAfterItsAcquirersRelease() throws Exception {
    String lstm = "file:" + SequenceOperatorTest.MODEL;
    ModelCache.acquire(lstm);
    ModelCache.get(lstm);
    ModelCache.release(lstm);
    assertThat(ModelCache.loaded(lstm)).isTrue();
  }
}
