#!/usr/bin/env python3
"""The compression scenarios' payload file (scripts/bench.sh) and the codec microbenchmark's input.

Only the standard library: `cargo bench -p kprod-bench --bench codecs` runs it with plain python3
(`python3 bench/run/payload.py OUT`) to get the same records the peers compress.
"""

import random
import sys

# The text payload file of the compression scenarios: lines of exactly 1 KiB.
PAYLOAD_LINES = 1000


def write_payload_file(path, size=1024, lines=PAYLOAD_LINES, seed=1):
    """The compression scenarios' values: JSON-like log events of exactly `size` bytes.

    Field names and most values repeat between records and words come from a 64-word
    vocabulary, as in application logs; ids and numbers vary. Returns the gzip (level 6) ratio
    of 16 concatenated lines, about what a 16 KiB batch compresses by.
    """
    import zlib  # noqa: PLC0415 - only here

    rng = random.Random(seed)
    words = ("order payment user cart item checkout session token retry timeout cache miss hit latency "
             "request response service gateway inventory shipping address email notify queue batch commit "
             "offset partition leader replica broker client server error warning info debug trace span "
             "region zone cluster node pod container image deploy release version config feature flag "
             "metric counter gauge histogram sample window bucket shard index query result").split()
    services = ["checkout", "payments", "inventory", "shipping", "accounts", "search"]
    levels = ["INFO"] * 6 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
    out = []
    for i in range(lines):
        head = (f'{{"ts":"2026-12-02T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.'
                f'{rng.randrange(1000):03d}Z","level":"{rng.choice(levels)}","service":"{rng.choice(services)}",'
                f'"host":"web-{rng.randrange(40):02d}","trace_id":"{rng.getrandbits(64):016x}",'
                f'"user_id":{rng.randrange(10**6)},"duration_ms":{rng.randrange(5000)},"msg":"')
        tail = '"}'
        body = []
        while len(head) + len(" ".join(body)) + len(tail) < size:
            body.append(rng.choice(words))
        text = (head + " ".join(body))[: size - len(tail)] + tail
        assert len(text) == size and "\n" not in text
        out.append(text)
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(out) + "\n")
    sample = "".join(out[:16]).encode()
    return len(sample) / len(zlib.compress(sample, 6))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: payload.py OUT")
    print(f"{write_payload_file(sys.argv[1]):.2f}")
