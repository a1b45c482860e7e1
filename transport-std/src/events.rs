//! What every driver does with the engine's events apart from sockets: completions taken out of
//! the registry (to resolve outside the lock), and the log lines for connects, failed batches,
//! fatal errors and retries. The blocking IO thread and the tokio driver task share it.

use std::collections::HashMap;
use std::sync::Arc;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{DeliveryError, Event, Producer as Engine};

use crate::delivery::{BatchOutcome, Completed};
use crate::error::Error;
use crate::shared::State;

/// A driver's bookkeeping of engine events.
#[derive(Default)]
pub(crate) struct EventBook {
    /// Topic names as `Arc<str>`, shared by every `RecordMetadata` of a topic.
    topics: HashMap<u16, Arc<str>>,
    /// Failed connects in a row, per connection slot.
    connect_failures: HashMap<u16, u32>,
    seen_retries: u64,
}

impl EventBook {
    /// Handles a completion (`Delivered`, `Failed`) or `Fatal` event: the batch's waiters, to
    /// resolve without the lock. `Connect` and `Close` are the driver's own; they give `None`.
    pub(crate) fn on_completion(&mut self, st: &mut State, event: Event) -> Option<Completed> {
        match event {
            Event::Delivered { batch, topic, partition, base_offset, log_append_time, .. } => {
                let topic = self.topic_name(&st.engine, topic);
                let outcome = BatchOutcome::Delivered { topic, partition, base_offset, log_append_time };
                st.registry.complete(batch, outcome)
            }
            Event::Failed { batch, topic, partition, records, reason } => {
                let name = self.topic_name(&st.engine, topic);
                log::warn!("kprod: {records} record(s) to {name}-{partition} failed: {reason}");
                if reason == DeliveryError::Closed {
                    st.failed_on_close += u64::from(records);
                }
                st.registry.complete(batch, BatchOutcome::Failed(Error::from_delivery(reason)))
            }
            Event::Fatal(e) => {
                log::error!("kprod: fatal producer error: {e}; every record now fails");
                None
            }
            Event::ConnectionFailed { conn, error } => {
                log::warn!("kprod: connection {} dropped: the broker {error}", conn.0);
                None
            }
            Event::Connect(_) | Event::Close(_) => None,
        }
    }

    /// A topic's name as an `Arc<str>` shared by the `RecordMetadata`s (one per topic).
    fn topic_name(&mut self, engine: &Engine<'static>, topic: u16) -> Arc<str> {
        let name = engine.topic_name(topic).unwrap_or("");
        match self.topics.get(&topic) {
            Some(known) if &**known == name => Arc::clone(known),
            _ => {
                let arc: Arc<str> = Arc::from(name);
                self.topics.insert(topic, Arc::clone(&arc));
                arc
            }
        }
    }

    /// A connection came up: logs it and ends its run of failures.
    pub(crate) fn connected(&mut self, id: ConnId, peer: &str) {
        log::info!("kprod: connected to {peer}");
        self.connect_failures.remove(&id.0);
    }

    /// Logs a failed connect: a warning for the first of a row, then at debug level (the
    /// engine retries with backoff while a broker is down).
    pub(crate) fn connect_failed(&mut self, id: ConnId, peer: &str, why: &str) {
        let n = self.connect_failures.entry(id.0).or_insert(0);
        *n += 1;
        if *n == 1 {
            log::warn!("kprod: cannot connect to {peer}: {why} (retrying with backoff)");
        } else {
            log::debug!("kprod: cannot connect to {peer}: {why} ({n} failures in a row)");
        }
    }

    /// Logs the retries the engine scheduled since the last call.
    pub(crate) fn log_retries(&mut self, engine: &Engine<'static>) {
        let retries = engine.metrics().retries;
        if retries > self.seen_retries {
            log::debug!("kprod: {} batch retr(ies) scheduled", retries - self.seen_retries);
            self.seen_retries = retries;
        }
    }
}
