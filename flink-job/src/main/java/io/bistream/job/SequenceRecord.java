package io.bistream.job;

import io.bistream.core.stream.StreamConfig;

/**
 * What the job keeps per sequence id in its value state (docs/operations.md, "State"): the ordering
 * cursor, timers and times, the streaming settings the sequence started with, and the streaming
 * engine's small state (counters, recurrent states, the steps a lookahead or context window still
 * needs). Exact mode's growing step buffers are not here but for their latest steps ({@link
 * #tail}): they are appended to a map state in blocks ({@link StepBlock}), so a step costs the same
 * state work however long the sequence is. After the end only the tombstone fields remain until
 * {@code retainUntil}. Serialized by {@link SequenceRecordSerializer}, never by Flink's POJO
 * serializer or Kryo.
 */
final class SequenceRecord {

  // ------------------------------------------------------------------ after the end

  /** True once the sequence ended: only the tombstone fields below are kept. */
  boolean ended;

  /** Why it ended; null for a tombstone from the oldest state format, which did not say. */
  Tombstone.Why why;

  /** Steps it took in before it ended. */
  long endedSteps;

  /** Processing time until which later records are refused as data after end. */
  long retainUntil;

  // ------------------------------------------------------------------ settings

  /**
   * The streaming settings it started with; null (the job's) for state from before they were kept.
   */
  StreamConfig config;

  /**
   * The model version it started on and finishes on (format version 4, docs/operations.md, "Model
   * upgrades"); null for state from before versions were kept: the job's {@code --model-version}.
   */
  String modelVersion;

  // ------------------------------------------------------------------ ordering (StepOrder)

  /** The next step the engine expects (steps before it were fed). */
  long nextT;

  /** Step count at which the sequence ends, once an end marker arrived; -1 before. */
  long endAt = -1;

  /** Hashes of the values of the latest fed steps, step t at {@code t % recent.length}; or null. */
  int[] recent;

  /** First step whose hash {@code recent} holds. */
  long recentFrom;

  /** Steps in the reorder buffer (0: the buffer is empty and is not read). */
  int bufferedSteps;

  // ------------------------------------------------------------------ input and timers

  /** Input partition the sequence's records come from. */
  int partition;

  /** Latest Kafka timestamp of a fed step, for event-to-output latency. */
  long lastTimestamp;

  /** Latest Kafka timestamp of any record of the sequence: the idle timeout counts from it. */
  long lastSeenTimestamp;

  /** Processing time the latest record of the sequence was taken in (format version 2). */
  long lastSeenAt;

  /** Processing time its first record was taken in (format version 5; 0: not kept, older state). */
  long startedAt;

  /**
   * The idle timeout its records asked ({@code "idle_timeout_ms"}, format version 3), or 0: the
   * job's {@code --idle-timeout}.
   */
  long idleTimeoutMs;

  /** Kafka timestamp of the record that started the reorder wait. */
  long reorderSince;

  /** The one registered idle timer (processing time), or 0. */
  long idleTimer;

  /** The registered reorder-deadline timer (processing time), or 0. */
  long reorderTimer;

  // ------------------------------------------------------------------ streaming engine

  /** Steps the engine took in. */
  long received;

  /** Steps whose outputs were released. */
  long emitted;

  /** Lookahead, stateful and context modes: first step of the next chunk. */
  long chunkStart;

  /** Pooling models: rows in the running mean. */
  long pooledSteps;

  /** Exact mode went past max-sequence-steps and continues in lookahead mode. */
  boolean degraded;

  /**
   * Raw steps a lookahead, stateful or context window still needs, the first {@code pendingLength}
   * values of {@code pending} (none in exact mode).
   */
  float[] pending = new float[0];

  int pendingLength;

  /** Last-step models: the last output before the tail layers, or null. */
  float[] candidate;

  /** Lookahead last-step models: the backward output at step 0, or null. */
  float[] firstBackward;

  /** Per stage the forward (h, then c) and backward recurrent states; an entry null when none. */
  float[][] forward = new float[0][];

  float[][] backward = new float[0][];

  /** Pooling models: the running maximum or (high, low) sum per feature, or null. */
  float[] pool;

  /**
   * Exact mode: its latest steps, not yet a block of the exact-blocks map state (null: none). They
   * go there as one block once they hold enough bytes (EngineCalls#append), so the map gets an
   * entry per block of steps rather than per engine call.
   */
  StepBlock tail;

  SequenceRecord() {}

  /**
   * True while exact mode's step buffers only grow: they live in the exact-blocks map state, and an
   * engine call sees only the steps it adds, unless the sequence ends or degrades in it.
   */
  boolean appendsSteps(StreamConfig jobConfig) {
    StreamConfig c = config == null ? jobConfig : config;
    return c.mode() == StreamConfig.Mode.EXACT && !degraded;
  }

  /** Its idle timeout in milliseconds: its own when a record asked one, else the job's. */
  long idleTimeoutMillis(JobSettings settings) {
    return idleTimeoutMs > 0 ? idleTimeoutMs : settings.idleTimeout().toMillis();
  }

  /** Turns this record into the tombstone of a sequence that ended. */
  void end(Tombstone.Why why, long steps, long retainUntil) {
    SequenceRecord blank = new SequenceRecord();
    copyFrom(blank);
    this.ended = true;
    this.why = why;
    this.endedSteps = steps;
    this.retainUntil = retainUntil;
  }

  /**
   * A copy that the job may change without changing this one (Flink's heap backend copies a value
   * that a running checkpoint still reads before the job touches it). The float arrays are shared:
   * the job and the engine replace them, never write into them (SequenceState; the engine writes
   * {@code pending} only past {@code pendingLength} and works on its own copy of {@code pool},
   * EngineStates); {@code recent}, which the ordering updates in place, is copied.
   */
  SequenceRecord copy() {
    SequenceRecord c = new SequenceRecord();
    c.copyFrom(this);
    c.recent = recent == null ? null : recent.clone();
    c.pending = pending;
    c.candidate = candidate;
    c.firstBackward = firstBackward;
    c.forward = forward.clone();
    c.backward = backward.clone();
    c.pool = pool;
    return c;
  }

  private void copyFrom(SequenceRecord o) {
    ended = o.ended;
    why = o.why;
    endedSteps = o.endedSteps;
    retainUntil = o.retainUntil;
    config = o.config;
    modelVersion = o.modelVersion;
    nextT = o.nextT;
    endAt = o.endAt;
    recent = o.recent;
    recentFrom = o.recentFrom;
    bufferedSteps = o.bufferedSteps;
    partition = o.partition;
    lastTimestamp = o.lastTimestamp;
    lastSeenTimestamp = o.lastSeenTimestamp;
    lastSeenAt = o.lastSeenAt;
    startedAt = o.startedAt;
    idleTimeoutMs = o.idleTimeoutMs;
    reorderSince = o.reorderSince;
    idleTimer = o.idleTimer;
    reorderTimer = o.reorderTimer;
    received = o.received;
    emitted = o.emitted;
    chunkStart = o.chunkStart;
    pooledSteps = o.pooledSteps;
    degraded = o.degraded;
    pending = o.pending;
    pendingLength = o.pendingLength;
    candidate = o.candidate;
    firstBackward = o.firstBackward;
    forward = o.forward;
    backward = o.backward;
    pool = o.pool;
    tail = o.tail;
  }
}
