#!/usr/bin/env python3
"""Checks what the QEMU firmware wrote, as read back by tests/broker/verify.py consume.

Usage: qemu-check.py --records N --partitions P --min-ts MS --max-ts MS
                     (--all | --delivered D) < consume-output.jsonl

The firmware (examples/firmware, run.rs) sends record i as key "fw-<i>", value
"seq=<i> ts=<T>", headers [("seq", "<i>"), ("board", "mps2-an386")], CreateTime T, with the
default (murmur2) partitioner. This script rebuilds each expected record from the sequence
number alone, with kafka-python's murmur2 for the partition, and checks every field:
  - each sequence number appears at most once (exactly once with --all: all N records);
  - key, value, headers and timestamp type equal the expected ones, the timestamp equals
    the T in the value and lies in [--min-ts, --max-ts] (the host clock around the run);
  - the partition is murmur2(key) % P, offsets in each partition are 0, 1, 2, ... and the
    sequence numbers rise with them (idempotence keeps the order);
  - with --delivered D (the broker was stopped for good): at least the D records the firmware
    reported delivered are there (a batch whose acknowledgement was lost may be there too).
Exit 0 when all hold; otherwise the first problems are printed and the exit status is 1.
"""

import argparse
import base64
import json
import re
import sys

from kafka.partitioner.default import murmur2


def b64(s):
    return base64.b64encode(s.encode()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--min-ts", type=int, required=True)
    ap.add_argument("--max-ts", type=int, required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--all", action="store_true")
    mode.add_argument("--delivered", type=int)
    args = ap.parse_args()

    problems = []
    seen = {}
    last = {}  # partition -> (offset, seq)
    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        count += 1
        key = base64.b64decode(r["key"]).decode() if r["key"] is not None else None
        m = re.fullmatch(r"fw-(\d+)", key or "")
        if not m:
            problems.append(f"unexpected key {key!r} at {r['partition']}/{r['offset']}")
            continue
        seq = int(m.group(1))
        where = f"record {seq} at {r['partition']}/{r['offset']}"
        if seq >= args.records:
            problems.append(f"{where}: sequence number beyond {args.records}")
        if seq in seen:
            problems.append(f"{where}: duplicate of {seen[seq]}")
        seen[seq] = f"{r['partition']}/{r['offset']}"
        ts = r["timestamp"]
        want = {
            "value": b64(f"seq={seq} ts={ts}"),
            "headers": [["seq", b64(str(seq))], ["board", b64("mps2-an386")]],
            "timestamp_type": 0,
            "partition": (murmur2(key.encode()) & 0x7FFFFFFF) % args.partitions,
        }
        for field, value in want.items():
            if r[field] != value:
                problems.append(f"{where}: {field} is {r[field]!r}, expected {value!r}")
        if not args.min_ts <= ts <= args.max_ts:
            problems.append(f"{where}: timestamp {ts} outside the run [{args.min_ts}, {args.max_ts}]")
        prev_offset, prev_seq = last.get(r["partition"], (-1, -1))
        if r["offset"] != prev_offset + 1:
            problems.append(f"{where}: offset follows {prev_offset}")
        if seq <= prev_seq:
            problems.append(f"{where}: sequence number after {prev_seq} in its partition")
        last[r["partition"]] = (r["offset"], seq)

    if args.all:
        missing = [i for i in range(args.records) if i not in seen]
        if missing:
            problems.append(f"{len(missing)} records missing, e.g. {missing[:10]}")
    elif len(seen) < args.delivered:
        problems.append(f"{len(seen)} records read back, fewer than the {args.delivered} delivered")

    if problems:
        for p in problems[:20]:
            print(f"qemu-check: {p}", file=sys.stderr)
        print(f"qemu-check: {len(problems)} problem(s) in {count} records", file=sys.stderr)
        return 1
    extra = "" if args.all else f" ({args.delivered} reported delivered)"
    print(f"qemu-check: {count} records read back{extra}, each once, every field as expected, "
          f"partitions by murmur2, offsets contiguous and in send order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
