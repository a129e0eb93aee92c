package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.npy.NpyWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** {@code predict} and {@code inspect} as a user runs them, checked against TF.js outputs. */
class PredictCommandTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path GOLDEN = Path.of("../model-core/src/test/resources/golden/tfjs/cases");

  @TempDir Path tmp;

  private static Path shared(String relative) {
    return Path.of(System.getProperty("bistream.shared.dir", "../../shared"), relative);
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static float[] floats(JsonNode a) {
    float[] out = new float[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) a.get(i).asDouble();
    }
    return out;
  }

  /** X of {@code evaluate}'s tests: [3, 20, 1], one feature. */
  private Path threeCosineSequencesOf20Steps() throws Exception {
    float[] data = new float[3 * 20];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) Math.cos(0.7 * i);
    }
    Path x = tmp.resolve("x.npy");
    NpyWriter.write(x, NpyArray.ofFloats(new int[] {3, 20, 1}, data));
    return x;
  }

  @Test
  void predictOnAStackedBidirectionalLstmH5ReproducesTfjs() throws Exception {
    JsonNode c = JSON.readTree(GOLDEN.resolve("conformance__tfkeras__rnn_221.json").toFile());
    JsonNode in = c.get("inputs").get(0);
    JsonNode out = c.get("outputs").get(0);
    Path x = tmp.resolve("x.npy");
    Path y = tmp.resolve("y.npy");
    NpyWriter.write(x, NpyArray.ofFloats(ints(in.get("shape")), floats(in.get("data"))));
    Path model = shared("conformance/keras/tfkeras/rnn_221.h5");

    int code =
        BiStreamCli.run(
            "predict",
            "--model",
            model.toString(),
            "--input",
            x.toString(),
            "--output",
            y.toString());

    assertThat(code).isZero();
    NpyArray result = NpyReader.read(y);
    assertThat(result.shape()).containsExactly(ints(out.get("shape")));
    float[] expected = floats(out.get("data"));
    for (int i = 0; i < expected.length; i++) {
      assertThat((double) result.floats()[i])
          .isCloseTo(
              expected[i],
              org.assertj.core.data.Offset.offset(1e-6 + 1e-5 * Math.abs(expected[i])));
    }
  }

  @Test
  void predictRejectsIntegerInputForAFloatModelWithAHint() throws Exception {
    Path x = tmp.resolve("ids.npy");
    NpyWriter.write(x, NpyArray.ofInts(new int[] {2, 3}, new int[6]));
    CliRun run =
        CliRun.of(
            "predict",
            "--model",
            shared("conformance/keras/tfkeras/rnn_221.h5").toString(),
            "--input",
            x.toString(),
            "--output",
            tmp.resolve("y.npy").toString());
    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err())
        .contains("takes float32 features")
        .contains("save X as float32")
        .doesNotContain("Exception");
    assertThat(Files.exists(tmp.resolve("y.npy"))).isFalse();
  }

  @Test
  void everySubcommandAnswersHelpWithItsUsageAndNoWarning() {
    for (String command : new CommandLine(new BiStreamCli()).getSubcommands().keySet()) {
      CliRun run = CliRun.of(command, "--help");
      assertThat(run.code()).as(command).isZero();
      assertThat(run.out()).as(command).startsWith("Usage: bistream " + command);
      assertThat(run.out() + run.err()).as(command).doesNotContain("WARN");
    }
  }

  @Test
  void pipelineBenchRejectsABrokerDirectoryThatIsNotThereBeforeStartingAnything() {
    CliRun run =
        CliRun.of("bench", "--pipeline", "--broker-dir", tmp.resolve("missing").toString());
    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err())
        .contains("--broker-dir " + tmp.resolve("missing"))
        .contains("expected a writable directory, found nothing")
        .doesNotContain("Exception");
  }

  @Test
  void inspectListsLayersShapesAndParameterCount() throws Exception {
    CliRun run =
        CliRun.of("inspect", "--model", shared("conformance/keras/tfkeras/rnn_221.h5").toString());
    // 2 x (4*6*(1+6+1)) + 2 x (4*4*(12+4+1)) = 384 + 544 weights, as Keras' summary counts.
    assertThat(run.out())
        .contains("keras-h5 (version 2.2.4-tf)")
        .contains("bidirectional_134      Bidirectional    [None,T,12]")
        .contains("params   928");
  }

  @Test
  void predictInExactModeWritesTheOfflineOutputs() throws Exception {
    Path model = shared("conformance/keras/tfkeras/rnn_221.h5");
    float[] data = new float[2 * 9];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) Math.sin(i);
    }
    Path x = tmp.resolve("x.npy");
    NpyWriter.write(x, NpyArray.ofFloats(new int[] {2, 9, 1}, data));
    Path offline = tmp.resolve("offline.npy");
    Path exact = tmp.resolve("exact.npy");
    assertThat(
            BiStreamCli.run(
                "predict",
                "--model",
                model.toString(),
                "--input",
                x.toString(),
                "--output",
                offline.toString()))
        .isZero();
    assertThat(
            BiStreamCli.run(
                "predict",
                "--model",
                model.toString(),
                "--input",
                x.toString(),
                "--output",
                exact.toString(),
                "--mode",
                "exact",
                "--chunk",
                "2"))
        .isZero();
    NpyArray a = NpyReader.read(offline);
    NpyArray b = NpyReader.read(exact);
    assertThat(b.shape()).containsExactly(2, 9, 8);
    for (int i = 0; i < a.floats().length; i++) {
      assertThat((double) b.floats()[i])
          .isCloseTo(a.floats()[i], org.assertj.core.data.Offset.offset(1e-6));
    }
  }

  @Test
  void evaluatePrintsDeviationPerModeAndWritesAPlot() throws Exception {
    Path model = shared("conformance/keras/tfkeras/rnn_221.h5");
    Path x = threeCosineSequencesOf20Steps();
    Path plot = tmp.resolve("eval.png");
    CliRun run =
        CliRun.of(
            "evaluate",
            "--model",
            model.toString(),
            "--input",
            x.toString(),
            "--chunk",
            "4",
            "--lookahead",
            "0,20",
            "--plot",
            plot.toString());
    assertThat(run.code()).isZero();
    String table = run.out();
    assertThat(table).contains("lookahead").contains("stateful");
    // R = 20 covers every sequence: lookahead equals offline up to float rounding.
    String r20 =
        table.lines().filter(l -> l.matches("lookahead\\s+-\\s+20 .*")).findFirst().orElseThrow();
    assertThat(Double.parseDouble(r20.trim().split("\\s+")[3])).isLessThan(1e-6);
    assertThat(Files.size(plot)).isGreaterThan(1000);
  }

  private static final Path STREAMING =
      Path.of("../model-core/src/test/resources/golden/tfjs/streaming");

  @Test
  void predictInContextModeReproducesTheTfjsReferenceUnderEitherNameOfTheRightContext()
      throws Exception {
    // TF.js: predict on each chunk's window [max(0, s-4), min(T, s+4+3)) alone, chunk steps kept.
    JsonNode c =
        JSON.readTree(
            STREAMING.resolve("context_stacked_bilstm_bigru_td_softmax_l4_c4_r3.json").toFile());
    JsonNode in = c.get("inputs").get(0);
    float[] expected = floats(c.get("outputs").get(0).get("data"));
    Path x = tmp.resolve("x.npy");
    NpyWriter.write(x, NpyArray.ofFloats(ints(in.get("shape")), floats(in.get("data"))));
    Path model = STREAMING.resolve(c.get("model").asText()).normalize();
    for (String right : new String[] {"--lookahead", "--right-context"}) {
      Path y = tmp.resolve("y" + right + ".npy");
      CliRun run =
          CliRun.of(
              "predict",
              "--model",
              model.toString(),
              "--input",
              x.toString(),
              "--output",
              y.toString(),
              "--mode",
              "context",
              "--left-context",
              "4",
              "--chunk",
              "4",
              right,
              "3");
      assertThat(run.code()).as(run.err()).isZero();
      NpyArray got = NpyReader.read(y);
      assertThat(got.shape()).containsExactly(ints(c.get("outputs").get(0).get("shape")));
      for (int i = 0; i < expected.length; i++) {
        assertThat((double) got.floats()[i])
            .as("%s value %d", right, i)
            .isCloseTo(
                expected[i],
                org.assertj.core.data.Offset.offset(1e-6 + 1e-5 * Math.abs(expected[i])));
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"lookahead", "offline"})
  void predictRefusesALeftContextOutsideContextModeNamingTheOption(String mode) throws Exception {
    Path model = shared("conformance/keras/tfkeras/rnn_221.h5");
    Path x = tmp.resolve("x.npy");
    NpyWriter.write(x, NpyArray.ofFloats(new int[] {1, 4, 1}, new float[4]));
    CliRun run =
        CliRun.of(
            "predict",
            "--model",
            model.toString(),
            "--input",
            x.toString(),
            "--output",
            tmp.resolve("y.npy").toString(),
            "--mode",
            mode,
            "--left-context",
            "3");
    assertThat(run.code()).isNotZero();
    assertThat(run.err())
        .contains("left-context applies to context mode only")
        .contains("with mode " + mode)
        .doesNotContain("\tat ");
  }

  @Test
  void evaluateReportsContextModeForEachLeftAndRightContext() throws Exception {
    Path model = shared("conformance/keras/tfkeras/rnn_221.h5");
    Path x = threeCosineSequencesOf20Steps();
    CliRun run =
        CliRun.of(
            "evaluate",
            "--model",
            model.toString(),
            "--input",
            x.toString(),
            "--chunk",
            "4",
            "--lookahead",
            "0,20",
            "--left-context",
            "2,20",
            "--plot",
            tmp.resolve("eval.png").toString());
    assertThat(run.code()).as(run.err()).isZero();
    java.util.List<String> context =
        run.out().lines().filter(l -> l.startsWith("context")).toList();
    assertThat(context).hasSize(4); // L in {2, 20} x R in {0, 20}
    // L and R covering every sequence of 20 steps: each window is the whole sequence.
    String covering =
        context.stream().filter(l -> l.matches("context\\s+20\\s+20 .*")).findFirst().orElseThrow();
    assertThat(Double.parseDouble(covering.trim().split("\\s+")[3])).isLessThan(1e-6);
    String narrow =
        context.stream().filter(l -> l.matches("context\\s+2\\s+0 .*")).findFirst().orElseThrow();
    assertThat(Double.parseDouble(narrow.trim().split("\\s+")[3])).isGreaterThan(1e-4);
  }
}
