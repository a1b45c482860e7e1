//! Reliability under real network faults (issue 14): a 3-node cluster (replication factor 3,
//! `min.insync.replicas` 2) behind the fault proxies of `kprod-fault-proxy`, keyed numbered
//! records from the blocking producer, faults while it sends, then the independent verifier
//! reads every partition and the audit compares record by record (`reliability_util::audit`).
//!
//! Ignored by plain `cargo test` (they start their own cluster): `scripts/reliability.sh` runs
//! them. `KPROD_RELIABILITY_MODE=long` runs the long versions (at least 1,000,000 records at
//! full rate per fault scenario); `KPROD_RELIABILITY_ONLY=kill,plain-cut,...` picks scenarios
//! (names: the faults `kill reset stall cut corrupt rolling reassign`, each also as `plain-<fault>`
//! with idempotence off, and `overload`, `absence`, `soak`).

extern crate alloc;

mod reliability_util;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::time::Instant;

use kprod_std::{Producer, ProducerConfig};
use kprod_tests::unique_topic;
use reliability_util::cluster::ProxiedCluster;
use reliability_util::faults::{self, Fault, REQUEST_TIMEOUT};
use reliability_util::workload::{self, open_fds, rss_kib, send_records, Outcomes, Pace};
use reliability_util::{audit, Report};

/// Partitions of every scenario topic.
const PARTITIONS: i32 = 6;

fn long() -> bool {
    std::env::var("KPROD_RELIABILITY_MODE").is_ok_and(|m| m == "long")
}

fn mode() -> &'static str {
    if long() {
        "long"
    } else {
        "short"
    }
}

/// The scenarios to run: `KPROD_RELIABILITY_ONLY`, or the default set.
fn selected() -> Vec<String> {
    std::env::var("KPROD_RELIABILITY_ONLY").map_or_else(
        |_| {
            let mut all: Vec<String> = Fault::ALL.iter().map(|f| f.name().to_owned()).collect();
            all.extend(["plain-cut", "plain-corrupt", "overload", "absence"].map(String::from));
            all
        },
        |v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    )
}

/// The scenarios' producer: through the proxies, short request timeout (so a stall outlasts
/// it), long delivery timeout (so faults do not fail records), and either idempotence with
/// acks=all or neither with acks=1 and 5 requests in flight.
fn config(c: &ProxiedCluster, idempotent: bool) -> ProducerConfig {
    let mut props = vec![
        ("bootstrap.servers", c.broker.bootstrap().to_owned()),
        ("linger.ms", "5".to_owned()),
        ("request.timeout.ms", REQUEST_TIMEOUT.as_millis().to_string()),
        ("delivery.timeout.ms", "120000".to_owned()),
        ("reconnect.backoff.max.ms", "1000".to_owned()),
        ("max.in.flight.requests.per.connection", "5".to_owned()),
    ];
    if idempotent {
        props.extend([("acks", "all".to_owned()), ("enable.idempotence", "true".to_owned())]);
    } else {
        props.extend([("acks", "1".to_owned()), ("enable.idempotence", "false".to_owned())]);
    }
    ProducerConfig::from_properties(props).expect("scenario config")
}

/// The workload's pace: short runs at 2,000 records/s (a few tens of thousands in all), long
/// runs at full rate with at least 1,000,000 records.
fn pace() -> Pace {
    if long() {
        Pace { first: 0, rate: None, min_records: 1_000_000, max_records: 1_500_000 }
    } else {
        Pace { first: 0, rate: Some(2_000.0), min_records: 10_000, max_records: 1_000_000 }
    }
}

