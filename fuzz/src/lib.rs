//! Shared code of the fuzz targets: input layout, and walkers that touch every field of a decoded
//! value. Decoded arrays ([`Array`]) and record headers are lazy and re-parse their bytes when
//! iterated, so a target that only called `decode` would miss that code: every walker iterates
//! every array, nested ones included.
//!
//! The targets assert only what no input may break: no panic, bounded memory, and invariants of
//! kprod-core's own API (an array that validated iterates to its length; a slice and a `Vec`
//! decompress the same bytes the same way; round trips give back what went in).

pub mod engine;

use std::hint::black_box;

use kprod_core::compression::{Compression, DecompressError};
use kprod_core::protocol::api_versions::ApiVersionsResponse;
use kprod_core::protocol::init_producer_id::InitProducerIdResponse;
use kprod_core::protocol::metadata::{MetadataResponse, MetadataResponsePartition, MetadataResponseTopic};
use kprod_core::protocol::produce::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse};
use kprod_core::protocol::sasl_authenticate::SaslAuthenticateResponse;
use kprod_core::protocol::sasl_handshake::SaslHandshakeResponse;
use kprod_core::protocol::{ApiKey, Array, Decode, ErrorCode, Node, Response};
use kprod_core::record::{RecordBatch, RecordView, Records};

/// Largest decompressed size the targets allow (the `Vec` paths).
pub const MAX_OUTPUT: usize = 1 << 20;
/// Size of the fixed output slice the targets also decompress into.
pub const SLICE_OUTPUT: usize = 64 << 10;

/// The APIs with a response decoder, in the order `response_frame`'s selector byte uses.
pub const APIS: [ApiKey; 11] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::Produce,
    ApiKey::InitProducerId,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::FindCoordinator,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
];

/// Splits a response target's input: 2 bytes (big-endian i16) of version, then the body.
/// Returns the raw version, that version folded into the API's schema range, and the body.
pub fn split_version(api: ApiKey, data: &[u8]) -> Option<(i16, i16, &[u8])> {
    let (v, body) = data.split_first_chunk::<2>()?;
    let raw = i16::from_be_bytes(*v);
    Some((raw, fold_version(api, raw), body))
}

/// `raw` if it is in the schema range of `api`, else a version of that range chosen by `raw`.
pub fn fold_version(api: ApiKey, raw: i16) -> i16 {
    // Only called for APIs kprod implements.
    let range = api.schema_versions().expect("api with a schema range");
    if range.contains(raw) {
        return raw;
    }
    let n = i32::from(range.max) - i32::from(range.min) + 1;
    // The sum lies within the range, so it fits an i16.
    (i32::from(range.min) + i32::from(raw).rem_euclid(n)) as i16
}

/// Decodes `body` as a response of `api` at `version` and walks the result.
pub fn decode_response(api: ApiKey, version: i16, body: &[u8]) {
    match api {
        ApiKey::ApiVersions => decode_with(version, body, walk_api_versions),
        ApiKey::Metadata => decode_with(version, body, walk_metadata),
        ApiKey::Produce => decode_with(version, body, walk_produce),
        ApiKey::InitProducerId => decode_with(version, body, walk_init_producer_id),
        ApiKey::SaslHandshake => decode_with(version, body, walk_sasl_handshake),
        ApiKey::SaslAuthenticate => decode_with(version, body, walk_sasl_authenticate),
        ApiKey::FindCoordinator => decode_with(version, body, txn::walk_find_coordinator),
        ApiKey::AddPartitionsToTxn => decode_with(version, body, txn::walk_add_partitions),
        ApiKey::AddOffsetsToTxn => decode_with(version, body, txn::walk_add_offsets),
        ApiKey::EndTxn => decode_with(version, body, txn::walk_end_txn),
        ApiKey::TxnOffsetCommit => decode_with(version, body, txn::walk_txn_offset_commit),
        ApiKey::Other(_) => {}
    }
}

