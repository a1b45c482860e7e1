//! The fault proxy against a local echo server and plain std clients: each fault does what it
//! says, and measurably (times are lower bounds with generous upper bounds for a busy machine).

use core::net::SocketAddr;
use core::time::Duration;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use kprod_fault_proxy::{control, Direction, Proxy};

/// An upstream that echoes every byte back, on its own thread per connection.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().expect("clone");
                let mut w = s;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    addr
}

fn setup(upstream: SocketAddr) -> (tokio::runtime::Runtime, Proxy) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let p = Proxy::spawn(rt.handle(), "127.0.0.1:0".parse().expect("addr"), upstream).expect("proxy");
    (rt, p)
}

fn connect(p: &Proxy) -> TcpStream {
    let s = TcpStream::connect(p.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s
}

fn round_trip(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    s.write_all(data).expect("write");
    let mut back = vec![0; data.len()];
    s.read_exact(&mut back).expect("read back");
    back
}

/// A Kafka-style frame: a 4-byte big-endian length and `len` bytes.
fn frame(len: usize) -> Vec<u8> {
    let mut f = (len as i32).to_be_bytes().to_vec();
    f.extend((0..len).map(|i| i as u8));
    f
}

#[test]
fn forwards_bytes_unchanged_both_ways() {
    let (_rt, p) = setup(echo_server());
    let mut s = connect(&p);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(round_trip(&mut s, &data), data);
    // The proxy counts a write once it returns, which can be after the client has read it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut st = p.stats();
    while st.to_client < 200_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        st = p.stats();
    }
    assert_eq!((st.accepted, st.to_broker, st.to_client), (1, 200_000, 200_000));
}

#[test]
fn reset_breaks_open_connections_and_accepts_new_ones() {
    let (_rt, p) = setup(echo_server());
    let mut s = connect(&p);
    round_trip(&mut s, b"hello");
    p.reset();
    let mut buf = [0; 8];
    let err = s.read(&mut buf).expect_err("the connection was reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let mut s2 = connect(&p);
    assert_eq!(round_trip(&mut s2, b"again"), b"again");
    assert_eq!(p.stats().reset, 1);
}

#[test]
fn stall_holds_every_byte_then_delivers_it() {
    let (_rt, p) = setup(echo_server());
    let mut open = connect(&p);
    round_trip(&mut open, b"warm");
    p.stall(Duration::from_millis(1500));
    let t0 = Instant::now();
    let mut late = connect(&p); // made during the stall: held before it reaches the upstream
    assert_eq!(round_trip(&mut open, b"stalled"), b"stalled");
    assert_eq!(round_trip(&mut late, b"held"), b"held");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(1400), "bytes moved during the stall ({waited:?})");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

#[test]
fn throttle_limits_bandwidth_and_latency_delays_each_way() {
    let (_rt, p) = setup(echo_server());
    let mut s = connect(&p);
    p.throttle(Some(40_000));
    let t0 = Instant::now();
    round_trip(&mut s, &vec![7; 80_000]); // 80 kB each way at 40 kB/s: at least ~2 s
    let throttled = t0.elapsed();
    assert!(throttled >= Duration::from_millis(1500), "{throttled:?}");
    p.throttle(None);
    p.latency(Duration::from_millis(300));
    let t0 = Instant::now();
    round_trip(&mut s, b"ping");
    let delayed = t0.elapsed();
    assert!(delayed >= Duration::from_millis(600), "300 ms each way, got {delayed:?}");
    p.clear();
    let t0 = Instant::now();
    round_trip(&mut s, b"pong");
    assert!(t0.elapsed() < Duration::from_millis(500), "cleared, yet {:?}", t0.elapsed());
}

/// An upstream that sends `reply` on each connection and records what it received until EOF.
fn scripted_server(reply: Vec<u8>) -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(&reply);
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let _ = tx.send(got);
        }
    });
    (addr, rx)
}

