//! Settings checks, PLAIN bytes and bounded broker messages.

use super::*;
use crate::wire::SliceSink;

const PLAIN: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#;

fn sasl(mechanism: Option<Mechanism>, jaas: &str) -> SaslConfig<'_> {
    SaslConfig {
        enabled: true,
        mechanism,
        jaas: Some(JaasConfig::parse(jaas).unwrap()),
        ..SaslConfig::default()
    }
}

fn invalid_setting(c: &SaslConfig<'_>) -> &'static str {
    match c.validate() {
        Err(ConfigError::InvalidValue { setting, .. }) => setting,
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

#[test]
fn mechanisms_by_java_name() {
    for m in [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ] {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::from_name("plain"), None);
    assert_eq!(Mechanism::from_name("GSSAPI"), None);
}

#[test]
fn settings_are_checked_and_name_the_setting() {
    assert!(sasl(Some(Mechanism::Plain), PLAIN).validate().is_ok());
    assert!(sasl(Some(Mechanism::ScramSha512), PLAIN).validate().is_ok());
    assert_eq!(invalid_setting(&sasl(None, PLAIN)), "sasl.mechanism");
    assert_eq!(
        invalid_setting(&sasl(Some(Mechanism::OAuthBearer), PLAIN)),
        "sasl.jaas.config"
    );
    let no_password = sasl(
        Some(Mechanism::Plain),
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=a;",
    );
    assert_eq!(invalid_setting(&no_password), "sasl.jaas.config");
    let overridden = SaslConfig {
        password: Some(Secret::new("p")),
        ..no_password
    };
    assert!(overridden.validate().is_ok());
    let oauth = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginExtension_a1=x;";
    assert_eq!(
        invalid_setting(&sasl(Some(Mechanism::OAuthBearer), oauth)),
        "sasl.jaas.config"
    );
    assert!(SaslConfig::default().validate().is_ok());
}

#[test]
fn plain_message_and_credentials() {
    let c = sasl(Some(Mechanism::Plain), PLAIN);
    let (user, password) = c.credentials().unwrap();
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    write_plain(user, password, &mut sink).unwrap();
    assert_eq!(sink.written(), b"\0alice\0alice-secret");
    assert!(!c.scram_user().unwrap().tokenauth);
    let shown = alloc::format!("{c:?}");
    assert!(!shown.contains("alice-secret"), "{shown}");
}

#[test]
fn messages_are_bounded_at_a_char_boundary() {
    let long = "é".repeat(100);
    let m = Message::new(long.as_bytes());
    assert_eq!(m.as_str().len(), MESSAGE_CAPACITY);
    assert!(m.truncated() && alloc::format!("{m}").ends_with("..."));
    let bad = Message::new(b"ok\xff\xfe");
    assert_eq!((bad.as_str(), bad.truncated()), ("ok", true));
    let mut odd = Message::new(&[b'x'; MESSAGE_CAPACITY - 1]);
    odd.push("é");
    assert_eq!(odd.as_str().len(), MESSAGE_CAPACITY - 1);
}
