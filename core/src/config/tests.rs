use super::*;

fn conflict_settings(c: Config<'_>) -> &'static [&'static str] {
    match c.validate() {
        Err(ConfigError::Conflict { settings, .. }) => settings,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn with_client_id_keeps_every_other_setting() {
    let mut c = Config::default();
    for (k, v) in [("acks", "1"), ("linger.ms", "17"), ("batch.size", "4096"), ("compression.type", "lz4")] {
        c.set_property(k, v).unwrap();
    }
    let bytes = *b"other"; // a local id: lives shorter than the defaults' 'static one
    let moved = c.clone().with_client_id(core::str::from_utf8(&bytes).unwrap());
    assert_eq!(moved.client_id, "other");
    assert_eq!(Config { client_id: c.client_id, ..moved }, c);
}

#[test]
fn defaults_are_valid_and_idempotent() {
    let v = Config::default().validate().unwrap();
    assert!(v.idempotent());
    assert_eq!(v.config().acks.wire(), -1);
}

#[test]
fn default_idempotence_yields_to_acks_1_but_explicit_does_not() {
    let c = Config { acks: Acks::Leader, ..Config::default() };
    assert!(!c.clone().validate().unwrap().idempotent());
    let explicit = Config { enable_idempotence: Some(true), ..c };
    assert_eq!(conflict_settings(explicit), &["enable.idempotence", "acks"]);
    let in_flight = Config { enable_idempotence: Some(true), max_in_flight: 6, ..Config::default() };
    assert_eq!(conflict_settings(in_flight), &["enable.idempotence", "max.in.flight.requests.per.connection"]);
    let retries = Config { enable_idempotence: Some(true), retries: 0, ..Config::default() };
    assert_eq!(conflict_settings(retries), &["enable.idempotence", "retries"]);
}

#[test]
fn delivery_timeout_must_cover_linger_and_request_timeout() {
    let c = Config {
        delivery_timeout: Duration::from_millis(30_004),
        linger: Duration::from_millis(5),
        request_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    assert_eq!(conflict_settings(c.clone()), &["delivery.timeout.ms", "linger.ms", "request.timeout.ms"]);
    let ok = Config { delivery_timeout: Duration::from_millis(30_005), ..c };
    assert!(ok.validate().is_ok());
}

#[test]
fn properties_parse_and_unknown_is_refused() {
    let mut c = Config::default();
    c.set_property("acks", "1").unwrap();
    c.set_property("linger.ms", " 20 ").unwrap();
    c.set_property("compression.type", "lz4").unwrap();
    c.set_property("enable.idempotence", "false").unwrap();
    c.set_property("client.id", "app-7").unwrap();
    assert_eq!(
        (c.acks, c.linger, c.compression, c.client_id),
        (Acks::Leader, Duration::from_millis(20), Compression::Lz4, "app-7")
    );
    assert_eq!(c.set_property("lingr.ms", "1"), Err(ConfigError::UnknownProperty));
    assert!(matches!(c.set_property("acks", "2"), Err(ConfigError::InvalidValue { setting: "acks", .. })));
    assert!(matches!(c.set_property("batch.size", "-1"), Err(ConfigError::InvalidValue { setting: "batch.size", .. })));
    assert!(matches!(c.set_property("compression.type", "brotli"), Err(ConfigError::InvalidValue { .. })));
}

#[test]
fn compression_levels_take_java_names_ranges_and_defaults() {
    let d = CompressionLevels::default();
    // Java's defaults: gzip -1 (Deflater's default), lz4 9, zstd 3.
    assert_eq!((d.gzip, d.lz4, d.zstd), (-1, 9, 3));
    assert_eq!(d.for_codec(Compression::Gzip), None);
    assert_eq!(d.for_codec(Compression::Snappy), None);
    let mut c = Config::default();
    c.set_property("compression.gzip.level", "1").unwrap();
    c.set_property("compression.lz4.level", "17").unwrap();
    c.set_property("compression.zstd.level", "-5").unwrap();
    assert_eq!(c.compression_levels.for_codec(Compression::Gzip), Some(1));
    assert_eq!(c.compression_levels.for_codec(Compression::Zstd), Some(-5));
    assert!(c.clone().validate().is_ok());
    for (k, v) in [
        ("compression.gzip.level", "0"),
        ("compression.gzip.level", "10"),
        ("compression.lz4.level", "18"),
        ("compression.zstd.level", "23"),
    ] {
        let mut bad = Config::default();
        bad.set_property(k, v).unwrap();
        match bad.validate() {
            Err(ConfigError::InvalidValue { setting, .. }) => assert_eq!(setting, k),
            other => panic!("{k}={v}: {other:?}"),
        }
    }
    assert!(matches!(
        c.set_property("compression.zstd.level", "x"),
        Err(ConfigError::InvalidValue { setting: "compression.zstd.level", .. })
    ));
}

#[test]
fn ranges_are_checked() {
    let bad = Config { max_in_flight: 0, ..Config::default() };
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::InvalidValue { setting: "max.in.flight.requests.per.connection", .. })
    ));
    let pin = Config { api_version: ApiVersionPolicy::PinProduce(2), ..Config::default() };
    assert!(matches!(pin.validate(), Err(ConfigError::InvalidValue { setting: "api.version", .. })));
    // zstd needs Produce v7 (a build without the codec refuses it before that check).
    #[cfg(feature = "zstd")]
    {
        let zstd_v6 = Config {
            compression: Compression::Zstd,
            api_version: ApiVersionPolicy::PinProduce(6),
            ..Config::default()
        };
        assert_eq!(conflict_settings(zstd_v6), &["compression.type", "api.version"]);
        let zstd_v7 = Config {
            compression: Compression::Zstd,
            api_version: ApiVersionPolicy::PinProduce(7),
            ..Config::default()
        };
        assert!(zstd_v7.validate().is_ok());
    }
    let tiny = Config { buffer_memory: 100, ..Config::default() };
    assert_eq!(conflict_settings(tiny), &["batch.size", "buffer.memory"]);
}

#[test]
fn batch_max_size_defaults_to_kip_782s_and_is_checked_against_batch_and_request_size() {
    let default = Config::default();
    assert_eq!(default.effective_batch_max_size(), 256 * 1024);
    // The default never conflicts: a larger batch.size raises it, a smaller
    // max.request.size lowers it (never below batch.size).
    let big = Config { batch_size: 512 * 1024, ..Config::default() };
    assert_eq!(big.clone().validate().map(|_| big.effective_batch_max_size()), Ok(512 * 1024));
    let small = Config { max_request_size: 100_000, ..Config::default() };
    assert_eq!(small.clone().validate().map(|_| small.effective_batch_max_size()), Ok(100_000));
    let mut java = Config::default();
    java.set_property("batch.max.size", "16384").unwrap();
    assert_eq!(java.clone().validate().map(|_| java.effective_batch_max_size()), Ok(16384));
    // Set explicitly, it must lie between them.
    let below = Config { batch_max_size: Some(8192), ..Config::default() };
    assert_eq!(conflict_settings(below), &["batch.max.size", "batch.size"]);
    let above = Config { batch_max_size: Some(2 << 20), ..Config::default() };
    assert_eq!(conflict_settings(above), &["batch.max.size", "max.request.size"]);
    assert!(matches!(
        Config::default().set_property("batch.max.size", "-1"),
        Err(ConfigError::InvalidValue { setting: "batch.max.size", .. })
    ));
}
