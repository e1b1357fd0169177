//! How kube-log-exporter reaches the API server and what it may do there.
//!
//! - [`connect`] builds a [`kube::Client`] from a kubeconfig (path, context, exec plugins and
//!   client certificates as kube supports them) or from the in-cluster ServiceAccount, chosen
//!   by [`AuthMode`]: explicitly, or automatically (in-cluster when running in a pod). Its
//!   requests go over HTTP/2 where the API server offers it ([`HttpVersion`]): a pool of
//!   connections, each carrying at most the server's per-connection stream limit, PINGed so
//!   that a dead one is dropped (its streams fail and resume) within 30 s; or over HTTP/1.1,
//!   one connection per stream. [`TransportStats`] counts connections and streams.
//! - [`check_access`] asks the API server, with SelfSubjectAccessReviews, whether the current
//!   identity holds each [`Permission`] an export needs.
//! - [`Rbac`] renders the ServiceAccount, Role/ClusterRole and bindings that grant exactly
//!   those permissions, as YAML ready for `kubectl apply -f -`.
//!
//! ```no_run
//! use kle_auth::{check_access, connect, AuthMode, ClientOptions};
//! use kle_core::{required_permissions, Namespaces, Selection};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let connection = connect(&ClientOptions::new(AuthMode::Auto).with_context("staging")).await?;
//! println!("connected with {}", connection.source);
//! let selection = Selection::builder().with_namespaces(Namespaces::Only(vec!["shop".into()])).build()?;
//! for check in check_access(&connection.client, &required_permissions(&selection, true, None)).await? {
//!     println!("{}: {}", check.permission, if check.allowed { "allowed" } else { "denied" });
//! }
//! # Ok(()) }
//! ```

mod access;
mod client;
mod error;
mod rbac;
mod transport;

pub use access::{AccessCheck, check_access, render_access_table};
pub use client::{
    AuthMode, AuthSource, ClientOptions, Connection, KubeconfigContexts, connect, install_crypto_provider,
    kubeconfig_contexts, who_am_i,
};
pub use error::AuthError;
pub use rbac::{Rbac, Subject};
pub use transport::{DEFAULT_READ_BUFFER, HttpVersion, KeepAlive, ResponseBody, TransportStats, read_buffer_for};
