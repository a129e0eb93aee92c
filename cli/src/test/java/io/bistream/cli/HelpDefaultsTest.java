package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** {@code ./bistream <command> --help} shows the default of every option that has one. */
class HelpDefaultsTest {

  @Test
  void everyCommandsHelpShowsTheDefaultOfEveryOptionThatHasOne() {
    CommandLine cli = new CommandLine(new BiStreamCli());
    List<String> missing = new ArrayList<>();
    List<String> twice = new ArrayList<>();
    int checked = 0;
    for (CommandLine command : cli.getSubcommands().values()) {
      String name = command.getCommandName();
      CliRun help = CliRun.of(name, "--help");
      assertThat(help.code()).as(name + " --help").isZero();
      CommandLine.Help rendering = new CommandLine.Help(command.getCommandSpec());
      for (OptionSpec option : command.getCommandSpec().options()) {
        String value = defaultOf(option);
        if (value == null) {
          continue;
        }
        checked++;
        // The option's own lines, as the help lays them out.
        CommandLine.Help.Layout layout = rendering.createDefaultLayout();
        layout.addOption(option, rendering.createDefaultParamLabelRenderer());
        String lines = layout.toString();
        if (!help.out().contains(lines) || !lines.contains("Default: " + value)) {
          missing.add(name + " " + option.longestName() + " (default " + value + ")");
        }
        // Said once: a description that names this default too says it twice.
        String description = String.join(" ", option.description());
        if (description.contains("${DEFAULT-VALUE}")
            || description.toLowerCase(Locale.ROOT).contains("default")
                && description.contains(value)) {
          twice.add(name + " " + option.longestName());
        }
      }
    }
    assertThat(checked).as("options with a default").isGreaterThan(20);
    assertThat(missing).as("options whose help does not show their default").isEmpty();
    assertThat(twice).as("options whose description names the default shown below it").isEmpty();
  }

  /**
   * The default an option shows: its default value, else the field's initial value (a flag's {@code
   * false} is no default worth showing).
   */
  private static String defaultOf(OptionSpec option) {
    if (option.usageHelp() || option.versionHelp()) {
      return null;
    }
    if (option.defaultValue() != null) {
      return option.defaultValue();
    }
    Object initial = option.initialValue();
    if (initial == null || Boolean.FALSE.equals(initial)) {
      return null;
    }
    return option.defaultValueString();
  }
}
