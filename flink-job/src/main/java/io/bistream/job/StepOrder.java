package io.bistream.job;

import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;

/**
 * The order of one sequence's steps (docs/operations.md, "End reasons" and "Timeouts"): takes each
 * step once, in order, from records that may arrive out of order, repeated or overlapping, and says
 * which steps continue the sequence, which records are refused and when the sequence ends. Plain
 * Java: the keyed operator gives it the sequence's {@link SequenceRecord}, a view of its reorder
 * buffer and a {@link Sink} for what it decides.
 *
 * <ul>
 *   <li>A step continuing the sequence (step {@code nextT}) is fed; steps up to {@code
 *       reorderWindow} ahead wait in the reorder buffer until the gap before them fills; steps
 *       further ahead are {@code too_far_ahead} dead letters.
 *   <li>A step taken before is a duplicate when its values repeat (compared bit for bit with the
 *       buffer, or by a 32-bit hash with the last {@code W} fed steps, W the reorder window within
 *       [{@value #MIN_RECENT}, {@value #MAX_RECENT}]), else a {@code conflicting_duplicate} dead
 *       letter; the first value is kept. Older replays count as duplicates unchecked.
 *   <li>An end marker at step T ends the sequence once steps 0..T-1 are fed; later steps are {@code
 *       data_after_end}, an end before steps already fed is a {@code bad_record}.
 *   <li>A sequence whose first record is beyond the window from step 0, or whose buffered steps
 *       time out before step 0 arrived, never had its first steps here: every record is {@code
 *       state_lost}.
 *   <li>At a timeout ({@link #expire}) or a {@code flush} control record ({@link #flush}) the
 *       buffered steps are {@code gap_not_filled} and the sequence ends where its contiguous steps
 *       end; a {@code reset} ({@link #reset}) drops them the same way.
 * </ul>
 */
final class StepOrder {

  /** Fewest and most fed steps whose hashes are kept per sequence (4 bytes each). */
  static final int MIN_RECENT = 16;

  static final int MAX_RECENT = 1024;

  /** The reorder buffer of one sequence: pieces of records keyed by their first step. */
  interface Buffer {
    /** Every buffered piece by first step (only called when the buffer is not empty). */
    NavigableMap<Long, InputEvent> load() throws Exception;

    void put(InputEvent piece) throws Exception;

    void remove(long t) throws Exception;

    void clear() throws Exception;
  }

  /** What the order decides. */
  interface Sink {
    /** Steps {@code [from, from + count)} of {@code e} continue the sequence. */
    void feed(InputEvent e, int from, int count) throws Exception;

    /** {@code e} (or the piece of it) is refused. */
    void refuse(InputEvent e, DeadLetter.Reason reason, String detail) throws Exception;

    /** One step arrived again with the same values. */
    void duplicate();
  }

  /** Where a sequence stands after a record. */
  enum Outcome {
    /** Open: more steps to come. */
    OPEN,
    /** Every step before its end marker is fed: the sequence ends after them. */
    END_REACHED,
    /** Its first steps never reached the job: every record was refused, the sequence is over. */
    STATE_LOST
  }

  private final int width;
  private final int reorderWindow;

  StepOrder(int width, int reorderWindow) {
    this.width = width;
    this.reorderWindow = reorderWindow;
  }

  /** Takes in record {@code e} of sequence {@code s}. */
  Outcome accept(SequenceRecord s, InputEvent e, Buffer buffer, Sink sink) throws Exception {
    if (s.endAt >= 0 && e.t + e.steps > s.endAt && e.steps > 0) {
      sink.refuse(
          e,
          DeadLetter.Reason.DATA_AFTER_END,
          "steps from " + e.t + " arrive after the end marker at step " + s.endAt);
      return Outcome.OPEN;
    }
    if (e.end) {
      long endAt = e.t + e.steps;
      if (endAt < s.nextT) {
        sink.refuse(
            e,
            DeadLetter.Reason.BAD_RECORD,
            "end at step "
                + endAt
                + " but steps up to "
                + (s.nextT - 1)
                + " were already received");
        return Outcome.OPEN;
      }
      s.endAt = endAt;
    }
    if (e.steps > 0 && e.t > s.nextT && e.t - s.nextT > reorderWindow) {
      if (s.nextT == 0) {
        stateLost(s, e, buffer, sink);
        return Outcome.STATE_LOST;
      }
      sink.refuse(
          e,
          DeadLetter.Reason.TOO_FAR_AHEAD,
          "step "
              + e.t
              + " is "
              + (e.t - s.nextT)
              + " steps ahead of the next expected step "
              + s.nextT
              + "; the reorder window is "
              + reorderWindow);
    } else if (e.steps > 0) {
      take(s, e, buffer, sink);
    }
    return s.endAt >= 0 && s.nextT == s.endAt ? Outcome.END_REACHED : Outcome.OPEN;
  }

