package io.bistream.job;

/**
 * What the job kept per sequence id in keyed state before {@link SequenceRecord} (a Flink POJO: the
 * engine's positional snapshot arrays plus bookkeeping). Read only to migrate restored state
 * ({@link StateMigration}); its class name and fields are part of that state's format.
 */
public class KeyedSequence {

  /** Engine counters. */
  public long[] counters;

  /** Engine arrays: buffered steps and recurrent states. */
  public float[][] arrays;

  /** The next step index the engine expects (steps before it were fed). */
  public long nextT;

  /** Step count at which the sequence ends, once an end marker arrived; -1 before. */
  public long endAt = -1;

  /** Registered idle-timeout timer (processing time), or 0. */
  public long idleTimer;

  /** Registered reorder-deadline timer (processing time), or 0. */
  public long reorderTimer;

  /** Latest Kafka timestamp of a fed step, for event-to-output latency. */
  public long lastTimestamp;

  /** Latest Kafka timestamp of any record of the sequence: the idle timeout counts from it. */
  public long lastSeenTimestamp;

  /** Kafka timestamp of the record that started the reorder wait. */
  public long reorderSince;

  /** Input partition the sequence's records come from (keyed by sequence id). */
  public int partition;

  /**
   * The streaming settings the sequence started with ({@link
   * io.bistream.core.stream.StreamConfig}): a sequence finishes in them even when the job was
   * restored with others. {@code mode} is null in state written before these fields existed: the
   * job's settings apply.
   */
  public String mode;

  public int chunk;
  public int lookahead;
  public long maxSequenceSteps;
  public String overflow;

  /**
   * Context mode's left context L. State written before context mode has no such field: Flink's
   * POJO serializer restores it as 0, which every other mode has.
   */
  public int leftContext;

  /**
   * 32-bit hashes of the values of the latest fed steps, step t at {@code t % recent.length}, to
   * tell a replay (same values: a duplicate) from a conflicting duplicate; null until a step is
   * fed.
   */
  public int[] recent;

  /** First step whose hash {@code recent} holds (older steps cannot be compared). */
  public long recentFrom;

  public KeyedSequence() {}
}
