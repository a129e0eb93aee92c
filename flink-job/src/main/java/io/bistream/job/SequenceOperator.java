package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.ModelUpdate;
import io.bistream.job.records.OutputRecord;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.runtime.state.heap.HeapKeyedStateBackend;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed heart of the job, as Flink glue: per sequence id it keeps state and timers, lets {@link
 * StepOrder} order the steps, hands them to {@link EngineCalls} for batched engine calls and emits
 * what {@link OutputEncoder} writes: outputs, end records and dead letters.
 *
 * <p>State per sequence (docs/architecture.md, "State per sequence"): a {@link SequenceRecord}
 * value (ordering, timers, the streaming settings it started with, the engine's recurrent states
 * and bounded windows), exact mode's growing step buffers as blocks in a map state (read once, at
 * the end), and the reorder buffer as a map from first step to waiting piece (touched only out of
 * order). So a step costs the same state work however many steps are buffered, on every backend.
 * Ready steps wait in {@link EngineCalls} until {@code batchSize} sequences are waiting, after
 * {@code batchMaxWait}, and always before a checkpoint barrier passes ({@link
 * #prepareSnapshotPreBarrier}), so no step lives outside Flink state at a checkpoint. No input
 * fails the task.
 *
 * <p>Every sequence the job opened gets exactly one end record, {@code {"seq","end":true,
 * "steps":N,"why":...}}; its state becomes a tombstone then, which refuses later records naming why
 * the sequence ended until a timer removes it after {@code --ended-retention}. A sequence first
 * seen after its first steps never gets guessed outputs: its records are {@code state_lost} dead
 * letters.
 *
 * <p>Idle and reorder timeouts measure the absence of data in the input's own time (Kafka record
 * timestamps), not the job's: a processing-time timer only prompts a check, and a sequence ends
 * when records of its partition stamped a whole timeout after its latest record have been
 * processed, or when nothing was processed from its partition for a whole timeout in which the
 * broker kept answering that the job had consumed all of that partition ({@link InputClock}, {@link
 * InputLiveness}). Each sequence has one idle timer, registered when it starts: a record only notes
 * its time, and the timer, when it fires, re-arms for the rest of the timeout if the sequence was
 * active (docs/operations.md, "Timeouts").
 *
 * <p>Model versions (docs/operations.md, "Model upgrades"): with {@code --model-topic} the operator
 * has a second, broadcast input of {@link ModelUpdate}s, which {@link ModelUpgrades} takes; without
 * it, it is a one-input operator serving {@code --model} alone. A sequence is pinned to the version
 * that was newest on its subtask when it started, and finishes on it.
 */
public final class SequenceOperator extends AbstractStreamOperator<OutputRecord>
    implements OneInputStreamOperator<InputEvent, OutputRecord>,
        TwoInputStreamOperator<InputEvent, ModelUpdate, OutputRecord>,
        Triggerable<String, VoidNamespace> {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(SequenceOperator.class);
  // Exact mode's latest steps kept in the sequence record on the heap backend (EngineCalls#append).
  static final int EXACT_TAIL_BYTES = 1024;

  private final JobSettings settings;
  private final TypeSerializer<SequenceRecord> recordSerializer;
  private final TypeSerializer<StepBlock> blockSerializer;

  // The model versions this subtask serves; their URIs in broadcast state.
  private transient ModelUpgrades models;
  private transient BroadcastState<String, String> versions;
  private transient BroadcastState<String, String> newestState;
  private transient boolean loggedOtherConfig;
  private transient StepOrder order;
  private transient OutputEncoder encoder;
  private transient ValueState<SequenceRecord> sequence;
  private transient MapState<Long, StepBlock> exactBlocks;
  private transient MapState<Long, InputEvent> reorder;
  private transient StepOrder.Buffer reorderBuffer;
  private transient StepOrder.Sink orderSink;
  private transient InternalTimerService<VoidNamespace> timers;
  // Sequences with steps ready for the engine; their state is written when the batch is advanced.
  private transient EngineCalls batch;
  // When the waiting batch is due (0: none waits), and whether a timer is set (setBatchTimer).
  private transient long batchDeadline;
  private transient boolean batchTimerSet;
  // The sequence whose record StepOrder is taking in.
  private transient SequenceRecord current;
  private transient InputClock input;
  private transient InputLiveness liveness; // null without a broker (harness tests)

  private transient Counter recordsIn;
  private transient Counter recordsOut;
  private transient Counter duplicates;
  private transient Map<DeadLetter.Reason, Counter> deadLetters;
  private transient Histogram chunkMicros;
  private transient Histogram latencyMillis;
  private transient boolean restored;
  private transient long activeSequences;
  private transient long bufferedSteps;

  public SequenceOperator(JobSettings settings) {
    this(settings, new SequenceRecordSerializer(), new StepBlock.Serializer());
  }

  /** With other serializers of the same state (tests count the bytes they write). */
  SequenceOperator(
      JobSettings settings,
      TypeSerializer<SequenceRecord> recordSerializer,
      TypeSerializer<StepBlock> blockSerializer) {
    this.settings = settings;
    this.recordSerializer = recordSerializer;
    this.blockSerializer = blockSerializer;
  }

  @Override
  public void initializeState(StateInitializationContext context) throws Exception {
    super.initializeState(context);
    restored = context.isRestored();
    versions = context.getOperatorStateStore().getBroadcastState(modelVersionsDescriptor());
    newestState = context.getOperatorStateStore().getBroadcastState(newestModelDescriptor());
  }

  /** Broadcast state: model version -> the URI of its model, every version the job took. */
  static MapStateDescriptor<String, String> modelVersionsDescriptor() {
    return new MapStateDescriptor<>(
        "model-versions", StringSerializer.INSTANCE, StringSerializer.INSTANCE);
  }

  /** Broadcast state: {@value ModelUpgrades#NEWEST} -> the version new sequences start on. */
  static MapStateDescriptor<String, String> newestModelDescriptor() {
    return new MapStateDescriptor<>(
        "model-newest", StringSerializer.INSTANCE, StringSerializer.INSTANCE);
  }

  /** The keyed value state's descriptor: its serializer is this job's own, never POJO or Kryo. */
  static ValueStateDescriptor<SequenceRecord> sequenceDescriptor() {
    return sequenceDescriptor(new SequenceRecordSerializer());
  }

  private static ValueStateDescriptor<SequenceRecord> sequenceDescriptor(
      TypeSerializer<SequenceRecord> serializer) {
    return new ValueStateDescriptor<>("sequence-record", serializer);
  }

  /**
   * Exact mode's buffered steps, in blocks keyed by the steps the sequence had taken in before each
   * (so keys only grow): one per engine call that added steps, or on the heap backend one per
   * kilobyte of them, the latest waiting in the record's tail (EngineCalls#append). A map rather
   * than a list: on RocksDB a list is one value per sequence that every compaction rewrites whole,
   * so a long sequence's later steps cost more than its first (docs/operations.md, "State").
   */
  static MapStateDescriptor<Long, StepBlock> exactBlocksDescriptor() {
    return exactBlocksDescriptor(new StepBlock.Serializer());
  }

  private static MapStateDescriptor<Long, StepBlock> exactBlocksDescriptor(
      TypeSerializer<StepBlock> serializer) {
    return new MapStateDescriptor<>("exact-blocks", LongSerializer.INSTANCE, serializer);
  }

  /**
   * Where exact mode kept its steps before {@link #exactBlocksDescriptor} ({@link StateMigration}).
   */
  static ListStateDescriptor<StepBlock> exactStepsListDescriptor() {
    return new ListStateDescriptor<>("exact-steps", new StepBlock.Serializer());
  }

  static MapStateDescriptor<Long, InputEvent> reorderDescriptor() {
    return new MapStateDescriptor<>(
        "reorder", LongSerializer.INSTANCE, new ReorderPieceSerializer());
  }

  @Override
  public void open() throws Exception {
    super.open();
    models =
        new ModelUpgrades(
            settings,
            versions,
            newestState,
            getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
            r -> {
              deadLetters.get(DeadLetter.Reason.BAD_MODEL).inc();
              collect(r);
            });
    models.open();
    int width = models.engine(models.newest(), settings.stream()).inputWidth();
    order = new StepOrder(width, settings.reorderWindow());
    encoder = new OutputEncoder(settings);
    sequence = getPartitionedState(sequenceDescriptor(recordSerializer));
    exactBlocks = getPartitionedState(exactBlocksDescriptor(blockSerializer));
    reorder = getPartitionedState(reorderDescriptor());
    reorderBuffer = new ReorderBuffer();
    orderSink = new OrderSink();
    timers = getInternalTimerService("sequence-timers", VoidNamespaceSerializer.INSTANCE, this);
    long shortest =
        Math.min(settings.idleTimeout().toMillis(), settings.reorderTimeout().toMillis());
    long probeMillis =
        Math.max(50, (shortest > 0 ? shortest : settings.idleTimeout().toMillis()) / 4);
    if (settings.bootstrapServers() != null) {
      liveness =
          new InputLiveness(
              settings.bootstrapServers(),
              settings.kafkaProperties(),
              settings.inputTopic(),
              BiStreamJob.groupId(settings));
    }
    input =
        new InputClock(now(), probeMillis, liveness == null ? null : liveness::consumedEverything);
    if (liveness != null) {
      probeInput(probeMillis);
    }
    if (restored) {
      new StateMigration(this).run();
      countRestoredState();
    }
    var metrics = getMetricGroup();
    recordsIn = metrics.counter("bistreamRecordsIn");
    recordsOut = metrics.counter("bistreamRecordsOut");
    duplicates = metrics.counter("duplicateSteps");
    deadLetters = new EnumMap<>(DeadLetter.Reason.class);
    for (DeadLetter.Reason r : DeadLetter.Reason.values()) {
      deadLetters.put(r, metrics.addGroup("deadLetterReason", r.code()).counter("deadLetters"));
    }
    metrics.gauge("activeSequences", () -> activeSequences);
    metrics.gauge("modelVersionsLoaded", () -> models.loadedVersions().size());
    metrics.gauge("bufferedSteps", () -> bufferedSteps);
    chunkMicros = metrics.histogram("chunkComputeMicros", new DescriptiveStatisticsHistogram(1000));
    latencyMillis =
        metrics.histogram("eventToOutputMillis", new DescriptiveStatisticsHistogram(1000));
    batch =
        new EngineCalls(
            this,
            models,
            sequence,
            exactBlocks,
            encoder,
            chunkMicros,
            latencyMillis,
            getKeyedStateBackend() instanceof HeapKeyedStateBackend ? EXACT_TAIL_BYTES : 0);
  }

  /** Asks the broker about quiet input partitions every {@code probeMillis} (InputClock#probe). */
  private void probeInput(long probeMillis) {
    getProcessingTimeService()
        .registerTimer(
            now() + probeMillis,
            at -> {
              if (liveness != null) { // not closed
                input.probe(now());
                probeInput(probeMillis);
              }
            });
  }

  /**
   * Sets the gauges to what this subtask was given by a restore or a rescale: its open sequences
   * and the steps in their reorder buffers (a pass over its keys, once).
   */
  private void countRestoredState() throws Exception {
    getKeyedStateBackend()
        .applyToAllKeys(
            VoidNamespace.INSTANCE,
            VoidNamespaceSerializer.INSTANCE,
            sequenceDescriptor(recordSerializer),
            (key, state) -> {
              SequenceRecord s = state.value();
              if (s != null && !s.ended) {
                activeSequences++;
                bufferedSteps += s.bufferedSteps;
                models.use(s);
              }
            });
  }

  @Override
  public void close() throws Exception {
    if (liveness != null) {
      liveness.close();
      liveness = null;
    }
    if (models != null) {
      models.close();
    }
    super.close();
  }

  @Override
  public void processElement1(StreamRecord<InputEvent> element) throws Exception {
    processElement(element);
  }

  /** A model record (ModelUpgrades). */
  @Override
  public void processElement2(StreamRecord<ModelUpdate> element) throws Exception {
    models.take(element.getValue());
  }

  /** Open sequences of this subtask per model version (tests). */
  Map<String, Long> sequencesPerVersion() {
    return models.users();
  }

  /** The versions this subtask holds loaded (tests). */
  java.util.Set<String> loadedVersions() {
    return models.loadedVersions();
  }

  /** The settings sequence {@code s} runs in: those it started with. */
  StreamConfig config(SequenceRecord s) {
    if (s.config == null) {
      return settings.stream(); // state from before the settings were kept per sequence
    }
    if (!loggedOtherConfig && !s.config.equals(settings.stream())) {
      loggedOtherConfig = true;
      LOG.warn(
          "Sequences restored from state run under the streaming settings they started with ({}),"
              + " not this job's ({}); new sequences use this job's. Logged once.",
          s.config,
          settings.stream());
    }
    return s.config;
  }

  JobSettings settings() {
    return settings;
  }

  // ------------------------------------------------------------------ input

  @Override
  public void processElement(StreamRecord<InputEvent> element) throws Exception {
    InputEvent e = element.getValue();
    recordsIn.inc();
    input.processed(e.partition, e.timestamp, now());
    try {
      if (e.control != null) {
        control(e);
      } else {
        accept(e);
      }
    } catch (OutputFailed f) {
      throw f;
    } catch (RuntimeException ex) {
      failed(e, ex);
    }
    if (batch.size() >= settings.batchSize()) {
      flush();
    } else if (!batch.isEmpty() && batchDeadline == 0) {
      batchDeadline = now() + settings.batchMaxWait().toMillis();
      if (!batchTimerSet) {
        setBatchTimer();
      }
    }
  }

  /**
   * Sets the one timer that flushes a batch at its deadline. A batch filled before its deadline is
   * flushed at once, and the timer, when it fires, flushes the batch waiting then only if that
   * batch's own deadline has come, else waits on for it: one timer per batch wait at most, where
   * one per batch flushed batches early and cost a timer every {@code batchSize} records.
   */
  private void setBatchTimer() {
    batchTimerSet = true;
    getProcessingTimeService()
        .registerTimer(
            batchDeadline,
            t -> {
              batchTimerSet = false;
              if (batchDeadline == 0) {
                return; // nothing waits
              }
              if (now() >= batchDeadline) {
                flush();
              } else {
                setBatchTimer();
              }
            });
  }

  /** The state of the current key's sequence: in the batch when waiting there, else in state. */
  private SequenceRecord load(String seq) throws Exception {
    SequenceRecord s = batch.stateOf(seq);
    return s != null ? s : sequence.value();
  }

  /** Writes {@code s} unless it waits in the batch, which writes it after the engine call. */
  private void save(String seq, SequenceRecord s) throws Exception {
    if (!batch.waits(seq)) {
      sequence.update(s);
    }
  }

  /**
   * A record the job could not handle (a defect, or input no check foresaw): it and its sequence
   * end as {@code engine_error} dead letters, never a task failure that would replay it forever.
   */
  private void failed(InputEvent e, RuntimeException ex) throws Exception {
    EngineCalls.Ready r = batch.remove(e.seq);
    SequenceRecord s = r != null ? r.record : current != null ? current : sequence.value();
    current = null;
    if (r == null || !r.holds(e)) {
      LOG.warn("The job failed on a record of sequence {}", e.seq, ex);
      deadLetter(
          e,
          DeadLetter.Reason.ENGINE_ERROR,
          "the job failed on this record: "
              + ex.getClass().getSimpleName()
              + (ex.getMessage() == null ? "" : ": " + ex.getMessage())
              + "; its sequence is ended");
    }
    if (s != null && !s.ended) {
      batch.engineError(e.seq, s, r, ex);
    }
  }

  private void accept(InputEvent e) throws Exception {
    SequenceRecord s = load(e.seq);
    if (s == null) {
      s = newSequence();
      activeSequences++;
      s.startedAt = now();
      s.idleTimeoutMs = e.idleTimeoutMs;
      s.idleTimer = arm(now() + s.idleTimeoutMillis(settings), 0);
    } else if (s.ended) {
      order.refuseAfterEnd(s, e, settings.stream().maxSequenceSteps(), orderSink);
      return;
    } else if (e.idleTimeoutMs > 0 && e.idleTimeoutMs != s.idleTimeoutMs) {
      // A record asks another idle timeout: it counts from this record on.
      s.idleTimeoutMs = e.idleTimeoutMs;
      if (s.idleTimer != 0) {
        timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
      }
      s.idleTimer = arm(now() + s.idleTimeoutMs, s.reorderTimer);
    }
    current = s;
    // Any record of the sequence, even a duplicate or one it refuses, shows it is not idle.
    s.partition = e.partition;
    s.lastSeenTimestamp = Math.max(s.lastSeenTimestamp, e.timestamp);
    s.lastSeenAt = now();
    int bufferedBefore = s.bufferedSteps;
    StepOrder.Outcome outcome = order.accept(s, e, reorderBuffer, orderSink);
    bufferedSteps += s.bufferedSteps - bufferedBefore;
    current = null;
    if (outcome == StepOrder.Outcome.STATE_LOST) {
      clear(e.seq, s, 0, Tombstone.Why.STATE_LOST);
      return;
    }
    if (s.bufferedSteps > 0 && s.reorderTimer == 0 && settings.reorderTimeout().toMillis() > 0) {
      s.reorderSince = e.timestamp;
      s.reorderTimer = arm(now() + settings.reorderTimeout().toMillis(), s.idleTimer);
    } else if (s.bufferedSteps == 0 && s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
      s.reorderTimer = 0;
    }
    if (outcome == StepOrder.Outcome.END_REACHED) {
      batch.end(e.seq, s, Tombstone.Why.END_MARKER);
    }
    save(e.seq, s);
  }

  /**
   * A control record (docs/operations.md, "Control records and end reasons"), applied where it
   * stands among its sequence's records: the steps taken in before it are first advanced through
   * the engine, as they would be had the sequence gone on, so what it releases does not depend on
   * batching.
   */
  private void control(InputEvent e) throws Exception {
    flush();
    setCurrentKey(e.seq);
    SequenceRecord s = sequence.value();
    if (e.control == InputEvent.Control.RESET) {
      reset(e, s);
      return;
    }
    if (s == null) {
      deadLetter(
          e,
          DeadLetter.Reason.BAD_RECORD,
          "nothing to flush: this job holds no state for sequence "
              + e.seq
              + " (it never started here, or it ended longer than --ended-retention ago)");
      return;
    }
    if (s.ended) {
      order.refuseAfterEnd(s, e, settings.stream().maxSequenceSteps(), orderSink);
      return;
    }
    s.partition = e.partition;
    s.lastSeenTimestamp = Math.max(s.lastSeenTimestamp, e.timestamp);
    s.lastSeenAt = now();
    int bufferedBefore = s.bufferedSteps;
    current = s;
    Tombstone.Why why = order.flush(s, reorderBuffer, orderSink);
    current = null;
    bufferedSteps += s.bufferedSteps - bufferedBefore;
    if (why == Tombstone.Why.STATE_LOST) {
      clear(e.seq, s, 0, why);
      return;
    }
    batch.end(e.seq, s, why);
    flush();
  }

  /**
   * A reset: an open sequence's buffered steps are {@code gap_not_filled} dead letters, it gets its
   * end record ({@code "why":"reset"}, the steps taken in) and all its state goes, with no
   * tombstone, so its next record starts it again at step 0. An ended sequence's tombstone goes
   * too: its id may start again at once. A sequence the job holds nothing of is already where a
   * reset puts it.
   */
  private void reset(InputEvent e, SequenceRecord s) throws Exception {
    if (s == null) {
      return;
    }
    if (s.ended) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.retainUntil);
      sequence.clear();
      return;
    }
    int bufferedBefore = s.bufferedSteps;
    order.reset(s, reorderBuffer, orderSink);
    bufferedSteps += s.bufferedSteps - bufferedBefore;
    emitEnd(e.seq, s.received, Tombstone.Why.RESET, s);
    if (s.idleTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
    }
    if (s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
    }
    if (s.appendsSteps(settings.stream())) {
      exactBlocks.clear();
    }
    sequence.clear();
    activeSequences = Math.max(0, activeSequences - 1);
    models.release(s);
  }

  /** The reorder buffer of the current key, in its map state. */
  private final class ReorderBuffer implements StepOrder.Buffer {
    @Override
    public NavigableMap<Long, InputEvent> load() throws Exception {
      TreeMap<Long, InputEvent> all = new TreeMap<>();
      for (Map.Entry<Long, InputEvent> entry : reorder.entries()) {
        all.put(entry.getKey(), entry.getValue());
      }
      return all;
    }

    @Override
    public void put(InputEvent piece) throws Exception {
      reorder.put(piece.t, piece);
    }

    @Override
    public void remove(long t) throws Exception {
      reorder.remove(t);
    }

    @Override
    public void clear() {
      reorder.clear();
    }
  }

  /** Carries out what StepOrder decides for the current key's sequence ({@link #current}). */
  private final class OrderSink implements StepOrder.Sink {
    @Override
    public void feed(InputEvent e, int from, int count) {
      batch.add(e.seq, current, e, from, count);
      current.lastTimestamp = Math.max(current.lastTimestamp, e.timestamp);
    }

    @Override
    public void refuse(InputEvent e, DeadLetter.Reason reason, String detail) {
      deadLetter(e, reason, detail);
    }

    @Override
    public void duplicate() {
      duplicates.inc();
    }
  }

  // ------------------------------------------------------------------ timers

  @Override
  public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
    String seq = timer.getKey();
    SequenceRecord s = load(seq);
    if (s == null) {
      return;
    }
    long time = timer.getTimestamp();
    if (s.ended) {
      if (time >= s.retainUntil) {
        sequence.clear(); // the retention of the ended id is over
      }
      return;
    }
    boolean idle;
    if (time == s.reorderTimer) {
      long wait =
          input.waitLeft(s.partition, s.reorderSince, settings.reorderTimeout().toMillis(), now());
      if (wait > 0) {
        s.reorderTimer = arm(now() + wait, s.idleTimer);
        save(seq, s);
        return;
      }
      s.reorderTimer = 0;
      idle = false;
    } else if (time == s.idleTimer) {
      long timeout = s.idleTimeoutMillis(settings);
      // At least a whole timeout since its latest record was taken in, and in the input's time.
      long wait =
          Math.max(
              s.lastSeenAt + timeout - now(),
              input.waitLeft(s.partition, s.lastSeenTimestamp, timeout, now()));
      if (wait > 0) {
        s.idleTimer = arm(now() + wait, s.reorderTimer);
        save(seq, s);
        return;
      }
      s.idleTimer = 0;
      idle = true;
    } else {
      return;
    }
    int bufferedBefore = s.bufferedSteps;
    Tombstone.Why why = order.expire(s, idle, reorderBuffer, orderSink);
    bufferedSteps += s.bufferedSteps - bufferedBefore;
    if (why == Tombstone.Why.STATE_LOST) {
      clear(seq, s, 0, why);
      return;
    }
    batch.end(seq, s, why);
    flush();
  }

  /**
   * Registers a timer of the current sequence at {@code at}, or a millisecond later when its other
   * timer is at {@code at}: Flink keeps one timer per key and time, and each must fire.
   */
  private long arm(long at, long other) {
    long when = at == other ? at + 1 : at;
    timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, when);
    return when;
  }

  @Override
  public void onEventTime(InternalTimer<String, VoidNamespace> timer) {}

  // ------------------------------------------------------------------ batched engine calls

  @Override
  public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
    flush(); // nothing may live outside Flink state when the barrier passes
    super.prepareSnapshotPreBarrier(checkpointId);
  }

  @Override
  public void finish() throws Exception {
    flush();
    super.finish();
  }

  /** Advances every sequence waiting in the batch through its engine (EngineCalls). */
  void flush() throws Exception {
    batchDeadline = 0;
    if (batch != null) {
      batch.flush();
    }
  }

  /** The sequence's one end record: steps taken in, why it ended, its model version. */
  void emitEnd(String seq, long steps, Tombstone.Why why, SequenceRecord s) {
    send(encoder.end(seq, steps, why, models.versionOf(s)));
  }

  void send(OutputRecord r) {
    recordsOut.inc();
    collect(r);
  }

  /**
   * Hands {@code r} to the output: the Kafka sink chained to this operator writes it in this
   * thread, so its failure surfaces here, as {@link OutputFailed}.
   */
  private void collect(OutputRecord r) {
    try {
      output.collect(new StreamRecord<>(r));
    } catch (RuntimeException e) {
      throw new OutputFailed(e);
    }
  }

  /**
   * The output failed (the chained Kafka sink): the task fails and restores from its last
   * checkpoint. The handlers that end a sequence on a failure of its own (a defect, input no check
   * foresaw, a model failure) let it pass: it is no sequence's, and ending one for it would lose
   * outputs the restore does not give back.
   */
  static final class OutputFailed extends RuntimeException {
    private static final long serialVersionUID = 1L;

    OutputFailed(RuntimeException cause) {
      super("the output sink failed: " + cause.getMessage(), cause);
    }
  }

  /**
   * Ends the current sequence: its timers and buffers go, its state becomes a tombstone that
   * refuses later records until a timer removes it after the ended-sequence retention.
   */
  void clear(String seq, SequenceRecord s, long steps, Tombstone.Why why) throws Exception {
    if (s.idleTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
    }
    if (s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
    }
    if (s.bufferedSteps > 0) {
      bufferedSteps -= s.bufferedSteps;
      reorder.clear();
    }
    if (s.appendsSteps(settings.stream())) {
      exactBlocks.clear();
    }
    batch.remove(seq);
    long retainUntil = now() + settings.endedRetention().toMillis();
    models.release(s); // before the tombstone forgets the version
    s.end(why, steps, retainUntil);
    sequence.update(s);
    timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, retainUntil);
    activeSequences = Math.max(0, activeSequences - 1);
  }

  /**
   * A sequence in the job's current streaming settings on the newest model version, which it keeps
   * to its end.
   */
  private SequenceRecord newSequence() {
    SequenceRecord s = new SequenceRecord();
    StreamConfig c = settings.stream();
    s.config = c;
    s.modelVersion = models.newest();
    EngineStates.keep(
        s, models.engine(s.modelVersion, c).newSequence().snapshot(), s.appendsSteps(c));
    models.use(s);
    return s;
  }

  void deadLetter(InputEvent e, DeadLetter.Reason reason, String detail) {
    deadLetters.get(reason).inc();
    collect(encoder.deadLetter(e, reason, detail));
  }

  long now() {
    return getProcessingTimeService().getCurrentProcessingTime();
  }

  /** The records of {@code s} waiting in the current key's reorder buffer. */
  List<InputEvent> buffered(SequenceRecord s) throws Exception {
    return order.buffered(s, reorderBuffer);
  }

  // ------------------------------------------------------------------ state views

  /**
   * Ids of the open sequences ({@code ended} false) or of the ended ones still retained, in a keyed
   * state backend of this operator (tests and state inspection).
   */
  public static java.util.Set<String> sequences(
      org.apache.flink.runtime.state.KeyedStateBackend<String> backend, boolean ended)
      throws Exception {
    java.util.Set<String> ids = new java.util.TreeSet<>();
    backend.applyToAllKeys(
        VoidNamespace.INSTANCE,
        VoidNamespaceSerializer.INSTANCE,
        sequenceDescriptor(),
        (key, state) -> {
          SequenceRecord s = state.value();
          if (s != null && s.ended == ended) {
            ids.add(key);
          }
        });
    return ids;
  }

  // ------------------------------------------------------------------ state of earlier versions

  ValueState<SequenceRecord> sequenceState() {
    return sequence;
  }

  MapState<Long, StepBlock> exactBlocksState() {
    return exactBlocks;
  }

  InternalTimerService<VoidNamespace> timerService() {
    return timers;
  }
}