/// The body of every response target: decode at the folded version, and when the raw version is
/// outside the schema range, at the raw one too (which must fail cleanly, or for ApiVersions fall
/// back to v0).
pub fn response_target(api: ApiKey, data: &[u8]) {
    let Some((raw, version, body)) = split_version(api, data) else {
        return;
    };
    decode_response(api, version, body);
    if raw != version {
        decode_response(api, raw, body);
    }
}

fn decode_with<'a, R: Response<'a>>(version: i16, body: &'a [u8], walk: fn(&R)) {
    if let Ok(resp) = R::decode(version, body) {
        walk(&resp);
    }
}

/// Iterates `array`, handing each element to `f`. The elements were validated when the message
/// decoded, so the iteration must yield exactly `len()` of them.
pub fn walk_array<'a, T: Decode<'a>>(array: &Array<'a, T>, mut f: impl FnMut(T)) {
    let mut n = 0usize;
    for item in array.iter() {
        f(item);
        n += 1;
    }
    assert_eq!(n, array.len(), "a validated array iterated to fewer elements than its length");
    assert_eq!(array.is_empty(), n == 0);
}

fn error_code(e: ErrorCode) {
    black_box((e.code(), e.name(), e.is_retriable(), e.is_invalid_metadata(), e.is_ok()));
    assert_eq!(ErrorCode::from_code(e.code()), e);
}

fn str_opt(s: Option<&str>) {
    black_box(s.map(str::len));
}

fn node(n: Node<'_>) {
    black_box((n.node_id, n.host.len(), n.port));
    str_opt(n.rack);
}

fn int(i: i32) {
    black_box(i);
}

/// Walks an ApiVersions response, and asks it for a version of every API.
pub fn walk_api_versions(r: &ApiVersionsResponse<'_>) {
    error_code(r.error_code);
    walk_array(&r.api_keys, |k| {
        black_box((k.api_key.code(), k.min_version, k.max_version));
        assert_eq!(ApiKey::from_code(k.api_key.code()), k.api_key);
    });
    walk_array(&r.supported_features, |f| {
        black_box((f.name.len(), f.min_version, f.max_version));
    });
    walk_array(&r.finalized_features, |f| {
        black_box((f.name.len(), f.max_version_level, f.min_version_level));
    });
    black_box((r.throttle_time_ms, r.finalized_features_epoch, r.zk_migration_ready));
    for api in APIS {
        if let Some(v) = r.choose(api) {
            let ours = api.supported_versions().expect("implemented api");
            let theirs = r.range(api).expect("choose found a range");
            assert!(ours.contains(v) && theirs.contains(v), "chosen version outside a range");
        }
    }
}

/// Walks a Metadata response: brokers, topics, partitions and their replica lists.
pub fn walk_metadata(r: &MetadataResponse<'_>) {
    black_box((r.throttle_time_ms, r.controller_id, r.cluster_authorized_operations));
    str_opt(r.cluster_id);
    error_code(r.error_code);
    walk_array(&r.brokers, node);
    walk_array(&r.topics, |t: MetadataResponseTopic<'_>| {
        error_code(t.error_code);
        str_opt(t.name);
        black_box((t.topic_id, t.is_internal, t.topic_authorized_operations));
        walk_array(&t.partitions, |p: MetadataResponsePartition<'_>| {
            error_code(p.error_code);
            black_box((p.partition_index, p.leader_id, p.leader_epoch));
            walk_array(&p.replica_nodes, int);
            walk_array(&p.isr_nodes, int);
            walk_array(&p.offline_replicas, int);
        });
    });
}

