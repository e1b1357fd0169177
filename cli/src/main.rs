//! `kube-log-exporter`: parses arguments, wires the crates, maps outcomes to exit codes.
//!
//! One module per command (`export`, `rbac`, `check`, `config`, `docs`, `read`), `failure` for what
//! went wrong and its exit code; the work is done by the libraries.

mod args;
mod check;
mod cluster;
mod clusters;
mod config;
mod docs;
mod dry_run;
mod export;
mod failure;
mod output;
mod preflight;
mod progress;
mod rbac;
#[cfg(feature = "read")]
mod read;
mod serve;
mod settings;
mod sharded;
mod signals;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command, LogFormatArg};
use crate::failure::Failure;

/// jemalloc keeps freed pages for reuse a while, where glibc's malloc trims the heap and
/// faults the pages in again for the next HTTP/2 frame (see cli/Cargo.toml).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose, cli.global.log_format);
    // One thread runs the streams and the sink; blocking work (file syncs, stdout writes,
    // checkpoints) goes to tokio's blocking pool. The work per byte is small (split lines,
    // copy them out), and a multi-thread runtime spent more on waking its workers and moving
    // batches between them than on that work: a 1 GiB stream took 0.64-0.73 s of CPU on two
    // workers and 0.37-0.44 s on one thread (BENCHMARKS.md, runtime).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(failure::EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {failure}");
            if let Some(hint) = failure.hint() {
                eprintln!("\n{hint}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Export(args) => export::export(cli.global, args, false).await,
        Command::Follow(args) => export::export(cli.global, args, true).await,
        Command::Rbac(args) => rbac::rbac(args),
        Command::Check(args) => check::check(&cli.global, args).await,
        Command::Config(command) => config::config(command),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
        #[cfg(feature = "read")]
        Command::Read(args) => read::read(args).await,
        #[cfg(not(feature = "read"))]
        Command::Read(_) => Err(Failure::Usage(
            "this build has no `read`: rebuild kube-log-exporter with the cargo feature `read`".into(),
        )),
    }
}

/// Logs go to stderr so stdout carries only log lines; `RUST_LOG` wins over `-v`. Colour
/// escapes only where a person reads them: a terminal, without `NO_COLOR`; never in a pipe, a
/// file or a pod's log.
fn init_tracing(verbose: u8, format: LogFormatArg) {
    let default = match verbose {
        0 => "warn,kle_core=info,kle_sinks=info,kle_auth=info,kube_log_exporter=info",
        1 => "info,kle_core=debug,kle_sinks=debug,kle_auth=debug,kube_log_exporter=debug",
        _ => "debug,kle_core=trace,kle_sinks=trace,kle_auth=trace,kube_log_exporter=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose > 0);
    match format {
        // A run over several clusters tags its events with a `cluster` span.
        LogFormatArg::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormatArg::Text => builder.with_ansi(colour_on_stderr()).init(),
    }
}

/// <https://no-color.org>: a set, non-empty `NO_COLOR` turns colour off.
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal as _;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}
