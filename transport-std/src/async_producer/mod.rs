//! [`AsyncProducer`] (feature `tokio`): the engine driven by a tokio task, with sends you
//! await. The design, cancellation safety and shutdown are documented on the type.

mod conn;
mod driver;
mod future;
mod txn;

use core::future::Future;
use core::marker::PhantomData;
use core::pin::pin;
use core::time::Duration;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant as StdInstant;

use kprod_core::producer::metrics::Metrics;
use kprod_core::producer::SendError;
use kprod_core::time::Instant;
use tokio::sync::Notify;

pub use self::future::DeliveryFuture;
use crate::config::ProducerConfig;
use crate::error::Error;
use crate::hooks::{Interceptors, Partitioner};
use crate::partition_info::{partition_infos, PartitionInfo};
use crate::record::{Record, RecordMetadata};
use crate::send::{blocked_error, note_space_wait, partition_info, Prepared};
use crate::serializer::{BytesSerializer, Serializer, StringSerializer};
use crate::state::{build_engine, lock_state, Clock, State};

/// What the producer handles and the driver task share.
pub(crate) struct AsyncShared {
    state: Mutex<State>,
    /// Wakes the driver task (a stored permit if it is busy, so no notification is lost).
    wake: Notify,
    /// Signalled by the driver after a round that changed something, and when it stops.
    progress: Notify,
    clock: Clock,
}

/// Tells the interceptors about a record that was not buffered when dropped with a result
/// (the error) or without one (the send was cancelled).
struct AckGuard<'a> {
    interceptors: &'a [Arc<dyn crate::hooks::ProducerInterceptor>],
    topic: String,
    result: Option<Error>,
}

impl Drop for AckGuard<'_> {
    fn drop(&mut self) {
        if self.interceptors.is_empty() {
            return;
        }
        let error = self.result.take().unwrap_or(Error::Cancelled);
        crate::hooks::on_acknowledgement(self.interceptors, &self.topic, Err(&error));
    }
}

/// The statistics task: the snapshot to `callback` every `interval` until the driver stops.
async fn statistics(shared: std::sync::Weak<AsyncShared>, callback: crate::StatisticsCallback, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(shared) = shared.upgrade() else { return };
        if shared.lock().io_stopped {
            return;
        }
        let json = shared.statistics_json();
        drop(shared);
        crate::stats::deliver(&callback, &json);
    }
}

impl AsyncShared {
    /// The statistics snapshot, now (JSON).
    fn statistics_json(&self) -> String {
        let now = self.clock.now();
        let st = self.lock();
        crate::stats::snapshot(&st.engine, now, self.clock.wall_ms(now))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }
}

