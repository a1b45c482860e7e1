//! `kprod`: the command line of the kprod Kafka producer.
//!
//! - `kprod produce` produces lines from stdin or files, like `kcat -P` and Kafka's console
//!   producer (see [`produce`]).
//! - `kprod perf` measures the producer like Kafka's `kafka-producer-perf-test`, printing the
//!   same lines (see [`perf`]).
//!
//! Errors print one line, `kprod: error: ...`, and exit with status 1; usage errors exit with
//! status 2 (clap's message). While a command runs, the producer's connection failures print on
//! stderr as they happen (see [`logging`]; `-q` / `-v`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A std-only binary: std paths read more plainly here.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

mod config;
mod cpu;
mod logging;
mod perf;
mod produce;

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "kprod", version, about = "Produce to Apache Kafka with kprod, or measure it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Produce lines from stdin or files, one record per line (like `kcat -P`).
    Produce(produce::ProduceArgs),
    /// Measure throughput and latency (like `kafka-producer-perf-test`).
    Perf(perf::PerfArgs),
}

/// A failure that ends the command: printed as `kprod: error: <message>`, exit status 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure(String);

impl Failure {
    /// A failure with this message (newlines become spaces: the error is one line).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self(message.replace(['\r', '\n'], " "))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<kprod_std::Error> for Failure {
    fn from(e: kprod_std::Error) -> Self {
        Self::new(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(args) => produce::run(&args),
        Command::Perf(args) => perf::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("kprod: error: {failure}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn failures_are_one_line() {
        assert_eq!(Failure::new("a\nb\r\nc").to_string(), "a b  c");
    }
}
