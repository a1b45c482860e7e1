//! Shared by the tests without a broker: a TCP server that answers like a broken broker, the
//! checks of the root cause a timeout names, and the process's CPU time.
#![allow(dead_code, unreachable_pub)]

use core::time::Duration;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use kprod_std::core::producer::MAX_RESPONSE_FRAME;
use kprod_std::{ConnError, ConnectionError, Error};

/// The frame length a [`garbage_server`] answers every request with: `i32::MAX`, far beyond
/// what the producer accepts.
pub const GARBAGE_LENGTH: [u8; 4] = [0x7f, 0xff, 0xff, 0xff];

/// Starts a server on `127.0.0.1` whose every connection `answer` serves on a thread of its
/// own; returns its `host:port`. Its threads end with the process.
fn serve(answer: impl Fn(TcpStream) + Clone + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || answer(stream));
        }
    });
    addr.to_string()
}

/// Starts a server on `127.0.0.1` that answers every request with a 4-byte frame length of
/// 2147483647 and nothing else; returns its `host:port`.
pub fn garbage_server() -> String {
    serve(answer_garbage)
}

fn answer_garbage(mut stream: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    // Each read of a request gets the same nonsense; the client hangs up on it.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&GARBAGE_LENGTH).is_err() {
            return;
        }
    }
}

/// Starts a server on `127.0.0.1` that answers a connection's first request with two bytes of
/// a frame length and hangs up `delay` later (a FIN after the bytes, or, with no delay, right
/// behind them); returns its `host:port`.
pub fn hang_up_server(delay: Duration) -> String {
    serve(move |mut stream| {
        let mut buf = [0u8; 64 * 1024];
        if matches!(stream.read(&mut buf), Ok(n) if n > 0) && stream.write_all(&[0, 0]).is_ok() {
            std::thread::sleep(delay);
        }
    })
}

/// Checks that `err` names a connection to `server` that the broker closed.
pub fn assert_hung_up(err: &Error, server: &str) {
    let expected = ConnectionError::Lost { broker: server.to_owned(), reason: "closed by the broker".into() };
    assert_eq!(err.connection_error(), Some(&expected), "{err}");
}

/// CPU time of this process, from /proc (Linux).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Checks that `err` names a connect to `broker` that was refused.
pub fn assert_refused(err: &Error, broker: &str) {
    let Some(ConnectionError::Connect { broker: b, kind, .. }) = err.connection_error() else {
        panic!("a refused connect: {err:?}");
    };
    assert_eq!((b.as_str(), *kind), (broker, ErrorKind::ConnectionRefused));
    assert!(err.to_string().contains(&format!("; last error: connection refused by {broker}")), "{err}");
}

/// Checks that `err` names the failed DNS lookup of `host`.
pub fn assert_dns_failed(err: &Error, host: &str) {
    assert!(matches!(err.connection_error(), Some(ConnectionError::Dns { host: h, .. }) if h == host), "{err:?}");
    assert!(err.to_string().contains(&format!("; last error: DNS lookup of {host} failed: ")), "{err}");
}

/// Checks that `err` names the malformed answer of a [`garbage_server`] at `server`.
pub fn assert_garbage(err: &Error, server: &str) {
    let error = ConnError::FrameLength { announced: 2_147_483_647, limit: MAX_RESPONSE_FRAME };
    let expected = ConnectionError::Broker { broker: server.to_owned(), error };
    assert_eq!(err.connection_error(), Some(&expected), "{err}");
    let cause = format!("; last error: {server} sent a malformed response: frame length 2147483647 exceeds the ");
    assert!(err.to_string().contains(&cause), "{err}");
}

/// Checks that `waiting` (a wait for an unreachable broker, of about 2 s) costs little CPU.
pub fn assert_no_spin(what: &str, waiting: impl FnOnce()) {
    let before = process_cpu();
    waiting();
    if let (Some(before), Some(after)) = (before, process_cpu()) {
        eprintln!("{what}: {:?} of CPU in 2 s", after - before);
        assert!(after - before < Duration::from_millis(500), "{:?}", after - before);
    }
}
