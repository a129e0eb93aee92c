package io.bistream.job.records;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.DecimalNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamingEngine;
import java.io.IOException;
import java.io.Serializable;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Parses and validates input records (docs/schemas/input-record.schema.json). Valid records become
 * an {@link InputEvent}; anything else becomes a dead-letter JSON naming the reason: the caller
 * never sees an exception.
 *
 * <pre>
 * {"seq":"s-17","t":1042,"x":[0.1,0.2]}          one step
 * {"seq":"s-17","t":1043,"xs":[[...],[...]]}     consecutive steps from t
 * {"seq":"s-17","t":1045,"end":true}             end of sequence (may carry x/xs)
 * {"seq":"s-17","t":1043,"xs_f32":"zczMPc3MTD4="} steps as base64 little-endian float32
 * {"seq":"s-17","t":0,"x":[0.1,0.2],"idle_timeout_ms":3600000}  its own idle timeout
 * {"seq":"s-17","control":"reset"}               control: start again at step 0
 * {"seq":"s-17","control":"flush"}               control: end it now
 * </pre>
 *
 * <p>The rules beyond the shape of a record (docs/schemas/input-record.schema.json):
 *
 * <ul>
 *   <li>the key and the value are strict UTF-8 (two malformed ids must never decode to the same
 *       text), the value is exactly one JSON object;
 *   <li>{@code t} is an integer in [0, 2^63-1], read exactly ({@code 3.0} is 3, {@code 1.5} and
 *       {@code 2^64} are refused, never rounded or wrapped);
 *   <li>a sequence id has at most {@code --max-sequence-id-bytes} UTF-8 bytes;
 *   <li>a token-id model (its input feeds an Embedding) takes integers in [0, vocabulary size):
 *       anything else would fail inside the batched model call for every sequence in the batch.
 * </ul>
 */
public final class RecordParser implements Serializable {

  private static final long serialVersionUID = 3L;

  /** The default of {@code --max-idle-timeout}: 24 hours. */
  public static final long DEFAULT_MAX_IDLE_TIMEOUT_MS = 24L * 60 * 60 * 1000;

  /** The members a control record may have (docs/operations.md, "Control records"). */
  private static final java.util.Set<String> CONTROL_MEMBERS = java.util.Set.of("seq", "control");

  // NaN/Infinity literals parse, so they are reported as not finite rather than as bad JSON.
  private static final ObjectMapper JSON =
      JsonMapper.builder()
          .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
          .build();

  /** The largest step index: t is a Java long. */
  private static final BigDecimal MAX_STEP = BigDecimal.valueOf(Long.MAX_VALUE);

  /** Characters of an over-long sequence id kept where a dead letter names it. */
  private static final int ID_COPY = 128;

  private final int width;
  private final int maxRecordBytes;
  private final int maxStepsPerRecord;
  private final int maxSequenceIdBytes;
  // 0 when the model takes values; else valid ids are the integers in [0, tokenVocabulary)
  private final int tokenVocabulary;
  // The largest "idle_timeout_ms" a record may ask (--max-idle-timeout)
  private final long maxIdleTimeoutMs;

  /**
   * @param width values per step the model takes (1 for token ids)
   * @param maxSequenceIdBytes longest sequence id, in UTF-8 bytes
   * @param tokenVocabulary 0 for a model that takes values; the vocabulary size of its Embedding
   *     for a model that takes token ids
   * @param maxIdleTimeoutMs the largest idle timeout a record may ask for its sequence
   */
  public RecordParser(
      int width,
      int maxRecordBytes,
      int maxStepsPerRecord,
      int maxSequenceIdBytes,
      int tokenVocabulary,
      long maxIdleTimeoutMs) {
    if (width < 1) {
      throw new IllegalArgumentException("a step must have at least one value, found " + width);
    }
    this.width = width;
    this.maxRecordBytes = maxRecordBytes;
    this.maxStepsPerRecord = maxStepsPerRecord;
    this.maxSequenceIdBytes = maxSequenceIdBytes;
    this.tokenVocabulary = tokenVocabulary;
    this.maxIdleTimeoutMs = maxIdleTimeoutMs;
  }

