//! The secured broker (`kafka.sh secure-up`, see `tests/broker/secure.sh`): one broker with
//! PLAINTEXT, SSL, mTLS, SASL_PLAINTEXT, SASL_SSL, a re-authenticating SASL listener, and two SSL
//! listeners with bad certificates (expired, wrong host), plus the test certificates.
//!
//! - `KPROD_SECURE=skip`: no secured broker; [`SecureBroker::shared`] is `None` and the tests say
//!   they are skipped.
//! - `KPROD_SECURE_PORT` set: the broker whose listeners start there (on `KPROD_SECURE_HOST`,
//!   default 127.0.0.1) must answer; its certificates are in `KPROD_SECURE_CERTS` (default
//!   `secure/certs` in kafka.sh's work dir: `KPROD_KAFKA_WORK_DIR`, else `target/kafka`).
//! - Neither: `kafka.sh secure-up` starts it (or finds it up) on its defaults.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::{probe, repo_root, run_script, Broker};

/// Where `kafka.sh secure-up` puts the certificates: `$KPROD_KAFKA_WORK_DIR/secure/certs`, by
/// default `target/kafka/secure/certs`.
fn default_certs() -> PathBuf {
    let work = std::env::var("KPROD_KAFKA_WORK_DIR").map_or_else(|_| repo_root().join("target/kafka"), PathBuf::from);
    work.join("secure/certs")
}

/// The listeners of the secured broker, by their offset from its first port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// PLAINTEXT (admin).
    Plaintext = 0,
    /// SSL with the CA's broker certificate for 127.0.0.1 and localhost.
    Ssl = 1,
    /// SSL with `ssl.client.auth=required`.
    Mtls = 2,
    /// SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256/512, OAUTHBEARER.
    SaslPlaintext = 3,
    /// SASL_SSL: the same mechanisms over TLS.
    SaslSsl = 4,
    /// SASL_PLAINTEXT with a short `connections.max.reauth.ms` (`KPROD_SECURE_REAUTH_MS`, 10 s).
    Reauth = 5,
    /// SSL with a certificate that expired in 2020.
    Expired = 6,
    /// SSL with a certificate for wrong.example.com only.
    WrongHost = 7,
}

/// The secured broker and its certificates.
#[derive(Debug)]
pub struct SecureBroker {
    host: String,
    port: u16,
    certs: PathBuf,
}

impl SecureBroker {
    /// The secured broker shared by every test of the process (see the module docs), or `None`
    /// with `KPROD_SECURE=skip`.
    ///
    /// # Panics
    /// If `KPROD_SECURE_PORT` is set and nothing answers there, or the start fails.
    pub fn shared() -> Option<&'static Self> {
        if std::env::var("KPROD_SECURE").is_ok_and(|v| v == "skip") {
            return None;
        }
        static SHARED: OnceLock<SecureBroker> = OnceLock::new();
        Some(SHARED.get_or_init(|| {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let (host, port, certs) = match var("KPROD_SECURE_PORT") {
                Some(port) => (
                    var("KPROD_SECURE_HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
                    port,
                    var("KPROD_SECURE_CERTS").map_or_else(default_certs, PathBuf::from),
                ),
                None => {
                    eprintln!("kprod-tests: KPROD_SECURE_PORT unset; running kafka.sh secure-up");
                    let out = run_script(&["secure-up"]);
                    let text = String::from_utf8_lossy(&out.stdout).into_owned();
                    let get = |name: &str| {
                        text.lines()
                            .find_map(|l| l.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
                            .unwrap_or_else(|| panic!("kafka.sh secure-up prints {name}=: {text}"))
                    };
                    (get("KPROD_SECURE_HOST"), get("KPROD_SECURE_PORT"), PathBuf::from(get("KPROD_SECURE_CERTS")))
                }
            };
            let port: u16 = port.parse().expect("KPROD_SECURE_PORT is a port");
            let broker = Self { host, port, certs };
            let admin = broker.bootstrap(Listener::Plaintext);
            assert!(
                probe(&admin, 1),
                "no secured broker answers at {admin}; start it with tests/broker/kafka.sh secure-up"
            );
            broker
        }))
    }

    /// `host:port` of a listener.
    pub fn bootstrap(&self, listener: Listener) -> String {
        format!("{}:{}", self.host, self.port + listener as u16)
    }

    /// The path of a file made by `tests/broker/certs.sh` (`ca.pem`, `client.p12`, ...).
    pub fn cert(&self, name: &str) -> String {
        self.certs.join(name).to_string_lossy().into_owned()
    }

    /// The password of the test stores and of `client-encrypted.key`.
    pub fn store_password(&self) -> String {
        std::fs::read_to_string(self.certs.join("password")).expect("certs.sh writes the password")
    }

    /// The PLAINTEXT listener, for topic administration.
    pub fn admin(&self) -> Broker {
        Broker::attach(&self.bootstrap(Listener::Plaintext), 1)
    }

    /// `listener` for the verifier, which connects with `verifier_args` (`--security-protocol SSL
    /// --ssl-cafile ...`, see `verify.py`).
    pub fn verifier_on(&self, listener: Listener, verifier_args: &[&str]) -> Broker {
        Broker {
            bootstrap: self.bootstrap(listener),
            verifier_args: verifier_args.iter().map(|&a| a.to_owned()).collect(),
        }
    }

    /// The verifier's arguments for TLS with the test CA and the client certificate (which the
    /// mTLS listener needs and the others ignore).
    pub fn verifier_tls_args(&self) -> Vec<String> {
        let mut args = vec!["--security-protocol".to_owned(), "SSL".to_owned()];
        for (flag, file) in
            [("--ssl-cafile", "ca.pem"), ("--ssl-certfile", "client.pem"), ("--ssl-keyfile", "client.key")]
        {
            args.push(flag.to_owned());
            args.push(self.cert(file));
        }
        args
    }
}
