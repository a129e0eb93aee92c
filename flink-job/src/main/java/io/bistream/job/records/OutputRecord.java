package io.bistream.job.records;

/**
 * A record for Kafka: destination topic, key (the sequence id) and JSON value. A Flink POJO.
 * Per-step values are {@code {"seq","t","y":[...],"mode"}}, per-chunk {@code
 * {"seq","t","ys":[[...]],"mode"}}, the end {@code {"seq","end":true,"steps":N}} (DESIGN.md §5).
 */
public class OutputRecord {

  public String topic;
  public String key;
  public String value;

  public OutputRecord() {}

  public OutputRecord(String topic, String key, String value) {
    this.topic = topic;
    this.key = key;
    this.value = value;
  }

  @Override
  public String toString() {
    return topic + " " + key + " " + value;
  }
}
