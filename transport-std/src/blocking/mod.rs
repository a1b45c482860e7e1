//! The blocking driver: [`Producer`], the thread-safe handle, and its IO thread (`io.rs`) over
//! nonblocking `mio` sockets (`net.rs`), sharing [`shared::Shared`] (the engine's state, a
//! condvar and the IO thread's waker).

mod io;
mod net;
mod shared;
mod txn;

use core::marker::PhantomData;
use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant as StdInstant;

use kprod_core::producer::metrics::Metrics;
use kprod_core::producer::SendError;
use kprod_core::time::Instant;
use mio::Poll;

use self::io::{on_io_thread, IoLoop, WAKER};
use self::shared::Shared;
use crate::config::ProducerConfig;
use crate::delivery::{Callback, DeliveryHandle};
use crate::error::Error;
use crate::hooks::{Interceptors, Partitioner};
use crate::partition_info::{partition_infos, PartitionInfo};
use crate::record::{Record, RecordMetadata};
use crate::send::{blocked_error, note_space_wait, partition_info, Prepared};
use crate::serializer::{BytesSerializer, Serializer, StringSerializer};
use crate::state::{build_engine, State};

/// A Kafka producer with its network IO on a background thread.
///
/// `send` is asynchronous: it puts the record in the buffer and returns a [`DeliveryHandle`]
/// (or, with [`Producer::send_with_callback`], arranges a callback). It blocks only while the
/// buffer is full or the topic's metadata is unknown, for at most `max.block.ms`.
///
/// The producer is `Send + Sync`: share one among threads (`Arc<Producer>`, or by reference
/// in scoped threads); that batches better than one producer per thread. Dropping it closes
/// it, waiting at most the configured drop timeout for buffered records.
///
/// `K` and `V` are the key and value types, turned into bytes by the serializers: `[u8]` for
/// [`Producer::new`], `str` for [`Producer::strings`], anything with
/// [`Producer::with_serializers`].
pub struct Producer<K: ?Sized = [u8], V: ?Sized = [u8]> {
    shared: Arc<Shared>,
    io: Mutex<Option<JoinHandle<()>>>,
    key_serializer: Box<dyn Serializer<K>>,
    value_serializer: Box<dyn Serializer<V>>,
    partitioner: Option<Partitioner>,
    interceptors: Interceptors,
    max_block: Duration,
    drop_timeout: Duration,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: ?Sized, V: ?Sized> core::fmt::Debug for Producer<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer").field("max_block", &self.max_block).finish_non_exhaustive()
    }
}

impl Producer<[u8], [u8]> {
    /// A producer of raw byte keys and values.
    pub fn new(config: ProducerConfig) -> Result<Self, Error> {
        Self::with_serializers(config, BytesSerializer, BytesSerializer)
    }
}

impl Producer<str, str> {
    /// A producer of UTF-8 string keys and values.
    pub fn strings(config: ProducerConfig) -> Result<Self, Error> {
        Self::with_serializers(config, StringSerializer, StringSerializer)
    }
}

