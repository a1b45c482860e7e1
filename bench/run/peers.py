#!/usr/bin/env python3
"""Benchmark kprod against other Kafka producers on one local broker: scripts/bench.sh runs this.

Every client runs every scenario (100 B / 1 KiB records x acks=1 / acks=all) on a fresh
1-partition topic, in a shuffled order, for --reps repetitions; the medians go to
bench/results/peers.json, bench/results/peers.svg and the peers section of BENCHMARKS.md.
CPU and peak RSS of each client come from wait4 (see measure.py); records/s and latency from
its ProducerPerformance final line; after each run the broker's end offset must equal the
record count (see broker.py). Needs kafka-python: run it with the venv of tests/broker/kafka.sh.
"""

import argparse
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

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PARTITIONS = 1
DEFAULT_RECORDS = 2_000_000
QUICK_RECORDS = 40_000
# Per (client speed, record size): divisor of --records. kafka-python is ~10-50x slower; its
# counts keep each of its runs near 10-15 s in a full run.
DIVISORS = {(False, 100): 1, (False, 1024): 4, (True, 100): 5, (True, 1024): 16}
METRICS = ["records_per_s", "mib_per_s", "cpu_s_per_m", "maxrss_mib", "p50_ms", "p99_ms", "avg_latency_ms",
           "broker_cpu_s_per_m", "wall_s", "cpu_s"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_RECORDS} records, 1 repetition, results under target/ "
                        "(BENCHMARKS.md untouched)")
    p.add_argument("--clients", default=",".join(clients_mod.ALL),
                   help="comma-separated subset of: " + ", ".join(clients_mod.ALL))
    p.add_argument("--records", type=int,
                   help=f"100-byte records per run of a fast client (default {DEFAULT_RECORDS}); 1 KiB runs "
                        "take a quarter; kafka-python a fifth and a sixteenth")
    p.add_argument("--reps", type=int, help="repetitions of the matrix; medians are reported (default 2)")
    p.add_argument("--seed", type=int, default=None, help="seed of the run order (default: time)")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before a client run is killed")
    p.add_argument("--pause", type=float, default=2.0, help="seconds of rest between runs")
    p.add_argument("--results", help="directory for peers.json and peers.svg "
                                     "(default bench/results; target/bench-quick with --quick)")
    p.add_argument("--benchmarks-md", help="file whose peers section is rewritten "
                                           "(default BENCHMARKS.md; none with --quick)")
    p.add_argument("--logs", default=os.path.join(ROOT, "target", "bench-peers", "logs"))
    for name in ("kprod", "rdkafka", "franz-go"):
        p.add_argument(f"--{name}-bin", required=True, help=f"{name} benchmark binary")
    p.add_argument("--java-libs", required=True, help="directory of the Kafka jars")
    p.add_argument("--python", default=sys.executable, help="python with kafka-python, for kafka-python")
    p.add_argument("--kafka-work", default=os.path.join(ROOT, "target", "kafka"),
                   help="kafka.sh work dir (to find the broker's pid for its CPU)")
    a = p.parse_args(argv)
    a.clients = [c.strip() for c in a.clients.split(",") if c.strip()]
    unknown = [c for c in a.clients if c not in clients_mod.ALL]
    if unknown or not a.clients:
        p.error(f"unknown client(s) {unknown}; choose from {', '.join(clients_mod.ALL)}")
    a.records = a.records or (QUICK_RECORDS if a.quick else DEFAULT_RECORDS)
    a.reps = a.reps or (1 if a.quick else 2)
    if a.records < 16 or a.reps < 1:
        p.error("--records must be at least 16 and --reps at least 1")
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
    return max(1, args.records // DIVISORS[(client.slow, scenario.record_size)])


def machine_info():
    model, mem_kib = "unknown", 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    return {"cpu": model, "nproc": os.cpu_count(), "ram_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def client_env():
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"  # Java's printf follows the locale; keep '.' as decimal point
    return env


def run_one(args, broker, client, scenario, rep, index, run_id, bpid):
    """One client on one scenario: returns the run's record (status, metrics, command)."""
    n = record_count(args, client, scenario)
    topic = f"kprod-bench-{run_id}-{index:03d}-{client.name}-{scenario.key}".replace("_", "-")
    argv = client.command(args.bootstrap, scenario, topic, n)
    result = {"client": client.name, "scenario": scenario.key, "rep": rep, "records": n, "topic": topic,
              "command": shown(argv), "status": "failed", "problems": []}
    try:
        broker.create_topic(topic, PARTITIONS)
    except Exception as e:  # noqa: BLE001 - this run fails, the others go on
        result["problems"].append(f"could not create the topic: {e!r}")
        return result
    load_before = os.getloadavg()[0]
    b0 = process_cpu_seconds(bpid)
    proc = run_measured(argv, client_env(), args.timeout, os.path.join(args.logs, topic))
    b1 = process_cpu_seconds(bpid)
    final = parse_final_line(proc.stdout)
    try:
        stored = broker.end_offsets(topic, PARTITIONS)
    except Exception as e:  # noqa: BLE001 - recorded as a problem of this run
        stored = None
        result["problems"].append(f"end offsets: {e!r}")
    try:
        broker.delete_topic(topic)
    except Exception as e:  # noqa: BLE001 - a leftover topic only costs disk
        print(f"  (could not delete {topic}: {e!r})", flush=True)
    cpu = proc.user_s + proc.sys_s
    result.update({
        "exit_code": proc.exit_code, "timed_out": proc.timed_out, "wall_s": proc.wall_s,
        "user_s": proc.user_s, "sys_s": proc.sys_s, "cpu_s": cpu, "maxrss_kib": proc.maxrss_kib,
        "maxrss_mib": proc.maxrss_kib / 1024, "cpu_s_per_m": cpu / n * 1e6, "stored_records": stored,
        "broker_cpu_s_per_m": None if b0 is None or b1 is None else (b1 - b0) / n * 1e6,
        "load_before": load_before, "final_line": final,
    })
    client.learn_version(proc.stdout)
    if final:
        result.update({k: final[k] for k in ("records_per_s", "mib_per_s", "avg_latency_ms", "p50_ms", "p95_ms",
                                             "p99_ms", "p999_ms", "max_latency_ms")})
    if proc.timed_out:
        result["problems"].append(f"killed after {args.timeout:.0f} s")
    if proc.exit_code != 0:
        result["problems"].append(f"exit code {proc.exit_code}")
    if final is None:
        result["problems"].append("no ProducerPerformance final line on stdout")
    elif final["count"] != n:
        result["problems"].append(f"reported {final['count']} of {n} records sent")
    if stored is not None and stored < n:
        result["problems"].append(f"broker holds {stored} of {n} records")
    if stored is not None and stored > n:
        result["warnings"] = [f"broker holds {stored} records for {n} sent (duplicates)"]
    if not result["problems"]:
        result["status"] = "ok"
    else:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        result["stderr_tail"] = tail
    return result


def startup_cost(args, broker, client, run_id, bpid):
    """The client's fixed cost: one 100-byte record with acks=1 (process start, connect, close)."""
    scenario = clients_mod.SCENARIOS[0]
    topic = f"kprod-bench-{run_id}-startup-{client.name}"
    argv = client.command(args.bootstrap, scenario, topic, 1)
    try:
        broker.create_topic(topic, PARTITIONS)
    except Exception as e:  # noqa: BLE001 - the start-up figure is only informative
        print(f"start-up run of {client.label}: could not create the topic: {e!r}", flush=True)
        return {"client": client.name, "ok": False, "cpu_s": 0.0, "wall_s": 0.0, "maxrss_mib": 0.0, "exit_code": None}
    proc = run_measured(argv, client_env(), args.timeout, os.path.join(args.logs, topic))
    try:
        broker.delete_topic(topic)
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
            if not c.available:
                entry["status"] = "skipped"
                entry["note"] = c.note
            elif not good:
                entry["status"] = "failed"
                entry["note"] = "; ".join(sorted({p for r in mine for p in r["problems"]})) or "not run"
            else:
                entry["status"] = "ok"
                for m in METRICS:
                    values = [r[m] for r in good if r.get(m) is not None]
                    entry[m] = statistics.median(values) if values else None
                entry["records"] = good[0]["records"]
                warnings = sorted({w for r in good for w in r.get("warnings", [])})
                if warnings:
                    entry["note"] = "; ".join(warnings)
            summary[s.key][c.name] = entry
    return summary


def goals(summary):
    """kprod against the issue's goals, per scenario (reported, not asserted)."""
    out = {}
    for key, row in summary.items():
        k = row.get("kprod", {})
        g = {}
        if k.get("status") == "ok":
            peers = [v["records_per_s"] for name, v in row.items() if name != "kprod" and v.get("status") == "ok"]
            if peers:
                g["throughput_vs_best_peer"] = k["records_per_s"] / max(peers)
            for peer, field in (("rdkafka", "cpu_vs_librdkafka"), ("java", "cpu_vs_java")):
                if row.get(peer, {}).get("status") == "ok" and row[peer]["cpu_s_per_m"]:
                    g[field] = k["cpu_s_per_m"] / row[peer]["cpu_s_per_m"]
            if row.get("rdkafka", {}).get("status") == "ok" and row["rdkafka"]["maxrss_mib"]:
                g["rss_vs_librdkafka"] = k["maxrss_mib"] / row["rdkafka"]["maxrss_mib"]
        out[key] = g
    return out


def print_run(i, total, r, client, scenario):
    if r["status"] == "ok":
        print(f"[{i}/{total}] r{r['rep']} {scenario.label:16} {client.label:22} {r['records_per_s']:>12,.0f} rec/s "
              f"{r['cpu_s_per_m']:6.2f} CPU-s/M {r['maxrss_mib']:7.1f} MiB p99 {r['p99_ms']:5d} ms "
              f"({r['wall_s']:.1f} s)", flush=True)
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
             "java_libs": args.java_libs, "python": args.python, "log4j": log4j}
    clients = [clients_mod.ALL[name](paths) for name in args.clients]
    for c in clients:
        if not c.available:
            print(f"skipping {c.label}: {c.note}", flush=True)
    runnable = [c for c in clients if c.available]
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    run_id = started.strftime("%Y%m%d%H%M%S")
    port = args.bootstrap.rsplit(":", 1)[-1]
    bpid = broker_pid(port, args.kafka_work)
    broker = Broker(args.bootstrap)
    scenarios = clients_mod.SCENARIOS
    plan = []
    rng = random.Random(args.seed)
    for rep in range(1, args.reps + 1):
        cells = [(s, c) for s in scenarios for c in runnable]
        rng.shuffle(cells)
        plan += [(rep, s, c) for s, c in cells]
    print(f"{len(runnable)} client(s), {len(scenarios)} scenarios, {args.reps} repetition(s): {len(plan)} runs; "
          f"order seed {args.seed}; broker pid {bpid}; logs in {args.logs}", flush=True)
    load_start = os.getloadavg()
    if load_start[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: 1-minute load average {load_start[0]:.2f} on {os.cpu_count()} cores: other work is "
              "running, the figures will be noisy", flush=True)
    startup = []
    for c in runnable:  # also warms the page cache for each client's binary / jars
        startup.append(startup_cost(args, broker, c, run_id, bpid))
        time.sleep(args.pause / 2)
    runs = []
    try:
        for i, (rep, s, c) in enumerate(plan, 1):
            r = run_one(args, broker, c, s, rep, i, run_id, bpid)
            runs.append(r)
            print_run(i, len(plan), r, c, s)
            time.sleep(args.pause)
    finally:
        try:
            left = broker.delete_topics_with_prefix(f"kprod-bench-{run_id}-")
            if left:
                print(f"deleted {len(left)} leftover topic(s) of this run", flush=True)
        except Exception as e:  # noqa: BLE001 - leftover topics only cost disk
            print(f"could not delete leftover topics: {e!r}", flush=True)
        broker.close()
    summary = summarize(runs, clients, scenarios)
    data = {
        "schema": 1,
        "started_utc": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "quick": args.quick,
        "reps": args.reps,
        "seed": args.seed,
        "bootstrap": args.bootstrap,
        "partitions": PARTITIONS,
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "broker_pid_found": bpid is not None,
        "settings": {"linger.ms": clients_mod.LINGER_MS, "batch.size": clients_mod.BATCH_SIZE,
                     "compression.type": "none", "max.in.flight.requests.per.connection": clients_mod.MAX_IN_FLIGHT,
                     "buffer_bytes": clients_mod.BUFFER_BYTES, "partitions": PARTITIONS, "throughput": -1},
        "scenarios": [vars(s) | {"idempotent": s.idempotent} for s in scenarios],
        "clients": [{"name": c.name, "label": c.label, "slow": c.slow, "available": c.available, "note": c.note,
                     "version": c.full_version, "settings_note": c.settings_note,
                     "records": {s.key: record_count(args, c, s) for s in scenarios},
                     "commands": {s.key: shown(c.command(args.bootstrap, s, "TOPIC", record_count(args, c, s)))
                                  for s in scenarios}} for c in clients],
        "startup": startup,
        "runs": runs,
        "summary": summary,
        "goals": goals(summary),
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
