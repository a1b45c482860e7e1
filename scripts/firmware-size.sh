#!/usr/bin/env bash
# Builds the example firmware (examples/firmware, thumbv7em-none-eabihf, no heap) and reports
# its section sizes against the budget of issue 7: flash (vector table + .text + .rodata +
# .data) at most 160 KiB, static RAM (.data + .bss) at most 64 KiB. Fails if over budget.
# memory.x gives the firmware exactly these regions, so an image over budget does not link;
# the stack takes the RAM the statics leave, and scripts/qemu-test.sh measures its
# high-water mark on the emulated board (statics plus stack at most 64 KiB).
#
#   ./scripts/firmware-size.sh            # prints the table
#   ./scripts/firmware-size.sh --markdown # prints a markdown table row for BENCHMARKS.md
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/examples/firmware"

if ! rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
  rustup target add thumbv7em-none-eabihf
fi
command -v size >/dev/null || { apt-get install -y binutils >/dev/null; }

cargo build --release --locked --quiet
# Cargo writes where CARGO_TARGET_DIR says when it is set; reading a fixed target/ would then
# measure a stale image, or none at all and pass with zero bytes.
ELF="${CARGO_TARGET_DIR:-target}/thumbv7em-none-eabihf/release/kprod-example-firmware"
[[ -f "$ELF" ]] || { echo "firmware: $ELF was not built" >&2; exit 1; }

declare -A S
while read -r name bytes _; do
  [[ "$name" == .* ]] && S[$name]=$bytes
done < <(size -A "$ELF")
sec() { echo "${S[$1]:-0}"; }
((${S[.text]:-0} > 0)) || { echo "firmware: no .text section in $ELF" >&2; exit 1; }

FLASH=$(($(sec .vector_table) + $(sec .text) + $(sec .rodata) + $(sec .data)))
RAM=$(($(sec .data) + $(sec .bss)))
FLASH_BUDGET=$((160 * 1024))
RAM_BUDGET=$((64 * 1024))
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

if [[ "${1:-}" == --markdown ]]; then
  printf '| %s | %s | %s | %s | %s | %s of 160 KiB | %s of 64 KiB |\n' \
    "$(date -u +%F)" "$(sec .text)" "$(sec .rodata)" "$(sec .data)" "$(sec .bss)" "$(kib "$FLASH")" "$(kib "$RAM")"
else
  echo "firmware: $ELF"
  printf '  %-14s %8s\n' .vector_table "$(sec .vector_table)" .text "$(sec .text)" .rodata "$(sec .rodata)" \
    .data "$(sec .data)" .bss "$(sec .bss)"
  echo "  flash $(kib "$FLASH") (budget 160 KiB), static RAM $(kib "$RAM") (budget 64 KiB with the stack: $(kib $((RAM_BUDGET - RAM))) left for it)"
fi

ok=1
((FLASH <= FLASH_BUDGET)) || { echo "firmware: flash $(kib "$FLASH") is over the 160 KiB budget" >&2; ok=0; }
((RAM <= RAM_BUDGET)) || { echo "firmware: static RAM $(kib "$RAM") is over the 64 KiB budget" >&2; ok=0; }
((ok))