  /**
   * Refuses record {@code e} of sequence {@code gone}, which ended (its tombstone), naming why:
   * {@code data_after_end} after an end marker or a timeout, {@code sequence_too_long} after exact
   * mode's limit ({@code maxSteps}), {@code engine_error} after a model failure, {@code state_lost}
   * when the job never held its first steps.
   */
  void refuseAfterEnd(SequenceRecord gone, InputEvent e, long maxSteps, Sink sink)
      throws Exception {
    Tombstone.Why why = gone.why == null ? Tombstone.Why.END_MARKER : gone.why;
    String ended = "sequence " + e.seq + " was ended after " + gone.endedSteps + " steps";
    switch (why) {
      case STATE_LOST -> sink.refuse(e, DeadLetter.Reason.STATE_LOST, stateLostDetail(e.seq, -1));
      case MAX_STEPS ->
          sink.refuse(
              e,
              DeadLetter.Reason.SEQUENCE_TOO_LONG,
              ended
                  + ": exact mode's --max-sequence-steps ("
                  + maxSteps
                  + ") was reached with --overflow reject");
      case ENGINE_ERROR ->
          sink.refuse(
              e,
              DeadLetter.Reason.ENGINE_ERROR,
              ended
                  + " because the model failed on its steps (see its first engine_error dead"
                  + " letter)");
      default ->
          sink.refuse(
              e,
              DeadLetter.Reason.DATA_AFTER_END,
              "sequence "
                  + e.seq
                  + " already ended after "
                  + gone.endedSteps
                  + " steps"
                  + (gone.why == null ? "" : " (" + why.code() + ")"));
    }
  }

  /**
   * A timeout of sequence {@code s}: the reorder deadline ({@code idle} false) or the idle timeout.
   * Buffered steps are {@code gap_not_filled} dead letters and the sequence ends after its
   * contiguous steps ({@code s.endAt} is set there); a sequence that never had step 0 is {@code
   * state_lost}.
   *
   * @return why the sequence ends
   */
  Tombstone.Why expire(SequenceRecord s, boolean idle, Buffer buffer, Sink sink) throws Exception {
    boolean hasBuffered = !idle || s.bufferedSteps > 0;
    if (s.nextT == 0 && (hasBuffered || s.endAt > 0)) {
      stateLost(s, null, buffer, sink); // not one step from 0 on: nothing to compute or guess
      return Tombstone.Why.STATE_LOST;
    }
    boolean gap = hasBuffered || s.endAt > s.nextT;
    dropBuffered(
        s,
        buffer,
        sink,
        idle
            ? "the sequence went idle before the gap was filled"
            : "the steps before it never arrived within the reorder timeout");
    s.endAt = s.nextT;
    return gap ? Tombstone.Why.GAP_NOT_FILLED : Tombstone.Why.IDLE_TIMEOUT;
  }

  /**
   * A {@code flush} control record of sequence {@code s}: it ends now, after its contiguous steps,
   * as if its end marker arrived there ({@code s.endAt} is set there). Steps buffered after a gap
   * are {@code gap_not_filled} dead letters; a sequence that never had step 0 is {@code
   * state_lost}, as at a timeout.
   *
   * @return why the sequence ends: {@code FLUSH}, or {@code STATE_LOST}
   */
  Tombstone.Why flush(SequenceRecord s, Buffer buffer, Sink sink) throws Exception {
    if (s.nextT == 0 && (s.bufferedSteps > 0 || s.endAt > 0)) {
      stateLost(s, null, buffer, sink);
      return Tombstone.Why.STATE_LOST;
    }
    dropBuffered(s, buffer, sink, "the sequence was flushed before the gap was filled");
    s.endAt = s.nextT;
    return Tombstone.Why.FLUSH;
  }

  /**
   * A {@code reset} control record of sequence {@code s}: its buffered steps are {@code
   * gap_not_filled} dead letters (they belong to the run the reset ends); the caller drops the
   * rest.
   */
  void reset(SequenceRecord s, Buffer buffer, Sink sink) throws Exception {
    dropBuffered(s, buffer, sink, "the sequence was reset before the gap was filled");
  }

