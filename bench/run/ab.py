#!/usr/bin/env python3
"""A/B of kprod builds on one bench scenario, the builds' order reversed every other round.

    bench/run/ab.py --scenario scale-10k-partitions [--rounds 12] [--records N] \
        before@target/kprod-before after@target/release/kprod [--prop KEY=VALUE]...

Each round runs every build once on the scenario's kprod command line (clients.py, as
scripts/bench.sh runs it), in the given order in odd rounds and reversed in even ones: a run's
place in a round biases it, and a fixed order hands that bias to one build (BENCHMARKS.md, "The
pressed hold in alternated order": the first run of each pair lost 9 of 10 rounds in one series
and won 9 of 12 in another, whichever build it was). Warm-up runs of the first build come first
(`--warm-ups`, default 1). Prints one line per run, then per build the medians of records/s,
client and broker CPU-s per million records, peak RSS and p99, and in how many rounds it had the
most records/s (at a fixed rate: the least client CPU). `--prop` settings come after the
scenario's, so they override them.

Runs on the one plaintext broker at --bootstrap (default 127.0.0.1:9092, tests/broker/kafka.sh
up), whichever site the scenario has in scripts/bench.sh: the single broker's scenarios and the
scale ones (bench.sh gives those a broker of their own, 127.0.0.1:27092 with KPROD_SCALE_PORT's
default; pass `--bootstrap 127.0.0.1:27092` to measure on that one, or start a broker for the
series: `KPROD_KAFKA_HEAP=1g tests/broker/kafka.sh up --port 27092 --controller-port 27093`), with
letter payloads (base, keyed, latency, scale). An A/B of a base scenario on a broker that holds
a scale scenario's topics sees a broker 2-3x costlier per record. Topics of `reuse_topic`
scenarios are created once (named after the scenario, so a later series reuses them); others get
a fresh topic per run.
"""
import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients as clients_mod  # noqa: E402
import peers  # noqa: E402
from broker import Broker, broker_pid, process_cpu_seconds  # noqa: E402
from measure import parse_final_line, run_measured  # noqa: E402

ROOT = peers.ROOT
# bench.sh's sites of one plaintext broker each: --bootstrap serves either.
SINGLE_BROKER_SITES = ("single", "scale")


def parse_build(text):
    label, sep, binary = text.partition("@")
    if not sep or not binary or not re.fullmatch(r"[A-Za-z0-9._-]+", label):
        raise argparse.ArgumentTypeError(f"{text!r}: want LABEL@BINARY, LABEL of letters, digits, '.', '_', '-' "
                                         "(it goes into topic names)")
    if not os.access(binary, os.X_OK):
        raise argparse.ArgumentTypeError(f"{binary}: not an executable")
    return label, os.path.abspath(binary)


def round_order(builds, rnd):
    """The builds in round rnd's order (rounds count from 1): as given in odd rounds, reversed in
    even ones."""
    return list(builds) if rnd % 2 else list(reversed(builds))


