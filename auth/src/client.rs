//! Building a client: kubeconfig or in-cluster ServiceAccount.

use std::fmt;
use std::path::{Path, PathBuf};

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use tracing::debug;

use crate::error::AuthError;
use crate::rbac::Subject;
use crate::transport::{BuildError, HttpVersion, KeepAlive, TransportOptions, TransportStats};

/// Where the ServiceAccount token of a pod is mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to authenticate to the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// In-cluster when running in a pod (and no kubeconfig or context was named), else kubeconfig.
    #[default]
    Auto,
    /// A kubeconfig file: `--kubeconfig`, `KUBECONFIG`, or `~/.kube/config`.
    Kubeconfig,
    /// The pod's ServiceAccount token, CA and namespace.
    InCluster,
}

/// What [`connect`] needs.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientOptions {
    mode: AuthMode,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    service_account_dir: Option<PathBuf>,
    read_buffer: Option<usize>,
    http_version: HttpVersion,
    keep_alive: KeepAlive,
}

impl ClientOptions {
    /// Options for `mode`, everything else from the environment.
    pub fn new(mode: AuthMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Reads this kubeconfig file instead of `KUBECONFIG` / `~/.kube/config`.
    pub fn with_kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Uses this context instead of the kubeconfig's current one.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Looks for the ServiceAccount files here (tests; default `/var/run/secrets/kubernetes.io/serviceaccount`).
    pub fn with_service_account_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.service_account_dir = Some(dir.into());
        self
    }

    /// Sizes each connection's read buffer for `streams` log streams open at once (see
    /// [`read_buffer_for`](crate::read_buffer_for)): thousands of bursting streams then read
    /// ahead 64 MiB together instead of 416 KiB each.
    pub fn with_concurrent_streams(self, streams: usize) -> Self {
        self.with_read_buffer(crate::read_buffer_for(streams))
    }

    /// Bounds what each connection reads ahead of its consumer (default and most
    /// [`DEFAULT_READ_BUFFER`](crate::DEFAULT_READ_BUFFER), least 8 KiB).
    pub fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = Some(bytes);
        self
    }

    /// Speaks this HTTP version to the API server (default [`HttpVersion::Http1`];
    /// [`HttpVersion::Auto`] for HTTP/2 where the server offers it).
    pub fn with_http_version(mut self, version: HttpVersion) -> Self {
        self.http_version = version;
        self
    }

    /// PINGs HTTP/2 connections this often and drops one whose answer takes longer than
    /// `keep_alive.timeout` (default 15 s and 15 s: a dead connection is found within 30 s).
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    fn service_account_dir(&self) -> &Path {
        self.service_account_dir
            .as_deref()
            .unwrap_or(Path::new(SERVICE_ACCOUNT_DIR))
    }

    /// The mode `Auto` resolves to here.
    pub fn resolved_mode(&self) -> AuthMode {
        match self.mode {
            AuthMode::Auto if self.kubeconfig.is_some() || self.context.is_some() => AuthMode::Kubeconfig,
            AuthMode::Auto if running_in_pod(self.service_account_dir()) => AuthMode::InCluster,
            AuthMode::Auto => AuthMode::Kubeconfig,
            explicit => explicit,
        }
    }
}

fn running_in_pod(service_account_dir: &Path) -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && service_account_dir.join("token").is_file()
}

/// Which credentials a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    /// A kubeconfig file and context.
    Kubeconfig {
        /// The file(s) read (`KUBECONFIG` may name several).
        path: String,
        /// The context used.
        context: String,
    },
    /// The pod's ServiceAccount.
    InCluster {
        /// The pod's namespace.
        namespace: String,
    },
}

impl fmt::Display for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSource::Kubeconfig { path, context } => {
                write!(f, "kubeconfig {path} (context {context})")
            }
            AuthSource::InCluster { namespace } => {
                write!(f, "in-cluster ServiceAccount (namespace {namespace})")
            }
        }
    }
}

