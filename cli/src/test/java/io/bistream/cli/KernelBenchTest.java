package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.ModelFiles;
import io.bistream.core.layers.KernelProbe;
import io.bistream.core.layers.KernelProbe.Variant;
import io.bistream.core.layers.Simd;
import io.bistream.core.model.Model;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code bench --kernels} times every kernel variant this JVM can run, and only after all of them
 * gave the same outputs on the same rows.
 */
class KernelBenchTest {

  private static Model benchModel() throws Exception {
    return ModelFiles.load(BenchEngines.fixture().resolve("model.json"));
  }

  @Test
  void everyVariantOfEachKernelGivesTheOthersOutputs() throws Exception {
    KernelProbe lstm = KernelProbe.lstm(KernelBench.lstmCell(benchModel()));
    KernelProbe gru = KernelProbe.gruProduct(KernelBench.gruCell(new Random(1)));
    // the harness's own configuration runs 7 and 37 rows too: tiles of 5, 4 and 1 rows
    String report = KernelBench.crossCheck(lstm, gru, new int[] {1, 4, 32}, v -> true);
    assertThat(lstm.variants()).contains(Variant.SCALAR);
    if (Simd.ENABLED) {
      Variant width = Simd.WIDE ? Variant.VECTOR_512 : Variant.VECTOR_256;
      assertThat(lstm.variants()).contains(width);
      assertThat(gru.variants()).contains(width);
    }
    for (Variant v : lstm.variants()) {
      assertThat(report).contains(v.label());
    }
  }

  @Test
  void crossCheckFailsWhenTwoVariantsDifferBeyondTheTolerance() {
    float[] a = {1f, -0.5f, 2e-3f};
    assertThatCode(() -> KernelBench.requireAgree("same", a, new float[] {1f, -0.5f, 2e-3f}))
        .doesNotThrowAnyException();
    assertThatThrownBy(() -> KernelBench.requireAgree("pair", a, new float[] {1.0001f, -0.5f, 0f}))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("pair")
        .hasMessageContaining("value 0");
  }

  @Test
  void widthsAreComparedThroughTheirRatiosToTheSameGemm() {
    List<KernelBench.Row> rows =
        List.of(
            row("512-bit", "lstm-step", "512-bit", 32, 0.5),
            row("256-bit", "lstm-step", "256-bit", 32, 0.4),
            row("256-bit", "lstm-step", "scalar", 32, 0.3));
    assertThat(KernelBench.compareWidths(rows)).isEqualTo("N=32 1.25x");
  }

  private static KernelBench.Row row(String jvm, String what, String kernel, int n, double vsGemm) {
    return new KernelBench.Row(jvm, what, kernel, n, false, 1, 1, 1, 1, vsGemm, Double.NaN);
  }

  @Test
  void harnessTimesTheVariantsOfItsWidthBesideTheirGemmAndTheModel() throws Exception {
    Model model = benchModel();
    KernelProbe lstm = KernelProbe.lstm(KernelBench.lstmCell(model));
    KernelProbe gru = KernelProbe.gruProduct(KernelBench.gruCell(new Random(1)));
    KernelBench bench =
        new KernelBench(new KernelBench.Settings(new int[] {5}, 1, 0.002, 0.004, 0.01, 4), null);
    List<KernelBench.Row> rows = bench.measure(model, lstm, gru, 5, 100);
    for (Variant v : lstm.variants().stream().filter(KernelBench::timedHere).toList()) {
      assertThat(rows).anyMatch(r -> r.what().equals("lstm-step") && r.kernel().equals(v.label()));
    }
    assertThat(rows)
        .noneMatch(
            r ->
                !r.kernel().equals("gemm")
                    && !r.what().equals("model")
                    && !KernelBench.timedHere(
                        KernelProbe.Variant.valueOf(
                            r.kernel().equals("scalar")
                                ? "SCALAR"
                                : "VECTOR_" + r.kernel().replace("-bit", ""))));
    for (Variant v : gru.variants().stream().filter(KernelBench::timedHere).toList()) {
      assertThat(rows)
          .anyMatch(r -> r.what().equals("gru-product") && r.kernel().equals(v.label()));
    }
    assertThat(rows).filteredOn(r -> r.kernel().equals("gemm")).hasSize(2);
    assertThat(rows)
        .filteredOn(r -> r.what().equals("model"))
        .singleElement()
        .satisfies(r -> assertThat(r.kernelShare()).isPositive());
    assertThat(rows).filteredOn(r -> r.what().equals("lstm-step") && r.inUse()).hasSize(1);
    assertThat(rows).allSatisfy(r -> assertThat(r.secondsPerStep()).isPositive());
  }
}