/// A Kafka producer whose network IO runs as a task on the tokio runtime (feature `tokio`):
/// `send(record).await` resolves to the delivery.
///
/// Cheap to clone: clones share one producer (one driver task, one buffer), which batches
/// better than a producer per task. `Send + Sync`. Dropping the last clone closes it (see
/// [Shutdown](#shutdown)).
///
/// `K` and `V` are the key and value types, turned into bytes by the serializers: `[u8]` for
/// [`AsyncProducer::new`], `str` for [`AsyncProducer::strings`], anything with
/// [`AsyncProducer::with_serializers`].
///
/// ```no_run
/// use std::time::Duration;
/// use kprod_std::{AsyncProducer, ProducerConfig, Record};
///
/// # async fn run() -> Result<(), kprod_std::Error> {
/// let producer = AsyncProducer::strings(ProducerConfig::new("localhost:9092")?)?;
/// // One record: awaits buffer space, then the delivery.
/// let meta = producer.send(&Record::new("orders").key("customer-7").value("{\"qty\":2}")).await?;
/// println!("written to {}-{} at offset {}", meta.topic, meta.partition, meta.offset);
/// // Pipelined: `enqueue` returns once the record is buffered; await the deliveries later.
/// let mut deliveries = Vec::new();
/// for i in 0..1000 {
///     let value = i.to_string();
///     deliveries.push(producer.enqueue(&Record::new("orders").value(value.as_str())).await?);
/// }
/// for delivery in deliveries {
///     delivery.await?;
/// }
/// producer.close(Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Design
/// - **One task, no thread.** [`AsyncProducer::new`] spawns one driver task on the current
///   runtime. It owns every connection (`tokio::net::TcpSocket`, so `TCP_NODELAY` and the
///   socket buffer sizes are set before the SYN; names resolved by `tokio::net::lookup_host`,
///   never on a runtime thread) and runs the engine's drain order: inputs, `handle_timeout`,
///   `poll_transmit` until none, `poll_event` until none; then it sleeps on the engine's
///   `poll_timeout` (`tokio::time::Sleep`), the sockets' readiness and a `tokio::sync::Notify`
///   at once. A send that opens a new batch notifies it (one wake-up per batch, not per
///   record). Reusing the blocking producer's IO thread and making only the waiting async
///   would also work, but costs an OS thread per producer and a cross-thread wake-up per
///   batch, beside the runtime's own IO driver that is there anyway; the task shares the
///   runtime's epoll and timer wheel, runs on a `current_thread` runtime, and needs no
///   `spawn_blocking`.
/// - **Locking.** The engine and the completion registry sit behind one `std::sync::Mutex`,
///   as in the blocking producer. It is never held across an `.await`: a send holds it to
///   copy the record into the engine's arena and register its completion, the driver to feed
///   the engine and encode requests (so a send may wait out one such round, never a network
///   round trip). Serializers run before it, socket IO and waking futures after it.
/// - **Backpressure awaits.** While the engine reports a full `buffer.memory` or pending
///   metadata, `enqueue` awaits a `Notify` that the driver signals after every round that
///   changed something, up to `max.block.ms`, then fails with [`Error::Timeout`] naming the
///   cause, as the blocking `send` does. No runtime thread is blocked meanwhile.
/// - **Completions.** The engine reports whole batches; every record of a batch shares one
///   completion cell, and a [`DeliveryFuture`] adds the record's index (offset = base offset +
///   index). Waiting futures leave their wakers in the cell, woken once when the batch ends.
///
/// The futures of [`AsyncProducer`] (`send`, `enqueue`, `flush`, `close`,
/// `partitions_for`) must run inside a tokio runtime with IO and time enabled
/// (`Runtime::new`, `#[tokio::main]`, or a builder with `enable_all`), as must `new`.
/// [`DeliveryFuture`] needs no runtime.
///
/// # Cancellation safety
/// - **`enqueue`** is cancellation-safe. Its only `.await` is the wait for buffer space or
///   metadata, before the record is accepted; acceptance and the return of its
///   [`DeliveryFuture`] happen in one poll, with no `.await` in between. So a future dropped
///   while pending (a `select!` branch that lost, a `tokio::time::timeout` that fired) has not
///   buffered its record and leaves no trace: no buffer space, no slot, no waiter. The only
///   state it may leave is the topic in the metadata cache, which is what
///   `partitions_for` would leave too.
/// - **`send`** = `enqueue` + awaiting the [`DeliveryFuture`]. Dropped before acceptance, it
///   leaves no trace; dropped after, the record is delivered or failed all the same (exactly
///   one completion inside the producer, which then just finds no waiter), and the dropped
///   future only takes its waker back. So a dropped `send` may or may not have written its
///   record; use `enqueue` to know which.
/// - **`flush`** and **`partitions_for`** only wait: dropping them changes nothing.
/// - **`close`** starts the close at its first poll; dropping the future afterwards does not
///   stop it (the driver goes on closing up to the deadline). A later `close` waits for the
///   same close, with the earlier deadline.
///
/// # Shutdown
/// - `close(timeout)` stops sends ([`Error::Closed`]), sends what is buffered at once, and
///   fails whatever is not complete after `timeout` with a close error; it resolves when the
///   driver task has stopped.
/// - Dropping the last [`AsyncProducer`] clone without `close` starts the same close with
///   `drop_timeout` (default 30 s) and returns at once: the driver task goes on, delivers
///   what was accepted (the `DeliveryFuture`s still resolve), and ends by the deadline.
/// - If the runtime shuts down (or drops the task) before the driver is done, every record
///   still waiting fails with [`Error::Closed`] right then, so every [`DeliveryFuture`]
///   resolves; records already written to a socket may still have reached the broker. Calls
///   on the producer afterwards fail with [`Error::Closed`].
/// - A panic in the driver (a bug of ours) ends the same way, with an error log line.
pub struct AsyncProducer<K: ?Sized = [u8], V: ?Sized = [u8]> {
    inner: Arc<Inner<K, V>>,
}

struct Inner<K: ?Sized, V: ?Sized> {
    shared: Arc<AsyncShared>,
    key_serializer: Box<dyn Serializer<K>>,
    value_serializer: Box<dyn Serializer<V>>,
    partitioner: Option<Partitioner>,
    interceptors: Interceptors,
    max_block: Duration,
    drop_timeout: Duration,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: ?Sized, V: ?Sized> Clone for AsyncProducer<K, V> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<K: ?Sized, V: ?Sized> core::fmt::Debug for AsyncProducer<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncProducer").field("max_block", &self.inner.max_block).finish_non_exhaustive()
    }
}

