package io.bistream.core.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.bistream.core.onnx.Symbolic.Const;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import onnx.Onnx;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The constant evaluator computes every plumbing op on constants of any rank as numpy does (cases
 * and expected values from {@code golden/onnx/const_ops.py}): what an export without constant
 * folding leaves in the graph.
 */
class ConstFoldingTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static Stream<JsonNode> cases() throws Exception {
    Path file = Path.of(ConstFoldingTest.class.getResource("/golden/onnx/const_ops.json").toURI());
    List<JsonNode> out = new ArrayList<>();
    JSON.readTree(file.toFile()).forEach(out::add);
    return out.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void constantOpEqualsNumpy(JsonNode c) {
    Onnx.NodeProto.Builder node = Onnx.NodeProto.newBuilder().setOpType(c.get("op").asText());
    c.get("attrs")
        .fields()
        .forEachRemaining(
            a -> {
              Onnx.AttributeProto.Builder attr =
                  Onnx.AttributeProto.newBuilder().setName(a.getKey());
              if (a.getValue().isArray()) {
                attr.setType(Onnx.AttributeProto.AttributeType.INTS);
                a.getValue().forEach(v -> attr.addInts(v.asLong()));
              } else {
                attr.setType(Onnx.AttributeProto.AttributeType.INT).setI(a.getValue().asLong());
              }
              node.addAttribute(attr);
            });
    List<Const> inputs = new ArrayList<>();
    c.get("inputs").forEach(i -> inputs.add(i.isNull() ? null : constant(i)));
    Const expected = constant(c.get("expected"));

    Const out = ConstFolding.evaluate(node.build(), inputs, c.get("opset").asLong());

    assertThat(out.shape()).as("shape").containsExactly(expected.shape());
    assertThat(out.data()).as("data").containsExactly(expected.data());
  }

  private static Const constant(JsonNode t) {
    int[] shape = new int[t.get("shape").size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = t.get("shape").get(i).asInt();
    }
    double[] data = new double[t.get("data").size()];
    for (int i = 0; i < data.length; i++) {
      data[i] = t.get("data").get(i).asDouble();
    }
    return new Const(shape, data);
  }
}
