//! Cross-check against the Java client (kafka-clients 4.1.1): `tests/vectors/protocol/vectors.txt`
//! holds bodies that its generated message classes wrote, with the field values they read back.
//! We encode the same requests and compare bytes, decode the responses and compare fields, and
//! feed truncated and corrupted responses to every decoder.
#![cfg(feature = "std")]

extern crate alloc;

mod support;

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::*;

use support::requests::encode_case;
use support::responses::{decode_flat, flat_api_versions};
use support::{hex, parse};

#[test]
fn requests_encode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in cases.iter().filter(|c| c.what.contains(" request")) {
        let ours = encode_case(&c.what, c.version, &c.fields).unwrap();
        assert_eq!(hex(&ours), hex(&c.body), "{} v{}", c.what, c.version);
        n += 1;
    }
    assert!(n >= 60, "only {n} request cases");
}

#[test]
fn responses_decode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in &cases {
        let Some(decoded) = decode_flat(&c.what, c.version, &c.body) else {
            continue;
        };
        let ours = decoded.unwrap_or_else(|e| panic!("{} v{}: {e}", c.what, c.version));
        assert_eq!(ours, c.fields, "{} v{}", c.what, c.version);
        n += 1;
    }
    assert!(n >= 45, "only {n} response cases");
}

#[test]
fn response_headers_decode_like_java() {
    let (cases, _) = parse();
    for c in cases.iter().filter(|c| c.what.starts_with("response_header")) {
        // Produce v8 has a v0 response header, v9 a v1 header.
        let (h, body) = ResponseHeader::decode(ApiKey::Produce, 8 + c.version, &c.body).unwrap();
        assert_eq!(h.correlation_id.to_string(), c.fields["correlation_id"]);
        assert!(body.is_empty());
        assert_eq!(ResponseHeader::peek_correlation_id(&c.body).unwrap(), h.correlation_id);
    }
}

#[test]
fn unsupported_api_versions_answer_falls_back_to_v0() {
    let (cases, _) = parse();
    let c = cases.iter().find(|c| c.what == "api_versions response unsupported").unwrap();
    for asked in 0..=4 {
        let r = ApiVersionsResponse::decode(asked, &c.body).unwrap();
        assert_eq!(r.error_code, ErrorCode::UnsupportedVersion);
        assert_eq!(flat_api_versions(&r), c.fields);
        assert_eq!(r.range(ApiKey::Produce), Some(VersionRange::new(0, 13)));
        assert_eq!(r.choose(ApiKey::Produce), Some(13));
        assert_eq!(r.choose(ApiKey::Other(1000)), None);
    }
}

#[test]
fn api_table_matches_java() {
    let (_, lines) = parse();
    for l in lines.iter().filter(|l| l[0] == "api") {
        let api = ApiKey::from_code(l[1].parse().unwrap());
        let schema = api.schema_versions().unwrap();
        let supported = api.supported_versions().unwrap();
        assert_eq!((schema.min, supported.min), (l[2].parse().unwrap(), l[2].parse().unwrap()), "{api:?}");
        assert_eq!(supported.max, l[3].parse::<i16>().unwrap(), "{api:?} latest stable");
        assert_eq!(schema.max, l[4].parse::<i16>().unwrap(), "{api:?} latest");
    }
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "header") {
        let api = ApiKey::from_code(l[1].parse().unwrap());
        let v: i16 = l[2].parse().unwrap();
        assert_eq!(api.request_header_version(v).to_string(), l[3], "{api:?} v{v}");
        assert_eq!(api.response_header_version(v).to_string(), l[4], "{api:?} v{v}");
        n += 1;
    }
    assert_eq!(n, 11 + 14 + 2 + 5 + 7 + 3);
}

#[test]
fn error_table_matches_java() {
    let (_, lines) = parse();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "error") {
        let code: i16 = l[1].parse().unwrap();
        let e = ErrorCode::from_code(code);
        assert!(!matches!(e, ErrorCode::Unknown(_)), "{code}");
        assert_eq!((e.code(), e.name()), (code, l[2]));
        assert_eq!(e.is_retriable().to_string(), l[3], "{}", l[2]);
        assert_eq!(e.is_invalid_metadata().to_string(), l[4], "{}", l[2]);
        n += 1;
    }
    assert_eq!(n, 135);
    assert_eq!(ErrorCode::from_code(134), ErrorCode::Unknown(134));
    assert_eq!(ErrorCode::Unknown(-7).code(), -7);
    assert_eq!(ErrorCode::NotLeaderOrFollower.to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
    assert!(ErrorCode::None.is_ok() && ErrorCode::None.into_result().is_ok());
}

#[test]
fn truncated_responses_fail_cleanly() {
    let (cases, _) = parse();
    for c in &cases {
        for cut in 0..c.body.len() {
            let prefix = &c.body[..cut];
            // A v1+ ApiVersions body cut before its tail may read as v0, the KIP-511 fallback.
            if c.what.starts_with("api_versions") && ApiVersionsResponse::decode(0, prefix).is_ok() {
                continue;
            }
            if let Some(Ok(_)) = decode_flat(&c.what, c.version, prefix) {
                panic!("{} v{} accepted {cut} of {} bytes", c.what, c.version, c.body.len());
            }
        }
    }
}

#[test]
fn corrupted_responses_never_panic() {
    let (cases, _) = parse();
    for c in cases.iter().filter(|c| decode_flat(&c.what, c.version, &c.body).is_some()) {
        let mut body = c.body.clone();
        for i in 0..body.len() {
            let orig = body[i];
            for b in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, orig ^ 0x40] {
                body[i] = b;
                // Ok or Err both fine; flattening walks every array of an accepted body.
                let _ = decode_flat(&c.what, c.version, &body);
            }
            body[i] = orig;
        }
        let mut longer = c.body.clone();
        longer.push(0);
        let res = decode_flat(&c.what, c.version, &longer).unwrap();
        // Only the ApiVersions fallback may find another reading of the extra byte.
        assert!(res.is_err() || c.what.starts_with("api_versions"), "{} v{}", c.what, c.version);
    }
}
