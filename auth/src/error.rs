//! The error type of `kle-auth`.

use std::path::PathBuf;

/// Why a client could not be built or a check could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No kubeconfig was found where one was looked for.
    #[error(
        "no kubeconfig found ({looked_in}); pass --kubeconfig, set KUBECONFIG, or run inside a pod with --auth in-cluster"
    )]
    NoKubeconfig {
        /// Where it was looked for.
        looked_in: String,
    },
    /// The kubeconfig could not be read or parsed.
    #[error("cannot use kubeconfig {path}: {reason}")]
    BadKubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested context does not exist in the kubeconfig.
    #[error("context {context:?} not found in the kubeconfig; available contexts: {}", available.join(", "))]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts the kubeconfig has.
        available: Vec<String>,
    },
    /// In-cluster configuration was asked for, but this is not a pod (or its ServiceAccount files are missing).
    #[error("cannot use the in-cluster ServiceAccount: {reason}")]
    NotInCluster {
        /// What is missing.
        reason: String,
    },
    /// The client could not be built from a valid configuration (TLS material, URL).
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] Box<kube::Error>),
    /// TLS material that kubectl accepts but rustls refuses (an X.509 v1 client certificate, a
    /// key in a format it does not read), named with its kubeconfig entry and the fix.
    #[error("cannot use the TLS credentials of {entry}: {problem}; {fix}")]
    Tls {
        /// Where the material comes from (`kubeconfig ~/.kube/config (context dev)`).
        entry: String,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        fix: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// `--http-version 2` where HTTP/2 cannot be spoken (through an HTTP proxy).
    #[error("cannot use HTTP/2 to the API server: {reason}; use --http-version auto or 1.1")]
    Http2Unavailable {
        /// Why not.
        reason: String,
    },
    /// A SelfSubjectAccessReview could not be made (the API server is unreachable, for one).
    #[error("cannot check permissions with SelfSubjectAccessReview: {reason}")]
    AccessReview {
        /// The error and its causes.
        reason: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server answered a SelfSubjectAccessReview with an error status: this identity
    /// may not create them, or the API is not served.
    #[error(
        "the API server refused a SelfSubjectAccessReview: {message} (export and follow skip this check with --no-preflight)"
    )]
    AccessReviewRefused {
        /// The server's message.
        message: String,
    },
}
