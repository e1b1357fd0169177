//! Ctrl-C and SIGTERM: stop streaming, commit and checkpoint within the grace period.

use std::time::Duration;

use tracing::{info, warn};

use crate::failure::EXIT_ERROR;

/// Cancels the run on Ctrl-C or SIGTERM: streams stop, and what was received is committed
/// (and checkpointed) before exit. The commit may take at most `grace`; after that, or at a
/// second signal, the process exits with code 1 and the next run resumes from the last
/// checkpoint saved.
pub(crate) fn cancel_on_signals(cancel: tokio_util::sync::CancellationToken, grace: Duration) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(err) => {
                warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the run cleanly");
                None
            }
        };
        #[cfg(unix)]
        let mut signalled = async || match term.as_mut() {
            Some(term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        #[cfg(not(unix))]
        let signalled = async || {
            let _ = tokio::signal::ctrl_c().await;
        };
        signalled().await;
        info!(grace_period = %humantime::format_duration(grace), "stopping; committing what was received");
        cancel.cancel();
        tokio::select! {
            () = tokio::time::sleep(grace) => {
                eprintln!(
                    "error: committing did not finish within the grace period ({}); exiting. \
                     The next run resumes from the last checkpoint saved; raise --grace-period if the sink needs longer.",
                    humantime::format_duration(grace)
                );
            }
            () = signalled() => eprintln!("error: second signal; exiting without waiting for the commit"),
        }
        std::process::exit(i32::from(EXIT_ERROR));
    });
}
