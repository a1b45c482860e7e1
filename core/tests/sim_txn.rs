//! Transactions against the simulated cluster's coordinator (`sim/coordinator.rs`, `sim/txn.rs`):
//! targeted scenarios for each fault the coordinator path must survive, in both flows, and the
//! seeds of `sim_properties` that found engine bugs, kept as regressions. The random seeds
//! (a quarter of `sim_properties`' runs are transactional) check the same properties broadly.
//!
//! `KPROD_SIM_TRACE=1 cargo test -p kprod-core --test sim_txn <name> -- --nocapture` prints a
//! trace of every step.
#![cfg(all(feature = "alloc", feature = "transactions"))]

extern crate alloc;

use alloc::rc::Rc;
use core::cell::Cell;
use core::time::Duration;

mod sim;

use kprod_core::producer::txn::TxnError;
use kprod_core::producer::FatalError;
use kprod_core::protocol::{ApiKey, ErrorCode};
use kprod_core::time::Instant;

use sim::coordinator::Ended;
use sim::net::ClusterEvent;
use sim::rng::SimRng;
use sim::txn::{Outcome, PlannedTxn, TxnPlan};
use sim::{run_sim, Fate, Scenario, Sim};

/// A fault-free transactional run: `records` records in transactions of 4, committed or
/// aborted as `commits` says (cycled), offsets with every third one.
fn scenario(seed: u64, v2: bool, records: usize, commits: &[bool]) -> Scenario {
    let mut sc = Scenario::simple(seed, 3, records);
    sc.make_transactional(&mut SimRng::new(seed), false);
    let txns = (0..records.div_ceil(4))
        .map(|k| PlannedTxn {
            records: k * 4..(k * 4 + 4).min(records),
            commit: commits[k % commits.len()],
            offsets: (k % 3 == 0).then_some(false),
        })
        .collect();
    let plan = sc.txn.as_mut().expect("transactional");
    *plan = TxnPlan { v2, txns, transient: 0, lose_end: 0, fence_at: None, ..plan.clone() };
    sc
}

fn sim(sc: Scenario) -> Sim {
    sim::traced(sc)
}

fn run_clean(sim: &mut Sim) {
    let v = run_sim(sim);
    assert!(v.is_empty(), "seed {} violates:\n{}", sim.sc.seed, v.join("\n"));
}

fn outcomes(sim: &Sim) -> Vec<Outcome> {
    sim.txn_app.as_ref().expect("transactional").outcomes.clone()
}

fn ended(sim: &Sim) -> Vec<Ended> {
    sim.cluster.txn.as_ref().expect("transactional").ended.clone()
}

#[test]
fn commits_and_aborts_in_both_flows() {
    for v2 in [false, true] {
        let mut s = sim(scenario(1, v2, 24, &[true, false, true]));
        run_clean(&mut s);
        let want: Vec<Outcome> = [true, false, true]
            .iter()
            .cycle()
            .take(6)
            .map(|&c| if c { Outcome::Committed } else { Outcome::Aborted })
            .collect();
        assert_eq!(outcomes(&s), want, "v2={v2}");
        let commits = ended(&s).iter().filter(|e| e.commit).count();
        assert_eq!(commits, 4, "v2={v2}: the coordinator committed what the application committed");
        let c = s.cluster.txn.as_ref().expect("coordinator");
        // Transactions 0 and 3 send offsets (for partitions 0 and 1), and both commit.
        assert_eq!(c.committed.len(), 2, "v2={v2}: offsets of the committed transactions: {:?}", c.committed);
    }
}

#[test]
fn a_lost_end_txn_response_is_retried_and_commits_once() {
    for v2 in [false, true] {
        let mut s = sim(scenario(2, v2, 8, &[true]));
        s.response_hook = Some(Box::new(|ctx| (ctx.api == ApiKey::EndTxn && ctx.nth == 0).then_some(Fate::Lose)));
        run_clean(&mut s);
        assert_eq!(outcomes(&s), [Outcome::Committed, Outcome::Committed], "v2={v2}");
        let ends: Vec<bool> = ended(&s).iter().map(|e| e.commit).collect();
        assert_eq!(ends, [true, true], "v2={v2}: each transaction ended once at the coordinator");
        assert!(s.answered[&ApiKey::EndTxn.code()] >= 3, "v2={v2}: the lost EndTxn was sent again");
    }
}

