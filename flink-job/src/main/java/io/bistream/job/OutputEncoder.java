package io.bistream.job;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.core.io.NumberOutput;
import io.bistream.core.stream.Emission;
import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.Float32;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The keyed operator's records for Kafka (docs/schemas): outputs of released steps, the end record
 * of a sequence, and dead letters of records refused after parsing.
 */
final class OutputEncoder {

  // The longest text of a float and its comma: -1.2345678E-38,
  private static final int MAX_FLOAT_CHARS = 16;
  private static final JsonFactory JSON =
      JsonFactory.builder().enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build();

  private final String outputTopic;
  private final String deadLetterTopic;
  private final boolean perChunk;
  private final boolean binary;
  private final int outputBytes;

  OutputEncoder(JobSettings settings) {
    this.outputTopic = settings.outputTopic();
    this.deadLetterTopic = settings.deadLetterTopic();
    this.perChunk = settings.perChunkOutput();
    this.binary = settings.binaryFloats();
    this.outputBytes = maxOutputBytes(settings);
  }

  /**
   * The output records of {@code em}: one per step ({@code "y"}), or with {@code
   * --per-chunk-output} as few {@code "ys"} records as fit a Kafka request (exact mode's chunk is
   * the whole sequence).
   */
  void outputs(
      String seq,
      Emission em,
      String sequenceMode,
      String modelVersion,
      Consumer<OutputRecord> out) {
    String mode = em.degraded() ? "lookahead" : sequenceMode;
    // What every record of the emission starts and ends with, quoted once.
    byte[] head = new JsonBytes(16 + seq.length()).raw(SEQ).string(seq).raw(T).bytes();
    JsonBytes tail = new JsonBytes(64).raw(MODE).string(mode);
    if (em.degraded()) {
      tail.raw(DEGRADED);
    }
    byte[] end = tail.raw(MODEL_VERSION).string(modelVersion).raw(END).bytes();
    if (perChunk) {
      // Each record small enough at the widest float text, or at base64's 4 characters per 3
      // bytes of float32.
      int rowBytes = binary ? (em.width() * 16 + 2) / 3 + 1 : em.width() * MAX_FLOAT_CHARS + 4;
      int perRecord = Math.max(1, outputBytes / rowBytes);
      for (int from = 0; from < em.steps(); from += perRecord) {
        int count = Math.min(perRecord, em.steps() - from);
        out.accept(new OutputRecord(outputTopic, seq, output(head, em, from, count, "ys", end)));
      }
      return;
    }
    for (int r = 0; r < em.steps(); r++) {
      out.accept(new OutputRecord(outputTopic, seq, output(head, em, r, 1, "y", end)));
    }
  }

