package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code --delivery} and {@code --buffer-timeout}, as {@code run} parses them. */
class JobOptionsDeliveryTest {

  @Test
  void deliveryIsExactlyOnceUnlessAtLeastOnceIsAsked() {
    assertThat(JobOptionsRestoreTest.options().delivery)
        .isEqualTo(JobOptions.Delivery.EXACTLY_ONCE);
    assertThat(JobOptionsRestoreTest.options("--delivery", "at-least-once").delivery)
        .isEqualTo(JobOptions.Delivery.AT_LEAST_ONCE);
  }

  @Test
  void anUnknownDeliveryNamesTheOptionAndItsValues() {
    assertThatThrownBy(() -> JobOptionsRestoreTest.options("--delivery", "at-most-once"))
        .isInstanceOf(CommandLine.ParameterException.class)
        .hasMessageContaining(
            "--delivery must be exactly-once or at-least-once, found 'at-most-once'");
  }

  @Test
  void theBufferTimeoutReachesTheEnvironmentWithALowDefault() {
    assertThat(JobOptionsRestoreTest.options().environment().getBufferTimeout()).isEqualTo(5);
    assertThat(
            JobOptionsRestoreTest.options("--buffer-timeout", "0ms")
                .environment()
                .getBufferTimeout())
        .isZero();
  }
}
