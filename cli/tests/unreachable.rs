//! `kprod produce` when no broker answers (no broker needed): the connection failure prints on
//! stderr while the command runs (once, not at every reconnect; `-q` silences it, `-v` adds
//! connects), and the final error names it as the root cause.

mod util;
// The broken broker of kprod-std's tests: answers every request with a frame length of 2^31-1.
#[path = "../../transport-std/tests/common/mod.rs"]
mod broken_broker;

use core::time::Duration;

use regex::Regex;
use util::kprod_timed;

/// The final error line of a run: the first stdin line's record could not get metadata.
fn final_error(stderr: &[(Duration, String)]) -> &str {
    let (_, last) = stderr.last().expect("an error line");
    last.strip_prefix("kprod: error: stdin:1: topic nowhere not present in metadata after ").unwrap_or_else(|| panic!("{last}"))
}

#[test]
fn a_refused_connection_prints_while_it_runs_and_names_the_cause() {
    let run = kprod_timed(&["produce", "-b", "127.0.0.1:1", "-t", "nowhere", "-X", "max.block.ms=2000"], b"one\ntwo\n");
    let describe = run.describe();
    assert_eq!(run.status.code(), Some(1), "{describe}");
    let refused: Vec<_> = run.stderr.iter().filter(|(_, l)| l.contains("connection refused by 127.0.0.1:1")).collect();
    // The producer's line, then the final error (which names it too).
    assert_eq!(refused.len(), 2, "one line while it runs, however often it reconnects: {describe}");
    let (at, line) = refused[0];
    assert_eq!(line, "kprod: connection refused by 127.0.0.1:1", "{describe}");
    assert!(*at < Duration::from_millis(1500) && run.ended >= Duration::from_millis(2000), "{describe}");
    let re = Regex::new(r"^2\d{3} ms; last error: connection refused by 127\.0\.0\.1:1 \(\d+ attempts\)$").unwrap();
    assert!(re.is_match(final_error(&run.stderr)), "{describe}");
    assert_eq!(run.stderr.len(), 3, "the connection line, the summary, the error: {describe}");
}

#[test]
fn quiet_silences_connection_messages_but_not_the_cause() {
    let run = kprod_timed(&["produce", "-q", "-b", "127.0.0.1:1", "-t", "nowhere", "-X", "max.block.ms=500"], b"one\n");
    let describe = run.describe();
    assert_eq!(run.status.code(), Some(1), "{describe}");
    assert_eq!(run.stderr.len(), 2, "the summary and the error only: {describe}");
    assert!(final_error(&run.stderr).contains("; last error: connection refused by 127.0.0.1:1"), "{describe}");
}

#[test]
fn an_unresolvable_broker_names_the_dns_lookup() {
    let run = kprod_timed(&["produce", "-b", "nosuchhost.invalid:9092", "-t", "nowhere", "-X", "max.block.ms=500"], b"one\n");
    let describe = run.describe();
    assert_eq!(run.status.code(), Some(1), "{describe}");
    assert!(run.stderr[0].1.starts_with("kprod: DNS lookup of nosuchhost.invalid failed: "), "{describe}");
    assert!(final_error(&run.stderr).contains("; last error: DNS lookup of nosuchhost.invalid failed: "), "{describe}");
}

#[test]
fn verbose_adds_connects_to_a_broker_that_answers_garbage() {
    let server = broken_broker::garbage_server();
    let run = kprod_timed(&["produce", "-v", "-b", &server, "-t", "nowhere", "-X", "max.block.ms=1000"], b"one\n");
    let describe = run.describe();
    assert_eq!(run.status.code(), Some(1), "{describe}");
    let malformed = format!("{server} sent a malformed response: frame length 2147483647 exceeds the 67108864-byte limit");
    let lines: Vec<&str> = run.stderr.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(lines[0], format!("kprod: connected to {server}"), "{describe}");
    assert_eq!(lines[1], format!("kprod: {malformed}"), "{describe}");
    let reported = lines.iter().filter(|l| **l == format!("kprod: {malformed}")).count();
    assert_eq!(reported, 1, "not at every reconnect: {describe}");
    assert!(lines.iter().filter(|l| l.starts_with("kprod: connected to")).count() > 1, "it reconnects: {describe}");
    assert!(final_error(&run.stderr).ends_with(&format!("; last error: {malformed}")), "{describe}");
}
