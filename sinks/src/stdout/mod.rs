//! The stdout sink: its configuration ([`StdoutConfig`], in every build) and the sink itself
//! ([`StdoutSink`], feature `stdout`).

mod config;
#[cfg(feature = "stdout")]
mod sink;

pub use config::{ColorChoice, StdoutConfig};
#[cfg(feature = "stdout")]
pub use sink::{Output, Stdout, StdoutSink};