  /**
   * Every buffered piece of {@code s} is a {@code gap_not_filled} dead letter saying {@code why}.
   */
  private void dropBuffered(SequenceRecord s, Buffer buffer, Sink sink, String why)
      throws Exception {
    if (s.bufferedSteps > 0) {
      for (InputEvent b : buffer.load().values()) {
        sink.refuse(
            b,
            DeadLetter.Reason.GAP_NOT_FILLED,
            "step " + b.t + " waited for step " + s.nextT + ": " + why);
      }
      buffer.clear();
      s.bufferedSteps = 0;
    }
  }

  /** Every buffered piece of {@code s}, in step order (empty when none). */
  List<InputEvent> buffered(SequenceRecord s, Buffer buffer) throws Exception {
    return s.bufferedSteps > 0 ? new ArrayList<>(buffer.load().values()) : List.of();
  }

  /**
   * Takes in the steps of {@code e}: steps already fed are compared with what was fed; the rest is
   * fed when it continues the sequence, or merged step by step into the reorder buffer, where a
   * step already buffered is compared the same way.
   */
  private void take(SequenceRecord s, InputEvent e, Buffer buffer, Sink sink) throws Exception {
    Conflicts conflicts = new Conflicts();
    int fedOverlap = (int) Math.max(0, Math.min(e.t + e.steps, s.nextT) - e.t);
    compareFed(s, e, 0, fedOverlap, conflicts, sink);
    if (fedOverlap < e.steps && e.t + fedOverlap == s.nextT && s.bufferedSteps == 0) {
      feed(s, e, fedOverlap, e.steps - fedOverlap, sink); // in order: the common path
    } else if (fedOverlap < e.steps) {
      NavigableMap<Long, InputEvent> buffered = buffer.load();
      merge(s, e, fedOverlap, buffered, buffer, conflicts, sink);
      drain(s, buffered, buffer, conflicts, sink);
    }
    if (conflicts.count > 0) {
      sink.refuse(
          e,
          DeadLetter.Reason.CONFLICTING_DUPLICATE,
          conflicts.count
              + " step(s) of this record, the first at step "
              + conflicts.first
              + ", repeat steps of sequence "
              + e.seq
              + " already received with other values; the first values are kept");
    }
  }

  /** Steps of one record that repeat earlier ones with other values. */
  private static final class Conflicts {
    int count;
    long first = -1;

    void add(long t) {
      if (count++ == 0) {
        first = t;
      }
    }
  }

  /** Compares steps {@code [from, to)} of {@code e}, already fed, with the fed values' hashes. */
  private void compareFed(
      SequenceRecord s, InputEvent e, int from, int to, Conflicts conflicts, Sink sink) {
    for (int i = from; i < to; i++) {
      long t = e.t + i;
      if (s.recent != null && t >= s.recentFrom && t >= s.nextT - s.recent.length) {
        if (s.recent[(int) (t % s.recent.length)] != hash(e.values, i * width, width)) {
          conflicts.add(t);
          continue;
        }
      }
      sink.duplicate(); // a replay, or older than the hashes kept
    }
  }

  /**
   * Buffers steps {@code from..} of {@code e} where no buffered piece holds them; steps a buffered
   * piece holds are compared with it.
   */
  private void merge(
      SequenceRecord s,
      InputEvent e,
      int from,
      NavigableMap<Long, InputEvent> buffered,
      Buffer buffer,
      Conflicts conflicts,
      Sink sink)
      throws Exception {
    long t = e.t + from;
    long end = e.t + e.steps;
    Map.Entry<Long, InputEvent> before = buffered.floorEntry(t);
    List<InputEvent> holders = new ArrayList<>();
    if (before != null && before.getValue().t + before.getValue().steps > t) {
      holders.add(before.getValue());
    }
    holders.addAll(buffered.subMap(t, false, end, false).values());
    for (InputEvent b : holders) {
      if (b.t > t) {
        bufferPiece(s, e, t, b.t, buffered, buffer);
      }
      long overlapEnd = Math.min(end, b.t + b.steps);
      for (long u = Math.max(t, b.t); u < overlapEnd; u++) {
        if (sameStep(e, (int) (u - e.t), b, (int) (u - b.t))) {
          sink.duplicate();
        } else {
          conflicts.add(u);
        }
      }
      t = Math.max(t, overlapEnd);
    }
    if (t < end) {
      bufferPiece(s, e, t, end, buffered, buffer);
    }
  }

