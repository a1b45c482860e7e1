#!/usr/bin/env bash
# The IO thread's wake-ups at a fixed rate, timed by who woke it (BENCHMARKS.md, issue 15).
#
#   bench/run/wakeups.sh KPROD_BIN RECORD_SIZE RATE RECORDS
#
# Runs `KPROD_BIN perf` on the bench's fixed-rate line (acks=all, idempotent, linger.ms 5, a new
# topic, which the broker of tests/broker/kafka.sh up on 127.0.0.1:9092 creates with one partition),
# records the scheduler system-wide for 3 s from 1 s into the run (`perf sched record -a`), and
# sums the IO thread's time on the CPU per wake-up: woken by the sending thread (a batch to
# send) or by anything else (the broker's answer through loopback, a timer). A wake-up from an
# interrupt names the task it interrupted, so a timer that fires while the sending thread runs
# counts as the sending thread's: the split is close, not exact. Needs `perf` and root (or
# perf_event_paranoid <= 0); RECORDS must last past 4 s at RATE.
set -euo pipefail
[ $# -eq 4 ] || { sed -n 4,13p "$0"; exit 2; }
bin=$1 size=$2 rate=$3 records=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
topic=wakeups-$(date +%s%N)
"$bin" perf --fresh-payload --topic "$topic" --num-records "$records" --record-size "$size" --throughput "$rate" \
  --producer-props bootstrap.servers=127.0.0.1:9092 acks=all enable.idempotence=true linger.ms=5 \
  >"$work/perf.out" 2>&1 &
pid=$!
sleep 1
perf sched record -a -o "$work/sched.data" sleep 3 >/dev/null 2>&1
wait "$pid"
tail -1 "$work/perf.out"
# timehist -w: a wake-up line names the waker (column 3) and the woken task, as comm[tid/pid], or
# comm[pid] for the main thread, which is `kprod perf`'s sending thread; a switch-out line has 6
# columns, the last the time on the CPU since the task was switched in.
perf sched timehist -i "$work/sched.data" -w 2>/dev/null | awk -v main="[$pid]" -v io="/$pid]" '
  function is_main(task) { return substr(task, length(task) - length(main) + 1) == main }
  function is_io(task) { return task ~ /^kprod-io-/ && index(task, io) > 0 }
  $4 == "awakened:" && is_io($5) { waker = is_main($3) ? "the sending thread" : "anything else (answers, timers)"; next }
  NF == 6 && is_io($3) { k = waker ? waker : "anything else (answers, timers)"; n[k]++; t[k] += $6; waker = "" }
  NF == 6 && is_main($3) { sn++; st += $6 }
  END {
    for (k in n) printf "IO thread woken by %s: %d times, %.1f ms on the CPU, %.1f us each\n", k, n[k], t[k], 1000 * t[k] / n[k]
    printf "sending thread: %d switches, %.1f ms on the CPU\n", sn, st
  }'
