package io.bistream.job;

import io.bistream.core.stream.Emission;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.metrics.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed operator's batched engine calls (docs/architecture.md, "The path of a record"): the
 * steps StepOrder releases, of many sequences, wait here in memory and are advanced through their
 * engines together, one call per model version and streaming settings, when the operator says
 * (batch size, batch wait, before every checkpoint barrier, at a control record or a timeout). A
 * call starts from each sequence's state as the {@link SequenceRecord} keeps it and writes it back
 * after; exact mode's steps are appended to the {@code exact-blocks} map state (in blocks, {@link
 * #append}) and read whole only at the end. A sequence the model fails on ends with {@code
 * engine_error} dead letters, one that passes {@code --max-sequence-steps} with {@code
 * sequence_too_long} ones; when one sequence of a call fails, the others are advanced again one by
 * one from their intact state.
 */
final class EngineCalls {

  private static final Logger LOG = LoggerFactory.getLogger(EngineCalls.class);

  /** Steps {@code [from, from + count)} of record {@code event}, queued for the engine. */
  private record Segment(InputEvent event, int from, int count) {}

  /** One sequence waiting for the next batched engine call: its state, steps and records. */
  static final class Ready {
    final SequenceRecord record;
    final List<Segment> segments = new ArrayList<>();
    int steps;
    Tombstone.Why end; // set when the sequence ends after these steps

    Ready(SequenceRecord record) {
      this.record = record;
    }

    /** True when record {@code e} brought some of these steps. */
    boolean holds(InputEvent e) {
      return segments.stream().anyMatch(g -> g.event == e);
    }

    /** The steps, contiguous: a record's own array when one record holds them all. */
    float[] rows(int width) {
      if (segments.size() == 1) {
        Segment g = segments.get(0);
        if (g.from == 0 && g.event.values.length == g.count * width) {
          return g.event.values;
        }
      }
      float[] x = new float[steps * width];
      int at = 0;
      for (Segment g : segments) {
        System.arraycopy(g.event.values, g.from * width, x, at, g.count * width);
        at += g.count * width;
      }
      return x;
    }
  }

  /** One sequence of a batched engine call. */
  private static final class Work {
    final String seq;
    final SequenceRecord state;
    final Ready ready;
    final StreamingEngine engine;
    SequenceState engineState;

    Work(String seq, SequenceRecord state, Ready ready, StreamingEngine engine) {
      this.seq = seq;
      this.state = state;
      this.ready = ready;
      this.engine = engine;
    }
  }

  private final SequenceOperator op;
  private final JobSettings settings;
  private final ModelUpgrades models;
  private final ValueState<SequenceRecord> sequence;
  private final MapState<Long, StepBlock> exactBlocks;
  private final OutputEncoder encoder;
  private final Histogram chunkMicros;
  private final Histogram latencyMillis;
  private final int tailBytes;
  // Sequences with steps ready for the engine, in arrival order.
  private Map<String, Ready> batch = new LinkedHashMap<>();

  EngineCalls(
      SequenceOperator op,
      ModelUpgrades models,
      ValueState<SequenceRecord> sequence,
      MapState<Long, StepBlock> exactBlocks,
      OutputEncoder encoder,
      Histogram chunkMicros,
      Histogram latencyMillis,
      int tailBytes) {
    this.op = op;
    this.settings = op.settings();
    this.models = models;
    this.sequence = sequence;
    this.exactBlocks = exactBlocks;
    this.encoder = encoder;
    this.chunkMicros = chunkMicros;
    this.latencyMillis = latencyMillis;
    this.tailBytes = tailBytes;
  }

  /** Sequences waiting. */
  int size() {
    return batch.size();
  }

  boolean isEmpty() {
    return batch.isEmpty();
  }

  /** The state of sequence {@code seq} while it waits here, else null. */
  SequenceRecord stateOf(String seq) {
    Ready r = batch.get(seq);
    return r == null ? null : r.record;
  }

  boolean waits(String seq) {
    return batch.containsKey(seq);
  }

  /** Queues steps {@code [from, from + count)} of record {@code e} of sequence {@code seq}. */
  void add(String seq, SequenceRecord s, InputEvent e, int from, int count) {
    Ready r = ready(seq, s);
    r.segments.add(new Segment(e, from, count));
    r.steps += count;
  }

  /** Sequence {@code seq} ends, for reason {@code why}, after the steps queued for it. */
  void end(String seq, SequenceRecord s, Tombstone.Why why) {
    ready(seq, s).end = why;
  }

  /** Takes sequence {@code seq} out: what was queued for it, or null. */
  Ready remove(String seq) {
    return batch.remove(seq);
  }

  private Ready ready(String seq, SequenceRecord s) {
    return batch.computeIfAbsent(seq, k -> new Ready(s));
  }

