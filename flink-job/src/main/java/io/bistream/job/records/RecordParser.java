package io.bistream.job.records;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamingEngine;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Parses and validates input records (DESIGN.md §5). Valid records become an {@link InputEvent};
 * anything else becomes a dead-letter JSON naming the reason: the caller never sees an exception.
 *
 * <pre>
 * {"seq":"s-17","t":1042,"x":[0.1,0.2]}          one step
 * {"seq":"s-17","t":1043,"xs":[[...],[...]]}     consecutive steps from t
 * {"seq":"s-17","t":1045,"end":true}             end of sequence (may carry x/xs)
 * {"seq":"s-17","t":1043,"xs_f32":"zczMPc3MTD4="} steps as base64 little-endian float32
 * </pre>
 */
public final class RecordParser implements Serializable {

  private static final long serialVersionUID = 1L;
  // NaN/Infinity literals parse, so they are reported as not finite rather than as bad JSON.
  private static final ObjectMapper JSON =
      JsonMapper.builder()
          .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
          .build();

  private final int width;
  private final int maxRecordBytes;
  private final int maxStepsPerRecord;

  /**
   * @param width values per step the model takes (1 for token ids)
   */
  public RecordParser(int width, int maxRecordBytes, int maxStepsPerRecord) {
    this.width = width;
    this.maxRecordBytes = maxRecordBytes;
    this.maxStepsPerRecord = maxStepsPerRecord;
  }

  /**
   * The parser for a job's input: the model's input facts (width; token ids) and the job's limits.
   */
  public static RecordParser forJob(io.bistream.job.JobSettings settings, Model model) {
    int width = new StreamingEngine(model, settings.stream()).inputWidth();
    return new RecordParser(width, settings.maxRecordBytes(), settings.maxStepsPerRecord());
  }

  /** A parse result: exactly one of {@code event} and {@code deadLetter} is set. */
  public record Result(InputEvent event, String deadLetter, DeadLetter.Reason reason) {}

