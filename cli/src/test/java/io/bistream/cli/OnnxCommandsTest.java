package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bistream.core.ModelFiles;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import java.nio.file.Path;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code predict} and {@code inspect} accept {@code .onnx} files exported by PyTorch; X and Y use
 * the [N, T, F] convention also for a graph exported seq-first.
 */
class OnnxCommandsTest {

  private static final Path GOLDEN = Path.of("../model-core/src/test/resources/golden/onnx");

  @TempDir Path tmp;

  @ParameterizedTest(name = "{0} --mode {1}")
  @CsvSource({
    "bigru_2layer_seq_first_sigmoid, offline",
    "bigru_2layer_seq_first_sigmoid, exact",
    "bilstm_batch_first_softmax_t500, lookahead",
    "bilstm_last_state_concat_softmax, exact"
  })
  void predictOnAnOnnxFileReproducesPyTorch(String name, String mode) throws Exception {
    Path dir = GOLDEN.resolve(name);
    Path y = tmp.resolve("y.npy");
    int code =
        BiStreamCli.run(
            "predict",
            "--model",
            dir.resolve("model.onnx").toString(),
            "--input",
            dir.resolve("x.npy").toString(),
            "--output",
            y.toString(),
            "--mode",
            mode,
            "--chunk",
            "4",
            "--lookahead",
            "1000");
    assertThat(code).isZero();
    NpyArray got = NpyReader.read(y);
    NpyArray want = NpyReader.read(dir.resolve("y.npy"));
    assertThat(got.shape()).containsExactly(want.shape());
    for (int i = 0; i < want.floats().length; i++) {
      float e = want.floats()[i];
      assertThat((double) got.floats()[i]).isCloseTo(e, Offset.offset(1e-6 + 1e-5 * Math.abs(e)));
    }
  }

  @Test
  void inspectShowsOnnxFormatOpsetAndProducer() throws Exception {
    // What `inspect` prints for the file.
    String shown =
        InspectCommand.describe(
            ModelFiles.load(GOLDEN.resolve("bigru_2layer_seq_first_sigmoid/model.onnx")));
    assertThat(shown)
        .contains("format   onnx (version opset 14, producer pytorch 1.13.0; input 'x' is")
        .contains("time-major in the graph, BiStream takes [N, T, D])")
        .contains("/rnn/GRU               Bidirectional    [None,T,8]")
        .contains("/fc/MatMul             MatMul           [None,T,2]");
  }
}
