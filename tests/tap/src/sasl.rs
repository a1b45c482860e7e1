//! `--sasl MECHANISM`: the drivers authenticate with SASL on a SASL_PLAINTEXT listener of the
//! secured broker (`kafka.sh secure-up`, bound inside the namespace), as a firmware would: the
//! settings by their Java names (`security.protocol`, `sasl.mechanism`, `sasl.jaas.config` in
//! Java's syntax), entropy for the SCRAM nonce handed to the engine once (a firmware takes it
//! from its hardware RNG; here the OS), and for OAUTHBEARER a token handed in whenever the
//! engine asks (`oauth_token_wanted`), built like Java's unsecured login module.
//!
//! `--auth-error TEXT`: the credentials are wrong (or the mechanism is not enabled) and the run
//! must end with the typed authentication error, its text containing TEXT, after exactly one
//! connection: a refused broker is not tried again (no retry storm), and `send` refuses at once
//! from then on.

use core::time::Duration;
use std::io::Read as _;
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use kprod_core::config::Config;
use kprod_core::producer::{Producer, ProducerRecord, SendError};
use kprod_core::sasl::{oauthbearer, JaasConfig};
use kprod_smoltcp::{to_core, Driver, LinkError, Report};

use crate::net::Net;

/// How long the failure test keeps the failed producer polling (and sending) after the refusal,
/// counting connection attempts.
pub(crate) const OBSERVE: Duration = Duration::from_secs(5);

/// A login: mechanism and credentials (OAUTHBEARER: the token's subject).
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) mechanism: String,
    pub(crate) user: String,
    pub(crate) password: String,
}

/// Text the engine keeps for its life (`Config<'static>`): this process runs one producer.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl Login {
    /// `sasl.jaas.config` in Java's syntax.
    fn jaas(&self) -> String {
        let (user, password) = (&self.user, &self.password);
        match self.mechanism.as_str() {
            "PLAIN" => format!(
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="{password}";"#
            ),
            "OAUTHBEARER" => format!(
                r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="{user}";"#
            ),
            _ => format!(
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";"#
            ),
        }
    }

    /// Sets `security.protocol=SASL_PLAINTEXT`, `sasl.mechanism` and `sasl.jaas.config`.
    pub(crate) fn apply(&self, config: &mut Config<'static>) -> Result<(), String> {
        for (name, value) in [
            ("security.protocol", "SASL_PLAINTEXT".to_owned()),
            ("sasl.mechanism", self.mechanism.clone()),
            ("sasl.jaas.config", self.jaas()),
        ] {
            config.set_static_property(name, leak(value)).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }

    /// The verifier's (kafka-python's) arguments for the same login on SASL_PLAINTEXT.
    pub(crate) fn verifier_args(&self) -> Result<Vec<String>, String> {
        let mut args = vec!["--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", &self.mechanism]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if self.mechanism == "OAUTHBEARER" {
            args.extend(["--sasl-oauth-token".to_owned(), self.token()?]);
        } else {
            args.extend(["--sasl-username".to_owned(), self.user.clone()]);
            args.extend(["--sasl-password".to_owned(), self.password.clone()]);
        }
        Ok(args)
    }

    /// An unsecured OAUTHBEARER token (alg none) for the subject, issued now, as Java's
    /// `OAuthBearerUnsecuredLoginCallbackHandler` builds it from the JAAS options.
    pub(crate) fn token(&self) -> Result<String, String> {
        let text = self.jaas();
        let jaas = JaasConfig::parse(&text).map_err(|e| format!("sasl.jaas.config: {e:?}"))?;
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut buf = [0u8; 1024];
        let n = oauthbearer::unsecured_token(&jaas, unix_ms, &mut buf).map_err(|e| format!("token: {e:?}"))?;
        String::from_utf8(buf[..n].to_vec()).map_err(|e| format!("token: {e}"))
    }

    /// Hands the engine a fresh token if a connection waits for one (the application's token
    /// provider: call after every poll).
    pub(crate) fn provide_token(
        &self,
        driver: &mut Driver<'static>,
        now: smoltcp::time::Instant,
    ) -> Result<(), String> {
        if self.mechanism == "OAUTHBEARER" && driver.producer().oauth_token_wanted() {
            let token = self.token()?;
            driver.producer_mut().handle_oauth_token(&token, to_core(now));
        }
        Ok(())
    }
}

