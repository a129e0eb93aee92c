package io.bistream.core.onnx;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import onnx.Onnx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.shade.protobuf.ByteString;

/**
 * Broken or unsupported ONNX files fail with a {@link ModelFormatException} naming the file, the
 * node, its op and the attribute, and listing the supported ops. The files are real PyTorch exports
 * edited through the generated ONNX classes and serialised again.
 */
class OnnxImportErrorsTest {

  @TempDir Path tmp;

  private static Path golden(String name) throws Exception {
    return Path.of(
        OnnxImportErrorsTest.class.getResource("/golden/onnx/" + name + "/model.onnx").toURI());
  }

  /** Writes the bilstm export with one node changed by {@code edit}. */
  private Path edited(String nodeName, UnaryOperator<Onnx.NodeProto.Builder> edit)
      throws Exception {
    Onnx.ModelProto.Builder m =
        Onnx.ModelProto.parseFrom(Files.readAllBytes(golden("bilstm_batch_first_softmax_t500")))
            .toBuilder();
    Onnx.GraphProto.Builder g = m.getGraphBuilder();
    boolean found = false;
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getName().equals(nodeName)) {
        g.setNode(i, edit.apply(g.getNode(i).toBuilder()));
        found = true;
      }
    }
    if (!found) {
      throw new IllegalStateException("no node " + nodeName);
    }
    Path out = tmp.resolve("edited.onnx");
    Files.write(out, m.build().toByteArray());
    return out;
  }

  private static Onnx.AttributeProto attr(String name, long value) {
    return Onnx.AttributeProto.newBuilder()
        .setName(name)
        .setType(Onnx.AttributeProto.AttributeType.INT)
        .setI(value)
        .build();
  }

  /** Loading fails with a message that starts with the file and contains every fragment. */
  private static void assertRejected(Path file, String... fragments) {
    var thrown =
        assertThatThrownBy(() -> ModelFiles.load(file))
            .isInstanceOf(ModelFormatException.class)
            .hasMessageStartingWith(file.toString());
    for (String f : fragments) {
      thrown.hasMessageContaining(f);
    }
  }

  @Test
  void unsupportedOperatorNamesFileNodeOpAndSupportedOps() throws Exception {
    Path file = edited("/act/Softmax", n -> n.setOpType("Erf").clearAttribute());
    assertRejected(
        file,
        "node '/act/Softmax' (Erf): operator Erf is not supported",
        "Supported ops: LSTM, GRU, RNN, MatMul, Add, Gemm");
  }

  @Test
  void unknownRecurrentAttributeNamesNodeOpAndAttribute() throws Exception {
    Path file = edited("/rnn/LSTM", n -> n.addAttribute(attr("peephole_mode", 1)));
    assertRejected(
        file,
        "node '/rnn/LSTM' (LSTM): attribute 'peephole_mode'",
        "supported attributes of LSTM: activation_alpha",
        "Supported ops: LSTM");
  }

  @Test
  void nonPositiveClipIsRejectedByName() throws Exception {
    Path file =
        edited(
            "/rnn/LSTM",
            n ->
                n.addAttribute(
                    Onnx.AttributeProto.newBuilder()
                        .setName("clip")
                        .setType(Onnx.AttributeProto.AttributeType.FLOAT)
                        .setF(-3f)));
    assertRejected(
        file,
        "node '/rnn/LSTM' (LSTM): attribute 'clip'",
        "expected a positive threshold, found -3.0");
  }

  @Test
  void unsupportedActivationNamesTheAttribute() throws Exception {
    Onnx.AttributeProto.Builder acts =
        Onnx.AttributeProto.newBuilder()
            .setName("activations")
            .setType(Onnx.AttributeProto.AttributeType.STRINGS);
    for (String a : new String[] {"Sigmoid", "ScaledTanh", "ScaledTanh"}) {
      acts.addStrings(ByteString.copyFromUtf8(a));
    }
    acts.addStrings(ByteString.copyFromUtf8("Sigmoid"))
        .addStrings(ByteString.copyFromUtf8("Tanh"))
        .addStrings(ByteString.copyFromUtf8("Tanh"));
    Path file = edited("/rnn/LSTM", n -> n.addAttribute(acts));
    assertRejected(
        file, "node '/rnn/LSTM' (LSTM): attribute 'activations'", "'ScaledTanh' is not supported");
  }

  @Test
  void sequenceLengthsInputIsRejectedByName() throws Exception {
    Path file = edited("/rnn/LSTM", n -> n.setInput(4, "x"));
    assertRejected(file, "node '/rnn/LSTM' (LSTM): input sequence_lens is not supported");
  }

  @Test
  void softmaxOverTheTimeAxisIsRejected() throws Exception {
    Path file = edited("/act/Softmax", n -> n.clearAttribute().addAttribute(attr("axis", 1)));
    assertRejected(file, "node '/act/Softmax' (Softmax): attribute 'axis'");
  }

  @Test
  void transposeThatMixesFeaturesIntoRowsIsRejected() throws Exception {
    // [T, dirs, N, H] transposed to [T, N, H, dirs] and flattened interleaves the directions'
    // features: not a layout of the core tensor, so it is refused rather than misread.
    Path file =
        edited(
            "/rnn/Transpose_1",
            n ->
                n.clearAttribute()
                    .addAttribute(
                        Onnx.AttributeProto.newBuilder()
                            .setName("perm")
                            .setType(Onnx.AttributeProto.AttributeType.INTS)
                            .addAllInts(java.util.List.of(0L, 2L, 3L, 1L))));
    assertRejected(
        file,
        "node '/fc/MatMul' (MatMul): input is laid out as [N] [T] [5,2]",
        "in the order the layer computed them [2, 5]");
  }

  @Test
  void firstStepOfABidirectionalOutputIsRefusedNamingTheSupportedReadout() throws Exception {
    // fc(y[:, 0, :]): the forward half after one step; only step T-1 is a streamable readout.
    assertRejected(
        errorFile("bigru_gather_first_step.onnx"),
        "node '/Gather' (Gather)",
        "picks step 0",
        "only the last step (-1)");
  }

  /** Writes golden case {@code name} with node {@code nodeName} changed by {@code edit}. */
  private Path editedCase(String name, String nodeName, UnaryOperator<Onnx.NodeProto.Builder> edit)
      throws Exception {
    Onnx.ModelProto.Builder m =
        Onnx.ModelProto.parseFrom(Files.readAllBytes(golden(name))).toBuilder();
    Onnx.GraphProto.Builder g = m.getGraphBuilder();
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getName().equals(nodeName)) {
        g.setNode(i, edit.apply(g.getNode(i).toBuilder()));
        Path out = tmp.resolve(name + "_edited.onnx");
        Files.write(out, m.build().toByteArray());
        return out;
      }
    }
    throw new IllegalStateException("no node " + nodeName);
  }

  @Test
  void layerNormPatternWithAStepMissingIsRefusedNamingTheStep() throws Exception {
    // The decomposed LayerNorm with its Sqrt turned into an Abs: a partial match, not a LayerNorm.
    Path file =
        editedCase("bigru_2layer_last_step_layernorm_gelu", "/norm/Sqrt", b -> b.setOpType("Abs"));
    assertRejected(
        file,
        "node '/norm/ReduceMean' (ReduceMean)",
        "decomposed LayerNorm",
        "'/norm/Add' is consumed by Abs, expected Sqrt");
  }

  @Test
  void layerNormPatternWithAnotherExponentIsRefused() throws Exception {
    Path file =
        editedCase(
            "bigru_2layer_last_step_layernorm_gelu",
            "/norm/Pow",
            b -> b.setInput(1, "/norm/Constant_1_output_0")); // (x - mean) ** epsilon
    assertRejected(
        file,
        "node '/norm/Add_1' (Add)",
        "decomposed LayerNorm",
        "the Pow exponent must be 2, found 9.99");
  }

  @Test
  void geluPatternWithAStepMissingIsRefusedNamingTheStep() throws Exception {
    // GELU's final "* 0.5" turned into "+ 0.5".
    Path file =
        editedCase("bigru_2layer_last_step_layernorm_gelu", "/act/Mul_1", b -> b.setOpType("Add"));
    assertRejected(
        file,
        "node '/act/Erf' (Erf)",
        "operator Erf is not supported on its own, only inside GELU",
        "the output of '/act/Mul' is consumed by Add, expected Mul");
  }

  @Test
  void inputOfUnknownLayoutThatFailsBothWaysGivesBothReasons() throws Exception {
    // x [T, N] reshaped to [T, N, 1]: the graph does not say which axis is time, so both readings
    // are tried. Mixing the directions into the features after the GRU fails the time-major
    // reading too, for another reason than the batch-major one.
    Path file =
        editedCase(
            "bigru_1feature_rank2_input_view_seq_first",
            "/rnn/Transpose",
            n ->
                n.clearAttribute()
                    .addAttribute(
                        Onnx.AttributeProto.newBuilder()
                            .setName("perm")
                            .setType(Onnx.AttributeProto.AttributeType.INTS)
                            .addAllInts(java.util.List.of(0L, 2L, 3L, 1L))));
    assertRejected(
        file,
        "the graph does not tell which axes of input 'x' are batch and time, and both readings"
            + " fail",
        "as batch-major [N, T]: node '/rnn/GRU' (GRU): attribute 'layout'",
        "as time-major [T, N]: node '/fc/MatMul' (MatMul)");
  }

  private static Path errorFile(String name) throws Exception {
    return Path.of(OnnxImportErrorsTest.class.getResource("/golden/onnx/errors/" + name).toURI());
  }

  @Test
  void convolutionInFrontOfTheRecurrentNodeIsRefusedNamingTheNodeAndOp() throws Exception {
    // Conv1d -> LSTM -> Linear, as torch 1.13 exports it.
    assertRejected(
        errorFile("conv1d_front.onnx"),
        "node '/conv/Conv' (Conv): operator Conv is not supported",
        "Supported ops: LSTM, GRU, RNN");
  }

  @Test
  void unnamedUnsupportedNodeIsNamedByIndexAndOutputs() throws Exception {
    Path file = edited("/act/Softmax", n -> n.setOpType("Erf").clearAttribute().setName(""));
    Onnx.GraphProto g = Onnx.ModelProto.parseFrom(Files.readAllBytes(file)).getGraph();
    int index = -1;
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getOpType().equals("Erf")) {
        index = i;
      }
    }
    assertRejected(
        file, "node #" + index + " (unnamed, outputs 'y') (Erf): operator Erf is not supported");
  }

  @Test
  void finalCellStateAsAGraphOutputSaysWhichNodeAndWhatIsSupported() throws Exception {
    // forward returns (fc(y), c_n).
    assertRejected(
        errorFile("lstm_cell_state_output.onnx"),
        "graph output 'c_n' is the final cell state Y_c of LSTM node '/rnn/LSTM'",
        "BiStream maps the sequence output Y and the final hidden state Y_h (h_n) of an LSTM,"
            + " not its cell state");
  }

  @Test
  void finalCellStateUnderAHeadSaysWhichNodeAndWhatIsSupported() throws Exception {
    // forward returns fc(c_n[-1]).
    assertRejected(
        errorFile("lstm_cell_state_head.onnx"),
        "node '/Gather' (Gather): input '/rnn/LSTM_output_2' is the final cell state Y_c of LSTM"
            + " node '/rnn/LSTM'",
        "not its cell state");
  }

  @Test
  void viewOfABidirectionalFinalStateThatMixesBatchRowsIsRefused() throws Exception {
    // h_n.view(N, -1) of h_n [2, N, H]: rows of the result mix sequences of the batch.
    assertRejected(
        errorFile("bigru_last_state_view_mixes_batch.onnx"),
        "node '/Reshape' (Reshape)",
        "would mix batch");
  }

  @Test
  void idsCastToIntegersFeedOnlyAnEmbedding() throws Exception {
    // The real nnsplit file (Cast of the uint8 ids -> Gather of the embedding table), with the
    // Gather turned into an Add of the table: the truncated ids would be used as numbers.
    Path real =
        Path.of(
            getClass()
                .getResource("/golden/real/onnx/nnsplit-byte-bilstm-pt15/model.onnx")
                .toURI());
    Onnx.ModelProto.Builder m = Onnx.ModelProto.parseFrom(Files.readAllBytes(real)).toBuilder();
    Onnx.GraphProto.Builder g = m.getGraphBuilder();
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (g.getNode(i).getName().equals("Gather_1")) {
        g.setNode(i, g.getNode(i).toBuilder().setOpType("Add").clearAttribute());
      }
    }
    Path file = tmp.resolve("ids_as_numbers.onnx");
    Files.write(file, m.build().toByteArray());
    assertRejected(
        file,
        "node 'Gather_1' (Add): the input cast to integer ids may only index an embedding table");
  }

  @Test
  void sequenceLengthsInputOfAPackedSequenceIsRefusedSayingWhy() throws Exception {
    // pack_padded_sequence(x, lengths): an extra graph input [N] of lengths.
    assertRejected(
        errorFile("lstm_packed_sequence.onnx"),
        "graph input 'lengths' has shape [?]",
        "sequence lengths (pack_padded_sequence) are not supported: BiStream runs every sequence"
            + " whole; export the model without packing");
  }

  @ParameterizedTest(name = "cut at {0}%")
  @ValueSource(ints = {1, 10, 50, 90, 99})
  void fileCutShortIsReportedAsCorruptOrTruncated(int percent) throws Exception {
    byte[] whole = Files.readAllBytes(golden("bigru_h0_tanh"));
    Path cut = tmp.resolve("cut" + percent + ".onnx");
    Files.write(cut, Arrays.copyOf(whole, whole.length * percent / 100));
    assertRejected(cut, "corrupt or truncated");
  }

  @Test
  void garbageWithTheOnnxExtensionIsNotAModel() throws Exception {
    Path junk = tmp.resolve("junk.onnx");
    Files.writeString(junk, "this is not a protobuf at all, just some text\n");
    assertRejected(junk, "ONNX");
  }
}
