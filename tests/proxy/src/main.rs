//! `kprod-fault-proxy --proxy LISTEN=UPSTREAM [--proxy ...] --control ADDR`: runs one fault proxy
//! per `--proxy` and takes commands on the control address, one per line (see
//! `kprod_fault_proxy::control`), e.g. `echo '1 stall 20' | nc 127.0.0.1 49299`.

extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;

use kprod_fault_proxy::{control, Proxy};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

fn usage(msg: &str) -> ! {
    eprintln!(
        "kprod-fault-proxy: {msg}\nusage: kprod-fault-proxy --proxy LISTEN=UPSTREAM [--proxy ...] --control ADDR"
    );
    std::process::exit(2)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| usage(&format!("{s:?} is not an IP:PORT address")))
}

fn main() -> std::io::Result<()> {
    let mut pairs = Vec::new();
    let mut control_addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--proxy" => {
                let (l, u) = v.split_once('=').unwrap_or_else(|| usage("--proxy takes LISTEN=UPSTREAM"));
                pairs.push((addr(l), addr(u)));
            }
            "--control" => control_addr = Some(addr(&v)),
            _ => usage(&format!("unknown option {a}")),
        }
    }
    let control_addr = control_addr.unwrap_or_else(|| usage("--control is required"));
    let rt = tokio::runtime::Runtime::new()?;
    let proxies: Vec<Proxy> = pairs.iter().map(|&(l, u)| Proxy::spawn(rt.handle(), l, u)).collect::<Result<_, _>>()?;
    for p in &proxies {
        eprintln!("kprod-fault-proxy: listening on {}", p.local_addr());
    }
    let proxies = Arc::new(proxies);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(control_addr).await?;
        eprintln!("kprod-fault-proxy: control on {control_addr}");
        loop {
            let (sock, _) = listener.accept().await?;
            let proxies = Arc::clone(&proxies);
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = control::apply(&proxies, &line);
                    if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}
