"""Unit tests of the benchmark runner's own logic (no broker, no clients).

    python3 -m unittest discover -s bench/run -p 'test_*.py'

The kafka-python imports of broker.py are not needed here: only measure, report and the
summary of peers are exercised, peers with a stub for the broker module.
"""

import collections
import os
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# peers imports broker (kafka-python); these tests never talk to a broker.
sys.modules.setdefault("broker", types.SimpleNamespace(Broker=None, broker_pid=None, process_cpu_seconds=None))

import ab  # noqa: E402
import clients  # noqa: E402
import measure  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402

# Lines printed by Kafka 4.3.1's ProducerPerformance (progress, then final) in this repo's runs.
JAVA_OUTPUT = """\
Option --producer-props has been deprecated and will be removed in a future version.
512345 records sent, 102469.0 records/sec (9.77 MB/sec), 412.3 ms avg latency, 690.0 ms max latency.
1000000 records sent, 216216.216216 records/sec (20.62 MB/sec), 810.67 ms avg latency, 1001.00 ms max latency, \
859 ms 50th, 980 ms 95th, 995 ms 99th, 999 ms 99.9th.
"""


class FinalLineTest(unittest.TestCase):
    def test_parses_the_java_final_line_not_the_progress_line(self):
        got = measure.parse_final_line(JAVA_OUTPUT)
        self.assertEqual(got["count"], 1_000_000)
        self.assertAlmostEqual(got["records_per_s"], 216216.216216)
        self.assertAlmostEqual(got["mib_per_s"], 20.62)
        self.assertEqual((got["p50_ms"], got["p95_ms"], got["p99_ms"], got["p999_ms"]), (859, 980, 995, 999))
        self.assertAlmostEqual(got["max_latency_ms"], 1001.0)

    def test_no_final_line(self):
        self.assertIsNone(measure.parse_final_line("100 records sent, 1.0 records/sec (0.00 MB/sec), "
                                                   "1.0 ms avg latency, 2.0 ms max latency.\n"))

    def test_last_final_line_wins(self):
        two = JAVA_OUTPUT + JAVA_OUTPUT.splitlines()[-1].replace("1000000 records", "7 records") + "\n"
        self.assertEqual(measure.parse_final_line(two)["count"], 7)


class MeasureTest(unittest.TestCase):
    def test_rusage_of_a_child_through_gnu_time(self):
        if not os.access(measure.GNU_TIME, os.X_OK):
            self.skipTest("no GNU time")
        with tempfile.TemporaryDirectory() as d:
            # Burn a little CPU and touch ~64 MiB in a fresh python: its own peak, not ours.
            code = "b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('done')"
            p = measure.run_measured([sys.executable, "-c", code], dict(os.environ), 60, os.path.join(d, "x"))
        self.assertEqual(p.exit_code, 0)
        self.assertEqual(p.stdout.strip(), "done")
        self.assertGreater(p.user_s + p.sys_s, 0)
        self.assertGreater(p.maxrss_kib, 64 * 1024)
        self.assertLess(p.maxrss_kib, 64 * 1024 + 64 * 1024)

    def test_timeout_kills_the_child(self):
        if not os.access(measure.GNU_TIME, os.X_OK):
            self.skipTest("no GNU time")
        with tempfile.TemporaryDirectory() as d:
            p = measure.run_measured(["sleep", "30"], dict(os.environ), 0.5, os.path.join(d, "x"))
        self.assertTrue(p.timed_out)
        self.assertNotEqual(p.exit_code, 0)
        self.assertLess(p.wall_s, 10)


def _data(kprod_rps, kprod_cpu, peers_ok=True):
    names = ["kprod", "java", "rdkafka"]
    summary = {}
    for s in clients.SCENARIOS:
        summary[s.key] = {
            "kprod": {"status": "ok", "records_per_s": kprod_rps, "cpu_s_per_m": kprod_cpu, "maxrss_mib": 10.0},
            "java": {"status": "ok" if peers_ok else "failed", "records_per_s": 200_000.0, "cpu_s_per_m": 10.0,
                     "maxrss_mib": 200.0},
            "rdkafka": {"status": "ok", "records_per_s": 400_000.0, "cpu_s_per_m": 2.0, "maxrss_mib": 20.0},
        }
    return names, summary


