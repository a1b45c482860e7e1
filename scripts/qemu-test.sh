#!/usr/bin/env bash
# The example firmware (examples/firmware) on an emulated Cortex-M4F, QEMU's mps2-an386, against
# a real Kafka broker; every record it reports delivered is read back by the independent
# verifier (kafka-python) and compared field by field (scripts/qemu-check.py).
#
#   ./scripts/qemu-test.sh              # the run and both fault runs (about 2 minutes)
#   ./scripts/qemu-test.sh --no-faults  # only the run of 10,000 records
#
# Networking: QEMU's user-mode network (slirp), no root needed. The guest is 10.0.2.15 and
# reaches the host's 127.0.0.1 at 10.0.2.2, so the broker gets a second listener, GUEST on
# 127.0.0.1:PORT+1 advertised as 10.0.2.2:PORT+1, next to the 127.0.0.1:PORT listener the
# verifier uses.
#
# The runs:
#   1. 10,000 records (acks=all, idempotent) to a 3-partition topic: exit status 0, all
#      10,000 read back exactly once. Also the budget: flash <= 160 KiB, and static RAM plus
#      the stack high-water mark (the stack is painted at boot and scanned at exit; checked
#      after every run) <= 64 KiB.
#   2. The broker restarts (kafka.sh restart, data kept) while the firmware produces 4,000
#      records at 400/s: exit status 0, all 4,000 read back exactly once.
#   3. The broker stops for good while the firmware produces 1,000 records at 200/s with
#      delivery.timeout.ms=6000: every record not delivered fails with its delivery timeout
#      and the firmware runs on to report it (exit status 3); the broker is started again to
#      read back the records it acknowledged.
#
# Installs qemu-system-arm (apt-get) and the rustup target when missing. Environment:
# KPROD_QEMU_KAFKA_PORT [39096] (the guest listener is PORT+1), KPROD_QEMU_CONTROLLER_PORT
# [39196], KPROD_CACHE_DIR (as for tests/broker/kafka.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KAFKA=tests/broker/kafka.sh
PORT="${KPROD_QEMU_KAFKA_PORT:-39096}"
GUEST_PORT=$((PORT + 1))
CPORT="${KPROD_QEMU_CONTROLLER_PORT:-39196}"
BOOTSTRAP="127.0.0.1:$PORT"
PARTITIONS=3
FLASH_BUDGET=$((160 * 1024))
RAM_BUDGET=$((64 * 1024))
ELF=examples/firmware/target/thumbv7em-none-eabihf/release/kprod-example-firmware
WORK="$ROOT/target/qemu-test"
FAULTS=1

die() { echo "qemu-test.sh: FAILED: $*" >&2; exit 1; }
say() { echo "=== $*"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-faults) FAULTS=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

# ---------------------------------------------------------------- tools, build, broker

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_tools --rust-targets
command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
echo "install: $(qemu-system-arm --version | head -n1)"
command -v size >/dev/null || apt_install binutils
bash "$KAFKA" fetch
bash "$KAFKA" venv
PYTHON="${KPROD_CACHE_DIR:-$ROOT/.cache}/venv/bin/python"

say "build the firmware"
(cd examples/firmware && cargo build --release --locked)
declare -A SEC
while read -r name bytes _; do [[ "$name" == .* ]] && SEC[$name]=$bytes; done < <(size -A "$ELF")
sec() { echo "${SEC[$1]:-0}"; }
FLASH=$(($(sec .vector_table) + $(sec .text) + $(sec .rodata) + $(sec .data)))
STATIC=$(($(sec .data) + $(sec .bss) + $(sec .uninit)))

rm -rf "$WORK"
mkdir -p "$WORK"
# shellcheck disable=SC2317 # called by the EXIT trap
stop_broker() { bash "$KAFKA" down --port "$PORT" >/dev/null 2>&1 || true; }
trap stop_broker EXIT
stop_broker # one left over by a killed run (only ours: our port)
say "broker at $BOOTSTRAP, guest listener 127.0.0.1:$GUEST_PORT advertised as 10.0.2.2:$GUEST_PORT"
bash "$KAFKA" up --port "$PORT" --controller-port "$CPORT" \
  --extra-listener "GUEST://127.0.0.1:$GUEST_PORT" --advertise "10.0.2.2:$GUEST_PORT"

# ---------------------------------------------------------------- helpers

# boot NAME TIMEOUT_S ARGS...: starts the firmware in the background, UART to $WORK/NAME.uart.
boot() {
  local name="$1" timeout="$2"
  shift 2
  local cmdline="arg=firmware,arg=bootstrap.servers=10.0.2.2:$GUEST_PORT" a
  for a in "$@"; do cmdline+=",arg=$a"; done
  : >"$WORK/$name.uart"
  timeout "$timeout" qemu-system-arm -M mps2-an386 -nographic -monitor none \
    -serial "file:$WORK/$name.uart" -semihosting-config "enable=on,target=native,$cmdline" \
    -nic user,model=lan9118 -kernel "$ELF" </dev/null >"$WORK/$name.qemu.log" 2>&1 &
  QEMU_PID=$!
}

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
STACK=0 # the deepest stack of all runs

# finish NAME WANT_STATUS: waits for the firmware; checks its exit status and the RAM budget
# with the stack high-water mark it reports.
finish() {
  local name="$1" want="$2" status=0 stack region
  wait "$QEMU_PID" || status=$?
  sed 's/^/  uart: /' "$WORK/$name.uart" | grep -v '  uart: link: ConnId([0-9]*) connect failed' || true
  echo "  uart: ($(grep -c 'connect failed' "$WORK/$name.uart" || true) 'connect failed' lines left out)"
  ((status != 124)) || die "$name: the firmware did not exit within its timeout"
  ((status == want)) || die "$name: exit status $status, expected $want (UART: $WORK/$name.uart)"
  read -r stack region < <(sed -n 's/^stack: high-water \([0-9]*\) bytes of \([0-9]*\)/\1 \2/p' "$WORK/$name.uart") \
    || die "$name: no stack line on the UART"
  ((stack < region)) || die "$name: the stack used all of its $region bytes: it overflowed into the statics"
  ((STATIC + stack <= RAM_BUDGET)) || die "$name: statics plus stack $(kib $((STATIC + stack))) are over 64 KiB"
  ((stack <= STACK)) || STACK=$stack
}

