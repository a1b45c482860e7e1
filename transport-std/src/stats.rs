//! The statistics snapshot: the producer's metrics as one JSON document, every
//! `statistics.interval.ms` to the statistics callback (librdkafka's `stats_cb`), or on demand
//! (`Producer::statistics_json`).
//!
//! ```json
//! {"name": "kprod", "type": "producer", "ts": 1700000000000,
//!  "producer-metrics": {"record-send-total": 3000.0, "record-send-rate": 1234.5, ...},
//!  "producer-topic-metrics": {"orders": {"record-send-total": 3000.0, "byte-rate": ...}},
//!  "producer-node-metrics": {"1": {"request-latency-avg": 2.5, ...}}}
//! ```
//!
//! Names are the Java producer's (group, then metric); a NaN (an average with nothing
//! recorded in the window) is `null`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;
use serde_json::{Map, Value};

use crate::hooks::StatisticsCallback;

fn group(metrics: &[(&'static str, f64)]) -> Value {
    // `Value::from` turns a NaN (or infinity) into null, which JSON can hold.
    Value::Object(metrics.iter().map(|&(name, v)| (name.to_owned(), Value::from(v))).collect())
}

/// The snapshot of `engine`'s metrics at `now` (wall clock `ts_ms`).
pub(crate) fn snapshot(engine: &Engine<'static>, now: Instant, ts_ms: i64) -> String {
    let topics: Map<String, Value> =
        engine.java_topic_metrics(now).into_iter().map(|(t, m)| (t.to_owned(), group(&m))).collect();
    let nodes: Map<String, Value> =
        engine.java_node_metrics(now).into_iter().map(|(id, m)| (id.to_string(), group(&m))).collect();
    let mut doc = Map::new();
    doc.insert("name".into(), Value::from(engine.config().client_id));
    doc.insert("type".into(), Value::from("producer"));
    doc.insert("ts".into(), Value::from(ts_ms));
    doc.insert("producer-metrics".into(), group(&engine.java_metrics_at(now)));
    doc.insert("producer-topic-metrics".into(), Value::Object(topics));
    doc.insert("producer-node-metrics".into(), Value::Object(nodes));
    Value::Object(doc).to_string()
}

/// Hands `json` to the statistics callback; a panic in it is logged.
pub(crate) fn deliver(callback: &StatisticsCallback, json: &str) {
    if catch_unwind(AssertUnwindSafe(|| callback(json))).is_err() {
        log::error!("kprod: the statistics callback panicked");
    }
}
