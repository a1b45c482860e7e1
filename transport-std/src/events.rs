//! What both drivers (the blocking IO thread and the tokio task) do with the engine's events
//! apart from sockets, and with their own connection failures: completions taken out of the
//! registry (to resolve outside the lock), the typed cause of a failed connection
//! ([`ConnectionError`], kept in the [`State`] for timeout errors to name), and the log lines.
//!
//! # Log lines
//! Connects, connection failures and closes log under the target [`CONN_LOG`]
//! (`kprod_std::connection`): a failure at warn level the first time, then at debug level while
//! the same failure repeats for the same broker (the engine reconnects with backoff), at warn
//! level again after [`REPEAT_WARNING`] or once the broker's connection came up in between;
//! connects at info, connect attempts and closes at debug. Failed batches (warn), fatal errors
//! (error) and retries (debug) log under the module's own target.

use core::time::Duration;
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Completion, ConnError, DeliveryError, FatalError, Producer as Engine};
use kprod_core::time::Instant;

use crate::delivery::{BatchOutcome, Completed, Registry};
use crate::error::{ConnectionError, Error};
use crate::state::State;
use crate::tls::TlsError;

/// The log target of connects, connection failures and closes.
pub(crate) const CONN_LOG: &str = "kprod_std::connection";

/// How long the same connection failure of one broker logs at debug level only.
const REPEAT_WARNING: Duration = Duration::from_secs(30);

/// Why a driver's link to a broker went down.
#[derive(Debug)]
pub(crate) enum LinkDown {
    /// The broker's host name did not resolve.
    Dns { host: String, error: io::Error },
    /// The TCP connect failed (or timed out).
    Connect(io::Error),
    /// An open connection failed; `UnexpectedEof` is an orderly close by the broker.
    Lost(io::Error),
}

/// A driver's bookkeeping of engine events and connection failures.
#[derive(Default)]
pub(crate) struct EventBook {
    /// Topic names as `Arc<str>`, shared by every `RecordMetadata` of a topic.
    topics: HashSet<Arc<str>>,
    /// Per broker (`host:port`): failed connects in a row and what was logged.
    peers: HashMap<String, PeerLog>,
    seen_retries: u64,
    /// The last SASL refusal, with the broker's message: the records a refusing broker fails
    /// carry it (Java's `SaslAuthenticationException`).
    last_auth: Option<Arc<ConnectionError>>,
    /// What the broker said about the records of a batch whose failure comes next (KIP-467).
    words: Option<(kprod_core::producer::BatchId, Vec<(u32, String)>)>,
}

/// One broker's run of failures.
#[derive(Default)]
struct PeerLog {
    /// Connects that failed since the last one that succeeded.
    failed_connects: u32,
    /// The last failure logged at warn level, and when.
    warned: Option<(ConnectionError, Instant)>,
    /// Failures like it logged at debug level since.
    suppressed: u32,
}

impl EventBook {
    /// Handles a completion, named by its topic: the batch's waiters, to resolve without the
    /// lock.
    pub(crate) fn on_completion(
        &mut self,
        registry: &mut Registry,
        failed_on_close: &mut u64,
        completion: Completion<&str>,
    ) -> Option<Completed> {
        match completion {
            Completion::Delivered { batch, topic, partition, base_offset, log_append_time, more, .. } => {
                let topic = self.topic_name(topic);
                let outcome = BatchOutcome::Delivered { topic, partition, base_offset, log_append_time };
                registry.complete_part(batch, completion.indices(), more, outcome)
            }
            Completion::Failed { batch, records, reason, more, .. } => {
                log::warn!("kprod: {completion}");
                if reason == DeliveryError::Closed {
                    *failed_on_close += u64::from(records);
                }
                if let Some(outcome) = self.words_outcome(batch, completion.indices(), reason) {
                    return registry.complete_part(batch, completion.indices(), more, outcome);
                }
                let error = match (reason, &self.last_auth) {
                    (DeliveryError::Authentication { node, code }, Some(cause)) => Error::Authentication {
                        error: kprod_core::producer::SendError::Authentication { node, code },
                        cause: Some(Arc::clone(cause)),
                    },
                    _ => Error::from_delivery(reason),
                };
                registry.complete_part(batch, completion.indices(), more, BatchOutcome::Failed(error))
            }
        }
    }

    /// What the broker said about the records of `batch` (KIP-467), just before its failure.
    pub(crate) fn note_broker_words(&mut self, batch: kprod_core::producer::BatchId, words: &[(u32, &str)]) {
        self.words = Some((batch, words.iter().map(|&(i, w)| (i, w.to_owned())).collect()));
    }

