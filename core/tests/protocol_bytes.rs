//! Hand-written byte vectors for the protocol module (the Java cross-check is in
//! `protocol_vectors.rs`): frames, version choice, encoder refusals and hostile lengths.

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::init_producer_id::*;
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::*;
use kprod_core::wire::{DecodeError, EncodeError, SliceSink};

#[rustfmt::skip]
static API_VERSIONS_V3_FRAME: [u8; 31] = [
    0, 0, 0, 27,                        // size
    0, 18, 0, 3, 0, 0, 0, 1,            // api key, version, correlation id
    0, 5, b'k', b'p', b'r', b'o', b'd', // client id: classic string even in header v2
    0,                                  // header tags
    6, b'k', b'p', b'r', b'o', b'd',    // compact client software name
    4, b'0', b'.', b'1',                // compact client software version
    0,                                  // body tags
];

#[test]
fn api_versions_request_frame() {
    let req = ApiVersionsRequest { client_software_name: "kprod", client_software_version: "0.1" };
    assert_eq!(request_frame_len(3, 1, Some("kprod"), &req), Ok(31));
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    assert_eq!(encode_request(&mut sink, 3, 1, Some("kprod"), &req), Ok(31));
    assert_eq!(sink.written(), &API_VERSIONS_V3_FRAME);
    assert_eq!(split_frame(&API_VERSIONS_V3_FRAME, 1 << 20), Ok(Some((&API_VERSIONS_V3_FRAME[4..], 31))));

    // v0-v2 have an empty body and header v1.
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    encode_request(&mut sink, 0, 7, None, &req).unwrap();
    assert_eq!(sink.written(), &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);

    let mut small = [0u8; 30];
    let err = encode_request(&mut SliceSink::new(&mut small), 3, 1, Some("kprod"), &req).unwrap_err();
    assert!(matches!(err, EncodeError::BufferTooSmall { .. }));
    assert_eq!(request_frame_len(5, 1, None, &req), Err(EncodeError::UnsupportedVersion(5)));
}

#[test]
fn split_frame_waits_and_rejects() {
    assert_eq!(split_frame(&[0, 0, 0], 100), Ok(None));
    assert_eq!(split_frame(&[0, 0, 0, 2, 9], 100), Ok(None));
    assert_eq!(split_frame(&[0, 0, 0, 2, 9, 8, 7], 100), Ok(Some((&[9u8, 8][..], 6))));
    assert_eq!(split_frame(&[0xff, 0xff, 0xff, 0xfe], 100), Err(DecodeError::NegativeLength(-2)));
    assert_eq!(
        split_frame(&[0x7f, 0xff, 0xff, 0xff], 100),
        Err(DecodeError::LimitExceeded { announced: i32::MAX as usize, limit: 100 })
    );
}

/// The one frame-length parser every driver and the engine use: lengths count the prefix.
#[test]
fn framing_measures_whole_frames_and_refuses_bad_prefixes() {
    assert_eq!(framing(&[0, 0], 100), Framing::Partial);
    assert_eq!(framing(&[0, 0, 0, 2, 9], 100), Framing::Partial);
    assert_eq!(framing(&[0, 0, 0, 2, 9, 8, 7], 100), Framing::Frame(6));
    assert_eq!(framing(&[0, 0, 0, 96], 100), Framing::Partial, "96 + 4 fits a limit of 100");
    assert_eq!(framing(&[0, 0, 0, 97], 100), Framing::TooLarge(101));
    assert_eq!(framing(&[0xff, 0xff, 0xff, 0xfe], 100), Framing::Malformed(-2));
    assert_eq!(framing(&[0x7f, 0xff, 0xff, 0xff], usize::MAX), Framing::Partial);
}

#[rustfmt::skip]
static API_VERSIONS_V0_RESPONSE: [u8; 20] = [
    0, 0,             // error
    0, 0, 0, 2,       // two keys
    0, 0, 0, 0, 0, 11, // Produce 0..11
    0, 22, 0, 0, 0, 6, // InitProducerId 0..6
    0, 0,             // (trailing, for the test below)
];