/// Walks a Produce response: topics, partitions, record errors, node endpoints.
pub fn walk_produce(r: &ProduceResponse<'_>) {
    black_box(r.throttle_time_ms);
    walk_array(&r.responses, |t: TopicProduceResponse<'_>| {
        black_box((t.name.len(), t.topic_id));
        walk_array(&t.partition_responses, |p: PartitionProduceResponse<'_>| {
            error_code(p.error_code);
            black_box((p.index, p.base_offset, p.log_append_time_ms, p.log_start_offset));
            str_opt(p.error_message);
            black_box(p.current_leader.map(|l| (l.leader_id, l.leader_epoch)));
            walk_array(&p.record_errors, |e| {
                black_box(e.batch_index);
                str_opt(e.batch_index_error_message);
            });
        });
    });
    walk_array(&r.node_endpoints, node);
}

/// Walks an InitProducerId response.
pub fn walk_init_producer_id(r: &InitProducerIdResponse) {
    error_code(r.error_code);
    black_box((r.throttle_time_ms, r.producer_id, r.producer_epoch));
    black_box((r.ongoing_txn_producer_id, r.ongoing_txn_producer_epoch));
}

/// Walks a SaslHandshake response.
pub fn walk_sasl_handshake(r: &SaslHandshakeResponse<'_>) {
    error_code(r.error_code);
    walk_array(&r.mechanisms, |m: &str| {
        black_box(m.len());
    });
}

/// Walks a SaslAuthenticate response.
pub fn walk_sasl_authenticate(r: &SaslAuthenticateResponse<'_>) {
    error_code(r.error_code);
    str_opt(r.error_message);
    black_box((r.auth_bytes.len(), r.session_lifetime_ms));
}

/// Walks records to the end; every header of a record that read must iterate.
pub fn walk_records(records: Records<'_>) {
    for rec in records {
        let Ok(rec) = rec else { break };
        walk_record(&rec);
    }
}

fn walk_record(rec: &RecordView<'_>) {
    black_box((rec.attributes, rec.timestamp_delta, rec.offset_delta, rec.timestamp, rec.offset));
    black_box((rec.key.map(<[u8]>::len), rec.value.map(<[u8]>::len)));
    let mut n = 0usize;
    for h in rec.headers() {
        black_box((h.key.len(), h.value.map(<[u8]>::len)));
        n += 1;
    }
    assert_eq!(n, rec.header_count(), "validated headers iterated to fewer than their count");
}

/// Reads every header field of a parsed batch and walks its records three ways: in place (when
/// uncompressed), decompressed into a fixed slice, and decompressed into a capped `Vec`.
pub fn walk_batch(batch: &RecordBatch<'_>, slice: &mut [u8]) {
    black_box((batch.base_offset(), batch.length(), batch.partition_leader_epoch(), batch.magic()));
    black_box((batch.crc(), batch.attributes(), batch.compression(), batch.timestamp_type()));
    black_box((batch.is_transactional(), batch.is_control(), batch.last_offset_delta()));
    black_box((batch.base_timestamp(), batch.max_timestamp(), batch.producer_state()));
    black_box((batch.record_count(), batch.records_data().len(), batch.len(), batch.as_bytes().len()));
    if let Ok(records) = batch.records() {
        walk_records(records);
    }
    let in_slice = batch.decompress_into(slice).map(|r| {
        walk_records(r.clone());
        r.count()
    });
    let in_vec = batch.decompress(MAX_OUTPUT).map(|owned| {
        walk_records(owned.iter());
        owned.iter().count()
    });
    // The fixed slice is the smaller cap: whatever fits it must read the same through the Vec.
    if let Ok(n) = in_slice {
        assert_eq!(in_vec, Ok(n), "slice and Vec decompression of one batch disagree");
    }
}