    /// A failed batch's per-record outcome when the broker named records: each named record
    /// fails with the broker's words, the others because they shared the batch with one.
    /// Indices count from the completion's first record.
    fn words_outcome(
        &mut self,
        batch: kprod_core::producer::BatchId,
        indices: core::ops::Range<u32>,
        reason: DeliveryError,
    ) -> Option<BatchOutcome> {
        let (_, words) = self.words.take().filter(|(b, _)| *b == batch)?;
        let DeliveryError::Broker(code) = reason else {
            return None;
        };
        let whole = words.iter().find(|w| w.0 == kprod_core::producer::drain::WHOLE_BATCH).map(|w| w.1.as_str());
        let mut named: Vec<(u32, &str)> =
            words.iter().filter(|w| indices.contains(&w.0)).map(|w| (w.0 - indices.start, w.1.as_str())).collect();
        if named.is_empty() {
            return None;
        }
        named.sort_unstable_by_key(|w| w.0);
        let mate = format!(
            "failed because it was in the same batch as {} record(s) the broker refused ({})",
            named.len(),
            whole.unwrap_or("no message")
        );
        let fail = |message: String| BatchOutcome::Failed(Error::Record { code, message });
        let mut parts = vec![(0, fail(mate.clone()))];
        for (i, said) in named {
            let said = if said.is_empty() { whole.unwrap_or("") } else { said };
            parts.push((i, fail(said.to_owned())));
            parts.push((i + 1, fail(mate.clone())));
        }
        Some(BatchOutcome::Parts(Arc::new(parts)))
    }

    /// A broker refused SASL authentication: what the records it fails say.
    pub(crate) fn note_auth_refusal(&mut self, peer: &str, error: ConnError) {
        self.last_auth = Some(Arc::new(ConnectionError::Broker { broker: peer.to_owned(), error }));
    }

    /// Logs the fatal error (the engine fails every pending batch with it).
    pub(crate) fn on_fatal(error: FatalError) {
        log::error!("kprod: fatal producer error: {error}; every record now fails");
    }

    /// A topic's name as an `Arc<str>` shared by the `RecordMetadata`s (one per topic).
    fn topic_name(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.topics.get(name) {
            return Arc::clone(known);
        }
        let arc: Arc<str> = Arc::from(name);
        self.topics.insert(Arc::clone(&arc));
        arc
    }

    /// Connection `id` to `peer` came up: logs it, ends the broker's run of failed connects, and
    /// tells the engine.
    pub(crate) fn link_up(&mut self, st: &mut State, id: ConnId, peer: &str, now: Instant) {
        log::info!(target: CONN_LOG, "kprod: connected to {peer}");
        if let Some(log) = self.peers.get_mut(peer) {
            log.failed_connects = 0;
            // The next outage is news again.
            if matches!(log.warned, Some((ConnectionError::Dns { .. } | ConnectionError::Connect { .. }, _))) {
                log.warned = None;
            }
        }
        st.note_connected();
        st.engine.handle_connected(id, now);
    }

    /// Connection `id` to `peer` failed or could not be made: logs the cause, keeps it as the
    /// last connection error, and tells the engine.
    pub(crate) fn link_down(&mut self, st: &mut State, id: ConnId, peer: &str, down: LinkDown, now: Instant) {
        let log = self.peers.entry(peer.to_owned()).or_default();
        let tls = match &down {
            LinkDown::Connect(e) | LinkDown::Lost(e) => TlsError::from_io(e).cloned(),
            LinkDown::Dns { .. } => None,
        };
        let error = match (down, tls) {
            (_, Some(error)) => {
                log.failed_connects += 1;
                ConnectionError::Tls { broker: peer.to_owned(), error, attempts: log.failed_connects }
            }
            (LinkDown::Dns { host, error }, None) => {
                log.failed_connects += 1;
                ConnectionError::Dns { host, reason: resolver_message(&error), attempts: log.failed_connects }
            }
            (LinkDown::Connect(error), None) => {
                log.failed_connects += 1;
                let (kind, reason) = (error.kind(), error.to_string());
                ConnectionError::Connect { broker: peer.to_owned(), kind, reason, attempts: log.failed_connects }
            }
            (LinkDown::Lost(error), None) => {
                let reason = if error.kind() == io::ErrorKind::UnexpectedEof {
                    "closed by the broker".into()
                } else {
                    error.to_string()
                };
                ConnectionError::Lost { broker: peer.to_owned(), reason }
            }
        };
        self.failed(st, peer, error, now);
        st.engine.handle_disconnected(id, now);
    }

