package io.bistream.job;

import io.bistream.core.stream.SequenceState;
import java.util.Arrays;

/**
 * Moves the streaming engine's state of a sequence between its {@link SequenceState} form and the
 * job's state: the small part in the {@link SequenceRecord}, exact mode's growing step buffers in
 * {@link StepBlock}s. The engine's {@link SequenceState.Snapshot} is positional (counters and
 * arrays by index, presence bits); this class is the one place that knows its layout.
 */
final class EngineStates {

  // SequenceState.Snapshot counters, by index
  private static final int RECEIVED = 0;
  private static final int EMITTED = 1;
  private static final int ENDED = 2;
  private static final int DEGRADED = 3;
  private static final int STAGES = 4;
  private static final int PRESENCE = 5;
  private static final int CHUNK_START = 6;
  private static final int PENDING_LENGTH = 7;
  private static final int IN_LENGTH = 8;
  private static final int MASK_LENGTH = 9;
  private static final int FWD_LENGTH = 10;
  private static final int POOLED_STEPS = 11;
  // SequenceState.Snapshot arrays, by index: then forward and backward state per stage, then pool
  private static final int PENDING = 0;
  private static final int IN = 1;
  private static final int MASK = 2;
  private static final int FWD = 3;
  private static final int CANDIDATE = 4;
  private static final int FIRST_BACKWARD = 5;
  private static final int STATES = 6;
  // presence bits
  private static final long HAS_CANDIDATE = 1L;
  private static final long HAS_POOL = 1L << 61;
  private static final long HAS_FIRST_BACKWARD = 1L << 62;

  private static final float[] EMPTY = new float[0];

  private EngineStates() {}

  /**
   * The engine state of {@code s}, with exact mode's buffers from {@code steps} (all of them, or
   * {@link StepBlock#EMPTY} for an engine call that only appends). The engine never writes where
   * {@code s}'s values lie (Floats, and the pool it copies), so {@code s} stays intact if the call
   * fails.
   */
  static SequenceState restore(SequenceRecord s, StepBlock steps) {
    int stages = s.forward.length;
    long presence =
        (s.candidate == null ? 0 : HAS_CANDIDATE)
            | (s.firstBackward == null ? 0 : HAS_FIRST_BACKWARD)
            | (s.pool == null ? 0 : HAS_POOL);
    float[][] arrays = new float[STATES + 2 * stages + (s.pool == null ? 0 : 1)][];
    // Exact mode appends raw steps (for a degrade) to the blocks; other modes keep them here. The
    // engine writes only past a buffer's length (appends into its spare room), never in place, so
    // the record's own array serves without a copy.
    boolean raw = steps.raw().length > 0;
    float[] pending = raw ? steps.raw() : s.pending;
    arrays[PENDING] = pending;
    arrays[IN] = steps.in();
    arrays[MASK] = steps.mask();
    arrays[FWD] = steps.fwd();
    arrays[CANDIDATE] = s.candidate == null ? EMPTY : s.candidate;
    arrays[FIRST_BACKWARD] = s.firstBackward == null ? EMPTY : s.firstBackward;
    for (int i = 0; i < stages; i++) {
      arrays[STATES + 2 * i] = s.forward[i] == null ? EMPTY : s.forward[i];
      arrays[STATES + 2 * i + 1] = s.backward[i] == null ? EMPTY : s.backward[i];
      presence |=
          (s.forward[i] == null ? 0 : 2L << (2 * i)) | (s.backward[i] == null ? 0 : 4L << (2 * i));
    }
    if (s.pool != null) {
      arrays[STATES + 2 * stages] = s.pool;
    }
    long[] counters = new long[POOLED_STEPS + 1];
    counters[RECEIVED] = s.received;
    counters[EMITTED] = s.emitted;
    counters[DEGRADED] = s.degraded ? 1 : 0;
    counters[STAGES] = stages;
    counters[PRESENCE] = presence;
    counters[CHUNK_START] = s.chunkStart;
    counters[PENDING_LENGTH] = raw ? pending.length : s.pendingLength;
    counters[IN_LENGTH] = steps.in().length;
    counters[MASK_LENGTH] = steps.mask().length;
    counters[FWD_LENGTH] = steps.fwd().length;
    counters[POOLED_STEPS] = s.pooledSteps;
    return SequenceState.restore(new SequenceState.Snapshot(counters, arrays));
  }

  /**
   * Keeps engine state {@code snap} in {@code s}, except exact mode's step buffers while {@code
   * appends}: what the engine call added to them (it started from empty buffers) is returned as a
   * block for the exact-blocks map state, or null when it added nothing.
   */
  static StepBlock keep(SequenceRecord s, SequenceState.Snapshot snap, boolean appends) {
    long[] c = snap.counters();
    float[][] a = snap.arrays();
    s.received = c[RECEIVED];
    s.emitted = c[EMITTED];
    s.degraded = c[DEGRADED] != 0;
    int stages = (int) c[STAGES];
    long presence = c[PRESENCE];
    s.chunkStart = c[CHUNK_START];
    s.pooledSteps = c.length > POOLED_STEPS ? c[POOLED_STEPS] : 0;
    s.candidate = (presence & HAS_CANDIDATE) != 0 ? a[CANDIDATE] : null;
    s.firstBackward = (presence & HAS_FIRST_BACKWARD) != 0 ? a[FIRST_BACKWARD] : null;
    s.forward = new float[stages][];
    s.backward = new float[stages][];
    for (int i = 0; i < stages; i++) {
      s.forward[i] = (presence & (2L << (2 * i))) != 0 ? a[STATES + 2 * i] : null;
      s.backward[i] = (presence & (4L << (2 * i))) != 0 ? a[STATES + 2 * i + 1] : null;
    }
    s.pool = (presence & HAS_POOL) != 0 ? a[STATES + 2 * stages] : null;
    boolean toBlock = appends && !s.degraded;
    StepBlock block =
        new StepBlock(
            prefix(a[IN], c[IN_LENGTH]),
            prefix(a[MASK], c[MASK_LENGTH]),
            prefix(a[FWD], c[FWD_LENGTH]),
            toBlock ? prefix(a[PENDING], c[PENDING_LENGTH]) : new float[0]);
    // Kept with its spare room, as the engine left it: no copy per engine call.
    s.pending = toBlock ? new float[0] : a[PENDING];
    s.pendingLength = toBlock ? 0 : Math.toIntExact(c[PENDING_LENGTH]);
    return block.isEmpty() ? null : block;
  }

  private static float[] prefix(float[] a, long length) {
    return length == a.length ? a : Arrays.copyOf(a, Math.toIntExact(length));
  }
}
