package io.bistream.job;

import java.util.HashMap;
import java.util.Map;

/**
 * How far a subtask has read each input partition, to judge timeouts in the input's own time
 * (docs/operations.md, "Timeouts"): the latest Kafka timestamp processed per partition, when the
 * latest record of it was processed, and since when the broker has kept answering that the job
 * consumed all of it. Plain Java; the keyed operator tells it what it processed, has it ask the
 * broker every probe period, and asks it how long a timeout still has to run.
 */
final class InputClock {

  /** The broker's answer for one partition: has the job consumed everything the producer wrote? */
  interface Broker {
    /** True or false as the broker says at {@code now}; null when it did not answer. */
    Boolean consumedEverything(int partition, long now);
  }

  private static final long NEVER = Long.MAX_VALUE;

  /** How far this subtask has read one input partition. */
  private static final class Partition {
    long maxTimestamp; // latest Kafka timestamp processed (0: none; timestamps judged are > 0)
    long processedAt; // processing time of the latest record processed
    // First of the unbroken run of probes, all after processedAt, at which the broker answered
    // that the job consumed everything; NEVER while there is no such run.
    long consumedSince = NEVER;

    Partition(long processedAt) {
      this.processedAt = processedAt;
    }
  }

  private final Map<Integer, Partition> partitions = new HashMap<>();
  private final long openedAt;
  private final long probeMillis;
  private final Broker broker; // null without a broker (harness tests): the timer alone decides

  InputClock(long openedAt, long probeMillis, Broker broker) {
    this.openedAt = openedAt;
    this.probeMillis = probeMillis;
    this.broker = broker;
  }

  /** A record of {@code partition} stamped {@code timestamp} was processed at {@code now}. */
  void processed(int partition, long timestamp, long now) {
    Partition p = partitions.computeIfAbsent(partition, k -> new Partition(now));
    p.maxTimestamp = Math.max(p.maxTimestamp, timestamp);
    p.processedAt = now;
  }

  /**
   * Asks the broker about every partition nothing was processed from for a probe period. A run of
   * "consumed everything" answers starts at the first of them and is broken by a record, a "not
   * consumed" answer or no answer; with no answer the other partitions are not asked this time.
   */
  void probe(long now) {
    if (broker == null) {
      return;
    }
    for (Map.Entry<Integer, Partition> entry : partitions.entrySet()) {
      Partition p = entry.getValue();
      if (now - p.processedAt < probeMillis) {
        continue;
      }
      Boolean consumed = broker.consumedEverything(entry.getKey(), now);
      if (consumed == null) {
        partitions.values().forEach(q -> q.consumedSince = NEVER);
        return;
      }
      if (!consumed) {
        p.consumedSince = NEVER;
      } else if (p.consumedSince == NEVER || p.consumedSince <= p.processedAt) {
        p.consumedSince = now;
      }
    }
  }

  /**
   * Milliseconds to wait before the timeout of {@code timeoutMillis} since Kafka time {@code since}
   * may be judged again, or 0 when it has passed: records of {@code partition} stamped at least the
   * timeout later were processed (the gap is in the data), or the input is quiet: nothing was
   * processed from that partition for the whole timeout, and for a whole timeout the broker kept
   * answering that the job consumed everything the partition holds. Time in which the broker did
   * not answer is not the producer's quiet time: during an outage its producers cannot write either
   * ({@link InputLiveness}). Records without a timestamp leave it to the processing-time timer
   * alone.
   */
  long waitLeft(int partition, long since, long timeoutMillis, long now) {
    if (since <= 0) {
      return 0;
    }
    // Known from here on, so that probes ask about it even before a record of it was processed.
    Partition p = partitions.computeIfAbsent(partition, k -> new Partition(openedAt));
    if (p.maxTimestamp - since >= timeoutMillis) {
      return 0;
    }
    long quietFor = now - p.processedAt;
    if (quietFor < timeoutMillis) {
      return timeoutMillis - quietFor;
    }
    if (broker == null) {
      return 0;
    }
    if (p.consumedSince == NEVER || p.consumedSince <= p.processedAt) {
      return Math.max(1, probeMillis);
    }
    return Math.max(0, timeoutMillis - (now - p.consumedSince));
  }
}
