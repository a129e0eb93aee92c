#!/usr/bin/env bash
# The oneDNN trial of issue 18 (docs/benchmarks.md, "oneDNN trial"): libnd4j's fused lstmLayer,
# ONNX Runtime offline and BiStream offline in one process, on ND4J's default linux-x86_64 native
# build and on its linux-x86_64-onednn-avx2 build, alternating process by process.
#
#   scripts/onednn-trial.sh [rounds=3] [threads=1] [batches...=1 32 256]
#
# Builds with -Ponednn-trial (the first run downloads the oneDNN build, ~95 MB), then runs each
# timed process under the exclusive lock of the file BISTREAM_CPU_LOCK names, if set (for hosts
# shared with other builds). Results go to
# target/onednn-trial/ and a summary of the ratios to ONNX Runtime is printed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-3}"
THREADS="${2:-1}"
shift $(($# < 2 ? $# : 2))
BATCHES=("$@")
OUT="$ROOT/target/onednn-trial"
LOCK="${BISTREAM_CPU_LOCK:-}"
mkdir -p "$OUT"

locked() { # mode, command...
  local mode="$1"
  shift
  if [[ -n "$LOCK" ]]; then flock "$mode" "$LOCK" "$@"; else "$@"; fi
}

echo "building with -Ponednn-trial..." >&2
(cd "$ROOT" && locked -s mvn -B -q -pl cli -am -Ponednn-trial -Dquick -DskipTests \
  -Dspotless.check.skip=true test-compile)

ALL="$ROOT/cli/target/test-classes:$ROOT/cli/target/classes:$(cat "$ROOT/cli/target/onednn-trial-classpath.txt")"
# JavaCPP loads the first build it finds in Nd4jCpu's extension list ("-onednn-avx2" comes before
# the plain one), so which jar is on the class path decides; each run sees only its own.
DEFAULT_CP="$(tr ':' '\n' <<<"$ALL" | grep -v -- '-onednn-avx2\.jar$' | paste -sd:)"
ONEDNN_CP="$(tr ':' '\n' <<<"$ALL" | grep -v -- 'nd4j-native-[0-9][^/]*-linux-x86_64\.jar$' | paste -sd:)"

export OMP_NUM_THREADS="$THREADS"
export OMP_WAIT_POLICY=PASSIVE

run() { # lock mode (-s or -x), build label, class path, extra arguments...
  local mode="$1" label="$2" cp="$3"
  shift 3
  # CLASSPATH, not -cp: ONNX Runtime crashes at start on a JVM command line over about 4 KB.
  locked "$mode" env CLASSPATH="$cp" java --add-modules jdk.incubator.vector \
    -Dlog4j2.statusLoggerLevel=OFF io.bistream.cli.OneDnnTrial "$THREADS" "$label" "$@" 2>&1 |
    grep -v 'incubator modules'
}

echo "== is oneDNN really running lstmLayer? (DNNL_VERBOSE=1 on the probe)"
DNNL_VERBOSE=1 run -s onednn "$ONEDNN_CP" check >"$OUT/verbose.txt"
grep -E '^(build|libnd4j|loaded|cross-check)' "$OUT/verbose.txt"
grep -m1 'dnnl_verbose,info,oneDNN' "$OUT/verbose.txt" || true
grep -m1 'dnnl_verbose,info,cpu,isa' "$OUT/verbose.txt" || true
echo "oneDNN rnn primitive executions: $(grep -c 'dnnl_verbose,exec,cpu,rnn' "$OUT/verbose.txt" || true)"
grep -m1 'dnnl_verbose,exec,cpu,rnn' "$OUT/verbose.txt" | cut -d, -f4-5,9-10 || true

RESULTS="$OUT/results-t$THREADS.txt"
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
  for build in default onednn; do
    cp="$DEFAULT_CP"
    [[ $build == onednn ]] && cp="$ONEDNN_CP"
    echo "== round $r, $build build"
    run -x "$build" "$cp" ${BATCHES[@]+"${BATCHES[@]}"} |
      tee "$OUT/run-$r-$build-t$THREADS.txt" | grep -E '^(libnd4j|loaded|cross-check|RESULT)'
    grep '^RESULT' "$OUT/run-$r-$build-t$THREADS.txt" >>"$RESULTS"
  done
done

echo "== ratio to ONNX Runtime (paired per round inside each process), min..max over $ROUNDS runs"
awk '{
  for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  key = sprintf("%-8s N=%-4s %-16s", f["build"], f["N"], f["engine"])
  v = f["vs_ort"] + 0
  if (!(key in lo) || v < lo[key]) lo[key] = v
  if (!(key in hi) || v > hi[key]) hi[key] = v
  s = f["steps_per_s"] + 0
  if (!(key in slo) || s < slo[key]) slo[key] = s
  if (!(key in shi) || s > shi[key]) shi[key] = s
} END {
  for (k in lo) printf "%s  vs ORT %.2f..%.2f   sample-steps/s %d..%d\n", k, lo[k], hi[k], slo[k], shi[k]
}' "$RESULTS" | sort -k2,2V -k1,1 -k3,3