/// Runs `fault` while records flow, then audits.
fn fault_scenario(c: &ProxiedCluster, fault: Fault, idempotent: bool) -> Report {
    let name = if idempotent { fault.name().to_owned() } else { format!("plain-{}", fault.name()) };
    let topic = unique_topic(&format!("rel-{name}"));
    c.broker.create_topic(&topic, PARTITIONS, 3);
    let producer = Producer::new(config(c, idempotent)).expect("producer");
    let pace = pace();
    let o = Outcomes::new(pace.max_records);
    o.listen(&producer);
    producer.partitions_for(&topic).expect("metadata");
    let (done, stop, log) = (AtomicBool::new(false), AtomicBool::new(false), Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let n = std::thread::scope(|s| {
        let f = s.spawn(|| faults::run(c, &topic, fault, long(), &done, &stop, &log));
        let n = send_records(&producer, &o, &topic, pace, &done);
        stop.store(true, Ordering::Release);
        f.join().expect("the fault thread");
        n
    });
    let send_seconds = t0.elapsed().as_secs_f64();
    c.clear_faults();
    let _ = producer.flush(Duration::from_secs(180));
    let a = audit::read_and_audit(&o, n, c.broker.bootstrap(), &topic, Duration::from_secs(60));
    let _ = producer.close(Duration::from_secs(30));
    let violations = if idempotent { a.idempotence_violations() } else { a.violations() };
    Report {
        scenario: name,
        mode: mode(),
        idempotent,
        topic,
        send_seconds,
        rate: (a.sent - a.refused) as f64 / send_seconds,
        faults: log.into_inner().expect("not poisoned"),
        audit: Some(a),
        violations,
        ..Report::default()
    }
}

/// Overload: the proxies pass 100 kB/s per broker and the workload offers ten times what that
/// carries for 20 s (60 s long), with `buffer.memory` 32 MiB and `max.block.ms` 2000: `send`
/// blocks while the buffer is full, never longer than `max.block.ms`, and peak RSS stays
/// bounded. Then every proxy stalls: the buffer cannot drain, so each `send` blocks for
/// `max.block.ms` and fails naming the buffer.
fn overload(c: &ProxiedCluster) -> Report {
    const THROTTLE: u64 = 100_000;
    const MAX_BLOCK: Duration = Duration::from_secs(2);
    const BLOCKED_SENDS: usize = 3;
    let topic = unique_topic("rel-overload");
    c.broker.create_topic(&topic, PARTITIONS, 3);
    let config = config(c, true)
        .set("buffer.memory", &(32u64 << 20).to_string())
        .and_then(|c| c.set("max.block.ms", &MAX_BLOCK.as_millis().to_string()))
        .expect("overload config");
    let producer = Producer::new(config).expect("producer");
    // About 130 bytes per record on the wire: the brokers absorb this many records per second.
    let absorbed = (NODES_THROTTLE * THROTTLE) as f64 / 130.0;
    let secs = if long() { 60 } else { 20 };
    let cap = (10.0 * absorbed) as usize * secs + 10_000;
    let o = Outcomes::new(cap);
    o.listen(&producer);
    producer.partitions_for(&topic).expect("metadata");
    let (rss_before, _) = rss_kib();
    c.proxies.iter().for_each(|p| p.throttle(Some(THROTTLE)));
    let t0 = Instant::now();
    let over = AtomicBool::new(false);
    let pace = Pace { first: 0, rate: Some(10.0 * absorbed), min_records: 0, max_records: cap - 10_000 };
    let n = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_secs(secs as u64));
            over.store(true, Ordering::Release);
        });
        send_records(&producer, &o, &topic, pace, &over)
    });
    let send_seconds = t0.elapsed().as_secs_f64();
    let longest_throttled = Duration::from_micros(o.longest_send_us.swap(0, Ordering::AcqRel));
    c.proxies.iter().for_each(|p| p.stall(Duration::from_secs(40)));
    // Into the stalled, full buffer until BLOCKED_SENDS are refused (the first few may still
    // find room a batch freed just before the stall).
    let t = Instant::now();
    let mut n = n;
    let mut blocked = Vec::new();
    while blocked.len() < BLOCKED_SENDS && n < cap && t.elapsed() < Duration::from_secs(60) {
        let ts = Instant::now();
        let pace = Pace { first: n, rate: None, min_records: n + 1, max_records: n + 1 };
        n = send_records(&producer, &o, &topic, pace, &over);
        if o.state[n - 1].load(Ordering::Acquire) == workload::REFUSED {
            blocked.push(ts.elapsed());
        }
    }
    let stalled_sends = t.elapsed();
    let longest_stalled = Duration::from_micros(o.longest_send_us.load(Ordering::Acquire));
    let (rss_peak, _) = rss_kib();
    let phase_end = o.sent_us[0].load(Ordering::Acquire) + (send_seconds * 1e6) as u64;
    let delivered_in_phase = (0..n)
        .filter(|&i| {
            o.state[i].load(Ordering::Acquire) == workload::DELIVERED
                && o.done_us[i].load(Ordering::Acquire) <= phase_end
        })
        .count();
    let absorbed_measured = delivered_in_phase as f64 / send_seconds;
    c.clear_faults();
    let _ = producer.flush(Duration::from_secs(180));
    let a = audit::read_and_audit(&o, n, c.broker.bootstrap(), &topic, Duration::from_secs(120));
    let _ = producer.close(Duration::from_secs(30));
    let mut violations = a.idempotence_violations();
    if longest_throttled > MAX_BLOCK + Duration::from_secs(1) || longest_stalled > MAX_BLOCK + Duration::from_secs(1) {
        violations.push(format!("a send blocked {longest_stalled:?}, max.block.ms is {MAX_BLOCK:?}"));
    }
    let min_block = MAX_BLOCK - Duration::from_millis(50);
    if blocked.len() < BLOCKED_SENDS || blocked.iter().any(|b| *b < min_block) {
        violations
            .push(format!("sends into a full, stalled buffer: refused after {blocked:?}, want {MAX_BLOCK:?} each"));
    }
    if a.refusals.keys().any(|why| !why.contains("buffer")) {
        violations.push("a refusal does not name the buffer".to_owned());
    }
    let growth_mib = rss_peak.saturating_sub(rss_before) / 1024;
    if growth_mib > 256 {
        violations.push(format!("peak RSS grew by {growth_mib} MiB"));
    }
    let figures = [
        ("offered", format!("{:.0} records/s, 10x the {absorbed:.0} the throttled brokers absorb", 10.0 * absorbed)),
        ("longest send", format!("{longest_throttled:?} while throttled; {longest_stalled:?} into the stalled full buffer (max.block.ms {MAX_BLOCK:?})")),
        ("stalled", format!("sends into the full, stalled buffer refused after {blocked:?} ({stalled_sends:?} in all)")),
        ("absorbed", format!("{absorbed_measured:.0} records/s delivered while throttled")),
        ("peak RSS", format!("{} MiB (was {} MiB before; growth {growth_mib} MiB)", rss_peak / 1024, rss_before / 1024)),
    ];
    Report {
        scenario: "overload".to_owned(),
        mode: mode(),
        idempotent: true,
        topic,
        send_seconds,
        rate: (a.sent - a.refused) as f64 / send_seconds,
        audit: Some(a),
        figures: reliability_util::figures(figures),
        violations,
        ..Report::default()
    }
}

