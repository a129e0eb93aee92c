package io.bistream.cli;

import io.bistream.job.JobOptions;
import io.bistream.job.local.EmbeddedKafka;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kafka}: a local Kafka broker (the embedded KRaft one of {@code demo} and {@code local}) on
 * a fixed port, for trying {@code run} with one's own producers and consumers. Runs until Ctrl-C; a
 * shutdown hook closes the broker, which deletes its data.
 */
@Command(
    name = "kafka",
    description = {
      "A local Kafka broker (KRaft, in this JVM) for trying run with your own producers and",
      "consumers. Creates the topics, prints the bootstrap address and a run command to paste,",
      "and runs until Ctrl-C, which stops it and deletes its data. Other topics are created at",
      "their first use."
    })
final class KafkaCommand implements Callable<Integer> {

  @Option(names = "--port", defaultValue = "9092", description = "port on localhost for clients")
  int port;

  @Option(
      names = "--topics",
      split = ",",
      paramLabel = "T",
      defaultValue = "bistream-in,bistream-out",
      description = "topics to create at start: input, output, ...")
  List<String> topics;

  @Option(
      names = "--partitions",
      defaultValue = "2",
      description = "partitions of each topic, also of those created at their first use")
  int partitions;

  @Override
  public Integer call() throws Exception {
    if (partitions < 1) {
      throw new IllegalArgumentException("--partitions must be at least 1, found " + partitions);
    }
    EmbeddedKafka kafka;
    try {
      kafka =
          EmbeddedKafka.start(
              null,
              port,
              // As a broker of one's own usually is (Kafka's default): a producer's first write
              // creates its topic.
              Map.of(
                  "auto.create.topics.enable",
                  "true",
                  "num.partitions",
                  String.valueOf(partitions)));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + " (--port)", e);
    }
    CountDownLatch stopped = new CountDownLatch(1);
    PrintStream out = System.out;
    // Ctrl-C (SIGINT) and kill (SIGTERM) run shutdown hooks: the broker closes cleanly and its
    // data directory goes.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    kafka.close();
                    out.println("bistream kafka: stopped; its data is deleted");
                  } catch (Exception e) {
                    out.println("bistream kafka: stopping failed: " + e);
                  } finally {
                    stopped.countDown();
                  }
                },
                "bistream-kafka-stop"));
    kafka.createTopics(partitions, topics.toArray(String[]::new));
    out.println(usage(kafka.bootstrapServers(), demoModel()));
    out.flush();
    stopped.await();
    return 0;
  }

  /** What the user pastes next, with this broker's address and topics. */
  private String usage(String servers, Path model) {
    String in = topics.get(0);
    String outTopic = topics.size() > 1 ? topics.get(1) : "bistream-out";
    return String.join(
        "\n",
        "bistream kafka: a Kafka broker at " + servers + " (bootstrap servers)",
        "  topics: "
            + String.join(", ", topics)
            + " ("
            + partitions
            + " partitions each; others are created at their first use)",
        "",
        "  Run the job on it (another terminal; the demo model takes 4 values per step):",
        "    ./bistream run --bootstrap-servers "
            + servers
            + " --input-topic "
            + in
            + " --output-topic "
            + outTopic
            + " --model "
            + model
            + " --mode lookahead --chunk 4 --lookahead 4 --idle-timeout 10s",
        "  Produce input (key = sequence id), e.g. with kcat:",
        "    printf 's1\\t{\"seq\":\"s1\",\"t\":0,\"x\":[0.1,0.5,-0.1,0.1]}\\n"
            + "s1\\t{\"seq\":\"s1\",\"t\":1,\"end\":true}\\n' | kcat -P -b "
            + servers
            + " -t "
            + in
            + " -K '\\t'",
        "  Read the committed output (docs/operations.md, \"Reading the output with librdkafka\"):",
        "    kcat -C -b "
            + servers
            + " -t "
            + outTopic
            + " -X isolation.level=read_committed -f '%k %s\\n'",
        "    (dead letters: topic "
            + JobOptions.defaultDeadLetterTopic(in)
            + " unless run is given --dead-letter-topic)",
        "",
        "  Ctrl-C stops the broker and deletes its data.");
  }

  /** The demo model, copied out of the jar for as long as this broker runs. */
  private static Path demoModel() throws java.io.IOException {
    return BundledFiles.unpack("/demo", List.of("model.json", "weights.bin")).resolve("model.json");
  }
}