    /// The engine dropped a connection to `peer` because of what the broker sent (it closes
    /// the connection itself): logs the cause and keeps it as the last connection error.
    pub(crate) fn broker_failed(&mut self, st: &mut State, peer: &str, error: ConnError, now: Instant) {
        self.failed(st, peer, ConnectionError::Broker { broker: peer.to_owned(), error }, now);
    }

    /// Logs a connection failure of `peer` (see the module docs) and keeps it in `st`.
    fn failed(&mut self, st: &mut State, peer: &str, error: ConnectionError, now: Instant) {
        let log = self.peers.entry(peer.to_owned()).or_default();
        let repeat = log
            .warned
            .as_ref()
            .is_some_and(|(last, at)| last.same_as(&error) && now.saturating_duration_since(*at) < REPEAT_WARNING);
        if repeat {
            log.suppressed += 1;
            log::debug!(target: CONN_LOG, "kprod: {error}");
        } else {
            // A failed connect counts its attempts itself.
            let counted = matches!(
                error,
                ConnectionError::Dns { .. } | ConnectionError::Connect { .. } | ConnectionError::Tls { .. }
            );
            match log.suppressed {
                n if n > 0 && !counted => {
                    log::warn!(target: CONN_LOG, "kprod: {error} (and {n} more like it since the last report)");
                }
                _ => log::warn!(target: CONN_LOG, "kprod: {error}"),
            }
            log.warned = Some((error.clone(), now));
            log.suppressed = 0;
        }
        if let ConnectionError::Connect { reason, .. } = &error {
            log::debug!(target: CONN_LOG, "kprod: connect to {peer}: {reason}");
        }
        st.note_error(error, now);
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

/// What the resolver said, without the prefix std puts before getaddrinfo's message.
fn resolver_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.strip_prefix("failed to lookup address information: ") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kprod_core::config::Config;
    use kprod_core::producer::{Capacities, Storage};

    fn state() -> State {
        let config = Config::default();
        let storage = Storage::with_capacity(&config, Capacities::default());
        let engine =
            Engine::new(config.validate().expect("valid"), &[("h", 1)], storage, Instant::ZERO).expect("engine");
        State::new(engine)
    }

    #[test]
    fn failed_connects_count_per_broker_and_a_connect_ends_the_run() {
        let mut book = EventBook::default();
        let mut st = state();
        let refused = || LinkDown::Connect(io::ErrorKind::ConnectionRefused.into());
        for ms in 0..3 {
            book.link_down(&mut st, ConnId(0), "h:1", refused(), Instant::from_millis(ms));
        }
        let cause = st.cause_since(Instant::ZERO).expect("a cause");
        assert_eq!(cause.to_string(), "connection refused by h:1 (3 attempts)");
        assert_eq!(book.peers["h:1"].suppressed, 2, "repeats log at debug level");
        book.link_up(&mut st, ConnId(0), "h:1", Instant::from_millis(5));
        assert!(st.cause_since(Instant::from_millis(6)).is_none(), "healed, and older than the wait");
        assert!(st.cause_since(Instant::from_millis(2)).is_some(), "it happened during the wait");
        book.link_down(&mut st, ConnId(0), "h:1", refused(), Instant::from_millis(7));
        assert_eq!(st.cause_since(Instant::ZERO).expect("a cause").to_string(), "connection refused by h:1");
        assert_eq!(book.peers["h:1"].suppressed, 0, "a new outage warns again");
    }

    #[test]
    fn broker_errors_and_dns_failures_are_typed() {
        let mut book = EventBook::default();
        let mut st = state();
        let error = ConnError::FrameLength { announced: i64::from(i32::MAX), limit: 64 << 20 };
        book.broker_failed(&mut st, "h:1", error, Instant::ZERO);
        let cause = st.cause_since(Instant::ZERO).expect("a cause");
        assert_eq!(*cause, ConnectionError::Broker { broker: "h:1".into(), error });
        let dns = io::Error::other("failed to lookup address information: Name or service not known");
        book.link_down(
            &mut st,
            ConnId(1),
            "nosuch.invalid:9092",
            LinkDown::Dns { host: "nosuch.invalid".into(), error: dns },
            Instant::ZERO,
        );
        let cause = st.cause_since(Instant::ZERO).expect("a cause");
        assert_eq!(cause.to_string(), "DNS lookup of nosuch.invalid failed: Name or service not known");
    }
}
