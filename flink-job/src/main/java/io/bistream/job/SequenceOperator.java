package io.bistream.job;

import io.bistream.core.model.Model;
import io.bistream.core.stream.Emission;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.ModelUpdate;
import io.bistream.job.records.OutputRecord;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
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
 * StepOrder} order the steps, feeds the streaming engine and emits what {@link OutputEncoder}
 * writes: outputs, end records and dead letters.
 *
 * <p>State per sequence (docs/operations.md, "State"): a {@link SequenceRecord} value (ordering,
 * timers, the streaming settings it started with, the engine's recurrent states and bounded
 * windows), exact mode's growing step buffers as an append-only list of {@link StepBlock}s (read
 * once, at the end), and the reorder buffer as a map from first step to waiting piece (touched only
 * out of order). So a step costs the same state work however many steps are buffered, on every
 * backend. Ready steps of many sequences are collected in memory and advanced through the engine in
 * one batched call when {@code batchSize} sequences are waiting, after {@code batchMaxWait}, and
 * always before a checkpoint barrier passes ({@link #prepareSnapshotPreBarrier}), so no step lives
 * outside Flink state at a checkpoint. A sequence the model fails on becomes {@code engine_error}
 * dead letters; the rest of its batch is advanced again from intact state. No input fails the task.
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
 * has a second, broadcast input of {@link ModelUpdate}s; without it, it is a one-input operator
 * serving {@code --model} alone. A sequence is pinned to the version that was newest on its subtask
 * when it started, and finishes on it; the versions' URIs are broadcast state ({@code
 * model-versions}, the newest in {@code model-newest}), so every subtask can load a pinned version
 * after a restore or rescale. A subtask counts its open sequences per version and drops a version
 * that is not the newest when its count reaches 0. A model record that cannot be loaded, or that
 * takes other input than the running model, is refused with a {@code bad_model} dead letter and the
 * job serves what it served.
 */
