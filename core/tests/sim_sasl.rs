//! SASL against the simulated cluster (`sim/sasl.rs`): every mechanism end to end, sessions so
//! short that connections re-authenticate between in-flight batches, a broker that refuses
//! authentication, and a mechanism the brokers do not enable. The general properties of
//! `sim/check.rs` hold in each (no request before authentication is one of them).
//!
//! `KPROD_SIM_TRACE=1 cargo test -p kprod-core --test sim_sasl <name> -- --nocapture`
//! prints a trace of every step.
#![cfg(all(feature = "alloc", feature = "sasl"))]

extern crate alloc;

mod sim;

use core::time::Duration;

use kprod_core::producer::{ConnId, DeliveryError, SendError};
use kprod_core::protocol::{ApiKey, ErrorCode};
use kprod_core::sasl::Mechanism;
use kprod_core::time::Instant;

use sim::sasl::SimSasl;
use sim::scenario::value_for;
use sim::{run_sim, Planned, Scenario, Sim};

const ALL: [Mechanism; 4] = [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer];

fn scenario(seed: u64, brokers: usize, sasl: SimSasl, records: usize, every_ms: u64) -> Scenario {
    let mut sc = Scenario::simple(seed, 4, 0);
    sc.brokers = brokers;
    sc.bootstrap = (0..brokers as i32).collect();
    sc.records = (0..records)
        .map(|i| Planned {
            topic: "t0".into(),
            partition: Some(i as u32 % 4),
            key: None,
            value: value_for(i, 30),
            at: Instant::from_millis(5 + i as u64 * every_ms),
        })
        .collect();
    sc.config.sasl = sasl.config();
    sc.config.linger = Duration::from_millis(2);
    sc.expect.all_delivered = sasl.refuse_node.is_none() && !sasl.refuses_all(brokers);
    sc.sasl = Some(sasl);
    sc
}

fn run(sc: Scenario) -> Sim {
    let mut sim = Sim::new(sc);
    sim.trace = std::env::var_os("KPROD_SIM_TRACE").is_some();
    if sim.trace {
        eprint!("{}", sim.sc.describe());
    }
    let v = run_sim(&mut sim);
    assert!(v.is_empty(), "seed {} violates:\n{}", sim.sc.seed, v.join("\n"));
    sim
}

fn answered(sim: &Sim, api: ApiKey) -> u64 {
    sim.answered.get(&api.code()).copied().unwrap_or(0)
}

fn delivered(sim: &Sim) -> u32 {
    sim.out.completions.values().filter(|c| c.result.is_ok()).map(|c| c.records).sum()
}

#[test]
fn every_mechanism_authenticates_then_delivers() {
    for (seed, mechanism) in ALL.into_iter().enumerate() {
        let sasl = SimSasl { mechanism, enabled: ALL.to_vec(), session_ms: 0, refuse_node: None };
        let sim = run(scenario(seed as u64, 2, sasl, 40, 1));
        assert_eq!(delivered(&sim), 40, "{mechanism:?}");
        assert!(answered(&sim, ApiKey::SaslAuthenticate) >= 2, "{mechanism:?}: every connection authenticates");
    }
}

#[test]
fn short_sessions_reauthenticate_between_in_flight_batches() {
    for (seed, mechanism) in ALL.into_iter().enumerate() {
        // A 25 ms session and a record every 2 ms for 600 ms: the connections re-authenticate
        // many times with batches in flight, and nothing fails or is written twice.
        let sasl = SimSasl { mechanism, enabled: ALL.to_vec(), session_ms: 25, refuse_node: None };
        let sim = run(scenario(100 + seed as u64, 1, sasl, 300, 2));
        assert_eq!(delivered(&sim), 300, "{mechanism:?}");
        let handshakes = answered(&sim, ApiKey::SaslHandshake);
        assert!(handshakes >= 15, "{mechanism:?}: only {handshakes} SaslHandshakes in 600 ms of 25 ms sessions");
    }
}