  public Result parse(byte[] key, byte[] value, String topic, int partition, long offset, long ts) {
    String text = value == null ? "" : new String(value, StandardCharsets.UTF_8);
    Origin at = new Origin(topic, partition, offset, ts, text);
    String keyText = key == null ? null : new String(key, StandardCharsets.UTF_8);
    if (value != null && value.length > maxRecordBytes) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "record has " + value.length + " bytes, the limit is " + maxRecordBytes,
          keyText);
    }
    JsonNode n;
    try {
      n = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      return at.dead(DeadLetter.Reason.BAD_JSON, e.getOriginalMessage(), keyText);
    }
    if (n == null || !n.isObject()) {
      return at.dead(DeadLetter.Reason.BAD_JSON, "expected a JSON object", keyText);
    }
    JsonNode seqNode = n.get("seq");
    String seq = seqNode != null && seqNode.isTextual() ? seqNode.asText() : keyText;
    if (seq == null || seq.isEmpty()) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD, "no sequence id: expected \"seq\" or a record key", null);
    }
    if (keyText != null && !keyText.equals(seq)) {
      return at.dead(
          DeadLetter.Reason.KEY_MISMATCH,
          "record key '" + keyText + "' differs from \"seq\" '" + seq + "'",
          seq);
    }
    JsonNode tNode = n.get("t");
    if (tNode == null || !tNode.canConvertToExactIntegral() || tNode.asLong() < 0) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD, "expected \"t\" as a step index >= 0, found " + tNode, seq);
    }
    boolean end = n.path("end").asBoolean(false);
    JsonNode x = n.get("x");
    JsonNode xs = n.get("xs");
    JsonNode xsF32 = n.get("xs_f32");
    if ((x != null ? 1 : 0) + (xs != null ? 1 : 0) + (xsF32 != null ? 1 : 0) > 1) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "record has more than one of \"x\", \"xs\" and \"xs_f32\"",
          seq);
    }
    if (xsF32 != null) {
      return binarySteps(xsF32, seq, tNode.asLong(), end, at);
    }
    int steps = x != null ? 1 : xs != null ? xs.size() : 0;
    if (xs != null && !xs.isArray()) {
      return at.dead(DeadLetter.Reason.BAD_RECORD, "\"xs\" must be an array of steps", seq);
    }
    Result counted = stepCount(steps, end, seq, at);
    if (counted != null) {
      return counted;
    }
    float[] values = new float[steps * width];
    for (int s = 0; s < steps; s++) {
      JsonNode row = x != null ? x : xs.get(s);
      if (!row.isArray() || row.size() != width) {
        return at.dead(
            DeadLetter.Reason.WRONG_WIDTH,
            "step "
                + (tNode.asLong() + s)
                + " has "
                + (row.isArray() ? row.size() + " values" : row)
                + ", the model takes "
                + width,
            seq);
      }
      for (int j = 0; j < width; j++) {
        JsonNode v = row.get(j);
        if (!v.isNumber()) {
          return at.dead(
              DeadLetter.Reason.BAD_RECORD,
              "step " + (tNode.asLong() + s) + " value " + j + " is not a number: " + v,
              seq);
        }
        float f = (float) v.asDouble();
        if (!Float.isFinite(f)) {
          return at.dead(
              DeadLetter.Reason.NOT_FINITE,
              "step "
                  + (tNode.asLong() + s)
                  + " value "
                  + j
                  + " is "
                  + v
                  + " (not finite in float32)",
              seq);
        }
        values[s * width + j] = f;
      }
    }
    return at.event(seq, tNode.asLong(), steps, values, end);
  }

  /**
   * Steps given as {@code "xs_f32"}: base64 of little-endian float32, {@code width} values per
   * step, step after step; exact bits, and no decimal parsing.
   */
  private Result binarySteps(JsonNode xsF32, String seq, long t, boolean end, Origin at) {
    byte[] raw = null;
    String problem = null;
    if (!xsF32.isTextual()) {
      problem = "\"xs_f32\" must be a base64 string of little-endian float32, found " + xsF32;
    } else {
      try {
        raw = Base64.getDecoder().decode(xsF32.asText());
      } catch (IllegalArgumentException e) {
        problem = "\"xs_f32\" is not base64: " + e.getMessage();
      }
    }
    if (problem != null) {
      return at.dead(DeadLetter.Reason.BAD_RECORD, problem, seq);
    }
    int stepBytes = Float.BYTES * width;
    if (raw.length % stepBytes != 0) {
      return at.dead(
          DeadLetter.Reason.WRONG_WIDTH,
          "\"xs_f32\" holds "
              + raw.length
              + " bytes, not whole steps: the model takes "
              + width
              + " float32 values ("
              + stepBytes
              + " bytes) per step",
          seq);
    }
    int steps = raw.length / stepBytes;
    Result counted = stepCount(steps, end, seq, at);
    if (counted != null) {
      return counted;
    }
    float[] values = Float32.floats(raw);
    for (int i = 0; i < values.length; i++) {
      if (!Float.isFinite(values[i])) {
        return at.dead(
            DeadLetter.Reason.NOT_FINITE,
            "step " + (t + i / width) + " value " + i % width + " is " + values[i],
            seq);
      }
    }
    return at.event(seq, t, steps, values, end);
  }

  /** A dead letter for a record with no step and no end, or too many steps; else null. */
  private Result stepCount(int steps, boolean end, String seq, Origin at) {
    if (steps == 0 && !end) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD, "record carries no step (x, xs or xs_f32) and no end", seq);
    }
    if (steps > maxStepsPerRecord) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "record has " + steps + " steps, the limit is " + maxStepsPerRecord,
          seq);
    }
    return null;
  }

  /** Where a record came from: what its event or its dead letter carries besides the steps. */
  private record Origin(String topic, int partition, long offset, long timestamp, String text) {

    Result dead(DeadLetter.Reason reason, String detail, String seq) {
      return new Result(
          null, DeadLetter.json(reason, detail, seq, topic, partition, offset, text), reason);
    }

    Result event(String seq, long t, int steps, float[] values, boolean end) {
      InputEvent e = new InputEvent();
      e.seq = seq;
      e.t = t;
      e.steps = steps;
      e.values = values;
      e.end = end;
      e.timestamp = timestamp;
      e.topic = topic;
      e.partition = partition;
      e.offset = offset;
      e.original = DeadLetter.truncate(text);
      return new Result(e, null, null);
    }
  }
}
