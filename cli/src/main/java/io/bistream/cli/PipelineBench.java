package io.bistream.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.management.HotSpotDiagnosticMXBean;
import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.SequenceState;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.BiStreamJobMain;
import io.bistream.job.JobOptions;
import io.bistream.job.StateSize;
import io.bistream.job.local.EmbeddedKafka;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code bench --pipeline}: the Flink job end to end on the embedded broker, one mode at a time,
 * with the bench BiLSTM and many interleaved sequences produced as fast as the producer goes. Per
 * mode: steps/s from the first record produced to the last end record committed, next to the engine
 * alone doing the same work in the same process; event-to-output latency percentiles; and the bytes
 * of keyed state per active sequence, measured by serializing a mid-sequence engine state with the
 * serializer the job's state uses.
 */
final class PipelineBench {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int STEPS_PER_RECORD = 8;
  private static final int CHUNK = 64;
  private static final double JIT_SETTLED = 0.15;
  private static final int MAX_WARM_UPS = 12;
  private static final long MEMORY_DIR_BYTES = 2L << 30;
  private static final int FLOOR_SEQUENCES = 1000;
  private static final int FLOOR_STEPS = 1500;
  private static final int QUICK_FLOOR_SEQUENCES = 200;
  private static final int QUICK_FLOOR_STEPS = 750;
  private static final int LONG_STEPS = 1_000_000;
  private static final int QUICK_LONG_STEPS = 100_000;
  private static final int LONG_CHECKPOINT_MS = 200;
  private static final int PACED_SEQUENCES = 3000;
  private static final int QUICK_PACED_SEQUENCES = 600;
  private static final int PACED_STEPS = 400;
  private static final int PACED_INTERVAL_MS = 50;
  private static final int PACED_CHUNK = 16;

  private final int sequences;
  private final int steps;
  private final List<StreamConfig.Mode> modes;
  private final boolean perChunkOutput;
  private final boolean binaryFloats;
  private final File json;
  private final Path brokerDir;
  private final boolean floor;
  private final boolean longSequence;
  private final boolean paced;
  private final int pacedSequences;
  private final int longSteps;
  private final int floorSequences;
  private final int floorSteps;

  PipelineBench(
      int sequences,
      int steps,
      List<StreamConfig.Mode> modes,
      boolean perChunkOutput,
      boolean binaryFloats,
      File json,
      Path brokerDir,
      boolean floor,
      boolean longSequence,
      boolean paced,
      boolean quick) {
    this.sequences = sequences;
    this.steps = steps;
    this.modes = modes;
    this.perChunkOutput = perChunkOutput;
    this.binaryFloats = binaryFloats;
    this.json = json;
    this.brokerDir = brokerDir != null ? brokerDir : memoryDirectory();
    this.floor = floor;
    this.longSequence = longSequence;
    this.paced = paced;
    this.pacedSequences = quick ? QUICK_PACED_SEQUENCES : PACED_SEQUENCES;
    this.longSteps = quick ? QUICK_LONG_STEPS : LONG_STEPS;
    this.floorSequences = quick ? QUICK_FLOOR_SEQUENCES : FLOOR_SEQUENCES;
    this.floorSteps = quick ? QUICK_FLOOR_STEPS : FLOOR_STEPS;
  }