/// A ready client and how it was made.
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The credentials it uses.
    pub source: AuthSource,
    /// The namespace to use when none is given: the context's, or the pod's.
    pub default_namespace: String,
    /// Who the client authenticates as, when the credentials say so (the `sub` claim of a
    /// ServiceAccount token, in-cluster or in a kubeconfig); `None` for other credentials
    /// (see [`who_am_i`] for asking the API server).
    pub subject: Option<Subject>,
    /// The connections and streams under `client`, for the debug log and `/metrics`.
    pub transport: TransportStats,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("source", &self.source)
            .field("default_namespace", &self.default_namespace)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Installs rustls' aws-lc-rs crypto provider for the process, once.
///
/// kube (rustls) and object_store (reqwest) may each bring a provider; with two, rustls cannot
/// pick one and building a client panics. Installing one up front avoids that. Calling this
/// again, or after another provider was installed, does nothing.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Builds a client as `options` say.
///
/// # Errors
/// [`AuthError::NoKubeconfig`], [`AuthError::BadKubeconfig`], [`AuthError::UnknownContext`],
/// [`AuthError::NotInCluster`] with what to do about it; [`AuthError::Client`] for TLS problems.
pub async fn connect(options: &ClientOptions) -> Result<Connection, AuthError> {
    install_crypto_provider();
    let (config, source, subject) = match options.resolved_mode() {
        AuthMode::InCluster => in_cluster(options)?,
        AuthMode::Kubeconfig | AuthMode::Auto => {
            let (config, source) = from_kubeconfig(options).await?;
            let subject = bearer_token(&config.auth_info).and_then(|token| Subject::from_token(&token));
            (config, source, subject)
        }
    };
    debug!(%source, server = %config.cluster_url, "authenticating");
    let default_namespace = config.default_namespace.clone();
    let transport = TransportStats::default();
    let transport_options = TransportOptions {
        read_buffer: options.read_buffer.unwrap_or(crate::DEFAULT_READ_BUFFER),
        version: options.http_version,
        keep_alive: options.keep_alive,
        stats: transport.clone(),
    };
    let client = crate::transport::build(config, transport_options).map_err(|e| match e {
        BuildError::Kube(e) => explain_client_error(e, &source),
        BuildError::Http2Unavailable(reason) => AuthError::Http2Unavailable { reason },
    })?;
    Ok(Connection {
        client,
        source,
        default_namespace,
        subject,
        transport,
    })
}

/// A client that cannot be built, explained where rustls refuses what kubectl (Go's TLS)
/// accepts: the messages name the kubeconfig entry and what to do, not rustls' enum names.
fn explain_client_error(error: kube::Error, source: &AuthSource) -> AuthError {
    let mut chain = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        chain.push_str(": ");
        chain.push_str(&inner.to_string());
        cause = inner.source();
    }
    let (problem, fix) = if chain.contains("UnsupportedCertVersion") {
        (
            "its client certificate is an X.509 v1 certificate, which rustls does not accept (kubectl does)",
            "reissue it as X.509 v3 (openssl x509 -req ... -extfile with `basicConstraints=CA:FALSE`), \
             or authenticate with a token or an exec plugin instead",
        )
    } else if chain.contains("private key") {
        (
            "its client key cannot be read (rustls reads PKCS#8, PKCS#1 RSA and SEC1 EC keys in PEM, unencrypted)",
            "convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem`, \
             and check that client-key-data belongs to client-certificate-data",
        )
    } else if chain.contains("certificate") && chain.contains("CA") {
        (
            "its certificate authority data cannot be used",
            "check certificate-authority(-data) of the cluster entry: a PEM certificate, base64-encoded in -data",
        )
    } else {
        return AuthError::Client(Box::new(error));
    };
    AuthError::Tls {
        entry: source.to_string(),
        problem: problem.to_owned(),
        fix: fix.to_owned(),
        source: Box::new(error),
    }
}

/// The in-cluster configuration, from `KUBERNETES_SERVICE_HOST`/`_PORT` and the
/// ServiceAccount directory.
fn in_cluster(options: &ClientOptions) -> Result<(Config, AuthSource, Option<Subject>), AuthError> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| AuthError::NotInCluster {
            reason: format!("{name} is not set (not running in a pod?)"),
        })
    };
    let host = env("KUBERNETES_SERVICE_HOST")?;
    let port = env("KUBERNETES_SERVICE_PORT")?;
    in_cluster_config(options.service_account_dir(), &host, &port)
}

