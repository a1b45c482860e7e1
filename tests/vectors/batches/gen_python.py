#!/usr/bin/env python3
"""Build record-batch v2 vectors with kafka-python's own batch builder.

    gen_python.py WORKDIR

Writes, for every case in cases.py and every codec:
    WORKDIR/python/NAME.bin   exact batch bytes (BaseOffset first)
    WORKDIR/python/NAME.json  expected values, taken from the *inputs*
and WORKDIR/cases.json (hex-encoded inputs) for the Java generator.
finalize.py then verifies everything and copies it into this directory.

Two deterministic patches, both outside the batch encoder itself:
  * gzip header MTIME: Python's gzip writes the wall clock into the gzip
    header; we pin it to 0 (= "no time", what Java writes too).
  * the "*-raw" snappy vectors swap kafka.codec.snappy_encode for its
    xerial_compatible=False mode (raw snappy block, no xerial framing, as
    e.g. librdkafka writes) to give readers a raw-snappy input.
"""
import base64
import json
import os
import sys
import types

import gzip
gzip.time = types.SimpleNamespace(time=lambda: 0)  # pin gzip MTIME (see above)

import kafka
import kafka.codec
import kafka.record.default_records as dr
from kafka.record.default_records import DefaultRecordBatchBuilder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as cases_mod  # noqa: E402

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_NAMES = {v: k for k, v in CODECS.items()}
SOURCE = "kafka-python %s" % kafka.__version__


def b64(b):
    return None if b is None else base64.b64encode(b).decode("ascii")


def build(case, codec_id):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec_id,
        is_transactional=case["is_transactional"],
        producer_id=case["producer_id"],
        producer_epoch=case["producer_epoch"],
        base_sequence=case["base_sequence"],
        batch_size=1 << 30)
    for r in case["records"]:
        meta = builder.append(r["offset_delta"], timestamp=r["timestamp"],
                              key=r["key"], value=r["value"],
                              headers=r["headers"])
        assert meta is not None
    return bytes(builder.build())


def expected_json(case, codec_name, requested, crc, source, notes=None):
    recs = case["records"]
    attrs = CODECS[codec_name] | (0x10 if case["is_transactional"] else 0)
    d = {
        "source": source,
        "case": case["name"],
        "description": case["description"],
        "codec": codec_name,
        "requested_codec": requested,
        "magic": 2,
        "attributes": attrs,
        "base_offset": case["base_offset"],
        "partition_leader_epoch": case["partition_leader_epoch"],
        "producer_id": case["producer_id"],
        "producer_epoch": case["producer_epoch"],
        "base_sequence": case["base_sequence"],
        "is_transactional": case["is_transactional"],
        "timestamp_type": 0,
        "base_timestamp": recs[0]["timestamp"],
        "max_timestamp": max(r["timestamp"] for r in recs),
        "last_offset_delta": recs[-1]["offset_delta"],
        "crc": crc,
        "record_count": len(recs),
    }
    if notes:
        d["notes"] = notes
    d["records"] = [{
        "offset_delta": r["offset_delta"],
        "timestamp": r["timestamp"],
        "key_b64": b64(r["key"]),
        "value_b64": b64(r["value"]),
        "headers": [[k, b64(v)] for k, v in r["headers"]],
    } for r in recs]
    return d


def main():
    work = sys.argv[1]
    outdir = os.path.join(work, "python")
    os.makedirs(outdir, exist_ok=True)
    case_list = cases_mod.cases()
    with open(os.path.join(work, "cases.json"), "w") as f:
        json.dump(cases_mod.to_json_inputs(case_list), f)

    jobs = [(c, codec, None) for c in case_list for codec in CODECS]
    jobs += [(c, "snappy", "raw") for c in case_list if c["name"] == "basic"]

    orig_snappy = dr.snappy_encode
    for case, codec, variant in jobs:
        notes = None
        if variant == "raw":
            dr.snappy_encode = lambda data: kafka.codec.snappy_encode(data, xerial_compatible=False)
            notes = ("kafka-python builder with kafka.codec.snappy_encode("
                     "xerial_compatible=False): raw snappy block, no xerial framing")
        try:
            data = build(case, CODECS[codec])
        finally:
            dr.snappy_encode = orig_snappy
        # kafka-python silently falls back to an uncompressed batch when
        # compression does not shrink the records; the attribute bits are
        # the only place that decision is visible.
        effective = CODEC_NAMES[data[22] & 0x07]
        if effective != codec:
            fb = ("kafka-python fell back to no compression: %s output was not "
                  "smaller than the raw records" % codec)
            notes = fb if notes is None else notes + "; " + fb
        crc = int.from_bytes(data[17:21], "big")  # CRC as written by the library
        name = "python_%s_%s%s" % (codec, case["name"], "-" + variant if variant else "")
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump(expected_json(case, effective, codec, crc, SOURCE, notes), f)
    print("gen_python: %d vectors (%s)" % (len(jobs), SOURCE))


if __name__ == "__main__":
    main()
