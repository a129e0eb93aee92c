package io.bistream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PipelineBenchTest {

  @Test
  void countsTheStepsOfEveryKindOfOutputRecord() {
    assertEquals(
        1,
        PipelineBench.outputSteps(
            "{\"seq\":\"a\",\"t\":3,\"y\":[0.5,1.0],\"mode\":\"exact\",\"model_version\":\"v\"}"));
    assertEquals(1, PipelineBench.outputSteps("{\"seq\":\"a\",\"t\":3}")); // the floor's
    assertEquals(
        3,
        PipelineBench.outputSteps(
            "{\"seq\":\"a\",\"t\":3,\"ys\":[[1.0],[2.0],[3.0]],\"mode\":\"exact\"}"));
    // two rows of width 2: 16 bytes, 24 base64 characters
    assertEquals(
        2,
        PipelineBench.outputSteps(
            "{\"seq\":\"a\",\"t\":0,\"ys_f32\":\"AACAPwAAAEAAAEBAAACAQA==\",\"width\":2}"));
    assertEquals(
        0,
        PipelineBench.outputSteps(
            "{\"seq\":\"a\",\"end\":true,\"steps\":4,\"why\":\"end_marker\",\"model_version\":\"v\"}"));
  }

  @Test
  void aSequenceIdThatLooksLikeAFieldDoesNotChangeTheCount() {
    assertEquals(
        1, PipelineBench.outputSteps("{\"seq\":\"x\\\"ys\\\"end\\\"\",\"t\":0,\"y\":[1.0]}"));
  }
}