class GoalsTest(unittest.TestCase):
    def test_ratios_against_the_best_peer_and_each_reference(self):
        _, summary = _data(kprod_rps=600_000.0, kprod_cpu=1.0)
        g = peers.goals(summary)["100B-acks1"]
        self.assertAlmostEqual(g["throughput_vs_best_peer"], 1.5)
        self.assertAlmostEqual(g["cpu_vs_librdkafka"], 0.5)
        self.assertAlmostEqual(g["cpu_vs_java"], 0.1)
        self.assertAlmostEqual(g["rss_vs_librdkafka"], 0.5)

    def test_a_failed_peer_is_not_a_reference(self):
        _, summary = _data(kprod_rps=300_000.0, kprod_cpu=1.0, peers_ok=False)
        g = peers.goals(summary)["1KiB-acksall"]
        self.assertNotIn("cpu_vs_java", g)
        self.assertAlmostEqual(g["throughput_vs_best_peer"], 0.75)

    def test_no_kprod_no_goals(self):
        _, summary = _data(1.0, 1.0)
        for row in summary.values():
            row["kprod"] = {"status": "skipped"}
        self.assertEqual(peers.goals(summary), {s.key: {} for s in clients.SCENARIOS})


def _paths(d):
    return {"root": peers.ROOT, "kprod": os.path.join(d, "kprod"), "rdkafka": os.path.join(d, "rdkafka"),
            "franz-go": os.path.join(d, "franz"), "confluent": os.path.join(d, "confluent"), "java_libs": d,
            "java_classes": d, "python": sys.executable, "log4j": os.path.join(d, "log4j")}


def _scenario(key):
    return next(s for s in clients.SCENARIOS if s.key == key)


class ScenarioSelectionTest(unittest.TestCase):
    def test_groups_and_keys_select_in_matrix_order(self):
        got = [s.key for s in clients.select("zstd-1KiB,latency")]
        self.assertEqual(got, ["rate-100B", "rate-1KiB", "zstd-1KiB"])
        self.assertEqual(len(clients.select("all")), len(clients.SCENARIOS))
        self.assertEqual({s.group for s in clients.select("base")}, {"base"})

    def test_an_unknown_name_is_an_error_that_lists_the_choices(self):
        with self.assertRaises(ValueError) as e:
            clients.select("base,fast")
        self.assertIn("fast", str(e.exception))
        self.assertIn("compression", str(e.exception))

    def test_every_group_of_the_issues_is_there(self):
        self.assertEqual(set(clients.GROUPS),
                         {"base", "keyed", "latency", "compression", "cluster", "scale", "sasl", "txn"})


