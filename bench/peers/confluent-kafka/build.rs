//! Records the confluent-kafka version from Cargo.lock, for the version line the runner reads.
fn main() {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"confluent-kafka\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CONFLUENT_KAFKA_VERSION={version}");
    println!("cargo:rerun-if-changed=Cargo.lock");
}
