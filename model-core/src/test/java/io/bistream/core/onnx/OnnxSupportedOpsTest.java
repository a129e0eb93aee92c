package io.bistream.core.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The ops the ONNX importer accepts are one list: every op it folds from constants or maps is
 * accepted when the input's layout is traced, and the "Supported ops" of every error names it.
 */
class OnnxSupportedOpsTest {

  @Test
  void everyOpFoldedFromConstantsIsSupported() {
    assertThat(OnnxModelBuilder.SUPPORTED_OPS).containsAll(ConstFolding.OPS);
  }

  @Test
  void supportedOpsMessageNamesEverySupportedOp() {
    for (String op : OnnxModelBuilder.SUPPORTED_OPS) {
      assertThat(OnnxModelBuilder.SUPPORTED)
          .as("op " + op)
          .containsPattern(Pattern.compile("\\b" + op + "\\b"));
    }
  }

  @Test
  void opsThatKeepTheLeadingAxesAreSupported() {
    assertThat(OnnxModelBuilder.SUPPORTED_OPS).containsAll(OnnxModelBuilder.KEEPS_LEADING_AXES);
  }
}
