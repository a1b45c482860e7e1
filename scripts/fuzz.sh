#!/usr/bin/env bash
# Builds the cargo-fuzz crate in fuzz/ and runs its targets, FUZZ_JOBS (2) at a time, for
# FUZZ_SECONDS (30) each. Exits non-zero if any target crashes, times out or runs out of memory,
# and prints the input that did it.
#
#   ./scripts/fuzz.sh                         # every target (about 4-5 min on 2 cores)
#   ./scripts/fuzz.sh gzip record_batch       # only these
#   FUZZ_SECONDS=600 ./scripts/fuzz.sh zstd   # longer
#
# Seeds come from fuzz/corpus/<target> (committed; rebuilt by fuzz/make_corpus.py) and are only
# read: libFuzzer writes new inputs into the first corpus directory it is given, so that is a
# scratch directory, target/fuzz/corpus/<target>, which later runs reuse. Crash inputs go to
# target/fuzz/artifacts/<target>/, logs to target/fuzz/logs/<target>.log. fuzz/README.md says
# how to reproduce, minimize and keep a crash. Each target's CPU time (user + system, from
# /usr/bin/time when present) is printed beside its runs, and the total at the end: on a shared
# machine the wall time FUZZ_SECONDS says little about how much fuzzing was done.
#
# Installs what is missing: the nightly toolchain (minimal profile) and cargo-fuzz.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_JOBS="${FUZZ_JOBS:-2}"
# Per-input limits: a slow input (seconds) or a big allocation (MiB, ASan included) fails the run.
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
FUZZ_RSS_MB="${FUZZ_RSS_MB:-2048}"

OUT="$ROOT/target/fuzz"
t_start=$SECONDS

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "install: rustup toolchain install nightly --profile minimal"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null && [[ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz" ]]; then
  echo "install: cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

echo "=== build (cargo +nightly fuzz build)"
# The binaries are looked up under fuzz/target, so a CARGO_TARGET_DIR from the caller must not
# move them.
(cd fuzz && env -u CARGO_TARGET_DIR cargo +nightly fuzz build)
t_built=$SECONDS
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
BIN="$ROOT/fuzz/target/$host/release"

mapfile -t all < <(cd fuzz && cargo +nightly fuzz list)
if (($#)); then
  targets=("$@")
  for t in "${targets[@]}"; do
    if ! printf '%s\n' "${all[@]}" | grep -qx -- "$t"; then
      echo "error: no fuzz target '$t'; targets: ${all[*]}" >&2
      exit 2
    fi
  done
else
  targets=("${all[@]}")
fi

mkdir -p "$OUT/logs"

# GNU time writes "user system" CPU seconds of one target to target/fuzz/logs/<target>.cpu; it
# exits with the target's status.
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%U %S' -o)
total_cpu=0

# Runs one target; its exit code is libFuzzer's (0: no finding).
run_target() {
  local t="$1" seeds="$ROOT/fuzz/corpus/$1"
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$seeds"
  rm -f "$OUT/logs/$t.cpu"
  ${timer[@]+"${timer[@]}" "$OUT/logs/$t.cpu"} "$BIN/$t" \
    -max_total_time="$FUZZ_SECONDS" \
    -timeout="$FUZZ_TIMEOUT" \
    -rss_limit_mb="$FUZZ_RSS_MB" \
    -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" \
    "$OUT/corpus/$t" "$seeds" >"$OUT/logs/$t.log" 2>&1
}

# Prints the outcome of target $1 that exited with $2; returns non-zero on a finding.
report() {
  local t="$1" rc="$2" log="$OUT/logs/$1.log" execs artifact cpu="?"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  if [[ -s "$OUT/logs/$t.cpu" ]]; then
    # The last line: GNU time puts "Command exited with non-zero status N" first on a failure.
    cpu="$(tail -n1 "$OUT/logs/$t.cpu" | awk '{ printf "%.1f", $1 + $2 }')"
    total_cpu="$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { printf "%.1f", a + b }')"
  fi
  if ((rc == 0)); then
    printf '  ok    %-28s %10s runs %8s s CPU\n' "$t" "${execs:-?}" "$cpu"
    return 0
  fi
  artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)"
  printf '  FAIL  %-28s exit %s (%s s CPU)\n' "$t" "$rc" "$cpu"
  echo "----- $t: end of $log"
  # The panic (location and message) or the sanitizer's report, without the backtraces.
  grep -E -A3 "panicked at|ERROR: (AddressSanitizer|libFuzzer: (timeout|out-of-memory|fuzz target exited))" "$log" \
    | grep -v -E "^(stack backtrace|==[0-9]+==|--$)" | head -n 12 || true
  if [[ -n "$artifact" && -f "$artifact" ]]; then
    echo "artifact: $artifact"
    echo "input (hex, first 512 bytes): $(head -c 512 "$artifact" | od -An -v -tx1 | tr -d ' \n')"
    echo "reproduce: $BIN/$t $artifact"
    echo "minimize:  (cd fuzz && cargo +nightly fuzz tmin $t $artifact)"
  fi
  echo "-----"
  return 1
}

echo "=== fuzz ${#targets[@]} targets, ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
declare -A pid_target=()
failed=()
next=0
finish_one() {
  local pid rc=0
  wait -n -p pid "${!pid_target[@]}" || rc=$?
  local t="${pid_target[$pid]}"
  unset "pid_target[$pid]"
  report "$t" "$rc" || failed+=("$t")
}
while ((next < ${#targets[@]})); do
  while ((${#pid_target[@]} >= FUZZ_JOBS)); do finish_one; done
  t="${targets[next]}"
  next=$((next + 1))
  run_target "$t" &
  pid_target[$!]="$t"
done
while ((${#pid_target[@]})); do finish_one; done

echo "=== fuzz: build $((t_built - t_start))s, fuzzing $((SECONDS - t_built))s (${total_cpu}s CPU), total $((SECONDS - t_start))s"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (artifacts under $OUT/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${FUZZ_SECONDS}s each without a finding"