/// 32 bytes for the SCRAM client nonce. A firmware reads its hardware RNG; this test reads the
/// OS's (`/dev/urandom`: no dependency for one read).
pub(crate) fn entropy() -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes)
}

/// Hands the engine its nonce entropy (before its first connection).
pub(crate) fn seed<P: kprod_core::partitioner::Partitioner>(producer: &mut Producer<'_, P>) -> Result<(), String> {
    producer.handle_entropy(&entropy()?);
    Ok(())
}

/// The record a refused login tries to send.
pub(crate) fn refused_record(topic: &str) -> ProducerRecord<'_> {
    ProducerRecord {
        topic,
        partition: None,
        key: None,
        value: Some(b"never delivered"),
        headers: &[],
        timestamp: crate::check::BASE_TIMESTAMP,
    }
}

/// What a refused login looked like.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// `send`'s typed error.
    pub(crate) send_error: String,
    /// From the first `send` to that error.
    pub(crate) after: Duration,
    /// The connections' failures, with the broker's message.
    pub(crate) link_errors: Vec<String>,
    /// How many of them were the engine's authentication failure.
    pub(crate) auth_failures: usize,
    /// Connections opened during the whole run (refusal plus [`OBSERVE`]).
    pub(crate) connects: usize,
    /// `send` calls during [`OBSERVE`] and how many were refused with the authentication error.
    pub(crate) later_sends: (usize, usize),
}

/// Sends one record until `send` refuses it for good, then keeps polling and sending for
/// [`OBSERVE`], counting connections. Fails if the refusal is not the typed authentication
/// error, or does not come within `limit`.
pub(crate) fn refused(
    net: &mut Net,
    driver: &mut Driver<'static>,
    topic: &str,
    limit: Duration,
) -> Result<Refusal, String> {
    let record = refused_record(topic);
    let started = StdInstant::now();
    let (mut connects, mut auth_failures, mut link_errors, mut other) = (0usize, 0usize, Vec::new(), Vec::new());
    let mut on_report = |r: Report<'_>| match r {
        Report::Connected { .. } => connects += 1,
        Report::Disconnected { error, .. } => {
            auth_failures += usize::from(is_auth_failure(&error));
            link_errors.push(error.to_string());
        }
        Report::ConnectFailed { error, .. } => link_errors.push(format!("connect failed: {error}")),
        Report::Completed(c) => other.push(format!("a completion, yet no record was accepted: {c:?}")),
        r => other.push(format!("{r:?}")),
    };
    let mut refusal: Option<(SendError, Duration)> = None;
    let mut later = (0usize, 0usize);
    let mut timed_out = false;
    loop {
        let now = net.now();
        match driver.send(&record, now) {
            Ok(id) => return Err(format!("send accepted a record ({id:?}) with credentials the broker refuses")),
            Err(e) if e.is_retriable() && refusal.is_none() => {}
            Err(e) => match refusal {
                None => refusal = Some((e, started.elapsed())),
                Some(_) => {
                    later.0 += 1;
                    later.1 += usize::from(matches!(e, SendError::Authentication { .. }));
                }
            },
        }
        net.poll(now);
        driver.poll(now, &mut net.iface, &mut net.sockets, &mut on_report);
        match refusal {
            Some((_, at)) if started.elapsed() >= at + OBSERVE => break,
            None if started.elapsed() > limit => {
                timed_out = true;
                break;
            }
            _ => {}
        }
        // Wake at least every 50 ms to try `send` again (a retry storm would show as connects).
        let cap = net.now() + smoltcp::time::Duration::from_millis(50);
        net.wait(Some(driver.poll_at().map_or(cap, |t| t.min(cap))));
    }
    let Some((e, after)) = refusal.filter(|_| !timed_out) else {
        return Err(format!("send was not refused within {limit:?}; connections {connects}, links: {link_errors:?}"));
    };
    if !other.is_empty() {
        return Err(format!("unexpected reports: {other:?}"));
    }
    if !matches!(e, SendError::Authentication { .. }) {
        return Err(format!("send failed with {e:?} ({e}), not SendError::Authentication"));
    }
    Ok(Refusal { send_error: e.to_string(), after, link_errors, auth_failures, connects, later_sends: later })
}

/// Whether a link error is the engine's authentication failure (not a lost socket).
fn is_auth_failure(e: &LinkError) -> bool {
    matches!(e, LinkError::Broker(kprod_core::producer::ConnError::Authentication(_)))
}