  /**
   * Ends sequence {@code seq} (state {@code s}, queued steps {@code queued} or null) for a failure
   * outside the engine call: as {@link #engineError}.
   */
  void engineError(String seq, SequenceRecord s, Ready queued, RuntimeException ex)
      throws Exception {
    engineError(new Work(seq, s, queued == null ? new Ready(s) : queued, null), ex);
  }

  /**
   * Advances every waiting sequence through its engine, one batched call per streaming settings,
   * and emits. A sequence the engine fails on ends with {@code engine_error} dead letters; the
   * others of its batch are advanced again one by one from their intact state.
   */
  void flush() throws Exception {
    if (batch.isEmpty()) {
      return;
    }
    Map<String, Ready> waiting = batch;
    batch = new LinkedHashMap<>();
    Map<StreamingEngine, List<Work>> byEngine = new LinkedHashMap<>();
    for (Map.Entry<String, Ready> w : waiting.entrySet()) {
      op.setCurrentKey(w.getKey());
      SequenceRecord s = w.getValue().record;
      if (s.ended) {
        continue; // ended in the meantime
      }
      Work work = new Work(w.getKey(), s, w.getValue(), null);
      try {
        work =
            new Work(w.getKey(), s, w.getValue(), models.engine(models.versionOf(s), op.config(s)));
        work.engineState = restore(work);
      } catch (RuntimeException ex) {
        engineError(work, ex);
        continue;
      }
      if (work.engine.wouldReject(work.engineState, w.getValue().steps)) {
        maxStepsReached(work);
        continue;
      }
      byEngine.computeIfAbsent(work.engine, k -> new ArrayList<>()).add(work);
    }
    for (Map.Entry<StreamingEngine, List<Work>> group : byEngine.entrySet()) {
      advance(group.getKey(), group.getValue());
    }
  }

  private void advance(StreamingEngine engine, List<Work> works) throws Exception {
    List<StreamingEngine.Feed> feeds = new ArrayList<>();
    List<List<Emission>> emitted;
    long start = System.nanoTime();
    try {
      for (Work w : works) {
        feeds.add(feed(w));
      }
      emitted = engine.advanceAll(feeds);
    } catch (RuntimeException ex) {
      if (works.size() == 1) {
        op.setCurrentKey(works.get(0).seq);
        engineError(works.get(0), ex);
        return;
      }
      // One of them (or more) is a poison pill: each again alone, from its intact state.
      for (Work w : works) {
        op.setCurrentKey(w.seq);
        try {
          w.engineState = restore(w);
          StreamingEngine.Feed f = feed(w);
          List<Emission> out = engine.advanceAll(List.of(f)).get(0);
          complete(w, out);
        } catch (SequenceOperator.OutputFailed f) {
          throw f;
        } catch (RuntimeException alone) {
          engineError(w, alone);
        }
      }
      return;
    }
    chunkMicros.update((System.nanoTime() - start) / 1000);
    for (int i = 0; i < works.size(); i++) {
      op.setCurrentKey(works.get(i).seq);
      complete(works.get(i), emitted.get(i));
    }
  }

  private StreamingEngine.Feed feed(Work w) {
    return new StreamingEngine.Feed(
        w.engineState, w.ready.rows(w.engine.inputWidth()), w.ready.steps, w.ready.end != null);
  }

  /**
   * The engine state of {@code w}'s sequence for this engine call. While exact mode's buffers only
   * grow, the call starts from empty buffers and its additions are appended ({@link #append}); the
   * whole buffers are read only when the sequence ends or degrades to lookahead in this call.
   */
  private SequenceState restore(Work w) throws Exception {
    SequenceRecord s = w.state;
    StepBlock steps = StepBlock.EMPTY;
    if (s.appendsSteps(settings.stream())) {
      StreamConfig c = w.engine.config();
      boolean degrades =
          c.overflow() == StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD
              && s.received + w.ready.steps > c.maxSequenceSteps();
      if (w.ready.end != null || degrades) {
        TreeMap<Long, StepBlock> blocks = new TreeMap<>();
        for (Map.Entry<Long, StepBlock> b : exactBlocks.entries()) {
          blocks.put(b.getKey(), b.getValue());
        }
        List<StepBlock> all = new ArrayList<>(blocks.values());
        if (s.tail != null) {
          all.add(s.tail); // the latest steps
        }
        steps = StepBlock.concat(all);
      }
    }
    return EngineStates.restore(s, steps);
  }