class BrokerSiteTest(unittest.TestCase):
    """The scale scenarios run on a broker of their own; every site gets two warm-up runs."""

    def _args(self, **kw):
        base = {"scenarios": clients.select("all"), "bootstrap": "127.0.0.1:9092", "scale_bootstrap": None,
                "cluster_bootstrap": None, "secure_bootstrap": None, "secure_admin": None, "secure_ca": None}
        return types.SimpleNamespace(**(base | kw))

    def test_only_the_scale_scenarios_run_on_the_scale_site(self):
        self.assertEqual({s.key for s in clients.SCENARIOS if s.broker == "scale"},
                         {s.key for s in clients.select("scale")})
        self.assertEqual({s.broker for s in clients.select("base,keyed,latency,compression,txn")}, {"single"})
        self.assertEqual({s.replication for s in clients.select("scale")}, {1})

    def test_scale_scenarios_are_skipped_without_their_bootstrap(self):
        keep, skipped = peers.usable_scenarios(self._args())
        self.assertFalse({s.key for s in keep} & {"scale-10k-partitions", "scale-1k-topics"})
        self.assertIn("100B-acks1", {s.key for s in keep})
        self.assertIn("scale-10k-partitions: no scale broker given (--scale-bootstrap)", skipped)
        keep, skipped = peers.usable_scenarios(self._args(scale_bootstrap="127.0.0.1:27092"))
        self.assertTrue({"scale-10k-partitions", "scale-1k-topics"} <= {s.key for s in keep})
        self.assertFalse([w for w in skipped if w.startswith("scale-")])

    def test_ab_takes_scale_scenarios_on_its_one_broker(self):
        self.assertTrue({s.broker for s in clients.select("base,keyed,latency,scale")} <= set(ab.SINGLE_BROKER_SITES))
        self.assertNotIn("cluster", ab.SINGLE_BROKER_SITES)

    def test_two_warm_up_runs_per_site_in_order_of_first_use(self):
        with tempfile.TemporaryDirectory() as d:
            paths = _paths(d)
            cs = [clients.kafka_python(paths), clients.confluent(paths), clients.kprod(paths)]
        scenarios = clients.select("scale,100B-acks1,cluster-100B")
        plan = peers.warm_up_plan(scenarios, cs, 8)
        self.assertEqual([site for site, *_ in plan], ["single", "single", "cluster", "cluster", "scale", "scale"])
        for site, c, s, n in plan:
            self.assertEqual(c.name, "confluent", "the first fast client")
            self.assertEqual((s.broker, s.topics, s.keys, s.reuse_topic, s.compression, s.txn_ms),
                             (site, 1, 0, False, "none", 0))
            self.assertTrue(s.key.startswith("warm-up-"))
            self.assertEqual(n, s.rate * 8)
        self.assertEqual([(s.record_size, s.acks, s.rate, n) for _, _, s, n in plan[:2]],
                         [(1024, "all", 100_000, 800_000), (100, "1", 400_000, 3_200_000)])
        by_site = {site: s for site, _, s, _ in plan}
        self.assertEqual(by_site["scale"].partitions, 1, "not the 10,000-partition topic")
        self.assertEqual((by_site["cluster"].partitions, by_site["cluster"].replication), (6, 3))

    def test_warm_up_client_runs_the_site_and_a_slow_one_sends_its_share(self):
        with tempfile.TemporaryDirectory() as d:
            paths = _paths(d)
            confluent, slow = clients.confluent(paths), clients.kafka_python(paths)
        plan = peers.warm_up_plan(clients.select("sasl"), [confluent, slow], 10)
        self.assertEqual([(site, c.name, n) for site, c, _, n in plan],
                         [("secure", "kafka-python", 250_000), ("secure", "kafka-python", 800_000)])
        s, n = plan[0][2], plan[0][3]
        argv = slow.command("b:1", s, "T", n, {"ca": "/ca.pem"})
        self.assertEqual(self._props(argv)["security.protocol"], "SASL_SSL")
        self.assertEqual(argv[argv.index("--throughput") + 1], "100000")
        self.assertEqual(peers.warm_up_plan(clients.select("sasl"), [confluent], 8), [])
        self.assertEqual(peers.warm_up_plan(clients.select("all"), [confluent, slow], 0), [])

    @staticmethod
    def _props(argv):
        at = argv.index("--producer-props")
        return dict(a.split("=", 1) for a in argv[at + 1:])

    def test_the_warm_up_is_not_a_result_but_is_in_the_method(self):
        run = {"client": "kprod", "records": 800_000, "record_size": 1024, "acks": "all", "rate": 100_000,
               "records_per_s": 99_990.0, "wall_s": 8.4, "status": "ok"}
        data = {"clients": [{"name": "kprod", "label": "kprod"}],
                "broker_warm_up": {"single": [run, run | {"record_size": 100, "acks": "1", "status": "failed"}]}}
        text = " ".join(report._definitions(data).split())
        self.assertIn("gets unmeasured runs on a scratch topic, deleted afterwards: 800,000 x 1 KiB with acks=all "
                      "at 100,000/s, then 800,000 x 100 B with acks=1 at 100,000/s (a slow client sends its share; "
                      "single by kprod: 99,990 records/s in 8.4 s and 99,990 records/s in 8.4 s (failed)). They "
                      "count in no result", text)
        self.assertIn("this run had none", report._definitions({"clients": []}))


