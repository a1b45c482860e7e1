//! The `engine` target's script with SASL on: the first byte picks the mechanism (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with a static token), as the simulated cluster's
//! authenticating brokers expect it (`core/tests/sim/sasl.rs`), so the seeds from
//! `core/tests/engine_fuzz_seeds.rs` authenticate and deliver.
#![no_main]

use kprod_core::sasl::{JaasConfig, Mechanism, SaslConfig, Secret};
use libfuzzer_sys::fuzz_target;

const PLAIN: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#;
const SCRAM: &str = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#;
const OAUTH: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";";
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";

fuzz_target!(|data: &[u8]| {
    let Some((&select, script)) = data.split_first() else { return };
    let (mechanism, jaas) = match select % 4 {
        0 => (Mechanism::Plain, PLAIN),
        1 => (Mechanism::ScramSha256, SCRAM),
        2 => (Mechanism::ScramSha512, SCRAM),
        _ => (Mechanism::OAuthBearer, OAUTH),
    };
    let mut config = kprod_fuzz::engine::config();
    let token = (mechanism == Mechanism::OAuthBearer).then_some(Secret::new(TOKEN));
    let jaas = JaasConfig::parse(jaas).ok();
    config.sasl = SaslConfig { enabled: true, mechanism: Some(mechanism), jaas, token, ..SaslConfig::default() };
    kprod_fuzz::engine::run(config, script, |p| p.handle_entropy(b"fuzz-entropy"));
});