#[test]
fn coordinator_moves_and_transient_errors_are_retried() {
    for v2 in [false, true] {
        let mut sc = scenario(3, v2, 16, &[true, false]);
        sc.brokers = 3;
        sc.topics = vec![("t0", 3)];
        let plan = sc.txn.as_mut().expect("transactional");
        plan.transient = 300;
        plan.coordinator = (1, 2);
        for (t, to) in [(5, 2), (15, 0), (40, 1)] {
            sc.faults
                .events
                .push((Instant::from_millis(t), ClusterEvent::CoordinatorMove { to, group_to: (to + 1) % 3 }));
        }
        let mut s = sim(sc);
        run_clean(&mut s);
        assert_eq!(outcomes(&s), [Outcome::Committed, Outcome::Aborted, Outcome::Committed, Outcome::Aborted]);
        let errors = &s.cluster.txn.as_ref().expect("coordinator").errors;
        let not_coordinator = errors.get(&ErrorCode::NotCoordinator.code()).copied().unwrap_or(0);
        assert!(not_coordinator > 0 && errors.len() >= 2, "v2={v2}: transient errors answered: {errors:?}");
    }
}

#[test]
fn a_fenced_producer_gets_a_typed_fatal_error_and_its_transaction_aborts() {
    for v2 in [false, true] {
        let mut sc = scenario(4, v2, 12, &[true]);
        // Fenced while the second transaction is open: its records are sent 1 ms apart from
        // 4 ms, and the application commits after the last one.
        sc.faults.events.push((Instant::from_micros(5_500), ClusterEvent::Fence));
        sc.txn.as_mut().expect("transactional").fence_at = Some(Instant::from_micros(5_500));
        sc.expect.all_delivered = false;
        let mut s = sim(sc);
        run_clean(&mut s);
        let app = s.txn_app.as_ref().expect("app");
        let fenced = FatalError::Broker(ErrorCode::ProducerFenced);
        let epoch = FatalError::Broker(ErrorCode::InvalidProducerEpoch);
        assert!(matches!(app.fatal, Some(TxnError::Fatal(e)) if e == fenced || e == epoch), "v2={v2}: {:?}", app.fatal);
        // Whatever was open at the fence aborted (run_clean checked read_committed).
        assert!(ended(&s).iter().all(|e| e.by != "fence" || !e.commit));
        assert_eq!(s.producer.fatal_error().map(|_| ()), Some(()));
    }
}

#[test]
fn a_stale_generation_makes_the_transaction_abortable() {
    for v2 in [false, true] {
        let mut sc = scenario(5, v2, 8, &[true]);
        sc.txn.as_mut().expect("transactional").txns[0].offsets = Some(true);
        let mut s = sim(sc);
        run_clean(&mut s);
        assert_eq!(outcomes(&s), [Outcome::Aborted, Outcome::Committed], "v2={v2}");
        let c = s.cluster.txn.as_ref().expect("coordinator");
        assert!(c.offset_commits.is_empty(), "v2={v2}: the refused offsets never commit: {:?}", c.offset_commits);
    }
}

/// The late answer of a TxnOffsetCommit an abort dropped arrives while the next transaction's
/// own TxnOffsetCommit is in flight behind it on the same connection (several requests in
/// flight): only the answer to the current call's request counts. The next call's offsets are
/// refused (a stale generation), so taking the old answer for theirs would commit the next
/// transaction as if its offsets were in.
#[test]
fn a_late_offsets_answer_does_not_pass_for_the_next_calls() {
    for v2 in [false, true] {
        let mut sc = scenario(6, v2, 8, &[true]);
        sc.brokers = 3;
        // Partition 0 is led by broker 0; the group coordinator is broker 2.
        sc.records.iter_mut().for_each(|r| r.partition = Some(0));
        sc.config.delivery_timeout = Duration::from_millis(1500);
        let plan = sc.txn.as_mut().expect("transactional");
        plan.coordinator = (1, 2);
        plan.txns[0].offsets = Some(false);
        plan.txns[1].offsets = Some(true);
        sc.expect.all_delivered = false;
        let mut s = sim(sc);
        // The first transaction's records time out (broker 0 drops every Produce for 2 s) while
        // its offsets wait: the group lookup and the TxnOffsetCommit are each answered 0.9 s
        // late (inside request.timeout.ms, 1 s), so that answer is still on its way when the
        // application has aborted and sent the next transaction's offsets.
        let late = Duration::from_millis(900);
        let commits = Rc::new(Cell::new([None; 2]));
        let seen = Rc::clone(&commits);
        s.response_hook = Some(Box::new(move |ctx| match ctx.api {
            ApiKey::Produce if ctx.node == 0 && ctx.now < Instant::from_millis(2000) => Some(Fate::Lose),
            ApiKey::FindCoordinator if ctx.nth == 1 => Some(Fate::Delay(late.as_micros() as u64)),
            ApiKey::TxnOffsetCommit => {
                let mut at = seen.get();
                if let Some(slot) = at.get_mut(ctx.nth as usize) {
                    *slot = Some(ctx.now);
                }
                seen.set(at);
                (ctx.nth == 0).then_some(Fate::Delay(late.as_micros() as u64))
            }
            _ => None,
        }));
        run_clean(&mut s);
        // The case under test happened: the coordinator had the second TxnOffsetCommit before
        // the first one's late answer left it.
        let [Some(first), Some(second)] = commits.get() else { panic!("v2={v2}: two TxnOffsetCommits") };
        assert!(second < first + late, "v2={v2}: the second went at {second:?}, after the first's answer");
        assert_eq!(outcomes(&s), [Outcome::Aborted, Outcome::Aborted], "v2={v2}");
        let c = s.cluster.txn.as_ref().expect("coordinator");
        assert!(c.committed.is_empty(), "v2={v2}: no offsets commit: {:?}", c.committed);
        assert_eq!(s.answered[&ApiKey::TxnOffsetCommit.code()], 2, "v2={v2}: both calls sent their offsets");
    }
}