  /** As above, with the default {@code --max-idle-timeout}. */
  public RecordParser(
      int width,
      int maxRecordBytes,
      int maxStepsPerRecord,
      int maxSequenceIdBytes,
      int tokenVocabulary) {
    this(
        width,
        maxRecordBytes,
        maxStepsPerRecord,
        maxSequenceIdBytes,
        tokenVocabulary,
        DEFAULT_MAX_IDLE_TIMEOUT_MS);
  }

  /** A parser for a model that takes values, with the default sequence-id limit (1 KB). */
  public RecordParser(int width, int maxRecordBytes, int maxStepsPerRecord) {
    this(width, maxRecordBytes, maxStepsPerRecord, 1024, 0, DEFAULT_MAX_IDLE_TIMEOUT_MS);
  }

  /**
   * The parser for a job's input: the model's input facts (width; token ids and their vocabulary)
   * and the job's limits. Runs on the client before submission, so a model whose input width is
   * unknown fails here, naming the model file.
   */
  public static RecordParser forJob(io.bistream.job.JobSettings settings, Model model) {
    StreamingEngine engine = new StreamingEngine(model, settings.stream());
    return new RecordParser(
        engine.inputWidth(),
        settings.maxRecordBytes(),
        settings.maxStepsPerRecord(),
        settings.maxSequenceIdBytes(),
        engine.tokenVocabulary(),
        settings.maxIdleTimeout().toMillis());
  }

  /**
   * A parse result: exactly one of {@code event} and {@code deadLetter} is set; {@code
   * deadLetterKey} is the key for the dead-letter record (the record's key, shortened when it is an
   * over-long id).
   */
  public record Result(
      InputEvent event, String deadLetter, DeadLetter.Reason reason, String deadLetterKey) {}

