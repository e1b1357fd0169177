//! Writing a command's own output to stdout.

use crate::failure::{EXIT_OK, Failure};

/// Writes `bytes` to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn print_out(bytes: &[u8]) -> Result<u8, Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Output(format!("cannot write to standard output: {err}")))
        }
        _ => Ok(EXIT_OK),
    }
}
