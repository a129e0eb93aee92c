package io.bistream.core.golden;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Reproduces the predictions Keras itself stored next to the conformance models (MANIFEST.md
 * section A), with both matrix-product backends.
 */
class KerasPredictionsTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static List<String> examplesWithPredictions() {
    return List.of(
        "examples/simple_lstm/simple_lstm_tf_keras_1",
        "examples/simple_lstm/simple_lstm_th_keras_1",
        "examples/simple_flatten_lstm/simple_flatten_lstm_tf_keras_2",
        "examples/simple_flatten_rnn/simple_flatten_rnn_tf_keras_2",
        "examples/simple_rnn/simple_rnn_tf_keras_2");
  }

  @ParameterizedTest
  @MethodSource("examplesWithPredictions")
  void reproducesStoredKerasPredictions(String fixture) throws Exception {
    Model model = ModelFiles.load(SharedData.keras(fixture + "_model.h5"));
    Path io = SharedData.keras(fixture + "_inputs_and_outputs.h5");
    try (HdfFile h = new HdfFile(io)) {
      // Root attributes name the datasets: {"inputs": ["lstm_1_input"]}, {"outputs": [...]}.
      String inName =
          JSON.readTree(h.getAttribute("inputs").getData().toString())
              .get("inputs")
              .get(0)
              .asText();
      String outName =
          JSON.readTree(h.getAttribute("outputs").getData().toString())
              .get("outputs")
              .get(0)
              .asText();
      Dataset in = (Dataset) h.getByPath("inputs/" + inName);
      Dataset expected = (Dataset) h.getByPath("predictions/" + outName);
      Tensor x = new Tensor((float[]) in.getDataFlat(), in.getDimensions());
      for (Model.Backend backend : Model.Backend.values()) {
        Tensor y = model.predict(List.of(x), backend).get(0);
        assertThat(y.shape()).containsExactly(expected.getDimensions());
        Tolerance.assertClose(
            fixture + " " + backend, y.data(), (float[]) expected.getDataFlat(), 1e-5, 1e-6);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Model.Backend.class)
  void reproducesStackedLstmPredictionsOverFourSteps(Model.Backend backend) throws Exception {
    Path dir = SharedData.keras("fullconfigs/lstm");
    Model model =
        ModelFiles.load(
            dir.resolve("lstm_th_keras_2_config.json"), dir.resolve("lstm_th_keras_2_weights.h5"));
    float[] expected = NpyFixtures.floats(dir.resolve("predictions.npy"));
    assertThat(expected).hasSize(283);
    float[] actual = new float[283];
    for (int i = 0; i < 283; i++) {
      List<String> rows =
          java.nio.file.Files.readAllLines(dir.resolve("data/sequences/" + i + ".csv"));
      float[] x = new float[4 * 12];
      for (int t = 0; t < 4; t++) {
        String[] cols = rows.get(t).split(";");
        for (int j = 0; j < 12; j++) {
          x[t * 12 + j] = Float.parseFloat(cols[j]);
        }
      }
      actual[i] =
          model.predict(List.of(new Tensor(x, new int[] {1, 4, 12})), backend).get(0).data()[0];
    }
    Tolerance.assertClose("fullconfigs/lstm " + backend, actual, expected, 1e-5, 1e-6);
  }
}
