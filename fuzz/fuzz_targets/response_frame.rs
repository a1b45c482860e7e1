//! The response path a connection runs: `split_frame` over a stream of size-prefixed frames,
//! `ResponseHeader::decode` for the API's header version, then the body decoder.
//!
//! Input: 1 byte API selector (0-10: the APIs with decoders, `APIS`, others: an unknown key, header
//! only), 2 bytes big-endian version, then the stream.
#![no_main]

use kprod_core::protocol::{split_frame, ApiKey, ResponseHeader};
use kprod_fuzz::{decode_response, fold_version, APIS, MAX_OUTPUT};
use libfuzzer_sys::fuzz_target;

/// Frames taken from one input at most, so a stream of empty frames stays cheap.
const MAX_FRAMES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&[selector, v0, v1], mut stream)) = data.split_first_chunk::<3>() else {
        return;
    };
    let raw = i16::from_be_bytes([v0, v1]);
    let (api, version) = match APIS.get(usize::from(selector)) {
        Some(&api) => (api, fold_version(api, raw)),
        None => (ApiKey::from_code(i16::from(selector)), raw),
    };
    for _ in 0..MAX_FRAMES {
        let Ok(Some((frame, used))) = split_frame(stream, MAX_OUTPUT) else {
            break;
        };
        assert_eq!(used, frame.len() + 4, "consumed count is not prefix + frame");
        assert_eq!(frame, &stream[4..used], "frame is not the bytes after the prefix");
        assert_eq!(split_frame(&stream[..used - 1], MAX_OUTPUT), Ok(None), "a cut frame split");
        if let Ok((header, body)) = ResponseHeader::decode(api, version, frame) {
            assert_eq!(ResponseHeader::peek_correlation_id(frame), Ok(header.correlation_id));
            assert!(frame.ends_with(body) && body.len() + 4 <= frame.len());
            decode_response(api, version, body);
        }
        stream = &stream[used..];
    }
});
