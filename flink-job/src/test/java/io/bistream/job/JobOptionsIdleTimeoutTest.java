package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@code --max-idle-timeout}: the longest idle timeout a record may ask for its sequence. */
class JobOptionsIdleTimeoutTest {

  @Test
  void theMaximumIsADayUnlessGiven() {
    assertThat(JobOptionsRestoreTest.options().settings().maxIdleTimeout())
        .isEqualTo(Duration.ofHours(24));
    assertThat(
            JobOptionsRestoreTest.options("--max-idle-timeout", "2h").settings().maxIdleTimeout())
        .isEqualTo(Duration.ofHours(2));
  }

  @Test
  void aMaximumBelowTheJobsOwnIdleTimeoutNamesBothOptions() {
    assertThatThrownBy(
            () ->
                JobOptionsRestoreTest.options("--idle-timeout", "5m", "--max-idle-timeout", "1m")
                    .settings())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--max-idle-timeout (PT1M) must be at least --idle-timeout (PT5M)");
  }

  @Test
  void settingsBuiltWithoutAMaximumTakeADay() {
    JobSettings s =
        SequenceOperatorFaultTest.settings(
            SequenceOperatorTest.MODEL, io.bistream.core.stream.StreamConfig.exact(), 1);
    assertThat(s.maxIdleTimeout()).isEqualTo(Duration.ofHours(24));
  }
}
