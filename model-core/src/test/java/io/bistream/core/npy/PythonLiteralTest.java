package io.bistream.core.npy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.npy.PythonLiteral.Tuple;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The header dict parser follows Python's literal syntax, as ast.literal_eval would. */
class PythonLiteralTest {

  private static BigInteger n(long v) {
    return BigInteger.valueOf(v);
  }

  @Test
  void parsesNumpysHeaderDictWithPadding() throws Exception {
    Object dict =
        PythonLiteral.parse(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n");

    assertThat(dict)
        .isEqualTo(
            Map.of(
                "descr", "<f4", "fortran_order", false, "shape", new Tuple(List.of(n(2), n(3)))));
  }

  @Test
  void treatsParenthesesWithoutCommaAsGroupingNotTuple() throws Exception {
    assertThat(PythonLiteral.parse("(5)")).isEqualTo(n(5));
    assertThat(PythonLiteral.parse("(5,)")).isEqualTo(new Tuple(List.of(n(5))));
    assertThat(PythonLiteral.parse("()")).isEqualTo(new Tuple(List.of()));
    // The comma inside belongs to the inner tuple, so the outer parentheses only group.
    assertThat(PythonLiteral.parse("((1, 2))")).isEqualTo(new Tuple(List.of(n(1), n(2))));
  }

  @Test
  void parsesStructuredDescrListsAndDoubleQuotedStrings() throws Exception {
    assertThat(PythonLiteral.parse("[(\"x\", '<f4'), ('y', '<i4', (2,))]"))
        .isEqualTo(
            List.of(
                new Tuple(List.of("x", "<f4")),
                new Tuple(List.of("y", "<i4", new Tuple(List.of(n(2)))))));
  }

  @Test
  void acceptsPython2LongSuffixAndSigns() throws Exception {
    assertThat(PythonLiteral.parse("(3L, -4, +5)"))
        .isEqualTo(new Tuple(List.of(n(3), n(-4), n(5))));
  }

  @Test
  void parsesNoneAndKeepsItAsNull() throws Exception {
    assertThat(PythonLiteral.parse("None")).isNull();
  }

  @Test
  void saysWhatWasExpectedWhereAndWhatWasFound() {
    assertThatThrownBy(() -> PythonLiteral.parse("{'shape': (2, 3 }"))
        .hasMessage("expected ',' or ')' at header offset 16, found '}'");
    assertThatThrownBy(() -> PythonLiteral.parse("{'descr' '<f4'}"))
        .hasMessage("expected ':' at header offset 9, found ''<f4'}'");
    assertThatThrownBy(() -> PythonLiteral.parse("{'descr': '<f4"))
        .hasMessage("expected the closing ' at header offset 14, found the end of the header");
    assertThatThrownBy(() -> PythonLiteral.parse("{'a': true}"))
        .hasMessage(
            "expected True, False, None, a number, a string, a tuple or a dict at header offset 6,"
                + " found 'true}'");
    assertThatThrownBy(() -> PythonLiteral.parse("(1,) x"))
        .hasMessage("expected end of the header at header offset 5, found 'x'");
    assertThatThrownBy(() -> PythonLiteral.parse("1.5"))
        .hasMessage("expected end of the header at header offset 1, found '.5'");
  }
}