#[test]
fn api_versions_response_and_version_choice() {
    let body = &API_VERSIONS_V0_RESPONSE[..18];
    let r = ApiVersionsResponse::decode(0, body).unwrap();
    assert_eq!(r.api_keys.len(), 2);
    assert_eq!(r.choose(ApiKey::Produce), Some(11));
    // v6 is unstable in Kafka 4.1: never negotiated.
    assert_eq!(r.choose(ApiKey::InitProducerId), Some(5));
    assert_eq!(r.choose(ApiKey::Metadata), None);
    assert_eq!(r.api_keys.get(1).map(|k| k.api_key), Some(ApiKey::InitProducerId));
    assert_eq!(format!("{:?}", r.api_keys).matches("ApiVersion {").count(), 2);
    assert_eq!(ApiVersionsResponse::decode(0, &API_VERSIONS_V0_RESPONSE), Err(DecodeError::TrailingBytes(2)));

    let produce = |min, max| choose_version(ApiKey::Produce, VersionRange::new(min, max));
    assert_eq!(produce(0, 2), None, "KIP-896: never below v3");
    assert_eq!(produce(0, 3), Some(3));
    assert_eq!(produce(5, 20), Some(13));
    assert_eq!(produce(14, 20), None);
    assert_eq!(choose_version(ApiKey::Other(1), VersionRange::new(0, 10)), None);
    assert_eq!(ApiKey::from_code(36), ApiKey::SaslAuthenticate);
    assert_eq!(ApiKey::Other(50).request_header_version(9), 1);
    assert_eq!(ApiKey::ApiVersions.response_header_version(4), 0);
}

#[rustfmt::skip]
static PRODUCE_V10_RESPONSE: [u8; 72] = [
    2,                             // one topic
    2, b't',                       // name "t"
    2,                             // one partition
    0, 0, 0, 1,                    // index 1
    0, 6,                          // NOT_LEADER_OR_FOLLOWER
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base offset -1
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
    0, 0, 0, 0, 0, 0, 0, 9,        // log start offset 9
    1,                             // no record errors
    0,                             // null error message
    2,                             // two tagged fields
    0, 9, 0, 0, 0, 3, 0, 0, 0, 4, 0, // tag 0: leader 3, epoch 4, no tags
    9, 1, 0xaa,                    // tag 9: unknown, skipped
    0,                             // topic tags
    0, 0, 0, 0,                    // throttle
    1, 0, 13, 2, 0, 0, 0, 3, 2, b'h', 0, 0, 0, 7, 0, 0, // tag 0: node 3 "h":7, null rack
];

#[test]
fn produce_response_with_leader_hints() {
    let r = ProduceResponse::decode(10, &PRODUCE_V10_RESPONSE).unwrap();
    let topic = r.responses.get(0).unwrap();
    assert_eq!(topic.name, "t");
    let p = topic.partition_responses.get(0).unwrap();
    assert_eq!((p.index, p.error_code, p.log_start_offset), (1, ErrorCode::NotLeaderOrFollower, 9));
    assert!(p.error_code.is_retriable() && p.error_code.is_invalid_metadata());
    assert_eq!(p.current_leader, Some(LeaderIdAndEpoch { leader_id: 3, leader_epoch: 4 }));
    let node = r.node_endpoints.get(0).unwrap();
    assert_eq!(node, Node { node_id: 3, host: "h", port: 7, rack: None });
    // v9 has the same layout but no hints: the tags are skipped.
    let v9 = ProduceResponse::decode(9, &PRODUCE_V10_RESPONSE).unwrap();
    assert!(v9.node_endpoints.is_empty());
    assert_eq!(v9.responses.get(0).unwrap().partition_responses.get(0).unwrap().current_leader, None);
    // A leader hint whose size disagrees with its content is rejected.
    let mut bad = PRODUCE_V10_RESPONSE;
    bad[38] = 10;
    assert!(ProduceResponse::decode(10, &bad).is_err());
    assert_eq!(ProduceResponse::decode(2, &PRODUCE_V10_RESPONSE), Err(DecodeError::UnsupportedVersion(2)));
}

