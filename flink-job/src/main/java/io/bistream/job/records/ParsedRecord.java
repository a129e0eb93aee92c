package io.bistream.job.records;

/**
 * What the Kafka source yields: a valid {@link InputEvent}, or a dead letter (JSON) with its
 * reason. A Flink POJO.
 */
public class ParsedRecord {

  public InputEvent event;
  public String deadLetterKey;
  public String deadLetter;
  public String reason;

  public ParsedRecord() {}

  public static ParsedRecord of(RecordParser.Result r) {
    ParsedRecord p = new ParsedRecord();
    p.event = r.event();
    if (r.deadLetter() != null) {
      p.deadLetter = r.deadLetter();
      p.reason = r.reason().code();
      p.deadLetterKey = r.deadLetterKey(); // the key as text, shortened when an over-long id
    }
    return p;
  }
}
