"""Unit tests of the benchmark runner's own logic (no broker, no clients).

    python3 -m unittest discover -s bench/run -p 'test_*.py'

The kafka-python imports of broker.py are not needed here: only measure, report and the
summary of peers are exercised, peers with a stub for the broker module.
"""

import os
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# peers imports broker (kafka-python); these tests never talk to a broker.
sys.modules.setdefault("broker", types.SimpleNamespace(Broker=None, broker_pid=None, process_cpu_seconds=None))

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


if __name__ == "__main__":
    unittest.main()
