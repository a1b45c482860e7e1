//! kprod-tap-test: kprod-smoltcp on a TAP device against a real Kafka broker.
//!
//! `scripts/tap-test.sh` runs it inside a private network namespace where `tap0` has
//! 10.200.0.1/24 on the host side and a Kafka broker listens on 10.200.0.1:9092. This program
//! is the other end of the TAP: a smoltcp interface at 10.200.0.2 with the driver on it.
//!
//! - Default (the test): creates a topic with 3 partitions, produces 100,000 unique records
//!   (lz4, acks=all, idempotent), closes the producer, then reads the topic back with the
//!   independent verifier (kafka-python) and compares every field of every record, its
//!   partition and its offset with what the completions reported. Exit 1 on any difference.
//! - `--embassy`: the same test with the async driver (`kprod_smoltcp::asynch`) in an embassy
//!   executor over embassy-net on the TAP device; each record's delivery future is awaited and
//!   compared with its completion too (`embassy.rs`).
//! - `--bench`: produces 1 GiB of 1 KiB records (no compression, acks=1) and prints MB/s of
//!   payload and records/s (reported, not asserted).
//! - `--sasl MECHANISM` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER): the test against the
//!   secured broker's SASL_PLAINTEXT listener (`kafka.sh secure-up` in the namespace; its address
//!   from `KPROD_SECURE_HOST`/`KPROD_SECURE_PORT`), logging in as `--user` (alice) with
//!   `--password` (alice-secret); the verifier reads back over SASL with the same login.
//!   `--reauth` uses the listener whose sessions last 10 s and spreads the sends over
//!   `--spread-s` (25) seconds: the connections must re-authenticate (KIP-368), none may be
//!   lost. `--auth-error TEXT`: the login must be refused with the typed authentication error
//!   containing TEXT, after one connection and no retry storm (`sasl.rs`).
//!
//! Options: `--tap NAME` (tap0), `--local ADDR/PREFIX` (10.200.0.2/24), `--broker HOST:PORT`
//! (10.200.0.1:9092), `--records N`, and for `--bench`: `--bytes N` (1 GiB), `--record-size N`
//! (1024), `--batch-size N` (256 KiB), `--linger-ms N` (5).

mod check;
mod embassy;
mod net;
mod run;
mod sasl;

use core::time::Duration;
use std::process::ExitCode;

use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_tests::secure::{Listener, SecureBroker};
use kprod_tests::{unique_topic, Broker};

use crate::net::{parse_cidr, Net, Sizes};
use crate::run::{Owned, Pace};
use crate::sasl::Login;

const PARTITIONS: u32 = 3;

#[derive(Debug, Clone)]
struct Args {
    tap: String,
    local: String,
    broker: String,
    bench: bool,
    embassy: bool,
    records: usize,
    bytes: u64,
    record_size: usize,
    batch_size: usize,
    linger_ms: u64,
    sasl: Option<String>,
    user: String,
    password: String,
    reauth: bool,
    spread_s: u64,
    auth_error: Option<String>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut a = Self {
            tap: "tap0".into(),
            local: "10.200.0.2/24".into(),
            broker: "10.200.0.1:9092".into(),
            bench: false,
            embassy: false,
            records: 100_000,
            bytes: 1 << 30,
            record_size: 1024,
            batch_size: 256 * 1024,
            linger_ms: 5,
            sasl: None,
            user: "alice".into(),
            password: "alice-secret".into(),
            reauth: false,
            spread_s: 25,
            auth_error: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => a.bench = true,
                "--embassy" => a.embassy = true,
                "--tap" => a.tap = value()?,
                "--local" => a.local = value()?,
                "--broker" => a.broker = value()?,
                "--records" => a.records = number(&value()?)?,
                "--bytes" => a.bytes = number(&value()?)?,
                "--record-size" => a.record_size = number(&value()?)?,
                "--batch-size" => a.batch_size = number(&value()?)?,
                "--linger-ms" => a.linger_ms = number(&value()?)?,
                "--sasl" => a.sasl = Some(value()?),
                "--user" => a.user = value()?,
                "--password" => a.password = value()?,
                "--reauth" => a.reauth = true,
                "--spread-s" => a.spread_s = number(&value()?)?,
                "--auth-error" => a.auth_error = Some(value()?),
                "-h" | "--help" => return Err(HELP.into()),
                other => return Err(format!("unknown argument {other}\n{HELP}")),
            }
        }
        Ok(a)
    }

    fn broker_addr(&self) -> Result<(&str, u16), String> {
        let (host, port) =
            self.broker.rsplit_once(':').ok_or_else(|| format!("{}: expected HOST:PORT", self.broker))?;
        Ok((host, number(port)?))
    }
}