#[test]
fn absurd_lengths_are_rejected() {
    // Metadata v1: 2^31-1 brokers in 6 bytes.
    let r = MetadataResponse::decode(1, &[0x7f, 0xff, 0xff, 0xff, 0, 0]);
    assert!(matches!(r, Err(DecodeError::LimitExceeded { .. })));
    // Metadata v9: a compact array of 2^32-2 brokers.
    let r = MetadataResponse::decode(9, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    assert!(matches!(r, Err(DecodeError::LimitExceeded { .. })));
    // Produce v3: a topic name of 32767 bytes with 2 present.
    let r = ProduceResponse::decode(3, &[0, 0, 0, 1, 0x7f, 0xff, b'a', b'b']);
    assert!(matches!(r, Err(DecodeError::Truncated { .. })));
    // Produce v9: negative classic lengths never appear; a tagged field claiming 2^28 bytes.
    let r = ProduceResponse::decode(9, &[1, 0, 0, 0, 0, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert!(r.is_err());
    // Metadata v0: a negative partition count.
    let mut body = [0u8; 17];
    body[7] = 1; // no brokers, one topic
    body[11] = 1; // no error, name "x"
    body[12] = b'x';
    body[13..].copy_from_slice(&(-5i32).to_be_bytes());
    assert_eq!(MetadataResponse::decode(0, &body), Err(DecodeError::NegativeLength(-5)));
}

#[test]
fn encoders_refuse_what_a_version_cannot_carry() {
    let mut buf = [0u8; 256];
    let parts = [PartitionProduceData { index: 0, records: &[1, 2, 3] }];
    let topics = [TopicProduceData { name: "t", topic_id: None, partition_data: &parts }];
    let req = ProduceRequest { transactional_id: None, acks: 0, timeout_ms: 1, topic_data: &topics };
    assert!(!req.expects_response());
    assert_eq!(req.encode(2, &mut SliceSink::new(&mut buf)), Err(EncodeError::UnsupportedVersion(2)));
    assert_eq!(req.encode(13, &mut SliceSink::new(&mut buf)), Err(EncodeError::MissingField("topic_id")));
    let mut sink = SliceSink::new(&mut buf);
    req.encode(3, &mut sink).unwrap();
    #[rustfmt::skip]
    let v3 = [0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3];
    assert_eq!(sink.written(), &v3);

    let mut bump = InitProducerIdRequest::new(None, 60_000);
    bump.producer_id = 7;
    assert_eq!(bump.encode(2, &mut SliceSink::new(&mut buf)), Err(EncodeError::UnsupportedField("producer_id")));
    assert!(bump.encode(3, &mut SliceSink::new(&mut buf)).is_ok());
    bump.enable_2pc = true;
    assert_eq!(bump.encode(5, &mut SliceSink::new(&mut buf)), Err(EncodeError::UnsupportedField("enable_2pc")));

    let by_id = [MetadataRequestTopic { topic_id: [1; 16], name: None }];
    assert_eq!(
        MetadataRequest::new(Some(&by_id)).encode(9, &mut SliceSink::new(&mut buf)),
        Err(EncodeError::MissingField("name"))
    );
    let mut no_create = MetadataRequest::new(None);
    no_create.allow_auto_topic_creation = false;
    assert_eq!(
        no_create.encode(3, &mut SliceSink::new(&mut buf)),
        Err(EncodeError::UnsupportedField("allow_auto_topic_creation"))
    );
    // v0 has no null array: all topics is an empty one.
    let mut sink = SliceSink::new(&mut buf);
    MetadataRequest::new(None).encode(0, &mut sink).unwrap();
    assert_eq!(sink.written(), &[0, 0, 0, 0]);
    let mut sink = SliceSink::new(&mut buf);
    MetadataRequest::new(None).encode(1, &mut sink).unwrap();
    assert_eq!(sink.written(), &[0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn configured_limits_apply_to_every_nested_reader() {
    use kprod_core::wire::Limits;
    let ok = ProduceResponse::decode_with_limits(10, &PRODUCE_V10_RESPONSE, Limits::DEFAULT).unwrap();
    assert_eq!(ok.node_endpoints.len(), 1);
    // With an empty topic name, the only non-empty string is the node endpoint host "h", which
    // sits inside a tagged field: a zero-length string cap must reach that nested reader.
    let mut empty_name = PRODUCE_V10_RESPONSE.to_vec();
    empty_name.remove(2);
    empty_name[1] = 1;
    let no_strings = Limits { max_string: 0, ..Limits::DEFAULT };
    let parsed = ProduceResponse::decode(10, &empty_name).unwrap();
    assert_eq!(parsed.responses.get(0).unwrap().name, "");
    let err = ProduceResponse::decode_with_limits(10, &empty_name, no_strings).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { announced: 1, limit: 0 }), "{err:?}");
    // An array cap below the response's two ApiVersions entries is refused up front.
    let one_entry = Limits { max_array: 1, ..Limits::DEFAULT };
    let body = &API_VERSIONS_V0_RESPONSE[..18];
    let err = ApiVersionsResponse::decode_with_limits(0, body, one_entry).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { announced: 2, limit: 1 }), "{err:?}");
    assert!(ApiVersionsResponse::decode_with_limits(0, body, Limits::DEFAULT).is_ok());
}
