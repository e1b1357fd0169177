//! Self-tests of the fake API server, driven through kube-rs exactly as the exporter uses it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod access;
mod lifecycle;
mod logs;
mod pods;
mod support;
mod watch;