  /** Emits what the engine released for {@code w} and keeps or ends its state. */
  private void complete(Work w, List<Emission> emitted) throws Exception {
    long now = op.now();
    String mode = w.engine.config().mode().userName();
    for (Emission em : emitted) {
      encoder.outputs(w.seq, em, mode, models.versionOf(w.state), op::send);
      latencyMillis.update(Math.max(0, now - w.state.lastTimestamp));
    }
    SequenceState engineState = w.engineState;
    if (engineState.ended()) {
      op.emitEnd(w.seq, engineState.receivedSteps(), w.ready.end, w.state);
      op.clear(w.seq, w.state, engineState.receivedSteps(), w.ready.end);
      return;
    }
    boolean appended = w.state.appendsSteps(settings.stream());
    long receivedBefore = w.state.received;
    StepBlock added = EngineStates.keep(w.state, engineState.snapshot(), appended);
    if (appended && w.state.degraded) {
      exactBlocks.clear(); // degraded to lookahead: the exact buffers are dropped
      w.state.tail = null;
    } else if (added != null) {
      append(w.state, receivedBefore, added);
    }
    sequence.update(w.state);
  }

  /**
   * Appends exact mode's steps {@code added}, from step {@code first} on, to the sequence's
   * buffers: to its {@link SequenceRecord#tail}, which goes to the exact-blocks map as one block,
   * keyed by its first step, once it holds {@link #tailBytes}. On the heap backend, while a
   * checkpoint's asynchronous part still writes the state, the first write to a sequence's map
   * copies the whole map (copy-on-write), and with an entry per engine call that and the entries'
   * insertion took a quarter of exact mode's keyed operator on one-step records (JFR,
   * docs/benchmarks.md); with {@code tailBytes} 0 (RocksDB, where the record's bytes cost on every
   * access and map entries do not) each call's steps are a block of their own.
   */
  private void append(SequenceRecord s, long first, StepBlock added) throws Exception {
    StepBlock tail = s.tail == null ? added : StepBlock.concat(List.of(s.tail, added));
    if (tail.bytes() >= tailBytes) {
      exactBlocks.put(first - (s.tail == null ? 0 : s.tail.steps()), tail);
      s.tail = null;
    } else {
      s.tail = tail;
    }
  }

  /**
   * The model failed on {@code w}'s steps: each of their records, and any the sequence buffered, is
   * an {@code engine_error} dead letter naming the failure; the sequence ends with the steps the
   * engine had taken in before.
   */
  private void engineError(Work w, RuntimeException ex) throws Exception {
    LOG.warn("The model failed on sequence {}; the sequence is ended", w.seq, ex);
    long taken = w.state.received;
    String what =
        ex.getClass().getSimpleName() + (ex.getMessage() == null ? "" : ": " + ex.getMessage());
    InputEvent last = null;
    for (Segment g : w.ready.segments) {
      if (g.event == last) {
        continue;
      }
      last = g.event;
      op.deadLetter(
          g.event,
          DeadLetter.Reason.ENGINE_ERROR,
          "the model failed on steps "
              + (g.event.t + g.from)
              + ".."
              + (g.event.t + g.from + g.count - 1)
              + " of sequence "
              + w.seq
              + " (or on other steps of the same engine call): "
              + what
              + "; the sequence is ended after "
              + taken
              + " steps");
    }
    for (InputEvent b : op.buffered(w.state)) {
      op.deadLetter(
          b,
          DeadLetter.Reason.ENGINE_ERROR,
          "sequence " + w.seq + " was ended by a model failure before this step: " + what);
    }
    op.emitEnd(w.seq, taken, Tombstone.Why.ENGINE_ERROR, w.state);
    op.clear(w.seq, w.state, taken, Tombstone.Why.ENGINE_ERROR);
  }

  /**
   * Exact mode's --max-sequence-steps tripped with --overflow reject: every record in flight (and
   * any buffered) is a {@code sequence_too_long} dead letter with its own source coordinates; the
   * sequence ends with the steps taken in before.
   */
  private void maxStepsReached(Work w) throws Exception {
    long taken = w.state.received;
    String detail =
        "exact mode buffers at most "
            + w.engine.config().maxSequenceSteps()
            + " steps per sequence (--max-sequence-steps, --overflow reject); sequence "
            + w.seq
            + " reached it after "
            + taken
            + " steps and is ended";
    InputEvent last = null;
    for (Segment g : w.ready.segments) {
      if (g.event != last) {
        last = g.event;
        op.deadLetter(g.event, DeadLetter.Reason.SEQUENCE_TOO_LONG, detail);
      }
    }
    for (InputEvent b : op.buffered(w.state)) {
      op.deadLetter(b, DeadLetter.Reason.SEQUENCE_TOO_LONG, detail);
    }
    op.emitEnd(w.seq, taken, Tombstone.Why.MAX_STEPS, w.state);
    op.clear(w.seq, w.state, taken, Tombstone.Why.MAX_STEPS);
  }
}
