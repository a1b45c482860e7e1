//! kprod's property table against the Java client of the Kafka version the tests run: every
//! name of Kafka's `ProducerConfig` has an entry in `kprod_std::properties::PROPERTIES` (which
//! its own unit tests check against `ProducerConfig::set_property`), and the README carries the
//! table generated from it. `KPROD_BLESS=1` rewrites the README's table instead of failing.

use std::path::PathBuf;
use std::process::Command;

use kprod_std::properties::{markdown_table, Support, PROPERTIES};
use kprod_tests::{describe_output, repo_root};

const BEGIN: &str = "<!-- property-table:begin (generated from transport-std/src/properties.rs) -->\n";
const END: &str = "<!-- property-table:end -->";

/// The Kafka jars `tests/broker/kafka.sh fetch` copied (the version in tests/broker/pom.xml).
fn kafka_libs() -> PathBuf {
    let root = repo_root();
    let pom = std::fs::read_to_string(root.join("tests/broker/pom.xml")).expect("pom.xml");
    let version = pom
        .split("<kafka.version>")
        .nth(1)
        .and_then(|s| s.split("</kafka.version>").next())
        .expect("kafka.version in pom.xml");
    let cache = std::env::var_os("KPROD_CACHE_DIR").map_or_else(|| root.join(".cache"), PathBuf::from);
    cache.join(format!("kafka-{version}/libs"))
}

fn java_producer_properties() -> Vec<String> {
    let libs = kafka_libs();
    assert!(libs.is_dir(), "{} is missing: run tests/broker/kafka.sh fetch", libs.display());
    let out = Command::new("java")
        .arg("-cp")
        .arg(libs.join("*"))
        .arg(repo_root().join("tests/broker/ListProducerConfig.java"))
        .output()
        .expect("java");
    assert!(out.status.success(), "ListProducerConfig failed: {}", describe_output(&out));
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert!(names.len() > 50 && names.iter().any(|n| n == "linger.ms"), "unexpected list: {names:?}");
    names
}

#[test]
fn every_java_producer_property_has_an_entry() {
    let java = java_producer_properties();
    let missing: Vec<&String> = java.iter().filter(|n| !PROPERTIES.iter().any(|p| p.name == n.as_str())).collect();
    assert!(missing.is_empty(), "add these Kafka producer properties to transport-std/src/properties.rs: {missing:?}");
    // Entries that are neither Java names nor marked as kprod's own or aliases are stale.
    let stale: Vec<&str> = PROPERTIES
        .iter()
        .filter(|p| !matches!(p.support, Support::Extension { .. } | Support::Alias { .. } | Support::Ignored { .. }))
        .map(|p| p.name)
        .filter(|n| !java.iter().any(|j| j == n))
        .collect();
    assert!(stale.is_empty(), "not Kafka producer properties (mark them as aliases or extensions): {stale:?}");
}

#[test]
fn readme_carries_the_generated_table() {
    let path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (before, rest) = readme.split_once(BEGIN).expect("README.md has no property-table begin marker");
    let (current, after) = rest.split_once(END).expect("README.md has no property-table end marker");
    let table = markdown_table();
    if current == table {
        return;
    }
    if std::env::var_os("KPROD_BLESS").is_some() {
        std::fs::write(&path, format!("{before}{BEGIN}{table}{END}{after}")).expect("write README.md");
        return;
    }
    panic!("README.md's property table is out of date: rerun with KPROD_BLESS=1 to regenerate it");
}