  /** Buffers steps {@code [from, to)} of {@code e} (step indices of the sequence). */
  private void bufferPiece(
      SequenceRecord s,
      InputEvent e,
      long from,
      long to,
      NavigableMap<Long, InputEvent> buffered,
      Buffer buffer)
      throws Exception {
    InputEvent piece = e;
    if (from != e.t || to != e.t + e.steps) {
      piece = new InputEvent();
      piece.seq = e.seq;
      piece.t = from;
      piece.steps = (int) (to - from);
      int at = (int) (from - e.t) * width;
      piece.values = Arrays.copyOfRange(e.values, at, at + piece.steps * width);
      piece.timestamp = e.timestamp;
      piece.topic = e.topic;
      piece.partition = e.partition;
      piece.offset = e.offset;
    }
    buffer.put(piece);
    buffered.put(from, piece);
    s.bufferedSteps += piece.steps;
  }

  private boolean sameStep(InputEvent a, int i, InputEvent b, int j) {
    for (int k = 0; k < width; k++) {
      if (Float.floatToIntBits(a.values[i * width + k])
          != Float.floatToIntBits(b.values[j * width + k])) {
        return false;
      }
    }
    return true;
  }

  /** Feeds buffered pieces that continue the sequence now. */
  private void drain(
      SequenceRecord s,
      NavigableMap<Long, InputEvent> buffered,
      Buffer buffer,
      Conflicts conflicts,
      Sink sink)
      throws Exception {
    while (!buffered.isEmpty() && buffered.firstKey() <= s.nextT) {
      InputEvent b = buffered.pollFirstEntry().getValue();
      buffer.remove(b.t);
      s.bufferedSteps -= b.steps;
      // Pieces never overlap fed steps; a record buffered by an earlier version might.
      int fedOverlap = (int) Math.max(0, Math.min(b.t + b.steps, s.nextT) - b.t);
      compareFed(s, b, 0, fedOverlap, conflicts, sink);
      feed(s, b, fedOverlap, b.steps - fedOverlap, sink);
    }
  }

  /** Feeds steps {@code [from, from + count)} of {@code e}: they continue the sequence. */
  private void feed(SequenceRecord s, InputEvent e, int from, int count, Sink sink)
      throws Exception {
    if (count <= 0) {
      return;
    }
    if (s.recent == null) {
      s.recent = new int[Math.min(MAX_RECENT, Math.max(MIN_RECENT, reorderWindow))];
      s.recentFrom = e.t + from;
    }
    for (int i = from; i < from + count; i++) {
      s.recent[(int) ((e.t + i) % s.recent.length)] = hash(e.values, i * width, width);
    }
    s.nextT = e.t + from + count;
    sink.feed(e, from, count);
  }

  /**
   * The sequence's first steps never reached this job (it started after them, or lost its state):
   * its buffered pieces and {@code e} (when not null) are refused, never guessed.
   */
  private void stateLost(SequenceRecord s, InputEvent e, Buffer buffer, Sink sink)
      throws Exception {
    List<InputEvent> buffered = buffered(s, buffer);
    long first = buffered.isEmpty() ? Long.MAX_VALUE : buffered.get(0).t;
    if (e != null) {
      first = Math.min(first, e.t);
    }
    for (InputEvent b : buffered) {
      sink.refuse(b, DeadLetter.Reason.STATE_LOST, stateLostDetail(b.seq, first));
    }
    if (e != null) {
      sink.refuse(e, DeadLetter.Reason.STATE_LOST, stateLostDetail(e.seq, first));
    }
    if (!buffered.isEmpty()) {
      buffer.clear();
    }
    s.bufferedSteps = 0;
  }

  static String stateLostDetail(String seq, long firstT) {
    return "this job holds no state for sequence "
        + seq
        + (firstT > 0 ? " before step " + firstT : "")
        + ": it started after the sequence did, or its state was lost; restore with --restore"
        + " latest";
  }

  /** A 32-bit hash of one step's values (FNV-1a over the float bits, then a final mix). */
  static int hash(float[] values, int from, int count) {
    int h = 0x811C9DC5;
    for (int i = from; i < from + count; i++) {
      h = (h ^ Float.floatToIntBits(values[i])) * 0x01000193;
    }
    h ^= h >>> 16;
    h *= 0x85EBCA6B;
    return h ^ (h >>> 13);
  }
}
