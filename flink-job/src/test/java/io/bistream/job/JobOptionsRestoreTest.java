package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code --start-from}, {@code --restore} and {@code --max-parallelism} of {@code run}. */
class JobOptionsRestoreTest {

  @TempDir Path dir;

  /** {@code run}'s options as parsed from the required ones plus {@code extra}. */
  static JobOptions options(String... extra) {
    JobOptions o = new JobOptions();
    String[] base = {
      "--bootstrap-servers",
      "localhost:9",
      "--input-topic",
      "in",
      "--output-topic",
      "out",
      "--model",
      "m.json"
    };
    String[] args = new String[base.length + extra.length];
    System.arraycopy(base, 0, args, 0, base.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    new CommandLine(o).parseArgs(args);
    return o;
  }

  @Test
  void startFromDefaultsToCommittedOffsetsWithEarliestWhenTheGroupHasNone() {
    assertThat(options().startingOffsets().getAutoOffsetResetStrategy())
        .isEqualTo(OffsetResetStrategy.EARLIEST);
    assertThat(options("--start-from", "latest").startingOffsets().getAutoOffsetResetStrategy())
        .isEqualTo(OffsetResetStrategy.LATEST);
    assertThat(options("--start-from", "2026-12-04T10:15:30Z").startingOffsets()).isNotNull();
  }

  @Test
  void startFromRefusesAnUnknownValueNamingTheOptionAndTheValue() {
    assertThatThrownBy(() -> options("--start-from", "yesterday").startingOffsets())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--start-from")
        .hasMessageContaining("'yesterday'")
        .hasMessageContaining("ISO-8601");
  }

  @Test
  void restoreLatestPicksTheNewestCompleteCheckpointOfThisPipelineOnly() throws Exception {
    Path mine = dir.resolve("bistream-in--out");
    checkpoint(mine.resolve("job-a/chk-7"), 1_000, true);
    Path newest = checkpoint(mine.resolve("job-b/chk-2"), 2_000, true);
    checkpoint(mine.resolve("job-b/chk-3"), 3_000, false); // still being written: no _metadata
    checkpoint(dir.resolve("bistream-in--other/job-c/chk-9"), 4_000, true); // another pipeline

    JobOptions.Restore r =
        options("--checkpoint-dir", dir.toUri().toString(), "--restore", "latest").restoreFrom();

    assertThat(Path.of(r.path().toUri())).isEqualTo(newest);
    assertThat(r.description()).contains("newest complete checkpoint").contains("chk-2");
  }

  @Test
  void restoreLatestWithNoCheckpointStartsWithoutStateAndSaysSo() {
    JobOptions.Restore r =
        options("--checkpoint-dir", dir.toUri().toString(), "--restore", "latest").restoreFrom();
    assertThat(r.path()).isNull();
    assertThat(r.description()).contains("no complete checkpoint").contains("without state");
  }

  @Test
  void restoreOfAMissingOrIncompleteDirectoryIsRefusedBeforeTheJobStarts() throws Exception {
    Path incomplete = checkpoint(dir.resolve("x/chk-4"), 1_000, false);
    for (String path : new String[] {dir.resolve("nope").toString(), incomplete.toString()}) {
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      PrintStream old = System.err;
      int code;
      try {
        System.setErr(new PrintStream(err, true));
        code =
            BiStreamJobMain.run(
                "--bootstrap-servers",
                "localhost:9",
                "--input-topic",
                "in",
                "--output-topic",
                "out",
                "--model",
                "no-such-model.json",
                "--restore",
                path);
      } finally {
        System.setErr(old);
      }
      assertThat(code).isEqualTo(2);
      assertThat(err.toString())
          .contains("--restore " + path)
          .containsAnyOf("no such directory", "not a complete checkpoint")
          .doesNotContain("\tat ");
    }
  }

  @Test
  void theEnvironmentRetainsCheckpointsRestoresTheChosenOneAndFixesMaxParallelism()
      throws Exception {
    Path chk = checkpoint(dir.resolve("bistream-in--out/job/chk-1"), 1_000, true);
    JobOptions o =
        options(
            "--checkpoint-dir",
            dir.toUri().toString(),
            "--restore",
            "latest",
            "--max-parallelism",
            "64");
    StreamExecutionEnvironment env = o.environment();
    Configuration conf = (Configuration) env.getConfiguration();
    assertThat(conf.toMap())
        .containsEntry(
            "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
        .containsEntry("pipeline.max-parallelism", "64");
    assertThat(Path.of(java.net.URI.create(conf.toMap().get("execution.checkpointing.dir"))))
        .as("a directory of this pipeline's own")
        .isEqualTo(dir.resolve("bistream-in--out"));
    assertThat(Path.of(java.net.URI.create(conf.toMap().get("execution.state-recovery.path"))))
        .isEqualTo(chk);
  }

  @Test
  void maxParallelismBelowTheParallelismIsRefused() {
    assertThatThrownBy(() -> options("--parallelism", "4", "--max-parallelism", "2").environment())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--max-parallelism")
        .hasMessageContaining("found 2");
  }

  /** A chk-N directory, with its _metadata (written at {@code millis}) when complete. */
  private static Path checkpoint(Path chk, long millis, boolean complete) throws Exception {
    Files.createDirectories(chk);
    Files.setLastModifiedTime(chk, FileTime.from(Instant.ofEpochMilli(millis)));
    if (complete) {
      Path metadata = Files.writeString(chk.resolve("_metadata"), "x");
      Files.setLastModifiedTime(metadata, FileTime.from(Instant.ofEpochMilli(millis)));
    }
    return chk;
  }
}