class RecordCountTest(unittest.TestCase):
    def _args(self, **kw):
        return types.SimpleNamespace(**({"records": 1_000_000, "rate_seconds": 10} | kw))

    def test_shares_of_records_and_rates(self):
        fast = types.SimpleNamespace(slow=False)
        slow = types.SimpleNamespace(slow=True)
        args = self._args()
        self.assertEqual(peers.record_count(args, fast, _scenario("100B-acks1")), 1_000_000)
        self.assertEqual(peers.record_count(args, fast, _scenario("1KiB-acksall")), 250_000)
        self.assertEqual(peers.record_count(args, slow, _scenario("1KiB-acksall")), 62_500)
        self.assertEqual(peers.record_count(args, fast, _scenario("rate-100B")), 2_000_000)
        self.assertEqual(peers.record_count(args, fast, _scenario("rate-1KiB")), 500_000)
        self.assertEqual(peers.record_count(args, slow, _scenario("rate-100B")), 400_000)

    def test_each_reused_topic_set_is_warmed_before_its_first_run_only(self):
        scale, topics, base = (_scenario(k) for k in ("scale-10k-partitions", "scale-1k-topics", "100B-acks1"))
        plan = [(1, base, "a"), (1, topics, "b"), (1, scale, "a"), (1, topics, "a"), (2, scale, "b"), (2, base, "b")]
        self.assertEqual(peers.warm_ups(plan), {1, 2})

    def test_topic_names(self):
        self.assertEqual(peers.topic_names("t", _scenario("scale-1k-topics"))[:2], ["t-0", "t-1"])
        self.assertEqual(len(peers.topic_names("t", _scenario("scale-1k-topics"))), 1000)
        self.assertEqual(peers.topic_names("t", _scenario("keyed-100B")), ["t"])


class CommandTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.paths = _paths(self.dir.name)
        self.env = {"payload": "/p.txt", "ca": "/ca.pem"}

    def tearDown(self):
        self.dir.cleanup()

    @staticmethod
    def _props(argv, flag):
        at = argv.index(flag)
        return dict(a.split("=", 1) for a in argv[at + 1:])

    def test_keyed_records_carry_keys_and_librdkafka_hashes_as_java(self):
        c = clients.rdkafka(self.paths)
        argv = c.command("b:1", _scenario("keyed-100B"), "T", 10, self.env)
        self.assertEqual(argv[argv.index("--keys") + 1], "5000")
        self.assertEqual(self._props(argv, "--producer-props")["partitioner"], "murmur2_random")

    def test_java_runs_keyed_perf_for_keys_and_topics_only(self):
        c = clients.java(self.paths)
        keyed = c.command("b:1", _scenario("scale-1k-topics"), "T", 10, self.env)
        self.assertIn("KeyedPerf", keyed)
        self.assertEqual(keyed[keyed.index("--topics") + 1], "1000")
        plain = c.command("b:1", _scenario("gzip-1KiB"), "T", 10, self.env)
        self.assertIn("org.apache.kafka.tools.ProducerPerformance", plain)
        self.assertEqual(plain[plain.index("--payload-file") + 1], "/p.txt")
        self.assertNotIn("--record-size", plain)
        self.assertEqual(self._props(plain, "--command-property")["compression.type"], "gzip")

    def test_fixed_rate_uses_the_throttler_and_the_clients_defaults(self):
        c = clients.kprod(self.paths)
        argv = c.command("b:1", _scenario("rate-1KiB"), "T", 10, self.env)
        self.assertEqual(argv[argv.index("--throughput") + 1], "50000")
        props = self._props(argv, "--producer-props")
        self.assertEqual((props["acks"], props["linger.ms"]), ("all", "5"))
        for name in ("buffer.memory", "batch.size", "compression.type"):
            self.assertNotIn(name, props)

    def test_sasl_ssl_in_java_names_and_in_librdkafka_names(self):
        java = self._props(clients.kprod(self.paths).command("b:1", _scenario("sasl-100B"), "T", 1, self.env),
                           "--producer-props")
        self.assertEqual(java["security.protocol"], "SASL_SSL")
        self.assertEqual(java["sasl.mechanism"], "SCRAM-SHA-512")
        self.assertIn('username="alice"', java["sasl.jaas.config"])
        self.assertEqual(java["ssl.truststore.location"], "/ca.pem")
        rd = self._props(clients.rdkafka(self.paths).command("b:1", _scenario("sasl-100B"), "T", 1, self.env),
                         "--producer-props")
        self.assertEqual((rd["sasl.username"], rd["ssl.ca.location"]), ("alice", "/ca.pem"))
        self.assertFalse(any(k.startswith(("sasl.jaas", "ssl.truststore")) for k in rd))

    def test_java_reads_the_jaas_line_from_a_file(self):
        env = dict(self.env, dir=self.dir.name)
        argv = clients.java(self.paths).command("b:1", _scenario("sasl-100B"), "T", 1, env)
        path = argv[argv.index("--producer.config") + 1]
        with open(path, encoding="utf-8") as f:
            self.assertIn('sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
                          'username="alice"', f.read())
        self.assertNotIn("sasl.jaas.config", self._props(argv, "--command-property"))
        self.assertEqual(self._props(argv, "--command-property")["sasl.mechanism"], "SCRAM-SHA-512")

    def test_transactions_as_producer_performance_takes_them(self):
        argv = clients.franz_go(self.paths).command("b:1", _scenario("txn-100B"), "T", 1, self.env)
        self.assertEqual(argv[argv.index("--transaction-duration-ms") + 1], "100")
        self.assertIn("--transactional-id", argv)

    def test_confluent_skips_scram_and_the_plan_leaves_it_out(self):
        c = clients.confluent(self.paths)
        self.assertIn("SCRAM", c.unsupported["sasl-100B"])
        plan = peers.make_plan(clients.select("sasl,txn"), [c], 2, 1)
        self.assertEqual(sorted({s.key for _, s, _ in plan}), ["txn-100B"])
        self.assertEqual(len(plan), 2)
        summary = peers.summarize([], [c], clients.select("sasl"))
        self.assertEqual(summary["sasl-100B"]["confluent"]["status"], "skipped")


class PlanTest(unittest.TestCase):
    def test_fixed_rate_scenarios_take_the_extra_rounds_alone(self):
        with tempfile.TemporaryDirectory() as d:
            cs = [clients.kprod(_paths(d)), clients.rdkafka(_paths(d))]
        scenarios = clients.select("base,latency")
        plan = peers.make_plan(scenarios, cs, 2, 7, 4)
        count = collections.Counter((s.key, c.name) for _, s, c in plan)
        for s in scenarios:
            want = 4 if s.group == "latency" else 2
            self.assertEqual({count[(s.key, c.name)] for c in cs}, {want}, s.key)
        self.assertEqual({s.group for rep, s, _ in plan if rep > 2}, {"latency"})
        self.assertEqual([rep for rep, _, _ in plan], sorted(rep for rep, _, _ in plan))
        # Fewer rate rounds than --reps, or none, change nothing.
        self.assertEqual(peers.make_plan(scenarios, cs, 2, 7, 1), peers.make_plan(scenarios, cs, 2, 7))


class PayloadFileTest(unittest.TestCase):
    def test_lines_of_exactly_1_kib_that_compress(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "p.txt")
            ratio = peers.write_payload_file(path, lines=50)
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"")
        self.assertEqual({len(line) for line in lines[:-1]}, {1024})
        self.assertEqual(len(set(lines[:-1])), 50)
        self.assertGreater(ratio, 2.5)


