package io.bistream.job;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.model.Model;
import io.bistream.core.stream.Emission;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.Float32;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
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
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed heart of the job: per sequence id, orders steps, drops duplicates, feeds the streaming
 * engine and emits outputs, end records and dead letters.
 *
 * <p>Keyed state holds the engine's arrays, the reorder buffer and the bookkeeping ({@link
 * KeyedSequence}), including the streaming settings the sequence started with: a job restored with
 * other settings finishes open sequences in theirs. Ready steps of many sequences are collected in
 * memory and advanced through the engine in one batched call when {@code batchSize} sequences are
 * waiting, after {@code batchMaxWait}, and always before a checkpoint barrier passes ({@link
 * #prepareSnapshotPreBarrier}), so no step lives outside Flink state at a checkpoint. A sequence
 * the model fails on becomes {@code engine_error} dead letters; the rest of its batch is advanced
 * again from intact state. No input fails the task.
 *
 * <p>A step is taken once: a replay with the same values is a duplicate, with other values a {@code
 * conflicting_duplicate} dead letter (the first value is kept), checked against the reorder buffer
 * and hashes of the last fed steps ({@link #MAX_RECENT}). Records overlapping buffered ones are
 * merged step by step.
 *
 * <p>Every sequence the job opened gets exactly one end record, {@code {"seq","end":true,
 * "steps":N,"why":...}} (end marker, idle timeout, gap not filled, max steps, engine error); state
 * and timers are cleared then, and a small {@link Tombstone} with a TTL refuses later records
 * naming why the sequence ended. A sequence first seen after its first steps (the job started after
 * it, or lost its state) never gets guessed outputs: its records are {@code state_lost} dead
 * letters, and it has no end record as it produced no output.
 *
 * <p>Idle and reorder timeouts measure the absence of data in the input's own time (Kafka record
 * timestamps), not the job's: a processing-time timer only prompts a check, and a sequence ends
 * when records of its partition stamped a whole timeout after its latest record have been
 * processed, or when nothing was processed from its partition for a whole timeout and the job has
 * consumed all of that partition ({@link InputLiveness}: a stalled source or an unreachable broker
 * is not a quiet producer). A job that is behind its input keeps re-arming the timer instead of
 * ending sequences whose later records are still queued (docs/operations.md, "Timeouts").
 */
public final class SequenceOperator extends AbstractStreamOperator<OutputRecord>
    implements OneInputStreamOperator<InputEvent, OutputRecord>,
        Triggerable<String, VoidNamespace> {

  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(SequenceOperator.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  // The longest text of a float and its comma: -1.2345678E-38,
  private static final int MAX_FLOAT_CHARS = 16;
  private static final JsonFactory OUTPUT_JSON =
      JsonFactory.builder().enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build();

  /**
   * Most fed steps per sequence whose value hashes are kept to tell a replay from a conflicting
   * duplicate: the reorder window, at least {@value #MIN_RECENT} and at most {@value #MAX_RECENT}
   * (4 bytes each per open sequence). Older replays are counted as duplicates unchecked.
   */
  static final int MIN_RECENT = 16;

  static final int MAX_RECENT = 1024;

  private final JobSettings settings;

  private transient Model model;
  // One engine per streaming settings: sequences restored from a run with other settings finish
  // in theirs (docs/operations.md, "Restore").
  private transient Map<StreamConfig, StreamingEngine> engines;
  private transient int width;
  private transient boolean loggedOtherConfig;
  private transient ValueState<KeyedSequence> sequence;
  private transient MapState<Long, InputEvent> reorder;
  private transient ValueState<Tombstone> tombstone;
  // The tombstone of state written before Tombstone existed: the step count only.
  private transient ValueState<Long> legacyEnded;
  private transient InternalTimerService<VoidNamespace> timers;
  // Sequences with steps ready for the engine, in arrival order: id -> steps and end flag.
  private transient Map<String, Ready> batch;
  private transient long batchDeadline;
  // Input progress per source partition: Kafka time reached and when it was last seen.
  private transient Map<Integer, PartitionProgress> progress;
  private transient long openedAt;
  private transient int outputBytes;
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

  /** How far this subtask has read one input partition. */
  private static final class PartitionProgress {
    long maxTimestamp = Long.MIN_VALUE; // latest Kafka timestamp processed
    long processedAt; // processing time of the latest record processed
  }

  /** Steps {@code [from, from + count)} of record {@code event}, queued for the engine. */
  private record Segment(InputEvent event, int from, int count) {}

  /** Steps of one sequence waiting for the next batched engine call, with their records. */
  private static final class Ready {
    final List<Segment> segments = new ArrayList<>();
    int steps;
    Tombstone.Why end; // set when the sequence ends after these steps

    float[] rows(int width) {
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
  private record Work(String seq, KeyedSequence state, Ready ready, StreamingEngine engine) {}

  public SequenceOperator(JobSettings settings) {
    this.settings = settings;
  }

  @Override
  public void initializeState(StateInitializationContext context) throws Exception {
    super.initializeState(context);
    restored = context.isRestored();
  }

  @Override
  public void open() throws Exception {
    super.open();
    model = ModelCache.get(settings.model());
    engines = new HashMap<>();
    width = engine(settings.stream()).inputWidth();
    var sequenceDescriptor = new ValueStateDescriptor<>("sequence", KeyedSequence.class);
    var reorderDescriptor =
        new MapStateDescriptor<>("reorder", Types.LONG, TypeInformation.of(InputEvent.class));
    sequence = getPartitionedState(sequenceDescriptor);
    reorder = getPartitionedState(reorderDescriptor);
    StateTtlConfig ttl = StateTtlConfig.newBuilder(settings.endedRetention()).build();
    ValueStateDescriptor<Tombstone> tombstoneDescriptor =
        new ValueStateDescriptor<>("tombstone", Tombstone.class);
    tombstoneDescriptor.enableTimeToLive(ttl);
    tombstone = getPartitionedState(tombstoneDescriptor);
    ValueStateDescriptor<Long> endedDescriptor = new ValueStateDescriptor<>("ended", Types.LONG);
    endedDescriptor.enableTimeToLive(ttl);
    legacyEnded = getPartitionedState(endedDescriptor);
    timers = getInternalTimerService("sequence-timers", VoidNamespaceSerializer.INSTANCE, this);
    batch = new LinkedHashMap<>();
    progress = new HashMap<>();
    openedAt = now();
    outputBytes = maxOutputBytes(settings);
    if (settings.bootstrapServers() != null) {
      long shortest =
          Math.min(settings.idleTimeout().toMillis(), settings.reorderTimeout().toMillis());
      liveness =
          new InputLiveness(
              settings.bootstrapServers(),
              settings.kafkaProperties(),
              settings.inputTopic(),
              BiStreamJob.groupId(settings),
              Math.max(50, (shortest > 0 ? shortest : settings.idleTimeout().toMillis()) / 4));
    }
    if (restored) {
      countRestoredState(sequenceDescriptor, reorderDescriptor);
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
    metrics.gauge("bufferedSteps", () -> bufferedSteps);
    chunkMicros = metrics.histogram("chunkComputeMicros", new DescriptiveStatisticsHistogram(1000));
    latencyMillis =
        metrics.histogram("eventToOutputMillis", new DescriptiveStatisticsHistogram(1000));
  }

  /**
   * Sets the gauges to what this subtask was given by a restore or a rescale: its open sequences
   * and their buffered steps (a pass over its keys, once).
   */
  private void countRestoredState(
      ValueStateDescriptor<KeyedSequence> sequenceDescriptor,
      MapStateDescriptor<Long, InputEvent> reorderDescriptor)
      throws Exception {
    getKeyedStateBackend()
        .applyToAllKeys(
            VoidNamespace.INSTANCE,
            VoidNamespaceSerializer.INSTANCE,
            sequenceDescriptor,
            (key, state) -> activeSequences++);
    getKeyedStateBackend()
        .applyToAllKeys(
            VoidNamespace.INSTANCE,
            VoidNamespaceSerializer.INSTANCE,
            reorderDescriptor,
            (key, state) -> {
              for (InputEvent e : state.values()) {
                bufferedSteps += e.steps;
              }
            });
  }

  @Override
  public void close() throws Exception {
    if (liveness != null) {
      liveness.close();
      liveness = null;
    }
    super.close();
  }

  private StreamingEngine engine(StreamConfig config) {
    return engines.computeIfAbsent(config, c -> new StreamingEngine(model, c));
  }

  /** The settings sequence {@code s} runs in: those it started with. */
  private StreamConfig config(KeyedSequence s) {
    if (s.mode == null) {
      return settings.stream(); // state from before the settings were kept per sequence
    }
    StreamConfig c =
        new StreamConfig(
            StreamConfig.Mode.valueOf(s.mode),
            s.chunk,
            s.lookahead,
            s.maxSequenceSteps,
            StreamConfig.Overflow.valueOf(s.overflow),
            s.leftContext);
    if (!loggedOtherConfig && !c.equals(settings.stream())) {
      loggedOtherConfig = true;
      LOG.warn(
          "Sequences restored from state run under the streaming settings they started with ({}),"
              + " not this job's ({}); new sequences use this job's. Logged once.",
          c,
          settings.stream());
    }
    return c;
  }

  // ------------------------------------------------------------------ input

  @Override
  public void processElement(StreamRecord<InputEvent> element) throws Exception {
    InputEvent e = element.getValue();
    recordsIn.inc();
    PartitionProgress p = progress.computeIfAbsent(e.partition, k -> new PartitionProgress());
    p.maxTimestamp = Math.max(p.maxTimestamp, e.timestamp);
    p.processedAt = now();
    try {
      accept(e);
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

  /**
   * A record the job could not handle (a defect, or input no check foresaw): it and its sequence
   * end as {@code engine_error} dead letters, never a task failure that would replay it forever.
   */
  private void failed(InputEvent e, RuntimeException ex) throws Exception {
    KeyedSequence s = sequence.value();
    Ready r = batch.remove(e.seq);
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
    if (s != null) {
      engineError(new Work(e.seq, s, r == null ? new Ready() : r, null), ex);
    }
  }

  private void accept(InputEvent e) throws Exception {
    KeyedSequence s = sequence.value();
    if (s == null) {
      Tombstone gone = tombstone.value();
      if (gone == null && legacyEnded.value() != null) {
        gone = new Tombstone();
        gone.steps = legacyEnded.value();
      }
      if (gone != null) {
        refuseAfterEnd(e, gone);
        return;
      }
      s = newSequence();
      activeSequences++;
      sequence.update(s); // kept at once, so a failure below still ends it visibly
    }
    // Any record of the sequence, even a duplicate or one it refuses, shows it is not idle.
    s.partition = e.partition;
    s.lastSeenTimestamp = Math.max(s.lastSeenTimestamp, e.timestamp);
    if (s.endAt >= 0 && e.t + e.steps > s.endAt && e.steps > 0) {
      deadLetter(
          e,
          DeadLetter.Reason.DATA_AFTER_END,
          "steps from " + e.t + " arrive after the end marker at step " + s.endAt);
      sequence.update(s);
      return;
    }
    if (e.end) {
      long endAt = e.t + e.steps;
      if (endAt < s.nextT) {
        deadLetter(
            e,
            DeadLetter.Reason.BAD_RECORD,
            "end at step "
                + endAt
                + " but steps up to "
                + (s.nextT - 1)
                + " were already received");
        sequence.update(s);
        return;
      }
      s.endAt = endAt;
    }
    if (e.steps > 0 && e.t > s.nextT && e.t - s.nextT > settings.reorderWindow()) {
      if (s.nextT == 0) {
        stateLost(s, e);
        return;
      }
      deadLetter(
          e,
          DeadLetter.Reason.TOO_FAR_AHEAD,
          "step "
              + e.t
              + " is "
              + (e.t - s.nextT)
              + " steps ahead of the next expected step "
              + s.nextT
              + "; the reorder window is "
              + settings.reorderWindow());
    } else if (e.steps > 0) {
      take(s, e);
    }
    if (s.endAt >= 0 && s.nextT == s.endAt) {
      ready(e.seq).end = Tombstone.Why.END_MARKER;
    }
    touchIdleTimer(s);
    sequence.update(s);
  }

  /**
   * Takes in the steps of {@code e}: steps already fed are compared with what was fed (a replay is
   * a duplicate, other values a conflicting duplicate); the rest is fed when it continues the
   * sequence, or merged step by step into the reorder buffer, where a step already buffered is
   * compared the same way. The first value of a step is always the one kept.
   */
  private void take(KeyedSequence s, InputEvent e) throws Exception {
    Conflicts conflicts = new Conflicts();
    int fedOverlap = (int) Math.max(0, Math.min(e.t + e.steps, s.nextT) - e.t);
    compareFed(s, e, 0, fedOverlap, conflicts);
    boolean bufferEmpty = reorder.isEmpty();
    if (fedOverlap < e.steps && e.t + fedOverlap == s.nextT && bufferEmpty) {
      feed(s, e, fedOverlap, e.steps - fedOverlap); // in order: the common path
    } else if (fedOverlap < e.steps) {
      TreeMap<Long, InputEvent> buffered = buffered();
      merge(e, fedOverlap, buffered, conflicts);
      drainReorderBuffer(s, buffered, conflicts);
      if (!buffered.isEmpty() && s.reorderTimer == 0 && settings.reorderTimeout().toMillis() > 0) {
        s.reorderSince = e.timestamp;
        s.reorderTimer = now() + settings.reorderTimeout().toMillis();
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
      }
    }
    if (conflicts.count > 0) {
      deadLetter(
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
  private void compareFed(KeyedSequence s, InputEvent e, int from, int to, Conflicts conflicts) {
    for (int i = from; i < to; i++) {
      long t = e.t + i;
      if (s.recent != null && t >= s.recentFrom && t >= s.nextT - s.recent.length) {
        if (s.recent[(int) (t % s.recent.length)] != hash(e.values, i * width, width)) {
          conflicts.add(t);
          continue;
        }
      }
      duplicates.inc(); // a replay, or older than the hashes kept: counted as a duplicate
    }
  }

  /**
   * Puts steps {@code from..} of {@code e} into the reorder buffer where no buffered record holds
   * them, as pieces of {@code e}; steps some buffered record holds are compared with it.
   */
  private void merge(
      InputEvent e, int from, TreeMap<Long, InputEvent> buffered, Conflicts conflicts)
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
        bufferPiece(e, t, b.t, buffered);
      }
      long overlapEnd = Math.min(end, b.t + b.steps);
      for (long u = Math.max(t, b.t); u < overlapEnd; u++) {
        if (sameStep(e, (int) (u - e.t), b, (int) (u - b.t))) {
          duplicates.inc();
        } else {
          conflicts.add(u);
        }
      }
      t = Math.max(t, overlapEnd);
    }
    if (t < end) {
      bufferPiece(e, t, end, buffered);
    }
  }

  /** Buffers steps {@code [from, to)} of {@code e} (step indices of the sequence). */
  private void bufferPiece(InputEvent e, long from, long to, TreeMap<Long, InputEvent> buffered)
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
      piece.original = e.original;
    }
    reorder.put(from, piece);
    buffered.put(from, piece);
    bufferedSteps += piece.steps;
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

  /** Queues steps {@code [from, from + count)} of {@code e}: they continue the sequence. */
  private void feed(KeyedSequence s, InputEvent e, int from, int count) {
    if (count <= 0) {
      return;
    }
    if (s.recent == null) {
      s.recent = new int[Math.min(MAX_RECENT, Math.max(MIN_RECENT, settings.reorderWindow()))];
      s.recentFrom = e.t + from;
    }
    for (int i = from; i < from + count; i++) {
      s.recent[(int) ((e.t + i) % s.recent.length)] = hash(e.values, i * width, width);
    }
    Ready r = ready(e.seq);
    r.segments.add(new Segment(e, from, count));
    r.steps += count;
    s.nextT = e.t + from + count;
    s.lastTimestamp = Math.max(s.lastTimestamp, e.timestamp);
  }

  private TreeMap<Long, InputEvent> buffered() throws Exception {
    TreeMap<Long, InputEvent> buffered = new TreeMap<>();
    for (Map.Entry<Long, InputEvent> entry : reorder.entries()) {
      buffered.put(entry.getKey(), entry.getValue());
    }
    return buffered;
  }

  /** Feeds buffered steps that continue the sequence now. */
  private void drainReorderBuffer(
      KeyedSequence s, TreeMap<Long, InputEvent> buffered, Conflicts conflicts) throws Exception {
    while (!buffered.isEmpty() && buffered.firstKey() <= s.nextT) {
      InputEvent b = buffered.pollFirstEntry().getValue();
      reorder.remove(b.t);
      bufferedSteps -= b.steps;
      // Pieces never overlap fed steps; a record buffered by an earlier version might.
      int fedOverlap = (int) Math.max(0, Math.min(b.t + b.steps, s.nextT) - b.t);
      compareFed(s, b, 0, fedOverlap, conflicts);
      feed(s, b, fedOverlap, b.steps - fedOverlap);
    }
    if (buffered.isEmpty() && s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
      s.reorderTimer = 0;
    }
  }

  private Ready ready(String seq) {
    return batch.computeIfAbsent(seq, k -> new Ready());
  }

  /** Refuses a record of a sequence that ended, naming why it ended. */
  private void refuseAfterEnd(InputEvent e, Tombstone gone) {
    Tombstone.Why why = gone.reason();
    switch (why) {
      case STATE_LOST -> deadLetter(e, DeadLetter.Reason.STATE_LOST, stateLostDetail(e.seq, -1));
      case MAX_STEPS ->
          deadLetter(
              e,
              DeadLetter.Reason.SEQUENCE_TOO_LONG,
              "sequence "
                  + e.seq
                  + " was ended after "
                  + gone.steps
                  + " steps: exact mode's --max-sequence-steps ("
                  + settings.stream().maxSequenceSteps()
                  + ") was reached with --overflow reject");
      case ENGINE_ERROR ->
          deadLetter(
              e,
              DeadLetter.Reason.ENGINE_ERROR,
              "sequence "
                  + e.seq
                  + " was ended after "
                  + gone.steps
                  + " steps because the model failed on its steps (see its first engine_error"
                  + " dead letter)");
      default ->
          deadLetter(
              e,
              DeadLetter.Reason.DATA_AFTER_END,
              "sequence "
                  + e.seq
                  + " already ended after "
                  + gone.steps
                  + " steps"
                  + (gone.why == null ? "" : " (" + why.code() + ")"));
    }
  }

  private String stateLostDetail(String seq, long firstT) {
    return "this job holds no state for sequence "
        + seq
        + (firstT > 0 ? " before step " + firstT : "")
        + ": it started after the sequence did, or its state was lost; restore with --restore"
        + " latest";
  }

  /**
   * The sequence's first steps never reached this job (it started after them, or lost its state):
   * its records are dead letters, never guessed outputs, and so are its later records (the
   * tombstone). No end record: it produced no output.
   */
  private void stateLost(KeyedSequence s, InputEvent e) throws Exception {
    TreeMap<Long, InputEvent> buffered = buffered();
    long first = buffered.isEmpty() ? Long.MAX_VALUE : buffered.firstKey();
    if (e != null) {
      first = Math.min(first, e.t);
    }
    for (InputEvent b : buffered.values()) {
      deadLetter(b, DeadLetter.Reason.STATE_LOST, stateLostDetail(b.seq, first));
    }
    if (e != null) {
      deadLetter(e, DeadLetter.Reason.STATE_LOST, stateLostDetail(e.seq, first));
    }
    clear(s, 0, Tombstone.Why.STATE_LOST);
  }

  // ------------------------------------------------------------------ timers

  @Override
  public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
    KeyedSequence s = sequence.value();
    if (s == null) {
      return;
    }
    long time = timer.getTimestamp();
    String seq = timer.getKey();
    boolean hasBuffered;
    boolean idle = false;
    if (time == s.reorderTimer) {
      long wait = waitLeft(s, s.reorderSince, settings.reorderTimeout().toMillis());
      if (wait > 0) {
        s.reorderTimer = rearm(wait);
        sequence.update(s);
        return;
      }
      s.reorderTimer = 0;
      hasBuffered = true;
    } else if (time == s.idleTimer) {
      long wait = waitLeft(s, s.lastSeenTimestamp, settings.idleTimeout().toMillis());
      if (wait > 0) {
        s.idleTimer = rearm(wait);
        sequence.update(s);
        return;
      }
      s.idleTimer = 0;
      idle = true;
      hasBuffered = !reorder.isEmpty();
    } else {
      return;
    }
    if (s.nextT == 0 && (hasBuffered || s.endAt > 0)) {
      stateLost(s, null); // not one step from 0 on: nothing to compute, nothing to guess
      return;
    }
    // The gap before buffered steps (or before an end marker) was never filled: they are dead
    // letters and the sequence ends where its contiguous steps end.
    boolean gap = hasBuffered || s.endAt > s.nextT;
    gapNotFilled(
        s,
        idle
            ? "the sequence went idle before the gap was filled"
            : "the steps before it never arrived within the reorder timeout");
    s.endAt = s.nextT;
    ready(seq).end = gap ? Tombstone.Why.GAP_NOT_FILLED : Tombstone.Why.IDLE_TIMEOUT;
    sequence.update(s);
    flush();
  }

  /**
   * Milliseconds to wait before the timeout of {@code timeoutMillis} since Kafka time {@code since}
   * may be judged again, or 0 when it has passed: records of the sequence's partition stamped at
   * least the timeout later were processed (the gap is in the data), or nothing was processed from
   * that partition for the whole timeout and the input is quiet: the job consumed everything the
   * partition holds (a stalled source or an unreachable broker is not a quiet producer; {@link
   * InputLiveness}). Records without a timestamp fall back to the processing-time timer alone.
   */
  private long waitLeft(KeyedSequence s, long since, long timeoutMillis) {
    if (since <= 0) {
      return 0;
    }
    PartitionProgress p = progress.get(s.partition);
    if (p != null && p.maxTimestamp - since >= timeoutMillis) {
      return 0;
    }
    long quietFor = now() - (p == null ? openedAt : p.processedAt);
    long wait = Math.max(0, timeoutMillis - quietFor);
    if (wait > 0 || liveness == null) {
      return wait;
    }
    return liveness.consumedEverything(s.partition, now()) ? 0 : Math.max(1, timeoutMillis / 4);
  }

  private long rearm(long wait) {
    long at = now() + wait;
    timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, at);
    return at;
  }

  @Override
  public void onEventTime(InternalTimer<String, VoidNamespace> timer) {}

  private void gapNotFilled(KeyedSequence s, String why) throws Exception {
    for (InputEvent b : reorder.values()) {
      deadLetter(
          b,
          DeadLetter.Reason.GAP_NOT_FILLED,
          "step " + b.t + " waited for step " + s.nextT + ": " + why);
      bufferedSteps -= b.steps;
    }
    reorder.clear();
  }

  private void touchIdleTimer(KeyedSequence s) {
    if (s.idleTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
    }
    s.idleTimer = now() + settings.idleTimeout().toMillis();
    timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
  }

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
      KeyedSequence s = sequence.value();
      if (s == null) {
        continue; // ended in the meantime
      }
      Work work;
      try {
        work = new Work(w.getKey(), s, w.getValue(), engine(config(s)));
      } catch (RuntimeException ex) {
        engineError(new Work(w.getKey(), s, w.getValue(), null), ex);
        continue;
      }
      if (work.engine.wouldReject(restore(work), w.getValue().steps)) {
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
          StreamingEngine.Feed f = feed(w);
          List<Emission> out = engine.advanceAll(List.of(f)).get(0);
          complete(w, f.state(), out);
        } catch (RuntimeException alone) {
          engineError(w, alone);
        }
      }
      return;
    }
    chunkMicros.update((System.nanoTime() - start) / 1000);
    for (int i = 0; i < works.size(); i++) {
      setCurrentKey(works.get(i).seq);
      complete(works.get(i), feeds.get(i).state(), emitted.get(i));
    }
  }

  private StreamingEngine.Feed feed(Work w) {
    return new StreamingEngine.Feed(
        restore(w), w.ready.rows(width), w.ready.steps, w.ready.end != null);
  }

  /**
   * The engine state of {@code w}'s sequence. The engine takes over the step buffers of a snapshot
   * and appends past their length in place, which leaves the snapshot intact, but it also drops
   * consumed steps from the front of the pending buffer in place: that one buffer (at most a chunk
   * and its lookahead, plus the left context in context mode, or once a whole sequence when exact
   * mode degrades) is copied first, so a failed batch leaves every sequence's keyed state as it
   * was.
   */
  private SequenceState restore(Work w) {
    KeyedSequence s = w.state;
    StreamConfig c = w.engine.config();
    long[] counters = s.counters;
    float[][] arrays = s.arrays;
    boolean degraded = counters.length > 3 && counters[3] != 0;
    boolean drains =
        c.mode() != StreamConfig.Mode.EXACT
            || degraded
            || (c.overflow() == StreamConfig.Overflow.DEGRADE_TO_LOOKAHEAD
                && counters[0] + w.ready.steps > c.maxSequenceSteps());
    if (drains && arrays.length > 0 && arrays[0].length > 0) {
      arrays = arrays.clone();
      arrays[0] = arrays[0].clone();
    }
    return SequenceState.restore(new SequenceState.Snapshot(counters, arrays));
  }

  /** Emits what the engine released for {@code w} and keeps or ends its state. */
  private void complete(Work w, SequenceState engineState, List<Emission> emitted)
      throws Exception {
    long now = now();
    String mode = w.engine.config().mode().name().toLowerCase(java.util.Locale.ROOT);
    for (Emission em : emitted) {
      emit(w.seq, em, mode);
      latencyMillis.update(Math.max(0, now - w.state.lastTimestamp));
    }
    if (engineState.ended()) {
      emitEnd(w.seq, engineState.receivedSteps(), w.ready.end);
      clear(w.state, engineState.receivedSteps(), w.ready.end);
    } else {
      SequenceState.Snapshot snap = engineState.snapshot();
      w.state.counters = snap.counters();
      w.state.arrays = snap.arrays();
      sequence.update(w.state);
    }
  }

  /**
   * The model failed on {@code w}'s steps: each of their records, and any the sequence buffered, is
   * an {@code engine_error} dead letter naming the failure; the sequence ends with the steps the
   * engine had taken in before.
   */
  private void engineError(Work w, RuntimeException ex) throws Exception {
    LOG.warn("The model failed on sequence {}; the sequence is ended", w.seq, ex);
    long taken = w.state.counters.length > 0 ? w.state.counters[0] : 0;
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
    for (InputEvent b : reorder.values()) {
      deadLetter(
          b,
          DeadLetter.Reason.ENGINE_ERROR,
          "sequence " + w.seq + " was ended by a model failure before this step: " + what);
    }
    emitEnd(w.seq, taken, Tombstone.Why.ENGINE_ERROR);
    clear(w.state, taken, Tombstone.Why.ENGINE_ERROR);
  }

  /**
   * Exact mode's --max-sequence-steps tripped with --overflow reject: every record in flight (and
   * any buffered) is a {@code sequence_too_long} dead letter with its own source coordinates; the
   * sequence ends with the steps taken in before.
   */
  private void maxStepsReached(Work w) throws Exception {
    long taken = w.state.counters[0];
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
    for (InputEvent b : reorder.values()) {
      deadLetter(b, DeadLetter.Reason.SEQUENCE_TOO_LONG, detail);
    }
    emitEnd(w.seq, taken, Tombstone.Why.MAX_STEPS);
    clear(w.state, taken, Tombstone.Why.MAX_STEPS);
  }

  private void emit(String seq, Emission em, String sequenceMode) throws IOException {
    String mode = em.degraded() ? "lookahead" : sequenceMode;
    if (settings.perChunkOutput()) {
      // A chunk larger than a Kafka request (exact mode's is the whole sequence) leaves in
      // several "ys" records, each small enough at the widest float text (or at base64's 4
      // characters per 3 bytes of float32).
      int rowBytes =
          settings.binaryFloats()
              ? (em.width() * 16 + 2) / 3 + 1
              : em.width() * MAX_FLOAT_CHARS + 4;
      int perRecord = Math.max(1, outputBytes / rowBytes);
      for (int from = 0; from < em.steps(); from += perRecord) {
        int count = Math.min(perRecord, em.steps() - from);
        send(
            settings.outputTopic(),
            seq,
            output(seq, em, from, count, "ys", mode, settings.binaryFloats()));
      }
      return;
    }
    for (int r = 0; r < em.steps(); r++) {
      send(settings.outputTopic(), seq, output(seq, em, r, 1, "y", mode, settings.binaryFloats()));
    }
  }

  /**
   * Bytes an output record's values may take: 90% of the producer's {@code max.request.size} (1 MiB
   * unless set with {@code --kafka-property}), the rest left for key, fields and headers.
   */
  private static int maxOutputBytes(JobSettings settings) {
    int bytes = 1 << 20;
    try {
      bytes =
          Integer.parseInt(settings.kafkaProperties().getOrDefault("max.request.size", "").trim());
    } catch (NumberFormatException e) {
      // unset, or not a number: the Kafka producer refuses the latter with its own message
    }
    return Math.max(4096, (int) (bytes * 0.9) - 256);
  }

  /**
   * One output record, streamed straight to UTF-8: {@code seq}, {@code t}, then either one step's
   * values ({@code "y"}) or several rows from {@code t} ({@code "ys"}), {@code mode}, {@code
   * degraded}. Values are JSON numbers written with Jackson's Schubfach writer (the shortest text
   * that reads back as the same float; JDK 17's {@code Float.toString} took ~4x the engine's time
   * in the job, bench --pipeline and JFR), or with {@code --binary-floats} one base64 string of
   * little-endian float32 ({@code "y_f32"}, or {@code "ys_f32"} plus the row {@code "width"}).
   */
  private static byte[] output(
      String seq, Emission em, int from, int count, String field, String mode, boolean binary)
      throws IOException {
    int width = em.width();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + count * width * (binary ? 6 : 12));
    try (JsonGenerator g = OUTPUT_JSON.createGenerator(bytes)) {
      g.writeStartObject();
      g.writeStringField("seq", seq);
      g.writeNumberField("t", em.firstStep() + from);
      if (binary) {
        // The JDK's encoder and a raw (ASCII, nothing to escape) string: 1.2-1.6x Jackson's
        // writeBinary on 1-64 KB, which took 19% of this operator's time in stateful mode.
        byte[] b64 = Float32.base64Ascii(em.values(), from * width, count * width);
        g.writeFieldName(field + "_f32");
        g.writeRawUTF8String(b64, 0, b64.length);
        if (field.equals("ys")) {
          g.writeNumberField("width", width);
        }
      } else {
        g.writeFieldName(field);
        if (field.equals("ys")) {
          g.writeStartArray();
        }
        for (int r = from; r < from + count; r++) {
          g.writeStartArray();
          for (int j = r * width; j < (r + 1) * width; j++) {
            g.writeNumber(em.values()[j]);
          }
          g.writeEndArray();
        }
        if (field.equals("ys")) {
          g.writeEndArray();
        }
      }
      g.writeStringField("mode", mode);
      if (em.degraded()) {
        g.writeBooleanField("degraded", true);
      }
      g.writeEndObject();
    }
    return bytes.toByteArray();
  }

  /** The sequence's one end record: steps taken in and why it ended. */
  private void emitEnd(String seq, long steps, Tombstone.Why why) {
    ObjectNode n = JSON.createObjectNode();
    n.put("seq", seq);
    n.put("end", true);
    n.put("steps", steps);
    n.put("why", why.code());
    send(settings.outputTopic(), seq, n.toString().getBytes(StandardCharsets.UTF_8));
  }

  private void send(String topic, String key, byte[] value) {
    recordsOut.inc();
    output.collect(new StreamRecord<>(new OutputRecord(topic, key, value)));
  }

  /** Removes everything of the current sequence; a TTL'd tombstone refuses data after end. */
  private void clear(KeyedSequence s, long steps, Tombstone.Why why) throws Exception {
    if (s.idleTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.idleTimer);
    }
    if (s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
    }
    for (InputEvent b : reorder.values()) {
      bufferedSteps -= b.steps;
    }
    reorder.clear();
    sequence.clear();
    legacyEnded.clear();
    tombstone.update(new Tombstone(steps, why));
    activeSequences = Math.max(0, activeSequences - 1);
  }

  /** A sequence in the job's current streaming settings, which it keeps to its end. */
  private KeyedSequence newSequence() {
    KeyedSequence s = new KeyedSequence();
    StreamConfig c = settings.stream();
    s.mode = c.mode().name();
    s.chunk = c.chunk();
    s.lookahead = c.lookahead();
    s.maxSequenceSteps = c.maxSequenceSteps();
    s.overflow = c.overflow().name();
    s.leftContext = c.leftContext();
    SequenceState.Snapshot snap = engine(c).newSequence().snapshot();
    s.counters = snap.counters();
    s.arrays = snap.arrays();
    return s;
  }

  private void deadLetter(InputEvent e, DeadLetter.Reason reason, String detail) {
    deadLetters.get(reason).inc();
    output.collect(
        new StreamRecord<>(
            new OutputRecord(
                settings.deadLetterTopic(),
                e.seq,
                DeadLetter.json(
                    reason, detail, e.seq, e.topic, e.partition, e.offset, e.original))));
  }

  private long now() {
    return getProcessingTimeService().getCurrentProcessingTime();
  }
}
