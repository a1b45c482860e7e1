#!/usr/bin/env bash
# Real Apache Kafka brokers for kprod's tests, run straight from Maven jars.
#
#   kafka.sh fetch                  copy the Kafka jars into the cache (reused when complete)
#   kafka.sh venv                   create the Python venv for verify.py (reused when complete)
#   kafka.sh up [--host H] [--port P] [--controller-port C]
#                                   one broker, KRaft combined mode; idempotent
#            [--extra-listener NAME://BIND:PORT --advertise HOST:PORT]
#                                   plus a PLAINTEXT listener advertised under another address
#                                   (an emulator's guest reaches the host at 10.0.2.2)
#   kafka.sh restart [--host H] [--port P]
#                                   stop that broker and start it again, keeping its data
#   kafka.sh down [--host H] [--port P] | down --all (every broker, the cluster and the secured one)
#   kafka.sh cluster-up [N]         N (default 3) combined broker+controller nodes
#   kafka.sh cluster-down
#   kafka.sh secure-up              the secured broker: SSL, mTLS, SASL listeners (see secure.sh)
#   kafka.sh secure-down
#   kafka.sh node-stop I [--kill]   stop node I of the cluster (SIGTERM, or SIGKILL at once)
#   kafka.sh node-kill I            the same as node-stop I --kill
#   kafka.sh node-start I           start node I again on its existing storage
#   kafka.sh status                 every instance under the work dir, and whether it answers
#   kafka.sh verify ARGS...         run tests/broker/verify.py ARGS in the venv
#   kafka.sh tool CLASS ARGS...     run a Java main class from the Kafka jars
#
# Environment (defaults in brackets):
#   KPROD_KAFKA_HOST [127.0.0.1]   KPROD_KAFKA_PORT [9092]   KPROD_KAFKA_CONTROLLER_PORT [9093]
#   KPROD_KAFKA_NODE_ID [1]        node id of the broker `up` starts (a new cluster with other ids)
#   KPROD_CLUSTER_HOST [127.0.0.1] KPROD_CLUSTER_PORT [19092] KPROD_CLUSTER_CONTROLLER_PORT [19192]
#   KPROD_SECURE_HOST [127.0.0.1]  KPROD_SECURE_PORT [29592, listeners up to +7]
#   KPROD_SECURE_CONTROLLER_PORT [29690]  KPROD_SECURE_REAUTH_MS [10000]
#     (node i of the cluster listens on PORT+i-1 and CONTROLLER_PORT+i-1)
#   KPROD_CLUSTER_ADVERTISED_PORT [unset] node i advertises ADVERTISED_PORT+i-1 to clients (a proxy
#     in front of it); the brokers then replicate over their own listener on
#     KPROD_CLUSTER_REPLICATION_PORT+i-1 (required with it), so the proxies see client traffic only
#   KPROD_KAFKA_HEAP [512m]        heap of each broker JVM
#   KPROD_KAFKA_START_TIMEOUT [180] seconds to wait for a broker to answer Metadata
#   KPROD_KAFKA_STOP_TIMEOUT [30]  seconds between SIGTERM and SIGKILL
#   KPROD_CACHE_DIR [<repo>/.cache]       jars in kafka-<version>/libs, venv in venv/
#   KPROD_KAFKA_WORK_DIR [<repo>/target/kafka]  config, data, logs and pid of each instance
set -euo pipefail

BROKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BROKER_DIR/../.." && pwd)"
POM="$BROKER_DIR/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
CACHE_DIR="${KPROD_CACHE_DIR:-$ROOT/.cache}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
MARKER="$KAFKA_HOME/complete"
VENV="$CACHE_DIR/venv"
VENV_MARKER="$VENV/kprod-complete"
WORK="${KPROD_KAFKA_WORK_DIR:-$ROOT/target/kafka}"
HEAP="${KPROD_KAFKA_HEAP:-512m}"
START_TIMEOUT="${KPROD_KAFKA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${KPROD_KAFKA_STOP_TIMEOUT:-30}"

