//! Key and value serializers: how `send` turns a typed key or value into bytes.
//!
//! Serializers run on the calling thread, before the engine lock is taken. Bytes and strings
//! are borrowed (no copy); [`JsonSerializer`] (feature `serde`) encodes with `serde_json`.

use std::borrow::Cow;

use crate::error::Error;

/// Turns a `T` into the bytes of a record's key or value.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// The bytes for `data`, for a record to `topic`.
    fn serialize<'a>(&self, topic: &str, data: &'a T) -> Result<Cow<'a, [u8]>, Error>;
}

/// Raw bytes, as they are (no copy).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;

impl Serializer<[u8]> for BytesSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a [u8]) -> Result<Cow<'a, [u8]>, Error> {
        Ok(Cow::Borrowed(data))
    }
}

/// UTF-8 strings, as their bytes (no copy).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl Serializer<str> for StringSerializer {
    fn serialize<'a>(&self, _topic: &str, data: &'a str) -> Result<Cow<'a, [u8]>, Error> {
        Ok(Cow::Borrowed(data.as_bytes()))
    }
}

/// Any closure `Fn(&str, &T) -> Result<Vec<u8>, Error>` is a serializer.
impl<T: ?Sized, F> Serializer<T> for F
where
    F: Fn(&str, &T) -> Result<Vec<u8>, Error> + Send + Sync,
{
    fn serialize<'a>(&self, topic: &str, data: &'a T) -> Result<Cow<'a, [u8]>, Error> {
        self(topic, data).map(Cow::Owned)
    }
}

/// JSON through `serde_json`, for any `T: Serialize` (feature `serde`).
#[cfg(feature = "serde")]
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

#[cfg(feature = "serde")]
impl<T: serde::Serialize + ?Sized> Serializer<T> for JsonSerializer {
    fn serialize<'a>(&self, topic: &str, data: &'a T) -> Result<Cow<'a, [u8]>, Error> {
        serde_json::to_vec(data).map(Cow::Owned).map_err(|e| Error::Serialization(format!("{topic}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_borrow() {
        assert!(matches!(BytesSerializer.serialize("t", b"ab".as_slice()), Ok(Cow::Borrowed(b"ab"))));
        assert!(matches!(StringSerializer.serialize("t", "hé"), Ok(Cow::Borrowed(b)) if b == "hé".as_bytes()));
        let upper = |_: &str, s: &str| Ok::<_, Error>(s.to_uppercase().into_bytes());
        assert_eq!(upper.serialize("t", "ab").unwrap().as_ref(), b"AB");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json() {
        #[derive(serde::Serialize)]
        struct Order {
            id: u32,
            item: &'static str,
        }
        let bytes = JsonSerializer.serialize("t", &Order { id: 7, item: "tea" }).unwrap();
        assert_eq!(bytes.as_ref(), br#"{"id":7,"item":"tea"}"#);
    }
}
