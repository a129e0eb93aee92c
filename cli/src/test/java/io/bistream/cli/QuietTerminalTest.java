package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A command that starts the embedded broker and a local Flink job shows the user only BiStream's
 * own output: library logging goes to the log file the command names (docs/operations.md, "Logs").
 * Runs {@code local} in a new JVM, as the launcher does, and reads its terminal.
 */
class QuietTerminalTest {

  /** Lines seen on a newcomer's terminal before issue 19, each from a library. */
  private static final List<String> NOISE =
      List.of(
          "Bootstrap metadata",
          "Formatting metadata directory",
          "No tokens obtained",
          "'log.file' is not set",
          "JobManager log files are unavailable",
          "characters length limit",
          "RetriableCommitFailedException",
          "StatusLogger",
          " WARN ",
          " INFO ",
          "\tat ",
          "Exception:");

  @TempDir Path dir;

  @Test
  void localShowsOnlyItsOwnOutputAndNamesALogFileHoldingTheLibrariesLines() throws Exception {
    Path in =
        Files.write(
            dir.resolve("in.jsonl"),
            List.of(
                "{\"seq\":\"a\",\"t\":0,\"x\":[1,2,3]}",
                "{\"seq\":\"b\",\"t\":0,\"x\":[1,2,3]}",
                "{\"seq\":\"a\",\"t\":1,\"x\":[4,5,6],\"end\":true}",
                "{\"seq\":\"b\",\"t\":1,\"x\":[0,0,1],\"end\":true}"),
            StandardCharsets.UTF_8);
    Path logs = Files.createDirectories(dir.resolve("logs"));
    Terminal t = run(logs, LocalCommandTest.local(dir, in).toArray(String[]::new));

    assertThat(t.code).as(t.text).isZero();
    assertThat(t.text).contains("records: 4 read, 4 produced");
    for (String noise : NOISE) {
      assertThat(t.text).as("terminal").doesNotContain(noise);
    }
    Path log = logFile(t);
    assertThat(log.getParent()).isEqualTo(logs);
    assertThat(Files.readString(log))
        .contains("org.apache.flink.")
        .contains("Formatting metadata directory");
  }

  @Test
  void aFailureIsOneLineOnTheTerminalAndItsTraceIsInTheLogFile() throws Exception {
    Path logs = Files.createDirectories(dir.resolve("logs"));
    Terminal t =
        run(
            logs,
            "run",
            "--bootstrap-servers",
            "localhost:1",
            "--input-topic",
            "in",
            "--output-topic",
            "out",
            "--model",
            dir.resolve("no-such-model.json").toString());

    assertThat(t.code).as(t.text).isEqualTo(2);
    assertThat(t.text).contains("error: ").contains("no-such-model.json");
    assertThat(t.text).doesNotContain("\tat ").doesNotContain("Exception:");
    assertThat(Files.readString(logFile(t))).contains("no-such-model.json").contains("\tat ");
  }

  /** The log file the command named on its terminal. */
  private static Path logFile(Terminal t) {
    Matcher named = Pattern.compile("(?m)^logs: (.+\\.log)$").matcher(t.text);
    assertThat(named.find()).as("a line naming the log file in:\n" + t.text).isTrue();
    return Path.of(named.group(1));
  }

  /** A command's exit code and everything it wrote to the terminal (stdout and stderr). */
  private record Terminal(int code, String text) {}

  /** Runs the CLI in a new JVM as the launcher does, logs under {@code logDir}. */
  private Terminal run(Path logDir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of("-Xmx768m", "--add-modules", "jdk.incubator.vector"));
    cmd.add("io.bistream.cli.BiStreamCli");
    cmd.addAll(List.of(args));
    Path terminal = dir.resolve("terminal.txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(terminal.toFile());
    pb.environment().put("CLASSPATH", System.getProperty("java.class.path"));
    pb.environment().put("BISTREAM_LOG_DIR", logDir.toString());
    Process p = pb.start();
    if (!p.waitFor(4, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("timed out: " + Files.readString(terminal));
    }
    // The JVM's own notice about the incubator module is not BiStream's to silence.
    String text =
        Files.readString(terminal)
            .replace("WARNING: Using incubator modules: jdk.incubator.vector\n", "");
    return new Terminal(p.exitValue(), text);
  }
}
