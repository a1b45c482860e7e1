//! Shared by the `kprod` binary's tests: running the binary, and reading a topic back whole
//! with the independent verifier (kafka-python), so that duplicates would show.
#![allow(dead_code, unreachable_pub)]

use core::time::Duration;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kprod_tests::Broker;

/// Runs `kprod ARGS`, feeding `stdin` (nothing: an empty stdin).
pub fn kprod(args: &[&str], stdin: &[u8]) -> Output {
    let (child, writer) = spawn(args, stdin, Stdio::piped());
    let out = child.wait_with_output().expect("wait for kprod");
    writer.join().expect("stdin writer");
    out
}

/// Starts `kprod ARGS` with stderr piped, and a thread that writes `stdin` to it (from another
/// thread: kprod may fill its stdout pipe before reading everything).
fn spawn(args: &[&str], stdin: &[u8], stdout: Stdio) -> (Child, JoinHandle<()>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kprod");
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    (child, writer)
}

/// How `kprod` ran, with the time each stderr line arrived.
#[derive(Debug)]
pub struct Timed {
    pub status: ExitStatus,
    /// Each stderr line and when it arrived, from the start.
    pub stderr: Vec<(Duration, String)>,
    /// When the process ended.
    pub ended: Duration,
}

impl Timed {
    /// The stderr lines, for assertion messages.
    pub fn describe(&self) -> String {
        let lines: Vec<String> = self.stderr.iter().map(|(at, l)| format!("[{:>5} ms] {l}", at.as_millis())).collect();
        format!("{} after {} ms\n--- stderr\n{}", self.status, self.ended.as_millis(), lines.join("\n"))
    }
}

/// Runs `kprod ARGS` with `stdin`, reading stderr as it comes (stdout is dropped).
pub fn kprod_timed(args: &[&str], stdin: &[u8]) -> Timed {
    let start = Instant::now();
    let (mut child, writer) = spawn(args, stdin, Stdio::null());
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let lines: Vec<(Duration, String)> = stderr.lines().map_while(Result::ok).map(|l| (start.elapsed(), l)).collect();
    let status = child.wait().expect("wait for kprod");
    let ended = start.elapsed();
    writer.join().expect("stdin writer");
    Timed { status, stderr: lines, ended }
}

/// stdout and stderr as text, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lines of stderr.
pub fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().map(str::to_owned).collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit i64")
}

/// A record as the verifier read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| BASE64.decode(s).expect("verifier prints base64"))
}

/// Every record of `topic`, sorted by (partition, offset): waits for `count`, then reads on
/// for one more second so that any extra record (a duplicate) shows.
pub fn read_all(broker: &Broker, topic: &str, count: usize) -> Vec<Read> {
    let count_arg = count.to_string();
    let out =
        broker.verifier(&["consume", "--topic", topic, "--count", &count_arg, "--timeout", "120", "--extra-wait", "1"]);
    assert!(out.status.success(), "verifier consume failed: {}", describe(&out));
    let text = String::from_utf8(out.stdout).expect("verifier prints UTF-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("verifier prints JSON");
            Read {
                partition: v["partition"].as_i64().expect("partition") as i32,
                offset: v["offset"].as_i64().expect("offset"),
                timestamp: v["timestamp"].as_i64().expect("timestamp"),
                timestamp_type: v["timestamp_type"].as_i64().expect("timestamp_type"),
                key: bytes(&v["key"]),
                value: bytes(&v["value"]),
                headers: v["headers"]
                    .as_array()
                    .expect("headers")
                    .iter()
                    .map(|h| (h[0].as_str().expect("header name").to_owned(), bytes(&h[1])))
                    .collect(),
            }
        })
        .collect()
}

/// `127.0.0.1:PORT` with nothing listening: a port that was free just now, below the usual
/// ephemeral range (32768 and up on Linux) so that no connect can land on itself there.
pub fn unreachable_bootstrap() -> String {
    let port = (23_000..24_000)
        .map(|p| p + (std::process::id() % 500) as u16)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port");
    format!("127.0.0.1:{port}")
}

/// How long a test waits at most for a command that should fail fast.
pub const QUICK: Duration = Duration::from_secs(20);

/// A scratch file under the system temp dir, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(name: &str, content: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("kprod-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, content).expect("write temp file");
        Self(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