class RateGoalTest(unittest.TestCase):
    def _row(self, kprod_p99, peers_p99, below=()):
        row = {"kprod": {"status": "ok", "records_per_s": 2e5, "cpu_s_per_m": 1.0, "maxrss_mib": 5.0,
                         "p99_ms": kprod_p99}}
        for name, p99 in peers_p99.items():
            row[name] = {"status": "ok", "records_per_s": 2e5, "cpu_s_per_m": 2.0, "maxrss_mib": 10.0,
                         "p99_ms": p99, "below_rate": name in below}
        return {"rate-100B": row}

    def test_p99_against_the_best_peer_that_sustained_the_rate(self):
        g = peers.goals(self._row(12, {"java": 10, "rdkafka": 4, "kafka-python": 1}, below={"rdkafka"}))
        self.assertAlmostEqual(g["rate-100B"]["p99_vs_best_peer"], 1.2)
        self.assertNotIn("throughput_vs_best_peer", g["rate-100B"])

    def test_sub_millisecond_p99_counts_as_one(self):
        g = peers.goals(self._row(0, {"franz-go": 0}))
        self.assertAlmostEqual(g["rate-100B"]["p99_vs_best_peer"], 1.0)

    def test_a_run_below_the_rate_is_marked(self):
        r = {"problems": []}
        proc = types.SimpleNamespace(timed_out=False, exit_code=0)
        final = {"count": 10, "records_per_s": 150_000.0}
        peers.check_run(r, proc, final, 10, 10, 60, _scenario("rate-100B"))
        self.assertEqual(r["status"], "ok")
        self.assertTrue(r["below_rate"])
        peers.check_run(r2 := {"problems": []}, proc, final, 14, 10, 60, _scenario("txn-100B"))
        self.assertNotIn("warnings", r2)  # commit markers are not duplicates
        peers.check_run(r3 := {"problems": []}, proc, final, 9, 10, 60, _scenario("txn-100B"))
        self.assertEqual(r3["status"], "failed")

    def test_sasl_cpu_goal_is_0_6(self):
        self.assertEqual(report.goal_target("sasl", "cpu_vs_librdkafka", 0.5), 0.6)
        self.assertEqual(report.goal_target("base", "cpu_vs_librdkafka", 0.5), 0.5)


class RenderTest(unittest.TestCase):
    def test_every_scenario_and_goal_renders(self):
        with tempfile.TemporaryDirectory() as d:
            paths = _paths(d)
            cs = [clients.kprod(paths), clients.rdkafka(paths), clients.confluent(paths)]
        _, summary = _data(1.0, 1.0)
        for row in summary.values():
            row["kprod"].update({"mib_per_s": 1.0, "p50_ms": 1, "p99_ms": 3, "broker_cpu_s_per_m": None,
                                 "ok_runs": 2, "runs": 2})
            row["rdkafka"].update({"mib_per_s": 1.0, "p50_ms": 1, "p99_ms": 2, "broker_cpu_s_per_m": 1.0,
                                   "ok_runs": 2, "runs": 2})
            row["confluent"] = {"status": "skipped", "note": "why"}
        scenarios = clients.SCENARIOS
        data = {"started_utc": "2026-12-02T20:00:00+00:00", "duration_s": 60, "quick": True, "reps": 2,
                "seed": 1, "bootstrap": "b:1", "bootstraps": {"single": "b:1", "cluster": "c:1"},
                "rate_seconds": 15, "payload_gzip_ratio": 3.2,
                "machine": {"cpu": "x", "nproc": 2, "ram_gib": 8, "kernel": "6", "python": "3"},
                "load_average": {"start": [0, 0, 0], "end": [0, 0, 0]},
                "settings": {"linger.ms": 5, "batch.size": 16384, "max.in.flight.requests.per.connection": 5},
                "scenarios": [vars(s) | {"idempotent": s.idempotent} for s in scenarios],
                "clients": [{"name": c.name, "label": c.label, "slow": c.slow, "available": True, "note": "",
                             "version": "v", "settings_note": c.settings_note,
                             "records": {s.key: 10 for s in scenarios},
                             "skipped": {k: v for k, v in c.unsupported.items()},
                             "commands": {s.key: "cmd" for s in scenarios if s.key not in c.unsupported}}
                            for c in cs],
                "startup": [], "summary": summary}
        data["goals"] = peers.goals(summary, scenarios)
        md = report.render_markdown(data, "x.svg", "x.json")
        svg = report.render_svg(data)
        for s in scenarios:
            self.assertIn(s.label, md)
            self.assertIn(s.label.replace("&", "&amp;"), svg)
        self.assertIn("kprod p99 ÷ best peer's, fixed rate", md)
        self.assertIn("goal <= 0.6", md)  # SASL's CPU goal
        self.assertIn("3.2x", md)
        self.assertNotIn("page cache was dropped before", md)
        self.assertIn("2 repetition(s) of the whole\nmatrix in shuffled order", md)
        data["rate_reps"] = 4
        self.assertIn("2 repetition(s) of the whole\nmatrix (the fixed-rate scenarios: 4) in shuffled order",
                      report.render_markdown(data, "x.svg", "x.json"))
        self.assertIn("Medians of 2 repetition(s) (the fixed-rate scenarios: 4);", report.render_svg(data))
        # A run without the fixed-rate scenarios does not mention them.
        no_rates = [s for s in data["scenarios"] if s["group"] != "latency"]
        self.assertEqual(report._rate_reps(data | {"scenarios": no_rates}), "")
        data["page_cache_drops"] = 7
        md = report.render_markdown(data, "x.svg", "x.json")
        self.assertIn("the run took 1.0 min; the page cache was dropped before 7 of the runs.", md)


