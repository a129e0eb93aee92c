package io.bistream.job;

/**
 * Why a sequence ended ({@link Why}), and the ended-sequence tombstone as the job kept it before
 * {@link SequenceRecord}: a Flink POJO in a state with a TTL, read only to migrate restored state
 * ({@link StateMigration}). Tombstones are now {@link SequenceRecord}s removed by a timer.
 */
public class Tombstone {

  /** Why a sequence ended: the {@code "why"} of its end record (docs/schemas). */
  public enum Why {
    /** Its end marker arrived and every step before it was fed. */
    END_MARKER,
    /** No record of it arrived for the idle timeout. */
    IDLE_TIMEOUT,
    /** Steps before buffered ones never arrived; the sequence ends at the gap. */
    GAP_NOT_FILLED,
    /** Exact mode's --max-sequence-steps tripped with --overflow reject. */
    MAX_STEPS,
    /** A {@code flush} control record ended it after the steps taken in before it. */
    FLUSH,
    /**
     * A {@code reset} control record dropped what the job held of it; the id starts again at step 0
     * with its next record. Steps fed but not yet output are dropped with it.
     */
    RESET,
    /** The model failed on its steps. */
    ENGINE_ERROR,
    /** The job holds no state for its first steps: no end record, every record refused. */
    STATE_LOST;

    public String code() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    static Why of(String code) {
      return code == null ? END_MARKER : valueOf(code.toUpperCase(java.util.Locale.ROOT));
    }
  }

  /** Steps the sequence took in before it ended. */
  public long steps;

  /** {@link Why#code()}; null in a tombstone restored from the former {@code ended} state. */
  public String why;

  public Tombstone() {}

  public Tombstone(long steps, Why why) {
    this.steps = steps;
    this.why = why.code();
  }

  public Why reason() {
    return Why.of(why);
  }
}
