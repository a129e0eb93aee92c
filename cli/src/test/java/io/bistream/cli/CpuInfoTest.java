package io.bistream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The bench's CPU line: model name and vector flags, read from /proc/cpuinfo's layout. */
class CpuInfoTest {

  @Test
  void readsTheModelNameAndKeepsOnlyTheVectorFlagsInTheCpusOrder() {
    List<String> cpuinfo =
        List.of(
            "processor\t: 0",
            "model name\t: AMD EPYC 9B14",
            "flags\t\t: fpu sse2 avx f16c fma avx2 avx512f avx512dq avx512bw avx512vl"
                + " avx512_vnni avx512_bf16 sha_ni",
            "",
            "processor\t: 1",
            "model name\t: AMD EPYC 9B14",
            "flags\t\t: fpu avx");
    CpuInfo cpu = CpuInfo.parse(cpuinfo, 2);
    assertThat(cpu.model()).isEqualTo("AMD EPYC 9B14");
    assertThat(cpu.vectorFlags())
        .containsExactly(
            "avx",
            "f16c",
            "fma",
            "avx2",
            "avx512f",
            "avx512dq",
            "avx512bw",
            "avx512vl",
            "avx512_vnni",
            "avx512_bf16");
    assertThat(cpu.toString()).startsWith("AMD EPYC 9B14, 2 cores, avx f16c fma avx2 avx512f");
  }

  @Test
  void saysUnknownWhereTheFileGivesNothing() {
    assertThat(CpuInfo.parse(List.of(), 4).toString())
        .isEqualTo("unknown CPU, 4 cores, no AVX flags");
  }
}
