package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

/**
 * The job's command-line options, shared by {@code ./bistream run} and the main class a cluster
 * runs ({@code flink run ... io.bistream.job.BiStreamJobMain}).
 */
public final class JobOptions {

  /**
   * Defaults of options the CLI's {@code local} (the same job on an embedded broker) offers too,
   * for its option annotations to share.
   */
  public static final String DEFAULT_MODE = "exact";

  public static final String DEFAULT_CHUNK = "32";
  public static final String DEFAULT_LOOKAHEAD = "32";
  public static final String DEFAULT_LEFT_CONTEXT = "0";
  public static final String DEFAULT_PARALLELISM = "1";

  /** What the sink promises: {@code --delivery}. */
  public enum Delivery {
    /** Outputs leave in Kafka transactions committed at each checkpoint. */
    EXACTLY_ONCE("exactly-once"),
    /** Outputs leave as soon as they are written; after a failure some are written again. */
    AT_LEAST_ONCE("at-least-once");

    private final String label;

    Delivery(String label) {
      this.label = label;
    }

    @Override
    public String toString() {
      return label;
    }
  }

  /** Exact mode's overflow policies as users type them. */
  public enum Overflow {
    reject,
    degrade
  }

  @Option(names = "--bootstrap-servers", required = true, description = "Kafka bootstrap servers")
  public String bootstrapServers;

  @Option(
      names = "--input-topic",
      required = true,
      description = "input topic (records: docs/schemas/)")
  public String inputTopic;

  @Option(names = "--output-topic", required = true, description = "output topic")
  public String outputTopic;

  @Option(
      names = "--dead-letter-topic",
      description = "dead-letter topic (default: <input-topic>-dead-letters)")
  public String deadLetterTopic;

  @Option(names = "--model", required = true, description = "model file or Flink FileSystem URI")
  public String model;

  @Option(
      names = "--model-version",
      defaultValue = JobSettings.DEFAULT_MODEL_VERSION,
      description = "the version name of --model, shown in every output's \"model_version\"")
  public String modelVersion = JobSettings.DEFAULT_MODEL_VERSION;

  @Option(
      names = "--model-topic",
      description =
          "model control topic: records {\"model\":URI,\"version\":V} switch new sequences to"
              + " that model while running; open sequences finish on theirs (docs/operations.md,"
              + " \"Model upgrades\")")
  public String modelTopic;

  @Option(
      names = "--mode",
      defaultValue = DEFAULT_MODE,
      converter = ModeConverter.class,
      completionCandidates = ModeNames.class,
      description = "${COMPLETION-CANDIDATES}")
  public StreamConfig.Mode mode;

  @Option(names = "--chunk", defaultValue = DEFAULT_CHUNK, description = "chunk length C (steps)")
  public int chunk;

  @Option(
      names = {"--lookahead", "--right-context"},
      defaultValue = DEFAULT_LOOKAHEAD,
      description = "R: future steps a chunk's window reaches (lookahead and context modes)")
  public int lookahead;

  @Option(
      names = "--left-context",
      defaultValue = DEFAULT_LEFT_CONTEXT,
      description = "L: past steps a chunk's window reaches (context mode)")
  public int leftContext;

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

  @Option(
      names = "--parallelism",
      defaultValue = DEFAULT_PARALLELISM,
      description = "job parallelism")
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

  @Option(
      names = "--max-idle-timeout",
      defaultValue = "24h",
      converter = DurationConverter.class,
      description =
          "the longest idle timeout a record may ask for its sequence (\"idle_timeout_ms\");"
              + " a record asking more is a bad_record dead letter")
  public Duration maxIdleTimeout = JobSettings.DEFAULT_MAX_IDLE_TIMEOUT;

  @Option(names = "--reorder-window", defaultValue = "64", description = "steps")
  public int reorderWindow;

  @Option(
      names = "--reorder-timeout",
      defaultValue = "5s",
      converter = DurationConverter.class,
      description = "how long a gap may stay open")
  public Duration reorderTimeout;

