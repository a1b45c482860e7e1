#!/usr/bin/env python3
"""kprod at the bench's fixed rates with its default `batch.size` and larger ones, beside librdkafka's defaults.

The "defaults" scenarios of peers.py give each client its own defaults; this varies only kprod's
`batch.size` on the same command lines (acks=all, idempotent, linger.ms 5, one partition;
3,000,000 x 100 B at 200,000/s and 750,000 x 1 KiB at 50,000/s), in a fixed order, to show what the
default costs. Needs a broker (tests/broker/kafka.sh up) and the binaries bench.sh builds:

    bench/run/batch_size_rates.py --kprod-bin target/release/kprod \
        --rdkafka-bin target/release/rdkafka-perf [--rounds 2] [--sizes 65536,262144] \
        [--kprod-variant LABEL@BIN[:PROP=VALUE,...]]... [--rdkafka-sizes 16384]

`--kprod-variant` adds another kprod binary (an A/B check of a change: the binary before it),
with its own producer properties if given; `--sizes ""` leaves out the batch.size variants. Every
other round runs the variants in reverse order, so no variant always runs first. `--rdkafka-sizes`
adds librdkafka runs with those `batch.size` values (its default is 1,000,000): kprod and librdkafka
compared at the same batch size.

Prints one line per run: records/s, client CPU-s per million records, peak RSS, p50 / p99 and the
broker's CPU-s per million records (BENCHMARKS.md, "A larger default batch.size at the fixed rates").
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker import Broker, broker_pid, process_cpu_seconds  # noqa: E402
from measure import parse_final_line, run_measured  # noqa: E402

RATES = ((100, 200_000, 3_000_000), (1024, 50_000, 750_000))


def main(argv):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kprod-bin", required=True)
    p.add_argument("--rdkafka-bin", required=True)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--broker-work-dir", default=os.path.join(root, "target", "kafka"))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sizes", default="65536,262144", help="kprod batch.size values besides its default")
    p.add_argument("--kprod-variant", action="append", default=[],
                   help="LABEL@BIN[:PROP=VALUE,...]: another kprod binary to run on the same command lines")
    p.add_argument("--rdkafka-sizes", default="", help="librdkafka batch.size values besides its default")
    p.add_argument("--logs", default=os.path.join(root, "target", "batch-size-rates"))
    args = p.parse_args(argv)
    os.makedirs(args.logs, exist_ok=True)
    admin = Broker(args.bootstrap)
    pid = broker_pid(int(args.bootstrap.rsplit(":", 1)[1]), args.broker_work_dir)
    # (label, extra producer properties, binary, whether it is kprod)
    variants = [("kprod default", [], args.kprod_bin, True)]
    variants += [(f"kprod batch.size={s}", [f"batch.size={s}"], args.kprod_bin, True)
                 for s in args.sizes.split(",") if s]
    for v in args.kprod_variant:
        label, _, rest = v.partition("@")
        binary, _, props = rest.partition(":")
        variants.append((label, [x for x in props.split(",") if x], binary, True))
    variants.append(("librdkafka default", [], args.rdkafka_bin, False))
    variants += [(f"librdkafka batch.size={s}", [f"batch.size={s}"], args.rdkafka_bin, False)
                 for s in args.rdkafka_sizes.split(",") if s]
    for rnd in range(1, args.rounds + 1):
        for rec, rate, n in RATES:
            # Every other round in reverse order: the first run after the other scenario's runs
            # is at a disadvantage (in a fixed order it lost 9 of 10 rounds whichever binary it
            # was: BENCHMARKS.md, "The pressed hold in alternated order").
            order = list(enumerate(variants))
            for i, (label, extra, binary, is_kprod) in order if rnd % 2 else reversed(order):
                topic = f"batch-size-rates-{int(time.time())}-{rnd}-{rec}-{i}"
                admin.create_topics([topic], 1)
                props = [f"bootstrap.servers={args.bootstrap}", "acks=all", "enable.idempotence=true", "linger.ms=5"]
                # rdkafka-perf always draws fresh payloads.
                argv = [binary, "perf", "--fresh-payload"] if is_kprod else [binary]
                props += extra
                argv += ["--topic", topic, "--num-records", str(n), "--record-size", str(rec),
                         "--throughput", str(rate), "--producer-props", *props]
                b0 = process_cpu_seconds(pid) if pid else None
                proc = run_measured(argv, dict(os.environ), 120, os.path.join(args.logs, topic))
                b1 = process_cpu_seconds(pid) if pid else None
                f = parse_final_line(proc.stdout) or {}
                broker = "" if b0 is None or b1 is None else f" broker {(b1 - b0) / n * 1e6:5.2f} CPU-s/M"
                print(f"r{rnd} {rec:5d} B @{rate:,}/s {label:26} {f.get('records_per_s', 0):>9,.0f} rec/s "
                      f"{(proc.user_s + proc.sys_s) / n * 1e6:5.2f} CPU-s/M {proc.maxrss_kib / 1024:6.1f} MiB "
                      f"p50 {f.get('p50_ms')} p99 {f.get('p99_ms')} ms{broker}", flush=True)
                admin.delete_topics([topic])
                time.sleep(2)
    admin.close()


if __name__ == "__main__":
    main(sys.argv[1:])
