package io.bistream.core.scratch;

import io.bistream.core.ModelFiles;
import io.bistream.core.npy.NpyArray;
import io.bistream.core.npy.NpyReader;
import io.bistream.core.tensor.Tensor;
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
          String base = p.toString().replace(".onnx", "");
          String cmp = "";
          if (Files.exists(Path.of(base + ".x.npy"))) {
            NpyArray xa = NpyReader.read(Path.of(base + ".x.npy"));
            NpyArray ya = NpyReader.read(Path.of(base + ".y.npy"));
            Tensor y = m.predict(new Tensor(xa.floats(), xa.shape()));
            float[] e = ya.floats();
            double max = 0;
            for (int i = 0; i < e.length; i++) {
              max = Math.max(max, Math.abs(e[i] - y.data()[i]));
            }
            cmp = " maxdiff=" + max + (e.length == y.data().length ? "" : " LEN MISMATCH");
          }
          System.out.println("SCRATCH OK " + p.getFileName() + " " + m.inputs() + cmp);
        } catch (Exception e) {
          System.out.println("SCRATCH FAIL " + p.getFileName() + " " + e.getMessage());
        }
      }
    }
  }
}
