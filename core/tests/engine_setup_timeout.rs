//! `socket.connection.setup.timeout.ms` / `.max.ms` (Java's `ClusterConnectionStates`): the
//! setup timeout the engine hands the driver for a connect doubles per consecutive failed
//! attempt, stays within 20% jitter of that term, never exceeds the maximum, and starts over
//! once a connection came up. The jitter comes from the seeded generator: the same seed gives
//! the same timeouts.
#![cfg(feature = "alloc")] // Storage::with_capacity

use core::time::Duration;

use kprod_core::config::{Config, ConnectionConfig};
use kprod_core::producer::{Event, Producer, ProducerRecord, Storage};
use kprod_core::time::Instant;

/// Fails `attempts` connects in a row; returns the setup timeout of each.
fn timeouts(seed: u64, attempts: usize) -> Vec<Duration> {
    let connection = ConnectionConfig {
        setup_timeout: Duration::from_millis(1000),
        setup_timeout_max: Duration::from_millis(5000),
        ..ConnectionConfig::default()
    };
    let config = Config { connection, seed, reconnect_backoff: Duration::from_millis(10), ..Config::default() };
    let storage = Storage::with_capacity(&config, Default::default());
    let mut p = Producer::new(config.validate().unwrap(), &[("b1", 9092)], storage, Instant::ZERO).unwrap();
    let rec = ProducerRecord { topic: "t", partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    let _ = p.send(&rec, Instant::ZERO);
    let mut now = Instant::ZERO;
    let mut tx = vec![0u8; 4096];
    let mut next_connect = |p: &mut Producer<'_>, now: Instant| {
        p.handle_timeout(now);
        while p.poll_transmit(now, &mut tx).unwrap().is_some() {}
        let connect = core::iter::from_fn(|| p.poll_event()).find(|e| matches!(e, Event::Connect(_)));
        let Some(Event::Connect(c)) = connect else { panic!("no connect at {now:?}") };
        c
    };
    let mut seen = Vec::new();
    for _ in 0..attempts {
        let c = next_connect(&mut p, now);
        seen.push(p.connection_setup_timeout(c).expect("a timeout for the connect"));
        p.handle_disconnected(c, now);
        now = now + Duration::from_secs(2);
    }
    seen
}

#[test]
fn setup_timeout_doubles_per_failure_up_to_the_max() {
    let seen = timeouts(7, 6);
    for (attempt, t) in seen.iter().enumerate() {
        let term = (1000u64 << attempt).min(5000);
        let ms = t.as_millis() as u64;
        assert!(ms >= term * 8 / 10 && ms <= (term * 12 / 10).min(5000), "attempt {attempt}: {ms} ms, term {term}");
    }
    assert!(seen[2] > seen[0] * 2, "{seen:?}");
    // Jitter: not every seed gives the first attempt the same timeout; one seed replays.
    let firsts: Vec<Duration> = (0..8).map(|s| timeouts(s, 1)[0]).collect();
    assert!(firsts.iter().any(|t| *t != firsts[0]), "{firsts:?}");
    assert_eq!(timeouts(3, 4), timeouts(3, 4));
}

#[test]
fn the_max_below_the_initial_is_refused_with_both_names() {
    let connection = ConnectionConfig {
        setup_timeout: Duration::from_secs(10),
        setup_timeout_max: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    let e = Config { connection, ..Config::default() }.validate().unwrap_err().to_string();
    assert!(
        e.contains("socket.connection.setup.timeout.max.ms") && e.contains("socket.connection.setup.timeout.ms"),
        "{e}"
    );
}
