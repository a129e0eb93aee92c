package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The packaged job jar holds what a cluster needs and none of Flink itself. */
class JobJarIT {

  /** The job jar `package` built in target/ (a -job.jar), or the one -Dbistream.job.jar names. */
  private static Path jobJar() throws Exception {
    String named = System.getProperty("bistream.job.jar");
    if (named != null) {
      return Path.of(named);
    }
    try (Stream<Path> files = Files.list(Path.of("target"))) {
      return files.filter(p -> p.toString().endsWith("-job.jar")).findFirst().orElseThrow();
    }
  }

  private static Set<String> entries(Path jar) throws Exception {
    Set<String> entries = new HashSet<>();
    try (JarFile j = new JarFile(jar.toFile())) {
      j.stream().forEach(e -> entries.add(e.getName()));
    }
    return entries;
  }

  @Test
  void jobJarContainsTheMainClassConnectorAndNativesButNoFlinkRuntime() throws Exception {
    Path jar = jobJar();
    Set<String> entries = entries(jar);
    try (JarFile j = new JarFile(jar.toFile())) {
      assertThat(j.getManifest().getMainAttributes().getValue("Main-Class"))
          .isEqualTo("io.bistream.job.BiStreamJobMain");
    }
    assertThat(entries)
        .contains(
            "io/bistream/job/BiStreamJobMain.class",
            "io/bistream/core/stream/StreamingEngine.class",
            "org/apache/flink/connector/kafka/sink/KafkaSink.class",
            "org/apache/flink/connector/kafka/source/KafkaSource.class",
            "org/apache/kafka/clients/producer/KafkaProducer.class",
            "org/nd4j/linalg/cpu/nativecpu/bindings/linux-x86_64/libnd4jcpu.so",
            "org/bytedeco/openblas/linux-x86_64/libopenblas.so.0");
    assertThat(entries)
        .noneMatch(e -> e.startsWith("org/apache/flink/runtime/"))
        .noneMatch(e -> e.startsWith("org/apache/flink/streaming/api/"))
        .noneMatch(e -> e.startsWith("org/apache/kafka/common/test/"))
        .noneMatch(e -> e.startsWith("kafka/server/"))
        .noneMatch(e -> e.startsWith("org/slf4j/"))
        // ND4J/JavaCPP natives for linux-x86_64 only (their per-platform .properties are text)
        .noneMatch(
            e ->
                (e.startsWith("org/nd4j/") || e.startsWith("org/bytedeco/"))
                    && (e.endsWith(".dll")
                        || e.endsWith(".dylib")
                        || e.matches(".*/(windows|macosx)-[^/]*/.*")));
  }

  /**
   * What only the CLI needs stays in the cli module (docs/architecture.md): its commands, the bench
   * peers (ONNX Runtime, DL4J), Kafka's test kit behind the local mode, and the bundled demo and
   * bench models.
   */
  @Test
  void jobJarHoldsNoCliBenchPeerTestKitOrFixture() throws Exception {
    Set<String> entries = entries(jobJar());
    assertThat(entries).contains("io/bistream/job/BiStreamJobMain.class");
    List<String> forbidden =
        List.of(
            "io/bistream/cli/",
            "io/bistream/job/local/",
            "org/apache/kafka/common/test/",
            "ai/onnxruntime/",
            "org/deeplearning4j/",
            "org/knowm/xchart/",
            "bench/",
            "demo/",
            "simplelogger.properties");
    assertThat(entries)
        .as("entries of the job jar under %s", forbidden)
        .noneMatch(e -> forbidden.stream().anyMatch(e::startsWith));
  }
}
