//! What goes in ([`Record`]) and what comes back ([`RecordMetadata`]).

use std::sync::Arc;

pub use kprod_core::record::Header;

/// A record to send: a topic, optional partition, key, value, headers and timestamp.
///
/// ```
/// use kprod_std::Record;
/// let headers = [kprod_std::Header { key: "trace", value: Some(b"abc") }];
/// let r = Record::<str, str>::new("orders").key("customer-7").value("{}").headers(&headers);
/// assert_eq!(r.topic, "orders");
/// ```
#[derive(Debug)]
pub struct Record<'a, K: ?Sized = [u8], V: ?Sized = [u8]> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition; `None` lets the partitioner choose (Java's murmur2 for keys,
    /// sticky for null keys).
    pub partition: Option<u32>,
    /// The key; `None` is a null key.
    pub key: Option<&'a K>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<&'a V>,
    /// Headers.
    pub headers: &'a [Header<'a>],
    /// Create time in ms since the Unix epoch; `None` stamps the wall clock at `send`.
    pub timestamp: Option<i64>,
}

impl<K: ?Sized, V: ?Sized> Clone for Record<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: ?Sized, V: ?Sized> Copy for Record<'_, K, V> {}

impl<'a, K: ?Sized, V: ?Sized> Record<'a, K, V> {
    /// A record to `topic` with a null key and a null value.
    pub const fn new(topic: &'a str) -> Self {
        Self { topic, partition: None, key: None, value: None, headers: &[], timestamp: None }
    }

    /// Sets the key.
    pub const fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value.
    pub const fn value(mut self, value: &'a V) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets an explicit partition.
    pub const fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the headers.
    pub const fn headers(mut self, headers: &'a [Header<'a>]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the create timestamp (ms since the Unix epoch).
    pub const fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The offset, or -1 with `acks=0` (the broker says nothing back).
    pub offset: i64,
    /// The record's timestamp: the broker's append time on `LogAppendTime` topics, else the
    /// create time it was sent with.
    pub timestamp: i64,
}
