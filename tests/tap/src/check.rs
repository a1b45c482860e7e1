//! The records the test produces, and the comparison with what the independent verifier read
//! back.

use kprod_core::partitioner::key_partition;
use kprod_tests::ConsumedRecord;

use crate::run::{Owned, Produced};

/// CreateTime of record 0; record `i` has `BASE_TIMESTAMP + i`.
pub(crate) const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// Record `i` of the test: unique and checkable. Its `seq` header carries `i`; its value (when
/// not null) starts with `tap-<i>:` followed by bytes derived from `i`. Keys repeat (every
/// thousandth), some are null (sticky partitioner) or empty; a few values are null; headers
/// include empty, null and non-ASCII ones.
pub(crate) fn expected(i: usize) -> Owned {
    let key = match i % 10 {
        0 => None,
        5 => Some(Vec::new()),
        _ => Some(format!("key-{}", i % 1000).into_bytes()),
    };
    let value = if i % 97 == 13 && key.is_some() {
        None
    } else {
        let mut v = format!("tap-{i:06}:").into_bytes();
        v.extend((0..i % 300).map(|j| ((i * 131 + j * 17) % 251) as u8));
        Some(v)
    };
    let mut headers = vec![("seq".to_owned(), Some(i.to_string().into_bytes()))];
    if i.is_multiple_of(4) {
        headers.push(("empty".to_owned(), Some(Vec::new())));
    }
    if i.is_multiple_of(7) {
        headers.push(("null".to_owned(), None));
    }
    if i.is_multiple_of(3) {
        headers.push(("größe".to_owned(), Some("äöü ✓".as_bytes().to_vec())));
    }
    Owned { key, value, headers, timestamp: BASE_TIMESTAMP + i as i64 }
}