const HELP: &str =
    "usage: kprod-tap-test [--bench | --embassy] [--tap NAME] [--local ADDR/PREFIX] [--broker HOST:PORT] \
[--records N] [--bytes N] [--record-size N] [--batch-size N] [--linger-ms N] \
[--sasl MECHANISM [--user NAME] [--password P] [--reauth [--spread-s N]] [--auth-error TEXT]]";

fn number<T: core::str::FromStr>(s: &str) -> Result<T, String> {
    s.replace('_', "").parse().map_err(|_| format!("{s}: not a number"))
}

fn main() -> ExitCode {
    let result = Args::parse().and_then(|args| match (args.bench, args.embassy, args.sasl.is_some()) {
        (true, true, _) => Err("--bench measures the smoltcp driver; --embassy has no benchmark".into()),
        (true, false, true) => Err("--bench has no SASL variant".into()),
        (true, false, false) => bench(&args),
        (false, true, true) => embassy_sasl_test(&args),
        (false, true, false) => embassy_test(&args),
        (false, false, true) => sasl_test(&args),
        (false, false, false) => test(&args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kprod-tap-test: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the test topic. Its records carry 2023 timestamps (`check::BASE_TIMESTAMP`), older
/// than the default 7-day retention: without `retention.ms=-1` the broker's retention check
/// (30 s after its start, then every 5 min) may delete them while the verifier reads back.
fn create_topic(broker: &Broker, topic: &str) {
    broker.create_topic_with_config(topic, PARTITIONS as i32, 1, &[("retention.ms", "-1")]);
}

/// The integration test: 100,000 records, lz4, acks=all, read back and compared.
fn test(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("tap");
    create_topic(&broker, &topic);
    let mut net = Net::open(&args.tap, parse_cidr(&args.local)?)?;
    let mut driver = net.driver(test_config(), args.broker_addr()?, Sizes::HOST)?;
    println!(
        "tap-test: producing {} records to {topic} (lz4, acks=all, idempotent) via {} (seed {})",
        args.records, args.tap, net.seed
    );
    let produced = run::produce(
        &mut net,
        &mut driver,
        &topic,
        args.records,
        check::expected,
        Duration::from_secs(300),
        Pace::default(),
    )?;
    report_run(&produced);
    verify(&broker, &topic, args.records, &produced, "the completions")
}

/// The test's producer settings: lz4, acks=all, idempotent (the default), linger 5 ms.
fn test_config() -> Config<'static> {
    Config { acks: Acks::All, compression: Compression::Lz4, linger: Duration::from_millis(5), ..Config::default() }
}

/// The SASL side of a run: the secured broker, the listener, the login and its settings.
struct SaslRun {
    secure: &'static SecureBroker,
    listener: Listener,
    login: Login,
    bootstrap: String,
    topic: String,
}

impl SaslRun {
    fn new(args: &Args, mechanism: &str, prefix: &str) -> Result<Self, String> {
        let secure = SecureBroker::shared().ok_or("KPROD_SECURE=skip, but --sasl needs the secured broker")?;
        let listener = if args.reauth { Listener::Reauth } else { Listener::SaslPlaintext };
        let login = Login { mechanism: mechanism.to_owned(), user: args.user.clone(), password: args.password.clone() };
        let topic = unique_topic(prefix);
        create_topic(&secure.admin(), &topic);
        Ok(Self { secure, listener, login, bootstrap: secure.bootstrap(listener), topic })
    }

    fn config(&self) -> Result<Config<'static>, String> {
        let mut config = test_config();
        self.login.apply(&mut config)?;
        Ok(config)
    }

    fn broker_addr(&self) -> Result<(&str, u16), String> {
        let (host, port) = self.bootstrap.rsplit_once(':').ok_or("the secured broker's address has no port")?;
        Ok((host, number(port)?))
    }

    fn spread(&self, args: &Args) -> Duration {
        Duration::from_secs(if self.listener == Listener::Reauth { args.spread_s } else { 0 })
    }

    /// The verifier, over the SASL_PLAINTEXT listener with the same login (the REAUTH listener's
    /// short sessions are the producer's test, not kafka-python's).
    fn verifier(&self) -> Result<Broker, String> {
        let args = self.login.verifier_args()?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(self.secure.verifier_on(Listener::SaslPlaintext, &args))
    }

    /// Checks a refusal: the typed error containing `expected`, one connection, that one failed
    /// by the authentication, every later `send` refused at once, and no password in any text.
    fn check_refusal(&self, r: &sasl::Refusal, expected: &str) -> Result<(), String> {
        println!(
            "tap-test: refused after {:.0} ms: send: {}\n  connections opened: {} (in {:.1} s, refusal + {:.0} s more of \
             sending and polling); later sends refused at once: {} of {}\n  links: {:?}",
            r.after.as_secs_f64() * 1e3,
            r.send_error,
            r.connects,
            r.after.as_secs_f64() + 5.0,
            5.0,
            r.later_sends.1,
            r.later_sends.0,
            r.link_errors
        );
        let texts = || core::iter::once(&r.send_error).chain(&r.link_errors);
        let mut problems = Vec::new();
        if !texts().any(|t| t.contains(expected)) {
            problems.push(format!("no error names {expected:?}"));
        }
        // The broker closes the connection after its refusal, so the link may also be reported
        // closed; what counts is one connection and one authentication failure.
        if r.connects != 1 || r.auth_failures != 1 {
            problems.push(format!(
                "{} connections and {} authentication failures: expected exactly one of each",
                r.connects, r.auth_failures
            ));
        }
        if r.later_sends.0 == 0 || r.later_sends.1 != r.later_sends.0 {
            problems
                .push(format!("later sends: {} of {} refused with the typed error", r.later_sends.1, r.later_sends.0));
        }
        if r.after > Duration::from_secs(10) {
            problems.push(format!("the refusal took {:?}", r.after));
        }
        let secret = &self.login.password;
        if secret.len() >= 4 && texts().any(|t| t.contains(secret.as_str())) {
            problems.push("an error message shows the password".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The test over SASL: the records of [`test`] (or, with `--auth-error`, the refusal).
fn sasl_test(args: &Args) -> Result<(), String> {
    let mechanism = args.sasl.as_deref().unwrap_or_default();
    let run = SaslRun::new(args, mechanism, "tap-sasl")?;
    let mut net = Net::open(&args.tap, parse_cidr(&args.local)?)?;
    let mut driver = net.driver(run.config()?, run.broker_addr()?, Sizes::HOST)?;
    let what = format!(
        "via {} to {} ({:?} listener, SASL_PLAINTEXT, sasl.mechanism={mechanism}, user {})",
        args.tap, run.bootstrap, run.listener, args.user
    );
    if let Some(expected) = &args.auth_error {
        println!("tap-test: one record to {} {what}: the login must be refused", run.topic);
        let refusal = sasl::refused(&mut net, &mut driver, &run.topic, Duration::from_secs(30))?;
        return run.check_refusal(&refusal, expected);
    }
    let spread = run.spread(args);
    println!(
        "tap-test: producing {} records to {} (lz4, acks=all, idempotent) {what}{}",
        args.records,
        run.topic,
        if spread.is_zero() { String::new() } else { format!(", spread over {} s", spread.as_secs()) }
    );
    let pace = Pace { spread, login: Some(&run.login) };
    let produced =
        run::produce(&mut net, &mut driver, &run.topic, args.records, check::expected, Duration::from_secs(300), pace)?;
    report_run(&produced);
    check_links(&produced.links)?;
    verify(&run.verifier()?, &run.topic, args.records, &produced, "the completions")
}

/// No connection was lost or refused while producing: over the REAUTH listener this shows the
/// sessions were renewed in time (the broker closes a connection whose session expired).
fn check_links(links: &[String]) -> Result<(), String> {
    let bad: Vec<&String> = links.iter().filter(|l| !l.contains(" connected to ")).collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("connections were lost or refused: {bad:?}"))
    }
}

/// Checks that all `records` were delivered, then reads the topic back with the independent
/// verifier and compares every record with what was produced and what `reported` said.
fn verify(
    broker: &Broker,
    topic: &str,
    records: usize,
    produced: &run::Produced,
    reported: &str,
) -> Result<(), String> {
    if !produced.errors.is_empty() || produced.delivered != records as u64 {
        return Err(format!("{} delivered of {records}; errors: {:?}", produced.delivered, produced.errors));
    }
    println!("tap-test: reading {topic} back with the independent verifier");
    let read = broker.read_back(topic, records, Duration::from_secs(300));
    let expected: Vec<Owned> = (0..records).map(check::expected).collect();
    let problems = check::compare(topic, PARTITIONS, &expected, produced, &read);
    if !problems.is_empty() {
        return Err(format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")));
    }
    println!(
        "tap-test: verified {} records: each read back exactly once, keys, values, headers and timestamps equal, \
         partitions and offsets as {reported} reported",
        read.len()
    );
    Ok(())
}

/// The integration test on the async driver in an embassy executor: 100,000 records, lz4,
/// acks=all, read back and compared.
fn embassy_test(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("embassy");
    create_topic(&broker, &topic);
    let (host, port) = args.broker_addr()?;
    let (ip, len) = args.local.split_once('/').ok_or_else(|| format!("{}: expected ADDRESS/PREFIX", args.local))?;
    let params = embassy::Params {
        tap: args.tap.clone(),
        local: (ip.parse().map_err(|e| format!("{ip}: {e}"))?, number(len)?),
        broker: (host.to_owned(), port),
        topic: topic.clone(),
        records: args.records,
        config: test_config(),
        make: check::expected,
        limit: Duration::from_secs(300),
        spread: Duration::ZERO,
        refusal: false,
    };
    println!(
        "tap-test: producing {} records to {topic} (lz4, acks=all, idempotent) with the embassy driver via {}",
        args.records, args.tap
    );
    let produced = embassy::produce(params)?.produced()?;
    report_embassy(&produced);
    verify(&broker, &topic, args.records, &produced, "the completions and the delivery futures")
}

fn report_embassy(produced: &run::Produced) {
    for l in &produced.links {
        println!("  {l}");
    }
    println!(
        "  {} records delivered, {} failed, in {:.2} s",
        produced.delivered,
        produced.failed,
        produced.elapsed.as_secs_f64()
    );
}

/// [`sasl_test`] on the async driver in an embassy executor. OAUTHBEARER takes a static token
/// (`kprod.sasl.oauthbearer.token`): the async producer gives no mutable access to the engine,
/// so no token provider can answer `oauth_token_wanted`.
fn embassy_sasl_test(args: &Args) -> Result<(), String> {
    let mechanism = args.sasl.as_deref().unwrap_or_default();
    let run = SaslRun::new(args, mechanism, "embassy-sasl")?;
    let (host, port) = run.broker_addr()?;
    let (ip, len) = args.local.split_once('/').ok_or_else(|| format!("{}: expected ADDRESS/PREFIX", args.local))?;
    let mut config = run.config()?;
    if mechanism == "OAUTHBEARER" {
        let token = Box::leak(run.login.token()?.into_boxed_str());
        config.set_static_property("kprod.sasl.oauthbearer.token", token).map_err(|e| format!("token: {e}"))?;
    }
    let params = embassy::Params {
        tap: args.tap.clone(),
        local: (ip.parse().map_err(|e| format!("{ip}: {e}"))?, number(len)?),
        broker: (host.to_owned(), port),
        topic: run.topic.clone(),
        records: args.records,
        config,
        make: check::expected,
        limit: Duration::from_secs(300),
        spread: run.spread(args),
        refusal: args.auth_error.is_some(),
    };
    let what = format!(
        "with the embassy driver via {} to {} ({:?} listener, SASL_PLAINTEXT, sasl.mechanism={mechanism}, user {})",
        args.tap, run.bootstrap, run.listener, args.user
    );
    if let Some(expected) = &args.auth_error {
        println!("tap-test: one record to {} {what}: the login must be refused", run.topic);
        let refusal = embassy::produce(params)?.refusal()?;
        return run.check_refusal(&refusal, expected);
    }
    println!(
        "tap-test: producing {} records to {} (lz4, acks=all, idempotent) {what}{}",
        args.records,
        run.topic,
        if params.spread.is_zero() { String::new() } else { format!(", spread over {} s", params.spread.as_secs()) }
    );
    let produced = embassy::produce(params)?.produced()?;
    report_embassy(&produced);
    check_links(&produced.links)?;
    verify(&run.verifier()?, &run.topic, args.records, &produced, "the completions and the delivery futures")
}

/// The benchmark: payload throughput of 1 KiB records, no compression, acks=1.
fn bench(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("tap-bench");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let mut net = Net::open(&args.tap, parse_cidr(&args.local)?)?;
    let n = usize::try_from(args.bytes / args.record_size.max(1) as u64).map_err(|e| e.to_string())?;
    let config = Config {
        acks: Acks::Leader,
        compression: Compression::None,
        batch_size: args.batch_size,
        linger: Duration::from_millis(args.linger_ms),
        buffer_memory: 64 << 20,
        max_request_size: (4 * args.batch_size).max(1 << 20),
        ..Config::default()
    };
    let mut driver = net.driver(config, args.broker_addr()?, Sizes::HOST)?;
    let size = args.record_size;
    let make = |i: usize| {
        let mut value = vec![0x5a; size];
        let stamp = (i as u64).to_be_bytes();
        let k = stamp.len().min(size);
        value[..k].copy_from_slice(&stamp[..k]);
        Owned { key: None, value: Some(value), headers: Vec::new(), timestamp: check::BASE_TIMESTAMP }
    };
    println!(
        "bench: {n} records of {size} B to {topic} (no compression, acks=1, batch.size {}, linger {} ms) via {}",
        args.batch_size, args.linger_ms, args.tap
    );
    let cpu_before = cpu_time();
    let produced = run::produce(&mut net, &mut driver, &topic, n, make, Duration::from_secs(600), Pace::default())?;
    let cpu = cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    report_run(&produced);
    if !produced.errors.is_empty() || produced.delivered != n as u64 {
        return Err(format!("{} delivered of {n}; errors: {:?}", produced.delivered, produced.errors));
    }
    let secs = produced.elapsed.as_secs_f64();
    let payload = (n * size) as f64;
    println!(
        "bench: {:.1} MB payload in {secs:.2} s: {:.1} MB/s of payload, {:.0} records/s (MTU 1500, MB = 10^6 bytes)",
        payload / 1e6,
        payload / 1e6 / secs,
        n as f64 / secs
    );
    if let Some(cpu) = cpu {
        println!(
            "bench: this process used {:.2} s of CPU ({:.0}% of one core; the broker and the kernel's TAP path use the rest)",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / secs
        );
    }
    Ok(())
}

/// CPU time this process has used so far (Linux `/proc/self/schedstat`, nanoseconds on CPU).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    Some(Duration::from_nanos(stat.split_whitespace().next()?.parse().ok()?))
}

fn report_run(p: &run::Produced) {
    for l in &p.links {
        println!("  {l}");
    }
    let s = &p.stats;
    println!(
        "  {} records delivered, {} failed, in {:.2} s; {} frames ({} partial writes, {} dropped), {:.1} MB sent, {:.1} KB received, \
         largest request {} B, largest response {} B, {} polls hit a budget",
        p.delivered,
        p.failed,
        p.elapsed.as_secs_f64(),
        s.frames_sent,
        s.partial_writes,
        s.frames_dropped,
        s.bytes_sent as f64 / 1e6,
        s.bytes_received as f64 / 1e3,
        s.max_request,
        s.max_response,
        s.budget_hits
    );
}
