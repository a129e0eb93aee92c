package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The bundled demo model, loaded the way {@code demo} loads it, against the PyTorch model it was
 * exported from: probe inputs and torch's softmax outputs written by tools/demo-model/train.py.
 */
class DemoModelTest {

  private static final int HORIZON = 8;
  private static final double RISE = 0.5;

  private static Model model;
  private static NpyArray x;

  @BeforeAll
  static void load() throws Exception {
    model = ModelFiles.load(DemoCommand.extractBundledModel());
    x = probe("probe_x.npy");
  }

  private static NpyArray probe(String name) throws Exception {
    return NpyReader.read(Path.of(DemoModelTest.class.getResource("/demo-model/" + name).toURI()));
  }

  private static float[] predict() {
    return model.predict(new Tensor(x.floats(), x.shape())).data();
  }

  @Test
  void bundledModelTakesTheFourDemoFeaturesAndTagsTwoClasses() throws Exception {
    assertThat(model.inputs().get(0).shape()).containsExactly(-1, 4);
    assertThat(x.shape()).containsExactly(8, 120, 4);
    assertThat(model.predict(new Tensor(x.floats(), x.shape())).shape()).containsExactly(8, 120, 2);
  }

  @Test
  void offlinePredictReproducesTorchProbabilities() throws Exception {
    float[] expected = probe("probe_y.npy").floats();
    float[] actual = predict();
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < expected.length; i++) {
      double allowed = 1e-6 + 1e-5 * Math.abs(expected[i]);
      if (!(Math.abs(actual[i] - expected[i]) <= allowed)) {
        fail(
            "probe output %d (sequence %d, step %d, class %d) is %s, torch gave %s (atol 1e-6,"
                + " rtol 1e-5); rerun tools/demo-model/train.py if the model was retrained",
            i, i / (120 * 2), i / 2 % 120, i % 2, actual[i], expected[i]);
      }
    }
  }

  @Test
  void probeLabelsAreTheRiseAheadRuleOnTheProbeInputs() throws Exception {
    int[] labels = probe("probe_labels.npy").ints();
    int n = x.shape()[0];
    int t = x.shape()[1];
    int d = x.shape()[2];
    int[] rule = new int[n * t];
    for (int s = 0; s < n; s++) {
      for (int i = 0; i < t; i++) {
        float now = x.floats()[(s * t + i) * d];
        double ahead = Double.NEGATIVE_INFINITY;
        for (int k = i + 1; k <= Math.min(t - 1, i + HORIZON); k++) {
          ahead = Math.max(ahead, x.floats()[(s * t + k) * d]);
        }
        rule[s * t + i] = ahead - now > RISE ? 1 : 0;
      }
    }
    assertThat(rule).isEqualTo(labels);
  }

  @Test
  void bidirectionalModelBeatsTheCausalBaselineOnTheProbe() throws Exception {
    int[] labels = probe("probe_labels.npy").ints();
    float[] y = predict();
    long right = 0;
    for (int i = 0; i < labels.length; i++) {
      int argmax = y[2 * i + 1] > y[2 * i] ? 1 : 0;
      right += argmax == labels[i] ? 1 : 0;
    }
    double accuracy = (double) right / labels.length;
    JsonNode metrics =
        new ObjectMapper()
            .readTree(DemoModelTest.class.getResource("/demo-model/metrics.json").openStream());
    double causal = metrics.path("causal_baseline").path("probe_accuracy").asDouble(Double.NaN);
    assertThat(accuracy)
        .as(
            "bidirectional probe accuracy vs causal baseline %s (%s)",
            causal, Arrays.toString(x.shape()))
        .isGreaterThan(causal);
  }
}