/// Compares the read-back records with `expected` and with what the completions said:
/// every record exactly once, every field equal, in the partition and at the offset its
/// completion reported, keyed records in their murmur2 partition. Returns the problems found
/// (at most 20 described, then a count).
pub(crate) fn compare(
    topic: &str,
    partitions: u32,
    expected: &[Owned],
    produced: &Produced,
    read: &[ConsumedRecord],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut more = 0usize;
    let mut note = |p: String| {
        if problems.len() < 20 {
            problems.push(p);
        } else {
            more += 1;
        }
    };
    if read.len() != expected.len() {
        note(format!("read back {} records, produced {}", read.len(), expected.len()));
    }
    let mut seen = vec![0u32; expected.len()];
    for r in read {
        let seq = r.headers.first().filter(|(k, _)| k == "seq").and_then(|(_, v)| v.as_deref());
        let Some(i) = seq
            .and_then(|v| core::str::from_utf8(v).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&i| i < expected.len())
        else {
            note(format!("a record without a valid seq header at {}-{}@{}", r.topic, r.partition, r.offset));
            continue;
        };
        seen[i] += 1;
        if seen[i] > 1 {
            note(format!("record {i} read {} times (again at {}@{})", seen[i], r.partition, r.offset));
            continue;
        }
        let e = &expected[i];
        if r.topic != topic || r.key != e.key || r.value != e.value || r.headers != e.headers {
            note(format!("record {i} differs: read {r:?}, expected {e:?}"));
        }
        if r.timestamp != e.timestamp || r.timestamp_type != 0 {
            note(format!(
                "record {i}: timestamp {} type {}, expected {} CreateTime",
                r.timestamp, r.timestamp_type, e.timestamp
            ));
        }
        let reported = produced
            .ids
            .get(i)
            .and_then(|id| produced.batches.get(&id.batch).map(|&(p, base)| (p, base + i64::from(id.index))));
        if reported != Some((r.partition as u32, r.offset)) {
            note(format!("record {i} is at {}@{}, its completion said {reported:?}", r.partition, r.offset));
        }
        if let Some(key) = &e.key {
            let p = key_partition(key, partitions);
            if r.partition as u32 != p {
                note(format!(
                    "record {i} (key {:?}) is in partition {}, murmur2 says {p}",
                    String::from_utf8_lossy(key),
                    r.partition
                ));
            }
        }
    }
    for (i, &n) in seen.iter().enumerate() {
        if n == 0 {
            note(format!("record {i} is missing"));
        }
    }
    if more > 0 {
        problems.push(format!("... and {more} more problems"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use kprod_core::producer::{BatchId, RecordId};

    use super::*;

    /// What a correct read-back of records `0..n` looks like, with all of them in one batch
    /// of partition `p` at offset 0 (keys ignored for the partition check: `partitions` 1).
    fn world(n: usize) -> (Vec<Owned>, Produced, Vec<ConsumedRecord>) {
        let expected: Vec<Owned> = (0..n).map(expected).collect();
        let mut produced = Produced {
            ids: (0..n as u32).map(|index| RecordId { batch: BatchId(7), index }).collect(),
            ..Produced::default()
        };
        produced.batches.insert(BatchId(7), (0, 0));
        let read = expected
            .iter()
            .enumerate()
            .map(|(i, e)| ConsumedRecord {
                topic: "t".into(),
                partition: 0,
                offset: i as i64,
                timestamp: e.timestamp,
                timestamp_type: 0,
                key: e.key.clone(),
                value: e.value.clone(),
                headers: e.headers.clone(),
            })
            .collect();
        (expected, produced, read)
    }

    #[test]
    fn a_faithful_read_back_passes_and_every_kind_of_damage_is_caught() {
        let (expected, produced, read) = world(30);
        assert_eq!(compare("t", 1, &expected, &produced, &read), Vec::<String>::new());

        let mut dup = read.clone();
        dup.push(read[3].clone());
        assert!(compare("t", 1, &expected, &produced, &dup).iter().any(|p| p.contains("record 3 read 2 times")));

        let missing = read[1..].to_vec();
        assert!(compare("t", 1, &expected, &produced, &missing).iter().any(|p| p.contains("record 0 is missing")));

        let mut changed = read.clone();
        changed[4].value.as_mut().unwrap()[0] ^= 1;
        assert!(compare("t", 1, &expected, &produced, &changed).iter().any(|p| p.contains("record 4 differs")));

        let mut header = read.clone();
        header[8].headers.pop();
        assert!(compare("t", 1, &expected, &produced, &header).iter().any(|p| p.contains("record 8 differs")));

        let mut moved = read.clone();
        moved[5].offset = 99;
        assert!(compare("t", 1, &expected, &produced, &moved).iter().any(|p| p.contains("its completion said")));

        let mut stamped = read;
        stamped[6].timestamp_type = 1;
        assert!(compare("t", 1, &expected, &produced, &stamped).iter().any(|p| p.contains("record 6: timestamp")));
    }

    #[test]
    fn keyed_records_must_be_in_their_murmur2_partition() {
        // Everything was read from partition 0 of 3: each keyed record murmur2 places elsewhere
        // is flagged, and only those.
        let (expected, produced, read) = world(20);
        let problems = compare("t", 3, &expected, &produced, &read);
        let misplaced: Vec<usize> =
            (0..20).filter(|&i| expected[i].key.as_deref().is_some_and(|k| key_partition(k, 3) != 0)).collect();
        assert!(!misplaced.is_empty());
        for i in 0..20 {
            let flagged = problems.iter().any(|p| p.starts_with(&format!("record {i} (key")));
            assert_eq!(flagged, misplaced.contains(&i), "record {i}: {problems:?}");
        }
    }

    #[test]
    fn record_contents_are_unique_and_cover_the_edge_cases() {
        let all: Vec<Owned> = (0..1000).map(expected).collect();
        let values: std::collections::HashSet<_> = all.iter().filter_map(|r| r.value.clone()).collect();
        assert_eq!(values.len(), all.iter().filter(|r| r.value.is_some()).count());
        assert!(all.iter().any(|r| r.key.is_none()) && all.iter().any(|r| r.key.as_deref() == Some(b"")));
        assert!(all.iter().any(|r| r.value.is_none()));
        assert!(all.iter().any(|r| r.headers.iter().any(|(_, v)| v.is_none())));
    }
}
