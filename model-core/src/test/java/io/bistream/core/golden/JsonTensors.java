package io.bistream.core.golden;

import com.fasterxml.jackson.databind.JsonNode;
import io.bistream.core.tensor.Tensor;

/**
 * Test helper: a tensor of a golden case file, written as {@code {"shape": [...], "data": [...]}}.
 */
public final class JsonTensors {

  private JsonTensors() {}

  public static Tensor tensor(JsonNode n) {
    JsonNode dims = n.get("shape");
    int[] shape = new int[dims.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = dims.get(i).asInt();
    }
    JsonNode data = n.get("data");
    float[] values = new float[data.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) data.get(i).asDouble();
    }
    return new Tensor(values, shape);
  }
}