  @Option(
      names = "--ended-retention",
      defaultValue = "10m",
      converter = DurationConverter.class,
      description =
          "how long an ended sequence id is remembered, to refuse its later records as dead"
              + " letters (~40 bytes of state per id)")
  public Duration endedRetention = Duration.ofMinutes(10);

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
      names = "--start-from",
      defaultValue = "committed",
      description =
          "where a job started without state reads its input: committed (the consumer group's"
              + " offsets, committed at each checkpoint; earliest when none), earliest, latest, or"
              + " an ISO-8601 instant such as 2026-12-04T10:15:30Z")
  public String startFrom = "committed";

  @Option(
      names = "--restore",
      description =
          "start from a retained checkpoint or savepoint: latest (the newest complete checkpoint"
              + " of this pipeline under --checkpoint-dir; none: start without state) or a path to"
              + " a chk-N or savepoint directory")
  public String restore;

  @Option(
      names = "--max-parallelism",
      defaultValue = "128",
      description =
          "key groups: the highest parallelism the job can be rescaled to from a checkpoint or"
              + " savepoint; keep it fixed for the life of the state")
  public int maxParallelism = 128;

  @Option(
      names = "--transaction-timeout",
      defaultValue = "15m",
      converter = DurationConverter.class,
      description = "Kafka transaction timeout; must not exceed the broker's maximum")
  public Duration transactionTimeout;

  @Option(
      names = "--delivery",
      defaultValue = "exactly-once",
      converter = DeliveryConverter.class,
      description =
          "exactly-once: outputs leave in Kafka transactions committed at each checkpoint (read"
              + " them with isolation.level=read_committed; they become visible at the next"
              + " checkpoint); at-least-once: outputs are visible as soon as they are written, and"
              + " after a failure some are written again (consumers keep the last output per seq"
              + " and t)")
  public Delivery delivery = Delivery.EXACTLY_ONCE;

  @Option(
      names = "--buffer-timeout",
      defaultValue = "5ms",
      converter = DurationConverter.class,
      description =
          "longest a partly filled network buffer waits before Flink sends it on (Flink's own"
              + " default is 100ms): lower cuts latency at low load, 0ms sends every record at"
              + " once")
  public Duration bufferTimeout = Duration.ofMillis(5);

  /** The validated settings of the keyed pipeline. */
  public JobSettings settings() {
    StreamConfig stream =
        new StreamConfig(
            mode,
            chunk,
            lookahead,
            maxSequenceSteps,
            overflow == Overflow.degrade
                ? StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD
                : StreamConfig.Overflow.REJECT,
            leftContext);
    return new JobSettings(
        model,
        stream,
        inputTopic,
        outputTopic,
        deadLetterTopic != null ? deadLetterTopic : defaultDeadLetterTopic(inputTopic),
        idleTimeout,
        reorderWindow,
        reorderTimeout,
        batchSize,
        batchMaxWait,
        perChunkOutput,
        binaryFloats,
        endedRetention,
        1 << 20,
        4096,
        maxSequenceIdBytes,
        bootstrapServers,
        kafkaProperties,
        maxIdleTimeout,
        modelVersion,
        modelTopic);
  }

  /** Flink configuration: checkpoints on, exactly once, no Kryo fallback, chosen backend. */
  public StreamExecutionEnvironment environment() {
    return environment(restoreFrom());
  }

  /** As {@link #environment()}, restoring {@code from} (resolved by {@link #restoreFrom()}). */
  public StreamExecutionEnvironment environment(Restore from) {
    Configuration conf = new Configuration();
    conf.setString("pipeline.generic-types", "false");
    if (!stateBackend.equals("hashmap") && !stateBackend.equals("rocksdb")) {
      throw new IllegalArgumentException(
          "--state-backend must be hashmap or rocksdb, found '" + stateBackend + "'");
    }
    conf.setString("state.backend.type", stateBackend);
    // RocksDB checkpoints write only what changed: exact mode's steps are appended, never
    // rewritten (docs/operations.md, "State"). The hashmap backend ignores it.
    conf.setString("execution.checkpointing.incremental", "true");
    if (maxParallelism < parallelism || maxParallelism > 32768) {
      throw new IllegalArgumentException(
          "--max-parallelism must be between --parallelism ("
              + parallelism
              + ") and 32768, found "
              + maxParallelism);
    }
    startingOffsets(); // validates --start-from before anything starts
    if (checkpointDir != null) {
      conf.setString("execution.checkpointing.dir", checkpointStorage().toString());
    }
    // Kept after a crash or a cancel, so a new job can start from them (--restore).
    conf.setString(
        "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
    conf.setString("pipeline.max-parallelism", String.valueOf(maxParallelism));
    if (from.path() != null) {
      conf.setString("execution.state-recovery.path", from.path().toString());
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(parallelism);
    env.enableCheckpointing(checkpointInterval.toMillis(), CheckpointingMode.EXACTLY_ONCE);
    env.setBufferTimeout(bufferTimeout.toMillis());
    return env;
  }

  /**
   * Where this pipeline's checkpoints go: a directory under {@code --checkpoint-dir} named from its
   * input and output topics, so that {@code --restore latest} only ever finds checkpoints of the
   * same pipeline (Flink adds a directory per job id below it).
   */
  public Path checkpointStorage() {
    if (checkpointDir == null) {
      throw new IllegalArgumentException("--checkpoint-dir is required for checkpoint storage");
    }
    return new Path(new Path(checkpointDir), pipelineDirectory());
  }

  /** The checkpoint subdirectory of this pipeline: its topics, in file-name-safe characters. */
  String pipelineDirectory() {
    return ("bistream-" + inputTopic + "--" + outputTopic).replaceAll("[^A-Za-z0-9._-]", "_");
  }

  /**
   * What {@code --restore} resolves to, checked before the job starts: a checkpoint or savepoint
   * directory with its {@code _metadata}, or none.
   *
   * @throws IllegalArgumentException a path that does not exist or holds no {@code _metadata}, or
   *     {@code latest} without {@code --checkpoint-dir}
   */
  public Restore restoreFrom() {
    if (restore == null || restore.isBlank()) {
      return new Restore(null, "no --restore: starting without state");
    }
    try {
      if (restore.equals("latest")) {
        if (checkpointDir == null) {
          throw new IllegalArgumentException(
              "--restore latest needs --checkpoint-dir: the directory the crashed job checkpointed"
                  + " to");
        }
        Path latest = Checkpoints.latest(checkpointStorage());
        return latest == null
            ? new Restore(
                null,
                "--restore latest: no complete checkpoint under "
                    + checkpointStorage()
                    + "; starting without state")
            : new Restore(latest, "restoring from the newest complete checkpoint " + latest);
      }
      Path path = new Path(restore);
      Checkpoints.requireComplete(path);
      return new Restore(path, "restoring from " + path);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "--restore " + restore + ": could not read the checkpoint storage: " + e.getMessage(), e);
    }
  }

  /**
   * A resolved {@code --restore}.
   *
   * @param path the checkpoint or savepoint directory to restore, or null: start without state
   * @param description what the job starts from, for the log and the console
   */
  public record Restore(Path path, String description) {}

  /** The Kafka source's starting offsets for a job without state, from {@code --start-from}. */
  public OffsetsInitializer startingOffsets() {
    String s = startFrom == null ? "committed" : startFrom.trim();
    switch (s) {
      case "committed":
        return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
      case "earliest":
        return OffsetsInitializer.earliest();
      case "latest":
        return OffsetsInitializer.latest();
      default:
        try {
          return OffsetsInitializer.timestamp(Instant.parse(s).toEpochMilli());
        } catch (DateTimeParseException e) {
          throw new IllegalArgumentException(
              "--start-from must be earliest, committed, latest or an ISO-8601 instant such as"
                  + " 2026-12-04T10:15:30Z, found '"
                  + startFrom
                  + "'");
        }
    }
  }

  /** Accepts exactly-once or at-least-once. */
  public static final class DeliveryConverter implements ITypeConverter<Delivery> {
    @Override
    public Delivery convert(String value) {
      for (Delivery d : Delivery.values()) {
        if (d.label.equals(value.trim().toLowerCase(Locale.ROOT))) {
          return d;
        }
      }
      throw new IllegalArgumentException(
          "--delivery must be exactly-once or at-least-once, found '" + value + "'");
    }
  }

  /** The dead-letter topic of an input topic when none is named: {@code <input>-dead-letters}. */
  public static String defaultDeadLetterTopic(String inputTopic) {
    return inputTopic + "-dead-letters";
  }

  /**
   * Options as the command line gives them, every option not in {@code args} at its default.
   *
   * @throws picocli.CommandLine.ParameterException naming a bad or missing option
   */
  public static JobOptions parse(String... args) {
    JobOptions o = new JobOptions();
    new picocli.CommandLine(o).parseArgs(args);
    return o;
  }

  /** A streaming mode by the name users type ({@link StreamConfig.Mode#userName}). */
  public static final class ModeConverter implements ITypeConverter<StreamConfig.Mode> {
    @Override
    public StreamConfig.Mode convert(String value) {
      try {
        return StreamConfig.Mode.named(value);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** The streaming modes' names, for help ({@code ${COMPLETION-CANDIDATES}}) and completion. */
  public static final class ModeNames implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return StreamConfig.Mode.userNames().iterator();
    }
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
