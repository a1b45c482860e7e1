#!/usr/bin/env python3
"""Verify the raw generator output and install it as committed vectors.

    finalize.py WORKDIR OUTDIR

For every WORKDIR/{python,java}/NAME.{bin,json}:
  * recompute the CRC-32C over attributes..end with the `crc32c` package
    (independent of both encoders) and require it to equal the JSON "crc"
    and the CRC field in the bytes;
  * parse the 61-byte batch header with struct and compare every field
    with the JSON (which was written from the generator *inputs*);
  * decode the batch with kafka-python (DefaultRecordBatch: decompression +
    record parsing) and compare every record with the JSON -- for the Java
    vectors this is the Java-encode / Python-decode cross check.
Then it rewrites the JSON in one stable layout into OUTDIR, compares the
kafka-python and kafka-clients bytes for identical inputs, and writes
OUTDIR/index.json.  Exits non-zero on any mismatch.
"""
import base64
import glob
import hashlib
import json
import os
import struct
import sys

import crc32c
from kafka.record.default_records import DefaultRecordBatch

HEADER = struct.Struct(">qiibIhiqqqhii")
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def unb64(s):
    return None if s is None else base64.b64decode(s)


def check(name, data, j):
    errs = []

    def eq(what, exp, got):
        if exp != got:
            errs.append("%s: expected %r got %r" % (what, exp, got))

    (base_offset, length, ple, magic, crc, attrs, last_delta, base_ts, max_ts,
     pid, epoch, seq, count) = HEADER.unpack_from(data)
    eq("batch_length", len(data) - 12, length)
    eq("magic", j["magic"], magic)
    indep = crc32c.crc32c(data[21:])
    eq("crc (crc32c package over attributes..end)", j["crc"], indep)
    eq("crc field in bytes", j["crc"], crc)
    eq("attributes", j["attributes"], attrs)
    eq("codec", CODECS.index(j["codec"]), attrs & 7)
    eq("is_transactional", j["is_transactional"], bool(attrs & 0x10))
    eq("timestamp_type", j["timestamp_type"], (attrs >> 3) & 1)
    eq("base_offset", j["base_offset"], base_offset)
    eq("partition_leader_epoch", j["partition_leader_epoch"], ple)
    eq("last_offset_delta", j["last_offset_delta"], last_delta)
    eq("base_timestamp", j["base_timestamp"], base_ts)
    eq("max_timestamp", j["max_timestamp"], max_ts)
    eq("producer_id", j["producer_id"], pid)
    eq("producer_epoch", j["producer_epoch"], epoch)
    eq("base_sequence", j["base_sequence"], seq)
    eq("record_count", j["record_count"], count)
    eq("record_count vs records", j["record_count"], len(j["records"]))

    batch = DefaultRecordBatch(data)
    if not batch.validate_crc():
        errs.append("kafka-python validate_crc failed")
    recs = list(batch)
    eq("decoded records", len(j["records"]), len(recs))
    for i, (r, e) in enumerate(zip(recs, j["records"])):
        p = "record[%d]." % i
        eq(p + "offset", j["base_offset"] + e["offset_delta"], r.offset)
        eq(p + "timestamp", e["timestamp"], r.timestamp)
        eq(p + "key", unb64(e["key_b64"]), r.key)
        eq(p + "value", unb64(e["value_b64"]), r.value)
        eq(p + "headers", [(k, unb64(v)) for k, v in e["headers"]],
           [(k, v) for k, v in r.headers])
    if errs:
        raise SystemExit("FAIL %s:\n  %s" % (name, "\n  ".join(errs[:10])))


def dump(j):
    """Header fields one per line, one record per line."""
    lines = ["{"]
    for k, v in j.items():
        if k != "records":
            lines.append("  %s: %s," % (json.dumps(k), json.dumps(v, ensure_ascii=False)))
    lines.append('  "records": [')
    lines.append(",\n".join("    " + json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                            for r in j["records"]))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def payload_prefix(data, j):
    """First bytes of the compressed records section (codec framing)."""
    if j["codec"] == "none":
        return None
    return data[61:61 + 16].hex()


def main():
    work, out = sys.argv[1], sys.argv[2]
    for old in glob.glob(os.path.join(out, "python_*")) + glob.glob(os.path.join(out, "java_*")):
        os.remove(old)
    index = []
    bins = {}
    for src in ("python", "java"):
        for jp in sorted(glob.glob(os.path.join(work, src, "*.json"))):
            name = os.path.basename(jp)[:-5]
            with open(jp, encoding="utf-8") as f:
                j = json.load(f)
            with open(jp[:-5] + ".bin", "rb") as f:
                data = f.read()
            check(name, data, j)
            with open(os.path.join(out, name + ".bin"), "wb") as f:
                f.write(data)
            with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
                f.write(dump(j))
            bins[name] = data
            index.append({
                "name": name, "source": j["source"], "case": j["case"],
                "codec": j["codec"], "requested_codec": j["requested_codec"],
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "compressed_prefix_hex": payload_prefix(data, j),
            })
    # identical inputs -> identical bytes?
    for e in index:
        if e["name"].startswith("python_"):
            other = "java_" + e["name"][len("python_"):]
            if other in bins:
                same = bins[other] == bins[e["name"]]
                e["java_bytes_identical"] = same
                next(x for x in index if x["name"] == other)["python_bytes_identical"] = same
    with open(os.path.join(out, "index.json"), "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps(e) for e in index) + "\n]\n")
    n_same = sum(1 for e in index if e.get("java_bytes_identical"))
    n_pairs = sum(1 for e in index if "java_bytes_identical" in e)
    print("finalize: %d vectors verified (CRC-32C, header, kafka-python decode); "
          "%d/%d python/java pairs byte-identical" % (len(index), n_same, n_pairs))
    for e in index:
        if "java_bytes_identical" in e:
            print("  %-28s identical=%s" % (e["name"][len("python_"):], e["java_bytes_identical"]))
    print("python-decode: %d passed, 0 failed" % len(index))


if __name__ == "__main__":
    main()
