package io.bistream.core.npy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The NumPy-written files under {@code src/test/resources/npy} and what NumPy itself read from
 * each, as recorded in {@code expected.json} by {@code generate.py}.
 */
final class NpyFixtures {

  private static final JsonNode FILES = load().get("files");

  private NpyFixtures() {}

  private static JsonNode load() {
    try (InputStream in = NpyFixtures.class.getResourceAsStream("/npy/expected.json")) {
      if (in == null) {
        throw new IllegalStateException("npy/expected.json is not on the test classpath");
      }
      return new ObjectMapper().readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The fixture file, found through the classpath. */
  static Path path(String name) {
    URL url = NpyFixtures.class.getResource("/npy/" + name);
    if (url == null) {
      throw new IllegalStateException("npy/" + name + " is not on the test classpath");
    }
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static JsonNode expected(String name) {
    JsonNode node = FILES.get(name);
    if (node == null) {
      throw new IllegalStateException(name + " is not in npy/expected.json; rerun generate.py");
    }
    return node;
  }

  /** Files NumPy wrote from a supported array. */
  static Stream<String> readable() {
    return names().filter(n -> expected(n).has("values"));
  }

  /** Files BiStream must reject. */
  static Stream<String> rejected() {
    return names().filter(n -> expected(n).has("reason"));
  }

  /** Files NpyWriter must reproduce byte for byte. */
  static Stream<String> writerIdentical() {
    return readable().filter(n -> expected(n).get("writer_identical").asBoolean());
  }

  static int[] shape(String name) {
    JsonNode shape = expected(name).get("shape");
    int[] out = new int[shape.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = shape.get(i).intValue();
    }
    return out;
  }

  /** The dtype NumPy reports, e.g. "float64". */
  static String numpyDtype(String name) {
    return expected(name).get("dtype").asText();
  }

  /** NumPy's {@code a.astype('float32')} of the file, row-major. */
  static float[] float32Values(String name) {
    JsonNode values = expected(name).get("float32_values");
    float[] out = new float[values.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode v = values.get(i);
      out[i] =
          switch (v.asText()) {
            case "nan" -> Float.NaN;
            case "inf" -> Float.POSITIVE_INFINITY;
            case "-inf" -> Float.NEGATIVE_INFINITY;
            // The double is exactly the float32 NumPy holds, so the cast is exact.
            default -> (float) v.doubleValue();
          };
    }
    return out;
  }

  /** The integer values NumPy reads (bools as 0/1), row-major. */
  static int[] intValues(String name) {
    JsonNode values = expected(name).get("values");
    int[] out = new int[values.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = Math.toIntExact(values.get(i).longValue());
    }
    return out;
  }

  private static Stream<String> names() {
    List<String> names = new ArrayList<>();
    FILES.fieldNames().forEachRemaining(names::add);
    return names.stream();
  }
}
