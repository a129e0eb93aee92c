package io.bistream.core.golden;

import static io.bistream.core.golden.JsonTensors.tensor;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.model.Model;
import io.bistream.core.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The golden cases again with their sequences repeated into larger batches, each repeated row
 * compared with the reference framework's output for its sequence. The fixtures hold 2-3 sequences
 * each, and at that batch a recurrence step takes only the one-row paths of the kernels: the Vector
 * API tiles of 5 and 4 rows, the 256-bit product of GRU and SimpleRNN steps (4-64 rows) and the
 * native GEMM of the scalar path (16 rows and more) would otherwise meet no reference output. The
 * batches reach them: 21 rows (one 5-row tile and four 4-row tiles; the 256-bit product; the native
 * GEMM on the scalar path) and 67 (past the few-row product, the native GEMM everywhere).
 * GoldenCasesTest keeps the one-row paths. The build runs this on each kernel width and on the
 * scalar loops (see the surefire executions in the pom).
 */
class GoldenCasesBatchedTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Stream<Arguments> cases() throws Exception {
    return GoldenCasesTest.cases().flatMap(c -> Stream.of(21, 67).map(n -> Arguments.of(c, n)));
  }

  @ParameterizedTest(name = "{0} x{1}")
  @MethodSource("cases")
  void repeatedSequencesReproduceTheirReferenceOutputs(String casePath, int rows) throws Exception {
    Path file = Path.of(GoldenCasesBatchedTest.class.getResource("/golden/" + casePath).toURI());
    JsonNode c = JSON.readTree(file.toFile());
    Assumptions.assumeFalse(c.has("skip"), () -> "generator skipped: " + c.get("skip").asText());
    // TF.js semantics cases compare with some steps zeroed; GoldenCasesTest covers them
    Assumptions.assumeFalse(c.get("name").asText().startsWith("tfjs_semantics_"));
    Model model = GoldenCasesTest.model(file, c);
    List<Tensor> inputs = new ArrayList<>();
    for (JsonNode in : c.get("inputs")) {
      inputs.add(repeatRows(tensor(in), rows));
    }
    double rtol = c.path("rtol").asDouble(1e-5);
    double atol = c.path("atol").asDouble(1e-6);
    for (Model.Backend backend : Model.Backend.values()) {
      List<Tensor> outputs = model.predict(inputs, backend);
      assertThat(outputs).hasSize(c.get("outputs").size());
      for (int k = 0; k < outputs.size(); k++) {
        Tensor expected = repeatRows(tensor(c.get("outputs").get(k)), rows);
        assertThat(outputs.get(k).shape())
            .as("output %d shape", k)
            .containsExactly(expected.shape());
        Tolerance.assertClose(
            casePath + " x" + rows + " output " + k + " (" + backend + ")",
            outputs.get(k).data(),
            expected.data(),
            rtol,
            atol);
      }
    }
  }

  /** {@code t} with {@code rows} entries along its first axis: entry r is t's entry r mod dim 0. */
  static Tensor repeatRows(Tensor t, int rows) {
    int n = t.dim(0);
    int per = t.data().length / n;
    float[] out = new float[rows * per];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(t.data(), (r % n) * per, out, r * per, per);
    }
    int[] shape = t.shape().clone();
    shape[0] = rows;
    return new Tensor(out, shape);
  }
}
