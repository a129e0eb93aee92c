package io.bistream.job.records;

import java.nio.charset.StandardCharsets;

/**
 * A record for Kafka: destination topic, key (the sequence id) and JSON value as UTF-8 bytes, the
 * bytes the sink writes (a byte array crosses Flink's network as one copy; a String of a few KB
 * went char by char, ~15% of the keyed operator's time in {@code bench --pipeline}). A Flink POJO.
 * Per-step values are {@code {"seq","t","y":[...],"mode"}}, per-chunk {@code
 * {"seq","t","ys":[[...]],"mode"}}, the end {@code {"seq","end":true,"steps":N,"why":...}}
 * (docs/schemas/output-record.schema.json).
 */
public class OutputRecord {

  public String topic;
  public String key;
  public byte[] value;

  public OutputRecord() {}

  public OutputRecord(String topic, String key, byte[] value) {
    this.topic = topic;
    this.key = key;
    this.value = value;
  }

  public OutputRecord(String topic, String key, String value) {
    this(topic, key, value.getBytes(StandardCharsets.UTF_8));
  }

  /** The value as text. */
  public String text() {
    return new String(value, StandardCharsets.UTF_8);
  }

  @Override
  public String toString() {
    return topic + " " + key + " " + text();
  }
}