/// Brokers the overload scenario throttles (all of them).
const NODES_THROTTLE: u64 = reliability_util::cluster::NODES as u64;

/// No brokers at all: every proxy refuses connections while records are outstanding. Each fails
/// exactly once with the delivery timeout, on time; the producer answers calls meanwhile; once
/// the brokers are reachable again, new records are delivered by the same producer.
fn absence(c: &ProxiedCluster) -> Report {
    const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
    const WARM: usize = 100;
    const OUTAGE: usize = 20_000;
    const AFTER: usize = 1_000;
    let topic = unique_topic("rel-absence");
    c.broker.create_topic(&topic, PARTITIONS, 3);
    let config = config(c, true)
        .set("delivery.timeout.ms", &DELIVERY_TIMEOUT.as_millis().to_string())
        .and_then(|c| c.set("request.timeout.ms", "3000"))
        .and_then(|c| c.set("max.block.ms", "5000"))
        .expect("absence config");
    let producer = Producer::new(config).expect("producer");
    let o = Outcomes::new(WARM + OUTAGE + AFTER);
    o.listen(&producer);
    let go = AtomicBool::new(true);
    let pace = |first, n| Pace { first, rate: None, min_records: first + n, max_records: first + n };
    send_records(&producer, &o, &topic, pace(0, WARM), &go);
    assert!(o.wait_completions(WARM, Duration::from_secs(60)), "warm-up records complete");
    c.proxies.iter().for_each(|p| p.set_down(true));
    let down = Instant::now();
    send_records(&producer, &o, &topic, pace(WARM, OUTAGE), &go);
    let sending = down.elapsed();
    // Responsive meanwhile: metrics at once, flush exactly as long as it is given.
    let t = Instant::now();
    let _ = producer.metrics();
    let metrics_call = t.elapsed();
    let t = Instant::now();
    let flushed = producer.flush(Duration::from_secs(1));
    let flush_call = t.elapsed();
    let all_failed = o.wait_completions(WARM + OUTAGE, DELIVERY_TIMEOUT * 6);
    let (mut early, mut late) = (0u64, 0u64);
    for i in WARM..WARM + OUTAGE {
        let due = o.sent_us[i].load(Ordering::Acquire) + DELIVERY_TIMEOUT.as_micros() as u64;
        let done = o.done_us[i].load(Ordering::Acquire);
        early = early.max(due.saturating_sub(done));
        late = late.max(done.saturating_sub(due));
    }
    let tally = o.tally(WARM + OUTAGE);
    c.proxies.iter().for_each(|p| p.set_down(false));
    let up = Instant::now();
    send_records(&producer, &o, &topic, pace(WARM + OUTAGE, AFTER), &go);
    let recovered = o.wait_completions(WARM + OUTAGE + AFTER, Duration::from_secs(120));
    let recovery = up.elapsed();
    let n = WARM + OUTAGE + AFTER;
    let a = audit::read_and_audit(&o, n, c.broker.bootstrap(), &topic, Duration::from_secs(60));
    let _ = producer.close(Duration::from_secs(30));
    let mut violations = a.idempotence_violations();
    let outage_failed = tally[usize::from(workload::FAILED_RETRIABLE)];
    if !all_failed || outage_failed != OUTAGE {
        violations.push(format!("{outage_failed} of {OUTAGE} outage records failed (all must)"));
    }
    if a.failures.keys().any(|why| !why.contains("delivery.timeout.ms")) {
        violations.push("a failure other than the delivery timeout".to_owned());
    }
    // The timeout runs per batch from its creation, as in Java, and with no broker to drain
    // to a batch takes records until it is full: a record that joined an older batch fails
    // up to that batch's age before its own send + timeout (all were sent within `sending`).
    if Duration::from_micros(early) > sending + Duration::from_millis(100) {
        violations.push(format!("a record failed {early} µs before its delivery timeout"));
    }
    if Duration::from_micros(late) > Duration::from_secs(1) {
        violations.push(format!("a record failed {late} µs after its delivery timeout"));
    }
    if a.delivered != WARM + AFTER || !recovered {
        violations.push(format!("{} delivered, want the {} sent while brokers were up", a.delivered, WARM + AFTER));
    }
    if flush_call > Duration::from_secs(3) || metrics_call > Duration::from_millis(500) {
        violations.push(format!("unresponsive: flush(1 s) took {flush_call:?}, metrics {metrics_call:?}"));
    }
    let figures = [
        ("outage", format!("{OUTAGE} records sent in {sending:?} with every proxy refusing connections")),
        (
            "failure times",
            format!(
                "latest {:.1} ms after its send + delivery.timeout.ms ({DELIVERY_TIMEOUT:?}), earliest {:.1} ms before",
                late as f64 / 1000.0,
                early as f64 / 1000.0
            ),
        ),
        ("responsive", format!("metrics() {metrics_call:?}, flush(1 s) {flush_call:?} -> {}", flushed.is_err())),
        ("recovery", format!("{AFTER} new records delivered {recovery:?} after the proxies came back")),
    ];
    Report {
        scenario: "absence".to_owned(),
        mode: mode(),
        idempotent: true,
        topic,
        send_seconds: sending.as_secs_f64(),
        rate: OUTAGE as f64 / sending.as_secs_f64(),
        audit: Some(a),
        figures: reliability_util::figures(figures),
        violations,
        ..Report::default()
    }
}

