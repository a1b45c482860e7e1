//! The producer's log lines on stderr while a command runs, as kcat prints librdkafka's.
//!
//! kprod-std logs through the `log` crate; connects, connection failures and closes under the
//! target `kprod_std::connection`. It logs a failure at warn level the first time, and again
//! only once the same failure has repeated for 30 s or the broker's connection came up in
//! between (the repeats of a broker that stays down, every reconnect, go to debug level). So:
//! - by default, stderr gets one line when a connection to a broker fails, e.g.
//!   `kprod: connection refused by 127.0.0.1:9092`, and the producer's errors;
//! - `-q` prints none of them;
//! - `-v` adds connects and every failed batch; `-vv` everything down to debug level (connect
//!   attempts, each repeated failure with the system's message, closes, retries).

use log::{LevelFilter, Log, Metadata, Record};

/// kprod-std's log target for connects, connection failures and closes.
const CONNECTION: &str = "kprod_std::connection";

/// Prints log lines on stderr, one a line, as the producer wrote them (they start `kprod: `).
#[derive(Debug)]
struct StderrLog {
    /// The most detailed level shown for [`CONNECTION`].
    connection: LevelFilter,
    /// The most detailed level shown for kprod's other targets.
    kprod: LevelFilter,
    /// The most detailed level shown for any other crate.
    other: LevelFilter,
}

impl StderrLog {
    /// The levels for `-q` (`quiet`) and `-v` given `verbose` times.
    const fn new(quiet: bool, verbose: u8) -> Self {
        let (connection, kprod, other) = match (quiet, verbose) {
            (true, _) => (LevelFilter::Off, LevelFilter::Off, LevelFilter::Off),
            (false, 0) => (LevelFilter::Warn, LevelFilter::Error, LevelFilter::Off),
            (false, 1) => (LevelFilter::Info, LevelFilter::Warn, LevelFilter::Off),
            (false, _) => (LevelFilter::Debug, LevelFilter::Debug, LevelFilter::Warn),
        };
        Self { connection, kprod, other }
    }

    fn max(&self) -> LevelFilter {
        self.connection.max(self.kprod).max(self.other)
    }
}

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        let max = if target.starts_with(CONNECTION) {
            self.connection
        } else if target.starts_with("kprod") {
            self.kprod
        } else {
            self.other
        };
        metadata.level() <= max
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger for `-q` / `-v` (once per process; later calls change nothing).
pub(crate) fn init(quiet: bool, verbose: u8) {
    let logger = StderrLog::new(quiet, verbose);
    let max = logger.max();
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn shows(logger: &StderrLog, level: Level, target: &str) -> bool {
        logger.enabled(&Metadata::builder().level(level).target(target).build())
    }

    #[test]
    fn levels_follow_quiet_and_verbose() {
        let default = StderrLog::new(false, 0);
        assert!(shows(&default, Level::Warn, CONNECTION), "a failed connection");
        assert!(!shows(&default, Level::Info, CONNECTION), "connects need -v");
        assert!(!shows(&default, Level::Warn, "kprod_std::events"), "failed batches need -v");
        assert!(shows(&default, Level::Error, "kprod_std::events"), "fatal errors");
        assert!(!shows(&default, Level::Error, "mio::poll"));
        let quiet = StderrLog::new(true, 3);
        assert!(!shows(&quiet, Level::Error, CONNECTION) && quiet.max() == LevelFilter::Off);
        let verbose = StderrLog::new(false, 1);
        assert!(shows(&verbose, Level::Info, CONNECTION) && shows(&verbose, Level::Warn, "kprod_std::events"));
        assert!(!shows(&verbose, Level::Debug, CONNECTION));
        let very = StderrLog::new(false, 2);
        assert!(shows(&very, Level::Debug, CONNECTION) && shows(&very, Level::Debug, "kprod_std::blocking::io"));
        assert!(!shows(&very, Level::Trace, CONNECTION));
    }
}