say() { echo "kafka.sh: $*"; }
die() { echo "kafka.sh: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- jar cache

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

# The marker holds the pom's hash, then one "size name" line per jar. It is
# written last, so a copy that was interrupted has none.
cache_ok() {
  [[ -f "$MARKER" && -d "$LIBS" ]] || { say "jar cache: no completion marker in $KAFKA_HOME"; return 1; }
  local want_hash want_count have_count
  want_hash="$(sed -n 1p "$MARKER")"
  [[ "$want_hash" == "$(pom_hash)" ]] || { say "jar cache: pom.xml changed since the copy"; return 1; }
  want_count="$(($(wc -l <"$MARKER") - 1))"
  have_count="$(find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l)"
  [[ "$want_count" == "$have_count" ]] || { say "jar cache: $have_count jars, marker lists $want_count"; return 1; }
  local size name
  while read -r size name; do
    [[ -f "$LIBS/$name" && "$(stat -c %s "$LIBS/$name")" == "$size" ]] \
      || { say "jar cache: $name is missing or has the wrong size"; return 1; }
    unzip -tqq "$LIBS/$name" >/dev/null 2>&1 || { say "jar cache: $name fails unzip -t"; return 1; }
  done < <(tail -n +2 "$MARKER")
}

cmd_fetch() {
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/kafka-$KAFKA_VERSION.lock"
  flock 8
  if cache_ok; then
    say "jar cache: reusing $LIBS ($(($(wc -l <"$MARKER") - 1)) jars, Kafka $KAFKA_VERSION, all pass unzip -t)"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (scripts/test.sh installs it)"
  say "jar cache: fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  local partial="$KAFKA_HOME/libs.partial"
  if ! mvn -B -ntp -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$partial" >"$KAFKA_HOME/mvn.log" 2>&1; then
    tail -n 40 "$KAFKA_HOME/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (log: $KAFKA_HOME/mvn.log)"
  fi
  local jar bad=0 stored
  for jar in "$partial"/*.jar; do
    unzip -tqq "$jar" >/dev/null 2>&1 && continue
    # A damaged file in Maven's local repository: drop it so a rerun downloads it again.
    bad=1
    while read -r stored; do rm -f "$stored"; done \
      < <(find "${HOME}/.m2/repository" -name "$(basename "$jar")" 2>/dev/null)
    say "jar cache: $(basename "$jar") fails unzip -t; removed it from ~/.m2"
  done
  ((bad == 0)) || die "damaged jars from Maven; run kafka.sh fetch again to download them anew"
  mv "$partial" "$LIBS"
  {
    pom_hash
    for jar in "$LIBS"/*.jar; do echo "$(stat -c %s "$jar") $(basename "$jar")"; done
  } >"$MARKER.tmp"
  mv "$MARKER.tmp" "$MARKER"
  say "jar cache: complete, $(($(wc -l <"$MARKER") - 1)) jars"
}

# ---------------------------------------------------------------- python venv

cmd_venv() {
  local req="$BROKER_DIR/requirements.txt" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  mkdir -p "$CACHE_DIR"
  exec 7>"$CACHE_DIR/venv.lock"
  flock 7
  if [[ -f "$VENV_MARKER" && "$(cat "$VENV_MARKER")" == "$want" && -x "$VENV/bin/python" ]]; then
    say "venv: reusing $VENV"
    return 0
  fi
  say "venv: creating $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian needs python3-venv)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" || die "pip install failed"
  "$VENV/bin/python" -c 'import kafka.codec as c; assert c.has_gzip() and c.has_snappy() and c.has_lz4() and c.has_zstd(), "codec missing"' \
    || die "kafka-python lacks a codec"
  echo "$want" >"$VENV_MARKER"
  say "venv: ready ($("$VENV/bin/python" -c 'import kafka; print("kafka-python", kafka.__version__)'))"
}

cmd_verify() {
  [[ -f "$VENV_MARKER" ]] || cmd_venv >&2
  exec "$VENV/bin/python" "$BROKER_DIR/verify.py" "$@" 7>&-
}

# ---------------------------------------------------------------- JVM helpers

ensure_jars() { cache_ok >/dev/null || cmd_fetch; }

tools_log4j() {
  mkdir -p "$WORK"
  local f="$WORK/log4j2-tools.properties"
  cat >"$f" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
  echo "$f"
}

# Run a Java main class from the jars, logging warnings to stderr.
run_tool() {
  ensure_jars >&2
  local log4j
  log4j="$(tools_log4j)"
  java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="file:$log4j" -cp "$LIBS/*" "$@"
}

cmd_tool() {
  [[ $# -ge 1 ]] || die "usage: kafka.sh tool MAIN_CLASS ARGS..."
  run_tool "$@"
}

# A KRaft cluster id: 16 random bytes, URL-safe base64. One starting with '-' would be read as an
# option by the storage tool (about 1 in 64), so draw again until it does not.
random_cluster_id() {
  python3 -c '
import base64, os
while True:
    cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break
'
}

# write_config DIR NODE_ID HOST PORT CONTROLLER_PORT VOTERS MODE(single|cluster) [ADV_PORT REPL_PORT]
write_config() {
  local dir="$1" id="$2" host="$3" port="$4" cport="$5" voters="$6" mode="$7"
  local rf=1 isr=1 listeners="PLAINTEXT://$host:$port,CONTROLLER://$host:$cport"
  local advertised="PLAINTEXT://$host:$port" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  [[ "$mode" == cluster ]] && rf=3 isr=2
  local inter=PLAINTEXT
  if [[ -n "${8:-}" ]]; then
    listeners+=",REPLICATION://$host:$9"
    advertised="PLAINTEXT://$host:$8,REPLICATION://$host:$9"
    inter=REPLICATION
    protocols+=",REPLICATION:PLAINTEXT"
  fi
  if [[ -n "$EXTRA_LISTENER" ]]; then
    local name="${EXTRA_LISTENER%%://*}"
    listeners+=",$EXTRA_LISTENER" advertised+=",$name://$EXTRA_ADVERTISE" protocols+=",$name:PLAINTEXT"
  fi
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<EOF
# Written by tests/broker/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=$inter
listener.security.protocol.map=$protocols
log.dirs=$dir/data
num.partitions=1
# No time-based retention: tests write records with fixed 2023 timestamps (1700000000000 + i), and a
# segment of those is deleted at the next retention check once it rolls (a restarted node rolls).
log.retention.ms=-1
# Index files of 256 KiB instead of Kafka's 10 MiB. Each is preallocated sparse and mapped, and a
# page fault in a mapping reads around it as far as the disk's read-ahead (8 MiB on the test
# machine's virtio disk): with 10 MiB, a 10,000-partition topic's index files took 23.6 GB of page
# cache (their holes, read as zeros) during one 300,000-record run, the broker used 250 CPU-s per
# million records, and every task waited on memory. With 256 KiB: 2.5 GB, 39 CPU-s/M
# in the same run. A segment now rolls after about 90 MB of records instead of at 1 GiB.
log.index.size.max.bytes=262144
group.initial.rebalance.delay.ms=0
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
EOF
}

format_storage() {
  local dir="$1" cluster_id="$2"
  run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
    >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; die "storage format failed for $dir"; }
}

# Start the JVM of the instance in DIR in its own session, detached from our
# stdio. The pid is written by the process itself just before it execs java.
start_jvm() {
  local dir="$1"
  : >"$dir/server.log"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$dir/pid" \
    java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" \
    -Dlog4j2.configurationFile="file:$dir/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/server.log" 2>&1 7>&- 8>&- 9>&- &
  local i
  for i in $(seq 50); do [[ -s "$dir/pid" ]] && return 0; sleep 0.1; done
  die "JVM for $dir did not start"
}

# Pid of the instance in DIR if its JVM is alive (checked against its cmdline).
live_pid() {
  local dir="$1" pid
  [[ -f "$dir/pid" ]] || return 1
  pid="$(cat "$dir/pid")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $dir/server.properties" || return 1
  echo "$pid"
}

probe() { # probe BOOTSTRAP BROKERS -> 0 when Metadata lists >= BROKERS brokers
  python3 "$BROKER_DIR/verify.py" probe --bootstrap "$1" --brokers "$2" --timeout 2 >/dev/null 2>&1
}

# wait_ready "DIR..." BOOTSTRAP BROKERS
wait_ready() {
  local dirs="$1" bootstrap="$2" brokers="$3" deadline=$((SECONDS + START_TIMEOUT)) d
  while ((SECONDS < deadline)); do
    for d in $dirs; do
      live_pid "$d" >/dev/null || {
        tail -n 40 "$d/server.log" >&2
        die "broker in $d exited during startup (log: $d/server.log)"
      }
    done
    if probe "$bootstrap" "$brokers"; then return 0; fi
    sleep 1
  done
  die "no Metadata answer listing $brokers broker(s) from $bootstrap within ${START_TIMEOUT}s"
}

# stop_dirs QUORUM DIR... : SIGTERM all, wait, SIGKILL what is left after
# STOP_TIMEOUT. With QUORUM > 0 (a KRaft cluster), nodes left without a
# controller majority cannot finish a controlled shutdown: they get 3 s.
stop_dirs() {
  local quorum="$1"
  shift
  local d pid pids=() deadline=$((SECONDS + STOP_TIMEOUT)) lost_at=""
  for d in "$@"; do
    if pid="$(live_pid "$d")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      say "stopping $(basename "$d") (pid $pid)"
    fi
  done
  ((${#pids[@]})) || { say "nothing running"; return 0; }
  while ((SECONDS < deadline)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
    ((alive)) || break
    if ((quorum > 0 && alive < quorum)); then
      [[ -n "$lost_at" ]] || lost_at=$SECONDS
      ((SECONDS - lost_at < 3)) || break
    fi
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      if [[ -n "$lost_at" ]]; then
        say "pid $pid has no controller quorum left to shut down with, sending SIGKILL"
      else
        say "pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      fi
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  for d in "$@"; do rm -f "$d/pid"; done
  say "stopped"
}

# ---------------------------------------------------------------- single broker

HOST="${KPROD_KAFKA_HOST:-127.0.0.1}"
PORT="${KPROD_KAFKA_PORT:-9092}"
CPORT="${KPROD_KAFKA_CONTROLLER_PORT:-9093}"
ALL=0
EXTRA_LISTENER=""
EXTRA_ADVERTISE=""

parse_single_opts() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --host) HOST="$2"; shift 2 ;;
      --port) PORT="$2"; shift 2 ;;
      --controller-port) CPORT="$2"; shift 2 ;;
      --all) ALL=1; shift ;;
      --extra-listener) EXTRA_LISTENER="$2"; shift 2 ;;
      --advertise) EXTRA_ADVERTISE="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
}

single_dir() { echo "$WORK/broker-$HOST-$PORT"; }

cmd_up() {
  parse_single_opts "$@"
  [[ -z "$EXTRA_LISTENER" || "$EXTRA_LISTENER" == *://*:* && -n "$EXTRA_ADVERTISE" ]] \
    || die "--extra-listener takes NAME://BIND:PORT and needs --advertise HOST:PORT"
  local dir bootstrap="$HOST:$PORT"
  dir="$(single_dir)"
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if live_pid "$dir" >/dev/null; then
    if probe "$bootstrap" 1; then say "already up at $bootstrap (pid $(live_pid "$dir"))"; return 0; fi
    say "broker in $dir is starting; waiting"
    wait_ready "$dir" "$bootstrap" 1
    say "up at $bootstrap"
    return 0
  fi
  if probe "$bootstrap" 1; then
    say "a Kafka broker not started from $dir already answers at $bootstrap; leaving it alone"
    return 0
  fi
  ensure_jars
  local t0=$SECONDS
  rm -rf "$dir/data" "$dir/logs"
  local id="${KPROD_KAFKA_NODE_ID:-1}"
  write_config "$dir" "$id" "$HOST" "$PORT" "$CPORT" "$id@$HOST:$CPORT" single
  format_storage "$dir" "$(random_cluster_id)"
  start_jvm "$dir"
  say "started pid $(cat "$dir/pid"), log $dir/server.log; waiting for Metadata from $bootstrap"
  wait_ready "$dir" "$bootstrap" 1
  say "up at $bootstrap after $((SECONDS - t0))s (Kafka $KAFKA_VERSION, KRaft combined, controller $HOST:$CPORT)"
}

cmd_restart() {
  parse_single_opts "$@"
  local dir bootstrap="$HOST:$PORT"
  dir="$(single_dir)"
  [[ -f "$dir/server.properties" ]] || die "no broker in $dir to restart"
  stop_dirs 0 "$dir"
  local t0=$SECONDS
  start_jvm "$dir"
  wait_ready "$dir" "$bootstrap" 1
  say "restarted at $bootstrap after $((SECONDS - t0))s, data kept"
}

cmd_down() {
  parse_single_opts "$@"
  if ((ALL)); then
    local dirs=()
    mapfile -t dirs < <(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'broker-*' 2>/dev/null | sort)
    if ((${#dirs[@]})); then stop_dirs 0 "${dirs[@]}"; fi
    cmd_cluster_down
    cmd_secure_down
    return 0
  fi
  stop_dirs 0 "$(single_dir)"
}

# ---------------------------------------------------------------- cluster

C_HOST="${KPROD_CLUSTER_HOST:-127.0.0.1}"
C_PORT="${KPROD_CLUSTER_PORT:-19092}"
C_CPORT="${KPROD_CLUSTER_CONTROLLER_PORT:-19192}"
C_ADV_PORT="${KPROD_CLUSTER_ADVERTISED_PORT:-}"
C_REPL_PORT="${KPROD_CLUSTER_REPLICATION_PORT:-}"
CLUSTER_DIR="$WORK/cluster"

cluster_dirs() { find "$CLUSTER_DIR" -mindepth 1 -maxdepth 1 -type d -name 'node-*' 2>/dev/null | sort; }

cluster_bootstrap() {
  local n="$1" i out=()
  for ((i = 0; i < n; i++)); do out+=("$C_HOST:$((C_PORT + i))"); done
  (IFS=,; echo "${out[*]}")
}

cmd_cluster_up() {
  local n="${1:-3}"
  [[ "$n" =~ ^[1-9]$ ]] || die "cluster-up takes a node count of 1..9"
  mkdir -p "$CLUSTER_DIR"
  exec 9>"$CLUSTER_DIR.lock"
  flock 9
  local bootstrap running=0 d
  bootstrap="$(cluster_bootstrap "$n")"
  for d in $(cluster_dirs); do live_pid "$d" >/dev/null && running=$((running + 1)); done
  if ((running == n)) && probe "$bootstrap" "$n"; then
    say "cluster already up at $bootstrap"
    echo "KPROD_CLUSTER_BOOTSTRAP=$bootstrap"
    return 0
  fi
  if ((running)); then
    say "a partial cluster is running; restarting it"
    local old=()
    mapfile -t old < <(cluster_dirs)
    stop_dirs $((${#old[@]} / 2 + 1)) "${old[@]}"
  fi
  ensure_jars
  local t0=$SECONDS voter_list=() voters i cid dirs=()
  for ((i = 1; i <= n; i++)); do voter_list+=("$i@$C_HOST:$((C_CPORT + i - 1))"); done
  voters="$(IFS=,; echo "${voter_list[*]}")"
  cid="$(random_cluster_id)"
  rm -rf "$CLUSTER_DIR"/node-*
  for ((i = 1; i <= n; i++)); do
    d="$CLUSTER_DIR/node-$i"
    dirs+=("$d")
    if [[ -n "$C_ADV_PORT" ]]; then
      [[ -n "$C_REPL_PORT" ]] || die "KPROD_CLUSTER_ADVERTISED_PORT needs KPROD_CLUSTER_REPLICATION_PORT"
      write_config "$d" "$i" "$C_HOST" "$((C_PORT + i - 1))" "$((C_CPORT + i - 1))" "$voters" cluster \
        "$((C_ADV_PORT + i - 1))" "$((C_REPL_PORT + i - 1))"
    else
      write_config "$d" "$i" "$C_HOST" "$((C_PORT + i - 1))" "$((C_CPORT + i - 1))" "$voters" cluster
    fi
  done
  local pids=()
  for d in "${dirs[@]}"; do format_storage "$d" "$cid" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || die "storage format failed"; done
  for d in "${dirs[@]}"; do start_jvm "$d"; done
  say "started $n nodes (logs $CLUSTER_DIR/node-*/server.log); waiting for Metadata listing $n brokers"
  wait_ready "${dirs[*]}" "$bootstrap" "$n"
  say "cluster up at $bootstrap after $((SECONDS - t0))s (Kafka $KAFKA_VERSION, controllers $voters)"
  echo "KPROD_CLUSTER_BOOTSTRAP=$bootstrap"
}

