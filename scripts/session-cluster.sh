#!/usr/bin/env bash
# Acceptance check for the shaded job jar on a real Flink 2.2 session cluster on this machine:
#   - a Kafka 4.2 broker process (kafka.Kafka, KRaft, single node),
#   - a JobManager process (StandaloneSessionClusterEntrypoint) and a TaskManager process
#     (TaskManagerRunner), started the way Flink's bin/jobmanager.sh and bin/taskmanager.sh start
#     them (BashJavaUtils for the memory flags, config.yaml, Log4j 2 to files),
#   - the job jar submitted with CliFrontend (`flink run -d`), outputs awaited read_committed,
#     the job cancelled, then submitted again on the SAME cluster: the resubmission case. ND4J and
#     JavaCPP sit in lib/ and load parent-first, so the TaskManager loads the natives once; the
#     script checks that (no "already loaded in another classloader", one libnd4jcpu.so mapping).
# Runtime jars come from Maven Central through scripts/session-cluster/pom.xml (flink-dist itself
# is not published there, so lib/ holds the modules flink-dist bundles). Everything lives under
# target/session-cluster/. Exit status 0 only if both runs deliver every output.
#
# SCENARIO=faults runs the fault-injection suite on the same processes instead (docs/deploy.md):
# one job per mode (exact, lookahead, stateful) per run, each run on its own topics with the same
# input (explicit CreateTime timestamps), checkpoints every CHECKPOINT_INTERVAL to a directory:
#   reference         failure-free,
#   taskmanager-kill  kill -9 of the TaskManager mid-stream, a new TaskManager started at once,
#   broker-restart    the broker stopped (SIGTERM) mid-stream, started again at once (same port,
#                     same log dir),
#   broker-outage     kill -9 of the broker mid-stream, started again OUTAGE seconds later, longer
#                     than the jobs' --idle-timeout; the producer's records are stamped as if it
#                     never paused, and it writes again RECONNECT seconds after the broker is back.
# Each faulted run's committed outputs (read_committed) are compared with the reference's; one
# "FAULT fault=... mode=... result=OK|FAILED" line per fault and mode. Exit status 0 only if all
# are OK. FaultsIT (flink-job, `mvn verify`) runs it.
#
# Usage: scripts/session-cluster.sh          (env: SEQUENCES=8 STEPS=120 TIMEOUT=120)
#        SCENARIO=faults scripts/session-cluster.sh
#                                            (env: SEQUENCES=6 STEPS=80 TIMEOUT=400 PACE_MS=30
#                                             FAULTS="taskmanager-kill broker-restart broker-outage"
#                                             OUTAGE=15 OUTAGE_IDLE_TIMEOUT=5s RECONNECT=2.5)
#        JOB_JAR=path/to/flink-job-*-job.jar runs another build of the job.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/target/session-cluster"
SCENARIO="${SCENARIO:-resubmit}"
case "$SCENARIO" in
  resubmit)
    SEQUENCES="${SEQUENCES:-8}"
    STEPS="${STEPS:-120}"
    TIMEOUT="${TIMEOUT:-120}"
    SLOTS=2
    ;;
  faults)
    SEQUENCES="${SEQUENCES:-6}"
    STEPS="${STEPS:-80}"
    TIMEOUT="${TIMEOUT:-400}"
    FAULTS="${FAULTS:-taskmanager-kill broker-restart broker-outage}"
    PACE_MS="${PACE_MS:-30}"
    OUTAGE="${OUTAGE:-15}"
    OUTAGE_IDLE_TIMEOUT="${OUTAGE_IDLE_TIMEOUT:-5s}"
    RECONNECT="${RECONNECT:-2.5}"
    CHECKPOINT_INTERVAL="${CHECKPOINT_INTERVAL:-1s}"
    # One job per mode, parallelism 1: a slot each.
    SLOTS=3
    ;;
  *)
    echo "SCENARIO must be resubmit or faults, found '$SCENARIO'" >&2
    exit 2
    ;;
