package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.stream.StreamConfig;
import org.junit.jupiter.api.Test;

/** {@code --mode} and its chunk and context options, as {@code run} parses them. */
class JobOptionsModeTest {

  private static StreamConfig stream(String... extra) {
    return JobOptionsRestoreTest.options(extra).settings().stream();
  }

  @Test
  void contextModeTakesLeftContextChunkAndRightContextUnderEitherName() {
    for (String right : new String[] {"--lookahead", "--right-context"}) {
      StreamConfig c =
          stream("--mode", "context", "--left-context", "40", "--chunk", "150", right, "20");
      assertThat(c.mode()).isEqualTo(StreamConfig.Mode.CONTEXT);
      assertThat(c.leftContext()).isEqualTo(40);
      assertThat(c.chunk()).isEqualTo(150);
      assertThat(c.lookahead()).isEqualTo(20);
    }
  }

  @Test
  void leftContextDefaultsToZeroAndOtherModesRefuseIt() {
    assertThat(stream("--mode", "context").leftContext()).isZero();
    assertThat(stream("--mode", "lookahead").leftContext()).isZero();
    assertThatThrownBy(() -> stream("--mode", "stateful", "--left-context", "8"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "left-context applies to context mode only; found left-context 8 with mode stateful");
    assertThatThrownBy(() -> stream("--mode", "context", "--left-context", "-1"))
        .hasMessage("left-context must be 0 or more steps, found -1");
  }

  @Test
  void modeTakesEachStreamingModeByItsUserNameAndRefusesOthersNamingThem() {
    for (StreamConfig.Mode m : StreamConfig.Mode.values()) {
      assertThat(stream("--mode", m.userName()).mode()).isEqualTo(m);
    }
    assertThat(StreamConfig.Mode.userNames())
        .containsExactly("exact", "lookahead", "stateful", "context");
    assertThatThrownBy(() -> stream("--mode", "offline"))
        .hasMessageContaining("--mode")
        .hasMessageContaining("[exact, lookahead, stateful, context]")
        .hasMessageContaining("found 'offline'");
  }
}
