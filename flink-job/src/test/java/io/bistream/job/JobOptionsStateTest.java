package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.junit.jupiter.api.Test;

/** The state settings {@code run} gives Flink. */
class JobOptionsStateTest {

  @Test
  void rocksDbCheckpointsAreIncrementalAndStateNeverFallsBackToKryo() {
    ReadableConfig conf =
        JobOptionsRestoreTest.options("--state-backend", "rocksdb")
            .environment()
            .getConfiguration();
    assertThat(conf.get(CheckpointingOptions.INCREMENTAL_CHECKPOINTS)).isTrue();
    assertThat(conf.get(PipelineOptions.GENERIC_TYPES)).isFalse();
  }
}
