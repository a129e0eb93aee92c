package io.bistream.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

/** A CLI run with its exit code and captured standard output and error (tests). */
record CliRun(int code, String out, String err) {

  /** Runs the CLI with its standard output and error captured. */
  static CliRun of(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    try {
      System.setOut(new PrintStream(out, true));
      System.setErr(new PrintStream(err, true));
      int code = BiStreamCli.run(args);
      return new CliRun(code, out.toString(), err.toString());
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }
}
