#!/usr/bin/env python3
"""Builds the seed corpus of every fuzz target from the committed cross-check vectors.

    python3 fuzz/make_corpus.py

Sources (both written by the Java client or kafka-python, never by kprod):
- tests/vectors/protocol/vectors.txt: response bodies of every version, plus the response
  header version of every API version;
- tests/vectors/batches/*.bin and *.json: record batches of every codec and their records.

It writes fuzz/corpus/<target>/seed-*; files there without that prefix (regression inputs found
by fuzzing, see fuzz/README.md) are left alone. Deterministic: running it twice changes nothing.
Stdlib only.
"""

import base64
import hashlib
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "tests/vectors/protocol/vectors.txt"
TXN_PROTOCOL = ROOT / "tests/vectors/protocol/txn/vectors.txt"
BATCHES = ROOT / "tests/vectors/batches"
CORPUS = ROOT / "fuzz/corpus"

HEADER_LEN = 61  # record batch v2 header, up to and including RecordCount
MAX_FILES = 48  # per target
MAX_SEED = 16 * 1024  # bytes; larger vectors slow every run and add little

# Response targets and the API order of the `response_frame` selector byte (fuzz/src/lib.rs APIS).
RESPONSE_TARGETS = {
    "api_versions": (18, "api_versions_response"),
    "metadata": (3, "metadata_response"),
    "produce": (0, "produce_response"),
    "init_producer_id": (22, "init_producer_id_response"),
    "sasl_handshake": (17, "sasl_handshake_response"),
    "sasl_authenticate": (36, "sasl_authenticate_response"),
    "find_coordinator": (10, "find_coordinator_response"),
    "add_partitions_to_txn": (24, "add_partitions_to_txn_response"),
    "add_offsets_to_txn": (25, "add_offsets_to_txn_response"),
    "end_txn": (26, "end_txn_response"),
    "txn_offset_commit": (28, "txn_offset_commit_response"),
}
SELECTOR = {name: i for i, name in enumerate(RESPONSE_TARGETS)}
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

# `sasl_client`: the Java client's sasl.jaas.config lines (Kafka's docs) and RFC 7677's
# SCRAM-SHA-256 server messages (the target's user is the RFC's `user`/`pencil`).
JAAS_LINES = {
    "plain": 'org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";',
    "scram": 'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a\\"b" tokenauth=true;',
    "oauth": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
             'unsecuredLoginStringClaim_sub="alice" unsecuredLoginListClaim_scope=",a,b" '
             'unsecuredLoginNumberClaim_n="7" unsecuredLoginExtension_traceId="x" unsecuredLoginLifetimeSeconds="60";',
}
SCRAM_RFC7677 = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def read_protocol():
    """Response cases as (api name, version, label, body), and {(api key, version): header v}."""
    cases, header_versions = [], {}
    case = None
    for line in PROTOCOL.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "header":
            api, version, _request_header, response_header = map(int, parts[1:5])
            header_versions[(api, version)] = response_header
        elif parts[0] == "case":
            case = {"api": parts[1], "kind": parts[2], "version": int(parts[3]),
                    "label": parts[4] if len(parts) > 4 else "", "body": None}
        elif line.startswith("body=") and case is not None:
            case["body"] = bytes.fromhex(line[len("body="):])
        elif parts[0] == "end" and case is not None:
            if case["kind"] == "response" and case["api"] in RESPONSE_TARGETS:
                cases.append((case["api"], case["version"], case["label"], case["body"]))
            case = None
    # The transaction APIs' vectors (tests/vectors/protocol/txn): `api kind version hex` lines;
    # their response headers are v1 from the first flexible version (3), else v0.
    for line in TXN_PROTOCOL.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] == "response" and parts[0] in RESPONSE_TARGETS:
            api, version = parts[0], int(parts[2])
            cases.append((api, version, "", bytes.fromhex(parts[3])))
            header_versions[(RESPONSE_TARGETS[api][0], version)] = 1 if version >= 3 else 0
    return cases, header_versions


def frame(correlation_id, header_version, body):
    header = struct.pack(">i", correlation_id) + (b"\x00" if header_version >= 1 else b"")
    return struct.pack(">i", len(header) + len(body)) + header + body


def batch_files():
    """(stem, bytes, json) for every batch vector, smallest first within a name order."""
    out = []
    for path in sorted(BATCHES.glob("*.bin")):
        meta = path.with_suffix(".json")
        out.append((path.stem, path.read_bytes(), json.loads(meta.read_text()) if meta.exists() else None))
    return out


def codec_of(batch):
    return struct.unpack(">h", batch[21:23])[0] & 7


