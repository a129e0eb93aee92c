package io.bistream.core.stream;

import io.bistream.core.layers.GlobalPooling1D;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Everything the streaming engine keeps for one sequence, as plain arrays so a Flink keyed state
 * can hold it: step counters, the steps a later pass still needs, and the recurrent states carried
 * per stage. {@link #snapshot()} and {@link #restore} move it in and out of that form; a restored
 * state continues bit-identically.
 */
public final class SequenceState {

  long received; // steps received so far
  long emitted; // steps whose outputs were released
  long chunkStart; // lookahead/stateful/context: first step of the next chunk to compute
  // lookahead/stateful: raw steps from the next chunk's start; context: from its left context's
  Floats pending = new Floats();
  // The arrays below are replaced as the state advances, never changed in place (except pool):
  // a snapshot shares them, and a restore from it leaves the snapshot as it was.
  // per stage: forward states packed (h, then c), or null: none carried (stateless layers, context
  // mode, exact mode from its first bidirectional stage on, which runs when the sequence ends,
  // except that stage when it outputs its last step only)
  float[][] fwd;
  float[][] bwd; // per stage: backward states packed (stateful mode), or null
  Floats bufIn = new Floats(); // exact: input rows of the first bidirectional stage
  Floats bufMask = new Floats(); // exact: their mask (1 = keep, 0 = masked)
  // exact, snapshots from before that stage's forward half moved to the end: its first outputs
  Floats bufFwd = new Floats();
  float[] candidate; // last-step models: the last output before the tail layers
  float[] firstBackward; // lookahead last-step models: the backward output at step 0
  // Pooling models: per feature the running maximum, or the running sum as a (high, low) float
  // pair (about 48 bits, so a long sequence's mean matches offline's double sum); null before the
  // first released row.
  float[] pool;
  long pooledSteps; // pooling models: the rows in the mean (the steps the mask keeps)
  boolean ended;
  boolean degraded;

  private static final float[] EMPTY = new float[0];

  SequenceState(float[][] fwd, float[][] bwd) {
    this.fwd = fwd;
    this.bwd = bwd;
  }

  public long receivedSteps() {
    return received;
  }

  public long emittedSteps() {
    return emitted;
  }

  public boolean ended() {
    return ended;
  }

  /**
   * The state as plain arrays. Growing step buffers are passed by reference with their spare room
   * (the counters hold their lengths), so a snapshot after every advance does not copy exact mode's
   * whole buffer each time; their values up to those lengths stay as they are while the state
   * advances (Floats). The carried states are shared, not copied: an advance replaces them, so they
   * stay valid.
   */
  public record Snapshot(long[] counters, float[][] arrays) {}

  public Snapshot snapshot() {
    List<float[]> arrays = new ArrayList<>();
    arrays.add(pending.forSnapshot());
    arrays.add(bufIn.forSnapshot());
    arrays.add(bufMask.forSnapshot());
    arrays.add(bufFwd.forSnapshot());
    arrays.add(candidate == null ? EMPTY : candidate);
    arrays.add(firstBackward == null ? EMPTY : firstBackward);
    long presence = (candidate == null ? 0 : 1) | (firstBackward == null ? 0 : 1L << 62);
    for (int i = 0; i < fwd.length; i++) {
      arrays.add(fwd[i] == null ? EMPTY : fwd[i]);
      arrays.add(bwd[i] == null ? EMPTY : bwd[i]);
      presence |= (fwd[i] == null ? 0L : 2L << (2 * i)) | (bwd[i] == null ? 0L : 4L << (2 * i));
    }
    if (pool != null) {
      // last, so a snapshot of a model without pooling keeps the layout it always had
      arrays.add(pool.clone());
      presence |= 1L << 61;
    }
    long[] counters = {
      received,
      emitted,
      ended ? 1 : 0,
      degraded ? 1 : 0,
      fwd.length,
      presence,
      chunkStart,
      pending.length(),
      bufIn.length(),
      bufMask.length(),
      bufFwd.length(),
      pooledSteps
    };
    return new Snapshot(counters, arrays.toArray(new float[0][]));
  }

  /**
   * Rebuilds a state from {@link #snapshot()} output. The state takes over the step buffers: as it
   * advances it writes only into their spare room past the snapshot's lengths (Floats), so the
   * snapshot keeps its values and can be restored again after a failed advance, but two states
   * restored from one snapshot must not advance side by side. The carried states are shared: the
   * state replaces them as it advances, never writes into them.
   */
  public static SequenceState restore(Snapshot s) {
    long[] c = s.counters();
    int stages = (int) c[4];
    long presence = c[5];
    float[][] a = s.arrays();
    boolean pooling = (presence & (1L << 61)) != 0;
    int expected = 6 + 2 * stages + (pooling ? 1 : 0);
    if (a.length != expected) {
      throw new IllegalArgumentException(
          "snapshot has " + a.length + " arrays, expected " + expected);
    }
    float[][] fwd = new float[stages][];
    float[][] bwd = new float[stages][];
    for (int i = 0; i < stages; i++) {
      fwd[i] = (presence & (2L << (2 * i))) != 0 ? a[6 + 2 * i] : null;
      bwd[i] = (presence & (4L << (2 * i))) != 0 ? a[7 + 2 * i] : null;
    }
    SequenceState st = new SequenceState(fwd, bwd);
    st.received = c[0];
    st.emitted = c[1];
    st.ended = c[2] != 0;
    st.degraded = c[3] != 0;
    st.pending = buffer(a, c, 0);
    st.bufIn = buffer(a, c, 1);
    st.bufMask = buffer(a, c, 2);
    st.bufFwd = buffer(a, c, 3);
    st.candidate = (presence & 1) != 0 ? a[4] : null;
    st.firstBackward = (presence & (1L << 62)) != 0 ? a[5] : null;
    st.chunkStart = c[6];
    st.pool = pooling ? a[6 + 2 * stages].clone() : null;
    st.pooledSteps = c.length > 11 ? c[11] : 0;
    return st;
  }

  /**
   * Folds {@code count} rows of width {@code f}, from row {@code first} of {@code rows}, into the
   * pool; rows the mask drops do not count (Keras' masked mean).
   */
  void pool(
      GlobalPooling1D.Reduce reduce, float[] rows, boolean[] mask, int first, int count, int f) {
    boolean max = reduce == GlobalPooling1D.Reduce.MAX;
    if (pool == null) {
      pool = new float[max ? f : 2 * f];
      if (max) {
        Arrays.fill(pool, Float.NEGATIVE_INFINITY);
      }
    }
    for (int k = first; k < first + count; k++) {
      if (mask != null && !mask[k]) {
        continue;
      }
      pooledSteps++;
      for (int j = 0; j < f; j++) {
        float v = rows[k * f + j];
        if (max) {
          pool[j] = Math.max(pool[j], v);
        } else {
          double sum = (double) pool[2 * j] + pool[2 * j + 1] + v;
          pool[2 * j] = (float) sum;
          pool[2 * j + 1] = (float) (sum - pool[2 * j]);
        }
      }
    }
  }

  /** The pooled row: the maximum, or the sum over the kept rows' count (0/0 when none kept). */
  float[] pooled(GlobalPooling1D.Reduce reduce) {
    if (reduce == GlobalPooling1D.Reduce.MAX) {
      return pool.clone();
    }
    float[] mean = new float[pool.length / 2];
    for (int j = 0; j < mean.length; j++) {
      mean[j] = (float) (((double) pool[2 * j] + pool[2 * j + 1]) / pooledSteps);
    }
    return mean;
  }

  // Buffer i of a snapshot; one written before the lengths were kept (7 counters) is exactly full.
  private static Floats buffer(float[][] a, long[] c, int i) {
    int length = c.length > 7 + i ? Math.toIntExact(c[7 + i]) : a[i].length;
    if (length < 0 || length > a[i].length) {
      throw new IllegalArgumentException(
          "snapshot buffer " + i + " holds " + a[i].length + " values, its length says " + length);
    }
    return Floats.restored(a[i], length);
  }
}