def round_best(got, fixed_rate):
    """The label of a round's best run ({label: result}): the most records/s, or at a fixed rate
    (where every build sends the same records/s) the least client CPU."""
    if fixed_rate:
        return min(got, key=lambda k: got[k]["cpu"])
    return max(got, key=lambda k: got[k]["rps"])


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("builds", nargs="+", type=parse_build, metavar="LABEL@BINARY")
    p.add_argument("--scenario", required=True, help="a scenario key of clients.py")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--warm-ups", type=int, default=1,
                   help="runs of the first build before the rounds (a fresh 10,000-partition topic takes two: "
                        "the broker creates each partition's files on its first write)")
    p.add_argument("--records", type=int,
                   help=f"records per run (default: {peers.DEFAULT_RECORDS:,} x the scenario's share, or "
                        f"{clients_mod.RATE_SECONDS} s at a fixed rate)")
    p.add_argument("--prop", action="append", default=[],
                   help="KEY=VALUE for every run, after the scenario's properties (so it overrides them)")
    p.add_argument("--bootstrap", default="127.0.0.1:9092",
                   help="a plaintext single broker, for any scenario (scale too: bench.sh's scale broker is "
                        "127.0.0.1:27092)")
    p.add_argument("--broker-work-dir", default=os.path.join(ROOT, "target", "kafka"))
    p.add_argument("--logs", default=os.path.join(ROOT, "target", "bench-ab"))
    args = p.parse_args(argv)
    if len(args.builds) < 2 or len({label for label, _ in args.builds}) != len(args.builds):
        p.error("give at least two builds with distinct labels")
    scenario = next((s for s in clients_mod.SCENARIOS if s.key == args.scenario), None)
    if scenario is None:
        p.error(f"unknown scenario {args.scenario!r}; one of: "
                + ", ".join(s.key for s in clients_mod.SCENARIOS))
    if scenario.broker not in SINGLE_BROKER_SITES or scenario.payload != "letters":
        p.error(f"{scenario.key} needs the {scenario.broker} broker or a payload file; this tool runs "
                "letter payloads on one plaintext broker")
    if any("=" not in kv for kv in args.prop):
        p.error("--prop wants KEY=VALUE")
    # The bench's own count at its defaults, for kprod (not one of its slow clients).
    bench = argparse.Namespace(records=peers.DEFAULT_RECORDS, rate_seconds=clients_mod.RATE_SECONDS)
    records = args.records or peers.record_count(bench, argparse.Namespace(slow=False), scenario)
    os.makedirs(args.logs, exist_ok=True)
    admin = Broker(args.bootstrap)
    pid = broker_pid(int(args.bootstrap.rsplit(":", 1)[1]), args.broker_work_dir)
    extra = dict(kv.split("=", 1) for kv in args.prop)
    shared = f"ab-{scenario.key}"

    if scenario.reuse_topic:
        from kafka.errors import TopicAlreadyExistsError  # kafka-python, as broker.py (not in the unit tests)
        try:
            admin.create_topics(peers.topic_names(shared, scenario), scenario.partitions, scenario.replication)
        except TopicAlreadyExistsError:
            print(f"{shared}: the topic(s) of an earlier series, reused", flush=True)

    def run(label, binary, tag):
        client = clients_mod.kprod({"kprod": binary, "root": ROOT})
        # A fresh topic per run, named after its build too: the builds of a round may start in the
        # same second, and a deleted topic's name is not free at once.
        topic = shared if scenario.reuse_topic else f"ab-{scenario.key}-{int(time.time())}-{tag}-{label}"
        if not scenario.reuse_topic:
            admin.create_topics(peers.topic_names(topic, scenario), scenario.partitions, scenario.replication)
        cmd = client.command(args.bootstrap, scenario, topic, records)
        cmd += [f"{k}={v}" for k, v in extra.items()]
        b0 = process_cpu_seconds(pid) if pid else None
        proc = run_measured(cmd, dict(os.environ), 600, os.path.join(args.logs, f"{scenario.key}-{tag}-{label}"))
        b1 = process_cpu_seconds(pid) if pid else None
        if not scenario.reuse_topic:
            admin.delete_topics(peers.topic_names(topic, scenario))
        final = parse_final_line(proc.stdout)
        if proc.exit_code != 0 or final is None:
            why = "timed out" if proc.timed_out else f"exit {proc.exit_code}"
            print(f"{tag:>8} {label:12} failed ({why}); see {args.logs}", flush=True)
            return None
        r = {"rps": final["records_per_s"], "cpu": (proc.user_s + proc.sys_s) / records * 1e6,
             "broker": None if b0 is None or b1 is None else (b1 - b0) / records * 1e6,
             "rss": proc.maxrss_kib / 1024, "p99": final["p99_ms"]}
        broker = "" if r["broker"] is None else f" broker {r['broker']:5.2f} CPU-s/M"
        print(f"{tag:>8} {label:12} {r['rps']:>11,.0f} rec/s {r['cpu']:5.2f} CPU-s/M {r['rss']:6.1f} MiB "
              f"p50 {final['p50_ms']} p99 {r['p99']} ms{broker}", flush=True)
        return r

    won = "least client CPU" if scenario.rate > 0 else "most records/s"

    print(f"{scenario.label}: {records:,} records a run, {args.rounds} rounds, broker {args.bootstrap}", flush=True)
    for i in range(args.warm_ups):
        run(*args.builds[0], f"warm-up{i + 1}" if args.warm_ups > 1 else "warm-up")
    results = {label: [] for label, _ in args.builds}
    wins = dict.fromkeys(results, 0)
    for rnd in range(1, args.rounds + 1):
        got = {label: run(label, binary, f"r{rnd}") for label, binary in round_order(args.builds, rnd)}
        for label, r in got.items():
            if r:
                results[label].append(r)
        if all(got.values()):
            wins[round_best(got, scenario.rate > 0)] += 1
    admin.close()
    print("medians:")
    for label, rs in results.items():
        if not rs:
            print(f"  {label:12} no run succeeded")
            continue

        def med(key, rs=rs):
            values = [r[key] for r in rs if r[key] is not None]
            return statistics.median(values) if values else float("nan")
        print(f"  {label:12} {med('rps'):>11,.0f} rec/s {med('cpu'):5.2f} CPU-s/M broker {med('broker'):5.2f} "
              f"CPU-s/M {med('rss'):6.1f} MiB p99 {med('p99'):.0f} ms; {won} in {wins[label]} of "
              f"{args.rounds} rounds ({len(rs)} runs ok)")


if __name__ == "__main__":
    main(sys.argv[1:])