  /**
   * The sequence's one end record: {@code {"seq","end":true,"steps":N,"why":...,
   * "model_version":V}}.
   */
  OutputRecord end(String seq, long steps, Tombstone.Why why, String modelVersion) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + seq.length());
      try (JsonGenerator g = JSON.createGenerator(bytes)) {
        g.writeStartObject();
        g.writeStringField("seq", seq);
        g.writeBooleanField("end", true);
        g.writeNumberField("steps", steps);
        g.writeStringField("why", why.code());
        g.writeStringField("model_version", modelVersion);
        g.writeEndObject();
      }
      return new OutputRecord(outputTopic, seq, bytes.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e); // in memory: does not happen
    }
  }

  /**
   * A dead letter for record {@code e}, refused after parsing. It names where the record is (topic,
   * partition, offset) instead of copying it: records travel through the job without their text.
   */
  OutputRecord deadLetter(InputEvent e, DeadLetter.Reason reason, String detail) {
    return new OutputRecord(
        deadLetterTopic,
        e.seq,
        DeadLetter.json(reason, detail, e.seq, e.topic, e.partition, e.offset, null)
            .getBytes(StandardCharsets.UTF_8));
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
   * One output record, written straight to UTF-8: {@code head} (its {@code seq}, quoted once per
   * emission), {@code t}, then either one step's values ({@code "y"}) or several rows from {@code
   * t} ({@code "ys"}), {@code mode}, {@code degraded}, {@code model_version} (the model version the
   * sequence is pinned to). Values are JSON numbers in Jackson's Schubfach text (the shortest text
   * that reads back as the same float; JDK 17's {@code Float.toString} took ~4x the engine's time
   * in the job, bench --pipeline and JFR), a value that is not finite as Jackson writes it ({@code
   * "NaN"}, a string); or with {@code --binary-floats} one base64 string of little-endian float32
   * ({@code "y_f32"}, or {@code "ys_f32"} plus the row {@code "width"}), then {@code end} (the
   * emission's {@code mode}, {@code degraded} and {@code model_version}). The bytes are those
   * Jackson's generator writes (the strings quoted by Jackson's own encoder), without a generator
   * per record: creating and closing one, and quoting the constant field names again for every
   * record, took a third of the encoding here (JFR, docs/benchmarks.md).
   */
  private byte[] output(byte[] head, Emission em, int from, int count, String field, byte[] end) {
    int width = em.width();
    JsonBytes b = new JsonBytes(head.length + end.length + 24 + count * width * (binary ? 6 : 12));
    b.raw(head).number(em.firstStep() + from);
    if (binary) {
      b.raw(field.equals("ys") ? YS_F32 : Y_F32);
      // The JDK's encoder: 1.2-1.6x Jackson's writeBinary on 1-64 KB, which took 19% of this
      // operator's time in stateful mode.
      b.ascii(Float32.base64Ascii(em.values(), from * width, count * width));
      if (field.equals("ys")) {
        b.raw(WIDTH).number(width);
      }
    } else {
      b.raw(field.equals("ys") ? YS : Y);
      for (int r = from; r < from + count; r++) {
        b.raw(r == from ? OPEN : NEXT_ROW);
        for (int j = r * width; j < (r + 1) * width; j++) {
          if (j > r * width) {
            b.raw(COMMA);
          }
          b.number(em.values()[j]);
        }
        b.raw(CLOSE);
      }
      if (field.equals("ys")) {
        b.raw(CLOSE);
      }
    }
    return b.raw(end).bytes();
  }

  private static final byte[] SEQ = ascii("{\"seq\":");
  private static final byte[] T = ascii(",\"t\":");
  private static final byte[] Y = ascii(",\"y\":");
  private static final byte[] YS = ascii(",\"ys\":[");
  private static final byte[] Y_F32 = ascii(",\"y_f32\":");
  private static final byte[] YS_F32 = ascii(",\"ys_f32\":");
  private static final byte[] WIDTH = ascii(",\"width\":");
  private static final byte[] OPEN = ascii("[");
  private static final byte[] NEXT_ROW = ascii(",[");
  private static final byte[] COMMA = ascii(",");
  private static final byte[] CLOSE = ascii("]");
  private static final byte[] MODE = ascii(",\"mode\":");
  private static final byte[] DEGRADED = ascii(",\"degraded\":true");
  private static final byte[] MODEL_VERSION = ascii(",\"model_version\":");
  private static final byte[] END = ascii("}");

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  /** A growing UTF-8 buffer for one record, written as Jackson's generator writes. */
  private static final class JsonBytes {
    private byte[] buf;
    private int length;

    JsonBytes(int capacity) {
      buf = new byte[capacity];
    }

    private void room(int more) {
      if (length + more > buf.length) {
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, length + more));
      }
    }

    JsonBytes raw(byte[] b) {
      room(b.length);
      System.arraycopy(b, 0, buf, length, b.length);
      length += b.length;
      return this;
    }

    /**
     * {@code s} quoted and escaped as Jackson's generator writes it: by Jackson's encoder, except
     * that a surrogate is written as a {@code \\uXXXX} escape, each half alone (Jackson's UTF-8
     * encoder refuses a lone one, which a sequence id may hold).
     */
    JsonBytes string(String s) {
      for (int i = 0; i < s.length(); i++) {
        if (Character.isSurrogate(s.charAt(i))) {
          return withSurrogates(s);
        }
      }
      return ascii(QUOTER.quoteAsUTF8(s));
    }

    private JsonBytes withSurrogates(String s) {
      char[] quoted = QUOTER.quoteAsString(s);
      StringBuilder b = new StringBuilder(quoted.length + 16);
      for (char c : quoted) {
        if (Character.isSurrogate(c)) {
          b.append(String.format("\\u%04X", (int) c));
        } else {
          b.append(c);
        }
      }
      return ascii(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** Text that needs no escaping (base64, or quoted already), in quotes. */
    JsonBytes ascii(byte[] b) {
      room(b.length + 2);
      buf[length++] = '"';
      raw(b);
      buf[length++] = '"';
      return this;
    }

    JsonBytes number(long v) {
      return text(Long.toString(v));
    }

    JsonBytes number(float v) {
      if (!Float.isFinite(v)) {
        room(12);
        buf[length++] = '"';
        text(Float.toString(v));
        buf[length++] = '"';
        return this;
      }
      return text(NumberOutput.toString(v, true));
    }

    // Number text: ASCII.
    private JsonBytes text(String s) {
      int n = s.length();
      room(n);
      for (int i = 0; i < n; i++) {
        buf[length++] = (byte) s.charAt(i);
      }
      return this;
    }

    byte[] bytes() {
      return Arrays.copyOf(buf, length);
    }
  }

  private static final JsonStringEncoder QUOTER = JsonStringEncoder.getInstance();
}
