package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * What can be checked without a Docker engine: the compose file and the Kubernetes manifest parse
 * and reference services, images, paths, classes and options that exist.
 */
class DeploymentFilesTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  private static List<String> texts(JsonNode n) {
    List<String> out = new ArrayList<>();
    n.forEach(v -> out.add(v.asText()));
    return out;
  }

  @Test
  void composeFileReferencesServicesPathsAndJobOptionsThatExist() throws Exception {
    JsonNode compose = YAML.readTree(ROOT.resolve("docker-compose.yml").toFile());
    JsonNode services = compose.get("services");
    assertThat(services.fieldNames())
        .toIterable()
        .contains(
            "kafka",
            "create-topics",
            "jobmanager",
            "taskmanager",
            "submit-job",
            "demo-producer",
            "output-consumer");
    services
        .fields()
        .forEachRemaining(
            s -> {
              JsonNode svc = s.getValue();
              assertThat(svc.has("image") || svc.has("build"))
                  .as(s.getKey() + " has an image")
                  .isTrue();
              JsonNode deps = svc.path("depends_on");
              List<String> names = new ArrayList<>();
              if (deps.isArray()) {
                names.addAll(texts(deps));
              } else {
                deps.fieldNames().forEachRemaining(names::add);
              }
              for (String d : names) {
                assertThat(services.has(d)).as(s.getKey() + " depends on " + d).isTrue();
              }
              for (String v : texts(svc.path("volumes"))) {
                String host = v.split(":")[0];
                if (host.startsWith(".")) {
                  assertThat(ROOT.resolve(host)).as(s.getKey() + " mounts " + host).exists();
                } else {
                  assertThat(compose.path("volumes").has(host)).as("named volume " + host).isTrue();
                }
              }
            });
    JsonNode build = services.get("jobmanager").get("build");
    assertThat(ROOT.resolve(build.get("dockerfile").asText())).exists();
    String kafkaEnv = services.get("kafka").get("environment").toString();
    assertThat(kafkaEnv).contains("KAFKA_TRANSACTION_MAX_TIMEOUT_MS");
    // The submitted arguments are options the job main class accepts.
    List<String> command = texts(services.get("submit-job").get("command"));
    int jar = command.indexOf("/opt/flink/usrlib/bistream-job.jar");
    assertThat(jar).isPositive();
    assertThat(command.get(command.indexOf("--class") + 1))
        .isEqualTo(BiStreamJobMain.class.getName());
    assertJobArgumentsParse(command.subList(jar + 1, command.size()));
    assertThat(Files.readString(ROOT.resolve("docker/Dockerfile")))
        .contains("/opt/flink/usrlib/bistream-job.jar")
        .contains("classloader.parent-first-patterns.additional");
  }

  @Test
  void kubernetesManifestNamesTheJobClassJarAndValidArguments() throws Exception {
    JsonNode d = YAML.readTree(ROOT.resolve("deploy/kubernetes/flink-deployment.yaml").toFile());
    assertThat(d.get("kind").asText()).isEqualTo("FlinkDeployment");
    JsonNode job = d.get("spec").get("job");
    assertThat(job.get("entryClass").asText()).isEqualTo(BiStreamJobMain.class.getName());
    assertThat(job.get("jarURI").asText()).isEqualTo("local:///opt/flink/usrlib/bistream-job.jar");
    assertThat(
            d.get("spec")
                .get("flinkConfiguration")
                .get("classloader.parent-first-patterns.additional")
                .asText())
        .contains("org.nd4j.")
        .contains("org.bytedeco.");
    assertJobArgumentsParse(texts(job.get("args")));
  }

  @Test
  void nativeLibraryParentFirstPatternsAreTheSameEverywhere() throws Exception {
    // ND4J/JavaCPP in lib/ must be loaded parent-first wherever the job runs on a session cluster,
    // or a resubmission fails with "already loaded in another classloader".
    Pattern setting =
        Pattern.compile("classloader\\.parent-first-patterns\\.additional:\\s*\"?([^\"\\s]+)");
    for (String file :
        List.of(
            "docker/Dockerfile",
            "docker-compose.yml",
            "deploy/kubernetes/flink-deployment.yaml",
            "scripts/session-cluster.sh",
            "docs/deploy.md")) {
      Matcher m = setting.matcher(Files.readString(ROOT.resolve(file)));
      assertThat(m.find()).as(file + " sets the parent-first patterns").isTrue();
      assertThat(m.group(1)).as(file).isEqualTo("org.nd4j.;org.bytedeco.");
    }
    assertThat(Files.readString(ROOT.resolve("docker/Dockerfile")))
        .contains("scripts/session-cluster/pom.xml -P nd4j-lib");
    assertThat(Files.readString(ROOT.resolve("scripts/session-cluster.sh"))).contains("nd4j-lib");
  }

  private static void assertJobArgumentsParse(List<String> args) {
    BiStreamJobMain main = new BiStreamJobMain();
    new CommandLine(main).parseArgs(args.toArray(new String[0]));
    assertThat(main.options.settings()).isNotNull(); // validates every value
  }
}