/// What `kube::Config::incluster` builds, but from `dir` (so the directory can be moved), with
/// the namespace trimmed and every failure saying which file is missing.
///
/// The token and the CA are given to kube as *files*: kube re-reads the token file at least once
/// a minute (bound ServiceAccount tokens are rotated by the kubelet, the old one expires) and the
/// CA file about as often (CA rotation). The exporter does not re-implement either.
fn in_cluster_config(dir: &Path, host: &str, port: &str) -> Result<(Config, AuthSource, Option<Subject>), AuthError> {
    let not_in_cluster = |reason: String| AuthError::NotInCluster { reason };
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| not_in_cluster(format!("KUBERNETES_SERVICE_PORT={port:?} is not a port number")))?;
    let host = host.trim();
    let authority = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    let cluster_url: http::Uri = format!("https://{authority}/").parse().map_err(|_| {
        not_in_cluster(format!(
            "KUBERNETES_SERVICE_HOST={host:?} is not a host name or address"
        ))
    })?;

    let token_file = dir.join("token");
    let token = std::fs::read_to_string(&token_file).map_err(|e| {
        not_in_cluster(format!(
            "cannot read the ServiceAccount token {}: {e} (is automountServiceAccountToken false?)",
            token_file.display()
        ))
    })?;
    let ca_file = dir.join("ca.crt");
    let root_cert = read_certificates(&ca_file)?;
    let namespace_file = dir.join("namespace");
    let namespace = std::fs::read_to_string(&namespace_file)
        .map_err(|e| not_in_cluster(format!("cannot read {}: {e}", namespace_file.display())))?
        .trim()
        .to_owned();
    if namespace.is_empty() {
        return Err(not_in_cluster(format!("{} is empty", namespace_file.display())));
    }

    let mut config = Config::new(cluster_url);
    config.default_namespace.clone_from(&namespace);
    config.root_cert = Some(root_cert);
    config.root_cert_file = Some(ca_file);
    config.auth_info = AuthInfo {
        token_file: Some(token_file.display().to_string()),
        ..AuthInfo::default()
    };
    Ok((config, AuthSource::InCluster { namespace }, Subject::from_token(&token)))
}

/// The bearer token a kubeconfig user authenticates with (inline or from its token file).
///
/// kube keeps an inline token as a secret string; its serialised form is the way to read it.
fn bearer_token(auth_info: &AuthInfo) -> Option<String> {
    let value = serde_json::to_value(auth_info).ok()?;
    if let Some(token) = value.get("token").and_then(|t| t.as_str()) {
        return Some(token.to_owned());
    }
    std::fs::read_to_string(auth_info.token_file.as_deref()?).ok()
}

/// Who the API server says the client is (SelfSubjectReview, Kubernetes 1.28+; 1.27 beta).
///
/// `None` when the server does not serve the API (older clusters) or refuses it.
pub async fn who_am_i(client: &Client) -> Option<Subject> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;

    let api: kube::Api<SelfSubjectReview> = kube::Api::all(client.clone());
    let review = api
        .create(&kube::api::PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| debug!(error = %e, "SelfSubjectReview not available"))
        .ok()?;
    let user = review.status?.user_info?.username?;
    Some(Subject::from_username(&user))
}