/// Seeds of `sim_properties` that showed engine bugs, fixed in `core/src/producer/txn/`:
/// - 79: after an abort that left a sequence gap (V1), AddPartitionsToTxn for the next
///   transaction went out with the old epoch while the InitProducerId bump was in flight, and
///   the coordinator fenced the producer;
/// - 287: a bump's InitProducerId retried (COORDINATOR_LOAD_IN_PROGRESS) could not go while the
///   next transaction was open, which waited for it: the abort's result now waits for the bump
///   (Java's `completeTransaction`);
/// - 993: V1 counted a transaction as started when AddOffsetsToTxn was *sent*; when it failed,
///   the abort's EndTxn reached a coordinator with nothing open: INVALID_TXN_STATE, fatal;
/// - 2023: an InitProducerId retry deadline while the coordinator was being looked up again woke
///   the driver for nothing;
/// - 2412: the reconnect deadline of a coordinator that refused authentication woke the driver
///   for nothing;
/// - 3671: the coordinator's address left the metadata (its broker was down): the engine asked
///   the driver to connect to a node without an address;
/// - 208, 3756: a call waiting for a coordinator that refused authentication never got a result
///   (Java fails it: `authenticationFailed`);
/// - 19086, 21472: the late answer of a TxnOffsetCommit the abort had dropped (a refusal such as
///   ILLEGAL_GENERATION) was classed during the abort: fatal, or a second result;
/// - 59109, 99295, 126465: a request due at the transaction coordinator (EndTxn in 59109)
///   while that connection's SASL re-authentication was due and a request was still
///   in flight there: `poll_timeout` offered the request's backoff, but nothing may go out until
///   the connection re-authenticates, which waits for the answer (an idle wake-up);
/// - 180223, 227881, 294015: another connection's loss while an InitProducerId was in flight
///   asked for it again: the second one bumped the epoch the first answer gave, and the
///   coordinator fenced the producer (PRODUCER_FENCED) at its first AddPartitionsToTxn;
/// - 294321 (V1): fenced, then the answer to the first AddPartitionsToTxn was lost and the
///   application aborted; the abort dropped the partitions and, the transaction not started,
///   ended with Ok. A partition whose add is unknown is now asked again before EndTxn (as Java
///   re-enqueues the request): the coordinator answers PRODUCER_FENCED, fatal;
/// - 7387835 (V1, one request in flight per connection): the answer to a TxnOffsetCommit an abort
///   had dropped came late, after the next transaction's AddOffsetsToTxn, while that
///   transaction's own TxnOffsetCommit waited behind it on the group coordinator's connection.
///   It passed for the new call's answer: `send_offsets_to_transaction` succeeded, its offsets
///   were never sent, and the transaction committed without them. Only the answer to the
///   current call's request (its connection and correlation id) counts now.
// Random scenarios: some of these seeds also draw SASL.
#[cfg(feature = "sasl")]
#[test]
fn regression_seeds() {
    let seeds = [
        79, 287, 993, 2023, 2412, 3671, 208, 3756, 19086, 21472, 59109, 99295, 126465, 180223, 227881, 294015, 294321,
        7387835,
    ];
    for seed in seeds {
        let (s, v) = sim::run_scenario(Scenario::random(seed), std::env::var_os("KPROD_SIM_TRACE").is_some());
        assert!(s.sc.txn.is_some(), "seed {seed} is a transactional scenario");
        assert!(v.is_empty(), "seed {seed} violates:\n{}", v.join("\n"));
    }
}
