#!/usr/bin/env python3
"""Benchmark kprod against other Kafka producers on local brokers: scripts/bench.sh runs this.

Every client runs every selected scenario (clients.SCENARIOS: 100 B / 1 KiB records x acks=1 /
acks=all, keyed records over 12 partitions, fixed-rate latency, gzip/lz4/zstd, a 3-broker
cluster, 10,000 partitions and 1,000 topics, SASL_SSL, transactions) on fresh topics, in a
shuffled order, for --reps repetitions; the medians go to bench/results/peers.json,
bench/results/peers.svg and the peers section of BENCHMARKS.md.
Broker sites: --bootstrap (single), --scale-bootstrap (the scale scenarios' own broker),
--cluster-bootstrap, --secure-*; a scenario whose site is not given is skipped. Before the
matrix, each site the scenarios use gets two unmeasured warm-up runs (--warm-up-seconds).
CPU and peak RSS of each client come from wait4 (see measure.py); records/s and latency from
its ProducerPerformance final line; after each run the broker's end offset must equal the
record count (see broker.py). Needs kafka-python: run it with the venv of tests/broker/kafka.sh.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clients as clients_mod  # noqa: E402
import report  # noqa: E402
from broker import Broker, broker_pid, process_cpu_seconds  # noqa: E402
from measure import parse_final_line, run_measured  # noqa: E402
from payload import PAYLOAD_LINES, write_payload_file  # noqa: E402,F401 - test_runner uses peers.write_payload_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_RECORDS = 2_000_000
QUICK_RECORDS = 40_000
# The unmeasured warm-up runs of each broker site before the matrix (see warm_up_plan): record
# size, acks, records/s; each runs WARM_UP_SECONDS (--warm-up-seconds).
WARM_UP_PHASES = ((1024, "all", 100_000), (100, "1", 400_000))
WARM_UP_SECONDS = 8
# A slow client (kafka-python, ~10-50x slower) sends this share of a scenario's records (100 B,
# 1 KiB): its runs stay near 10-15 s in a full run.
SLOW_SHARE = {100: 1 / 5, 1024: 1 / 4}
METRICS = ["records_per_s", "mib_per_s", "cpu_s_per_m", "maxrss_mib", "p50_ms", "p99_ms", "avg_latency_ms",
           "broker_cpu_s_per_m", "wall_s", "cpu_s"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_RECORDS} records, 1 repetition, results under target/ "
                        "(BENCHMARKS.md untouched)")
    p.add_argument("--clients", default=",".join(clients_mod.ALL),
                   help="comma-separated subset of: " + ", ".join(clients_mod.ALL))
    p.add_argument("--scenarios", default="all",
                   help="comma-separated scenario keys or groups (" + ", ".join(clients_mod.GROUPS) + "), or all")
    p.add_argument("--rate-seconds", type=float,
                   help=f"length of a fixed-rate run (default {clients_mod.RATE_SECONDS} s; --quick "
                        f"{clients_mod.QUICK_RATE_SECONDS} s)")
    p.add_argument("--scale-bootstrap",
                   help="the scale scenarios' own single broker (10,000 partitions, 1,000 topics), apart from "
                        "--bootstrap so that their topics do not slow the other scenarios' broker")
    p.add_argument("--cluster-bootstrap", help="the 3-node cluster (cluster scenarios)")
    p.add_argument("--secure-bootstrap", help="the secured broker's SASL_SSL listener (sasl scenarios)")
    p.add_argument("--secure-admin", help="the secured broker's PLAINTEXT listener (topics, offsets)")
    p.add_argument("--secure-ca", help="the test CA (PEM) the secured broker's certificate chains to")
    p.add_argument("--records", type=int,
                   help=f"100-byte records per run of a fast client (default {DEFAULT_RECORDS}); 1 KiB runs "
                        "take a quarter, the scale scenarios' runs a half; kafka-python a fifth of that at 100 B and a "
                        "quarter at 1 KiB")
    p.add_argument("--reps", type=int, help="repetitions of the matrix; medians are reported (default 2)")
    p.add_argument("--rate-reps", type=int,
                   help="repetitions of the fixed-rate (latency) scenarios, at least --reps: the rounds past --reps "
                        "run those scenarios alone, shuffled. Their CPU goal turns on a few tenths of a CPU-second "
                        "per million records, which one run on a loaded machine moves by a quarter (default 4; "
                        "--quick: --reps)")
    p.add_argument("--seed", type=int, default=None, help="seed of the run order (default: time)")
    p.add_argument("--bootstrap", default="127.0.0.1:9092",
                   help="the single broker (every scenario but the scale, cluster and sasl ones; start-up runs)")
    p.add_argument("--warm-up-seconds", type=float, default=WARM_UP_SECONDS,
                   help="length of each of the two unmeasured warm-up runs on each broker site before the matrix "
                        "(1 KiB acks=all at 100,000/s, then 100 B acks=1 at 400,000/s; a slow client sends a "
                        f"quarter and a fifth), so that no measured run meets a cold broker JVM (default "
                        f"{WARM_UP_SECONDS} s, also with --quick; 0: none)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before a client run is killed")
    p.add_argument("--pause", type=float, default=2.0, help="seconds of rest between runs")
    p.add_argument("--results", help="directory for peers.json and peers.svg "
                                     "(default bench/results; target/bench-quick with --quick)")
    p.add_argument("--benchmarks-md", help="file whose peers section is rewritten "
                                           "(default BENCHMARKS.md; none with --quick)")
    p.add_argument("--logs", default=os.path.join(ROOT, "target", "bench-peers", "logs"))
    for name in ("kprod", "rdkafka", "franz-go", "confluent"):
        p.add_argument(f"--{name}-bin", required=True, help=f"{name} benchmark binary")
    p.add_argument("--java-libs", required=True, help="directory of the Kafka jars")
    p.add_argument("--java-classes", default="", help="directory of KeyedPerf.class")
    p.add_argument("--python", default=sys.executable, help="python with kafka-python, for kafka-python")
    p.add_argument("--kafka-work", default=os.path.join(ROOT, "target", "kafka"),
                   help="kafka.sh work dir (to find the broker's pid for its CPU)")
    a = p.parse_args(argv)
    a.clients = [c.strip() for c in a.clients.split(",") if c.strip()]
    unknown = [c for c in a.clients if c not in clients_mod.ALL]
    if unknown or not a.clients:
        p.error(f"unknown client(s) {unknown}; choose from {', '.join(clients_mod.ALL)}")
    try:
        a.scenarios = clients_mod.select(a.scenarios)
    except ValueError as e:
        p.error(str(e))
    a.rate_seconds = a.rate_seconds or (clients_mod.QUICK_RATE_SECONDS if a.quick else clients_mod.RATE_SECONDS)
    a.records = a.records or (QUICK_RECORDS if a.quick else DEFAULT_RECORDS)
    a.reps = a.reps or (1 if a.quick else 2)
    a.rate_reps = max(a.rate_reps or (a.reps if a.quick else 4), a.reps)
    if a.records < 16 or a.reps < 1 or a.warm_up_seconds < 0:
        p.error("--records must be at least 16, --reps at least 1 and --warm-up-seconds at least 0")
    if a.results is None:
        a.results = os.path.join(ROOT, "target", "bench-quick") if a.quick else os.path.join(ROOT, "bench", "results")
    if a.benchmarks_md is None and not a.quick:
        a.benchmarks_md = os.path.join(ROOT, "BENCHMARKS.md")
    a.seed = a.seed if a.seed is not None else int(time.time())
    return a


def shown(argv):
    """argv as a shell command relative to the repository root (where scripts/bench.sh runs)."""
    return shlex.join(arg.replace(ROOT + os.sep, "") for arg in argv)


def record_count(args, client, scenario):
    """Records of one run: a share of --records, or rate x --rate-seconds at a fixed rate."""
    n = scenario.rate * args.rate_seconds if scenario.rate > 0 else args.records * scenario.records
    if client.slow:
        n *= SLOW_SHARE[scenario.record_size]
    return max(1, int(n))


def topic_names(topic, scenario):
    """The topics a run writes: TOPIC, or TOPIC-0 .. TOPIC-(M-1)."""
    return [f"{topic}-{j}" for j in range(scenario.topics)] if scenario.topics > 1 else [topic]


def meminfo(field):
    """A /proc/meminfo field in KiB, or None."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = meminfo("MemTotal") or 0
    return {"cpu": model, "nproc": os.cpu_count(), "ram_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def client_env():
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"  # Java's printf follows the locale; keep '.' as decimal point
    return env


class Site:
    """One broker setup the scenarios run on: the clients' bootstrap, an admin side channel
    (kafka-python), and the broker JVMs whose CPU is counted."""

    def __init__(self, name, bootstrap, admin_bootstrap, pids):
        self.name = name
        self.bootstrap = bootstrap
        self.admin = Broker(admin_bootstrap)
        self.pids = [p for p in pids if p is not None]
        self.ready = {}  # reused topic sets: scenario key -> topic

    def cpu_seconds(self):
        values = [process_cpu_seconds(p) for p in self.pids]
        return None if not values or None in values else sum(values)


def prepare_topics(site, scenario, topic, topics):
    """Create the run's topics (a reused set once); returns the end offsets before the run."""
    if scenario.reuse_topic:
        if scenario.key not in site.ready:
            site.admin.create_topics(topics, scenario.partitions, scenario.replication)
            site.ready[scenario.key] = topic
        return site.admin.end_offsets_many(topics, scenario.partitions)
    site.admin.create_topics(topics, scenario.partitions, scenario.replication)
    return 0


def memory_stall_us():
    """Microseconds all tasks stalled on memory since boot (PSI "full" total), or None without PSI.

    A page cache filling the RAM made every client 2-3x slower on the test machine once, with the
    load average unchanged; a run's share of stalled time flags such runs."""
    try:
        with open("/proc/pressure/memory") as f:
            for line in f:
                if line.startswith("full "):
                    return int(line.split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None
    return None


def drop_page_cache(below=None):
    """As root: writes back dirty pages and drops the page cache (`sync; echo 3 >
    /proc/sys/vm/drop_caches`), so the clients do not wait on the kernel reclaiming it; with
    `below` (a fraction), only when less than that share of the RAM is free. Returns the GiB then
    free, or None when nothing was dropped (not root, enough free, or the kernel refused). The
    brokers' logs fill the page cache within minutes (16 of 24 GiB 10 minutes after a drop), and
    a page cache filling the RAM stalled every task 7-18% of the time in runs of 2026-12-05/06
    (the 10,000-partition and 1,000-topic runs most), whichever client ran."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    total, free = meminfo("MemTotal"), meminfo("MemFree")
    if below is not None and (total is None or free is None or free >= below * total):
        return None
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return None
    free = meminfo("MemFree")
    return None if free is None else free / (1 << 20)


def run_one(args, site, env, client, scenario, rep, index, run_id, n=None):
    """One client on one scenario: returns the run's record (status, metrics, command). n: records
    (default: record_count)."""
    n = n or record_count(args, client, scenario)
    if scenario.reuse_topic:
        topic = f"kprod-bench-{run_id}-{scenario.key}"
    else:
        topic = f"kprod-bench-{run_id}-{index:03d}-{client.name}-{scenario.key}".replace("_", "-")
    topics = topic_names(topic, scenario)
    argv = client.command(site.bootstrap, scenario, topic, n, env)
    result = {"client": client.name, "scenario": scenario.key, "rep": rep, "records": n, "topic": topic,
              "command": shown(argv), "status": "failed", "problems": []}
    try:
        before = prepare_topics(site, scenario, topic, topics)
    except Exception as e:  # noqa: BLE001 - this run fails, the others go on
        result["problems"].append(f"could not create the topic(s): {e!r}")
        return result
    load_before = os.getloadavg()[0]
    b0 = site.cpu_seconds()
    m0 = memory_stall_us()
    log = os.path.join(args.logs, f"{topic}-{index:03d}-{client.name}" if scenario.reuse_topic else topic)
    proc = run_measured(argv, client_env(), args.timeout, log)
    b1 = site.cpu_seconds()
    m1 = memory_stall_us()
    final = parse_final_line(proc.stdout)
    try:
        stored = site.admin.end_offsets_many(topics, scenario.partitions) - before
    except Exception as e:  # noqa: BLE001 - recorded as a problem of this run
        stored = None
        result["problems"].append(f"end offsets: {e!r}")
    if not scenario.reuse_topic:
        try:
            site.admin.delete_topics(topics)
        except Exception as e:  # noqa: BLE001 - a leftover topic only costs disk
            print(f"  (could not delete {topic}: {e!r})", flush=True)
    cpu = proc.user_s + proc.sys_s
    result.update({
        "exit_code": proc.exit_code, "timed_out": proc.timed_out, "wall_s": proc.wall_s,
        "user_s": proc.user_s, "sys_s": proc.sys_s, "cpu_s": cpu, "maxrss_kib": proc.maxrss_kib,
        "maxrss_mib": proc.maxrss_kib / 1024, "cpu_s_per_m": cpu / n * 1e6, "stored_records": stored,
        "broker_cpu_s_per_m": None if b0 is None or b1 is None else (b1 - b0) / n * 1e6,
        "load_before": load_before, "final_line": final,
        "memory_stall_pct": None if m0 is None or m1 is None or proc.wall_s <= 0
        else round((m1 - m0) / 1e4 / proc.wall_s, 1),
    })
    client.learn_version(proc.stdout)
    if final:
        result.update({k: final[k] for k in ("records_per_s", "mib_per_s", "avg_latency_ms", "p50_ms", "p95_ms",
                                             "p99_ms", "p999_ms", "max_latency_ms")})
    check_run(result, proc, final, stored, n, args.timeout, scenario)
    if result["problems"]:
        result["stderr_tail"] = "\n".join(proc.stderr.strip().splitlines()[-5:])
    return result


def check_run(result, proc, final, stored, n, timeout, scenario):
    """The run's problems (it is left out of the medians) and warnings; sets its status."""
    if proc.timed_out:
        result["problems"].append(f"killed after {timeout:.0f} s")
    if proc.exit_code != 0:
        result["problems"].append(f"exit code {proc.exit_code}")
    if final is None:
        result["problems"].append("no ProducerPerformance final line on stdout")
    elif final["count"] != n:
        result["problems"].append(f"reported {final['count']} of {n} records sent")
    # Transactions add one commit marker per partition and transaction to the log.
    if stored is not None and stored < n:
        result["problems"].append(f"broker holds {stored} of {n} records")
    if stored is not None and stored > n and not scenario.txn_ms:
        result.setdefault("warnings", []).append(f"broker holds {stored} records for {n} sent (duplicates)")
    if final is not None and scenario.rate > 0 and final["records_per_s"] < 0.95 * scenario.rate:
        result.setdefault("warnings", []).append(
            f"did not sustain {scenario.rate:,.0f} records/s (reached {final['records_per_s']:,.0f})")
        result["below_rate"] = True
    result["status"] = "failed" if result["problems"] else "ok"


def startup_cost(args, site, client, run_id):
    """The client's fixed cost: one 100-byte record with acks=1 (process start, connect, close)."""
    scenario = clients_mod.SCENARIOS[0]
    topic = f"kprod-bench-{run_id}-startup-{client.name}"
    argv = client.command(site.bootstrap, scenario, topic, 1)
    try:
        site.admin.create_topic(topic, 1)
    except Exception as e:  # noqa: BLE001 - the start-up figure is only informative
        print(f"start-up run of {client.label}: could not create the topic: {e!r}", flush=True)
        return {"client": client.name, "ok": False, "cpu_s": 0.0, "wall_s": 0.0, "maxrss_mib": 0.0, "exit_code": None}
    proc = run_measured(argv, client_env(), args.timeout, os.path.join(args.logs, topic))
    try:
        site.admin.delete_topic(topic)
    except Exception:  # noqa: BLE001 - a leftover topic only costs disk
        pass
    ok = proc.exit_code == 0 and parse_final_line(proc.stdout) is not None
    client.learn_version(proc.stdout)
    return {"client": client.name, "ok": ok, "cpu_s": proc.user_s + proc.sys_s, "wall_s": proc.wall_s,
            "maxrss_mib": proc.maxrss_kib / 1024, "exit_code": proc.exit_code}


def summarize(runs, clients, scenarios):
    """Median of every metric over the successful repetitions of each (scenario, client)."""
    summary = {}
    for s in scenarios:
        summary[s.key] = {}
        for c in clients:
            mine = [r for r in runs if r["scenario"] == s.key and r["client"] == c.name]
            good = [r for r in mine if r["status"] == "ok"]
            entry = {"runs": len(mine), "ok_runs": len(good)}
            if not c.available or s.key in c.unsupported:
                entry["status"] = "skipped"
                entry["note"] = c.note if not c.available else c.unsupported[s.key]
            elif not good:
                entry["status"] = "failed"
                entry["note"] = "; ".join(sorted({p for r in mine for p in r["problems"]})) or "not run"
            else:
                entry["status"] = "ok"
                for m in METRICS:
                    values = [r[m] for r in good if r.get(m) is not None]
                    entry[m] = statistics.median(values) if values else None
                entry["records"] = good[0]["records"]
                entry["below_rate"] = any(r.get("below_rate") for r in good)
                warnings = sorted({w for r in good for w in r.get("warnings", [])})
                if warnings:
                    entry["note"] = "; ".join(warnings)
            summary[s.key][c.name] = entry
    return summary


# The peers whose p99 at a fixed rate sets the bar (issue 15: a rate all three sustain).
LATENCY_PEERS = ("java", "rdkafka", "franz-go", "confluent")


def goals(summary, scenarios=None):
    """kprod against the issues' goals, per scenario (reported, not asserted).

    Full-speed scenarios: records/s against the best peer's. Fixed-rate scenarios: p99 against
    the best p99 of the peers that sustained the rate (a p99 under 1 ms counts as 1 ms: the
    tools print whole milliseconds). Every scenario: CPU per record against librdkafka's and
    Java's, peak RSS against librdkafka's.
    """
    rated = {s.key for s in (scenarios or clients_mod.SCENARIOS) if s.rate > 0}
    out = {}
    for key, row in summary.items():
        k = row.get("kprod", {})
        g = {}
        if k.get("status") == "ok":
            ok_peers = {name: v for name, v in row.items() if name != "kprod" and v.get("status") == "ok"}
            if key in rated:
                p99s = [v["p99_ms"] for name, v in ok_peers.items()
                        if name in LATENCY_PEERS and not v.get("below_rate") and v.get("p99_ms") is not None]
                if p99s:
                    g["p99_vs_best_peer"] = max(k["p99_ms"], 1) / max(min(p99s), 1)
            elif ok_peers:
                g["throughput_vs_best_peer"] = k["records_per_s"] / max(v["records_per_s"] for v in ok_peers.values())
            for peer, field in (("rdkafka", "cpu_vs_librdkafka"), ("java", "cpu_vs_java")):
                if row.get(peer, {}).get("status") == "ok" and row[peer]["cpu_s_per_m"]:
                    g[field] = k["cpu_s_per_m"] / row[peer]["cpu_s_per_m"]
            if row.get("rdkafka", {}).get("status") == "ok" and row["rdkafka"]["maxrss_mib"]:
                g["rss_vs_librdkafka"] = k["maxrss_mib"] / row["rdkafka"]["maxrss_mib"]
        out[key] = g
    return out


def usable_scenarios(args):
    """The selected scenarios whose broker was given; and why the others are skipped."""
    have = {"single": args.bootstrap, "scale": args.scale_bootstrap, "cluster": args.cluster_bootstrap,
            "secure": args.secure_bootstrap and args.secure_admin and args.secure_ca}
    keep = [s for s in args.scenarios if have[s.broker]]
    skipped = [f"{s.key}: no {s.broker} broker given (--{s.broker}-bootstrap)" for s in args.scenarios
               if not have[s.broker]]
    return keep, skipped


def open_sites(args, scenarios):
    """An admin connection and the broker pids for each broker setup the scenarios use."""
    sites = {}
    kinds = {s.broker for s in scenarios} | {"single"}
    if "single" in kinds:
        port = args.bootstrap.rsplit(":", 1)[-1]
        sites["single"] = Site("single", args.bootstrap, args.bootstrap, [broker_pid(port, args.kafka_work)])
    if "scale" in kinds:
        port = args.scale_bootstrap.rsplit(":", 1)[-1]
        sites["scale"] = Site("scale", args.scale_bootstrap, args.scale_bootstrap, [broker_pid(port, args.kafka_work)])
    if "cluster" in kinds:
        ports = [b.rsplit(":", 1)[-1] for b in args.cluster_bootstrap.split(",")]
        sites["cluster"] = Site("cluster", args.cluster_bootstrap, args.cluster_bootstrap,
                                [broker_pid(p, args.kafka_work) for p in ports])
    if "secure" in kinds:
        port = args.secure_admin.rsplit(":", 1)[-1]
        sites["secure"] = Site("secure", args.secure_bootstrap, args.secure_admin,
                               [broker_pid(port, args.kafka_work)])
    return sites


def make_plan(scenarios, clients, reps, seed, rate_reps=0):
    """(rep, scenario, client) cells, shuffled within each repetition; a client's unsupported
    scenarios are left out (they show as skipped, with the reason). The fixed-rate scenarios
    (a `rate`) repeat `rate_reps` times if that is more: the rounds past `reps` hold only
    them."""
    plan = []
    rng = random.Random(seed)
    for rep in range(1, max(reps, rate_reps) + 1):
        cells = [(s, c) for s in scenarios for c in clients
                 if s.key not in c.unsupported and (rep <= reps or s.rate > 0)]
        rng.shuffle(cells)
        plan += [(rep, s, c) for s, c in cells]
    return plan


def warm_ups(plan):
    """Positions in the plan (from 0) of each reused topic set's first run, which an unmeasured
    run of the same client and scenario precedes: the first writer into 1,000 new topics ran at
    a tenth of the rate of the runs after it, whichever client it was (41,955 records/s for
    franz-go first, 505,709 for kprod right after; 41,160 for kprod first, 157,878 for
    librdkafka after: BENCHMARKS.md, issue 15), and one record per partition beforehand did not
    change that."""
    first = {}
    for i, (_, s, _) in enumerate(plan):
        if s.reuse_topic:
            first.setdefault(s.key, i)
    return set(first.values())


def warm_up_plan(scenarios, clients, seconds):
    """[(site, client, scenario, records)]: the unmeasured warm-up runs of each broker site the
    scenarios use, sites in the order they first appear, before the matrix. A freshly started
    broker JVM is slow until its JIT has compiled the produce path, and partly anew per record
    size and acks (kprod's 1 KiB runs at positions 5 and 12 of a series ran ~120k records/s,
    ~600k in its second repetition; Java's likewise). Measured on a fresh broker (2 cores, kprod,
    the broker's CPU per million records, second by second; 2026-12-06): 1 KiB acks=all at
    100,000/s cost 10.8-12.9 CPU-s/M in its first second, ~3 after 5-7 s, ~1.7-2 once warm;
    100 B acks=all at 400,000/s 2.85 in its first second, ~0.6-0.9 after 8 s, ~0.35 once warm; a
    1 KiB run after 20 s of 100 B still began at 6.8-8.3, a 100 B run after 20 s of 1 KiB at 1.2.
    After 8 s of each of WARM_UP_PHASES (1 KiB acks=all, then 100 B acks=1), a 100 B acks=all
    run's first two seconds cost 0.72 and 1.35 (then 0.35-0.5) and a 1 KiB acks=1 run's 2.6 (then
    1.6-2.2): most of the cold cost is gone. Fixed rates, so that the runs last `seconds`
    whichever client and do not flood the disk with dirty pages (100 and 40 MB/s; at full speed
    1 KiB runs slowed 3x once a few GB were written, the writeback throttling the broker).

    The client: the first given client that is not slow and runs one of the site's scenarios
    (kprod by default), else a slow one with its share of the records. The scenario: the site's
    first (its security, partitions and replication), on a fresh topic (one partition where that
    scenario shares a topic set: 10,000 partitions and 1,000 topics are the scale scenarios' own
    business, warmed by warm_ups), with the phase's record size, acks and rate."""
    plan = []
    if seconds <= 0:
        return plan
    by_speed = [c for c in clients if not c.slow] + [c for c in clients if c.slow]
    for site in dict.fromkeys(s.broker for s in scenarios):
        mine = [s for s in scenarios if s.broker == site]
        pick = next(((c, s) for c in by_speed for s in mine if s.key not in c.unsupported), None)
        if pick is None:
            continue
        c, s = pick
        for size, acks, rate in WARM_UP_PHASES:
            name = f"{'1KiB' if size == 1024 else f'{size}B'}-acks{acks}"
            warm = dataclasses.replace(s, key=f"warm-up-{site}-{name}", label=f"warm-up {name}", group="warm-up",
                                       record_size=size, acks=acks, partitions=1 if s.reuse_topic else s.partitions,
                                       topics=1, keys=0, rate=rate, compression="none", payload="letters",
                                       defaults=False, txn_ms=0, records=1.0, reuse_topic=False)
            n = rate * seconds * (SLOW_SHARE[size] if c.slow else 1)
            plan.append((site, c, warm, max(1, int(n))))
    return plan


def memory_note(r):
    """A note on the progress line when the run spent 1% or more of its time stalled on memory."""
    stall = r.get("memory_stall_pct")
    return f" memory stalls {stall:.0f}% of the run: figures suspect" if stall and stall >= 1 else ""


def print_run(i, total, r, client, scenario):
    if r["status"] == "ok":
        print(f"[{i}/{total}] r{r['rep']} {scenario.label:16} {client.label:22} {r['records_per_s']:>12,.0f} rec/s "
              f"{r['cpu_s_per_m']:6.2f} CPU-s/M {r['maxrss_mib']:7.1f} MiB p99 {r['p99_ms']:5d} ms "
              f"({r['wall_s']:.1f} s){memory_note(r)}", flush=True)
    else:
        print(f"[{i}/{total}] r{r['rep']} {scenario.label:16} {client.label:22} FAILED: {'; '.join(r['problems'])}",
              flush=True)
        if r.get("stderr_tail"):
            print("    " + r["stderr_tail"].replace("\n", "\n    "), flush=True)


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.logs, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    log4j = os.path.join(args.logs, "log4j2-perf.properties")
    with open(log4j, "w", encoding="utf-8") as f:
        f.write("rootLogger.level = WARN\nrootLogger.appenderRef.err.ref = STDERR\nappender.err.type = Console\n"
                "appender.err.name = STDERR\nappender.err.target = SYSTEM_ERR\nappender.err.layout.type = "
                "PatternLayout\nappender.err.layout.pattern = [%d] %p %m (%c)%n\n")
    paths = {"root": ROOT, "kprod": args.kprod_bin, "rdkafka": args.rdkafka_bin, "franz-go": args.franz_go_bin,
             "confluent": args.confluent_bin, "java_libs": args.java_libs, "java_classes": args.java_classes,
             "python": args.python, "log4j": log4j}
    clients = [clients_mod.ALL[name](paths) for name in args.clients]
    for c in clients:
        if not c.available:
            print(f"skipping {c.label}: {c.note}", flush=True)
    runnable = [c for c in clients if c.available]
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    run_id = started.strftime("%Y%m%d%H%M%S")
    scenarios, skipped = usable_scenarios(args)
    for why in skipped:
        print(f"skipping {why}", flush=True)
    sites = open_sites(args, scenarios)
    env = {"ca": args.secure_ca or "", "dir": args.logs}
    if any(s.payload == "text" for s in scenarios):
        env["payload"] = os.path.join(args.logs, "payload-1KiB.txt")
        ratio = write_payload_file(env["payload"])
        print(f"text payloads: {env['payload']} ({PAYLOAD_LINES} lines of 1 KiB; gzip -6 of 16 lines: "
              f"{ratio:.1f}x)", flush=True)
        env["payload_gzip_ratio"] = ratio
    plan = make_plan(scenarios, runnable, args.reps, args.seed, args.rate_reps)
    print(f"{len(runnable)} client(s), {len(scenarios)} scenarios, {args.reps} repetition(s) "
          f"(fixed rates: {args.rate_reps}): {len(plan)} runs; "
          f"order seed {args.seed}; broker pids {', '.join(f'{k} {v.pids}' for k, v in sites.items())}; "
          f"logs in {args.logs}", flush=True)
    load_start = os.getloadavg()
    if load_start[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: 1-minute load average {load_start[0]:.2f} on {os.cpu_count()} cores: other work is "
              "running, the figures will be noisy", flush=True)
    free = drop_page_cache()
    if free is not None:
        print(f"bench.sh: dropped the page cache (root): {free:.1f} GiB free", flush=True)
    s0 = memory_stall_us()
    time.sleep(1)
    s1 = memory_stall_us()
    if s0 is not None and s1 is not None and s1 - s0 >= 10_000:
        print(f"warning: tasks stalled on memory {(s1 - s0) / 1e4:.0f}% of the last second (/proc/pressure/memory): "
              "the page cache may be crowding out the clients; as root, `sync; echo 3 > "
              "/proc/sys/vm/drop_caches` clears it", flush=True)
    startup = []
    first = next(iter(sites.values()))
    for c in runnable:  # also warms the page cache for each client's binary / jars
        startup.append(startup_cost(args, first, c, run_id))
        time.sleep(args.pause / 2)
    runs = []
    drops = 0
    broker_warm_up = {}
    try:
        # Unmeasured: their figures go to peers.json's "broker_warm_up" only.
        for site, c, s, n in warm_up_plan(scenarios, runnable, args.warm_up_seconds):
            drop_page_cache(below=0.25)  # not counted in page_cache_drops: that counts measured runs
            w = run_one(args, sites[site], env, c, s, 0, 0, run_id, n)
            broker_warm_up.setdefault(site, []).append({
                "client": c.name, "records": n, "record_size": s.record_size, "acks": s.acks, "rate": s.rate,
                "partitions": s.partitions, "records_per_s": w.get("records_per_s"), "wall_s": w.get("wall_s"),
                "broker_cpu_s_per_m": w.get("broker_cpu_s_per_m"), "status": w["status"],
                "problems": w["problems"]})
            broker = w.get("broker_cpu_s_per_m")
            print(f"bench.sh: warm-up of the {site} broker ({sites[site].bootstrap}), unmeasured: {c.label}, "
                  f"{n:,} x {s.record_size} B acks={s.acks} at {s.rate:,.0f}/s on a scratch topic: "
                  f"{w.get('records_per_s') or 0:,.0f} rec/s ({w.get('wall_s') or 0:.1f} s"
                  f"{'' if broker is None else f', broker {broker:.2f} CPU-s/M'}, {w['status']}"
                  f"{': ' + '; '.join(w['problems']) if w['problems'] else ''})", flush=True)
            time.sleep(args.pause)
        warm_up = warm_ups(plan)
        for i, (rep, s, c) in enumerate(plan, 1):
            # Before every run, not only the first: see drop_page_cache.
            drops += drop_page_cache(below=0.25) is not None
            if i - 1 in warm_up:
                w = run_one(args, sites[s.broker], env, c, s, 0, 0, run_id)
                print(f"bench.sh: {s.label}: unmeasured warm-up run by {c.label} on the new topic set: "
                      f"{w.get('records_per_s') or 0:,.0f} rec/s ({w.get('wall_s') or 0:.1f} s, {w['status']})",
                      flush=True)
            r = run_one(args, sites[s.broker], env, c, s, rep, i, run_id)
            runs.append(r)
            print_run(i, len(plan), r, c, s)
            time.sleep(args.pause)
    finally:
        for site in sites.values():
            try:
                left = site.admin.delete_topics_with_prefix(f"kprod-bench-{run_id}-")
                if left:
                    print(f"deleted {len(left)} leftover topic(s) of this run on {site.name}", flush=True)
            except Exception as e:  # noqa: BLE001 - leftover topics only cost disk
                print(f"could not delete leftover topics on {site.name}: {e!r}", flush=True)
            site.admin.close()
    summary = summarize(runs, clients, scenarios)
    data = {
        "schema": 1,
        "started_utc": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "page_cache_drops": drops,
        "quick": args.quick,
        "reps": args.reps,
        "rate_reps": args.rate_reps,
        "seed": args.seed,
        "bootstrap": args.bootstrap,
        "bootstraps": {k: v.bootstrap for k, v in sites.items()},
        "broker_warm_up": broker_warm_up,
        "scenarios_skipped": skipped,
        "rate_seconds": args.rate_seconds,
        "payload_gzip_ratio": env.get("payload_gzip_ratio"),
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "broker_pid_found": all(v.pids for v in sites.values()),
        "settings": {"linger.ms": clients_mod.LINGER_MS, "batch.size": clients_mod.BATCH_SIZE,
                     "max.in.flight.requests.per.connection": clients_mod.MAX_IN_FLIGHT,
                     "buffer_bytes": clients_mod.BUFFER_BYTES},
        "scenarios": [vars(s) | {"idempotent": s.idempotent} for s in scenarios],
        "clients": [{"name": c.name, "label": c.label, "slow": c.slow, "available": c.available, "note": c.note,
                     "version": c.full_version, "settings_note": c.settings_note,
                     "records": {s.key: record_count(args, c, s) for s in scenarios},
                     "skipped": {s.key: c.unsupported[s.key] for s in scenarios if s.key in c.unsupported},
                     "commands": {s.key: shown(c.command(sites[s.broker].bootstrap, s, "TOPIC",
                                                         record_count(args, c, s), env))
                                  for s in scenarios if s.key not in c.unsupported}} for c in clients],
        "startup": startup,
        "runs": runs,
        "summary": summary,
        "goals": goals(summary, scenarios),
    }
    json_path = os.path.join(args.results, "peers.json")
    svg_path = os.path.join(args.results, "peers.svg")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(svg_path, "w", encoding="utf-8") as f:
        f.write(report.render_svg(data))
    section = report.render_markdown(data, os.path.relpath(svg_path, ROOT), os.path.relpath(json_path, ROOT))
    if args.benchmarks_md:
        report.update_benchmarks(args.benchmarks_md, section)
        written = args.benchmarks_md + " (peers section)"
    else:
        written = os.path.join(args.results, "peers.md")
        with open(written, "w", encoding="utf-8") as f:
            f.write(section)
    print(f"wrote {json_path}, {svg_path} and {written} after {data['duration_s']:.0f} s")
    print(report.render_console(data))
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        print(f"{len(failed)} run(s) failed; see the logs in {args.logs}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
