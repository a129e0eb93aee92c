package io.bistream.cli;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;
import picocli.CommandLine;

/**
 * Where library logging goes. Commands that start Flink or the embedded broker ({@code demo},
 * {@code local}, {@code run}, {@code kafka}, {@code state}, {@code bench --pipeline}) send it to a
 * new file, named on the terminal, so that the terminal shows only BiStream's own output; the
 * others leave it on the terminal (warnings and errors, log4j2.properties). docs/operations.md,
 * "Logs".
 */
final class Logs implements AutoCloseable {

  /** The environment variable naming the directory of the log files (default: java.io.tmpdir). */
  static final String DIR_VARIABLE = "BISTREAM_LOG_DIR";

  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss", Locale.ROOT);

  private Logs() {}

  /** Whether {@code command} (a parsed subcommand) starts Flink or the embedded broker. */
  static boolean startsFlinkOrKafka(CommandLine.ParseResult command) {
    if (command.isUsageHelpRequested() || command.isVersionHelpRequested()) {
      return false;
    }
    return switch (command.commandSpec().name()) {
      case "demo", "local", "run", "kafka", "state" -> true;
      case "bench" -> command.matchedOptionValue("--pipeline", false);
      default -> false;
    };
  }

  /**
   * Sends all logging to a new file for this run of {@code command} and names it on the terminal
   * (standard error); {@link #close} puts it back on the terminal.
   *
   * @throws IllegalArgumentException when the log directory cannot be written
   */
  static Logs toFile(String command) {
    String configured = System.getenv(DIR_VARIABLE);
    Path dir = Path.of(configured != null ? configured : System.getProperty("java.io.tmpdir"));
    String stem =
        "bistream-"
            + command
            + "-"
            + TIME.format(LocalDateTime.now())
            + "-"
            + ProcessHandle.current().pid();
    Path file;
    try {
      Files.createDirectories(dir);
      // A new file: a second run within the same second in this process gets "-2", and so on.
      for (int n = 1; ; n++) {
        file = dir.resolve(stem + (n == 1 ? "" : "-" + n) + ".log").toAbsolutePath();
        try {
          Files.createFile(file);
          break;
        } catch (FileAlreadyExistsException e) {
          // the next number
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot write a log file in "
              + dir
              + " ("
              + e
              + "); set "
              + DIR_VARIABLE
              + " to a writable directory");
    }
    ConfigurationBuilder<BuiltConfiguration> b =
        ConfigurationBuilderFactory.newConfigurationBuilder();
    b.setStatusLevel(Level.OFF);
    b.setConfigurationName("bistream " + command + " to " + file);
    b.add(
        b.newAppender("file", "File")
            .addAttribute("fileName", file.toString())
            .add(
                b.newLayout("PatternLayout")
                    .addAttribute("pattern", "%d{HH:mm:ss.SSS} [%t] %level %c - %msg%n")));
    // The libraries' warnings and errors, and what BiStream itself says about its pipelines.
    b.add(b.newLogger("io.bistream", Level.INFO));
    // Kafka's sink registers some metrics twice per subtask; Flink warns at each (~90 lines a
    // demo).
    b.add(b.newLogger("org.apache.flink.metrics", Level.ERROR));
    b.add(b.newRootLogger(Level.WARN).add(b.newAppenderRef("file")));
    Configurator.reconfigure(b.build());
    System.err.println("logs: " + file);
    return new Logs();
  }

  /** Back to the terminal configuration (log4j2.properties), for later commands in this JVM. */
  @Override
  public void close() {
    LoggerContext.getContext(false).reconfigure();
  }
}
