package io.bistream.core.scratch;

import io.bistream.core.ModelFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ScratchLoadTest {
  @Test
  void load() throws Exception {
    String dir = System.getProperty("scratch.dir", "/tmp/onnxscratch");
    try (Stream<Path> s = Files.list(Path.of(dir))) {
      for (Path p : s.filter(f -> f.toString().endsWith(".onnx")).sorted().toList()) {
        try {
          var m = ModelFiles.load(p);
          System.out.println(
              "SCRATCH OK " + p.getFileName() + " " + m.inputs() + " nodes=" + m.nodes().size());
        } catch (Exception e) {
          System.out.println("SCRATCH FAIL " + p.getFileName() + " " + e.getMessage());
        }
      }
    }
  }
}