class BenchmarksMdTest(unittest.TestCase):
    def _roundtrip(self, before, section):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "BENCHMARKS.md")
            if before is not None:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(before)
            report.update_benchmarks(path, section)
            with open(path, encoding="utf-8") as f:
                return f.read()

    def test_appends_markers_once_then_replaces_between_them(self):
        first = f"{report.BEGIN}\none\n{report.END}\n"
        second = f"{report.BEGIN}\ntwo\n{report.END}\n"
        text = self._roundtrip("# kprod benchmarks\n\nencode figures\n", first)
        self.assertEqual(text, "# kprod benchmarks\n\nencode figures\n\n" + first)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "B.md")
            with open(path, "w", encoding="utf-8") as f:
                f.write("head\n\n" + first + "\ntail stays\n")
            report.update_benchmarks(path, second)
            with open(path, encoding="utf-8") as f:
                self.assertEqual(f.read(), "head\n\n" + second + "\ntail stays\n")

    def test_a_lone_marker_is_an_error(self):
        with self.assertRaises(ValueError):
            self._roundtrip(f"x\n{report.BEGIN}\n", f"{report.BEGIN}\ny\n{report.END}\n")


class AxisTest(unittest.TestCase):
    def test_nice_max_is_round_and_not_below(self):
        for v, want in [(1.2e6, 1.2e6), (0.95, 1.0), (13, 16), (270, 300), (1000, 1000), (1001, 1200)]:
            self.assertAlmostEqual(report._nice_max(v), want, msg=str(v))


class AlternatedOrderTest(unittest.TestCase):
    def test_no_build_always_runs_first(self):
        builds = [("a", "/a"), ("b", "/b"), ("c", "/c")]
        firsts = [ab.round_order(builds, rnd)[0][0] for rnd in range(1, 5)]
        self.assertEqual(firsts, ["a", "c", "a", "c"])
        self.assertEqual(ab.round_order(builds, 2), [("c", "/c"), ("b", "/b"), ("a", "/a")])
        self.assertEqual(builds, [("a", "/a"), ("b", "/b"), ("c", "/c")], "the given list is left alone")

    def test_a_round_is_won_on_records_per_second_or_at_a_fixed_rate_on_cpu(self):
        got = {"a": {"rps": 100.0, "cpu": 1.0}, "b": {"rps": 120.0, "cpu": 1.5}}
        self.assertEqual(ab.round_best(got, fixed_rate=False), "b")
        self.assertEqual(ab.round_best(got, fixed_rate=True), "a")


if __name__ == "__main__":
    unittest.main()