#[test]
fn acks_0_records_are_not_lost_to_a_session_the_latency_ended() {
    // acks=0 has no answer to retry on: a Produce that reaches the broker after the session
    // ended is dropped with the connection. A 3 ms trip each way and a 40 ms session: counted
    // from the SaslAuthenticate answer (Java), the 85-95% point leaves 2-6 ms of which the
    // answer's trip took 3, and a Produce sent late in the window arrived after the end (seed
    // 214554 of sim_properties lost two records so). Counted from the request, 2-6 ms cover
    // the 3 ms trip of any Produce sent before it.
    for (seed, mechanism) in ALL.into_iter().enumerate() {
        let sasl = SimSasl { mechanism, enabled: ALL.to_vec(), session_ms: 40, refuse_node: None };
        let mut sc = scenario(400 + seed as u64, 1, sasl, 400, 1);
        sc.config.acks = kprod_core::config::Acks::None;
        sc.config.enable_idempotence = None;
        sc.faults.latency = (3000, 3000);
        let sim = run(sc);
        assert_eq!(sim.out.expired_sessions, 0, "{mechanism:?}: a request arrived after its session");
        assert_eq!(delivered(&sim), 400, "{mechanism:?}");
        assert!(answered(&sim, ApiKey::SaslHandshake) >= 8, "{mechanism:?}: the sessions were renewed");
    }
}

#[test]
fn a_refusing_broker_fails_only_its_records_once_and_is_not_retried() {
    for mechanism in ALL {
        let sasl = SimSasl { mechanism, enabled: ALL.to_vec(), session_ms: 0, refuse_node: Some(1) };
        let sim = run(scenario(200, 2, sasl, 40, 1));
        let failed: Vec<DeliveryError> = sim.out.completions.values().filter_map(|c| c.result.err()).collect();
        assert!(!failed.is_empty(), "{mechanism:?}: broker 1 leads partitions, their records fail");
        for e in &failed {
            assert!(matches!(e, DeliveryError::Authentication { node: 1, .. }), "{mechanism:?}: {e:?}");
        }
        assert!(delivered(&sim) > 0, "{mechanism:?}: broker 0's partitions are delivered");
        // The failed records' broker said why, in its own words (Java's
        // SaslAuthenticationException): the refusing connection keeps the message.
        let said: Vec<String> =
            (0..8).filter_map(|c| sim.producer.auth_error(ConnId(c))).map(|e| e.to_string()).collect();
        assert!(
            said.iter().any(|t| t.contains(sim::sasl::REFUSED)),
            "{mechanism:?}: the broker's message is lost: {said:?}"
        );
        // Broker 1 is tried once (twice if a metadata connection went there first), never in a loop.
        let tries = answered(&sim, ApiKey::SaslAuthenticate);
        assert!(tries <= 8, "{mechanism:?}: {tries} SaslAuthenticate requests: a retry storm");
    }
}

#[test]
fn a_mechanism_the_broker_lacks_is_one_handshake_not_a_loop() {
    let enabled = vec![Mechanism::ScramSha512];
    let sasl = SimSasl { mechanism: Mechanism::Plain, enabled, session_ms: 0, refuse_node: None };
    let sim = run(scenario(300, 1, sasl, 5, 1));
    assert_eq!(delivered(&sim), 0);
    assert_eq!(answered(&sim, ApiKey::SaslHandshake), 1, "no reconnect to a broker that refused");
    assert_eq!(answered(&sim, ApiKey::Metadata), 0, "nothing before authentication");
    // `send` fails at once with the typed refusal (the bootstrap address has a negative id).
    assert_eq!(sim.out.refused.len(), 5);
    for (_, e) in &sim.out.refused {
        assert!(matches!(e, SendError::Authentication { code: ErrorCode::UnsupportedSaslMechanism, .. }), "{e:?}");
    }
    let error = sim.producer.auth_error(ConnId(0)).expect("the broker's refusal is kept");
    assert_eq!(error.code(), ErrorCode::UnsupportedSaslMechanism);
    let shown = error.to_string();
    assert!(shown.contains("sasl.mechanism=PLAIN") && shown.contains("enables: SCRAM-SHA-512"), "{shown}");
}

/// Seeds of `sim_properties` that showed engine bugs with SASL:
/// - 214554 (acks=0, 54 ms sessions, fault-free): a Produce sent late in the 85-95% window,
///   counted from the SaslAuthenticate answer, reached the broker after the session ended and
///   its two records were lost with the link. Found on an older integrate; the draws of later
///   changes moved its timing, so `acks_0_records_are_not_lost_to_a_session_the_latency_ended`
///   is the test that fails without the fix; the seed stays as a run of its scenario.
#[test]
fn regression_seeds() {
    let seeds: &[u64] = &[214554];
    for &seed in seeds {
        let (s, v) = sim::run_scenario(Scenario::random(seed), std::env::var_os("KPROD_SIM_TRACE").is_some());
        assert!(s.sc.sasl.as_ref().is_some_and(|a| a.session_ms > 0), "seed {seed} has SASL sessions");
        assert!(v.is_empty(), "seed {seed} violates:\n{}", v.join("\n"));
    }
}