/// Decompresses `data` with `codec` through the `Vec` path (cap [`MAX_OUTPUT`]) and the slice
/// path, and checks they agree: same bytes whenever the output fits the slice, exact fit
/// included, and a failure whenever it does not.
pub fn check_decompress(codec: Compression, data: &[u8]) {
    let vec = codec.decompress_to_vec(data, MAX_OUTPUT);
    if let Ok(v) = &vec {
        assert!(v.len() <= MAX_OUTPUT, "decompress_to_vec passed its cap");
    }
    let mut slice = vec![0u8; SLICE_OUTPUT];
    let in_slice = codec.decompress(data, &mut slice);
    match (&vec, in_slice) {
        (Ok(v), Ok(n)) => assert_eq!(&slice[..n], &v[..], "slice and Vec outputs differ"),
        (Ok(v), Err(e)) if v.len() > SLICE_OUTPUT => {
            assert_eq!(e, DecompressError::LimitExceeded, "output larger than the slice");
        }
        (Ok(v), Err(e)) => panic!("{} bytes decompress into a Vec but not a slice: {e:?}", v.len()),
        (Err(e), Ok(n)) => panic!("{n} bytes decompress into a slice but not a Vec: {e:?}"),
        (Err(_), Err(_)) => {}
    }
    // Exact fit and one byte short, for outputs that are small enough to try cheaply.
    if let Ok(v) = &vec {
        if v.len() <= SLICE_OUTPUT {
            let mut exact = vec![0u8; v.len()];
            let n = codec.decompress(data, &mut exact);
            assert_eq!(n, Ok(v.len()), "output does not fit a slice of exactly its size");
            assert_eq!(&exact[..], &v[..]);
            if let Some(short) = v.len().checked_sub(1) {
                let mut small = vec![0u8; short];
                assert!(codec.decompress(data, &mut small).is_err(), "output fit a slice one byte short");
            }
        }
    }
}

/// Walkers of the transaction API responses.
pub mod txn {
    use core::hint::black_box;

    use kprod_core::protocol::add_offsets_to_txn::AddOffsetsToTxnResponse;
    use kprod_core::protocol::add_partitions_to_txn::{AddPartitionsToTxnResponse, TopicPartitionErrors};
    use kprod_core::protocol::end_txn::EndTxnResponse;
    use kprod_core::protocol::find_coordinator::{Coordinator, FindCoordinatorResponse};
    use kprod_core::protocol::txn_offset_commit::TxnOffsetCommitResponse;

    use super::{error_code, str_opt, walk_array};

    fn coordinator(c: Coordinator<'_>) {
        error_code(c.error_code);
        black_box((c.key.len(), c.node_id, c.host.len(), c.port));
        str_opt(c.error_message);
    }

    fn topic_errors(t: TopicPartitionErrors<'_>) {
        black_box(t.name.len());
        walk_array(&t.partitions, |p| {
            error_code(p.error_code);
            black_box(p.partition_index);
        });
    }

    /// Walks a FindCoordinator response.
    pub fn walk_find_coordinator(r: &FindCoordinatorResponse<'_>) {
        black_box(r.throttle_time_ms);
        r.single.into_iter().for_each(coordinator);
        walk_array(&r.coordinators, coordinator);
        black_box(r.coordinator("k"));
    }

    /// Walks an AddPartitionsToTxn response.
    pub fn walk_add_partitions(r: &AddPartitionsToTxnResponse<'_>) {
        black_box(r.throttle_time_ms);
        walk_array(&r.results, topic_errors);
    }

    /// Walks an AddOffsetsToTxn response.
    pub fn walk_add_offsets(r: &AddOffsetsToTxnResponse) {
        error_code(r.error_code);
        black_box(r.throttle_time_ms);
    }

    /// Walks an EndTxn response.
    pub fn walk_end_txn(r: &EndTxnResponse) {
        error_code(r.error_code);
        black_box((r.throttle_time_ms, r.producer_id, r.producer_epoch));
    }

    /// Walks a TxnOffsetCommit response.
    pub fn walk_txn_offset_commit(r: &TxnOffsetCommitResponse<'_>) {
        black_box(r.throttle_time_ms);
        walk_array(&r.topics, topic_errors);
    }
}
