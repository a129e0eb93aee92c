package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** Which commands send library logging to a file of their own: those that start Flink or Kafka. */
class LogsTest {

  @ParameterizedTest
  @CsvSource({
    "demo, true",
    "local --model m --input-file i --output-file o, true",
    "run --bootstrap-servers b --input-topic i --output-topic o --model m, true",
    "bench --pipeline, true",
    "kafka --port 9092, true",
    "state --savepoint p, true",
    "bench --quick, false",
    "bench --kernels, false",
    "predict --model m --input i --output o, false",
    "inspect --model m, false",
    "demo --help, false",
    "local -h, false"
  })
  void commandsThatStartFlinkOrKafkaLogToAFile(String args, boolean toFile) {
    CommandLine.ParseResult parsed = new CommandLine(new BiStreamCli()).parseArgs(args.split(" "));

    assertThat(Logs.startsFlinkOrKafka(parsed.subcommand())).as(args).isEqualTo(toFile);
  }
}
