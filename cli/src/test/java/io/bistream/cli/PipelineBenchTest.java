package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.sun.management.HotSpotDiagnosticMXBean;
import io.bistream.job.JobOptions;
import io.bistream.job.JobSettings;
import io.bistream.job.ModelCache;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What bench --pipeline counts in output records, and the floor that writes the job's shape. */
class PipelineBenchTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static JsonSchema outputSchema;

  @BeforeAll
  static void schema() throws Exception {
    try (InputStream s =
        Files.newInputStream(Path.of("../docs/schemas/output-record.schema.json"))) {
      outputSchema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(s);
    }
  }

  /** The steps {@code record}, an output record the schema accepts, holds. */
  private static int steps(String record) throws Exception {
    assertThat(outputSchema.validate(JSON.readTree(record))).as(record).isEmpty();
    return PipelineBench.outputSteps(record);
  }

  @Test
  void countsTheStepsOfEveryKindOfOutputRecord() throws Exception {
    String tail = ",\"mode\":\"lookahead\",\"model_version\":\"v\"}";
    assertThat(steps("{\"seq\":\"a\",\"t\":3,\"y\":[0.5,1.0]" + tail)).isEqualTo(1);
    assertThat(
            steps(
                "{\"seq\":\"a\",\"t\":3,\"y\":[0.5,1.0],\"mode\":\"lookahead\",\"degraded\":true,"
                    + "\"model_version\":\"v\"}"))
        .isEqualTo(1);
    assertThat(steps("{\"seq\":\"a\",\"t\":3,\"y_f32\":\"AACAPwAAAEA=\"" + tail)).isEqualTo(1);
    assertThat(steps("{\"seq\":\"a\",\"t\":3,\"ys\":[[1.0,0.5],[2.0,0.5],[3.0,0.5]]" + tail))
        .isEqualTo(3);
    // three rows of width 2: 24 bytes, 32 base64 characters; then two rows (16 bytes, "==")
    assertThat(
            steps(
                "{\"seq\":\"a\",\"t\":0,\"ys_f32\":\"AACAPwAAAEAAAEBAAACAQAAAoEAAAMBA\",\"width\":2"
                    + tail))
        .isEqualTo(3);
    assertThat(
            steps(
                "{\"seq\":\"a\",\"t\":0,\"ys_f32\":\"AACAPwAAAEAAAEBAAACAQA==\",\"width\":2"
                    + tail))
        .isEqualTo(2);
    assertThat(
            steps(
                "{\"seq\":\"a\",\"end\":true,\"steps\":4,\"why\":\"end_marker\","
                    + "\"model_version\":\"v\"}"))
        .isEqualTo(0);
  }

  @Test
  void anIdOrVersionNamedLikeAFieldDoesNotChangeTheCount() throws Exception {
    String y = ",\"t\":0,\"y\":[1.0],\"mode\":\"exact\",\"model_version\":";
    assertThat(steps("{\"seq\":\"end\"" + y + "\"ys\"}")).isEqualTo(1);
    assertThat(steps("{\"seq\":\"ys\"" + y + "\"end\"}")).isEqualTo(1);
    assertThat(
            steps(
                "{\"seq\":\"ys\",\"end\":true,\"steps\":1,\"why\":\"end_marker\","
                    + "\"model_version\":\"end\"}"))
        .isEqualTo(0);
  }

  @Test
  void theFloorWithTheJobsOutputShapeWritesOutputsTheSchemaAcceptsAtTheModelsWidth()
      throws Exception {
    JobOptions o =
        JobOptions.parse(
            "--bootstrap-servers", "localhost:9092",
            "--input-topic", "in",
            "--output-topic", "out",
            "--model", DemoCommand.extractBundledModel().toString(),
            "--mode", "stateful");
    JobSettings s = o.settings();
    String record = "{\"seq\":\"a\",\"t\":7" + FloorJob.jobOutputTail(s, ModelCache.get(s.model()));
    assertThat(steps(record)).isEqualTo(1);
    assertThat(JSON.readTree(record).get("y")).hasSize(2); // the demo model's two outputs
    assertThat(JSON.readTree(record).get("mode").asText()).isEqualTo("stateful");
  }

  @Test
  void aHeapThatCanStillGrowGetsANoteNamingTheOptionsThatFixIt() {
    HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    assumeFalse(
        vm.getVMOption("InitialHeapSize")
            .getValue()
            .equals(vm.getVMOption("MaxHeapSize").getValue()),
        "the test JVM's heap is fixed");
    assertThat(PipelineBench.heapNote())
        .contains("BISTREAM_JAVA_OPTS=")
        .contains("-XX:+AlwaysPreTouch");
  }
}
