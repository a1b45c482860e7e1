//! murmur2 and keyed partitioning against the Java client: tests/vectors/murmur2/murmur2.json was
//! written by kafka-clients 4.1.1 (`Utils.murmur2`, `Utils.toPositive(h) % n`) and cross-checked
//! with kafka-python before it was committed.

use kprod_core::partitioner::{key_partition, murmur2};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex in vector file")).collect()
}

#[test]
fn murmur2_and_partition_agree_with_java_on_every_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/murmur2/murmur2.json");
    let text = std::fs::read_to_string(path).expect("vector file present");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let vectors = vectors.as_array().expect("array of vectors");
    assert!(vectors.len() > 500, "vector file looks truncated");
    let mut checked = 0;
    for v in vectors {
        let key = hex(v["key_hex"].as_str().expect("key_hex"));
        let want = v["murmur2"].as_i64().expect("murmur2") as i32;
        assert_eq!(murmur2(&key), want, "murmur2 of {}", v["label"]);
        for (n, p) in v["partitions"].as_object().expect("partitions") {
            let n: u32 = n.parse().expect("partition count");
            assert_eq!(key_partition(&key, n) as u64, p.as_u64().expect("partition"), "key {} n {n}", v["label"]);
            checked += 1;
        }
    }
    assert!(checked > 4000);
}
