//! The control language of the `kprod-fault-proxy` binary: one command per line, applied to
//! one proxy or to all of them.
//!
//! ```text
//! <target> reset | stall <seconds> | throttle <bytes/s>|off | latency <ms> | cut to-broker|to-client
//!          | corrupt to-broker|to-client | down | up | clear | stats
//! ```
//! `<target>` is a proxy's index (0-based, in the order given on the command line) or `all`.

use core::time::Duration;

use crate::{Direction, Proxy};

/// Applies `line` to `proxies`; returns the reply (`ok`, the stats, or `error: ...`).
pub fn apply(proxies: &[Proxy], line: &str) -> String {
    match run(proxies, line) {
        Ok(reply) => reply,
        Err(e) => format!("error: {e}"),
    }
}

fn run(proxies: &[Proxy], line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (target, cmd, arg) = match words.as_slice() {
        [t, c] => (*t, *c, None),
        [t, c, a] => (*t, *c, Some(*a)),
        _ => return Err(format!("expected `<target> <command> [arg]`, got {line:?}")),
    };
    let chosen: Vec<&Proxy> = if target == "all" {
        proxies.iter().collect()
    } else {
        let i: usize = target.parse().map_err(|_| format!("target {target:?} is neither an index nor `all`"))?;
        vec![proxies.get(i).ok_or_else(|| format!("no proxy {i} (there are {})", proxies.len()))?]
    };
    let number = |what: &str| -> Result<f64, String> {
        arg.and_then(|a| a.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{cmd} takes {what}"))
    };
    let mut replies = Vec::new();
    for p in chosen {
        match (cmd, arg) {
            ("reset", None) => p.reset(),
            ("stall", _) => p.stall(Duration::from_secs_f64(number("a number of seconds")?)),
            ("throttle", Some("off")) => p.throttle(None),
            ("throttle", _) => p.throttle(Some(number("bytes per second or `off`")? as u64)),
            ("latency", _) => p.latency(Duration::from_secs_f64(number("milliseconds")? / 1000.0)),
            ("cut", Some("to-broker")) => p.cut_mid_frame(Direction::ToBroker),
            ("cut", Some("to-client")) => p.cut_mid_frame(Direction::ToClient),
            ("corrupt", Some("to-broker")) => p.corrupt_frame(Direction::ToBroker),
            ("corrupt", Some("to-client")) => p.corrupt_frame(Direction::ToClient),
            ("down", None) => p.set_down(true),
            ("up", None) => p.set_down(false),
            ("clear", None) => p.clear(),
            ("stats", None) => replies.push(format!("{} {:?}", p.local_addr(), p.stats())),
            _ => return Err(format!("unknown command {line:?}")),
        }
    }
    Ok(if replies.is_empty() { "ok".to_owned() } else { replies.join("\n") })
}
