package io.bistream.job;

import io.bistream.job.records.ParsedRecord;
import io.bistream.job.records.RecordParser;
import java.util.concurrent.Callable;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The job's main class: {@code ./bistream run ...} runs it on a local MiniCluster, and {@code flink
 * run -c io.bistream.job.BiStreamJobMain bistream-job.jar ...} submits the same to a cluster. Only
 * wiring: options to settings, Kafka source and sink, {@link BiStreamJob}.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = "Runs the BiStream job against a real Kafka (local MiniCluster or cluster).")
public final class BiStreamJobMain implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(BiStreamJobMain.class);

  @Mixin JobOptions options;

  @Option(
      names = "--skip-topic-check",
      description =
          "submit without first checking that the topics exist or will be created (for a client"
              + " that cannot reach Kafka)")
  boolean skipTopicCheck;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the job's command line and returns the exit code (tests call this instead of main). */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new BiStreamJobMain());
    // As ./bistream run: a bad option value (--restore, --start-from) or a missing topic is one
    // line, no stack trace.
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          if (!(e instanceof IllegalArgumentException || e instanceof TopicCheck.TopicsNotReady)) {
            throw e;
          }
          commandLine.getErr().println("error: " + e.getMessage());
          return 2;
        });
    return cli.execute(args);
  }

  @Override
  public Integer call() throws Exception {
    options.startingOffsets(); // a bad --start-from is refused before anything is said or started
    JobOptions.Restore from = options.restoreFrom();
    // On the console too: whoever restarts a crashed job sees at once whether state came back.
    System.out.println("bistream run: " + from.description());
    LOG.info("{}", from.description());
    if (from.path() == null) {
      System.out.println(
          "bistream run: input from "
              + (options.startFrom == null ? "committed" : options.startFrom)
              + (options.startFrom == null || options.startFrom.equals("committed")
                  ? " offsets of consumer group " + BiStreamJob.groupId(options.settings())
                  : "")
              + " (--start-from)");
    }
    StreamExecutionEnvironment env = options.environment(from);
    if (env.getConfiguration().getOptional(CheckpointingOptions.CHECKPOINTS_DIRECTORY).isEmpty()) {
      LOG.warn(
          "No checkpoint directory (--checkpoint-dir, or execution.checkpointing.dir in the Flink"
              + " configuration): checkpoints go to JobManager memory, which refuses any state"
              + " over 5 MB; exact mode passes that with a few dozen long sequences, and every"
              + " checkpoint then fails and restarts the job.");
    }
    JobSettings settings = build(options, env);
    if (!skipTopicCheck) {
      // Before submitting: a missing topic is one line now, not a job failing a minute later.
      String found =
          new TopicCheck(
                  options.bootstrapServers, settings.kafkaProperties(), TopicCheck.DEFAULT_TIMEOUT)
              .check(settings);
      System.out.println("bistream run: topics on " + options.bootstrapServers + ": " + found);
      LOG.info("topics on {}: {}", options.bootstrapServers, found);
    }
    env.execute("bistream " + options.inputTopic + " -> " + options.outputTopic);
    return 0;
  }

  /** Adds the job for {@code o} to {@code env}; validates the model on the client first. */
  public static JobSettings build(JobOptions o, StreamExecutionEnvironment env) throws Exception {
    return build(o, env, null);
  }

  /** As {@link #build(JobOptions, StreamExecutionEnvironment)} with a tap (tests). */
  public static JobSettings build(
      JobOptions o,
      StreamExecutionEnvironment env,
      org.apache.flink.api.common.functions.MapFunction<
              io.bistream.job.records.InputEvent, io.bistream.job.records.InputEvent>
          tap)
      throws Exception {
    JobSettings s = o.settings();
    // Secret --kafka-property values are masked by JobSettings#toString.
    LOG.info("BiStream pipeline {} -> {}: {}", s.inputTopic(), s.outputTopic(), s);
    RecordParser parser = RecordParser.forJob(s, ModelCache.get(s.model()));
    Source<ParsedRecord, ?, ?> source =
        BiStreamJob.kafkaSource(o.bootstrapServers, s, parser, o.startingOffsets());
    String prefix = "bistream-" + s.inputTopic() + "-" + s.outputTopic();
    new BiStreamJob(
            source,
            BiStreamJob.kafkaSink(
                o.bootstrapServers, s.kafkaProperties(), prefix, o.transactionTimeout, o.delivery),
            // Transactional ids are <prefix>-<subtask>-<n>: this prefix never names the other's.
            BiStreamJob.kafkaSink(
                o.bootstrapServers,
                s.kafkaProperties(),
                prefix + "-parse-dead-letters",
                o.transactionTimeout,
                o.delivery),
            s)
        .withTap(tap)
        .withModelUpdates(
            s.modelTopic() == null ? null : BiStreamJob.modelSource(o.bootstrapServers, s))
        .build(env);
    return s;
  }
}
