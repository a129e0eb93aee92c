package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import java.io.Serializable;
import java.time.Duration;
import java.util.Map;

/**
 * Everything the job needs besides its source and sink, validated on construction with messages
 * that name the option.
 *
 * @param model model file: a local path or any Flink FileSystem URI
 * @param stream streaming mode, chunk C, lookahead R, max-sequence-steps and overflow policy
 * @param idleTimeout a sequence with no data for this long is ended
 * @param reorderWindow how many steps ahead of the next expected step a record may arrive
 * @param reorderTimeout how long a gap may stay open before the steps after it are dead letters
 * @param batchSize most sequences advanced in one batched engine call
 * @param batchMaxWait longest a ready chunk waits for its batch
 * @param perChunkOutput one output record per chunk ({@code "ys"}) instead of one per step
 * @param binaryFloats output values as base64 little-endian float32 ({@code "y_f32"}, {@code
 *     "ys_f32"}) instead of JSON numbers
 * @param maxIdleTimeout the longest idle timeout a record may ask for its sequence ({@code
 *     "idle_timeout_ms"}); a longer one is refused as a bad record
 * @param endedRetention how long an ended sequence's id is remembered to refuse data after end
 * @param maxRecordBytes longest input record value accepted (longer: an {@code oversize} dead
 *     letter)
 * @param maxStepsPerRecord most steps one input record may carry
 * @param maxSequenceIdBytes longest sequence id accepted, in UTF-8 bytes
 * @param bootstrapServers the input's Kafka bootstrap servers, for the job's own checks of its
 *     input (null in tests without a broker)
 * @param modelVersion the version name of {@code model}, the job's first model ({@code
 *     --model-version}); outputs name it in {@code "model_version"}
 * @param modelTopic the model control topic ({@code --model-topic}), or null: the job serves {@code
 *     model} only (docs/operations.md, "Model upgrades")
 */
public record JobSettings(
    String model,
    StreamConfig stream,
    String inputTopic,
    String outputTopic,
    String deadLetterTopic,
    Duration idleTimeout,
    int reorderWindow,
    Duration reorderTimeout,
    int batchSize,
    Duration batchMaxWait,
    boolean perChunkOutput,
    boolean binaryFloats,
    Duration endedRetention,
    int maxRecordBytes,
    int maxStepsPerRecord,
    int maxSequenceIdBytes,
    String bootstrapServers,
    Map<String, String> kafkaProperties,
    Duration maxIdleTimeout,
    String modelVersion,
    String modelTopic)
    implements Serializable {

  public JobSettings {
    require(model != null && !model.isBlank(), "--model is required");
    require(stream != null, "a streaming mode is required");
    require(inputTopic != null && !inputTopic.isBlank(), "--input-topic is required");
    require(outputTopic != null && !outputTopic.isBlank(), "--output-topic is required");
    require(deadLetterTopic != null && !deadLetterTopic.isBlank(), "--dead-letter-topic is empty");
    require(!idleTimeout.isNegative() && !idleTimeout.isZero(), "--idle-timeout must be positive");
    require(reorderWindow >= 0, "--reorder-window must be >= 0 steps, found " + reorderWindow);
    require(!reorderTimeout.isNegative(), "--reorder-timeout must be >= 0");
    require(batchSize >= 1, "--batch-size must be >= 1, found " + batchSize);
    require(!batchMaxWait.isNegative(), "--batch-max-wait must be >= 0");
    require(
        !endedRetention.isNegative() && !endedRetention.isZero(),
        "--ended-retention must be positive");
    require(maxRecordBytes > 0, "max record bytes must be positive");
    require(maxStepsPerRecord > 0, "max steps per record must be positive");
    require(
        maxSequenceIdBytes > 0,
        "--max-sequence-id-bytes must be positive, found " + maxSequenceIdBytes);
    kafkaProperties = Map.copyOf(kafkaProperties);
    require(
        maxIdleTimeout != null && maxIdleTimeout.compareTo(idleTimeout) >= 0,
        "--max-idle-timeout ("
            + maxIdleTimeout
            + ") must be at least --idle-timeout ("
            + idleTimeout
            + ")");
    require(
        modelVersion != null && !modelVersion.isBlank(),
        "--model-version is empty: it names the model in outputs");
    require(modelTopic == null || !modelTopic.isBlank(), "--model-topic is empty");
  }

  /** The default of {@code --model-version}: the name of the model {@code --model} gives. */
  public static final String DEFAULT_MODEL_VERSION = "initial";

  /** The default of {@code --max-idle-timeout}. */
  public static final Duration DEFAULT_MAX_IDLE_TIMEOUT = Duration.ofHours(24);

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** Defaults for everything but the model, topics and mode. */
  public static JobSettings of(
      String model, StreamConfig stream, String in, String out, String dlq) {
    return new JobSettings(
        model,
        stream,
        in,
        out,
        dlq,
        Duration.ofSeconds(30),
        64,
        Duration.ofSeconds(5),
        64,
        Duration.ofMillis(20),
        false,
        false,
        Duration.ofMinutes(10),
        1 << 20,
        4096,
        1024,
        null,
        Map.of(),
        DEFAULT_MAX_IDLE_TIMEOUT,
        DEFAULT_MODEL_VERSION,
        null);
  }

  /** Every setting; values of secret Kafka properties masked ({@link Secrets}). */
  @Override
  public String toString() {
    return "JobSettings[model="
        + model
        + ", stream="
        + stream
        + ", inputTopic="
        + inputTopic
        + ", outputTopic="
        + outputTopic
        + ", deadLetterTopic="
        + deadLetterTopic
        + ", idleTimeout="
        + idleTimeout
        + ", reorderWindow="
        + reorderWindow
        + ", reorderTimeout="
        + reorderTimeout
        + ", batchSize="
        + batchSize
        + ", batchMaxWait="
        + batchMaxWait
        + ", perChunkOutput="
        + perChunkOutput
        + ", binaryFloats="
        + binaryFloats
        + ", endedRetention="
        + endedRetention
        + ", maxRecordBytes="
        + maxRecordBytes
        + ", maxStepsPerRecord="
        + maxStepsPerRecord
        + ", maxSequenceIdBytes="
        + maxSequenceIdBytes
        + ", bootstrapServers="
        + bootstrapServers
        + ", kafkaProperties="
        + Secrets.mask(kafkaProperties)
        + ", maxIdleTimeout="
        + maxIdleTimeout
        + ", modelVersion="
        + modelVersion
        + ", modelTopic="
        + modelTopic
        + "]";
  }

  public String modeName() {
    return stream.mode().userName();
  }
}
