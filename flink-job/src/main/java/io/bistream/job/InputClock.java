package io.bistream.job;

import java.util.HashMap;
import java.util.Map;
import java.util.function.BiPredicate;

/**
 * How far a subtask has read each input partition, to judge timeouts in the input's own time
 * (docs/operations.md, "Timeouts"): the latest Kafka timestamp processed per partition and when the
 * latest record of it was processed. Plain Java; the keyed operator tells it what it processed and
 * asks it how long a timeout still has to run.
 */
final class InputClock {

  /** How far this subtask has read one input partition. */
  private static final class Partition {
    long maxTimestamp = Long.MIN_VALUE; // latest Kafka timestamp processed
    long processedAt; // processing time of the latest record processed
  }

  private final Map<Integer, Partition> partitions = new HashMap<>();
  private final long openedAt;
  // (partition, now) -> the job consumed everything the partition holds; null without a broker
  private final BiPredicate<Integer, Long> consumedEverything;

  InputClock(long openedAt, BiPredicate<Integer, Long> consumedEverything) {
    this.openedAt = openedAt;
    this.consumedEverything = consumedEverything;
  }

  /** A record of {@code partition} stamped {@code timestamp} was processed at {@code now}. */
  void processed(int partition, long timestamp, long now) {
    Partition p = partitions.computeIfAbsent(partition, k -> new Partition());
    p.maxTimestamp = Math.max(p.maxTimestamp, timestamp);
    p.processedAt = now;
  }

  /**
   * Milliseconds to wait before the timeout of {@code timeoutMillis} since Kafka time {@code since}
   * may be judged again, or 0 when it has passed: records of {@code partition} stamped at least the
   * timeout later were processed (the gap is in the data), or nothing was processed from that
   * partition for the whole timeout and the input is quiet: the job consumed everything the
   * partition holds (a stalled source or an unreachable broker is not a quiet producer; {@link
   * InputLiveness}). Records without a timestamp leave it to the processing-time timer alone.
   */
  long waitLeft(int partition, long since, long timeoutMillis, long now) {
    if (since <= 0) {
      return 0;
    }
    Partition p = partitions.get(partition);
    if (p != null && p.maxTimestamp - since >= timeoutMillis) {
      return 0;
    }
    long quietFor = now - (p == null ? openedAt : p.processedAt);
    long wait = Math.max(0, timeoutMillis - quietFor);
    if (wait > 0 || consumedEverything == null) {
      return wait;
    }
    return consumedEverything.test(partition, now) ? 0 : Math.max(1, timeoutMillis / 4);
  }
}