  public Result parse(byte[] key, byte[] value, String topic, int partition, long offset, long ts) {
    byte[] bytes = value == null ? new byte[0] : value;
    Origin at = new Origin(topic, partition, offset, ts, bytes, key, maxSequenceIdBytes);
    if (bytes.length > maxRecordBytes) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "record has " + bytes.length + " bytes, the limit is " + maxRecordBytes,
          at.keyCopy());
    }
    int badKeyByte = firstMalformedUtf8(key);
    if (badKeyByte >= 0) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "the record key is not valid UTF-8: " + describeByte(key, badKeyByte),
          null);
    }
    if (key != null && key.length > maxSequenceIdBytes) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "the record key (sequence id) has "
              + key.length
              + " UTF-8 bytes, the limit is "
              + maxSequenceIdBytes
              + " (--max-sequence-id-bytes)",
          at.keyCopy());
    }
    String keyText = key == null ? null : new String(key, StandardCharsets.UTF_8);
    String problem = notUtf8Json(bytes);
    if (problem != null) {
      return at.dead(DeadLetter.Reason.BAD_JSON, problem, keyText);
    }
    ObjectNode n;
    try {
      n = readObject(bytes);
    } catch (JsonProcessingException e) {
      return at.dead(DeadLetter.Reason.BAD_JSON, e.getOriginalMessage(), keyText);
    } catch (IOException e) {
      return at.dead(DeadLetter.Reason.BAD_JSON, e.getMessage(), keyText);
    } catch (NotOneObject e) {
      return at.dead(DeadLetter.Reason.BAD_JSON, e.getMessage(), keyText);
    } catch (RuntimeException e) {
      // Not expected from Jackson on any input; still the record's fault, never the job's.
      return at.dead(DeadLetter.Reason.BAD_JSON, "unreadable JSON: " + e, keyText);
    }
    JsonNode seqNode = n.get("seq");
    if (seqNode != null && !seqNode.isTextual()) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "expected \"seq\" as a string, found " + abbreviate(seqNode.toString()),
          keyText);
    }
    String seq = seqNode != null ? seqNode.asText() : keyText;
    if (seq == null || seq.isEmpty()) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD, "no sequence id: expected \"seq\" or a record key", null);
    }
    int seqBytes = utf8Length(seq);
    if (seqBytes > maxSequenceIdBytes) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "\"seq\" has "
              + seqBytes
              + " UTF-8 bytes, the limit for a sequence id is "
              + maxSequenceIdBytes
              + " (--max-sequence-id-bytes)",
          shortId(seq, seqBytes));
    }
    if (keyText != null && !keyText.equals(seq)) {
      return at.dead(
          DeadLetter.Reason.KEY_MISMATCH,
          "record key '" + keyText + "' differs from \"seq\" '" + seq + "'",
          seq);
    }
    JsonNode control = n.get("control");
    if (control != null) {
      return control(n, control, seq, at);
    }
    JsonNode idle = n.get("idle_timeout_ms");
    long idleTimeoutMs = 0;
    if (idle != null) {
      idleTimeoutMs = idleTimeout(idle);
      if (idleTimeoutMs <= 0) {
        return at.dead(
            DeadLetter.Reason.BAD_RECORD,
            "expected \"idle_timeout_ms\" as an integer number of milliseconds in [1, "
                + maxIdleTimeoutMs
                + "] (the job's --max-idle-timeout), found "
                + found(idle),
            seq);
      }
    }
    Result steps = steps(n, seq, at);
    if (steps.event() != null) {
      steps.event().idleTimeoutMs = idleTimeoutMs;
    }
    return steps;
  }

  /** The steps and end of a data record (its sequence id checked). */
  private Result steps(ObjectNode n, String seq, Origin at) {
    JsonNode tNode = n.get("t");
    long t = stepIndex(tNode);
    if (t < 0) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "expected \"t\" as an integer step index in [0, "
              + Long.MAX_VALUE
              + "], found "
              + (tNode == null ? "no \"t\"" : found(tNode)),
          seq);
    }
    boolean end = n.path("end").asBoolean(false);
    JsonNode x = n.get("x");
    JsonNode xs = n.get("xs");
    JsonNode xsF32 = n.get("xs_f32");
    if ((x != null ? 1 : 0) + (xs != null ? 1 : 0) + (xsF32 != null ? 1 : 0) > 1) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "record has more than one of \"x\", \"xs\" and \"xs_f32\"",
          seq);
    }
    if (xsF32 != null) {
      return binarySteps(xsF32, seq, t, end, at);
    }
    int steps = x != null ? 1 : xs != null ? xs.size() : 0;
    if (xs != null && !xs.isArray()) {
      return at.dead(DeadLetter.Reason.BAD_RECORD, "\"xs\" must be an array of steps", seq);
    }
    Result counted = stepCount(steps, end, seq, at);
    if (counted != null) {
      return counted;
    }
    float[] values = new float[steps * width];
    for (int s = 0; s < steps; s++) {
      JsonNode row = x != null ? x : xs.get(s);
      if (!row.isArray() || row.size() != width) {
        return at.dead(
            DeadLetter.Reason.WRONG_WIDTH,
            "step "
                + (t + s)
                + " has "
                + (row.isArray() ? row.size() + " values" : abbreviate(row.toString()))
                + ", the model takes "
                + width,
            seq);
      }
      for (int j = 0; j < width; j++) {
        JsonNode v = row.get(j);
        if (!v.isNumber()) {
          return at.dead(
              DeadLetter.Reason.BAD_RECORD,
              "step " + (t + s) + " value " + j + " is not a number: " + abbreviate(v.toString()),
              seq);
        }
        double d = v.asDouble();
        float f = (float) d;
        if (!Float.isFinite(f)) {
          return at.dead(
              DeadLetter.Reason.NOT_FINITE,
              "step " + (t + s) + " value " + j + " is " + v + " (not finite in float32)",
              seq);
        }
        if (tokenVocabulary > 0 && !isTokenId(d)) {
          return at.dead(DeadLetter.Reason.BAD_TOKEN_ID, tokenProblem(d, t + s, found(v)), seq);
        }
        values[s * width + j] = f;
      }
    }
    return at.event(seq, t, steps, values, end);
  }

  /**
   * A control record: {@code "seq"} (or the key) and {@code "control"}, nothing else. A member of a
   * data record in it is refused rather than ignored: a reset with steps, or a flush with a {@code
   * t}, says something this job would not do.
   */
  private Result control(ObjectNode n, JsonNode control, String seq, Origin at) {
    for (var names = n.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!CONTROL_MEMBERS.contains(name)) {
        return at.dead(
            DeadLetter.Reason.BAD_RECORD,
            "a control record has only \"seq\" and \"control\", found \""
                + abbreviate(name)
                + "\" (a reset sequence starts again at step 0; give \"t\", steps and"
                + " \"idle_timeout_ms\" on its next record)",
            seq);
      }
    }
    InputEvent.Control c = null;
    if (control.isTextual()) {
      for (InputEvent.Control known : InputEvent.Control.values()) {
        if (known.code().equals(control.asText())) {
          c = known;
        }
      }
    }
    if (c == null) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD,
          "unknown control "
              + found(control)
              + ": expected \"reset\" (start the sequence again at step 0) or \"flush\" (end it"
              + " now)",
          seq);
    }
    Result r = at.event(seq, 0, 0, new float[0], false);
    r.event().control = c;
    return r;
  }

  /**
   * An {@code "idle_timeout_ms"} in [1, the job's maximum]; -1 for anything else. As for {@code t}
   * (and JSON Schema's integer), a number with no fractional part counts: {@code 6e4} is 60000.
   */
  private long idleTimeout(JsonNode v) {
    if (v.isIntegralNumber()) {
      return v.canConvertToLong() && v.longValue() >= 1 && v.longValue() <= maxIdleTimeoutMs
          ? v.longValue()
          : -1;
    }
    if (!v.isNumber()) {
      return -1;
    }
    double d = v.doubleValue(); // within the maximum (hours: far below 2^53) doubles are exact
    return d == Math.rint(d) && d >= 1 && d <= maxIdleTimeoutMs ? (long) d : -1;
  }

  /**
   * The step index {@code t}, exactly: an integer in [0, 2^63-1] (written as an integer or as a
   * number with no fractional part, like {@code 3.0} or {@code 1e3}); -1 for anything else.
   */
  static long stepIndex(JsonNode t) {
    if (t == null || !t.isNumber()) {
      return -1;
    }
    if (t.isIntegralNumber()) {
      // int, long or BigInteger: a BigInteger beyond a long is refused, never wrapped (2^64 -> 0)
      return t.canConvertToLong() && t.longValue() >= 0 ? t.longValue() : -1;
    }
    if (!t.isBigDecimal()) {
      return -1; // NaN, Infinity: readObject reads every other decimal t exactly
    }
    BigDecimal d = t.decimalValue();
    if (d.signum() < 0 || d.compareTo(MAX_STEP) > 0) {
      return -1;
    }
    try {
      return d.longValueExact();
    } catch (ArithmeticException fractional) {
      return -1;
    }
  }

  /**
   * True when {@code id} is a token id the model's Embedding can look up: an integer in [0,
   * vocabulary) that float32 (how steps travel) holds exactly. Checked here, per record, because a
   * bad id inside the batched model call would fail every sequence of the batch.
   */
  private boolean isTokenId(double id) {
    return id >= 0 && id < tokenVocabulary && id == Math.rint(id) && (float) id == id;
  }

  /** Why {@code id} at {@code step} is not a token id (see {@link #isTokenId}). */
  private String tokenProblem(double id, long step, String found) {
    if (id >= 0 && id < tokenVocabulary && id == Math.rint(id)) {
      return "step "
          + step
          + ": token id "
          + found
          + " has no exact float32 value (steps travel as float32); ids up to 2^24 do";
    }
    return "step "
        + step
        + ": token id "
        + found
        + " is not an integer in [0, "
        + tokenVocabulary
        + ") (the vocabulary of the model's Embedding)";
  }

  /**
   * Steps given as {@code "xs_f32"}: base64 of little-endian float32, {@code width} values per
   * step, step after step; exact bits, and no decimal parsing.
   */
  private Result binarySteps(JsonNode xsF32, String seq, long t, boolean end, Origin at) {
    byte[] raw = null;
    String problem = null;
    if (!xsF32.isTextual()) {
      problem =
          "\"xs_f32\" must be a base64 string of little-endian float32, found "
              + abbreviate(xsF32.toString());
    } else {
      try {
        raw = Base64.getDecoder().decode(xsF32.asText());
      } catch (IllegalArgumentException e) {
        problem = "\"xs_f32\" is not base64: " + e.getMessage();
      }
    }
    if (problem != null) {
      return at.dead(DeadLetter.Reason.BAD_RECORD, problem, seq);
    }
    int stepBytes = Float.BYTES * width;
    if (raw.length % stepBytes != 0) {
      return at.dead(
          DeadLetter.Reason.WRONG_WIDTH,
          "\"xs_f32\" holds "
              + raw.length
              + " bytes, not whole steps: the model takes "
              + width
              + " float32 values ("
              + stepBytes
              + " bytes) per step",
          seq);
    }
    int steps = raw.length / stepBytes;
    Result counted = stepCount(steps, end, seq, at);
    if (counted != null) {
      return counted;
    }
    float[] values = Float32.floats(raw);
    for (int i = 0; i < values.length; i++) {
      if (!Float.isFinite(values[i])) {
        return at.dead(
            DeadLetter.Reason.NOT_FINITE,
            "step " + (t + i / width) + " value " + i % width + " is " + values[i],
            seq);
      }
      if (tokenVocabulary > 0 && !isTokenId(values[i])) {
        return at.dead(
            DeadLetter.Reason.BAD_TOKEN_ID,
            tokenProblem(values[i], t + i / width, Float.toString(values[i])),
            seq);
      }
    }
    return at.event(seq, t, steps, values, end);
  }

  /** A dead letter for a record with no step and no end, or too many steps; else null. */
  private Result stepCount(int steps, boolean end, String seq, Origin at) {
    if (steps == 0 && !end) {
      return at.dead(
          DeadLetter.Reason.BAD_RECORD, "record carries no step (x, xs or xs_f32) and no end", seq);
    }
    if (steps > maxStepsPerRecord) {
      return at.dead(
          DeadLetter.Reason.OVERSIZE,
          "record has " + steps + " steps, the limit is " + maxStepsPerRecord,
          seq);
    }
    return null;
  }

  // ------------------------------------------------------------------ bytes and JSON

  /** Thrown when the bytes hold something other than exactly one JSON object. */
  private static final class NotOneObject extends Exception {
    private static final long serialVersionUID = 1L;

    NotOneObject(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * The record value as one JSON object, read from its bytes. The object's members are trees,
   * except that a decimal {@code t} keeps its exact value ({@code 1.0000000000000000001} must not
   * round to the step index 1).
   */
  private static ObjectNode readObject(byte[] bytes) throws IOException, NotOneObject {
    try (JsonParser p = JSON.createParser(bytes)) {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_OBJECT) {
        throw new NotOneObject("expected a JSON object, found " + describe(first));
      }
      ObjectNode n = JSON.createObjectNode();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken token = p.nextToken();
        JsonNode member =
            name.equals("t") && token == JsonToken.VALUE_NUMBER_FLOAT && !p.isNaN()
                ? DecimalNode.valueOf(p.getDecimalValue())
                : JSON.readTree(p);
        n.set(name, member);
      }
      // One JSON object per record: anything after it but whitespace is refused, not ignored.
      int after = (int) p.currentLocation().getByteOffset();
      for (int i = Math.max(0, after); i < bytes.length; i++) {
        byte b = bytes[i];
        if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
          throw new NotOneObject(
              "found data after the JSON object, from byte "
                  + i
                  + ": expected exactly one JSON object per record");
        }
      }
      return n;
    }
  }

  private static String describe(JsonToken token) {
    if (token == null) {
      return "no JSON value (empty record)";
    }
    return switch (token) {
      case START_ARRAY -> "an array";
      case VALUE_STRING -> "a string";
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      default -> token.asString() == null ? token.name() : token.asString();
    };
  }

  /**
   * Why the value bytes cannot be JSON text, or null: JSON is UTF-8 (RFC 8259 §8.1) and never holds
   * a raw NUL (which would also make the parser guess UTF-16 or UTF-32).
   */
  private static String notUtf8Json(byte[] bytes) {
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == 0) {
        return "the record value holds a NUL byte at byte "
            + i
            + ": expected UTF-8 JSON text (is it UTF-16?)";
      }
    }
    int bad = firstMalformedUtf8(bytes);
    return bad < 0 ? null : "the record value is not valid UTF-8: " + describeByte(bytes, bad);
  }

  /**
   * The offset of the first byte that is not part of well-formed UTF-8 (Unicode §3.9: overlong
   * forms, surrogates and cut-off sequences included), or -1. The JDK decoder does the checking.
   */
  static int firstMalformedUtf8(byte[] bytes) {
    if (bytes == null) {
      return -1;
    }
    int i = 0;
    while (i < bytes.length && bytes[i] >= 0) {
      i++; // ASCII: the common case needs no decoder
    }
    if (i == bytes.length) {
      return -1;
    }
    Utf8Check check = UTF8.get();
    CharsetDecoder decoder = check.decoder.reset();
    CharBuffer out = check.scratch.clear();
    ByteBuffer in = ByteBuffer.wrap(bytes, i, bytes.length - i);
    while (true) {
      CoderResult r = decoder.decode(in, out, true);
      if (r.isError()) {
        return in.position();
      }
      if (r.isOverflow()) {
        out.clear(); // only validity matters, not the text
        continue;
      }
      return -1;
    }
  }

  /** A strict decoder and a scratch buffer per thread: validation allocates nothing per record. */
  private record Utf8Check(CharsetDecoder decoder, CharBuffer scratch) {}

  private static final ThreadLocal<Utf8Check> UTF8 =
      ThreadLocal.withInitial(
          () ->
              new Utf8Check(
                  StandardCharsets.UTF_8
                      .newDecoder()
                      .onMalformedInput(CodingErrorAction.REPORT)
                      .onUnmappableCharacter(CodingErrorAction.REPORT),
                  CharBuffer.allocate(512)));

  private static String describeByte(byte[] bytes, int at) {
    return "byte " + at + " (0x" + String.format("%02x", bytes[at] & 0xff) + ") of " + bytes.length;
  }

  /** UTF-8 length of a string that came from valid UTF-8, without encoding it. */
  static int utf8Length(String s) {
    int bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c)) {
        bytes += 4; // with its low surrogate
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }

  /** An id as a dead letter names it: whole up to the limit, else its start and its length. */
  private static String shortId(String id, int bytes) {
    int cut = Math.min(ID_COPY, id.length());
    if (cut < id.length() && Character.isHighSurrogate(id.charAt(cut - 1))) {
      cut--;
    }
    return id.substring(0, cut) + "...(" + bytes + " bytes)";
  }

  /** A found JSON value as an error detail names it: numbers as written (NaN unquoted). */
  private static String found(JsonNode v) {
    return abbreviate(v.isNumber() ? v.asText() : v.toString());
  }

  /** A found value as an error detail names it: at most 100 characters. */
  private static String abbreviate(String found) {
    return found.length() <= 100 ? found : found.substring(0, 100) + "...";
  }

  /** The record as a dead letter copies it: at most {@link DeadLetter#MAX_COPY} characters. */
  static String copy(byte[] bytes) {
    if (bytes.length <= DeadLetter.MAX_COPY) {
      return new String(bytes, StandardCharsets.UTF_8); // lossy on bad UTF-8: only a copy
    }
    int head = DeadLetter.MAX_COPY - 32; // leaves room for the suffix within MAX_COPY
    return new String(bytes, 0, head, StandardCharsets.UTF_8) + "...(" + bytes.length + " bytes)";
  }

  /** Where a record came from: what its event or its dead letter carries besides the steps. */
  private record Origin(
      String topic,
      int partition,
      long offset,
      long timestamp,
      byte[] value,
      byte[] key,
      int maxKeyBytes) {

    /** The record key as text for a dead letter: lossy, shortened when over the id limit. */
    String keyCopy() {
      if (key == null) {
        return null;
      }
      if (key.length <= maxKeyBytes) {
        return new String(key, StandardCharsets.UTF_8);
      }
      // An id of at most ID_COPY characters comes from at most 4 bytes per character.
      String head = new String(key, 0, Math.min(key.length, 4 * ID_COPY), StandardCharsets.UTF_8);
      return shortId(head, key.length);
    }

    Result dead(DeadLetter.Reason reason, String detail, String seq) {
      return new Result(
          null,
          DeadLetter.json(reason, detail, seq, topic, partition, offset, copy(value)),
          reason,
          keyCopy());
    }

    Result event(String seq, long t, int steps, float[] values, boolean end) {
      InputEvent e = new InputEvent();
      e.seq = seq;
      e.t = t;
      e.steps = steps;
      e.values = values;
      e.end = end;
      e.timestamp = timestamp;
      e.topic = topic;
      e.partition = partition;
      e.offset = offset;
      return new Result(e, null, null, null);
    }
  }
}
