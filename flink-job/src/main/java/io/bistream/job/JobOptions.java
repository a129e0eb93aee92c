package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

/**
 * The job's command-line options, shared by {@code ./bistream run} and the main class a cluster
 * runs ({@code flink run ... io.bistream.job.BiStreamJobMain}).
 */
public final class JobOptions {

  /** Streaming modes as users type them. */
  public enum Mode {
    exact,
    lookahead,
    stateful
  }

  /** Exact mode's overflow policies as users type them. */
  public enum Overflow {
    reject,
    degrade
  }

  @Option(names = "--bootstrap-servers", required = true, description = "Kafka bootstrap servers")
  public String bootstrapServers;

  @Option(names = "--input-topic", required = true, description = "input topic (DESIGN §5)")
  public String inputTopic;

  @Option(names = "--output-topic", required = true, description = "output topic")
  public String outputTopic;

  @Option(
      names = "--dead-letter-topic",
      description = "dead-letter topic (default: <input-topic>-dead-letters)")
  public String deadLetterTopic;

  @Option(names = "--model", required = true, description = "model file or Flink FileSystem URI")
  public String model;

  @Option(names = "--mode", defaultValue = "exact", description = "exact, lookahead or stateful")
  public Mode mode;

  @Option(names = "--chunk", defaultValue = "32", description = "chunk length C (steps)")
  public int chunk;

  @Option(names = "--lookahead", defaultValue = "32", description = "lookahead R (steps)")
  public int lookahead;

  @Option(
      names = "--max-sequence-steps",
      defaultValue = "100000",
      description = "most steps exact mode buffers per sequence")
  public long maxSequenceSteps;

  @Option(
      names = "--overflow",
      defaultValue = "reject",
      description = "beyond max-sequence-steps: reject (dead letter) or degrade (to lookahead)")
  public Overflow overflow;

  @Option(
      names = "--max-sequence-id-bytes",
      defaultValue = "1024",
      description = "longest sequence id accepted, in UTF-8 bytes (longer: a dead letter)")
  public int maxSequenceIdBytes;

  @Option(names = "--parallelism", defaultValue = "1", description = "job parallelism")
  public int parallelism;

  @Option(
      names = "--kafka-property",
      description =
          "Kafka client property k=v for the source, the sink and dead letters (SASL, SSL,"
              + " ...); values of secret keys are masked in logs")
  public Map<String, String> kafkaProperties = new LinkedHashMap<>();

  @Option(
      names = "--idle-timeout",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "end a sequence with no data for this long (e.g. 30s, 500ms, 5m)")
  public Duration idleTimeout;

  @Option(names = "--reorder-window", defaultValue = "64", description = "steps")
  public int reorderWindow;

  @Option(
      names = "--reorder-timeout",
      defaultValue = "5s",
      converter = DurationConverter.class,
      description = "how long a gap may stay open")
  public Duration reorderTimeout;

  @Option(names = "--batch-size", defaultValue = "64", description = "sequences per engine call")
  public int batchSize;

  @Option(
      names = "--batch-max-wait",
      defaultValue = "20ms",
      converter = DurationConverter.class,
      description = "longest a ready chunk waits for its batch")
  public Duration batchMaxWait;

  @Option(names = "--per-chunk-output", description = "one output record per chunk (\"ys\")")
  public boolean perChunkOutput;

  @Option(
      names = "--binary-floats",
      description =
          "output values as base64 of little-endian float32 (\"y_f32\", \"ys_f32\"): the exact"
              + " bits, half the bytes, no float formatting")
  public boolean binaryFloats;

  @Option(
      names = "--checkpoint-interval",
      defaultValue = "2s",
      converter = DurationConverter.class,
      description = "checkpoint (and output commit) interval")
  public Duration checkpointInterval;

  @Option(names = "--state-backend", defaultValue = "hashmap", description = "hashmap or rocksdb")
  public String stateBackend;

  @Option(
      names = "--checkpoint-dir",
      description =
          "checkpoint storage URI (default: the Flink configuration's, else JobManager memory,"
              + " limited to 5 MB of state)")
  public String checkpointDir;

  @Option(
      names = "--transaction-timeout",
      defaultValue = "15m",
      converter = DurationConverter.class,
      description = "Kafka transaction timeout; must not exceed the broker's maximum")
  public Duration transactionTimeout;

  /** The validated settings of the keyed pipeline. */
  public JobSettings settings() {
    StreamConfig stream =
        new StreamConfig(
            StreamConfig.Mode.valueOf(mode.name().toUpperCase(Locale.ROOT)),
            chunk,
            lookahead,
            maxSequenceSteps,
            overflow == Overflow.degrade
                ? StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD
                : StreamConfig.Overflow.REJECT);
    return new JobSettings(
        model,
        stream,
        inputTopic,
        outputTopic,
        deadLetterTopic != null ? deadLetterTopic : inputTopic + "-dead-letters",
        idleTimeout,
        reorderWindow,
        reorderTimeout,
        batchSize,
        batchMaxWait,
        perChunkOutput,
        binaryFloats,
        Duration.ofMinutes(10),
        1 << 20,
        4096,
        maxSequenceIdBytes,
        bootstrapServers,
        kafkaProperties);
  }

  /** Flink configuration: checkpoints on, exactly once, no Kryo fallback, chosen backend. */
  public StreamExecutionEnvironment environment() {
    Configuration conf = new Configuration();
    conf.setString("pipeline.generic-types", "false");
    if (!stateBackend.equals("hashmap") && !stateBackend.equals("rocksdb")) {
      throw new IllegalArgumentException(
          "--state-backend must be hashmap or rocksdb, found '" + stateBackend + "'");
    }
    conf.setString("state.backend.type", stateBackend);
    if (checkpointDir != null) {
      conf.setString("execution.checkpointing.dir", checkpointDir);
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(parallelism);
    env.enableCheckpointing(checkpointInterval.toMillis(), CheckpointingMode.EXACTLY_ONCE);
    return env;
  }

  /** Accepts 30s, 500ms, 5m, 1h, or an ISO-8601 duration (PT30S). */
  public static final class DurationConverter implements ITypeConverter<Duration> {
    private static final Pattern SIMPLE = Pattern.compile("(\\d+)\\s*(ms|s|m|h)");

    @Override
    public Duration convert(String value) {
      Matcher m = SIMPLE.matcher(value.trim().toLowerCase(Locale.ROOT));
      if (m.matches()) {
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          default -> Duration.ofHours(n);
        };
      }
      try {
        return Duration.parse(value);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException(
            "'" + value + "' is not a duration; expected e.g. 30s, 500ms, 5m or PT30S");
      }
    }
  }
}
