package io.bistream.job.faults;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.job.records.Float32;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What a run committed to its output topic, read back as a consumer sees it: per sequence, the
 * output row of every step, how often each step came out, and the end record. The fault-injection
 * suite compares the ledger of a faulted run with that of a failure-free run of the same input.
 *
 * <p>Reads every output form of the job: {@code "y"}, {@code "ys"}, {@code "y_f32"} and {@code
 * "ys_f32"} with {@code "width"}.
 */
public final class OutputLedger {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** seq -> t -> output row (the first one seen when a step came out more than once). */
  private final Map<String, TreeMap<Long, float[]>> rows = new TreeMap<>();

  /** seq -> t -> how many times the step came out. */
  private final Map<String, Map<Long, Integer>> counts = new HashMap<>();

  /** seq -> end records, in offset order. */
  private final Map<String, List<JsonNode>> ends = new TreeMap<>();

  private long records;

  private OutputLedger() {}

  /** The ledger of committed output records (values as JSON text). */
  public static OutputLedger of(List<ConsumerRecord<String, String>> committed) throws Exception {
    OutputLedger l = new OutputLedger();
    for (ConsumerRecord<String, String> r : committed) {
      l.add(r.value());
    }
    return l;
  }

  private void add(String value) throws Exception {
    records++;
    JsonNode n = JSON.readTree(value);
    String seq = n.get("seq").asText();
    if (n.path("end").asBoolean(false)) {
      ends.computeIfAbsent(seq, k -> new ArrayList<>()).add(n);
      return;
    }
    long t = n.get("t").asLong();
    List<float[]> out = new ArrayList<>();
    if (n.has("y")) {
      out.add(floats(n.get("y")));
    } else if (n.has("ys")) {
      for (JsonNode row : n.get("ys")) {
        out.add(floats(row));
      }
    } else if (n.has("y_f32")) {
      out.add(Float32.floats(Base64.getDecoder().decode(n.get("y_f32").asText())));
    } else if (n.has("ys_f32")) {
      float[] all = Float32.floats(Base64.getDecoder().decode(n.get("ys_f32").asText()));
      int width = n.get("width").asInt();
      for (int at = 0; at < all.length; at += width) {
        out.add(Arrays.copyOfRange(all, at, at + width));
      }
    } else {
      throw new IllegalArgumentException("not an output record: " + value);
    }
    for (int i = 0; i < out.size(); i++) {
      rows.computeIfAbsent(seq, k -> new TreeMap<>()).putIfAbsent(t + i, out.get(i));
      counts.computeIfAbsent(seq, k -> new HashMap<>()).merge(t + i, 1, Integer::sum);
    }
  }

  /** Output records read (step outputs and end records). */
  public long records() {
    return records;
  }

  /** Distinct (seq, t) step outputs. */
  public long steps() {
    return rows.values().stream().mapToLong(Map::size).sum();
  }

  /** Step outputs beyond the first of their (seq, t), and end records beyond one per sequence. */
  public long duplicates() {
    long d = 0;
    for (Map<Long, Integer> c : counts.values()) {
      for (int n : c.values()) {
        d += n - 1;
      }
    }
    for (List<JsonNode> e : ends.values()) {
      d += e.size() - 1;
    }
    return d;
  }

  /** Sequences with an end record. */
  public java.util.Set<String> ended() {
    return ends.keySet();
  }

  /** The (first) end record of {@code seq}, or null. */
  public JsonNode end(String seq) {
    List<JsonNode> e = ends.get(seq);
    return e == null ? null : e.get(0);
  }

  /** The output rows of {@code seq} by step (empty when none). */
  public Map<Long, float[]> rows(String seq) {
    return rows.getOrDefault(seq, new TreeMap<>());
  }

  /**
   * How this ledger differs from {@code reference}: steps and end records missing here, steps and
   * end records here that the reference lacks, duplicates here, and rows whose values differ by
   * more than {@code tolerance} (absolute, after scaling by max(1, |reference|)).
   */
  public Comparison compareWith(OutputLedger reference, float tolerance) {
    long missing = 0;
    long extra = 0;
    long differing = 0;
    List<String> examples = new ArrayList<>();
    java.util.Set<String> seqs = new java.util.TreeSet<>(reference.rows.keySet());
    seqs.addAll(rows.keySet());
    seqs.addAll(reference.ends.keySet());
    seqs.addAll(ends.keySet());
    for (String seq : seqs) {
      Map<Long, float[]> want = reference.rows(seq);
      Map<Long, float[]> got = rows(seq);
      for (Map.Entry<Long, float[]> w : want.entrySet()) {
        float[] g = got.get(w.getKey());
        if (g == null) {
          missing++;
          note(examples, "missing " + seq + " t=" + w.getKey());
        } else if (!close(g, w.getValue(), tolerance)) {
          differing++;
          note(examples, "differs " + seq + " t=" + w.getKey());
        }
      }
      for (Long t : got.keySet()) {
        if (!want.containsKey(t)) {
          extra++;
          note(examples, "extra " + seq + " t=" + t);
        }
      }
      JsonNode wantEnd = reference.end(seq);
      JsonNode gotEnd = end(seq);
      if (wantEnd != null && gotEnd == null) {
        missing++;
        note(examples, "missing end of " + seq);
      } else if (wantEnd == null && gotEnd != null) {
        extra++;
        note(examples, "extra end of " + seq);
      } else if (wantEnd != null && !wantEnd.equals(gotEnd)) {
        differing++;
        note(examples, "end of " + seq + " differs: " + gotEnd + " vs " + wantEnd);
      }
    }
    return new Comparison(
        reference.steps(), steps(), missing, extra, duplicates(), differing, examples);
  }

  private static void note(List<String> examples, String what) {
    if (examples.size() < 10) {
      examples.add(what);
    }
  }

  private static boolean close(float[] a, float[] b, float tolerance) {
    if (a.length != b.length) {
      return false;
    }
    for (int i = 0; i < a.length; i++) {
      if (Math.abs(a[i] - b[i]) > tolerance * Math.max(1f, Math.abs(b[i]))) {
        return false;
      }
    }
    return true;
  }

  private static float[] floats(JsonNode row) {
    float[] y = new float[row.size()];
    for (int j = 0; j < y.length; j++) {
      y[j] = row.get(j).floatValue();
    }
    return y;
  }

  /**
   * A faulted run against a failure-free one.
   *
   * @param referenceSteps distinct step outputs of the failure-free run
   * @param steps distinct step outputs of this run
   * @param missing steps (and end records) the reference has and this run lacks
   * @param extra steps (and end records) this run has and the reference lacks
   * @param duplicates outputs of this run beyond the first of their step (or sequence's end)
   * @param differing steps (and end records) whose values differ beyond the tolerance
   * @param examples up to ten of the differences, for a failure message
   */
  public record Comparison(
      long referenceSteps,
      long steps,
      long missing,
      long extra,
      long duplicates,
      long differing,
      List<String> examples) {

    /** True when the run committed the same records as the reference, each once. */
    public boolean same() {
      return missing == 0 && extra == 0 && duplicates == 0 && differing == 0;
    }

    @Override
    public String toString() {
      return String.format(
          "%d step outputs (reference %d): %d missing, %d extra, %d duplicates, %d differing%s",
          steps,
          referenceSteps,
          missing,
          extra,
          duplicates,
          differing,
          examples.isEmpty() ? "" : "; e.g. " + examples);
    }
  }
}