#[test]
fn cut_to_client_delivers_half_a_frame_then_closes() {
    let mut reply = frame(10);
    reply.extend(frame(100));
    let (addr, _) = scripted_server(reply.clone());
    let (_rt, p) = setup(addr);
    p.cut_mid_frame(Direction::ToClient);
    let mut s = connect(&p);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("a clean EOF after the cut");
    assert_eq!(rest, reply[..4 + 5], "the length and half the body of the first frame, no more");
    assert_eq!(p.stats().cut, 1);
}

#[test]
fn cut_to_broker_delivers_half_a_frame_then_closes() {
    let (addr, received) = scripted_server(Vec::new());
    let (_rt, p) = setup(addr);
    p.cut_mid_frame(Direction::ToBroker);
    let mut s = connect(&p);
    let mut sent = frame(40);
    sent.extend(frame(40));
    s.write_all(&sent).expect("write");
    let got = received.recv_timeout(Duration::from_secs(20)).expect("upstream saw the end");
    assert_eq!(got, sent[..4 + 20], "the length and half the body of the first frame");
    let mut buf = [0; 1];
    assert_eq!(s.read(&mut buf).map_err(|e| e.kind()), Ok(0), "the client sees EOF");
}

#[test]
fn corrupt_flips_one_byte_of_the_next_frame_and_keeps_the_connection() {
    let (_rt, p) = setup(echo_server());
    let mut s = connect(&p);
    let f = frame(100);
    assert_eq!(round_trip(&mut s, &f), f);
    p.corrupt_frame(Direction::ToBroker);
    let back = round_trip(&mut s, &f);
    let diff: Vec<usize> = (0..f.len()).filter(|&i| back[i] != f[i]).collect();
    assert_eq!(diff, [4 + 75], "one byte flipped, at three quarters of the body");
    assert_eq!(round_trip(&mut s, &f), f, "later frames pass unchanged");
    assert_eq!(p.stats().corrupted, 1);
}

#[test]
fn down_refuses_connections_and_up_accepts_again() {
    let (_rt, p) = setup(echo_server());
    let mut open = connect(&p);
    round_trip(&mut open, b"x");
    p.set_down(true);
    let mut buf = [0; 1];
    assert!(matches!(open.read(&mut buf), Err(_) | Ok(0)), "open connections end");
    let t0 = Instant::now();
    loop {
        match TcpStream::connect(p.local_addr()) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // A connect that races the listener's close can be reset from its backlog (seen in CI): the
            // listener is going away but has not gone yet, so try again.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                assert!(t0.elapsed() < Duration::from_secs(10), "still resetting, never refusing, while down")
            }
            Err(e) => panic!("while down, connect failed with {e}, not refused"),
            Ok(_) => assert!(t0.elapsed() < Duration::from_secs(10), "still accepting while down"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    p.set_down(false);
    let t0 = Instant::now();
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(p.local_addr()) {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not accepting after up");
        std::thread::sleep(Duration::from_millis(20));
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    assert_eq!(round_trip(&mut s, b"back"), b"back");
}

#[test]
fn control_lines_reach_the_chosen_proxies() {
    let up = echo_server();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let ps: Vec<Proxy> = (0..2).map(|_| Proxy::spawn(rt.handle(), any, up).expect("proxy")).collect();
    assert_eq!(control::apply(&ps, "1 cut to-client"), "ok");
    assert_eq!(control::apply(&ps, "all throttle 1000"), "ok");
    assert_eq!(control::apply(&ps, "all clear"), "ok");
    assert!(control::apply(&ps, "2 reset").starts_with("error: no proxy 2"));
    assert!(control::apply(&ps, "0 stall soon").starts_with("error: stall takes"));
    assert!(control::apply(&ps, "0 explode").starts_with("error: unknown command"));
    assert_eq!(control::apply(&ps, "all stats").lines().count(), 2);
}
