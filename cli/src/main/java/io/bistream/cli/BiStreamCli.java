package io.bistream.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./bistream} command line: one subcommand per task (docs/architecture.md). */
@Command(
    name = "bistream",
    mixinStandardHelpOptions = true,
    scope = CommandLine.ScopeType.INHERIT, // -h/--help and -V/--version on every subcommand too
    version = "BiStream 0.1.0",
    description = "Bidirectional recurrent models over unbounded per-sequence streams.",
    subcommands = {
      DemoCommand.class,
      PredictCommand.class,
      InspectCommand.class,
      EvaluateCommand.class,
      io.bistream.job.BiStreamJobMain.class,
      LocalCommand.class,
      BenchCommand.class
    })
public final class BiStreamCli {

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the CLI and returns the exit code (tests call this instead of main). */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new BiStreamCli());
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          // Expected failures (bad model, bad input) carry a user-facing message: no stack trace.
          commandLine.getErr().println("error: " + e.getMessage());
          return 2;
        });
    return cli.execute(args);
  }
}