def records_input(meta, codec, flags):
    """A `record_roundtrip` input (layout in fuzz_targets/record_roundtrip.rs) for a batch's
    records, or None if a field does not fit the layout."""
    out = bytearray([codec, flags]) + struct.pack(">HH", 65535, 16384)
    base = 1_700_000_000_000
    for rec in meta["records"]:
        key = None if rec.get("key_b64") is None else base64.b64decode(rec["key_b64"])
        value = None if rec.get("value_b64") is None else base64.b64decode(rec["value_b64"])
        headers = rec.get("headers", [])
        if len(headers) > 7 or len(key or b"") > 255 or len(value or b"") > 255:
            return None
        delta = rec["timestamp"] - base
        raw_ts = not -32768 <= delta <= 32767
        rflags = (key is None) | (value is None) << 1 | raw_ts << 2 | len(headers) << 4
        out += bytes([rflags, len(key or b""), len(value or b"")])
        out += struct.pack(">q", rec["timestamp"]) if raw_ts else struct.pack(">h", delta)
        out += (key or b"") + (value or b"")
        for hkey, hval in headers:
            hkey = hkey.encode()
            hval = None if hval is None else base64.b64decode(hval)
            if len(hkey) > 255 or (hval is not None and len(hval) > 254):
                return None
            out += bytes([len(hkey), 255 if hval is None else len(hval)]) + hkey + (hval or b"")
    return bytes(out)


def build():
    corpus = {}

    def add(target, name, data):
        if len(data) <= MAX_SEED:
            corpus.setdefault(target, {})[name] = data

    cases, header_versions = read_protocol()
    for api, version, label, body in cases:
        key, target = RESPONSE_TARGETS[api]
        suffix = f"-{label}" if label else ""
        add(target, f"v{version:02d}{suffix}", struct.pack(">h", version) + body)
        one = frame(version + 1, header_versions[(key, version)], body)
        add("response_frame", f"{api}-v{version:02d}{suffix}",
            bytes([SELECTOR[api]]) + struct.pack(">h", version) + one + one)

    for name, line in JAAS_LINES.items():
        add("sasl_client", f"jaas-{name}", b"\x00" + line.encode())
    first, final = SCRAM_RFC7677
    add("sasl_client", "scram-sha256-rfc7677", b"\x01" + first + b"\x00" + final)
    add("sasl_client", "scram-sha512", b"\x03" + first + b"\x00" + b"e=invalid-proof")

    batches = batch_files()
    for stem, data, _ in batches:
        add("record_batch", stem, data)
    # Two batches back to back, as in a fetch response, and a truncated one after a whole one.
    small = [d for _, d, _ in batches if len(d) < 300]
    add("record_batch", "stream-two", small[0] + small[1])
    add("record_batch", "stream-truncated", small[0] + small[1][: len(small[1]) // 2])

    for stem, data, meta in batches:
        codec = codec_of(data)
        payload = data[HEADER_LEN:]
        if codec:
            add(next(n for n, c in CODECS.items() if c == codec), stem, payload)
        else:
            for name, c in CODECS.items():
                if stem.startswith("java_"):
                    add("compress_roundtrip", f"{name}-{stem}", bytes([c, 0]) + payload)
        if meta is not None and stem.startswith("java_none_"):
            flags = 1 if meta.get("is_transactional") else 0
            for name, c in CODECS.items():
                data_in = records_input(meta, c, flags)
                if data_in is not None:
                    add("record_roundtrip", f"{name}-{stem}", data_in)
    return corpus


def select(files):
    """The distinct inputs, at most MAX_FILES of them spread evenly over the size order (so the
    smallest and the largest stay)."""
    seen, distinct = set(), []
    for name, data in sorted(files.items(), key=lambda kv: (len(kv[1]), kv[0])):
        digest = hashlib.sha1(data).digest()
        if digest not in seen:
            seen.add(digest)
            distinct.append((name, data))
    if len(distinct) <= MAX_FILES:
        return distinct
    step = (len(distinct) - 1) / (MAX_FILES - 1)
    return [distinct[round(i * step)] for i in range(MAX_FILES)]


def main():
    corpus = build()
    total = count = 0
    for target, files in sorted(corpus.items()):
        chosen = select(files)
        out = CORPUS / target
        out.mkdir(parents=True, exist_ok=True)
        wanted = {f"seed-{name}" for name, _ in chosen}
        for old in out.glob("seed-*"):
            if old.name not in wanted:
                old.unlink()
        for name, data in chosen:
            path = out / f"seed-{name}"
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
        size = sum(len(d) for _, d in chosen)
        total += size
        count += len(chosen)
        print(f"{target:28} {len(chosen):3} files {size:8} bytes")
    print(f"{'total':28} {count:3} files {total:8} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
