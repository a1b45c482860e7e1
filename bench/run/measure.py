"""Run one client process and measure it from outside, the same way for every client.

CPU and memory come from the kernel's accounting of the child (wait4 rusage): user and system
CPU of every thread, and ru_maxrss, the peak resident set in KiB. Throughput and latency come
from the client's own final line, in Kafka ProducerPerformance's format.

The client is started through GNU time (`/usr/bin/time`), which forks it and reports the
client's ru_maxrss from its own wait4. A process forked straight from this Python runner would
inherit the runner's ~35 MiB resident set, and Linux keeps the peak of the pre-exec memory in
ru_maxrss (exec_mmap records the old mm's high-water mark), so every client would read >= 35 MiB;
forked from time it starts from ~1 MiB. CPU comes from this runner's wait4 of time, which
includes its child (time's own share is about a millisecond) at microsecond resolution.
"""

import dataclasses
import os
import re
import signal
import subprocess
import time

# ProducerPerformance.Stats.printTotal, without the optional " steady state".
FINAL_LINE = re.compile(
    r"^(?P<count>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99\.9th\.\s*$",
    re.MULTILINE,
)


@dataclasses.dataclass
class Process:
    """What the kernel says about one finished client process."""

    exit_code: int
    timed_out: bool
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    stdout: str
    stderr: str


GNU_TIME = "/usr/bin/time"


def run_measured(argv, env, timeout_s, log_prefix):
    """Start argv under GNU time in its own process group, wait4 it, kill the group after timeout_s.

    stdout and stderr go to log_prefix + ".out" / ".err" and are returned too.
    """
    out_path, err_path, rusage_path = log_prefix + ".out", log_prefix + ".err", log_prefix + ".rusage"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        child = subprocess.Popen([GNU_TIME, "-q", "-f", "%M", "-o", rusage_path, "--", *argv], stdout=out,
                                 stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout_s:
                timed_out = True
                os.killpg(child.pid, signal.SIGKILL)
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        # Popen must not wait for a pid that wait4 already reaped.
        child.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    maxrss = _time_maxrss(rusage_path)
    if maxrss is None:  # time was killed or failed: the launcher's figure is an upper bound
        maxrss = usage.ru_maxrss
    return Process(child.returncode, timed_out, wall, usage.ru_utime, usage.ru_stime, maxrss, stdout, stderr)


def _time_maxrss(path):
    """The client's ru_maxrss (KiB) that GNU time wrote, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return None
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


def parse_final_line(stdout):
    """The last ProducerPerformance final line in stdout as numbers, or None."""
    matches = list(FINAL_LINE.finditer(stdout))
    if not matches:
        return None
    m = matches[-1]
    return {
        "count": int(m["count"]),
        "records_per_s": float(m["rps"]),
        "mib_per_s": float(m["mbps"]),
        "avg_latency_ms": float(m["avg"]),
        "max_latency_ms": float(m["max"]),
        "p50_ms": int(m["p50"]),
        "p95_ms": int(m["p95"]),
        "p99_ms": int(m["p99"]),
        "p999_ms": int(m["p999"]),
    }


def first_match(pattern, text):
    """The first group of the first line matching pattern, or None."""
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1) if m else None
