package io.bistream.job;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.model.Model;
import io.bistream.core.stream.Emission;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.Float32;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
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
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The keyed heart of the job: per sequence id, orders steps, drops duplicates, feeds the streaming
 * engine and emits outputs, end records and dead letters.
 *
 * <p>Keyed state holds the engine's arrays, the reorder buffer and the bookkeeping ({@link
 * KeyedSequence}). Ready steps of many sequences are collected in memory and advanced through the
 * engine in one batched call when {@code batchSize} sequences are waiting, after {@code
 * batchMaxWait}, and always before a checkpoint barrier passes ({@link
 * #prepareSnapshotPreBarrier}), so no step lives outside Flink state at a checkpoint. State and
 * timers of a sequence are cleared when it ends (end marker, idle timeout, gap never filled); only
 * a small tombstone with a TTL remains to refuse data after end.
 *
 * <p>Idle and reorder timeouts measure the absence of data in the input's own time (Kafka record
 * timestamps), not the job's: a processing-time timer only prompts a check, and a sequence ends
 * when records of its partition stamped a whole timeout after its latest record have been
 * processed, or when nothing at all was processed from its partition for a whole timeout. A job
 * that is behind its input (a backlog, a slow start) keeps re-arming the timer instead of ending
 * sequences whose later records are still queued (docs/operations.md, "Timeouts").
 */
public final class SequenceOperator extends AbstractStreamOperator<OutputRecord>
    implements OneInputStreamOperator<InputEvent, OutputRecord>,
        Triggerable<String, VoidNamespace> {

  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();
  // The longest text of a float and its comma: -1.2345678E-38,
  private static final int MAX_FLOAT_CHARS = 16;
  private static final JsonFactory OUTPUT_JSON =
      JsonFactory.builder().enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build();

  private final JobSettings settings;

  private transient StreamingEngine engine;
  private transient int width;
  private transient ValueState<KeyedSequence> sequence;
  private transient MapState<Long, InputEvent> reorder;
  private transient ValueState<Long> ended;
  private transient InternalTimerService<VoidNamespace> timers;
  // Sequences with steps ready for the engine, in arrival order: id -> steps and end flag.
  private transient Map<String, Ready> batch;
  private transient long batchDeadline;
  // Input progress per source partition: Kafka time reached and when it was last seen.
  private transient Map<Integer, PartitionProgress> progress;
  private transient long openedAt;
  private transient int outputBytes;

  private transient Counter recordsIn;
  private transient Counter recordsOut;
  private transient Counter duplicates;
  private transient Map<DeadLetter.Reason, Counter> deadLetters;
  private transient Histogram chunkMicros;
  private transient Histogram latencyMillis;
  private transient long activeSequences;
  private transient long bufferedSteps;

  /** How far this subtask has read one input partition. */
  private static final class PartitionProgress {
    long maxTimestamp = Long.MIN_VALUE; // latest Kafka timestamp processed
    long processedAt; // processing time of the latest record processed
  }

  /** Steps of one sequence waiting for the next batched engine call. */
  private static final class Ready {
    final List<float[]> rows = new ArrayList<>();
    boolean end;
  }

  public SequenceOperator(JobSettings settings) {
    this.settings = settings;
  }

  @Override
  public void open() throws Exception {
    super.open();
    Model model = ModelCache.get(settings.model());
    engine = new StreamingEngine(model, settings.stream());
    width = engine.inputWidth();
    sequence = getPartitionedState(new ValueStateDescriptor<>("sequence", KeyedSequence.class));
    reorder =
        getPartitionedState(
            new MapStateDescriptor<>("reorder", Types.LONG, TypeInformation.of(InputEvent.class)));
    ValueStateDescriptor<Long> endedDescriptor = new ValueStateDescriptor<>("ended", Types.LONG);
    endedDescriptor.enableTimeToLive(StateTtlConfig.newBuilder(settings.endedRetention()).build());
    ended = getPartitionedState(endedDescriptor);
    timers = getInternalTimerService("sequence-timers", VoidNamespaceSerializer.INSTANCE, this);
    batch = new LinkedHashMap<>();
    progress = new HashMap<>();
    openedAt = now();
    outputBytes = maxOutputBytes(settings);
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

  // ------------------------------------------------------------------ input

  @Override
  public void processElement(StreamRecord<InputEvent> element) throws Exception {
    InputEvent e = element.getValue();
    recordsIn.inc();
    PartitionProgress p = progress.computeIfAbsent(e.partition, k -> new PartitionProgress());
    p.maxTimestamp = Math.max(p.maxTimestamp, e.timestamp);
    p.processedAt = now();
    if (ended.value() != null) {
      deadLetter(
          e,
          DeadLetter.Reason.DATA_AFTER_END,
          "sequence " + e.seq + " already ended after " + ended.value() + " steps");
      return;
    }
    KeyedSequence s = sequence.value();
    if (s == null) {
      s = newSequence();
      activeSequences++;
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
    if (e.t + e.steps <= s.nextT) {
      duplicates.inc(e.steps); // every step already fed: an idempotent replay
    } else if (e.t <= s.nextT) {
      feed(s, e, (int) (s.nextT - e.t));
    } else if (e.steps == 0) {
      // An end marker ahead of missing steps: endAt is recorded, nothing to buffer.
    } else if (e.t - s.nextT > settings.reorderWindow()) {
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
    } else if (reorder.contains(e.t)) {
      duplicates.inc(e.steps);
    } else {
      reorder.put(e.t, e);
      bufferedSteps += e.steps;
      if (s.reorderTimer == 0 && settings.reorderTimeout().toMillis() > 0) {
        s.reorderSince = e.timestamp;
        s.reorderTimer = now() + settings.reorderTimeout().toMillis();
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
      }
    }
    drainReorderBuffer(s);
    if (s.endAt >= 0 && s.nextT == s.endAt) {
      ready(e.seq).end = true;
    }
    touchIdleTimer(s);
    sequence.update(s);
    if (batch.size() >= settings.batchSize()) {
      flush();
    } else if (!batch.isEmpty() && batchDeadline == 0) {
      batchDeadline = now() + settings.batchMaxWait().toMillis();
      getProcessingTimeService().registerTimer(batchDeadline, t -> flush());
    }
  }

  /** Queues the steps of {@code e} from index {@code skip} on: they continue the sequence. */
  private void feed(KeyedSequence s, InputEvent e, int skip) {
    if (skip > 0) {
      duplicates.inc(skip);
    }
    Ready r = ready(e.seq);
    for (int i = skip; i < e.steps; i++) {
      r.rows.add(e.step(i, width));
    }
    s.nextT = e.t + e.steps;
    s.lastTimestamp = Math.max(s.lastTimestamp, e.timestamp);
  }

  private void drainReorderBuffer(KeyedSequence s) throws Exception {
    if (reorder.isEmpty()) {
      return;
    }
    TreeMap<Long, InputEvent> buffered = new TreeMap<>();
    for (Map.Entry<Long, InputEvent> entry : reorder.entries()) {
      buffered.put(entry.getKey(), entry.getValue());
    }
    for (InputEvent b : buffered.values()) {
      if (b.t > s.nextT) {
        break;
      }
      reorder.remove(b.t);
      bufferedSteps -= b.steps;
      if (b.t + b.steps > s.nextT) {
        feed(s, b, (int) (s.nextT - b.t));
      } else {
        duplicates.inc(b.steps);
      }
    }
    if (reorder.isEmpty() && s.reorderTimer != 0) {
      timers.deleteProcessingTimeTimer(VoidNamespace.INSTANCE, s.reorderTimer);
      s.reorderTimer = 0;
    }
  }

  private Ready ready(String seq) {
    return batch.computeIfAbsent(seq, k -> new Ready());
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
    if (time == s.reorderTimer) {
      long wait = waitLeft(s, s.reorderSince, settings.reorderTimeout().toMillis());
      if (wait > 0) {
        s.reorderTimer = rearm(wait);
        sequence.update(s);
        return;
      }
      s.reorderTimer = 0;
      // The gap before the buffered steps was never filled: they are dead letters and the
      // sequence ends where its contiguous steps end.
      gapNotFilled(s, "the steps before it never arrived within the reorder timeout");
      s.endAt = s.nextT;
      ready(seq).end = true;
    } else if (time == s.idleTimer) {
      long wait = waitLeft(s, s.lastSeenTimestamp, settings.idleTimeout().toMillis());
      if (wait > 0) {
        s.idleTimer = rearm(wait);
        sequence.update(s);
        return;
      }
      s.idleTimer = 0;
      gapNotFilled(s, "the sequence went idle before the gap was filled");
      s.endAt = s.nextT;
      ready(seq).end = true;
    }
    sequence.update(s);
    flush();
  }

  /**
   * Milliseconds to wait before the timeout of {@code timeoutMillis} since Kafka time {@code since}
   * may be judged again, or 0 when it has passed: records of the sequence's partition stamped at
   * least the timeout later were processed (the gap is in the data), or nothing was processed from
   * that partition for the whole timeout (the input is quiet, not queued). Records without a
   * timestamp fall back to the processing-time timer alone.
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
    return Math.max(0, timeoutMillis - quietFor);
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

  /** Advances every waiting sequence through the engine in one batched call and emits. */
  void flush() throws Exception {
    batchDeadline = 0;
    if (batch == null || batch.isEmpty()) {
      return;
    }
    Map<String, Ready> work = batch;
    batch = new LinkedHashMap<>();
    List<String> keys = new ArrayList<>();
    List<KeyedSequence> states = new ArrayList<>();
    List<StreamingEngine.Feed> feeds = new ArrayList<>();
    for (Map.Entry<String, Ready> w : work.entrySet()) {
      setCurrentKey(w.getKey());
      KeyedSequence s = sequence.value();
      if (s == null) {
        continue; // ended in the meantime
      }
      SequenceState engineState =
          SequenceState.restore(new SequenceState.Snapshot(s.counters, s.arrays));
      Ready r = w.getValue();
      if (engine.wouldReject(engineState, r.rows.size())) {
        deadLetterSteps(w.getKey(), s, r.rows.size());
        continue;
      }
      float[] steps = new float[r.rows.size() * width];
      for (int i = 0; i < r.rows.size(); i++) {
        System.arraycopy(r.rows.get(i), 0, steps, i * width, width);
      }
      keys.add(w.getKey());
      states.add(s);
      feeds.add(new StreamingEngine.Feed(engineState, steps, r.rows.size(), r.end));
    }
    if (feeds.isEmpty()) {
      return;
    }
    long start = System.nanoTime();
    List<List<Emission>> emitted = engine.advanceAll(feeds);
    chunkMicros.update((System.nanoTime() - start) / 1000);
    long now = now();
    for (int i = 0; i < keys.size(); i++) {
      setCurrentKey(keys.get(i));
      KeyedSequence s = states.get(i);
      SequenceState engineState = feeds.get(i).state();
      for (Emission em : emitted.get(i)) {
        emit(keys.get(i), em);
        latencyMillis.update(Math.max(0, now - s.lastTimestamp));
      }
      if (engineState.ended()) {
        emitEnd(keys.get(i), engineState.receivedSteps());
        clear(s, engineState.receivedSteps());
      } else {
        SequenceState.Snapshot snap = engineState.snapshot();
        s.counters = snap.counters();
        s.arrays = snap.arrays();
        sequence.update(s);
      }
    }
  }

  private void deadLetterSteps(String seq, KeyedSequence s, int steps) throws Exception {
    String detail =
        "exact mode buffers at most "
            + settings.stream().maxSequenceSteps()
            + " steps per sequence; "
            + steps
            + " more arrived after step "
            + (s.nextT - steps)
            + "; the sequence is dropped";
    DeadLetter.Reason reason = DeadLetter.Reason.SEQUENCE_TOO_LONG;
    deadLetters.get(reason).inc();
    output.collect(
        new StreamRecord<>(
            new OutputRecord(
                settings.deadLetterTopic(),
                seq,
                DeadLetter.json(reason, detail, seq, settings.inputTopic(), -1, -1, null))));
    clear(s, s.nextT);
  }

  private void emit(String seq, Emission em) throws IOException {
    String mode = em.degraded() ? "lookahead" : settings.modeName();
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

  private void emitEnd(String seq, long steps) {
    ObjectNode n = JSON.createObjectNode();
    n.put("seq", seq);
    n.put("end", true);
    n.put("steps", steps);
    send(settings.outputTopic(), seq, n.toString().getBytes(StandardCharsets.UTF_8));
  }

  private void send(String topic, String key, byte[] value) {
    recordsOut.inc();
    output.collect(new StreamRecord<>(new OutputRecord(topic, key, value)));
  }

  /** Removes everything of the current sequence; a TTL'd tombstone refuses data after end. */
  private void clear(KeyedSequence s, long steps) throws Exception {
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
    ended.update(steps);
    activeSequences = Math.max(0, activeSequences - 1);
  }

  private KeyedSequence newSequence() {
    KeyedSequence s = new KeyedSequence();
    SequenceState.Snapshot snap = engine.newSequence().snapshot();
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
