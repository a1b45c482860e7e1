#!/usr/bin/env python3
"""Cross-check the Java murmur2 vectors with kafka-python and install them.

    check_python.py JAVA_OUTPUT_JSON OUT_JSON

JAVA_OUTPUT_JSON is written by kprod.vectors.Murmur2Vectors (kafka-clients
Utils.murmur2 / Utils.toPositive).  Every key is re-hashed with
kafka.partitioner.default.murmur2 (kafka-python) and every partition is
recomputed as (murmur2 & 0x7fffffff) % n.  Any disagreement aborts before
OUT_JSON is written.  The PRNG keys are also regenerated here (splitmix64,
seed 0x6B70726F) to confirm the key set is the documented one.
"""
import json
import os
import sys

from kafka.partitioner.default import murmur2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "batches"))
from cases import SplitMix64  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        java = json.load(f)
    vecs = java["vectors"]
    bad = []
    for v in vecs:
        key = bytes.fromhex(v["key_hex"])
        h = murmur2(key)  # kafka-python returns the hash as an unsigned u32
        if h != v["murmur2"] & 0xFFFFFFFF:
            bad.append("%s: java %d kafka-python %d" % (v["label"], v["murmur2"], h))
        for n, p in v["partitions"].items():
            if (h & 0x7FFFFFFF) % int(n) != p:
                bad.append("%s n=%s: java %d kafka-python %d" % (v["label"], n, p, (h & 0x7FFFFFFF) % int(n)))
    rng = SplitMix64(0x6B70726F)
    prng = [v for v in vecs if v["label"].startswith("prng ")]
    for v in prng:
        n = rng.below(65)
        key = bytes((rng.next_u64() & 0xFF) for _ in range(n))
        if key.hex() != v["key_hex"]:
            bad.append("%s: key set differs from python splitmix64" % v["label"])
    if len(prng) != 500:
        bad.append("expected 500 prng keys, got %d" % len(prng))
    if bad:
        print("murmur2 DISAGREEMENT (%d):\n  %s" % (len(bad), "\n  ".join(bad[:20])))
        print("murmur2: %d passed, %d failed" % (len(vecs) - len(bad), len(bad)))
        sys.exit(1)
    with open(out, "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps(
            {"label": v["label"], "key_hex": v["key_hex"], "murmur2": v["murmur2"],
             "partitions": v["partitions"]}, ensure_ascii=False) for v in vecs) + "\n]\n")
    print("murmur2: %d keys, java == kafka-python for hash and %d partition counts; "
          "%d passed, 0 failed" % (len(vecs), len(vecs[0]["partitions"]), len(vecs)))


if __name__ == "__main__":
    main()
