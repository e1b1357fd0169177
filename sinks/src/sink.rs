//! The trait the backends implement is defined with the pipeline that drives it, in `kle-core`.

pub(crate) use kle_core::Sink;