/// Soak: `KPROD_RELIABILITY_SOAK_MINUTES` (30) at half the producer's full rate with one fault a
/// minute (each kind in turn); RSS and open file descriptors sampled every 30 s.
fn soak(c: &ProxiedCluster) -> Report {
    let minutes: u64 = std::env::var("KPROD_RELIABILITY_SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(30);
    let topic = unique_topic("rel-soak");
    c.broker.create_topic(&topic, PARTITIONS, 3);
    let producer = Producer::new(config(c, true)).expect("producer");
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let k = Arc::clone(&counts);
    producer
        .set_delivery_listener(move |_, r| {
            k[usize::from(r.is_err())].fetch_add(1, Ordering::Relaxed);
            k[2].fetch_add(1, Ordering::Relaxed);
        })
        .expect("listener");
    let send = |i: usize| {
        let (key, value) = (workload::key(i), workload::value(i));
        let r = kprod_std::Record::new(topic.as_str()).key(key.as_bytes()).value(&value[..]);
        producer.send_tagged(&r, i as u64).is_ok()
    };
    // Full rate for 10 s, then half of it.
    let t0 = Instant::now();
    let mut i = 0;
    while t0.elapsed() < Duration::from_secs(10) {
        send(i);
        i += 1;
    }
    let full = i as f64 / t0.elapsed().as_secs_f64();
    let rate = full / 2.0;
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let (stop, log, samples) = (AtomicBool::new(false), Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let mut refused = 0u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            for round in 0.. {
                let next = t + Duration::from_secs(60 * (round as u64 + 1));
                while Instant::now() < next && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(200));
                }
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let fault = Fault::ALL[round % Fault::ALL.len()];
                let line = faults::one_round(c, &topic, fault, round);
                log.lock().expect("not poisoned").push(format!("{:.0}s {line}", t.elapsed().as_secs_f64()));
                c.clear_faults();
            }
        });
        s.spawn(|| {
            let t = Instant::now();
            while !stop.load(Ordering::Acquire) {
                let (_, rss) = rss_kib();
                let sample = (t.elapsed().as_secs(), rss / 1024, open_fds(), counts[0].load(Ordering::Relaxed));
                samples.lock().expect("not poisoned").push(sample);
                let next = Instant::now() + Duration::from_secs(30);
                while Instant::now() < next && !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        let started = Instant::now();
        let first = i;
        while Instant::now() < end {
            let due = started + Duration::from_secs_f64((i - first) as f64 / rate);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            refused += u64::from(!send(i));
            i += 1;
        }
        stop.store(true, Ordering::Release);
    });
    let _ = producer.flush(Duration::from_secs(180));
    let _ = producer.close(Duration::from_secs(30));
    let samples = samples.into_inner().expect("not poisoned");
    let [delivered, failed, completed] = counts.as_ref().each_ref().map(|c| c.load(Ordering::Acquire));
    let mut violations = Vec::new();
    if completed + refused != i as u64 {
        violations.push(format!("{completed} completions + {refused} refusals for {i} records"));
    }
    let (fd0, fd_max) = (samples.first().map_or(0, |s| s.2), samples.iter().map(|s| s.2).max().unwrap_or(0));
    if fd_max > fd0 + 16 {
        violations.push(format!("open fds grew from {fd0} to {fd_max}"));
    }
    let series: Vec<String> =
        samples.iter().map(|(t, rss, fds, d)| format!("{t}s rss={rss}MiB fds={fds} delivered={d}")).collect();
    let figures = [
        ("rate", format!("{rate:.0} records/s (half of the {full:.0} measured at full rate)")),
        ("records", format!("{i} sent, {delivered} delivered, {failed} failed, {refused} refused by send")),
        ("samples", series.join(" | ")),
    ];
    Report {
        scenario: "soak".to_owned(),
        mode: mode(),
        idempotent: true,
        topic,
        send_seconds: minutes as f64 * 60.0,
        rate,
        faults: log.into_inner().expect("not poisoned"),
        figures: figures.into_iter().map(|(k, v)| (format!("{k} ({minutes} min)"), v)).collect(),
        violations,
        ..Report::default()
    }
}

#[test]
#[ignore = "starts its own 3-node cluster behind fault proxies; scripts/reliability.sh runs it"]
fn reliability() {
    let only = selected();
    let c = ProxiedCluster::start();
    let mut failed = Vec::new();
    for name in &only {
        let t0 = Instant::now();
        let report = match name.as_str() {
            "overload" => overload(&c),
            "absence" => absence(&c),
            "soak" => soak(&c),
            n => {
                let (idempotent, f) = n.strip_prefix("plain-").map_or((true, n), |f| (false, f));
                let fault = Fault::ALL.into_iter().find(|x| x.name() == f);
                fault_scenario(&c, fault.unwrap_or_else(|| panic!("no scenario {n:?}")), idempotent)
            }
        };
        report.publish();
        eprintln!("  (scenario took {:.0} s)", t0.elapsed().as_secs_f64());
        if !report.violations.is_empty() {
            failed.push(format!("{name}: {}", report.violations.join("; ")));
        }
    }
    assert!(failed.is_empty(), "violations:\n{}", failed.join("\n"));
}
