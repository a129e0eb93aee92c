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
# Usage: scripts/session-cluster.sh          (env: SEQUENCES=8 STEPS=120 TIMEOUT=120)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/target/session-cluster"
SEQUENCES="${SEQUENCES:-8}"
STEPS="${STEPS:-120}"
TIMEOUT="${TIMEOUT:-120}"
MODEL="$ROOT/flink-job/src/main/resources/demo/model.json"
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
JOB_JAR=$(ls "$ROOT"/flink-job/target/flink-job-*-job.jar 2>/dev/null | head -n 1 || true)
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
taskmanager.numberOfTaskSlots: 2
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
CLUSTER_ID=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
"${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$WORK/server.properties" \
  >"$LOG/kafka-format.out" 2>&1 || fail "formatting the Kafka log dir failed: $(cat "$LOG/kafka-format.out")"
"${KAFKA_JAVA[@]}" kafka.Kafka "$WORK/server.properties" >"$LOG/kafka.out" 2>&1 &
KAFKA_PID=$!
PIDS+=("$KAFKA_PID")
wait_for "the broker listening on $BOOTSTRAP" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT"
alive "$KAFKA_PID" "the broker" "$LOG/kafka.log"
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
wait_for "the TaskManager registering with the JobManager ($REST)" 90 slots_up
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
javac -nowarn -d "$WORK/kafka-check" -cp "$KCP" "$ROOT/scripts/session-cluster/KafkaCheck.java" \
  || fail "compiling scripts/session-cluster/KafkaCheck.java failed"
kafka_check() { java -cp "$WORK/kafka-check:$KCP" KafkaCheck "$@"; }
job_state() { curl -sf "$REST/jobs/$1" | sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p' | head -n 1; }

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
