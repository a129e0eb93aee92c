package io.bistream.job.records;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A record the job could not use, with why and where it came from, as written to the dead-letter
 * topic: {@code {"reason","detail","seq","topic","partition","offset","record"}}.
 */
public final class DeadLetter {

  /** Why a record was refused; the metric and the {@code reason} field use {@link #code()}. */
  public enum Reason {
    BAD_JSON,
    BAD_RECORD,
    WRONG_WIDTH,
    NOT_FINITE,
    OVERSIZE,
    KEY_MISMATCH,
    DATA_AFTER_END,
    GAP_NOT_FILLED,
    TOO_FAR_AHEAD,
    SEQUENCE_TOO_LONG,
    /** The same step again with other values: the first value is kept. */
    CONFLICTING_DUPLICATE,
    /** Steps of a sequence whose earlier steps (or state) this job does not hold. */
    STATE_LOST,
    /** The model failed on this sequence's steps; the sequence is ended, the job goes on. */
    ENGINE_ERROR,
    /** A token id that is not an integer in [0, vocabulary size) of the model's Embedding. */
    BAD_TOKEN_ID,
    /**
     * A model control record the job refused (docs/operations.md, "Model upgrades"): the job goes
     * on serving the model it had.
     */
    BAD_MODEL;

    public String code() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Longest copy of the original record kept in a dead letter. */
  public static final int MAX_COPY = 1024;

  private static final ObjectMapper JSON = new ObjectMapper();

  private DeadLetter() {}

  /** The dead-letter JSON value. */
  public static String json(
      Reason reason,
      String detail,
      String seq,
      String topic,
      int partition,
      long offset,
      String original) {
    ObjectNode n = JSON.createObjectNode();
    n.put("reason", reason.code());
    n.put("detail", detail);
    if (seq != null) {
      n.put("seq", seq);
    }
    n.put("topic", topic);
    n.put("partition", partition);
    n.put("offset", offset);
    n.put("record", truncate(original));
    return n.toString();
  }

  public static String truncate(String s) {
    if (s == null) {
      return null;
    }
    return s.length() <= MAX_COPY ? s : s.substring(0, MAX_COPY) + "...(" + s.length() + " chars)";
  }
}