public final class SequenceOperator extends AbstractStreamOperator<OutputRecord>
    implements OneInputStreamOperator<InputEvent, OutputRecord>,
        TwoInputStreamOperator<InputEvent, ModelUpdate, OutputRecord>,
        Triggerable<String, VoidNamespace> {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(SequenceOperator.class);

  private final JobSettings settings;
  private final TypeSerializer<SequenceRecord> recordSerializer;
  private final TypeSerializer<StepBlock> blockSerializer;

  /** The key of the newest version in {@link #newestModelDescriptor}. */
  private static final String NEWEST = "newest";

  // The model versions this subtask serves; their URIs in broadcast state.
  private transient ModelVersions models;
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
  // Sequences with steps ready for the engine, in arrival order: id -> state, steps, end flag.
  // Their state is written when the batch is advanced.
  private transient Map<String, Ready> batch;
  private transient long batchDeadline;
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

  /** Steps {@code [from, from + count)} of record {@code event}, queued for the engine. */
  private record Segment(InputEvent event, int from, int count) {}

  /** One sequence waiting for the next batched engine call: its state, steps and records. */
  private static final class Ready {
    final SequenceRecord record;
    final List<Segment> segments = new ArrayList<>();
    int steps;
    Tombstone.Why end; // set when the sequence ends after these steps

    Ready(SequenceRecord record) {
      this.record = record;
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

  /** Broadcast state: {@value #NEWEST} -> the version new sequences start on. */
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
   * Exact mode's buffered steps: one entry per engine call that added steps, keyed by the steps the
   * sequence had taken in before it (each such call takes in at least one, so keys only grow). A
   * map rather than a list: on RocksDB a list is one value per sequence that every compaction
   * rewrites whole, so a long sequence's later steps cost more than its first (docs/operations.md,
   * "State").
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
    models = new ModelVersions(this::uriOf);
    openModels();
    int width = engine(models.newest(), settings.stream()).inputWidth();
    order = new StepOrder(width, settings.reorderWindow());
    encoder = new OutputEncoder(settings);
    sequence = getPartitionedState(sequenceDescriptor(recordSerializer));
    exactBlocks = getPartitionedState(exactBlocksDescriptor(blockSerializer));
    reorder = getPartitionedState(reorderDescriptor());
    reorderBuffer = new ReorderBuffer();
    orderSink = new OrderSink();
    timers = getInternalTimerService("sequence-timers", VoidNamespaceSerializer.INSTANCE, this);
    batch = new LinkedHashMap<>();
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
                use(s);
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

  // ------------------------------------------------------------------ model versions

  /**
   * The versions at start: those of the broadcast state a restore brought, and the job's own {@code
   * --model} under {@code --model-version}. A version the state does not know is the newest (a
   * restart with another model is an upgrade too); else the restored newest stays.
   */
  private void openModels() throws Exception {
    String own = settings.modelVersion();
    String newest = newestState.get(NEWEST);
    String known = versions.get(own);
    if (known == null) {
      versions.put(own, settings.model());
      newest = own;
    } else if (!known.equals(settings.model())) {
      LOG.warn(
          "Model version {} is {} in the restored state, not --model {}: the state's is kept, so"
              + " sequences pinned to {} finish on the model they started on. Give the new model"
              + " another --model-version.",
          own,
          known,
          settings.model(),
          own);
    }
    if (newest == null) {
      newest = own;
    }
    try {
      models.model(newest);
    } catch (RuntimeException e) {
      if (newest.equals(own)) {
        throw e;
      }
      LOG.error(
          "The newest model version {} ({}) cannot be loaded; new sequences start on --model {}"
              + " (version {})",
          newest,
          versions.get(newest),
          settings.model(),
          own,
          e);
      newest = own;
      models.model(newest);
    }
    models.makeNewest(newest);
    newestState.put(NEWEST, newest);
  }

  /** The version sequence {@code s} is pinned to; state from before versions: the job's own. */
  private String versionOf(SequenceRecord s) {
    return s.modelVersion != null ? s.modelVersion : settings.modelVersion();
  }

  /** The URI of {@code version}: the broadcast state's, or --model for the job's own version. */
  private String uriOf(String version) {
    String uri;
    try {
      uri = versions.get(version);
    } catch (Exception e) {
      throw new IllegalStateException("model versions (broadcast state): " + e.getMessage(), e);
    }
    return uri == null && version.equals(settings.modelVersion()) ? settings.model() : uri;
  }

  private StreamingEngine engine(String version, StreamConfig config) {
    return models.engine(version, config);
  }

  /** One more open sequence on its version. */
  private void use(SequenceRecord s) {
    models.use(versionOf(s));
  }

  /** One open sequence less on its version, which goes when no longer used. */
  private void release(SequenceRecord s) {
    models.release(versionOf(s));
  }

  /** Open sequences of this subtask per model version (tests). */
  Map<String, Long> sequencesPerVersion() {
    return models.users();
  }

  /** The versions this subtask holds loaded (tests). */
  java.util.Set<String> loadedVersions() {
    return models.loadedVersions();
  }

  @Override
  public void processElement1(StreamRecord<InputEvent> element) throws Exception {
    processElement(element);
  }

  /**
   * A model record: its version becomes the newest on this subtask once its model is loaded and
   * takes the input the running one takes; else it is refused and nothing changes. Never fails the
   * job.
   */
  @Override
  public void processElement2(StreamRecord<ModelUpdate> element) throws Exception {
    ModelUpdate u = element.getValue();
    try {
      takeModel(u);
    } catch (RuntimeException ex) {
      refuse(
          u,
          "the job failed on this model record; it goes on serving version " + models.newest(),
          "a model record it can apply",
          ex.getClass().getSimpleName() + ": " + ex.getMessage());
    }
  }

  private void takeModel(ModelUpdate u) throws Exception {
    if (u.problem != null) {
      refuse(
          u,
          "not a model record: " + u.problem,
          "{\"model\": URI, \"version\": V}",
          u.text == null ? "an empty record" : "the record shown in \"record\"");
      return;
    }
    String known = versions.get(u.version);
    if (known != null && !known.equals(u.model)) {
      refuse(
          u,
          "version " + u.version + " already names another model; give the new one a new version",
          "model " + known + " (version " + u.version + ")",
          "model " + u.model);
      return;
    }
    boolean loaded = models.loaded(u.version);
    Model m;
    try {
      m = loaded ? models.model(u.version) : ModelCache.acquire(u.model);
    } catch (Exception e) {
      refuse(
          u,
          "the model cannot be loaded; the job goes on serving version " + models.newest(),
          "a model file BiStream can load",
          e.getClass().getSimpleName() + ": " + e.getMessage());
      return;
    }
    StreamingEngine running = engine(models.newest(), settings.stream());
    String expected = inputOf(running);
    String found;
    try {
      found = inputOf(new StreamingEngine(m, settings.stream()));
    } catch (RuntimeException e) {
      found = "a model the job's mode cannot run: " + e.getMessage();
    }
    if (!found.equals(expected)) {
      if (!loaded) {
        ModelCache.release(u.model);
      }
      refuse(
          u,
          "the model takes other input than the running version "
              + models.newest()
              + "; the job goes on serving it",
          expected,
          found);
      return;
    }
    if (!loaded) {
      models.adopt(u.version, u.model, m);
    }
    versions.put(u.version, u.model);
    newestState.put(NEWEST, u.version);
    models.makeNewest(u.version);
    LOG.info(
        "Model version {} ({}) is the newest: new sequences start on it; open ones finish on theirs",
        u.version,
        u.model);
  }

  /** What a model takes, as a model record's dead letter names it. */
  private static String inputOf(StreamingEngine e) {
    return e.tokenVocabulary() > 0
        ? "token ids in [0, " + e.tokenVocabulary() + ")"
        : "input width " + e.inputWidth();
  }

  /**
   * A refused model record: its {@code bad_model} dead letter, written by subtask 0 (each subtask
   * decides, the same way when it reads the same files); any other subtask logs its refusal.
   */
  private void refuse(ModelUpdate u, String detail, String expected, String found) {
    int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
    LOG.warn(
        "Model record {} -> {} at {}/{}@{} refused by subtask {}: {}; expected {}, found {}",
        u.version,
        u.model,
        u.topic,
        u.partition,
        u.offset,
        subtask,
        detail,
        expected,
        found);
    if (subtask != 0) {
      return;
    }
    deadLetters.get(DeadLetter.Reason.BAD_MODEL).inc();
    output.collect(
        new StreamRecord<>(
            new OutputRecord(
                settings.deadLetterTopic(),
                u.version,
                u.deadLetter(detail, expected, found)
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8))));
  }

  /** The settings sequence {@code s} runs in: those it started with. */
  private StreamConfig config(SequenceRecord s) {
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
    } catch (RuntimeException ex) {
      failed(e, ex);
    }
    if (batch.size() >= settings.batchSize()) {
      flush();
    } else if (!batch.isEmpty() && batchDeadline == 0) {
      batchDeadline = now() + settings.batchMaxWait().toMillis();
      getProcessingTimeService().registerTimer(batchDeadline, t -> flush());
    }
  }

  /** The state of the current key's sequence: in the batch when waiting there, else in state. */
  private SequenceRecord load(String seq) throws Exception {
    Ready r = batch.get(seq);
    return r != null ? r.record : sequence.value();
  }

  /** Writes {@code s} unless it waits in the batch, which writes it after the engine call. */
  private void save(String seq, SequenceRecord s) throws Exception {
    if (!batch.containsKey(seq)) {
      sequence.update(s);
    }
  }

  /**
   * A record the job could not handle (a defect, or input no check foresaw): it and its sequence
   * end as {@code engine_error} dead letters, never a task failure that would replay it forever.
   */
  private void failed(InputEvent e, RuntimeException ex) throws Exception {
    Ready r = batch.remove(e.seq);
    SequenceRecord s = r != null ? r.record : current != null ? current : sequence.value();
    current = null;
    boolean queued = r != null && r.segments.stream().anyMatch(g -> g.event == e);
    if (!queued) {
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
      engineError(new Work(e.seq, s, r == null ? new Ready(s) : r, null), ex);
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
      ready(e.seq, s).end = Tombstone.Why.END_MARKER;
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
    ready(e.seq, s).end = why;
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
    release(s);
  }

  private Ready ready(String seq, SequenceRecord s) {
    return batch.computeIfAbsent(seq, k -> new Ready(s));
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
      Ready r = ready(e.seq, current);
      r.segments.add(new Segment(e, from, count));
      r.steps += count;
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
    ready(seq, s).end = why;
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

  /**
   * Advances every waiting sequence through its engine, one batched call per streaming settings,
   * and emits. A sequence the engine fails on ends with {@code engine_error} dead letters; the
   * others of its batch are advanced again one by one from their intact state.
   */
  void flush() throws Exception {
    batchDeadline = 0;
    if (batch == null || batch.isEmpty()) {
      return;
    }
    Map<String, Ready> waiting = batch;
    batch = new LinkedHashMap<>();
    Map<StreamingEngine, List<Work>> byEngine = new LinkedHashMap<>();
    for (Map.Entry<String, Ready> w : waiting.entrySet()) {
      setCurrentKey(w.getKey());
      SequenceRecord s = w.getValue().record;
      if (s.ended) {
        continue; // ended in the meantime
      }
      Work work = new Work(w.getKey(), s, w.getValue(), null);
      try {
        work = new Work(w.getKey(), s, w.getValue(), engine(versionOf(s), config(s)));
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
        setCurrentKey(works.get(0).seq);
        engineError(works.get(0), ex);
        return;
      }
      // One of them (or more) is a poison pill: each again alone, from its intact state.
      for (Work w : works) {
        setCurrentKey(w.seq);
        try {
          w.engineState = restore(w);
          StreamingEngine.Feed f = feed(w);
          List<Emission> out = engine.advanceAll(List.of(f)).get(0);
          complete(w, out);
        } catch (RuntimeException alone) {
          engineError(w, alone);
        }
      }
      return;
    }
    chunkMicros.update((System.nanoTime() - start) / 1000);
    for (int i = 0; i < works.size(); i++) {
      setCurrentKey(works.get(i).seq);
      complete(works.get(i), emitted.get(i));
    }
  }

  private StreamingEngine.Feed feed(Work w) {
    return new StreamingEngine.Feed(
        w.engineState, w.ready.rows(w.engine.inputWidth()), w.ready.steps, w.ready.end != null);
  }

  /**
   * The engine state of {@code w}'s sequence for this engine call. While exact mode's buffers only
   * grow, the call starts from empty buffers and its additions are appended to the list state; the
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
        steps = StepBlock.concat(blocks.values());
      }
    }
    return EngineStates.restore(s, steps);
  }

  /** Emits what the engine released for {@code w} and keeps or ends its state. */
  private void complete(Work w, List<Emission> emitted) throws Exception {
    long now = now();
    String mode = w.engine.config().mode().name().toLowerCase(java.util.Locale.ROOT);
    for (Emission em : emitted) {
      encoder.outputs(w.seq, em, mode, versionOf(w.state), this::send);
      latencyMillis.update(Math.max(0, now - w.state.lastTimestamp));
    }
    SequenceState engineState = w.engineState;
    if (engineState.ended()) {
      emitEnd(w.seq, engineState.receivedSteps(), w.ready.end, w.state);
      clear(w.seq, w.state, engineState.receivedSteps(), w.ready.end);
      return;
    }
    boolean appended = w.state.appendsSteps(settings.stream());
    long receivedBefore = w.state.received;
    StepBlock added = EngineStates.keep(w.state, engineState.snapshot(), appended);
    if (appended && w.state.degraded) {
      exactBlocks.clear(); // degraded to lookahead: the exact buffers are dropped
    } else if (added != null) {
      exactBlocks.put(receivedBefore, added);
    }
    sequence.update(w.state);
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
      deadLetter(
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
    for (InputEvent b : order.buffered(w.state, reorderBuffer)) {
      deadLetter(
          b,
          DeadLetter.Reason.ENGINE_ERROR,
          "sequence " + w.seq + " was ended by a model failure before this step: " + what);
    }
    emitEnd(w.seq, taken, Tombstone.Why.ENGINE_ERROR, w.state);
    clear(w.seq, w.state, taken, Tombstone.Why.ENGINE_ERROR);
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
        deadLetter(g.event, DeadLetter.Reason.SEQUENCE_TOO_LONG, detail);
      }
    }
    for (InputEvent b : order.buffered(w.state, reorderBuffer)) {
      deadLetter(b, DeadLetter.Reason.SEQUENCE_TOO_LONG, detail);
    }
    emitEnd(w.seq, taken, Tombstone.Why.MAX_STEPS, w.state);
    clear(w.seq, w.state, taken, Tombstone.Why.MAX_STEPS);
  }

  /** The sequence's one end record: steps taken in, why it ended, its model version. */
  private void emitEnd(String seq, long steps, Tombstone.Why why, SequenceRecord s) {
    send(encoder.end(seq, steps, why, versionOf(s)));
  }

  private void send(OutputRecord r) {
    recordsOut.inc();
    output.collect(new StreamRecord<>(r));
  }

  /**
   * Ends the current sequence: its timers and buffers go, its state becomes a tombstone that
   * refuses later records until a timer removes it after the ended-sequence retention.
   */
  private void clear(String seq, SequenceRecord s, long steps, Tombstone.Why why) throws Exception {
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
    release(s); // before the tombstone forgets the version
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
    EngineStates.keep(s, engine(s.modelVersion, c).newSequence().snapshot(), s.appendsSteps(c));
    use(s);
    return s;
  }

  private void deadLetter(InputEvent e, DeadLetter.Reason reason, String detail) {
    deadLetters.get(reason).inc();
    output.collect(new StreamRecord<>(encoder.deadLetter(e, reason, detail)));
  }

  long now() {
    return getProcessingTimeService().getCurrentProcessingTime();
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
