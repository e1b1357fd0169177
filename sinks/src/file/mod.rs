//! The file sink: its configuration ([`FileConfig`], in every build) and the sink itself
//! ([`FileSink`], feature `file`).

mod config;
#[cfg(feature = "file")]
mod sink;
#[cfg(feature = "file")]
mod state;

pub use config::FileConfig;
#[cfg(feature = "file")]
pub use sink::{DEFAULT_MAX_OPEN_FILES, FileSink, FileSinkBuilder};
