//! Our response decoders' output, flattened as the vectors write fields.

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::init_producer_id::*;
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::sasl_authenticate::*;
use kprod_core::protocol::sasl_handshake::*;
use kprod_core::protocol::Response;
use kprod_core::wire::DecodeError;

use super::{hex, Flat, Map};

pub(crate) fn flat_api_versions(r: &ApiVersionsResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.list("api_keys", r.api_keys, |f, p, k| {
        f.put(&format!("{p}api_key"), k.api_key.code());
        f.put(&format!("{p}min_version"), k.min_version);
        f.put(&format!("{p}max_version"), k.max_version);
    });
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("supported_features", r.supported_features, |f, p, k| {
        f.put(&format!("{p}name"), k.name);
        f.put(&format!("{p}min_version"), k.min_version);
        f.put(&format!("{p}max_version"), k.max_version);
    });
    f.put("finalized_features_epoch", r.finalized_features_epoch);
    f.list("finalized_features", r.finalized_features, |f, p, k| {
        f.put(&format!("{p}name"), k.name);
        f.put(&format!("{p}max_version_level"), k.max_version_level);
        f.put(&format!("{p}min_version_level"), k.min_version_level);
    });
    f.put("zk_migration_ready", r.zk_migration_ready);
    f.0
}

pub(crate) fn flat_metadata(r: &MetadataResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("brokers", r.brokers, Flat::node);
    f.opt("cluster_id", r.cluster_id);
    f.put("controller_id", r.controller_id);
    f.list("topics", r.topics, |f, p, t| {
        f.err(&format!("{p}error_code"), t.error_code);
        f.opt(&format!("{p}name"), t.name);
        f.put(&format!("{p}topic_id"), hex(&t.topic_id));
        f.put(&format!("{p}is_internal"), t.is_internal);
        f.list(&format!("{p}partitions"), t.partitions, |f, p, q| {
            f.err(&format!("{p}error_code"), q.error_code);
            f.put(&format!("{p}partition_index"), q.partition_index);
            f.put(&format!("{p}leader_id"), q.leader_id);
            f.put(&format!("{p}leader_epoch"), q.leader_epoch);
            f.ints(&format!("{p}replica_nodes"), q.replica_nodes);
            f.ints(&format!("{p}isr_nodes"), q.isr_nodes);
            f.ints(&format!("{p}offline_replicas"), q.offline_replicas);
        });
        f.put(&format!("{p}topic_authorized_operations"), t.topic_authorized_operations);
    });
    f.put("cluster_authorized_operations", r.cluster_authorized_operations);
    f.err("error_code", r.error_code);
    f.0
}

pub(crate) fn flat_produce(r: &ProduceResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.list("responses", r.responses, |f, p, t| {
        f.put(&format!("{p}name"), t.name);
        f.put(&format!("{p}topic_id"), hex(&t.topic_id));
        f.list(&format!("{p}partition_responses"), t.partition_responses, |f, p, q| {
            f.put(&format!("{p}index"), q.index);
            f.err(&format!("{p}error_code"), q.error_code);
            f.put(&format!("{p}base_offset"), q.base_offset);
            f.put(&format!("{p}log_append_time_ms"), q.log_append_time_ms);
            f.put(&format!("{p}log_start_offset"), q.log_start_offset);
            f.list(&format!("{p}record_errors"), q.record_errors, |f, p, e| {
                f.put(&format!("{p}batch_index"), e.batch_index);
                f.opt(&format!("{p}batch_index_error_message"), e.batch_index_error_message);
            });
            f.opt(&format!("{p}error_message"), q.error_message);
            let leader = q.current_leader.unwrap_or(LeaderIdAndEpoch { leader_id: -1, leader_epoch: -1 });
            f.put(&format!("{p}current_leader.leader_id"), leader.leader_id);
            f.put(&format!("{p}current_leader.leader_epoch"), leader.leader_epoch);
        });
    });
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("node_endpoints", r.node_endpoints, Flat::node);
    f.0
}

pub(crate) fn flat_init_producer_id(r: &InitProducerIdResponse) -> Map {
    let mut f = Flat::default();
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.err("error_code", r.error_code);
    f.put("producer_id", r.producer_id);
    f.put("producer_epoch", r.producer_epoch);
    f.put("ongoing_txn_producer_id", r.ongoing_txn_producer_id);
    f.put("ongoing_txn_producer_epoch", r.ongoing_txn_producer_epoch);
    f.0
}

pub(crate) fn flat_sasl_handshake(r: &SaslHandshakeResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.list("mechanisms", r.mechanisms, |f, p, m| f.put(p.trim_end_matches('.'), m));
    f.0
}

pub(crate) fn flat_sasl_authenticate(r: &SaslAuthenticateResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.opt("error_message", r.error_message);
    f.put("auth_bytes", hex(r.auth_bytes));
    f.put("session_lifetime_ms", r.session_lifetime_ms);
    f.0
}

/// Decodes a response body and flattens it, or `None` for a case that is not a response.
pub(crate) fn decode_flat(what: &str, v: i16, body: &[u8]) -> Option<Result<Map, DecodeError>> {
    pub(crate) fn go<'a, R: Response<'a>>(v: i16, body: &'a [u8], flat: fn(&R) -> Map) -> Result<Map, DecodeError> {
        R::decode(v, body).map(|r| flat(&r))
    }
    Some(match what.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["api_versions", "response"] => go(v, body, flat_api_versions),
        ["metadata", "response"] => go(v, body, flat_metadata),
        ["produce", "response"] => go(v, body, flat_produce),
        ["init_producer_id", "response"] => go(v, body, flat_init_producer_id),
        ["sasl_handshake", "response"] => go(v, body, flat_sasl_handshake),
        ["sasl_authenticate", "response"] => go(v, body, flat_sasl_authenticate),
        _ => return None,
    })
}
