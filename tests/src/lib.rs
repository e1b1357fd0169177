//! Test support for kube-log-exporter.
//!
//! [`fake_api`] is a loopback fake Kubernetes API server for the streaming and failure cases that a real
//! cluster cannot produce on demand; the integration tests in `tests/` build on it. [`s3`] runs a
//! real S3 server (`s3s-fs`) per test for the object sink's S3 backend, [`azure`] Azurite for
//! its Azure Blob backend.

// Test support: a failed expectation should stop the test with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod azure;
pub mod binary;
pub mod fake_api;
pub mod process;
pub mod s3;
pub mod testbed;

/// The README's examples, compiled by `cargo test --doc` so they stay true to the code.
#[doc = include_str!("../../README.md")]
#[doc(hidden)]
pub mod readme {}
