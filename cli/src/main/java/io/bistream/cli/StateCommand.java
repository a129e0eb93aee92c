package io.bistream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.stream.StreamConfig;
import io.bistream.job.SequenceStateView;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.flink.api.common.accumulators.ListAccumulator;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.state.api.runtime.SavepointLoader;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code state}: what a savepoint or retained checkpoint of the job holds per sequence, read with
 * Flink's State Processor API through the job's own state serializers (docs/operations.md, "State
 * you can see").
 */
@Command(
    name = "state",
    description = {
      "Lists the open sequences a savepoint or retained checkpoint holds (mode, steps, buffers,"
          + " bytes, idle time) and its ended-sequence tombstones; --seq shows one sequence with its"
          + " carried states."
    })
final class StateCommand implements Callable<Integer> {

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String METADATA = "_metadata";

  @Option(
      names = "--savepoint",
      required = true,
      paramLabel = "PATH",
      description =
          "A savepoint directory, a retained checkpoint's chk-N directory, or its _metadata file")
  String savepoint;

  @Option(names = "--seq", paramLabel = "ID", description = "Show this sequence in detail")
  String seq;

  @Option(names = "--json", description = "Write JSON instead of a table")
  boolean json;

  @Option(
      names = "--input-topic",
      paramLabel = "I",
      description = "Only the pipeline reading I (with --output-topic; default: every pipeline)")
  String inputTopic;

  @Option(names = "--output-topic", paramLabel = "O", description = "See --input-topic")
  String outputTopic;

  @Override
  public Integer call() throws Exception {
    Path metadata = metadataFile(savepoint);
    Path dir = metadata.getParent();
    CheckpointMetadata meta = load(metadata);
    List<OperatorState> operators = sequenceOperators(meta, metadata);
    // The time the snapshot was complete: Flink writes _metadata last.
    long takenAt = metadata.getFileSystem().getFileStatus(metadata).getModificationTime();
    ObjectNode report = JSON.createObjectNode();
    report.put("path", dir.toString());
    report.put("checkpointId", meta.getCheckpointId());
    report.put("writtenAt", Instant.ofEpochMilli(takenAt).toString());
    ArrayNode pipelines = report.putArray("pipelines");
    boolean found = false;
    for (OperatorState op : operators) {
      String uid = op.getOperatorUid().orElseThrow();
      ObjectNode p = pipelines.addObject();
      p.put("operatorUid", uid);
      p.put("pipeline", uid.substring(SequenceStateView.OPERATOR_UID_PREFIX.length()));
      ArrayNode open = p.putArray("open");
      ArrayNode ended = p.putArray("ended");
      for (ObjectNode s : read(dir, op, metadata)) {
        s.put(
            "idleMillis",
            s.path("lastSeenAt").asLong(0) > 0 ? since(s, "lastSeenAt", takenAt) : null);
        s.put(
            "ageMillis", s.path("startedAt").asLong(0) > 0 ? since(s, "startedAt", takenAt) : null);
        (s.path("ended").asBoolean() ? ended : open).add(s);
        found = true;
      }
    }
    if (seq != null && !found) {
      throw new IllegalArgumentException(
          "--seq "
              + seq
              + ": "
              + dir
              + " holds no state for this sequence (never seen, or ended and its tombstone"
              + " removed after --ended-retention)");
    }
    PrintStream out = System.out;
    if (json) {
      out.println(JSON.writeValueAsString(report));
    } else if (seq != null) {
      printOne(report, out);
    } else {
      printTable(report, out);
    }
    return 0;
  }

  /** Milliseconds from the processing time in {@code field} of {@code s} to {@code takenAt}. */
  private static long since(ObjectNode s, String field, long takenAt) {
    return Math.max(0, takenAt - s.get(field).asLong());
  }

  // ------------------------------------------------------------------ finding the state

  /**
   * The {@code _metadata} file of {@code pointer}: the path itself or the file in that directory. A
   * local path or a {@code file:} URI, as Flink prints savepoint paths; other schemes go through
   * Flink's file systems as on a restore.
   */
  static Path metadataFile(String pointer) throws IOException {
    Path path = new Path(pointer);
    FileSystem fs;
    try {
      fs = path.getFileSystem();
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "--savepoint " + pointer + ": cannot open its file system (" + e.getMessage() + ")");
    }
    if (!fs.exists(path)) {
      throw new IllegalArgumentException(
          "--savepoint "
              + path
              + ": no such file or directory; expected a savepoint or chk-N directory or its "
              + METADATA);
    }
    Path metadata = fs.getFileStatus(path).isDir() ? new Path(path, METADATA) : path;
    if (!fs.exists(metadata)
        || fs.getFileStatus(metadata).isDir()
        || !metadata.getName().equals(METADATA)) {
      throw new IllegalArgumentException(
          "--savepoint "
              + path
              + ": not a complete savepoint or checkpoint (expected a directory holding "
              + METADATA
              + ", or that file; a chk-N directory without it was still being written)");
    }
    return metadata.makeQualified(fs);
  }

  private CheckpointMetadata load(Path metadata) {
    try {
      return SavepointLoader.loadSavepointMetadata(metadata.getParent().toString());
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "--savepoint "
              + savepoint
              + ": not a Flink savepoint or checkpoint this Flink reads ("
              + BiStreamCli.message(e)
              + ")");
    }
  }

  /** The keyed operators of BiStream pipelines in {@code meta}, those named by the topics. */
  private List<OperatorState> sequenceOperators(CheckpointMetadata meta, Path metadata) {
    if ((inputTopic == null) != (outputTopic == null)) {
      throw new IllegalArgumentException(
          "--input-topic and --output-topic go together: they name one pipeline");
    }
    String wanted =
        inputTopic == null ? null : SequenceStateView.operatorUid(inputTopic, outputTopic);
    List<OperatorState> ops = new ArrayList<>();
    List<String> uids = new ArrayList<>();
    for (OperatorState op : meta.getOperatorStates()) {
      String uid = op.getOperatorUid().orElse(null);
      uids.add(uid == null ? "(no uid) " + op.getOperatorID() : uid);
      if (uid != null
          && uid.startsWith(SequenceStateView.OPERATOR_UID_PREFIX)
          && (wanted == null || wanted.equals(uid))) {
        ops.add(op);
      }
    }
    if (ops.isEmpty()) {
      throw new IllegalArgumentException(
          "--savepoint "
              + savepoint
              + ": holds no BiStream sequence state (expected an operator with uid "
              + (wanted != null
                  ? wanted
                  : SequenceStateView.OPERATOR_UID_PREFIX + "<input>-<output>")
              + "; found "
              + (uids.isEmpty() ? "no operators" : String.join(", ", uids))
              + ")");
    }
    ops.sort(Comparator.comparing(o -> o.getOperatorUid().orElseThrow()));
    return ops;
  }

  /** The sequences operator {@code op} holds, one JSON object each. */
  private List<ObjectNode> read(Path dir, OperatorState op, Path metadata) throws Exception {
    List<ObjectNode> sequences = new ArrayList<>();
    if (!op.hasSubtaskStates()) {
      return sequences; // the operator held no state at all
    }
    String uid = op.getOperatorUid().orElseThrow();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    try {
      SavepointReader.read(env, dir.toString(), backendFor(op))
          .readKeyedState(
              OperatorIdentifier.forUid(uid),
              new Reader(seq, seq != null),
              Types.STRING,
              Types.STRING)
          .process(new Gather())
          .sinkTo(new DiscardingSink<>());
      // An accumulator, not executeAndCollect: a local job's collected results can be lost when its
      // MiniCluster shuts down before the last fetch; an accumulator comes with the job's result.
      List<String> gathered =
          env.execute("bistream state " + uid).getAccumulatorResult(Gather.ACCUMULATOR);
      for (String json : gathered == null ? List.<String>of() : gathered) {
        sequences.add((ObjectNode) JSON.readTree(json));
      }
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "--savepoint "
              + savepoint
              + ": cannot read the sequence state of operator "
              + uid
              + " ("
              + BiStreamCli.message(e)
              + ")",
          e);
    }
    sequences.sort(Comparator.comparing(s -> s.get("seq").asText()));
    return sequences;
  }

  /**
   * RocksDB's incremental checkpoints hold its own files, which only RocksDB reads; savepoints (in
   * Flink's canonical format) and the hashmap backend's checkpoints are read by the hashmap
   * backend.
   */
  private static StateBackend backendFor(OperatorState op) {
    for (OperatorSubtaskState s : op.getStates()) {
      for (KeyedStateHandle h : s.getManagedKeyedState()) {
        if (h instanceof IncrementalKeyedStateHandle) {
          return new EmbeddedRocksDBStateBackend();
        }
      }
    }
    return new HashMapStateBackend();
  }

  /** Gathers the JSON objects of every sequence into the job's result. */
  static final class Gather extends ProcessFunction<String, Void> {
    private static final long serialVersionUID = 1L;
    static final String ACCUMULATOR = "sequences";
    private transient ListAccumulator<String> sequences;

    @Override
    public void open(OpenContext context) {
      sequences = new ListAccumulator<>();
      getRuntimeContext().addAccumulator(ACCUMULATOR, sequences);
    }

    @Override
    public void processElement(String json, Context ctx, Collector<Void> out) {
      // The State Processor API's source passes on a null for a key its reader emitted nothing
      // for (keys --seq skips).
      if (json != null) {
        sequences.add(json);
      }
    }
  }

  /** Reads each key's state through the job's serializers and writes it as one JSON object. */
  static final class Reader extends KeyedStateReaderFunction<String, String> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String only;
    private final boolean withStates;
    private transient SequenceStateView view;

    Reader(String only, boolean withStates) {
      this.only = only;
      this.withStates = withStates;
    }

    @Override
    public void open(OpenContext context) {
      view = new SequenceStateView(getRuntimeContext());
    }

    @Override
    public void readKey(String key, Context ctx, Collector<String> out) throws Exception {
      if (only != null && !only.equals(key)) {
        return;
      }
      SequenceStateView.Sequence s = view.read(key, withStates);
      if (s != null) {
        out.collect(MAPPER.writeValueAsString(toJson(s, withStates)));
      }
    }
  }

  static ObjectNode toJson(SequenceStateView.Sequence s, boolean withStates) {
    ObjectNode n = JSON.createObjectNode();
    n.put("seq", s.seq());
    n.put("ended", s.ended());
    if (s.ended()) {
      n.put("why", s.why());
      n.put("steps", s.endedSteps());
      n.put("retainUntil", Instant.ofEpochMilli(s.retainUntil()).toString());
      n.put("bytes", s.stateBytes());
      return n;
    }
    StreamConfig c = s.config();
    n.put("mode", c == null ? null : c.mode().name().toLowerCase(Locale.ROOT));
    if (c != null) {
      ObjectNode settings = n.putObject("settings");
      settings.put("chunk", c.chunk());
      settings.put("lookahead", c.lookahead());
      settings.put("leftContext", c.leftContext());
      settings.put("maxSequenceSteps", c.maxSequenceSteps());
      settings.put("overflow", c.overflow().name().toLowerCase(Locale.ROOT));
    }
    // Null for state from before versions were kept: the job's --model-version.
    n.put("modelVersion", s.modelVersion());
    n.put("stepsSeen", s.nextT() + s.reorderSteps());
    n.put("stepsFed", s.nextT());
    n.put("stepsReleased", s.emitted());
    n.put("stepsHeld", s.received() - s.emitted());
    n.put("reorderSteps", s.reorderSteps());
    n.put("reorderPieces", s.reorderPieces());
    n.put("exactSteps", s.exactSteps());
    n.put("exactBlocks", s.exactBlocks());
    n.put("windowFloats", s.pendingFloats());
    n.put("chunkStart", s.chunkStart());
    n.put("endAt", s.endAt() < 0 ? null : s.endAt());
    n.put("degraded", s.degraded());
    n.put("partition", s.partition());
    n.put("bytes", s.stateBytes());
    n.put("lastSeenAt", s.lastSeenAt());
    n.put("startedAt", s.startedAt());
    n.put("lastSeenTimestamp", s.lastSeenTimestamp());
    n.set("forward", states(s.forward(), withStates));
    n.set("backward", states(s.backward(), withStates));
    return n;
  }

  /** Per stage: null where it carries none, else its length and (with values) the values. */
  private static ArrayNode states(float[][] states, boolean withValues) {
    ArrayNode a = JSON.createArrayNode();
    for (float[] st : states) {
      if (st == null) {
        a.addNull();
        continue;
      }
      ObjectNode o = a.addObject();
      o.put("floats", st.length);
      if (withValues) {
        ArrayNode v = o.putArray("values");
        for (float f : st) {
          v.add(f);
        }
      }
    }
    return a;
  }

  // ------------------------------------------------------------------ the table

  private static void printTable(ObjectNode report, PrintStream out) {
    header(report, out);
    for (var p : report.get("pipelines")) {
      var open = p.get("open");
      var ended = p.get("ended");
      out.printf(
          "%npipeline %s: %d open, %d ended%n",
          p.get("pipeline").asText(), open.size(), ended.size());
      if (open.size() > 0) {
        out.printf(
            "  %-16s %-9s %3s %7s %7s %7s %7s %7s %9s %9s %9s%n",
            "SEQ", "MODE", "P", "SEEN", "OUT", "HELD", "REORDER", "EXACT", "BYTES", "AGE", "IDLE");
        for (var s : open) {
          out.printf(
              "  %-16s %-9s %3d %7d %7d %7d %7d %7d %9d %9s %9s%n",
              s.get("seq").asText(),
              s.path("mode").asText("job's"),
              s.get("partition").asInt(),
              s.get("stepsSeen").asLong(),
              s.get("stepsReleased").asLong(),
              s.get("stepsHeld").asLong(),
              s.get("reorderSteps").asLong(),
              s.get("exactSteps").asLong(),
              s.get("bytes").asLong(),
              duration(s.get("ageMillis")),
              duration(s.get("idleMillis")));
        }
      }
      if (ended.size() > 0) {
        out.println("  ended (tombstones, refusing late records until removed):");
        for (var s : ended) {
          out.printf(
              "  %-16s %-15s %7d steps, kept until %s%n",
              s.get("seq").asText(),
              s.path("why").asText("(not kept)"),
              s.get("steps").asLong(),
              s.get("retainUntil").asText());
        }
      }
    }
    out.println();
    out.println(
        "SEEN: steps taken in (fed + waiting in the reorder buffer); OUT: outputs released; HELD:"
            + " steps fed without a released output; REORDER: steps waiting for a gap to fill;"
            + " EXACT: exact mode's buffered steps; AGE: since its first record, IDLE: since its"
            + " latest record, by the job's clock, at the time the snapshot was written (AGE '?':"
            + " state written before it was kept); --seq shows a sequence's model version.");
  }

  private static void header(ObjectNode report, PrintStream out) {
    out.printf(
        "%s: checkpoint %d, written %s%n",
        report.get("path").asText(),
        report.get("checkpointId").asLong(),
        report.get("writtenAt").asText());
  }

  private void printOne(ObjectNode report, PrintStream out) {
    header(report, out);
    for (var p : report.get("pipelines")) {
      for (String kind : List.of("open", "ended")) {
        for (var s : p.get(kind)) {
          out.printf("%nsequence %s (pipeline %s)%n", seq, p.get("pipeline").asText());
          if (s.get("ended").asBoolean()) {
            out.printf(
                "  ended          %s after %d steps; tombstone kept until %s (%d bytes)%n",
                s.path("why").asText("(reason not kept)"),
                s.get("steps").asLong(),
                s.get("retainUntil").asText(),
                s.get("bytes").asLong());
            continue;
          }
          var st = s.path("settings");
          out.printf(
              "  mode           %s%s%n",
              s.path("mode").asText("the job's (state from before settings were kept)"),
              st.isMissingNode()
                  ? ""
                  : String.format(
                      ", chunk %d, lookahead %d, left context %d, max-sequence-steps %d (%s)%s",
                      st.get("chunk").asInt(),
                      st.get("lookahead").asInt(),
                      st.get("leftContext").asInt(),
                      st.get("maxSequenceSteps").asLong(),
                      st.get("overflow").asText(),
                      s.get("degraded").asBoolean() ? ", degraded to lookahead" : ""));
          out.printf(
              "  model version  %s%n",
              s.get("modelVersion").isNull()
                  ? "the job's --model-version (not kept in state before format version 4)"
                  : s.get("modelVersion").asText());
          out.printf(
              "  steps          %d seen: %d fed to the engine, %d waiting in the reorder buffer"
                  + " (records: %d)%n",
              s.get("stepsSeen").asLong(),
              s.get("stepsFed").asLong(),
              s.get("reorderSteps").asLong(),
              s.get("reorderPieces").asLong());
          out.printf(
              "  outputs        %d released; %d steps held (exact blocks: %d steps in %d;"
                  + " window: %d floats from step %d)%n",
              s.get("stepsReleased").asLong(),
              s.get("stepsHeld").asLong(),
              s.get("exactSteps").asLong(),
              s.get("exactBlocks").asLong(),
              s.get("windowFloats").asLong(),
              s.get("chunkStart").asLong());
          out.printf(
              "  end marker     %s%n",
              s.get("endAt").isNull()
                  ? "not yet"
                  : "arrived: ends at step " + s.get("endAt").asLong());
          long at = s.get("lastSeenAt").asLong();
          long started = s.get("startedAt").asLong();
          out.printf(
              "  started        %s (job clock), age %s when written%n",
              started > 0
                  ? Instant.ofEpochMilli(started).toString()
                  : "(not kept: before format 5)",
              duration(s.get("ageMillis")));
          out.printf(
              "  last record    partition %d, Kafka timestamp %s, taken in at %s (job clock),"
                  + " idle %s when written%n",
              s.get("partition").asInt(),
              Instant.ofEpochMilli(s.get("lastSeenTimestamp").asLong()),
              at > 0 ? Instant.ofEpochMilli(at).toString() : "(not kept: format 1)",
              duration(s.get("idleMillis")));
          out.printf("  state          %d bytes%n", s.get("bytes").asLong());
          out.printf("  carried states per stage (recurrent states packed h then c; '-': none)%n");
          var fwd = s.get("forward");
          var bwd = s.get("backward");
          for (int i = 0; i < fwd.size(); i++) {
            out.printf("    stage %d  forward  %s%n", i, describe(fwd.get(i)));
            out.printf("             backward %s%n", describe(bwd.get(i)));
          }
        }
      }
    }
  }

  /** A carried state: its length and its values' range and first values. */
  private static String describe(com.fasterxml.jackson.databind.JsonNode state) {
    if (state == null || state.isNull()) {
      return "-";
    }
    var values = state.get("values");
    int n = state.get("floats").asInt();
    if (values == null || n == 0) {
      return n + " floats";
    }
    double min = Double.MAX_VALUE;
    double max = -Double.MAX_VALUE;
    StringBuilder first = new StringBuilder();
    for (int i = 0; i < n; i++) {
      double v = values.get(i).asDouble();
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (i < 4) {
        first.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.4f", v));
      }
    }
    return String.format(
        Locale.ROOT, "%d floats in [%.4f, %.4f]: %s%s", n, min, max, first, n > 4 ? ", ..." : "");
  }

  private static String duration(com.fasterxml.jackson.databind.JsonNode millis) {
    if (millis == null || millis.isNull()) {
      return "?";
    }
    long ms = millis.asLong();
    if (ms < 60_000) {
      return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }
    if (ms < 3_600_000) {
      return String.format(Locale.ROOT, "%.1f min", ms / 60_000.0);
    }
    return String.format(Locale.ROOT, "%.1f h", ms / 3_600_000.0);
  }
}
