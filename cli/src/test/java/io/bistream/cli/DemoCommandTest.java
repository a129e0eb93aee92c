package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code demo}, shortened to a few seconds of stream: it starts the stream after a warm-up passed
 * every pipeline, reports each mode's latency beside its ideal wait, and accounts for every step of
 * the stream without the warm-up's.
 */
class DemoCommandTest {

  @TempDir Path dir;

  @Test
  void demoReportsIdealWaitsAndAccountsForTheStreamsStepsWithoutTheWarmUps() throws Exception {
    Path report = dir.resolve("report.md");
    CliRun run =
        CliRun.of(
            "demo",
            "--sequences",
            "6",
            "--min-steps",
            "12",
            "--max-steps",
            "24",
            "--chunk",
            "4",
            "--lookahead",
            "4",
            "--left-context",
            "4",
            "--produce-seconds",
            "2",
            "--report",
            report.toString());

    assertThat(run.code()).as(run.out() + run.err()).isZero();
    String text = Files.readString(report);
    assertThat(text)
        .contains("warm-up output written by every pipeline")
        .contains("committed and visible");
    assertThat(dir.resolve("report-latency.png")).exists();

    // Every step accounted for: as many distinct output steps as produced in every mode, none
    // missing or duplicated, no dead letter; the warm-up's outputs would make the count differ.
    Matcher row =
        Pattern.compile(
                "\\| (exact|lookahead|stateful|context) \\| ([\\d,]+) \\| ([\\d,]+) \\|"
                    + " (\\d+) \\| (\\d+) \\| (\\d+) \\| (.*) \\|")
            .matcher(text.substring(text.indexOf("Every step accounted for")));
    List<String> modes = new ArrayList<>();
    while (row.find()) {
      modes.add(row.group(1));
      assertThat(row.group(3)).as(row.group()).isEqualTo(row.group(2));
      assertThat(row.group(4) + row.group(5) + row.group(6)).as(row.group()).isEqualTo("000");
      assertThat(row.group(7)).isEqualTo("none");
    }
    assertThat(modes).containsExactlyInAnyOrder("exact", "lookahead", "stateful", "context");

    // The ideal waits come from the stream's send times alone: stateful waits for its chunk's end,
    // lookahead and context R steps more, exact for the sequence's end.
    double stateful = idealP50(text, "stateful");
    double lookahead = idealP50(text, "lookahead");
    assertThat(idealP50(text, "context")).isEqualTo(lookahead);
    assertThat(stateful).isLessThan(lookahead);
    assertThat(lookahead).isLessThanOrEqualTo(idealP50(text, "exact"));
  }

  /** The ideal p50 column of a mode's row in the latency table. */
  private static double idealP50(String report, String mode) {
    Matcher m =
        Pattern.compile("\\| " + mode + "( \\([^)]*\\))? \\| (\\d+) \\| (\\d+) \\| (\\d+) \\|")
            .matcher(report);
    assertThat(m.find()).as("latency row of " + mode + " in\n" + report).isTrue();
    return Double.parseDouble(m.group(2));
  }
}
