package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.ModelFiles;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code inspect} explains the time column of its shapes: the length a model fixes, or T where the
 * model leaves time open.
 */
class InspectTimeNoteTest {

  private static Path shared(String relative) {
    return Path.of(System.getProperty("bistream.shared.dir", "../../shared"), relative);
  }

  @Test
  void shouldPrintTheFixedTimeLengthWhenTheModelFixesIt() throws Exception {
    // Keras 2.0.8 file with batch_input_shape (None, 10, 4).
    String shown =
        InspectCommand.describe(
            ModelFiles.load(
                shared(
                    "conformance/keras/examples/functional_lstm/lstm_functional_tf_keras_2.h5")));
    assertThat(shown).contains("(None = batch; T = 10, fixed by the model)");
    assertThat(shown).doesNotContain("leaves open");
  }

  @Test
  void shouldShowTWhereTheModelLeavesTimeOpen() throws Exception {
    String shown =
        InspectCommand.describe(ModelFiles.load(shared("conformance/keras/tfkeras/rnn_221.h5")));
    assertThat(shown).contains("(None = batch; T = the time steps, which the model leaves open)");
    assertThat(shown).contains("[T, ").contains("[None,T,");
    assertThat(shown).doesNotContain(",2,").doesNotContain("None, ");
  }
}