cmd_cluster_down() {
  local dirs=()
  mapfile -t dirs < <(cluster_dirs)
  ((${#dirs[@]})) || { say "no cluster"; return 0; }
  stop_dirs $((${#dirs[@]} / 2 + 1)) "${dirs[@]}"
}

# node-stop I [--kill]: SIGTERM node I (a controlled shutdown), or with --kill SIGKILL it at once.
cmd_node_stop() {
  local i="${1:-}" d pid
  [[ "$i" =~ ^[1-9]$ ]] || die "node-stop takes a node number 1..9"
  d="$CLUSTER_DIR/node-$i"
  if [[ "${2:-}" == --kill ]]; then
    pid="$(live_pid "$d")" || { say "node $i is not running"; return 0; }
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$d/pid"
    say "killed node $i (pid $pid)"
  else
    stop_dirs 0 "$d"
  fi
}

# node-start I: start node I again on its storage and config; returns once its listener answers.
cmd_node_start() {
  local i="${1:-}" d port
  [[ "$i" =~ ^[1-9]$ ]] || die "node-start takes a node number 1..9"
  d="$CLUSTER_DIR/node-$i"
  [[ -f "$d/server.properties" ]] || die "no node $i under $CLUSTER_DIR (cluster-up first)"
  live_pid "$d" >/dev/null && { say "node $i is running already"; return 0; }
  port="$(sed -n 's/^listeners=PLAINTEXT:\/\/[^,]*:\([0-9]*\).*/\1/p' "$d/server.properties")"
  start_jvm "$d"
  wait_ready "$d" "$C_HOST:$port" 1
  say "node $i up again at $C_HOST:$port"
}

# ---------------------------------------------------------------- status

cmd_status() {
  say "Kafka $KAFKA_VERSION; jars $LIBS ($(cache_ok >/dev/null 2>&1 && echo complete || echo 'not fetched'))"
  local d any=0 pid listener state
  while read -r d; do
    [[ -n "$d" && -f "$d/server.properties" ]] || continue
    any=1
    listener="$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/\([^,]*\).*/\1/p' "$d/server.properties")"
    if pid="$(live_pid "$d")"; then
      if probe "$listener" 1; then state="up, answers Metadata"; else state="running, not answering"; fi
      echo "  ${d#"$WORK"/}: pid $pid, $listener: $state"
    else
      echo "  ${d#"$WORK"/}: stopped ($listener)"
    fi
  done < <(find "$WORK" -mindepth 1 -maxdepth 2 -type d \( -name 'broker-*' -o -name 'node-*' \) 2>/dev/null | sort)
  ((any)) || echo "  no instances under $WORK"
}

# ---------------------------------------------------------------- secured broker

# shellcheck source=tests/broker/secure.sh
source "$BROKER_DIR/secure.sh"

# ---------------------------------------------------------------- main

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    fetch) cmd_fetch ;;
    venv) cmd_venv ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    restart) cmd_restart "$@" ;;
    cluster-up) cmd_cluster_up "$@" ;;
    cluster-down) cmd_cluster_down ;;
    secure-up) cmd_secure_up ;;
    secure-down) cmd_secure_down ;;
    node-stop) cmd_node_stop "$@" ;;
    node-kill) cmd_node_stop "${1:?node-kill takes a node number}" --kill ;;
    node-start) cmd_node_start "$@" ;;
    status) cmd_status ;;
    verify) cmd_verify "$@" ;;
    tool) cmd_tool "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
