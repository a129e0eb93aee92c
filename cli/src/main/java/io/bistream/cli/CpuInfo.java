package io.bistream.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The CPU a benchmark ran on, from {@code /proc/cpuinfo}: its model name and the vector-extension
 * flags that decide which kernels can win (kernels tuned on an AVX2 host can lose on an AVX-512
 * one, docs/benchmarks.md).
 */
record CpuInfo(String model, int cores, List<String> vectorFlags) {

  private static final Set<String> VECTOR_FLAGS =
      Set.of(
          "avx",
          "avx2",
          "fma",
          "f16c",
          "avx512f",
          "avx512bw",
          "avx512vl",
          "avx512dq",
          "avx512_vnni",
          "avx512_bf16",
          "amx_tile");

  static CpuInfo read() {
    return parse(readCpuinfo(), Runtime.getRuntime().availableProcessors());
  }

  private static List<String> readCpuinfo() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo"));
    } catch (IOException | RuntimeException e) {
      return List.of(); // not Linux, or not readable: the line then says unknown
    }
  }

  /** The first processor's model name and flags; the vector flags in the CPU's own order. */
  static CpuInfo parse(List<String> cpuinfo, int cores) {
    String model = "unknown CPU";
    List<String> flags = new ArrayList<>();
    for (String line : cpuinfo) {
      int colon = line.indexOf(':');
      if (colon < 0) {
        continue;
      }
      String key = line.substring(0, colon).trim();
      String value = line.substring(colon + 1).trim();
      if (key.equals("model name") && model.equals("unknown CPU")) {
        model = value;
      } else if (key.equals("flags") && flags.isEmpty()) {
        for (String f : value.split("\\s+")) {
          if (VECTOR_FLAGS.contains(f)) {
            flags.add(f);
          }
        }
      }
    }
    return new CpuInfo(model, cores, List.copyOf(flags));
  }

  @Override
  public String toString() {
    return model
        + ", "
        + cores
        + " cores, "
        + (vectorFlags.isEmpty() ? "no AVX flags" : String.join(" ", vectorFlags));
  }
}
