package io.bistream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.stream.Emission;
import io.bistream.job.records.Float32;
import io.bistream.job.records.OutputRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The output records are the bytes Jackson's own generator writes for the same fields, and read
 * back as the same strings and the same float bits: sequence ids that need escaping or are not
 * ASCII, floats of every magnitude, values that are not finite, one row and many.
 */
class OutputEncoderTest {

  private static final JsonFactory JACKSON =
      JsonFactory.builder().enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build();
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final String[] SEQS = {
    "s-1",
    "quote\"back\\slash",
    "tab\tnew\nline\u0001\u001f",
    "séq-ü",
    "emoji-\uD83D\uDE00",
    "",
    "</script>\u2028",
    "lone-\uD800",
    "\uDC00-reversed-\uDE00\uD83D"
  };

  @Test
  void everyOutputFormIsWhatJacksonsGeneratorWritesAndReadsBackBitExact() throws Exception {
    Random random = new Random(19);
    int checked = 0;
    for (boolean perChunk : new boolean[] {false, true}) {
      for (boolean binary : new boolean[] {false, true}) {
        OutputEncoder encoder =
            new OutputEncoder(SequenceOperatorTest.settings(1, perChunk, binary, Map.of()));
        for (String seq : SEQS) {
          for (boolean degraded : new boolean[] {false, true}) {
            int width = 1 + random.nextInt(7);
            int steps = 1 + random.nextInt(4);
            float[] values = values(random, steps * width);
            Emission em =
                new Emission(1L + random.nextInt(1 << 20), steps, width, values, degraded);
            String version = seq.isEmpty() ? "v\"2" : "initial";
            List<OutputRecord> out = new ArrayList<>();
            encoder.outputs(seq, em, "exact", version, out::add);
            assertEquals(perChunk ? 1 : steps, out.size());
            for (int i = 0; i < out.size(); i++) {
              int from = perChunk ? 0 : i;
              int count = perChunk ? steps : 1;
              Case c = new Case(seq, em, from, count, perChunk, binary, version);
              byte[] expected = c.jackson();
              assertEquals(
                  new String(expected, StandardCharsets.UTF_8),
                  new String(out.get(i).value, StandardCharsets.UTF_8));
              assertArrayEquals(expected, out.get(i).value);
              c.readsBack(out.get(i).value);
              checked++;
            }
          }
        }
      }
    }
    assertTrue(checked > 40, "records checked: " + checked);
  }

  /** Floats of every kind: tiny, huge, subnormal, signed zeros, integers, not finite. */
  private static float[] values(Random random, int n) {
    float[] special = {
      0f,
      -0f,
      1f,
      -1f,
      Float.MIN_VALUE,
      Float.MAX_VALUE,
      -Float.MIN_NORMAL,
      1e-38f,
      123456789f,
      0.1f,
      Float.NaN,
      Float.POSITIVE_INFINITY,
      Float.NEGATIVE_INFINITY
    };
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] =
          random.nextInt(4) == 0
              ? special[random.nextInt(special.length)]
              : Float.intBitsToFloat(random.nextInt());
    }
    return v;
  }

  /** One output record: rows {@code [from, from + count)} of {@code em}, in one form. */
  private record Case(
      String seq,
      Emission em,
      int from,
      int count,
      boolean perChunk,
      boolean binary,
      String version) {

    /** The record as Jackson's generator writes the schema's fields in their order. */
    byte[] jackson() throws IOException {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      int w = em.width();
      try (JsonGenerator g = JACKSON.createGenerator(bytes)) {
        g.writeStartObject();
        g.writeStringField("seq", seq);
        g.writeNumberField("t", em.firstStep() + from);
        String field = perChunk ? "ys" : "y";
        if (binary) {
          g.writeStringField(field + "_f32", Float32.base64(em.values(), from * w, count * w));
          if (perChunk) {
            g.writeNumberField("width", w);
          }
        } else {
          g.writeFieldName(field);
          if (perChunk) {
            g.writeStartArray();
          }
          for (int r = from; r < from + count; r++) {
            g.writeStartArray();
            for (int j = r * w; j < (r + 1) * w; j++) {
              g.writeNumber(em.values()[j]);
            }
            g.writeEndArray();
          }
          if (perChunk) {
            g.writeEndArray();
          }
        }
        g.writeStringField("mode", em.degraded() ? "lookahead" : "exact");
        if (em.degraded()) {
          g.writeBooleanField("degraded", true);
        }
        g.writeStringField("model_version", version);
        g.writeEndObject();
      }
      return bytes.toByteArray();
    }

    void readsBack(byte[] record) throws IOException {
      JsonNode n = JSON.readTree(record);
      assertEquals(seq, n.get("seq").asText());
      assertEquals(version, n.get("model_version").asText());
      assertEquals(em.firstStep() + from, n.get("t").asLong());
      int w = em.width();
      float[] read = new float[count * w];
      if (binary) {
        read =
            Float32.floats(
                java.util.Base64.getDecoder()
                    .decode(n.get(perChunk ? "ys_f32" : "y_f32").asText()));
      } else {
        // The number texts as written, each read as a float (Jackson's tree would read a double).
        int k = 0;
        try (JsonParser p = JSON.getFactory().createParser(record)) {
          int depth = 0;
          boolean inValues = false;
          for (JsonToken tok = p.nextToken(); tok != null; tok = p.nextToken()) {
            if (tok == JsonToken.FIELD_NAME && depth == 1) {
              inValues = p.currentName().equals(perChunk ? "ys" : "y");
            } else if (tok.isStructStart()) {
              depth++;
            } else if (tok.isStructEnd()) {
              depth--;
            } else if (inValues && depth > 1) {
              read[k++] = Float.parseFloat(p.getText());
            }
          }
        }
        assertEquals(count * w, k);
      }
      for (int j = 0; j < count * w; j++) {
        float want = em.values()[from * w + j];
        assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(read[j]), "value " + j);
      }
    }
  }
}
