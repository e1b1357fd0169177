//! The error of sinks is the [`Sink`](kle_core::Sink) trait's, defined with it in `kle-core`.

pub(crate) use kle_core::SinkError;
#[cfg(feature = "s3")]
pub(crate) use kle_core::sinks::UploadFailure;