# field NAME KEY: KEY=value from the firmware's `done:` line.
field() { sed -n "s/^done: .*\b$2=\([0-9]*\).*/\1/p" "$WORK/$1.uart"; }

# progress NAME: the delivered count of the last progress line (0 before the first).
delivered_so_far() { sed -n 's/^progress: .*delivered=\([0-9]*\).*/\1/p' "$WORK/$1.uart" | tail -n1 | grep . || echo 0; }

# wait_delivered NAME N: until the firmware reports N records delivered.
wait_delivered() {
  local deadline=$((SECONDS + 120))
  while (($(delivered_so_far "$1") < $2)); do
    kill -0 "$QEMU_PID" 2>/dev/null || die "$1: the firmware exited before delivering $2 records"
    ((SECONDS < deadline)) || die "$1: fewer than $2 records delivered after 120 s"
    sleep 0.1
  done
}

# check NAME TOPIC RECORDS T0 T1 MODE...: reads TOPIC back and checks it (qemu-check.py).
check() {
  local name="$1" topic="$2" records="$3" t0="$4" t1="$5"
  shift 5
  local count="$records"
  [[ "$1" == --delivered ]] && count="$2"
  bash "$KAFKA" verify consume --bootstrap "$BOOTSTRAP" --topic "$topic" --count "$count" \
    --timeout 120 --extra-wait 2 >"$WORK/$name.jsonl" || die "$name: read back fewer than $count records"
  "$PYTHON" scripts/qemu-check.py --records "$records" --partitions "$PARTITIONS" \
    --min-ts $((t0 - 2000)) --max-ts $((t1 + 2000)) "$@" <"$WORK/$name.jsonl" || die "$name: read-back check"
}

topic() { # topic NAME -> a fresh 3-partition topic
  local t="qemu-$1-$(date +%s)-$$"
  bash "$KAFKA" verify create-topic --bootstrap "$BOOTSTRAP" --topic "$t" --partitions "$PARTITIONS" \
    --replication-factor 1 >/dev/null
  echo "$t"
}

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- 1. 10,000 records

t_start=$SECONDS
say "run 1: 10,000 records"
T=$(topic run)
t0=$(now_ms)
boot run 180 "topic=$T" records=10000
finish run 0
t1=$(now_ms)
[[ "$(field run delivered)" == 10000 ]] || die "run: the firmware reports $(field run delivered) delivered"
check run "$T" 10000 "$t0" "$t1" --all
RATE=$(field run records_per_s)
echo "  flash $(kib "$FLASH") of 160 KiB; RAM: statics $(kib "$STATIC") + stack high-water $(kib "$STACK")" \
  "= $(kib $((STATIC + STACK))) of 64 KiB; $RATE records/s (emulated, QEMU TCG)"
((FLASH <= FLASH_BUDGET)) || die "flash $(kib "$FLASH") is over the 160 KiB budget"

if ((FAULTS)); then
  # -------------------------------------------------------------- 2. broker restart
  say "run 2: the broker restarts while the firmware produces 4,000 records at 400/s"
  T=$(topic restart)
  t0=$(now_ms)
  boot restart 300 "topic=$T" records=4000 rate=400
  wait_delivered restart 500
  before=$(delivered_so_far restart)
  bash "$KAFKA" restart --port "$PORT"
  finish restart 0
  t1=$(now_ms)
  ((before < 4000)) || die "restart: the firmware had finished before the broker restarted"
  grep -qE 'link: .*(disconnected|connect failed)' "$WORK/restart.uart" || die "restart: the firmware saw no outage"
  [[ "$(field restart delivered)" == 4000 ]] || die "restart: the firmware reports $(field restart delivered) delivered"
  echo "  the broker restarted after $before records were delivered; the firmware recovered"
  check restart "$T" 4000 "$t0" "$t1" --all

  # -------------------------------------------------------------- 3. broker gone
  say "run 3: the broker stops for good while the firmware produces 1,000 records at 200/s"
  T=$(topic gone)
  t0=$(now_ms)
  boot gone 300 "topic=$T" records=1000 rate=200 delivery.timeout.ms=6000 request.timeout.ms=3000
  wait_delivered gone 250
  bash "$KAFKA" down --port "$PORT"
  finish gone 3
  t1=$(now_ms)
  delivered=$(field gone delivered) timed_out=$(field gone timed_out)
  ((delivered + timed_out == 1000 && timed_out > 0)) \
    || die "gone: $delivered delivered and $timed_out timed out, expected 1,000 in all and some timed out"
  [[ "$(field gone failed_other)" == 0 ]] || die "gone: records failed for another reason than the delivery timeout"
  echo "  $delivered delivered, $timed_out failed with delivery.timeout.ms; the firmware ran on and exited with 3"
  say "broker up again to read back what it acknowledged"
  bash "$KAFKA" restart --port "$PORT"
  check gone "$T" 1000 "$t0" "$t1" --delivered "$delivered"
fi

say "qemu-test.sh: passed; the runs took $((SECONDS - t_start))s (flash $(kib "$FLASH"), statics $(kib "$STATIC")," \
  "deepest stack $(kib "$STACK") ($STACK B), $RATE records/s emulated)"