esac
MODEL="$ROOT/cli/src/main/resources/demo/model.json"
# The demo model's input width, read from its InputLayer (batch_input_shape [null, null, D]).
WIDTH="$(tr -d ' \n' <"$MODEL" | grep -o '"batch_input_shape":\[null,null,[0-9]*\]' \
  | head -n 1 | grep -o '[0-9]*\]$' | tr -d ']')"
[[ -n "$WIDTH" ]] || { echo "cannot read the input width of $MODEL" >&2; exit 2; }
# Values that must never reach a log; passed as Kafka client properties the PLAINTEXT broker ignores.
SECRET_MARK="bistream-secret-$$-$RANDOM"

T0=$(date +%s)
step() { printf '\n[%4ss] == %s\n' "$(($(date +%s) - T0))" "$*"; }
info() { printf '         %s\n' "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  exit 1
}

# ------------------------------------------------------------------ processes and cleanup
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    echo "logs: $WORK/log (last lines of each below)" >&2
    for f in "$WORK"/log/*.log "$WORK"/log/*.out; do
      [[ -f "$f" ]] || continue
      echo "---- $f" >&2
      tail -n 15 "$f" >&2
    done
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port at or above $1.
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

wait_for() { # description, timeout seconds, command...
  local what=$1 secs=$2
  shift 2
  local end=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    [[ $(date +%s) -lt $end ]] || fail "$what did not happen within ${secs}s"
    sleep 0.5
  done
}

alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited; see $3"; }

# ------------------------------------------------------------------ 1. build and fetch
step "job jar"
JOB_JAR="${JOB_JAR:-$(ls "$ROOT"/flink-job/target/flink-job-*-job.jar 2>/dev/null | head -n 1 || true)}"
if [[ -z "$JOB_JAR" ]]; then
  info "building it: mvn package -pl flink-job -am -DskipTests"
  (cd "$ROOT" && mvn -B -q -DskipTests -Dspotless.check.skip=true package -pl flink-job -am) \
    || fail "the job jar build failed"
  JOB_JAR=$(ls "$ROOT"/flink-job/target/flink-job-*-job.jar | head -n 1)
fi
info "$JOB_JAR ($(du -h "$JOB_JAR" | cut -f1))"

step "runtime jars from Maven Central (scripts/session-cluster/pom.xml, cached in $WORK)"
POM="$ROOT/scripts/session-cluster/pom.xml"
mkdir -p "$WORK"
for set in flink-lib nd4j-lib kafka-server; do
  if [[ ! -f "$WORK/$set/.done" || "$POM" -nt "$WORK/$set/.done" ]]; then
    rm -rf "${WORK:?}/$set"
    mvn -B -q -f "$POM" -P "$set" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$WORK/$set" >"$WORK/mvn-$set.log" 2>&1 \
      || { cat "$WORK/mvn-$set.log" >&2; fail "could not fetch the $set jars"; }
    touch "$WORK/$set/.done"
  fi
  info "$set: $(ls "$WORK/$set" | wc -l) jars"
done

# ------------------------------------------------------------------ 2. the Flink home
FLINK_HOME="$WORK/flink"
rm -rf "$FLINK_HOME" "$WORK/checkpoints" "$WORK/kafka-data" "$WORK/log"
mkdir -p "$FLINK_HOME/lib" "$FLINK_HOME/conf" "$WORK/log" "$WORK/checkpoints"
LOG="$WORK/log"
ln -s "$WORK"/flink-lib/*.jar "$FLINK_HOME/lib/"
# ND4J and JavaCPP in lib/, loaded parent-first (config below): one native load per JVM.
ln -s "$WORK"/nd4j-lib/*.jar "$FLINK_HOME/lib/"

JM_RPC_PORT=$(free_port 16123)
REST_PORT=$(free_port 18081)
# Flink 2.2's conf/config.yaml defaults for Java 17 (env.java.opts.all), plus the Vector API
# module BiStream's recurrence kernels use (without it they fall back to scalar loops).
JAVA17_OPTS="--add-modules jdk.incubator.vector --add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"

cat >"$FLINK_HOME/conf/config.yaml" <<EOF
env.java.opts.all: $JAVA17_OPTS
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $JM_RPC_PORT
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: localhost
taskmanager.host: localhost
taskmanager.numberOfTaskSlots: $SLOTS
taskmanager.memory.process.size: 1728m
parallelism.default: 1
rest.address: localhost
rest.bind-address: localhost
rest.port: $REST_PORT
# Same as docker/Dockerfile: ND4J/JavaCPP from lib/, never from the job's classloader.
classloader.parent-first-patterns.additional: org.nd4j.;org.bytedeco.
state.backend.type: rocksdb
execution.checkpointing.dir: file://$WORK/checkpoints
pipeline.generic-types: false
# A job survives a lost TaskManager or broker by restarting from its latest checkpoint; a killed
# TaskManager is noticed from failed heartbeat RPCs within seconds, not after the 50 s timeout.
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 1000
restart-strategy.fixed-delay.delay: 1 s
heartbeat.interval: 1000
heartbeat.timeout: 20000
EOF
# Flink's conf/log4j.properties (daemons) and log4j-cli.properties (client), shortened.
for f in log4j.properties log4j-cli.properties; do
  cat >"$FLINK_HOME/conf/$f" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
# The Kafka clients' config dumps show that --kafka-property values arrive, and masked.
logger.kafkaconfig.name = org.apache.kafka.common.config.AbstractConfig
logger.kafkaconfig.level = INFO
EOF
done
export FLINK_CONF_DIR="$FLINK_HOME/conf"
# JavaCPP extracts native libraries per jar file into its cache; keep that cache here. A native
# library that comes from the job jar lands under blob_p-<key>-<random>/, once per submission.
JAVACPP_CACHE="$WORK/javacpp-cache"
rm -rf "$JAVACPP_CACHE"/blob_p-*
CP="$FLINK_HOME/lib/*"

# ------------------------------------------------------------------ 3. Kafka broker
step "Kafka broker (kafka.Kafka 4.2, KRaft, one node)"
KAFKA_PORT=$(free_port 19092)
CONTROLLER_PORT=$(free_port $((KAFKA_PORT + 1)))
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
KCP="$WORK/kafka-server/*"
cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$WORK/kafka-data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
# Above the sink's transaction timeout (--transaction-timeout, 15 min by default).
transaction.max.timeout.ms=3600000
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
cat >"$WORK/kafka-log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = F
appender.f.name = F
appender.f.type = File
appender.f.fileName = ${sys:kafka.log.file}
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
EOF
KAFKA_JAVA=(java -Xms256m -Xmx512m -Dkafka.log.file="$LOG/kafka.log"
  -Dlog4j2.configurationFile="$WORK/kafka-log4j2.properties" -cp "$KCP")
# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (StorageTool random-uuid).
# Like Kafka's own, never one starting with '-': StorageTool would read it as an option (1 in 64).
CLUSTER_ID=-
while [[ $CLUSTER_ID == -* ]]; do
  CLUSTER_ID=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
done
"${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$WORK/server.properties" \
  >"$LOG/kafka-format.out" 2>&1 || fail "formatting the Kafka log dir failed: $(cat "$LOG/kafka-format.out")"
# Also restarts the broker in the fault scenarios: same port, same log dir.
# Waits for this process's "Kafka Server started", not just a listener on the port: another
# broker could hold the port (one whose port looked free while it was down).
start_broker() {
  local started
  started=$(grep -c 'Kafka Server started' "$LOG/kafka.log" 2>/dev/null || true)
  "${KAFKA_JAVA[@]}" kafka.Kafka "$WORK/server.properties" >>"$LOG/kafka.out" 2>&1 &
  KAFKA_PID=$!
  PIDS+=("$KAFKA_PID")
  wait_for "the broker listening on $BOOTSTRAP" 180 bash -c "kill -0 $KAFKA_PID &&
    [[ \$(grep -c 'Kafka Server started' '$LOG/kafka.log') -gt ${started:-0} ]] &&
    exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT"
  alive "$KAFKA_PID" "the broker" "$LOG/kafka.log"
}
start_broker
info "pid $KAFKA_PID, $BOOTSTRAP, cluster id $CLUSTER_ID"

# ------------------------------------------------------------------ 4. JobManager, TaskManager
# As bin/config.sh does: BashJavaUtils turns config.yaml's memory options into JVM flags (line 1)
# and dynamic properties (line 2) for the process.
resource_params() {
  local out
  out=$(java -cp "$CP" org.apache.flink.runtime.util.bash.BashJavaUtils "$1" \
    --configDir "$FLINK_CONF_DIR" 2>&1) || fail "BashJavaUtils $1 failed: $out"
  echo "$out" | grep '^BASH_JAVA_UTILS_EXEC_RESULT:' | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

start_daemon() { # name, class, resource command
  local name=$1 class=$2 params jvm dyn
  params=$(resource_params "$3")
  jvm=$(echo "$params" | head -n 1)
  dyn=$(echo "$params" | tail -n 1)
  # shellcheck disable=SC2086 # word splitting of JVM flags and -D k=v pairs is intended
  java $jvm $JAVA17_OPTS -Dorg.bytedeco.javacpp.cachedir="$JAVACPP_CACHE" -Dlog.file="$LOG/$name.log" \
    -Dlog4j.configurationFile="file:$FLINK_CONF_DIR/log4j.properties" \
    -cp "$CP" "$class" --configDir "$FLINK_CONF_DIR" $dyn >"$LOG/$name.out" 2>&1 &
  DAEMON_PID=$!
  PIDS+=("$DAEMON_PID")
  info "$name: pid $DAEMON_PID, $class"
  info "  $jvm"
}

step "Flink session cluster: JobManager + TaskManager processes"
start_daemon jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
  GET_JM_RESOURCE_PARAMS
JM_PID=$DAEMON_PID
start_daemon taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
  GET_TM_RESOURCE_PARAMS
TM_PID=$DAEMON_PID
REST="http://localhost:$REST_PORT"
slots_up() { curl -sf "$REST/overview" | grep -q '"taskmanagers":1,' && alive "$TM_PID" x x; }
wait_for "the TaskManager registering with the JobManager ($REST)" 180 slots_up
alive "$JM_PID" "the JobManager" "$LOG/jobmanager.log"
alive "$TM_PID" "the TaskManager" "$LOG/taskmanager.log"
info "REST $REST: $(curl -sf "$REST/overview")"

# ------------------------------------------------------------------ 5. two submissions
flink_cli() { # CliFrontend, as bin/flink runs it
  java $JAVA17_OPTS -Dorg.bytedeco.javacpp.cachedir="$JAVACPP_CACHE" -Dlog.file="$LOG/client-$1.log" \
    -Dlog4j.configurationFile="file:$FLINK_CONF_DIR/log4j-cli.properties" \
    -cp "$CP" org.apache.flink.client.cli.CliFrontend "${@:2}"
}
mkdir -p "$WORK/kafka-check"
# With flink-job's OutputLedger (and the Float32 codec it reads binary outputs with): the fault
# scenarios compare runs with it.
javac -nowarn -d "$WORK/kafka-check" -cp "$KCP" "$ROOT/scripts/session-cluster/KafkaCheck.java" \
  "$ROOT/flink-job/src/test/java/io/bistream/job/faults/OutputLedger.java" \
  "$ROOT/flink-job/src/main/java/io/bistream/job/records/Float32.java" \
  || fail "compiling scripts/session-cluster/KafkaCheck.java failed"
kafka_check() { java -cp "$WORK/kafka-check:$KCP" KafkaCheck "$@"; }
job_state() { curl -sf "$REST/jobs/$1" | sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p' | head -n 1; }

# ------------------------------------------------------------------ 6. fault scenarios
if [[ $SCENARIO == faults ]]; then
  MODES=(exact lookahead stateful)
  RUNS="$WORK/runs"
  rm -rf "$RUNS"
  now_ms() { date +%s%3N; }
  mode_options() {
    case $1 in
      exact) echo "--mode exact" ;;
      lookahead) echo "--mode lookahead --chunk 8 --lookahead 8" ;;
      stateful) echo "--mode stateful --chunk 8" ;;
    esac
  }
  # Every vertex of the job running: its source reads, its sink writes.
  all_running() {
    local j
    j=$(curl -sf "$REST/jobs/$1") || return 1
    grep -q '"state":"RUNNING"' <<<"$j" && ! grep -o '"status":"[A-Z]*"' <<<"$j" | grep -qv RUNNING
  }
  canceled() { curl -sf "$REST/jobs/$1" | grep -q '"state":"CANCELED"'; }
  produced_at_least() { # run, percent
    local n total
    read -r n total 2>/dev/null <"$RUNS/$1/produced-0" || return 1
    [[ $((n * 100)) -ge $(($2 * total)) ]]
  }
  committed_at_least() { [[ $(cat "$RUNS/$1/progress" 2>/dev/null || echo 0) -ge $2 ]]; }

  # One job per mode on the run's topics, submitted in parallel; JOBS holds their ids.
  submit_jobs() { # run, idle timeout
    local run=$1 idle=$2 mode i job pids=()
    JOBS=()
    for mode in "${MODES[@]}"; do
      # shellcheck disable=SC2046 # the mode's options are words
      flink_cli "$run-$mode" run -d -c io.bistream.job.BiStreamJobMain "$JOB_JAR" \
        --bootstrap-servers "$BOOTSTRAP" --input-topic "$run-$mode-in" \
        --output-topic "$run-$mode-out" --dead-letter-topic "$run-$mode-dlq" --model "$MODEL" \
        $(mode_options "$mode") --idle-timeout "$idle" --state-backend rocksdb \
        --checkpoint-dir "file://$WORK/checkpoints" --checkpoint-interval "$CHECKPOINT_INTERVAL" \
        >"$RUNS/$run/submit-$mode.out" 2>&1 &
      pids+=($!)
    done
    for i in "${!MODES[@]}"; do
      wait "${pids[$i]}" || fail "$run: submitting the ${MODES[$i]} job failed:
$(tail -n 20 "$RUNS/$run/submit-${MODES[$i]}.out")"
      job=$(sed -n 's/.*JobID \([0-9a-f]\{32\}\).*/\1/p' "$RUNS/$run/submit-${MODES[$i]}.out" | head -n 1)
      [[ -n "$job" ]] || fail "$run: no JobID in $RUNS/$run/submit-${MODES[$i]}.out"
      JOBS+=("$job")
    done
    for i in "${!MODES[@]}"; do
      wait_for "the ${MODES[$i]} job ${JOBS[$i]} running" 300 all_running "${JOBS[$i]}"
    done
    info "jobs running: ${JOBS[*]} (${MODES[*]})"
  }

  # Reads every run topic read_committed in the background into $RUNS/<run>/<mode>.out|.dlq.
  start_collector() { # run
    local mode args=()
    for mode in "${MODES[@]}"; do
      args+=("$mode.out=$1-$mode-out" "$mode.dlq=$1-$mode-dlq")
    done
    kafka_check collect "$BOOTSTRAP" "$RUNS/$1" "$SEQUENCES" "$TIMEOUT" "${args[@]}" \
      >"$RUNS/$1/collect.out" 2>&1 &
    COLLECTOR_PID=$!
    PIDS+=("$COLLECTOR_PID")
  }

  # Records [from%, to%) of the run's input to each mode's input topic; record i stamped
  # BASE_MS + i * PACE_MS whenever it leaves, one every pace-ms milliseconds.
  # It holds its next record while $RUNS/<run>/hold exists.
  produce_input() { # run, from %, to %, pace ms
    local mode topics=()
    for mode in "${MODES[@]}"; do
      topics+=("$1-$mode-in")
    done
    kafka_check input "$BOOTSTRAP" faults "$SEQUENCES" "$STEPS" "$WIDTH" "$2" "$3" "$BASE_MS" \
      "$PACE_MS" "$4" "$RUNS/$1/produced-$2" "$RUNS/$1/hold" "${topics[@]}" | sed 's/^/         /'
  }

  # "Mid-stream": a quarter of one mode's step outputs committed, sequences still open.
  await_mid_stream() { # run
    wait_for "committed outputs before the fault" 300 committed_at_least "$1" $((SEQUENCES * STEPS / 4))
    info "$(cat "$RUNS/$1/progress") step outputs committed before the fault"
  }

  fault_run() { # fault
    # Sequences end by their end markers; only broker-outage runs with a short idle timeout.
    local fault=$1 run="f$$-$1" idle=300s producer fault_ms resumed_ms mode topics=() rc=0
    [[ $fault == broker-outage ]] && idle=$OUTAGE_IDLE_TIMEOUT
    mkdir -p "$RUNS/$run"
    step "$fault: topics, one job per mode (${MODES[*]}), --idle-timeout $idle"
    for mode in "${MODES[@]}"; do
      topics+=("$run-$mode-in" "$run-$mode-out" "$run-$mode-dlq")
    done
    kafka_check topics "$BOOTSTRAP" "${topics[@]}" || fail "$fault: creating the topics failed"
    submit_jobs "$run" "$idle"
    start_collector "$run"
    BASE_MS=$(now_ms)
    case $fault in
      reference)
        produce_input "$run" 0 100 0 || fail "$fault: producing the input failed"
        ;;
      broker-outage)
        # One producer that never pauses while the broker is up: any wait of it with the broker
        # up would be a real pause (a quiet partition). Slower than the others, so that records
        # are left for after the outage however long the broker takes to shut down.
        produce_input "$run" 0 100 $((2 * PACE_MS)) &
        producer=$!
        PIDS+=("$producer")
        wait_for "40% of the input produced" 300 produced_at_least "$run" 40
        ;;
      *)
        # Half the input first: every sequence is open, each mode holds state, whatever the
        # machine's speed; the second half follows the fault at once.
        produce_input "$run" 0 50 "$PACE_MS" || fail "$fault: producing the input failed"
        await_mid_stream "$run"
        ;;
    esac
    case $fault in
      taskmanager-kill)
        kill -9 "$TM_PID"
        fault_ms=$(now_ms)
        wait "$TM_PID" 2>/dev/null || true # reaped here, so bash does not report the kill
        info "kill -9 TaskManager pid $TM_PID; starting a new one"
        start_daemon taskmanager-2 org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
          GET_TM_RESOURCE_PARAMS
        TM_PID=$DAEMON_PID
        resumed_ms=$(now_ms)
        produce_input "$run" 50 100 "$PACE_MS" || fail "$fault: producing the input failed"
        ;;
      broker-restart | broker-outage)
        if [[ $fault == broker-restart ]]; then
          kill -TERM "$KAFKA_PID"
          fault_ms=$(now_ms)
          wait_for "the broker stopping" 180 bash -c "! kill -0 $KAFKA_PID"
          info "broker pid $KAFKA_PID stopped (SIGTERM) in $(($(now_ms) - fault_ms)) ms;" \
            "starting it again"
        else
          # The producer cannot reach the broker from here on: it holds its records until the
          # broker is back, their timestamps running on as if it never paused. It holds before
          # the kill, every record it sent acknowledged, so no record reaches the jobs after the
          # outage before it writes again (RECONNECT). (kill -9: a graceful stop takes up to tens
          # of seconds on a loaded machine, the producer going on meanwhile.)
          touch "$RUNS/$run/hold"
          wait_for "the producer holding" 60 grep -q held "$RUNS/$run/produced-0"
          kill -9 "$KAFKA_PID"
          fault_ms=$(now_ms)
          local n total
          read -r n total _ <"$RUNS/$run/produced-0"
          [[ $n -lt $total ]] || fail "$fault: the producer had sent its whole input before the" \
            "broker went down (a very slow machine?): the outage would test nothing"
          info "kill -9 broker pid $KAFKA_PID; producer at $(cut -d' ' -f1-2 "$RUNS/$run/produced-0")" \
            "records; starting the broker again in ${OUTAGE}s (jobs' --idle-timeout $idle)"
          sleep "$OUTAGE"
        fi
        wait "$KAFKA_PID" 2>/dev/null || true # reaped here, so bash does not report the kill
        if [[ $fault == broker-restart ]]; then
          # The second half waits for the broker; its timestamps continue the first half's.
          produce_input "$run" 50 100 "$PACE_MS" &
          producer=$!
          PIDS+=("$producer")
        fi
        start_broker
        resumed_ms=$(now_ms)
        if [[ $fault == broker-outage ]]; then
          # A producer reconnects a while after the broker is back; within the idle timeout it
          # is not a quiet producer (the outage never counts as quiet time).
          sleep "$RECONNECT"
        fi
        rm -f "$RUNS/$run/hold"
        info "broker pid $KAFKA_PID listening again on $BOOTSTRAP after $((resumed_ms - fault_ms)) ms"
        wait "$producer" || fail "$fault: producing the input's second half failed"
        ;;
    esac
    [[ -z ${fault_ms:-} ]] || printf 'fault_ms=%s\nresumed_ms=%s\n' "$fault_ms" "$resumed_ms" \
      >"$RUNS/$run/marks"
    step "$fault: awaiting committed outputs (read_committed)"
    wait "$COLLECTOR_PID" || info "not every sequence ended within ${TIMEOUT}s"
    sed 's/^/         /' "$RUNS/$run/collect.out"
    for job in "${JOBS[@]}"; do
      info "job $job: $(job_state "$job"); cancelling"
      curl -sf -X PATCH "$REST/jobs/$job?mode=cancel" >/dev/null || true
    done
    for job in "${JOBS[@]}"; do
      wait_for "job $job CANCELED" 120 canceled "$job"
    done
    step "$fault: compared with the reference run"
    kafka_check compare "$RUNS/reference" "$RUNS/$run" "$fault" "$SEQUENCES" "$STEPS" \
      "${MODES[@]}" >"$RUNS/$run/compare.out" || rc=1
    sed 's/^/         /' "$RUNS/$run/compare.out"
    grep '^FAULT ' "$RUNS/$run/compare.out" >>"$RUNS/summary" || true
    [[ $fault != reference ]] || { rm -rf "$RUNS/reference"; mv "$RUNS/$run" "$RUNS/reference"; }
    return $rc
  }

  failed=()
  fault_run reference || fail "the failure-free reference run is incomplete"
  for fault in $FAULTS; do
    fault_run "$fault" || failed+=("$fault")
  done
  step "summary"
  cat "$RUNS/summary"
  if [[ ${#failed[@]} -gt 0 ]]; then
    fail "committed outputs differ from the failure-free run after: ${failed[*]}"
  fi
  printf '\nOK: every fault (%s) committed the failure-free run'"'"'s outputs, each once, in %ss\n' \
    "$FAULTS" "$(($(date +%s) - T0))"
  exit 0
fi

run_once() {
  local n=$1 prefix="run$1-$$"
  local in="$prefix-in" out="$prefix-out" dlq="$prefix-dead-letters"
  step "run $n: topics and input"
  kafka_check produce "$BOOTSTRAP" "$in" "$out" "$dlq" "$prefix" "$SEQUENCES" "$STEPS" "$WIDTH" \
    || fail "run $n: producing the input failed"

  step "run $n: flink run -d (CliFrontend) on the session cluster"
  local submit
  submit=$(flink_cli "run$n" run -d -c io.bistream.job.BiStreamJobMain "$JOB_JAR" \
    --bootstrap-servers "$BOOTSTRAP" --input-topic "$in" --output-topic "$out" \
    --dead-letter-topic "$dlq" --model "$MODEL" --mode exact --idle-timeout 10s \
    --state-backend rocksdb --checkpoint-dir "file://$WORK/checkpoints" --checkpoint-interval 1s \
    --kafka-property security.protocol=PLAINTEXT \
    --kafka-property "ssl.keystore.password=$SECRET_MARK" \
    --kafka-property "sasl.jaas.config=$SECRET_MARK" 2>&1) \
    || fail "run $n: submission failed:
$submit"
  echo "$submit" | grep -v '^\s*$' | sed 's/^/         | /'
  local job
  job=$(echo "$submit" | sed -n 's/.*JobID \([0-9a-f]\{32\}\).*/\1/p' | head -n 1)
  [[ -n "$job" ]] || fail "run $n: no JobID in the client output"
  wait_for "job $job RUNNING" 60 bash -c "curl -sf $REST/jobs/$job | grep -q '\"state\":\"RUNNING\"'"
  info "job $job RUNNING"

  step "run $n: awaiting committed outputs (read_committed) on $out"
  kafka_check await "$BOOTSTRAP" "$out" "$dlq" "$prefix" "$SEQUENCES" "$STEPS" "$TIMEOUT" \
    || fail "run $n: outputs incomplete (job state $(job_state "$job"); see $LOG/taskmanager.log)"
  local exceptions
  exceptions=$(curl -sf "$REST/jobs/$job/exceptions" | grep -o '"root-exception":"[^"]\{0,200\}' || true)
  [[ -z "$exceptions" ]] || fail "run $n: the job failed and restarted: $exceptions"

  step "run $n: flink cancel $job"
  flink_cli "cancel$n" cancel "$job" 2>&1 | grep -v '^\s*$' | sed 's/^/         | /' \
    || fail "run $n: cancel failed"
  wait_for "job $job CANCELED" 60 bash -c "curl -sf $REST/jobs/$job | grep -q '\"state\":\"CANCELED\"'"
  info "job $job CANCELED"
}

run_once 1
run_once 2

step "checks"
alive "$TM_PID" "the TaskManager" "$LOG/taskmanager.log"
info "both jobs ran in TaskManager pid $TM_PID (same JVM: the resubmission case)"
if grep -l "already loaded in another classloader" "$LOG"/*.log "$LOG"/*.out 2>/dev/null; then
  fail "a native library was loaded twice"
fi
info "no \"already loaded in another classloader\""
grep -q "recurrences run on Vector API kernels" "$LOG/taskmanager.log" \
  || fail "the TaskManager did not run the Vector API kernels (--add-modules jdk.incubator.vector)"
info "the TaskManager ran the Vector API kernels"
# With JavaCPP 1.5.7 a resubmission does not fail: each job's classloader extracts and maps its own
# copy of the natives (~400 MB) from its blob. lib/ + parent-first must make it one copy per JVM.
ND4J_SO=$(grep -o '/[^ ]*/libnd4jcpu\.so' "/proc/$TM_PID/maps" | sort -u || true)
[[ $(grep -c . <<<"$ND4J_SO") -eq 1 && $ND4J_SO != */blob_p-* ]] \
  || fail "the TaskManager must map libnd4jcpu.so once, from lib/; it maps: ${ND4J_SO:-nothing}"
info "libnd4jcpu.so mapped once in the TaskManager, from lib/ (${ND4J_SO#"$WORK"/})"
if grep -rl "$SECRET_MARK" "$LOG" 2>/dev/null; then
  fail "a --kafka-property secret value appears in the logs above"
fi
info "no --kafka-property secret value in any log (client, JobManager, TaskManager, broker)"
for cfg in ConsumerConfig ProducerConfig; do
  # The job's clients (source; sink, which also writes the dead letters) got the properties.
  for key in sasl.jaas.config ssl.keystore.password; do
    [[ $(grep -A 200 "$cfg values:" "$LOG/taskmanager.log" | grep -c "$key = \[hidden\]") -gt 0 ]] \
      || fail "the job's Kafka $cfg did not receive $key from --kafka-property"
  done
done
info "the job's Kafka consumer and producer got sasl.jaas.config and ssl.keystore.password: [hidden]"
grep -q 'BiStream pipeline .*sasl.jaas.config=\*\*\*\*\*\*' "$LOG/client-run1.log" \
  || fail "the client log lacks the job's settings with sasl.jaas.config masked"
info "the client logged the job's settings with sasl.jaas.config=******"

step "stopping"
printf '\nOK: the job jar ran twice on one Flink 2.2 session cluster (%s sequences x %s steps each) in %ss\n' \
  "$SEQUENCES" "$STEPS" "$(($(date +%s) - T0))"
