//! Producer configuration from the command line: a properties file, `key=value` properties
//! (`-X`, `--producer-props`) and the dedicated flags (`-b`, `-z`, `--acks`), in that order of
//! precedence (later wins), like Kafka's tools.

use std::path::Path;

use kprod_std::{is_secret_property, parse_properties, ProducerConfig};

use crate::Failure;

/// A `key=value` argument (`-X`, `-H`, `--producer-props`). The value is everything after the
/// first `=` (it may contain `=` itself, and may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyValue {
    /// The part before the first `=`.
    pub(crate) key: String,
    /// The part after it.
    pub(crate) value: String,
}

/// clap value parser for `key=value`: the key must not be empty.
pub(crate) fn parse_key_value(arg: &str) -> Result<KeyValue, String> {
    let (key, value) = arg.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {arg:?}"))?;
    if key.trim().is_empty() {
        return Err(format!("empty key in {arg:?}"));
    }
    Ok(KeyValue { key: key.trim().to_owned(), value: value.to_owned() })
}

/// `value` as messages may show it: secret settings (passwords, keys, the JAAS line) never are.
fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_property(key) {
        "[hidden]"
    } else {
        value
    }
}

/// Where the producer settings come from, lowest precedence first.
#[derive(Debug, Default)]
pub(crate) struct Sources<'a> {
    /// Settings the command itself picks (e.g. `client.id=perf-producer-client`).
    pub(crate) defaults: &'a [(&'a str, &'a str)],
    /// A Java `client.properties` file.
    pub(crate) file: Option<&'a Path>,
    /// `-X` / `--producer-props`, with the flag name for messages.
    pub(crate) properties: &'a [KeyValue],
    /// The flag that gave `properties`, for messages (`-X`, `--producer-props`).
    pub(crate) properties_flag: &'a str,
    /// Dedicated flags: `(property, value, flag)`.
    pub(crate) flags: Vec<(&'static str, String, &'static str)>,
}

impl Sources<'_> {
    /// Builds the configuration; an unknown or invalid property is an error naming where it
    /// came from. `bootstrap.servers` must be set by one of them.
    pub(crate) fn build(&self) -> Result<ProducerConfig, Failure> {
        let mut config = ProducerConfig::default();
        for (key, value) in self.defaults {
            config
                .set_property(key, value)
                .map_err(|e| Failure::new(format!("default {key}={}: {e}", shown(key, value))))?;
        }
        if let Some(path) = self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
            let entries = parse_properties(&text).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
            for (key, value) in entries {
                config.set_property(&key, &value).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
            }
        }
        for KeyValue { key, value } in self.properties {
            config
                .set_property(key, value)
                .map_err(|e| Failure::new(format!("{} {key}={}: {e}", self.properties_flag, shown(key, value))))?;
        }
        for (key, value, flag) in &self.flags {
            config.set_property(key, value).map_err(|e| Failure::new(format!("{flag} {value}: {e}")))?;
        }
        if config.bootstrap_servers().is_empty() {
            return Err(Failure::new(
                "no bootstrap server: give -b/--bootstrap-server HOST:PORT or set bootstrap.servers",
            ));
        }
        Ok(config)
    }
}

/// Prints the statistics snapshot to stderr, one JSON document a line, whenever
/// `statistics.interval.ms` (`--stats`, or the property) asks for one.
pub(crate) fn statistics_to_stderr(config: ProducerConfig) -> ProducerConfig {
    config.statistics_callback(|json| eprintln!("{json}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;
    use kprod_std::{Acks, Compression};

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(parse_key_value("a=b=c").unwrap(), KeyValue { key: "a".into(), value: "b=c".into() });
        assert_eq!(parse_key_value("a=").unwrap().value, "");
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }

    #[test]
    fn later_sources_win_and_errors_name_their_source() {
        let dir = std::env::temp_dir().join(format!("kprod-cli-config-{}", std::process::id()));
        std::fs::write(&dir, "bootstrap.servers=file:1\nlinger.ms=7\nacks=all\n").unwrap();
        let props = [parse_key_value("linger.ms=9").unwrap()];
        let sources = Sources {
            defaults: &[("client.id", "x"), ("linger.ms", "1")],
            file: Some(&dir),
            properties: &props,
            properties_flag: "-X",
            flags: vec![("acks", "1".into(), "--acks"), ("compression.type", "zstd".into(), "-z")],
        };
        let c = sources.build().unwrap();
        assert_eq!(c.bootstrap_servers(), [("file".to_owned(), 1)]);
        assert_eq!(c.engine().linger, Duration::from_millis(9));
        assert_eq!(c.engine().acks, Acks::Leader);
        assert_eq!(c.engine().compression, Compression::Zstd);

        let bad = [parse_key_value("lingr.ms=9").unwrap()];
        let e = Sources { file: Some(&dir), properties: &bad, properties_flag: "-X", ..Sources::default() }
            .build()
            .unwrap_err();
        assert_eq!(e.to_string(), "-X lingr.ms=9: unrecognized producer config: \"lingr.ms\"");
        std::fs::write(&dir, "linger.ms=soon\n").unwrap();
        let e = Sources { file: Some(&dir), ..Sources::default() }.build().unwrap_err();
        assert!(e.to_string().starts_with(&format!("{}: ", dir.display())), "{e}");
        let _ = std::fs::remove_file(&dir);
        // A refused secret setting is named, its value is not shown.
        let bad =
            [parse_key_value("ssl.key.password=hunter2-secret").unwrap(), parse_key_value("ssl.provider=X").unwrap()];
        let e = Sources { properties: &bad, properties_flag: "-X", ..Sources::default() }.build().unwrap_err();
        assert!(e.to_string().starts_with("-X ssl.provider=X: "), "{e}");
        assert_eq!(shown("ssl.key.password", "hunter2-secret"), "[hidden]");
        assert_eq!(shown("sasl.jaas.config", "x required password=\"p\";"), "[hidden]");
        assert_eq!(shown("linger.ms", "5"), "5");
        let e = Sources::default().build().unwrap_err();
        assert!(e.to_string().contains("bootstrap"), "{e}");
    }
}
