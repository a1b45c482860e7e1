//! Where `kprod perf` prints: Kafka's text lines or JSON objects on stdout, above a progress
//! bar when stdout is a terminal.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::stats::{Progress, Summary};

/// How often the progress bar moves.
const TICK: Duration = Duration::from_millis(100);

/// Prints progress and the summary.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    bar: Option<ProgressBar>,
}

impl Output {
    /// JSON objects or text lines; a bar for `total` records if `bar` (callers pass whether
    /// stdout is a terminal and not JSON).
    pub(crate) fn new(json: bool, bar: bool, total: u64) -> Self {
        let bar = bar.then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            // The template is a constant that indicatif accepts.
            let style = ProgressStyle::with_template(
                "{bar:40.cyan/blue} {human_pos}/{human_len} records, {rate} records/s, eta {eta} ",
            )
            .expect("a valid progress template")
            .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            });
            b.set_style(style);
            b
        });
        Self { json, bar }
    }

    /// Prints a progress line.
    pub(crate) fn progress(&self, p: &Progress) {
        let line = if self.json { to_json(p) } else { p.text() };
        self.line(&line);
    }

    /// Removes the bar and prints the final line.
    pub(crate) fn summary(&self, s: &Summary) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let line = if self.json { to_json(s) } else { s.text() };
        // A closed stdout (e.g. `| head`) must not abort the run; there is nobody to tell.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn line(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
    }

    /// Starts moving the bar to `done` every 100 ms, if there is a bar.
    pub(crate) fn start_ticker(&self, done: &'static AtomicU64) -> Option<Ticker> {
        let bar = self.bar.clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("kprod-progress".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    bar.set_position(done.load(Ordering::Relaxed));
                    std::thread::park_timeout(TICK);
                }
            })
            .ok()?;
        Some(Ticker { stop, thread })
    }
}

/// The thread that moves the progress bar.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

fn to_json(value: &impl serde::Serialize) -> String {
    // Plain structs of numbers and strings always serialize.
    serde_json::to_string(value).expect("perf output serializes")
}
