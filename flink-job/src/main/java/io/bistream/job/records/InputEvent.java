package io.bistream.job.records;

import java.util.Arrays;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/**
 * One parsed input record (docs/schemas/input-record.schema.json): {@code steps} consecutive steps
 * of sequence {@code seq} starting at step {@code t}, and/or the end of the sequence; {@code
 * values} holds {@code steps x width} floats. It crosses the shuffle in its own form ({@link
 * InputEventSerializer}), never Kryo; reorder buffers keep it in theirs.
 */
@TypeInfo(InputEventSerializer.Factory.class)
public class InputEvent {

  public String seq;
  public long t;
  public int steps;
  public float[] values;
  public boolean end;

  /**
   * A control record for sequence {@code seq} (docs/operations.md, "Control records and end
   * reasons"), which then carries no step and no {@code t}; null for a record of steps.
   */
  public Control control;

  /**
   * The idle timeout (ms) the record asks for its sequence ({@code "idle_timeout_ms"}), within the
   * job's {@code --max-idle-timeout}; 0 when it asks none (the job's {@code --idle-timeout}).
   */
  public long idleTimeoutMs;

  /** Kafka record timestamp (ms), for event-to-output latency. */
  public long timestamp;

  /**
   * Where the record is, for dead letters: topic, partition, offset. A record travels without its
   * text; a dead letter raised after parsing names where to read it.
   */
  public String topic;

  public int partition;
  public long offset;

  public InputEvent() {}

  /** What a control record asks for its sequence. */
  public enum Control {
    /** Drop what the job holds of the sequence; its next record starts it again at step 0. */
    RESET,
    /** End the sequence now, as if its end marker arrived after the steps taken in so far. */
    FLUSH;

    /** The {@code "control"} value that names it. */
    public String code() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** The control record {@code {"seq":...,"control":...}} (docs/operations.md). */
  public static String controlJson(String seq, Control control) {
    return "{\"seq\":\"" + seq + "\",\"control\":\"" + control.code() + "\"}";
  }

  /** Step {@code i} of this record as a row of {@code width} values. */
  public float[] step(int i, int width) {
    return Arrays.copyOfRange(values, i * width, (i + 1) * width);
  }

  /**
   * The input record (docs/schemas/input-record.schema.json) for {@code count} consecutive steps of
   * {@code seq} from step {@code t}: rows {@code [from, from + count)} of {@code x} (rows of {@code
   * width} values), with {@code "end": true} when they are the sequence's last. What the demo and
   * the benchmarks produce.
   */
  public static String json(
      String seq, long t, float[] x, int from, int count, int width, boolean end) {
    StringBuilder b = new StringBuilder("{\"seq\":\"" + seq + "\",\"t\":" + t + ",\"xs\":[");
    for (int i = 0; i < count; i++) {
      int at = (from + i) * width;
      b.append(i == 0 ? "" : ",").append(Arrays.toString(Arrays.copyOfRange(x, at, at + width)));
    }
    return b.append(end ? "],\"end\":true}" : "]}").toString();
  }

  /** As {@link #json} with the steps as {@code "xs_f32"}: base64 of little-endian float32. */
  public static String binaryJson(
      String seq, long t, float[] x, int from, int count, int width, boolean end) {
    String xs = Float32.base64(x, from * width, count * width);
    return "{\"seq\":\""
        + seq
        + "\",\"t\":"
        + t
        + ",\"xs_f32\":\""
        + xs
        + (end ? "\",\"end\":true}" : "\"}");
  }

  @Override
  public String toString() {
    if (control != null) {
      return "InputEvent{" + seq + " control=" + control.code() + "}";
    }
    return "InputEvent{" + seq + " t=" + t + " steps=" + steps + (end ? " end" : "") + "}";
  }
}