/// The DER certificates of a PEM bundle.
fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, AuthError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let bad = |reason: String| AuthError::NotInCluster {
        reason: format!("cannot use the cluster CA {}: {reason}", path.display()),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .map(|cert| cert.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

async fn from_kubeconfig(options: &ClientOptions) -> Result<(Config, AuthSource), AuthError> {
    let (kubeconfig, path) = read_kubeconfig(options.kubeconfig.as_deref())?;
    let context = match &options.context {
        Some(context) => {
            if !kubeconfig.contexts.iter().any(|c| &c.name == context) {
                return Err(AuthError::UnknownContext {
                    context: context.clone(),
                    available: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
                });
            }
            context.clone()
        }
        None => kubeconfig
            .current_context
            .clone()
            .ok_or_else(|| AuthError::BadKubeconfig {
                path: PathBuf::from(&path),
                reason: "it has no current-context; pass --context".into(),
            })?,
    };
    let kube_options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(|e| AuthError::BadKubeconfig {
            path: PathBuf::from(&path),
            reason: describe(&e),
        })?;
    Ok((config, AuthSource::Kubeconfig { path, context }))
}

/// The contexts of a kubeconfig, read without contacting any cluster: for choosing the
/// clusters of a run before connecting (`--context` given several times, `--context-regex`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeconfigContexts {
    /// The file(s) read (`KUBECONFIG` may name several).
    pub path: String,
    /// Every context's name, in the file's order.
    pub names: Vec<String>,
    /// The current context, if the file names one.
    pub current: Option<String>,
}

/// The contexts of the kubeconfig at `path`, else `KUBECONFIG`, else `~/.kube/config`.
///
/// # Errors
/// [`AuthError::NoKubeconfig`] or [`AuthError::BadKubeconfig`], as [`connect`] would give.
pub fn kubeconfig_contexts(path: Option<&Path>) -> Result<KubeconfigContexts, AuthError> {
    let (kubeconfig, path) = read_kubeconfig(path)?;
    Ok(KubeconfigContexts {
        path,
        names: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        current: kubeconfig.current_context,
    })
}

/// Reads the kubeconfig from `path`, else `KUBECONFIG`, else `~/.kube/config`; returns it and where it came from.
fn read_kubeconfig(path: Option<&Path>) -> Result<(Kubeconfig, String), AuthError> {
    let (result, origin) = match path {
        Some(path) => {
            if !path.exists() {
                return Err(AuthError::NoKubeconfig {
                    looked_in: format!("{} does not exist", path.display()),
                });
            }
            (Kubeconfig::read_from(path), path.display().to_string())
        }
        None => match std::env::var("KUBECONFIG") {
            Ok(paths) if !paths.is_empty() => (Kubeconfig::read(), paths),
            _ => (Kubeconfig::read(), "~/.kube/config".to_owned()),
        },
    };
    match result {
        Ok(config) => Ok((config, origin)),
        Err(KubeconfigError::FindPath) => Err(AuthError::NoKubeconfig {
            looked_in: "no home directory for ~/.kube/config".into(),
        }),
        Err(KubeconfigError::ReadConfig(e, file)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(AuthError::NoKubeconfig {
                looked_in: format!("{} does not exist", file.display()),
            })
        }
        Err(e) => Err(AuthError::BadKubeconfig {
            path: PathBuf::from(origin),
            reason: describe(&e),
        }),
    }
}

/// The error and its causes on one line.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: abc}
contexts:
- name: dev
  context: {cluster: c, user: u, namespace: shop}
- name: prod
  context: {cluster: c, user: u}
"#;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_kubeconfig_service_account_token_names_its_subject() {
        let (_dir, path) =
            write(&KUBECONFIG.replace("{token: abc}", &format!("{{token: {}}}", sa_token("ci", "deployer"))));
        let conn = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig(&path))
            .await
            .unwrap();
        assert_eq!(
            conn.subject,
            Some(Subject::ServiceAccount {
                name: "deployer".into(),
                namespace: "ci".into()
            })
        );
        let (_dir, path) = write(KUBECONFIG);
        let conn = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig(&path))
            .await
            .unwrap();
        assert_eq!(conn.subject, None, "an opaque token names nobody");
    }

    /// An X.509 v1 client certificate (what `openssl x509 -req` makes without extensions, and
    /// kubectl accepts) gets the kubeconfig entry and the fix, not rustls' enum names.
    #[tokio::test]
    async fn an_x509_v1_client_certificate_is_explained() {
        use std::process::Command;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl").args(args).output();
            assert!(
                status.as_ref().is_ok_and(|o| o.status.success()),
                "openssl {args:?}: {status:?}"
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &file("ca.key"),
            "-out",
            &file("ca.crt"),
            "-subj",
            "/CN=ca",
            "-days",
            "2",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &file("u.key"),
            "-out",
            &file("u.csr"),
            "-subj",
            "/CN=u",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &file("u.csr"),
            "-CA",
            &file("ca.crt"),
            "-CAkey",
            &file("ca.key"),
            "-CAcreateserial",
            "-out",
            &file("u.crt"),
            "-days",
            "2",
        ]);
        let user = format!(
            "{{client-certificate: {}, client-key: {}}}",
            file("u.crt"),
            file("u.key")
        );
        let (_config_dir, path) = write(&KUBECONFIG.replace("{token: abc}", &user));
        let err = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig(&path))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AuthError::Tls { .. }), "{err:?}");
        assert!(
            text.contains("X.509 v1") && text.contains("context dev") && text.contains("reissue"),
            "{text}"
        );
        assert!(!text.contains("UnsupportedCertVersion"), "{text}");
    }

    #[tokio::test]
    async fn uses_current_context_and_its_namespace() {
        let (_dir, path) = write(KUBECONFIG);
        let conn = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig(&path))
            .await
            .unwrap();
        assert_eq!(conn.default_namespace, "shop");
        assert!(matches!(&conn.source, AuthSource::Kubeconfig { context, .. } if context == "dev"));
    }

    #[tokio::test]
    async fn named_context_is_used() {
        let (_dir, path) = write(KUBECONFIG);
        let options = ClientOptions::new(AuthMode::Auto)
            .with_kubeconfig(&path)
            .with_context("prod");
        let conn = connect(&options).await.unwrap();
        assert_eq!(conn.default_namespace, "default");
    }

    #[tokio::test]
    async fn unknown_context_lists_the_available_ones() {
        let (_dir, path) = write(KUBECONFIG);
        let options = ClientOptions::new(AuthMode::Kubeconfig)
            .with_kubeconfig(&path)
            .with_context("nope");
        let err = connect(&options).await.unwrap_err();
        assert!(matches!(err, AuthError::UnknownContext { .. }));
        let text = err.to_string();
        assert!(text.contains("\"nope\"") && text.contains("dev, prod"), "{text}");
    }

    #[tokio::test]
    async fn malformed_kubeconfig_names_the_file() {
        let (_dir, path) = write("apiVersion: v1\nclusters: [unterminated\n");
        let err = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig(&path))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::BadKubeconfig { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    #[tokio::test]
    async fn missing_kubeconfig_says_what_to_do() {
        let err = connect(&ClientOptions::new(AuthMode::Kubeconfig).with_kubeconfig("/nonexistent/kubeconfig"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::NoKubeconfig { .. }));
        assert!(err.to_string().contains("--kubeconfig"), "{err}");
    }

    #[tokio::test]
    async fn context_pointing_at_missing_cluster_is_a_clear_error() {
        let (_dir, path) = write(&KUBECONFIG.replace("{cluster: c, user: u}", "{cluster: gone, user: u}"));
        let options = ClientOptions::new(AuthMode::Kubeconfig)
            .with_kubeconfig(&path)
            .with_context("prod");
        let err = connect(&options).await.unwrap_err();
        assert!(matches!(err, AuthError::BadKubeconfig { .. }), "{err:?}");
    }

    #[test]
    fn auto_mode_prefers_an_explicit_kubeconfig() {
        let options = ClientOptions::new(AuthMode::Auto).with_kubeconfig("/x");
        assert_eq!(options.resolved_mode(), AuthMode::Kubeconfig);
        let options = ClientOptions::new(AuthMode::Auto).with_service_account_dir("/nonexistent");
        assert_eq!(options.resolved_mode(), AuthMode::Kubeconfig, "no token: not a pod");
    }

    #[tokio::test]
    async fn in_cluster_outside_a_pod_explains() {
        let options = ClientOptions::new(AuthMode::InCluster).with_service_account_dir("/nonexistent");
        let err = connect(&options).await.unwrap_err();
        assert!(matches!(err, AuthError::NotInCluster { .. }), "{err:?}");
    }

    /// A self-signed CA, only parsed (never used to connect).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBgjCCASmgAwIBAgIUZqHxtR4tkwhoLX6suqKdYYx5LMEwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLa2xlLXRlc3QtY2EwIBcNMjYxMTIzMTkzNjUxWhgPMjEyNjEw
MzAxOTM2NTFaMBYxFDASBgNVBAMMC2tsZS10ZXN0LWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEAG+6y01m1Ovz18k5qOJk7WXkgvAwWh4G72aCvT0yXNtgRp1o
lrqhxYMV2RNpESBeaHZfe22SwaNUZK/aNIonHKNTMFEwHQYDVR0OBBYEFIF9Hz+O
ZYc4LU5t8HiADTe6nWHcMB8GA1UdIwQYMBaAFIF9Hz+OZYc4LU5t8HiADTe6nWHc
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgfXq7aNZmY0zxO8P0
cYLiuJTxaExI7Rai4dRigHpywM0CICCQcPlXVabu0QpF/pLx+FCsvUefIs1RnHch
kOwRT/qE
-----END CERTIFICATE-----
";

    /// A JWT with the claims of a ServiceAccount token (signature not checked, so none).
    fn sa_token(namespace: &str, name: &str) -> String {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = serde_json::json!({"iss": "kubernetes/serviceaccount", "sub": format!("system:serviceaccount:{namespace}:{name}")});
        format!(
            "{}.{}.sig",
            engine.encode(br#"{"alg":"RS256"}"#),
            engine.encode(claims.to_string())
        )
    }

    fn service_account_dir(namespace: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), sa_token("logging", "kle")).unwrap();
        std::fs::write(dir.path().join("ca.crt"), CA_PEM).unwrap();
        std::fs::write(dir.path().join("namespace"), namespace).unwrap();
        dir
    }

    #[test]
    fn in_cluster_uses_the_namespace_file_and_hands_the_token_file_to_kube() {
        let dir = service_account_dir("logging\n");
        let (config, source, subject) = in_cluster_config(dir.path(), "127.0.0.1", "6443").unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert_eq!(config.default_namespace, "logging", "namespace file, trimmed");
        assert_eq!(
            source,
            AuthSource::InCluster {
                namespace: "logging".into()
            }
        );
        // A file, not the token's value: kube re-reads the file (token rotation).
        let token_file = dir.path().join("token").display().to_string();
        assert_eq!(config.auth_info.token_file.as_deref(), Some(token_file.as_str()));
        assert!(config.auth_info.token.is_none());
        assert_eq!(
            config.root_cert_file.as_deref(),
            Some(dir.path().join("ca.crt").as_path())
        );
        assert_eq!(config.root_cert.map(|c| c.len()), Some(1));
        assert_eq!(
            subject,
            Some(Subject::ServiceAccount {
                name: "kle".into(),
                namespace: "logging".into()
            })
        );
    }

    #[test]
    fn in_cluster_brackets_an_ipv6_service_address() {
        let dir = service_account_dir("default");
        let (config, _, _) = in_cluster_config(dir.path(), "fd00::1", "443").unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://[fd00::1]:443/");
    }

    #[test]
    fn in_cluster_names_the_missing_file() {
        for missing in ["token", "ca.crt", "namespace"] {
            let dir = service_account_dir("default");
            std::fs::remove_file(dir.path().join(missing)).unwrap();
            let err = in_cluster_config(dir.path(), "127.0.0.1", "6443").unwrap_err();
            assert!(matches!(err, AuthError::NotInCluster { .. }), "{err:?}");
            assert!(err.to_string().contains(missing), "{missing}: {err}");
        }
        let dir = service_account_dir("default");
        let err = in_cluster_config(dir.path(), "127.0.0.1", "https").unwrap_err();
        assert!(err.to_string().contains("KUBERNETES_SERVICE_PORT"), "{err}");
    }

    #[tokio::test]
    async fn in_cluster_client_reads_the_directory_it_is_given() {
        // The override is honoured end to end, not just checked for existence.
        let dir = service_account_dir("logging");
        let (config, _, _) = in_cluster_config(dir.path(), "127.0.0.1", "6443").unwrap();
        install_crypto_provider();
        assert!(Client::try_from(config).is_ok());
    }
}
