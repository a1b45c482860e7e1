"""Deterministic record-batch test cases shared by both generators.

This module is the single source of truth for the *inputs* of every batch
vector.  gen_python.py feeds these inputs to kafka-python's
DefaultRecordBatchBuilder; it also dumps them (hex-encoded) to a work file
that the Java generator (java/, kafka-clients MemoryRecordsBuilder) reads,
so both encoders get byte-for-byte identical inputs.

No wall clock, no unseeded randomness: the only PRNG is splitmix64 with
fixed seeds, implemented here (so Python's `random` algorithm changes can't
move the vectors).
"""

MASK64 = (1 << 64) - 1

BASE_TS = 1700000000000  # 2023-11-14T22:13:20Z, fixed

WORDS = [
    b"kafka", b"record", b"batch", b"producer", b"partition", b"offset",
    b"leader", b"epoch", b"sequence", b"idempotent", b"compression",
    b"header", b"value", b"key", b"topic", b"broker", b"the", b"a", b"of",
    b"and", b"to", b"in", b"zstd", b"lz4", b"snappy", b"gzip", b"crc32c",
    b"varint", b"timestamp", b"delta", b"magic", b"attributes",
]


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform-ish int in [0, n) (modulo bias is irrelevant here)."""
        return self.next_u64() % n

    def bytes(self, n):
        out = bytearray()
        while len(out) < n:
            out += self.next_u64().to_bytes(8, "little")
        return bytes(out[:n])


def text(rng, nbytes):
    """Compressible pseudo-text of exactly nbytes bytes."""
    out = bytearray()
    while len(out) < nbytes:
        out += WORDS[rng.below(len(WORDS))]
        out += b" "
    return bytes(out[:nbytes])


def rec(ts, key, value, headers=()):
    return {"timestamp": ts, "key": key, "value": value,
            "headers": [(k, v) for k, v in headers]}


def _case(name, desc, records, producer_id=-1, producer_epoch=-1,
          base_sequence=-1, is_transactional=False, partition_leader_epoch=0):
    for i, r in enumerate(records):
        r["offset_delta"] = i  # producers always write consecutive offsets
    return {
        "name": name,
        "description": desc,
        "base_offset": 0,
        "partition_leader_epoch": partition_leader_epoch,
        "producer_id": producer_id,
        "producer_epoch": producer_epoch,
        "base_sequence": base_sequence,
        "is_transactional": is_transactional,
        "records": records,
    }


def cases():
    out = []

    # (a) keys, values, headers (incl. null header value, empty header value,
    # duplicate header keys, non-ASCII header key), distinct timestamps incl.
    # one that is earlier than the first record (negative timestamp delta).
    rng = SplitMix64(1)
    out.append(_case("basic", "5 records with keys, values and headers; "
                     "record 3 has a timestamp before the base timestamp", [
        rec(BASE_TS, b"key-0", b"value-0: " + text(rng, 80),
            [("trace-id", b"abc123"), ("null-header", None)]),
        rec(BASE_TS + 1, b"key-1", b"value-1: " + text(rng, 80)),
        rec(BASE_TS + 250, b"key-2", b"value-2: " + text(rng, 80),
            [("empty", b""), ("\u043a\u043b\u044e\u0447", b"\x00\xff\x80\x7f")]),
        rec(BASE_TS - 5, b"key-3", b"value-3: " + text(rng, 80),
            [("dup", b"1"), ("dup", b"2")]),
        rec(BASE_TS + 100000, b"key-4", b"value-4: " + text(rng, 80),
            [("content-type", b"text/plain")]),
    ]))

    # a single minimal record: easiest vector to debug against
    out.append(_case("single", "1 record, key and value, no headers", [
        rec(BASE_TS, b"k", b"hello kafka"),
    ]))

    # (b) null / empty keys and values
    out.append(_case("nulls", "null and empty keys/values, tombstone, "
                     "null-value header", [
        rec(BASE_TS + 10, None, None),
        rec(BASE_TS + 20, b"", b""),
        rec(BASE_TS + 30, None, b""),
        rec(BASE_TS + 40, b"", None),
        rec(BASE_TS + 50, b"tombstone-key", None),
        rec(BASE_TS + 60, None, b"value-without-key"),
        rec(BASE_TS + 70, None, None, [("h", None)]),
    ]))

    # (c) idempotent producer fields.  producer_id > 2^32 catches 32-bit
    # truncation.
    rng = SplitMix64(3)
    out.append(_case("idempotent", "idempotent producer: pid/epoch/base_sequence set", [
        rec(BASE_TS + 1000 + i, b"idem-%d" % i, b"idempotent payload %d; " % i * 4 + text(rng, 20)) for i in range(3)
    ], producer_id=4242424242, producer_epoch=3, base_sequence=17))

    # (c') transactional; epoch > 255 catches u8 truncation
    rng = SplitMix64(4)
    out.append(_case("transactional", "transactional producer: attribute bit 4 set", [
        rec(BASE_TS + 2000 + i, b"txn-%d" % i, b"transactional payload %d; " % i * 4 + text(rng, 20),
            [("txn", b"%d" % i)]) for i in range(4)
    ], producer_id=9000000000001, producer_epoch=258, base_sequence=1000,
        is_transactional=True))

    # (c'') idempotent batch whose sequence range wraps past i32::MAX
    rng = SplitMix64(5)
    out.append(_case("seqwrap", "idempotent, base_sequence = i32::MAX - 4 with "
                     "10 records: last sequence wraps to 4", [
        rec(BASE_TS + 3000 + i, b"wrap-%d" % i, text(rng, 40)) for i in range(10)
    ], producer_id=77, producer_epoch=0, base_sequence=2147483647 - 4))

    # (d) 500 records of varied sizes
    rng = SplitMix64(6)
    many = []
    ts = BASE_TS
    for i in range(500):
        ts += rng.below(7)  # non-decreasing, often equal
        key = None if i % 50 == 49 else b"user-%d" % rng.below(37)
        size_class = rng.below(10)
        if size_class == 0:
            value = b""
        elif size_class < 8:
            value = text(rng, 3 + rng.below(22))
        elif size_class == 8:
            value = text(rng, 60 + rng.below(141))
        else:
            value = rng.bytes(1 + rng.below(16))  # incompressible bytes
        headers = []
        if i % 10 == 0:
            headers.append(("seq", b"%d" % i))
        if i % 25 == 0:
            headers.append(("null", None))
        many.append(rec(ts, key, value, headers))
    out.append(_case("many", "500 records, varied key/value sizes, some "
                     "headers, some null keys", many))

    # (e) one 100 KiB value: a 3000-byte pseudo-text block repeated (so it
    # compresses to a few KiB and keeps the committed files small), spanning
    # several snappy (32 KiB) and lz4 (64 KiB) blocks.
    rng = SplitMix64(7)
    block = text(rng, 3000)
    out.append(_case("big", "1 record with a 102400-byte value (3000-byte text block repeated)", [
        rec(BASE_TS + 5000, b"big", (block * 35)[:100 * 1024], [("size", b"102400")]),
    ]))
    return out


def to_json_inputs(case_list):
    """Hex-encoded form of the cases for the Java generator."""
    def hx(b):
        return None if b is None else b.hex()
    res = []
    for c in case_list:
        d = {k: v for k, v in c.items() if k != "records"}
        d["records"] = [{
            "offset_delta": r["offset_delta"],
            "timestamp": r["timestamp"],
            "key_hex": hx(r["key"]),
            "value_hex": hx(r["value"]),
            "headers": [[k, hx(v)] for k, v in r["headers"]],
        } for r in c["records"]]
        res.append(d)
    return res