  /**
   * {@code /dev/shm} when it is a writable file system with {@link #MEMORY_DIR_BYTES} free, else
   * null (the temporary directory). A run writes hundreds of MB to the broker; on this VM's disk
   * the page cache's write-back of it competed with the job for the two cores (stateful at 30k
   * steps/s with the logs on disk, 66k in memory, back to back, when runs still kept their topics;
   * with them deleted, 63-66k on disk and 66-74k in memory).
   */
  private static Path memoryDirectory() {
    Path shm = Path.of("/dev/shm");
    try {
      return Files.isDirectory(shm)
              && Files.isWritable(shm)
              && Files.getFileStore(shm).getUsableSpace() >= MEMORY_DIR_BYTES
          ? shm
          : null;
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * A note when this JVM's heap may still grow or was not touched in advance: the first touch of a
   * growing heap's pages (page faults, system time) lands on whichever rows run while it grows, the
   * first ones (docs/benchmarks.md), where a Flink TaskManager runs on a fixed heap. Null when the
   * heap is fixed and touched.
   */
  static String heapNote() {
    HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    String max = vm.getVMOption("MaxHeapSize").getValue();
    if (vm.getVMOption("InitialHeapSize").getValue().equals(max)
        && vm.getVMOption("AlwaysPreTouch").getValue().equals("true")) {
      return null;
    }
    long gib = Math.max(1, Long.parseLong(max) >> 30);
    return String.format(
        "note: the heap is not fixed and touched in advance, so the first rows pay for its growth;"
            + " for comparable rows run with BISTREAM_JAVA_OPTS=\"-Xms%dg -Xmx%dg"
            + " -XX:+AlwaysPreTouch\"",
        gib, gib);
  }

  int run() throws Exception {
    String note = heapNote();
    if (note != null) {
      System.out.println(note);
    }
    Path dir = BenchEngines.fixture();
    Path modelFile = dir.resolve("model.json");
    Model model = ModelFiles.load(modelFile);
    int d = BenchEngines.D;
    float[] x = BenchCommand.input(sequences, steps, new Random(11));
    System.out.printf(
        "pipeline: %d sequences x %d steps (D=%d BiLSTM H=%d), %d steps per record, parallelism"
            + " 1, exactly-once sink, checkpoints every 500 ms; chunk C=%d, R=%d; output per %s as"
            + " %s; broker logs in %s%n",
        sequences,
        steps,
        d,
        BenchEngines.H,
        STEPS_PER_RECORD,
        CHUNK,
        CHUNK,
        perChunkOutput ? "chunk" : "step",
        binaryFloats ? "base64 float32 (in and out)" : "JSON numbers",
        brokerDir != null ? brokerDir : "the temporary directory");
    System.out.printf(
        "%-10s %12s %14s %8s %13s %9s %9s %9s %12s %8s%n",
        "mode",
        "job steps/s",
        "engine steps/s",
        "job/eng",
        "kafka steps/s",
        "job/kafka",
        "p50 ms",
        "p99 ms",
        "state B/seq",
        "warm-ups");
    ArrayNode rows = JSON.createArrayNode();
    // the same records for every run
    Input input = input(x, sequences, steps, d, STEPS_PER_RECORD, binaryFloats);
    try (EmbeddedKafka kafka = EmbeddedKafka.start(brokerDir)) {
      for (StreamConfig.Mode mode : modes) {
        JobOptions timed = jobOptions(kafka, modelFile, mode, "");
        StreamConfig config = timed.settings().stream(); // the job's own, for the engine alone too
        double engine = engineRate(model, config, x);
        int warmUps =
            warmUp(kafka, mode.userName(), p -> jobOptions(kafka, modelFile, mode, p), input, JOB);
        JobRun job = jobRun(kafka, timed, input, JOB, true);
        double[] latency = job.latencies();
        double p50 = DemoCommand.pct(latency, 50);
        double p99 = DemoCommand.pct(latency, 99);
        long state = stateBytes(model, config, x);
        System.out.printf(
            "%-10s %,12.0f %,14.0f %7.2fx %,13.0f %8.2fx %9.0f %9.0f %,12d %8d%n",
            mode,
            job.stepsPerS(),
            engine,
            job.stepsPerS() / engine,
            job.kafkaStepsPerS(),
            job.stepsPerS() / job.kafkaStepsPerS(),
            p50,
            p99,
            state,
            warmUps);
        rows.addObject()
            .put("mode", mode.userName())
            .put("job_steps_per_s", Math.round(job.stepsPerS()))
            .put("engine_steps_per_s", Math.round(engine))
            .put("kafka_only_steps_per_s", Math.round(job.kafkaStepsPerS()))
            .put("latency_p50_ms", p50)
            .put("latency_p99_ms", p99)
            .put("state_bytes_per_sequence", state)
            .put("warm_up_runs", warmUps);
      }
      if (floor) {
        floorRows(kafka, rows);
      }
      if (longSequence) {
        longSequenceRows(kafka, rows);
      }
      if (paced) {
        pacedRows(kafka, rows);
      }
    }
    System.out.println(
        "\nLatency is from producing a step to its output record's timestamp; the stream is"
            + " produced unpaced, so it includes the backlog the job works through. Each mode's timed"
            + " run follows untimed runs of the same job until the JIT used under 15% of a core"
            + " (warm-ups). kafka steps/s:"
            + " the broker alone moving the job's committed output again (transactional producer"
            + " committing every 500 ms, read_committed consumer), no Flink, no model. cpu µs/rec"
            + " (floor rows): CPU time of this whole process (Flink, broker, the bench's producer and"
            + " consumer) per record from the burst's start until the last output was read; cores:"
            + " that CPU time over the same wall time. floor-json-out: floor-json writing outputs of"
            + " the job's shape (the model's output width, constant values); out B/rec: the mean"
            + " bytes of an output record's value, end records included.");
    if (json != null) {
      ObjectNode root = JSON.createObjectNode();
      root.put("sequences", sequences).put("steps", steps).put("per_chunk_output", perChunkOutput);
      root.put("binary_floats", binaryFloats);
      root.set("rows", rows);
      JSON.writerWithDefaultPrettyPrinter().writeValue(json, root);
      System.out.println("wrote " + json);
    }
    return 0;
  }

  /**
   * Runs the same job, untimed, until the JIT has settled: the compilers used under {@link
   * #JIT_SETTLED} of a core during the last run, or {@link #MAX_WARM_UPS} runs. With the broker,
   * Flink and the Kafka clients in one JVM on 2 cores, the compiler works through their code for a
   * minute or more, a whole core's worth at times (measured: the job at 22k steps/s on its first
   * run, ~41k while the compiler stayed busy, 54-63k once it had settled); a sustained job is past
   * that. Returns the number of runs.
   */
  private int warmUp(
      EmbeddedKafka kafka, String what, Options options, Input input, Starter starter)
      throws Exception {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    for (int run = 1; run <= MAX_WARM_UPS; run++) {
      long compiledMs = jit.getTotalCompilationTime();
      long start = System.nanoTime();
      jobRun(kafka, options.on("warm-up-" + run + "-"), input, starter, false);
      double ms = (System.nanoTime() - start) / 1e6;
      if ((jit.getTotalCompilationTime() - compiledMs) / ms < JIT_SETTLED) {
        return run;
      }
    }
    System.out.printf(
        "note: the JIT had not settled after %d warm-up runs of %s%n", MAX_WARM_UPS, what);
    return MAX_WARM_UPS;
  }

  /** The engine alone on the same sequences, fed in the same record-sized pieces, all at once. */
  private double engineRate(Model model, StreamConfig config, float[] x) {
    Tensor in = new Tensor(x, new int[] {sequences, steps, BenchEngines.D});
    StreamingEngine engine = new StreamingEngine(model, config); // one, as the job has
    OfflineStreaming.run(engine, in, STEPS_PER_RECORD); // warm-up
    long start = System.nanoTime();
    OfflineStreaming.run(engine, in, STEPS_PER_RECORD);
    return sequences * (double) steps / ((System.nanoTime() - start) / 1e9);
  }

  /**
   * One run of the job: its rate, each output step's latency (ms from the burst's start to its
   * record's timestamp, sorted), the Kafka-only rate (NaN when the run was not replayed), the mean
   * bytes of its output records' values, and the CPU time this whole process (Flink, the broker,
   * the bench's producer and consumer) took per step from the burst's start until the last output
   * was read, with the cores that made on average.
   */
  private record JobRun(
      double stepsPerS,
      double[] latencies,
      double kafkaStepsPerS,
      double outputBytesPerRecord,
      double cpuMicrosPerStep,
      double cores) {}

  /**
   * The output timestamp of every step a run's records hold, as they are read. Only these are kept
   * while the run is timed: the records themselves (1.5 million Java strings in a floor row) would
   * be live data the collector copies, in the process it measures, and more of it for the job's
   * records than for the floor's.
   */
  private static final class OutputSteps implements Consumer<ConsumerRecord<String, String>> {
    private long[] timestamps;
    private int size;
    private long records;
    private long bytes;
    private long last = Long.MIN_VALUE;

    /** For {@code steps} output steps: the array is not grown while the run is timed. */
    OutputSteps(long steps) {
      timestamps = new long[Math.toIntExact(steps)];
    }

    @Override
    public void accept(ConsumerRecord<String, String> r) {
      records++;
      bytes += r.serializedValueSize();
      last = Math.max(last, r.timestamp());
      for (int i = outputSteps(r.value()); i > 0; i--) {
        if (size == timestamps.length) {
          timestamps = Arrays.copyOf(timestamps, size * 2);
        }
        timestamps[size++] = r.timestamp();
      }
    }

    /** Mean bytes of a record's value, end records included. */
    double bytesPerRecord() {
      return bytes / (double) records;
    }

    /** The latest timestamp of any record, end records too. */
    long last() {
      return last;
    }

    long records() {
      return records;
    }

    /** Milliseconds from {@code start} to each step's record, sorted. */
    double[] latencies(long start) {
      return Arrays.stream(timestamps, 0, size).mapToDouble(t -> t - start).sorted().toArray();
    }
  }

  /** The job's options for one mode, on topics named with {@code prefix}. */
  private JobOptions jobOptions(
      EmbeddedKafka kafka, Path model, StreamConfig.Mode mode, String prefix) throws IOException {
    JobOptions o =
        LocalRun.options(
            kafka,
            model.toString(),
            "bench-" + prefix + "in-" + mode,
            "bench-" + prefix + "out-" + mode);
    o.mode = mode;
    o.chunk = CHUNK;
    o.lookahead = CHUNK;
    o.perChunkOutput = perChunkOutput;
    o.binaryFloats = binaryFloats;
    return o;
  }

  /** The options of one run, on topics named with {@code prefix}. */
  private interface Options {
    JobOptions on(String prefix) throws IOException;
  }

  /** Starts one run of a pipeline. */
  private interface Starter {
    JobClient start(JobOptions o) throws Exception;
  }

  private static final Starter JOB = o -> LocalRun.start(List.of(o), "bistream-" + o.inputTopic);

  /**
   * Runs the pipeline {@code starter} starts with options {@code o}, on new topics; with {@code
   * replay} also its output again through Kafka alone, read back from the topic once the timed part
   * is over.
   */
  private JobRun jobRun(
      EmbeddedKafka kafka, JobOptions o, Input input, Starter starter, boolean replay)
      throws Exception {
    String in = o.inputTopic;
    String out = o.outputTopic;
    kafka.createTopics(4, in, out, o.deadLetterTopic);
    JobClient job = starter.start(o);
    OutputSteps steps = new OutputSteps(input.steps());
    long start;
    double seconds;
    long cpu;
    double wall;
    try {
      Thread.sleep(3000); // let the source assign its partitions
      // Every step is sent in this one burst: its latency is its output's timestamp minus start.
      start = System.currentTimeMillis();
      cpu = BenchCommand.processCpuNanos();
      kafka.produce(in, input.records());
      LocalRun.awaitEnded(kafka, job, out, input.ids(), Duration.ofMinutes(10), n -> {}, steps);
      cpu = BenchCommand.processCpuNanos() - cpu;
      wall = (System.currentTimeMillis() - start) / 1e3;
      // Until the sink wrote the last record (its timestamp), not until this poll loop saw it.
      seconds = (steps.last() - start) / 1e3;
    } finally {
      LocalRun.cancel(job); // also: no idle job checkpointing next to the Kafka-only run
    }
    double stepsTotal = input.steps();
    double kafkaSeconds = Double.NaN;
    if (replay) {
      String again = out + "-replay";
      List<ConsumerRecord<String, String>> written =
          kafka.readCommitted(out, Duration.ofMinutes(5));
      if (written.size() != steps.records()) {
        throw new IllegalStateException(
            "read back "
                + written.size()
                + " of the "
                + steps.records()
                + " records the job wrote to "
                + out
                + " within 5 minutes");
      }
      kafkaSeconds = kafkaSeconds(kafka, again, written);
      kafka.deleteTopics(again);
    }
    // A run leaves hundreds of MB of logs; the next run should not find the broker carrying them.
    kafka.deleteTopics(in, out, o.deadLetterTopic);
    return new JobRun(
        stepsTotal / seconds,
        steps.latencies(start),
        stepsTotal / kafkaSeconds,
        steps.bytesPerRecord(),
        cpu / 1e3 / stepsTotal,
        cpu / 1e9 / wall);
  }

  /**
   * Steps an output record holds: "ys" or "ys_f32" a chunk of rows, an end record none, any other
   * ("y", "y_f32", the floor's output (FloorJob)) one. One-step records are not parsed, and the
   * others only by a streaming parser, without a tree: runs count them while they are timed.
   */
  static int outputSteps(String value) {
    if (!value.contains("\"ys") && !value.contains("\"end\"")) {
      return 1;
    }
    try (JsonParser p = JSON.createParser(value)) {
      boolean step = false;
      int rows = -1;
      int base64Bytes = -1;
      int width = 1;
      p.nextToken(); // the record's object
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        p.nextToken();
        switch (field) {
          case "t" -> step = true;
          case "width" -> width = p.getIntValue();
          case "ys" -> {
            rows = 0;
            while (p.nextToken() == JsonToken.START_ARRAY) {
              rows++;
              p.skipChildren();
            }
          }
          case "ys_f32" -> {
            // padded base64: 3 bytes per 4 characters
            char[] text = p.getTextCharacters();
            int end = p.getTextOffset() + p.getTextLength();
            int padding = 0;
            for (int i = end - 1; i >= p.getTextOffset() && text[i] == '='; i--) {
              padding++;
            }
            base64Bytes = p.getTextLength() / 4 * 3 - padding;
          }
          default -> p.skipChildren();
        }
      }
      if (rows >= 0) {
        return rows;
      }
      if (base64Bytes >= 0) {
        return base64Bytes / (Float.BYTES * width);
      }
      return step ? 1 : 0;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The broker alone moving {@code records} again, in this process: a transactional producer
   * committing every 500 ms (as the job's sink commits at each checkpoint) while a read_committed
   * consumer follows the topic. Seconds until the consumer has seen them all.
   */
  private static double kafkaSeconds(
      EmbeddedKafka kafka, String topic, List<ConsumerRecord<String, String>> records)
      throws Exception {
    kafka.createTopics(4, topic);
    long start = System.nanoTime();
    CompletableFuture<Void> sending =
        CompletableFuture.runAsync(
            () -> {
              try (KafkaProducer<String, String> tx = kafka.producer(topic)) {
                tx.initTransactions();
                tx.beginTransaction();
                long commitAt = System.nanoTime() + 500_000_000L;
                for (ConsumerRecord<String, String> r : records) {
                  tx.send(new ProducerRecord<>(topic, r.key(), r.value()));
                  if (System.nanoTime() >= commitAt) {
                    tx.commitTransaction();
                    tx.beginTransaction();
                    commitAt = System.nanoTime() + 500_000_000L;
                  }
                }
                tx.commitTransaction();
              }
            });
    long seen = 0;
    try (KafkaConsumer<String, String> consumer =
        kafka.committedConsumer(topic, Duration.ofMinutes(1))) {
      while (seen < records.size()) {
        seen += consumer.poll(Duration.ofMillis(300)).count();
        if (sending.isCompletedExceptionally()) {
          sending.join();
        }
      }
    }
    sending.join();
    return (System.nanoTime() - start) / 1e9;
  }

  /** The input records (key, value), the sequence ids they carry and their steps in all. */
  private record Input(List<Map.Entry<String, String>> records, Set<String> ids, long steps) {}

  /**
   * The records of {@code n} sequences of {@code t} steps of width {@code d} from {@code x}, {@code
   * perRecord} steps per record, interleaved round by round, formatted before any clock starts.
   */
  private static Input input(float[] x, int n, int t, int d, int perRecord, boolean binary) {
    Set<String> ids = new LinkedHashSet<>();
    List<Map.Entry<String, String>> batch = new ArrayList<>();
    for (int s = 0; s < t; s += perRecord) {
      for (int r = 0; r < n; r++) {
        String id = "b-" + r;
        ids.add(id);
        int k = Math.min(perRecord, t - s);
        String record =
            binary
                ? InputEvent.binaryJson(id, s, x, r * t + s, k, d, s + k == t)
                : InputEvent.json(id, s, x, r * t + s, k, d, s + k == t);
        batch.add(new AbstractMap.SimpleEntry<>(id, record));
      }
    }
    return new Input(batch, ids, (long) n * t);
  }

  /**
   * {@code --floor}: one step per JSON record on the bundled demo model, {@value #FLOOR_SEQUENCES}
   * sequences of {@value #FLOOR_STEPS} steps produced in one burst (a backlog the job drains), the
   * job in each mode beside its floor ({@link FloorJob}) without and with the job's JSON parsing,
   * and with the job's parsing and output shape. Each row follows its own warm-up runs on a fifth
   * of the sequences.
   */
  private void floorRows(EmbeddedKafka kafka, ArrayNode rows) throws Exception {
    Path model = DemoCommand.extractBundledModel();
    int width = DemoCommand.inputWidth(model);
    float[] x = BenchCommand.gaussian(floorSequences * floorSteps * width, new Random(13));
    Input input = input(x, floorSequences, floorSteps, width, 1, false);
    Input warm = input(x, floorSequences / 5, floorSteps, width, 1, false);
    System.out.printf(
        "%nfloor: %,d one-step JSON records (%d sequences x %d steps, the demo model, D=%d) in one"
            + " burst, parallelism 1, exactly-once sink, checkpoints every 500 ms; the job's"
            + " default C and R%n",
        input.steps(), floorSequences, floorSteps, width);
    System.out.printf(
        "%-14s %12s %9s %13s %17s %9s %11s %6s %9s %9s %8s%n",
        "pipeline",
        "records/s",
        "vs floor",
        "vs floor-json",
        "vs floor-json-out",
        "out B/rec",
        "cpu µs/rec",
        "cores",
        "p50 ms",
        "p99 ms",
        "warm-ups");
    double bare = 0;
    double parsing = 0;
    double shaped = 0;
    List<FloorRow> pipelines = new ArrayList<>();
    pipelines.add(new FloorRow("floor", null, o -> FloorJob.start(o, FloorJob.Kind.BARE)));
    pipelines.add(new FloorRow("floor-json", null, o -> FloorJob.start(o, FloorJob.Kind.JSON)));
    pipelines.add(
        new FloorRow(
            "floor-json-out", null, o -> FloorJob.start(o, FloorJob.Kind.JSON_JOB_OUTPUT)));
    modes.forEach(m -> pipelines.add(new FloorRow(m.userName(), m, JOB)));
    for (FloorRow pipeline : pipelines) {
      String name = pipeline.name();
      Starter starter = pipeline.starter();
      Options options =
          p -> {
            JobOptions o =
                LocalRun.options(
                    kafka,
                    model.toString(),
                    "floor-" + p + "in-" + name,
                    "floor-" + p + "out-" + name);
            if (pipeline.mode() != null) {
              o.mode = pipeline.mode();
            }
            return o;
          };
      int warmUps = warmUp(kafka, name, options, warm, starter);
      JobRun run = jobRun(kafka, options.on(""), input, starter, false);
      double[] latency = run.latencies();
      double p50 = DemoCommand.pct(latency, 50);
      double p99 = DemoCommand.pct(latency, 99);
      switch (name) {
        case "floor" -> bare = run.stepsPerS();
        case "floor-json" -> parsing = run.stepsPerS();
        case "floor-json-out" -> shaped = run.stepsPerS();
        default -> {} // a mode of the job, measured against the floors above
      }
      System.out.printf(
          "%-14s %,12.0f %8.2fx %13s %17s %9.0f %11.1f %6.2f %9.0f %9.0f %8d%n",
          name,
          run.stepsPerS(),
          run.stepsPerS() / bare,
          parsing == 0 ? "-" : String.format("%.2fx", run.stepsPerS() / parsing),
          shaped == 0 ? "-" : String.format("%.2fx", run.stepsPerS() / shaped),
          run.outputBytesPerRecord(),
          run.cpuMicrosPerStep(),
          run.cores(),
          p50,
          p99,
          warmUps);
      rows.addObject()
          .put("workload", "one-step-records")
          .put("pipeline", name)
          .put("records_per_s", Math.round(run.stepsPerS()))
          .put("vs_floor", run.stepsPerS() / bare)
          .put("vs_floor_json", parsing == 0 ? null : run.stepsPerS() / parsing)
          .put("vs_floor_json_out", shaped == 0 ? null : run.stepsPerS() / shaped)
          .put("output_bytes_per_record", run.outputBytesPerRecord())
          .put("process_cpu_us_per_record", run.cpuMicrosPerStep())
          .put("cores", run.cores())
          .put("latency_p50_ms", p50)
          .put("latency_p99_ms", p99)
          .put("warm_up_runs", warmUps);
    }
  }

  /** A pipeline of the floor rows: the floor (mode null) or the job in {@code mode}. */
  private record FloorRow(String name, StreamConfig.Mode mode, Starter starter) {}

  /**
   * Mean bytes of keyed state per sequence ({@link StateSize}: the job's own serializers) for
   * sequences halfway through, fed in record-sized pieces.
   */
  private long stateBytes(Model model, StreamConfig config, float[] x) throws Exception {
    StreamingEngine engine = new StreamingEngine(model, config);
    int d = BenchEngines.D;
    int probes = Math.min(sequences, 8);
    long total = 0;
    for (int r = 0; r < probes; r++) {
      SequenceState s = engine.newSequence();
      for (int t = 0; t < steps / 2; t += STEPS_PER_RECORD) {
        int k = Math.min(STEPS_PER_RECORD, steps / 2 - t);
        int at = (r * steps + t) * d;
        engine.advance(s, Arrays.copyOfRange(x, at, at + k * d), k, false);
      }
      total += StateSize.of(s.snapshot(), config);
    }
    return total / probes;
  }

  /**
   * {@code --long-sequence}: one exact-mode sequence of {@value #LONG_STEPS} one-step records
   * ({@code --quick}: {@value #QUICK_LONG_STEPS}) on the demo model, produced before the job starts
   * (a backlog), on each state backend. Exact mode buffers every step until the end marker, so the
   * state grows all the way; the job's rate is read where the steps pass on their way to the keyed
   * operator ({@link StepClock}), early (30-50% of the steps), late (70-90%) and per tenth: a state
   * that costs more per step as it grows shows as a late rate below the early one. A million steps
   * take the job seconds, many checkpoint intervals (docs/benchmarks.md).
   */
  private void longSequenceRows(EmbeddedKafka kafka, ArrayNode rows) throws Exception {
    Path model = DemoCommand.extractBundledModel();
    int width = DemoCommand.inputWidth(model);
    float[] x = BenchCommand.gaussian(longSteps * width, new Random(17));
    // The steps without the end marker, which follows once they are all read: the whole sequence
    // is computed at the end, and that is not the per-step cost measured here.
    Input input = input(x, 1, longSteps, width, 1, false);
    String id = input.ids().iterator().next();
    List<Map.Entry<String, String>> steps = new ArrayList<>(input.records());
    steps.set(
        longSteps - 1,
        new AbstractMap.SimpleEntry<>(
            id, InputEvent.json(id, longSteps - 1, x, longSteps - 1, 1, width, false)));
    String end = "{\"seq\":\"" + id + "\",\"t\":" + longSteps + ",\"end\":true}";
    System.out.printf(
        "%nlong sequence: one exact-mode sequence of %,d one-step JSON records (the demo model, D=%d),"
            + " produced before the job starts, then its end marker; checkpoints every %d ms; early:"
            + " steps 30-50%%, late: 70-90%%, as the job takes them in (its keyed operator holds"
            + " back the records before it once the network buffers between them are full)%n",
        longSteps, width, LONG_CHECKPOINT_MS);
    System.out.printf(
        "%-9s %16s %16s %10s %10s%n",
        "backend", "early steps/s", "late steps/s", "late/early", "end s");
    for (String backend : List.of("hashmap", "rocksdb")) {
      longRun(kafka, model, backend, "warm-up-", steps, id, end); // the JIT, on this backend's path
      LongRun run = longRun(kafka, model, backend, "", steps, id, end);
      double early = rate(run.progress(), 0.3 * longSteps, 0.5 * longSteps);
      double late = rate(run.progress(), 0.7 * longSteps, 0.9 * longSteps);
      // Each tenth of the steps; the first leaves out the job's first 1,000.
      double[] tenths = new double[10];
      for (int k = 0; k < 10; k++) {
        tenths[k] =
            rate(run.progress(), Math.max(1000, k * 0.1 * longSteps), (k + 1) * 0.1 * longSteps);
      }
      System.out.printf(
          "%-9s %,16.0f %,16.0f %9.2fx %10.1f%n",
          backend, early, late, late / early, run.endSeconds());
      System.out.printf(
          "%-9s by tenth: %s%n",
          "",
          Arrays.stream(tenths)
              .mapToObj(r -> String.format("%,.0f", r))
              .collect(Collectors.joining(" ")));
      ObjectNode row =
          rows.addObject()
              .put("workload", "long-exact-sequence")
              .put("backend", backend)
              .put("steps", longSteps)
              .put("early_steps_per_s", Math.round(early))
              .put("late_steps_per_s", Math.round(late));
      ArrayNode byTenth = row.putArray("steps_per_s_by_tenth");
      Arrays.stream(tenths).forEach(r -> byTenth.add(Math.round(r)));
      row.put("end_s", run.endSeconds());
    }
  }

  /** A run of the long sequence: when steps passed ({@link StepClock}) and the end's seconds. */
  private record LongRun(List<long[]> progress, double endSeconds) {}

  /** One run of the long exact sequence {@code steps}, then its end marker {@code end}. */
  private LongRun longRun(
      EmbeddedKafka kafka,
      Path model,
      String backend,
      String prefix,
      List<Map.Entry<String, String>> steps,
      String id,
      String end)
      throws Exception {
    JobOptions o =
        LocalRun.options(
            kafka,
            model.toString(),
            "long-" + prefix + "in-" + backend,
            "long-" + prefix + "out-" + backend);
    o.mode = StreamConfig.Mode.EXACT;
    o.stateBackend = backend;
    o.maxSequenceSteps = longSteps;
    o.checkpointInterval = Duration.ofMillis(LONG_CHECKPOINT_MS);
    kafka.createTopics(1, o.inputTopic, o.outputTopic, o.deadLetterTopic);
    kafka.produce(o.inputTopic, steps);
    StepClock.MARKS.clear();
    StreamExecutionEnvironment env = LocalRun.environment(o);
    BiStreamJobMain.build(o, env, new StepClock());
    JobClient job = env.executeAsync("bistream-" + o.inputTopic);
    long endStart;
    try {
      long deadline = System.nanoTime() + 600_000_000_000L;
      while (StepClock.seen() < longSteps) {
        Thread.sleep(50);
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "the job took " + StepClock.seen() + " of " + longSteps + " steps in 10 minutes");
        }
      }
      endStart = System.nanoTime();
      kafka.produce(o.inputTopic, List.of(new AbstractMap.SimpleEntry<>(id, end)));
      LocalRun.awaitEnded(
          kafka, job, o.outputTopic, Set.of(id), Duration.ofMinutes(10), n -> {}, r -> {});
    } finally {
      LocalRun.cancel(job);
    }
    double endSeconds = (System.nanoTime() - endStart) / 1e9;
    kafka.deleteTopics(o.inputTopic, o.outputTopic, o.deadLetterTopic);
    return new LongRun(new ArrayList<>(StepClock.MARKS), endSeconds);
  }

  /**
   * Notes when every 1,000th step passes on its way to the keyed operator (the job's tap, before
   * {@code keyBy}, held back by the operator once the few network buffers between them are full):
   * the operator's pace, in this process.
   */
  private static final class StepClock implements MapFunction<InputEvent, InputEvent> {
    static final List<long[]> MARKS = new CopyOnWriteArrayList<>(); // {nanos, steps}
    private long seen;

    static long seen() {
      return MARKS.isEmpty() ? 0 : MARKS.get(MARKS.size() - 1)[1];
    }

    @Override
    public InputEvent map(InputEvent e) {
      long before = seen;
      seen += e.steps;
      if (seen / 1000 != before / 1000) {
        MARKS.add(new long[] {System.nanoTime(), seen});
      }
      return e;
    }
  }

  /**
   * Steps per second between the moments the count of steps passed {@code from} and {@code to},
   * each moment interpolated between the samples around it.
   */
  private static double rate(List<long[]> progress, double from, double to) {
    return (to - from) / ((passed(progress, to) - passed(progress, from)) / 1e9);
  }

  private static double passed(List<long[]> progress, double steps) {
    for (int i = 1; i < progress.size(); i++) {
      long[] a = progress.get(i - 1);
      long[] b = progress.get(i);
      if (b[1] >= steps) {
        return a[0] + (b[0] - a[0]) * (steps - a[1]) / (double) (b[1] - a[1]);
      }
    }
    return progress.get(progress.size() - 1)[0];
  }

  /**
   * {@code --paced}: latency under load. {@value #PACED_SEQUENCES} sequences ({@code --quick}:
   * {@value #QUICK_PACED_SEQUENCES}) open at once, each sending one step every {@value
   * #PACED_INTERVAL_MS} ms for {@value #PACED_STEPS} steps (60k one-step JSON records/s on the demo
   * model), lookahead C = R = {@value #PACED_CHUNK}. The stream starts once a warm-up sequence has
   * passed the job end to end. Per step: written latency (its output record's timestamp minus the
   * time it was sent), visible latency (when a read_committed reader saw it) and the ideal wait
   * (the send time of the step that releases it, {@link DemoLatency}, minus its own).
   */
  private void pacedRows(EmbeddedKafka kafka, ArrayNode rows) throws Exception {
    Path model = DemoCommand.extractBundledModel();
    int width = DemoCommand.inputWidth(model);
    int n = pacedSequences;
    JobOptions o = LocalRun.options(kafka, model.toString(), "paced-in", "paced-out");
    o.mode = StreamConfig.Mode.LOOKAHEAD;
    o.chunk = PACED_CHUNK;
    o.lookahead = PACED_CHUNK;
    kafka.createTopics(4, o.inputTopic, o.outputTopic, o.deadLetterTopic);
    float[] x = BenchCommand.gaussian(n * PACED_STEPS * width, new Random(19));
    long[][] sentAt = new long[n][PACED_STEPS];
    Set<String> ids = new LinkedHashSet<>();
    for (int i = 0; i < n; i++) {
      ids.add("p-" + i);
    }
    System.out.printf(
        "%npaced: %,d sequences, one step each every %d ms (%,d one-step JSON records/s) for %d"
            + " steps, the demo model, lookahead C=R=%d, checkpoints every %d ms%n",
        n,
        PACED_INTERVAL_MS,
        n * 1000 / PACED_INTERVAL_MS,
        PACED_STEPS,
        PACED_CHUNK,
        o.checkpointInterval.toMillis());
    JobClient job = JOB.start(o);
    try (OutputFollower follower =
            new OutputFollower(kafka.bootstrapServers(), List.of(o.outputTopic));
        KafkaProducer<String, String> producer = kafka.producer()) {
      float[] warm = Arrays.copyOf(x, 2 * PACED_CHUNK * width);
      EmbeddedKafka.send(
          producer,
          o.inputTopic,
          List.of(
              new AbstractMap.SimpleEntry<>(
                  "warm-up",
                  InputEvent.json("warm-up", 0, warm, 0, 2 * PACED_CHUNK, width, true))));
      follower.awaitEnded(
          Map.of(o.outputTopic, Set.of("warm-up")), job, Duration.ofMinutes(2), k -> {});
      // The same load for a quarter of the steps on other sequences first, untimed: the JIT
      pace(producer, o.inputTopic, "w-", PACED_STEPS / 4, x, width, new long[n][PACED_STEPS]);
      long lateRounds = pace(producer, o.inputTopic, "p-", PACED_STEPS, x, width, sentAt);
      follower.awaitEnded(Map.of(o.outputTopic, ids), job, Duration.ofMinutes(5), k -> {});
      List<Double> written = new ArrayList<>();
      List<Double> visible = new ArrayList<>();
      List<Double> ideal = new ArrayList<>();
      long[][] ideals = new long[n][];
      for (OutputFollower.Seen seen : follower.records(o.outputTopic)) {
        JsonNode r = JSON.readTree(seen.record().value());
        String seq = r.path("seq").asText();
        if (!r.has("t") || !seq.startsWith("p-")) {
          continue;
        }
        int i = Integer.parseInt(seq.substring(2));
        int first = r.get("t").asInt();
        if (ideals[i] == null) {
          ideals[i] = DemoLatency.idealWaits(o.mode, o.chunk, o.lookahead, sentAt[i]);
        }
        for (int t = first; t < first + outputSteps(seen.record().value()); t++) {
          written.add((double) (seen.record().timestamp() - sentAt[i][t]));
          visible.add((double) (seen.seenAt() - sentAt[i][t]));
          ideal.add((double) ideals[i][t]);
        }
      }
      System.out.printf("%-10s %9s %9s %9s%n", "latency ms", "p50", "p90", "p99");
      ObjectNode row = rows.addObject().put("workload", "paced-lookahead").put("sequences", n);
      Map<String, List<Double>> latencies = new LinkedHashMap<>();
      latencies.put("ideal", ideal);
      latencies.put("written", written);
      latencies.put("visible", visible);
      for (var e : latencies.entrySet()) {
        double[] v = e.getValue().stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double p50 = DemoCommand.pct(v, 50);
        double p90 = DemoCommand.pct(v, 90);
        double p99 = DemoCommand.pct(v, 99);
        System.out.printf("%-10s %,9.0f %,9.0f %,9.0f%n", e.getKey(), p50, p90, p99);
        row.put(e.getKey() + "_p50_ms", p50)
            .put(e.getKey() + "_p90_ms", p90)
            .put(e.getKey() + "_p99_ms", p99);
      }
      System.out.printf(
          "output steps %,d of %,d; rounds the producer sent late: %d of %d%n",
          written.size(), (long) n * PACED_STEPS, lateRounds, PACED_STEPS);
      row.put("late_rounds", lateRounds);
    } finally {
      LocalRun.cancel(job);
    }
  }

  /**
   * Sends {@code steps} rounds of one step per sequence ({@code prefix + i}), a round every {@value
   * #PACED_INTERVAL_MS} ms, noting each step's send time in {@code sentAt}; returns the rounds that
   * left late (the producer behind its pace).
   */
  private long pace(
      KafkaProducer<String, String> producer,
      String topic,
      String prefix,
      int steps,
      float[] x,
      int width,
      long[][] sentAt)
      throws InterruptedException {
    int n = sentAt.length;
    long late = 0;
    long start = System.currentTimeMillis();
    for (int t = 0; t < steps; t++) {
      List<Map.Entry<String, String>> round = new ArrayList<>(n);
      long now = System.currentTimeMillis();
      for (int i = 0; i < n; i++) {
        String id = prefix + i;
        sentAt[i][t] = now;
        round.add(
            new AbstractMap.SimpleEntry<>(
                id, InputEvent.json(id, t, x, i * PACED_STEPS + t, 1, width, t == steps - 1)));
      }
      EmbeddedKafka.send(producer, topic, round);
      long sleep = start + (t + 1L) * PACED_INTERVAL_MS - System.currentTimeMillis();
      if (sleep > 0) {
        Thread.sleep(sleep);
      } else {
        late++;
      }
    }
    return late;
  }
}