impl<K: ?Sized, V: ?Sized> Producer<K, V> {
    /// A producer with the given key and value serializers. Starts the IO thread; connecting
    /// happens there, so an unreachable cluster shows up as `send` timeouts, not here.
    pub fn with_serializers(
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Result<Self, Error> {
        let engine = build_engine(&config)?;
        let connector = config.connector()?;
        let poll = Poll::new().map_err(|e| Error::Io(format!("cannot create a poller: {e}")))?;
        let waker =
            mio::Waker::new(poll.registry(), WAKER).map_err(|e| Error::Io(format!("cannot create a waker: {e}")))?;
        let shared = Arc::new(Shared::new(engine, waker));
        let interceptors: Interceptors = config.hooks.interceptors.clone().into();
        shared.lock().registry.set_interceptors(Arc::clone(&interceptors));
        let io = IoLoop::new(
            Arc::clone(&shared),
            poll,
            connector,
            config.capacities.connections,
            config.core.max_request_size,
        );
        let thread = std::thread::Builder::new()
            .name(format!("kprod-io-{}", config.client_id))
            .spawn(move || io.run())
            .map_err(|e| Error::Io(format!("cannot start the IO thread: {e}")))?;
        shared::start_statistics(&shared, &config)?;
        Ok(Self {
            shared,
            io: Mutex::new(Some(thread)),
            key_serializer: Box::new(key_serializer),
            value_serializer: Box::new(value_serializer),
            partitioner: config.hooks.partitioner.clone(),
            interceptors,
            max_block: config.core.max_block,
            drop_timeout: config.drop_timeout,
            _types: PhantomData,
        })
    }

    /// Sends a record: returns once it is buffered, with a handle to its delivery. Blocks up
    /// to `max.block.ms` while the buffer is full or the topic's metadata is unknown.
    pub fn send(&self, record: &Record<'_, K, V>) -> Result<DeliveryHandle, Error> {
        let handle = self.send_inner(record, Waiter::Handle)?;
        // `register` returns a handle whenever no callback is given.
        Ok(handle.expect("a handle for a send without callback"))
    }

    /// Sets the producer's delivery listener, once: `listener(tag, result)` runs on the IO
    /// thread for every record sent with [`Producer::send_tagged`]. This is librdkafka's
    /// delivery-report callback with a per-message opaque: one function for all records, so
    /// a send costs no allocation and 24 bytes of bookkeeping until its delivery (a boxed
    /// callback per record costs an allocation, freed on the IO thread, and about 80 bytes).
    /// A second call fails with [`Error::Config`].
    pub fn set_delivery_listener<F>(&self, listener: F) -> Result<(), Error>
    where
        F: Fn(u64, Result<RecordMetadata, Error>) + Send + Sync + 'static,
    {
        self.shared
            .listener
            .set(Box::new(listener))
            .map_err(|_| Error::Config("the delivery listener is set already".into()))
    }

    /// Sends a record whose delivery result goes to the delivery listener with `tag` (any
    /// value: an index, a pointer-sized id, a send time). Fails with [`Error::Config`] if no
    /// listener is set. Blocks like [`Producer::send`].
    pub fn send_tagged(&self, record: &Record<'_, K, V>, tag: u64) -> Result<(), Error> {
        if self.shared.listener.get().is_none() {
            return Err(Error::Config("send_tagged needs a delivery listener (set_delivery_listener)".into()));
        }
        self.send_inner(record, Waiter::Tag(tag)).map(|_| ())
    }

    /// Sends a record and calls `callback` once with its delivery result. The callback runs
    /// on the IO thread: keep it short, and do not wait on the producer from it.
    pub fn send_with_callback<F>(&self, record: &Record<'_, K, V>, callback: F) -> Result<(), Error>
    where
        F: FnOnce(Result<RecordMetadata, Error>) + Send + 'static,
    {
        self.send_inner(record, Waiter::Callback(Box::new(callback))).map(|_| ())
    }

    fn send_inner(&self, record: &Record<'_, K, V>, waiter: Waiter) -> Result<Option<DeliveryHandle>, Error> {
        let mut prepared = Prepared::new(record, &*self.key_serializer, &*self.value_serializer, &self.interceptors)?;
        let result = self.send_prepared(&mut prepared, waiter);
        if let Err(e) = &result {
            // A record the interceptors saw that failed before it was sent: they hear it here.
            crate::hooks::on_acknowledgement(&self.interceptors, prepared.topic(), Err(e));
        }
        result
    }

    fn send_prepared(
        &self,
        prepared: &mut Prepared<'_, '_, K, V>,
        waiter: Waiter,
    ) -> Result<Option<DeliveryHandle>, Error> {
        if let Some(partitioner) = prepared.needs_partitioner(self.partitioner.as_ref()) {
            let topic = prepared.topic();
            let info = self.blocking(topic, |st, now| partition_info(&mut st.engine, topic, now))?;
            prepared.choose_partition(partitioner, info)?;
        }
        let topic = prepared.topic();
        let mut waiter = Some(waiter);
        self.blocking(topic, |st, now| {
            prepared.with_record(self.shared.clock().wall_ms(now), |rec| {
                let id = st.engine.send(rec, now)?;
                st.registry.track(id, rec.timestamp, rec.topic);
                let handle = match waiter.take() {
                    Some(Waiter::Tag(tag)) => {
                        let len = rec.key.map_or(0, <[u8]>::len) + rec.value.map_or(0, <[u8]>::len);
                        st.registry.register_tagged(id, rec.timestamp, tag, len);
                        None
                    }
                    Some(Waiter::Callback(cb)) => st.registry.register(id, rec.timestamp, Some(cb)),
                    Some(Waiter::Handle) | None => st.registry.register(id, rec.timestamp, None),
                };
                // A batch may be due earlier than the IO thread's current deadline (a new one's
                // linger starts, or this record filled its batch to batch.size), unless the partition is at
                // its in-flight limit: then the next response wakes the IO thread, and nothing
                // of it could go out before that anyway. (A producer faster than its broker
                // saves a wake-up, two context switches, per batch.)
                if st.engine.last_send_made_due() {
                    self.shared.wake_io(st);
                }
                Ok(handle)
            })
        })
    }

    /// Runs `attempt` under the lock until it succeeds, fails for good, or `max.block.ms`
    /// passes; between attempts it wakes the IO thread and sleeps until the IO thread reports
    /// progress (completions, metadata).
    fn blocking<T>(
        &self,
        topic: &str,
        mut attempt: impl FnMut(&mut State, Instant) -> Result<T, SendError>,
    ) -> Result<T, Error> {
        // One clock reading serves the first attempt (the common case): its engine instant and
        // the record's timestamp; the deadline counts from it, worked out only if it must wait.
        let first = self.shared.now();
        let mut wait_until = None;
        let mut now = first;
        let mut st = self.shared.lock();
        // Time spent waiting for buffer space, for `bufferpool-wait-*`.
        let mut space_wait = Duration::ZERO;
        let result = loop {
            if st.io_stopped {
                break Err(Error::Closed);
            }
            let err = match attempt(&mut st, now) {
                Ok(done) => break Ok(done),
                Err(e) if e.is_retriable() => e,
                Err(e) => break Err(Error::from_send(e, || st.cause_since(crate::state::EPOCH))),
            };
            self.shared.wake_io(&mut st);
            let deadline = *wait_until.get_or_insert_with(|| self.shared.std_at(first) + self.block_limit());
            if err == SendError::BufferFull && StdInstant::now() < deadline {
                // Rather than sleep, compress a batch the IO thread would compress next: the
                // space comes back sooner, on two cores. One sender helps at a time, with the
                // producer's one set of helper buffers (others wait as before).
                if let Ok(mut bufs) = self.shared.helper_jobs.try_lock() {
                    let helping = StdInstant::now();
                    let (guard, ran) = self.shared.run_compression_job(st, &mut bufs);
                    st = guard;
                    if ran {
                        space_wait += helping.elapsed();
                        now = self.shared.now();
                        continue;
                    }
                }
            }
            let (guard, time_left) = if err == SendError::BufferFull {
                let waiting = StdInstant::now();
                let waited = self.shared.wait_for_space(st, deadline);
                space_wait += waiting.elapsed();
                waited
            } else {
                self.shared.wait_until(st, deadline)
            };
            st = guard;
            now = self.shared.now();
            if !time_left {
                break Err(blocked_error(topic, err, self.shared.std_at(first).elapsed(), st.cause_since(first)));
            }
        };
        // Every exit counts the time spent waiting for space, a close's included (Java's
        // `BufferPool` records a wait before it throws).
        note_space_wait(&mut st, space_wait, now);
        result
    }

    /// Makes every buffered record sendable now and waits until all records sent before this
    /// call are complete (delivered or failed), and their callbacks have run.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let timeout = if on_io_thread() { Duration::ZERO } else { timeout };
        let deadline = StdInstant::now() + timeout;
        let mut st = self.shared.lock();
        let now = self.shared.now();
        st.engine.flush(now);
        let mark = st.registry.newest();
        self.shared.wake_io(&mut st);
        loop {
            if st.flushed(mark) || st.io_stopped {
                return Ok(());
            }
            let (guard, time_left) = self.shared.wait_until(st, deadline);
            st = guard;
            if !time_left {
                return Err(Error::completion_timeout(timeout, st.cause_since(now)));
            }
        }
    }

    /// Closes the producer: no more sends; buffered records are sent, and whatever is not
    /// complete after `timeout` fails with a close error. Waits for the IO thread to stop.
    /// Returns an error if records had to be failed for the deadline. Calling it again (or
    /// from another thread) waits for the same close, with the earlier deadline.
    pub fn close(&self, timeout: Duration) -> Result<(), Error> {
        // From a callback the IO thread cannot be joined: fail what is left at once.
        let timeout = if on_io_thread() { Duration::ZERO } else { timeout };
        let started = self.shared.now();
        {
            let mut st = self.shared.lock();
            st.closing = true;
            st.engine.close(started + timeout, started);
            self.shared.wake_io(&mut st);
        }
        if on_io_thread() {
            return Ok(());
        }
        let thread = self.io.lock().unwrap_or_else(PoisonError::into_inner).take();
        match thread {
            Some(t) => {
                if t.join().is_err() {
                    log::error!("kprod: the IO thread panicked");
                }
            }
            None => {
                // Another thread is joining: wait until the IO thread says it stopped.
                let mut st = self.shared.lock();
                while !st.io_stopped {
                    st = self.shared.wait_until(st, StdInstant::now() + Duration::from_millis(100)).0;
                }
            }
        }
        let st = self.shared.lock();
        if st.failed_on_close > 0 {
            return Err(Error::completion_timeout(timeout, st.cause_since(started)));
        }
        Ok(())
    }

    /// The partitions of `topic` with their leader and replicas (Java's `partitionsFor`),
    /// fetching its metadata if needed (waits up to `max.block.ms`). Like Java, this makes the
    /// topic part of the producer's metadata until `metadata.max.idle.ms` passes unused.
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, Error> {
        self.blocking(topic, |st, now| partition_infos(&mut st.engine, topic, now))
    }

    /// The Java producer's metrics by name (`record-send-rate`, `record-error-total`,
    /// `request-latency-avg`, `batch-size-avg`, `buffer-available-bytes`, ...), windowed over
    /// `metrics.num.samples` samples of `metrics.sample.window.ms`; NaN where nothing was
    /// recorded in that time, as in Java.
    pub fn metrics_by_name(&self) -> Vec<(&'static str, f64)> {
        self.shared.lock().engine.java_metrics()
    }

    /// Java's per-topic metrics (group `producer-topic-metrics`): for each topic produced to,
    /// `record-send-rate`/`-total`, `byte-rate`/`-total`, `compression-rate`,
    /// `record-error-rate`/`-total` and `record-retry-rate`/`-total`.
    pub fn topic_metrics(&self) -> Vec<(String, Vec<(&'static str, f64)>)> {
        let st = self.shared.lock();
        st.engine.java_topic_metrics(self.shared.now()).into_iter().map(|(t, m)| (t.to_owned(), m)).collect()
    }

    /// Java's per-node metrics (group `producer-node-metrics`): for each broker by node id,
    /// `request-rate`/`-total`, `request-latency-avg`/`-max` (Produce requests) and
    /// `outgoing-byte-rate`/`-total`.
    pub fn node_metrics(&self) -> Vec<(i32, Vec<(&'static str, f64)>)> {
        let now = self.shared.now();
        self.shared.lock().engine.java_node_metrics(now)
    }

    /// The statistics snapshot the statistics callback gets, now (JSON: global, per-topic and
    /// per-node metrics by their Java names).
    pub fn statistics_json(&self) -> String {
        self.shared.statistics_json()
    }

    /// A snapshot of the engine's metrics.
    pub fn metrics(&self) -> Metrics {
        *self.shared.lock().engine.metrics()
    }

    /// The producer id and epoch in use (idempotence), once known.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        self.shared.lock().engine.producer_id().map(|p| (p.producer_id, p.producer_epoch))
    }

    fn block_limit(&self) -> Duration {
        if on_io_thread() {
            Duration::ZERO
        } else {
            self.max_block
        }
    }
}

impl<K: ?Sized, V: ?Sized> Drop for Producer<K, V> {
    fn drop(&mut self) {
        let running = self.io.get_mut().map_or(true, |t| t.is_some());
        if running {
            if let Err(e) = self.close(self.drop_timeout) {
                log::warn!("kprod: producer dropped: {e}");
            }
        }
    }
}

/// Who hears about a record's delivery.
enum Waiter {
    /// A [`DeliveryHandle`] returned by `send`.
    Handle,
    /// A callback of its own.
    Callback(Callback),
    /// The delivery listener, with this tag.
    Tag(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn producer_is_send_and_sync() {
        assert_send_sync::<Producer>();
        assert_send_sync::<Producer<str, str>>();
        assert_send_sync::<DeliveryHandle>();
    }
}