impl AsyncProducer<[u8], [u8]> {
    /// A producer of raw byte keys and values, its driver task spawned on the current tokio
    /// runtime.
    pub fn new(config: ProducerConfig) -> Result<Self, Error> {
        Self::with_serializers(config, BytesSerializer, BytesSerializer)
    }
}

impl AsyncProducer<str, str> {
    /// A producer of UTF-8 string keys and values, its driver task spawned on the current
    /// tokio runtime.
    pub fn strings(config: ProducerConfig) -> Result<Self, Error> {
        Self::with_serializers(config, StringSerializer, StringSerializer)
    }
}

impl<K: ?Sized, V: ?Sized> AsyncProducer<K, V> {
    /// A producer with the given key and value serializers. Spawns the driver task on the
    /// current tokio runtime ([`Error::Io`] outside one); connecting happens there, so an
    /// unreachable cluster shows up as `send` timeouts, not here.
    pub fn with_serializers(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Io(format!("AsyncProducer needs a tokio runtime to spawn its driver task on: {e}")))?;
        let engine = build_engine(&config)?;
        let connector = config.connector()?;
        let shared = Arc::new(AsyncShared {
            state: Mutex::new(State::new(engine)),
            wake: Notify::new(),
            progress: Notify::new(),
            clock: Clock::new(),
        });
        let driver = driver::Driver::new(
            Arc::clone(&shared),
            connector,
            config.capacities.connections,
            config.core.max_request_size,
        );
        let interceptors: Interceptors = config.hooks.interceptors.clone().into();
        shared.lock().registry.set_interceptors(Arc::clone(&interceptors));
        // Detached: the task ends by itself once the producer is closed (or dropped).
        drop(runtime.spawn(driver.run()));
        if let (Some(callback), interval) = (config.hooks.statistics.clone(), config.hooks.statistics_interval) {
            if !interval.is_zero() {
                drop(runtime.spawn(statistics(Arc::downgrade(&shared), callback, interval)));
            }
        }
        let inner = Inner {
            shared,
            key_serializer: Box::new(key_serializer),
            value_serializer: Box::new(value_serializer),
            partitioner: config.hooks.partitioner.clone(),
            interceptors,
            max_block: config.core.max_block,
            drop_timeout: config.drop_timeout,
            _types: PhantomData,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Sends a record and resolves to its delivery: awaits buffer space (or the topic's
    /// metadata) up to `max.block.ms`, then the broker's answer. Equivalent to
    /// `self.enqueue(record).await?.await`; see [Cancellation safety](AsyncProducer#cancellation-safety) on dropping it early.
    pub async fn send(&self, record: &Record<'_, K, V>) -> Result<RecordMetadata, Error> {
        self.enqueue(record).await?.await
    }

    /// Buffers a record and returns its [`DeliveryFuture`] without waiting for the delivery,
    /// so many records can be in flight from one task. Awaits only while the buffer is full or
    /// the topic's metadata is unknown, up to `max.block.ms` ([`Error::Timeout`]).
    /// Cancellation-safe: if this future is dropped before it resolves, the record was not
    /// buffered.
    pub async fn enqueue(&self, record: &Record<'_, K, V>) -> Result<DeliveryFuture, Error> {
        let inner = &*self.inner;
        let mut prepared =
            Prepared::new(record, &*inner.key_serializer, &*inner.value_serializer, &inner.interceptors)?;
        // Interceptors hear once about a record they saw that never got buffered: an error,
        // or this future dropped before it resolved.
        let topic = if inner.interceptors.is_empty() { String::new() } else { prepared.topic().to_owned() };
        let mut guard = AckGuard { interceptors: &inner.interceptors, topic, result: None };
        let result = self.enqueue_prepared(&mut prepared).await;
        if let Err(e) = &result {
            guard.result = Some(e.clone());
        } else {
            guard.interceptors = &[];
        }
        drop(guard);
        result
    }

    async fn enqueue_prepared(&self, prepared: &mut Prepared<'_, '_, K, V>) -> Result<DeliveryFuture, Error> {
        let inner = &*self.inner;
        if let Some(partitioner) = prepared.needs_partitioner(inner.partitioner.as_ref()) {
            let topic = prepared.topic();
            let info = self.accept(topic, |st, now| partition_info(&mut st.engine, topic, now)).await?;
            prepared.choose_partition(partitioner, info)?;
        }
        let shared = &inner.shared;
        let prepared = &*prepared;
        let handle = self
            .accept(prepared.topic(), |st, now| {
                prepared.with_record(shared.clock.wall_ms(now), |rec| {
                    let id = st.engine.send(rec, now)?;
                    st.registry.track(id, rec.timestamp, rec.topic);
                    // See the blocking producer: no wake-up while the partition is at its
                    // in-flight limit (the partition's next response wakes the driver).
                    let opens_batch = st.engine.last_send_made_due();
                    // Without a callback, `register` always gives a handle.
                    let handle =
                        st.registry.register(id, rec.timestamp, None).expect("a handle for a send without callback");
                    Ok((handle, opens_batch))
                })
            })
            .await;
        let (handle, opens_batch) = handle?;
        if opens_batch {
            // A batch may be due earlier than the driver's current deadline (a new one's
            // linger starts, or this record filled its batch to batch.size).
            shared.wake.notify_one();
        }
        Ok(DeliveryFuture::new(handle))
    }

    /// Runs `attempt` under the lock until it succeeds or fails for good; while it fails with
    /// a retriable error, wakes the driver and awaits its progress, up to `max.block.ms`.
    /// Nothing is held across the `.await`, and an attempt that succeeded returns without
    /// another: dropping this future leaves no trace of an attempt that did not succeed.
    async fn accept<T>(
        &self,
        topic: &str,
        mut attempt: impl FnMut(&mut State, Instant) -> Result<T, SendError>,
    ) -> Result<T, Error> {
        let shared = &*self.inner.shared;
        // One clock reading serves the first attempt (the common case); the deadline counts
        // from it, worked out only if the send must wait.
        let first = shared.clock.now();
        let mut deadline = None;
        let mut now = first;
        // Time spent waiting for buffer space, for `bufferpool-wait-*`.
        let mut space_wait = Duration::ZERO;
        let (mut st, result) = loop {
            // Registered before the attempt, so progress made right after it is not missed.
            let mut progress = pin!(shared.progress.notified());
            progress.as_mut().enable();
            let err = {
                let mut st = shared.lock();
                if st.io_stopped {
                    break (st, Err(Error::Closed));
                }
                match attempt(&mut st, now) {
                    Ok(done) => break (st, Ok(done)),
                    Err(e) if e.is_retriable() => e,
                    Err(e) => {
                        let e = Error::from_send(e, || st.cause_since(crate::state::EPOCH));
                        break (st, Err(e));
                    }
                }
            };
            shared.wake.notify_one();
            let deadline =
                *deadline.get_or_insert_with(|| deadline_after(shared.clock.std_at(first), self.inner.max_block));
            let waiting = StdInstant::now();
            let timed_out = waiting >= deadline || tokio::time::timeout_at(deadline.into(), progress).await.is_err();
            if err == SendError::BufferFull {
                space_wait += waiting.elapsed();
            }
            now = shared.clock.now();
            if timed_out {
                let st = shared.lock();
                let cause = st.cause_since(first);
                let waited = shared.clock.std_at(first).elapsed();
                break (st, Err(blocked_error(topic, err, waited, cause)));
            }
        };
        // Every exit counts the time spent waiting for space, as in the blocking producer.
        note_space_wait(&mut st, space_wait, now);
        result
    }

    /// Makes every buffered record sendable now (ignoring `linger.ms`) and resolves when all
    /// records accepted before this call are complete (delivered or failed) and their
    /// [`DeliveryFuture`]s are ready. Bounded by `delivery.timeout.ms`; wrap it in
    /// `tokio::time::timeout` for less. Dropping it early changes nothing.
    pub async fn flush(&self) {
        let shared = &*self.inner.shared;
        let mark = {
            let mut st = shared.lock();
            let now = shared.clock.now();
            st.engine.flush(now);
            st.registry.newest()
        };
        shared.wake.notify_one();
        self.wait_for(|st| st.flushed(mark)).await;
    }

    /// Closes the producer (every clone): no more sends, buffered records are sent at once,
    /// and whatever is not complete after `timeout` fails with a close error. Resolves when
    /// the driver task has stopped; returns [`Error::Timeout`] if records had to be failed
    /// for the deadline. The close goes on if this future is dropped.
    pub async fn close(&self, timeout: Duration) -> Result<(), Error> {
        let shared = &*self.inner.shared;
        let started = start_close(shared, timeout);
        let failed = self.wait_for(|st| st.io_stopped).await;
        if failed > 0 {
            return Err(Error::completion_timeout(timeout, shared.lock().cause_since(started)));
        }
        Ok(())
    }

    /// Awaits the driver's progress until `done` holds (or the driver has stopped); returns
    /// the count of records failed by the close deadline.
    async fn wait_for(&self, done: impl Fn(&State) -> bool) -> u64 {
        let shared = &*self.inner.shared;
        loop {
            let mut progress = pin!(shared.progress.notified());
            progress.as_mut().enable();
            {
                let st = shared.lock();
                if done(&st) || st.io_stopped {
                    return st.failed_on_close;
                }
            }
            progress.await;
        }
    }

    /// The partitions of `topic` with their leader and replicas (Java's `partitionsFor`),
    /// fetching its metadata if needed (awaits up to `max.block.ms`). Like Java, this makes the
    /// topic part of the producer's metadata until `metadata.max.idle.ms` passes unused.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, Error> {
        self.accept(topic, |st, now| partition_infos(&mut st.engine, topic, now)).await
    }

    /// The Java producer's metrics by name (`record-send-rate`, `record-error-total`,
    /// `request-latency-avg`, `batch-size-avg`, `buffer-available-bytes`, ...), windowed over
    /// `metrics.num.samples` samples of `metrics.sample.window.ms`; NaN where nothing was
    /// recorded in that time, as in Java.
    pub fn metrics_by_name(&self) -> Vec<(&'static str, f64)> {
        self.inner.shared.lock().engine.java_metrics()
    }

    /// Java's per-topic metrics (group `producer-topic-metrics`); see
    /// [`crate::Producer::topic_metrics`].
    pub fn topic_metrics(&self) -> Vec<(String, Vec<(&'static str, f64)>)> {
        let shared = &*self.inner.shared;
        let now = shared.clock.now();
        let st = shared.lock();
        st.engine.java_topic_metrics(now).into_iter().map(|(t, m)| (t.to_owned(), m)).collect()
    }

    /// Java's per-node metrics (group `producer-node-metrics`); see
    /// [`crate::Producer::node_metrics`].
    pub fn node_metrics(&self) -> Vec<(i32, Vec<(&'static str, f64)>)> {
        let shared = &*self.inner.shared;
        let now = shared.clock.now();
        shared.lock().engine.java_node_metrics(now)
    }

    /// The statistics snapshot (JSON), now; see [`crate::Producer::statistics_json`].
    pub fn statistics_json(&self) -> String {
        self.inner.shared.statistics_json()
    }

    /// A snapshot of the engine's metrics.
    pub fn metrics(&self) -> Metrics {
        *self.inner.shared.lock().engine.metrics()
    }

    /// The producer id and epoch in use (idempotence), once known.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        self.inner.shared.lock().engine.producer_id().map(|p| (p.producer_id, p.producer_epoch))
    }
}

impl<K: ?Sized, V: ?Sized> Drop for Inner<K, V> {
    fn drop(&mut self) {
        // The last clone is gone: close with the drop timeout, without waiting (the driver
        // task finishes on its own).
        let closing = {
            let st = self.shared.lock();
            st.closing || st.io_stopped
        };
        if !closing {
            start_close(&self.shared, self.drop_timeout);
        }
    }
}

/// Starts (or joins) the close: the engine gets the deadline, the driver a wake-up. Returns
/// when it started.
fn start_close(shared: &AsyncShared, timeout: Duration) -> Instant {
    let now = {
        let mut st = shared.lock();
        let now = shared.clock.now();
        st.closing = true;
        st.engine.close(now + timeout, now);
        now
    };
    shared.wake.notify_one();
    now
}

/// `start + limit`, or a far future if that overflows.
fn deadline_after(start: StdInstant, limit: Duration) -> StdInstant {
    start.checked_add(limit).unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 86_400))
}

/// Compile-time checks that the handles and futures can cross tasks and threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    fn is_send<T: Send>(_: &T) {}
    fn check(p: &AsyncProducer, s: &AsyncProducer<str, str>, r: &Record<'_>, rs: &Record<'_, str, str>) {
        is_send_sync(p);
        is_send(&p.send(r));
        is_send(&p.enqueue(r));
        is_send(&s.send(rs));
        is_send(&p.flush());
        is_send(&p.close(Duration::ZERO));
        is_send(&p.partitions_for("t"));
    }
    let _ = check;
    fn future_is_send_sync_unpin<F: Future + Send + Sync + Unpin>() {}
    future_is_send_sync_unpin::<DeliveryFuture>();
}
