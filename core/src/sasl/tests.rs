//! Settings checks, PLAIN bytes and bounded broker messages.

use super::*;
use crate::wire::SliceSink;

const PLAIN: &str =
    r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#;

fn sasl(mechanism: Option<Mechanism>, jaas: &str) -> SaslConfig<'_> {
    SaslConfig { enabled: true, mechanism, jaas: Some(JaasConfig::parse(jaas).unwrap()), ..SaslConfig::default() }
}

#[test]
fn mechanisms_by_java_name() {
    for m in [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer] {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::from_name("plain"), None);
    assert_eq!(Mechanism::from_name("GSSAPI"), None);
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

/// Checks that need the `sasl` feature: without it every SASL_* `security.protocol` is refused.
#[cfg(feature = "sasl")]
mod validated {
    use super::*;

    fn invalid_setting(c: &SaslConfig<'_>) -> &'static str {
        match c.validate() {
            Err(ConfigError::InvalidValue { setting, .. }) => setting,
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_checked_and_name_the_setting() {
        assert!(sasl(Some(Mechanism::Plain), PLAIN).validate().is_ok());
        assert!(sasl(Some(Mechanism::ScramSha512), PLAIN).validate().is_ok());
        assert_eq!(invalid_setting(&sasl(None, PLAIN)), "sasl.mechanism");
        assert_eq!(invalid_setting(&sasl(Some(Mechanism::OAuthBearer), PLAIN)), "sasl.jaas.config");
        let no_password = sasl(
            Some(Mechanism::Plain),
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=a;",
        );
        assert_eq!(invalid_setting(&no_password), "sasl.jaas.config");
        let overridden = SaslConfig { password: Some(Secret::new("p")), ..no_password };
        assert!(overridden.validate().is_ok());
        let oauth =
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginExtension_a1=x;";
        assert_eq!(invalid_setting(&sasl(Some(Mechanism::OAuthBearer), oauth)), "sasl.jaas.config");
        assert!(SaslConfig::default().validate().is_ok());
    }

    #[test]
    fn a_whole_config_prints_no_secret() {
        use crate::config::Config;
        let mut c = Config::default();
        c.set_property("security.protocol", "SASL_PLAINTEXT").unwrap();
        c.set_property("sasl.mechanism", "SCRAM-SHA-512").unwrap();
        c.set_static_property("sasl.jaas.config", PLAIN).unwrap();
        c.set_static_property("sasl.password", "override-secret").unwrap();
        c.set_static_property("kprod.sasl.oauthbearer.token", "token-secret").unwrap();
        c.set_static_property("linger.ms", "7").unwrap();
        let shown = alloc::format!("{c:?} {:?}", c.clone().validate().unwrap());
        for secret in ["alice-secret", "override-secret", "token-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("ScramSha512") && shown.contains("password"), "{shown}");
        assert_eq!(c.sasl.credentials().unwrap().1.expose(), Text::new("override-secret"));
        assert_eq!(c.linger, core::time::Duration::from_millis(7));
    }

    #[test]
    fn sasl_properties_by_java_name() {
        use crate::config::{Config, ConfigError};
        let mut c = Config::default();
        let setting = |r: Result<(), ConfigError>| match r {
            Err(ConfigError::InvalidValue { setting, .. }) => setting,
            other => panic!("expected an invalid value, got {other:?}"),
        };
        assert_eq!(setting(c.set_property("sasl.mechanism", "GSSAPI")), "sasl.mechanism");
        assert_eq!(setting(c.set_property("security.protocol", "SASL_SSL")), "security.protocol");
        // Borrowed text cannot outlive the call: these need set_static_property.
        assert_eq!(setting(c.set_property("sasl.jaas.config", PLAIN)), "sasl.jaas.config");
        assert_eq!(setting(c.set_property("sasl.password", "x")), "sasl.password");
        assert_eq!(setting(c.set_static_property("sasl.jaas.config", "Module required a=;")), "sasl.jaas.config");
        c.set_property("security.protocol", "SASL_PLAINTEXT").unwrap();
        // SASL on without a mechanism: Java's default GSSAPI is not supported.
        assert_eq!(setting(c.clone().validate().map(|_| ())), "sasl.mechanism");
        c.set_property("sasl.mechanism", "PLAIN").unwrap();
        assert_eq!(setting(c.clone().validate().map(|_| ())), "sasl.jaas.config");
        c.set_static_property("sasl.jaas.config", PLAIN).unwrap();
        assert!(c.validate().is_ok());
    }
}
