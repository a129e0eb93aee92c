package io.bistream.job.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Faults on a real session cluster: {@code scripts/session-cluster.sh} with {@code SCENARIO=faults}
 * starts a Kafka broker process, a JobManager and a TaskManager process, runs one job per mode on
 * the same input failure-free, then again under each fault (TaskManager {@code kill -9} and a new
 * TaskManager; broker {@code kill -9} and restart; broker stopped for longer than the jobs' idle
 * timeout while the input's timestamps run on), and compares each run's committed outputs with the
 * failure-free run's (OutputLedger). The script runs once; each fault is its own test.
 *
 * <p>CI size: 6 sequences x 80 steps. Larger: {@code -Dfaults.sequences=50 -Dfaults.steps=400};
 * fewer faults: {@code -Dfaults.list=taskmanager-kill,broker-restart} (the others are skipped);
 * docs/deploy.md.
 */
class SessionClusterFaultsIT {

  private static final List<String> MODES = List.of("exact", "lookahead", "stateful");
  private static final Pattern LINE = Pattern.compile("^FAULT fault=(\\S+) mode=(\\S+) (.*)$");
  private static final Pattern FIELD = Pattern.compile("(\\w+)=(\\S+)");
  private static final List<String> FAULTS =
      List.of(
          System.getProperty("faults.list", "taskmanager-kill,broker-restart,broker-outage")
              .split(","));

  /** fault -> mode -> the fields of its summary line. */
  private static final Map<String, Map<String, Map<String, String>>> SUMMARY =
      new LinkedHashMap<>();

  private static Path log;
  private static int exitStatus;

  @BeforeAll
  static void runTheFaultScenarios() throws Exception {
    // Failsafe runs in flink-job/; the script finds the job jar that `package` built there.
    Path root = Path.of("..").toAbsolutePath().normalize();
    log = Path.of("target", "session-cluster-faults.log").toAbsolutePath();
    ProcessBuilder pb =
        new ProcessBuilder("bash", root.resolve("scripts/session-cluster.sh").toString())
            .directory(root.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    pb.environment().put("SCENARIO", "faults");
    pb.environment().put("SEQUENCES", System.getProperty("faults.sequences", "6"));
    pb.environment().put("STEPS", System.getProperty("faults.steps", "80"));
    pb.environment().put("FAULTS", String.join(" ", FAULTS));
    Process script = pb.start();
    if (!script.waitFor(25, TimeUnit.MINUTES)) {
      // SIGTERM: the script stops the processes it started.
      script.destroy();
      script.waitFor(2, TimeUnit.MINUTES);
      throw new AssertionError("scripts/session-cluster.sh did not finish in 25 min; see " + log);
    }
    exitStatus = script.exitValue();
    List<String> lines = Files.readAllLines(log);
    for (String line : lines) {
      Matcher m = LINE.matcher(line.trim());
      if (m.matches()) {
        Map<String, String> fields = new LinkedHashMap<>();
        Matcher f = FIELD.matcher(m.group(3));
        while (f.find()) {
          fields.put(f.group(1), f.group(2));
        }
        SUMMARY.computeIfAbsent(m.group(1), k -> new LinkedHashMap<>()).put(m.group(2), fields);
        // The lead copies these into docs/operations.md.
        System.out.println(line.trim());
      }
    }
  }

  @Test
  void failureFreeReferenceRunEndsEverySequenceWithAllItsSteps() {
    assertAllModesOk("reference");
    for (String mode : MODES) {
      assertThat(Long.parseLong(SUMMARY.get("reference").get(mode).get("step_outputs")))
          .as("reference %s step outputs", mode)
          .isEqualTo(
              Long.parseLong(System.getProperty("faults.sequences", "6"))
                  * Long.parseLong(System.getProperty("faults.steps", "80")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"taskmanager-kill", "broker-restart", "broker-outage"})
  void committedOutputsMatchTheFailureFreeRunWhenAFaultHitsMidStream(String fault) {
    assumeTrue(FAULTS.contains(fault), fault + " is not in -Dfaults.list");
    assertAllModesOk(fault);
  }

  private static void assertAllModesOk(String fault) {
    assertThat(SUMMARY)
        .as("summary lines of %s in %s (script exit status %d)", fault, log, exitStatus)
        .containsKey(fault);
    List<String> wrong = new ArrayList<>();
    for (String mode : MODES) {
      Map<String, String> fields = SUMMARY.get(fault).get(mode);
      if (fields == null) {
        wrong.add(mode + ": no summary line");
        continue;
      }
      boolean clean =
          "OK".equals(fields.get("result"))
              && List.of("duplicates", "missing", "extra", "differing", "dead_letters").stream()
                  .allMatch(k -> !fields.containsKey(k) || fields.get(k).equals("0"));
      if (!clean) {
        wrong.add(mode + ": " + fields);
      }
    }
    assertThat(wrong).as("%s, per mode (details in %s)", fault, log).isEmpty();
  }
}
