package io.bistream.cli;

import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./bistream} command line: one subcommand per task (docs/architecture.md). */
@Command(
    name = "bistream",
    mixinStandardHelpOptions = true,
    // -h/--help, -V/--version and the defaults in every option's help, on every subcommand too
    scope = CommandLine.ScopeType.INHERIT,
    showDefaultValues = true,
    version = "BiStream 0.1.0",
    description = "Bidirectional recurrent models over unbounded per-sequence streams.",
    subcommands = {
      DemoCommand.class,
      PredictCommand.class,
      InspectCommand.class,
      EvaluateCommand.class,
      io.bistream.job.BiStreamJobMain.class,
      LocalCommand.class,
      BenchCommand.class,
      KafkaCommand.class,
      StateCommand.class
    })
public final class BiStreamCli {

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the CLI and returns the exit code (tests call this instead of main). */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new BiStreamCli());
    cli.setExecutionStrategy(BiStreamCli::execute);
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          // Expected failures (bad model, bad input) carry a user-facing message: no stack trace
          // on the terminal (commands with a log file have it there).
          commandLine.getErr().println("error: " + message(e));
          return 2;
        });
    return cli.execute(args);
  }

  /**
   * Runs the parsed command; one that starts Flink or the embedded broker with library logging in a
   * log file of its own, which also gets the trace of a failure.
   */
  private static int execute(CommandLine.ParseResult parsed) {
    CommandLine.ParseResult command = parsed.subcommand();
    if (command == null || !Logs.startsFlinkOrKafka(command)) {
      return new CommandLine.RunLast().execute(parsed);
    }
    Logs logs;
    try {
      logs = Logs.toFile(command.commandSpec().name());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ExecutionException(command.commandSpec().commandLine(), "", e);
    }
    try (logs) {
      try {
        return new CommandLine.RunLast().execute(parsed);
      } catch (CommandLine.ExecutionException e) {
        LoggerFactory.getLogger(BiStreamCli.class)
            .error("bistream {} failed", command.commandSpec().name(), e.getCause());
        throw e;
      }
    }
  }

  /**
   * One line for the terminal: the failure's message and, when it does not already say it, the
   * message of its root cause (a failed Flink job's own message is only "Job execution failed").
   */
  static String message(Throwable e) {
    List<String> parts = new ArrayList<>();
    parts.add(e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName());
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String rootMessage =
        root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    if (root != e && !parts.get(0).contains(rootMessage)) {
      parts.add(rootMessage);
    }
    return String.join(": ", parts);
  }
}
