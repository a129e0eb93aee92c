package io.bistream.core.keras;

import static io.bistream.core.golden.JsonTensors.tensor;
import static io.bistream.core.keras.KerasArchives.golden;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.ModelFiles;
import io.bistream.core.golden.Tolerance;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Variations real Keras files show that do not change what a model computes: file names that lie
 * about the format, a fixed batch in the declared input shape. Each must give the PyTorch outputs
 * of the golden/torch case it is derived from.
 */
class KerasFileVariationsTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private static void predictsTheCase(Path model, String caseName) throws Exception {
    JsonNode c = JSON.readTree(golden("cases/" + caseName + ".json").toFile());
    Model m = ModelFiles.load(model);
    Tensor y = m.predict(tensor(c.get("inputs").get(0)));
    Tensor expected = tensor(c.get("outputs").get(0));
    assertThat(y.shape()).containsExactly(expected.shape());
    Tolerance.assertClose(model.getFileName().toString(), y.data(), expected.data(), 1e-5, 1e-6);
  }

  private Path keras3Copy(String model, String name, UnaryOperator<String> edit) throws Exception {
    return KerasArchives.copyWithConfig(model, tmp.resolve(name), edit);
  }

  @Test
  void hdf5FileNamedDotKerasAndZipNamedDotH5LoadByTheirContent() throws Exception {
    Path h5AsKeras = tmp.resolve("model.keras");
    Files.copy(golden("models/bigru_concat_tfkeras2.h5"), h5AsKeras);
    predictsTheCase(h5AsKeras, "bigru_concat_tfkeras2");
    Path zipAsH5 = tmp.resolve("model.h5");
    Files.copy(golden("models/bigru_concat_keras3.keras"), zipAsH5);
    predictsTheCase(zipAsH5, "bigru_concat_keras3");
  }

  @Test
  void fixedBatchInTheDeclaredShapeDoesNotFixTheBatch() throws Exception {
    Path model =
        keras3Copy(
            "bigru_concat_keras3.keras",
            "batch32.keras",
            c -> c.replace("\"batch_shape\": [null, null, 3]", "\"batch_shape\": [32, null, 3]"));
    assertThat(ModelFiles.load(model).inputs().get(0).shape()).containsExactly(-1, 3);
    predictsTheCase(model, "bigru_concat_keras3"); // a batch of 2
  }
}
