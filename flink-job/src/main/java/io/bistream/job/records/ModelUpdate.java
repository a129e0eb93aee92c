package io.bistream.job.records;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;

/**
 * One record of the model control topic (docs/schemas/model-record.schema.json, docs/operations.md,
 * "Model upgrades"): {@code {"model": URI, "version": V}}, the model new sequences start on from
 * now. Parsing never throws: a record that is not one has {@code problem} set and is refused with a
 * {@code bad_model} dead letter. A Flink POJO (public fields, no-arg constructor), so no Kryo.
 */
public class ModelUpdate {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The model's URI, read by every TaskManager as {@code --model} is; null when absent. */
  public String model;

  /** The version name outputs show ({@code "model_version"}); null when absent. */
  public String version;

  /** Why the record is not a model record, or null. */
  public String problem;

  /** Where the record is, for its dead letter: topic, partition, offset, and its text. */
  public String topic;

  public int partition;
  public long offset;
  public String text;

  public ModelUpdate() {}

  /** The record {@code value} read from {@code topic}/{@code partition} at {@code offset}. */
  public static ModelUpdate parse(byte[] value, String topic, int partition, long offset) {
    ModelUpdate u = new ModelUpdate();
    u.topic = topic;
    u.partition = partition;
    u.offset = offset;
    u.text = value == null ? null : new String(value, StandardCharsets.UTF_8);
    if (value == null || value.length == 0) {
      u.problem = "an empty record";
      return u;
    }
    JsonNode n;
    try {
      n = JSON.readTree(value);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      u.problem = "not JSON (" + e.getOriginalMessage() + ")";
      return u;
    } catch (java.io.IOException e) {
      u.problem = "not readable: " + e.getMessage();
      return u;
    }
    if (n == null || !n.isObject()) {
      u.problem = "not a JSON object: " + n;
      return u;
    }
    u.model = text(n, "model");
    u.version = text(n, "version");
    if (u.model == null || u.model.isBlank()) {
      u.problem = "\"model\" must be a non-empty string (the model's URI), found " + n.get("model");
    } else if (u.version == null || u.version.isBlank()) {
      u.problem = "\"version\" must be a non-empty string, found " + n.get("version");
    }
    return u;
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v != null && v.isTextual() ? v.asText() : null;
  }

  /**
   * The dead letter of a model record the job refused: {@code {"reason":"bad_model","detail",
   * "model","version","expected","found","topic","partition","offset","record"}}.
   */
  public String deadLetter(String detail, String expected, String found) {
    com.fasterxml.jackson.databind.node.ObjectNode n = JSON.createObjectNode();
    n.put("reason", DeadLetter.Reason.BAD_MODEL.code());
    n.put("detail", detail);
    n.put("model", model);
    n.put("version", version);
    n.put("expected", expected);
    n.put("found", found);
    n.put("topic", topic);
    n.put("partition", partition);
    n.put("offset", offset);
    n.put("record", DeadLetter.truncate(text));
    return n.toString();
  }
}
