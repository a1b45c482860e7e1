//! `metadata.recovery.strategy` and `metadata.recovery.rebootstrap.trigger.ms` (KIP-899,
//! KIP-1102): which broker the engine asks for metadata when it has no connection. The
//! announced brokers serve while one is available; with `rebootstrap` the bootstrap addresses
//! serve again once every announced broker is in reconnect backoff, once no metadata came for
//! the trigger time, or once a broker answered REBOOTSTRAP_REQUIRED; with `none` they never do
//! after the first metadata.

use core::time::Duration;

use super::conn::ConnId;
use super::{Producer, Storage};
use crate::config::Config;
use crate::protocol::Node;
use crate::time::Instant;

fn producer(rebootstrap: bool, trigger_ms: u64) -> Producer<'static> {
    let mut config = Config { reconnect_backoff: Duration::from_secs(5), ..Config::default() };
    config.reconnect_backoff_max = Duration::from_secs(5);
    config.connection.rebootstrap = rebootstrap;
    config.connection.rebootstrap_trigger = Duration::from_millis(trigger_ms);
    let storage = Storage::with_capacity(&config, Default::default());
    let mut p = Producer::new(config.validate().unwrap(), &[("boot", 9092)], storage, Instant::ZERO).unwrap();
    // The first metadata announced broker 5, which is no longer where it was.
    p.meta.upsert_broker(&Node { node_id: 5, host: "old", port: 9092, rack: None }).unwrap();
    p
}

/// Connects to broker 5 and loses the connection at `at` ms: it is in reconnect backoff (5 s).
fn lose_broker_5(p: &mut Producer<'static>, at: u64) {
    let now = Instant::from_millis(at);
    p.now = now;
    assert_eq!(p.pick_any_node(), Some(5), "the announced broker serves while it is available");
    p.want_node_for_tests(5, now);
    let conn = (0..p.conns.len()).find(|&i| p.conns[i].is_used() && p.conns[i].node == 5).unwrap();
    p.handle_disconnected(ConnId(conn as u16), now);
}

#[test]
fn rebootstrap_when_every_announced_broker_is_unavailable() {
    let mut p = producer(true, 300_000);
    lose_broker_5(&mut p, 0);
    p.now = Instant::from_millis(100);
    assert_eq!(p.pick_any_node(), Some(-1), "the bootstrap address serves again");
    // The backoff over, the announced broker is available again and preferred.
    p.now = Instant::from_millis(10_000);
    assert_eq!(p.pick_any_node(), Some(5));
}

#[test]
fn strategy_none_never_goes_back_to_bootstrap() {
    let mut p = producer(false, 1);
    lose_broker_5(&mut p, 0);
    p.now = Instant::from_millis(100);
    assert_eq!(p.pick_any_node(), None, "no announced broker is available, and bootstrap is not used");
}

#[test]
fn rebootstrap_after_the_trigger_without_metadata() {
    let mut p = producer(true, 1_000);
    p.now = Instant::from_millis(0);
    assert_eq!(p.pick_any_node(), Some(5));
    // Still no metadata (the broker is reachable, but nothing came) past the trigger.
    p.now = Instant::from_millis(1_500);
    assert_eq!(p.pick_any_node(), Some(-1));
}

#[test]
fn rebootstrap_when_a_broker_answers_rebootstrap_required() {
    for (strategy, expected) in [(true, Some(-1)), (false, Some(5))] {
        let mut p = producer(strategy, 300_000);
        p.now = Instant::from_millis(0);
        assert_eq!(p.pick_any_node(), Some(5));
        // What a Metadata v13 answer with REBOOTSTRAP_REQUIRED leaves (metadata/tests.rs).
        p.meta.rebootstrap_required = true;
        assert_eq!(p.pick_any_node(), expected, "metadata.recovery.strategy rebootstrap: {strategy}");
    }
}
