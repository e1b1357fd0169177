//! Building a client: kubeconfig or in-cluster ServiceAccount.

use std::fmt;
use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use tracing::debug;

use crate::error::AuthError;

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
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("source", &self.source)
            .field("default_namespace", &self.default_namespace)
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
    let (config, source) = match options.resolved_mode() {
        AuthMode::InCluster => in_cluster(options)?,
        AuthMode::Kubeconfig | AuthMode::Auto => from_kubeconfig(options).await?,
    };
    debug!(%source, server = %config.cluster_url, "authenticating");
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| AuthError::Client(Box::new(e)))?;
    Ok(Connection {
        client,
        source,
        default_namespace,
    })
}

fn in_cluster(options: &ClientOptions) -> Result<(Config, AuthSource), AuthError> {
    let dir = options.service_account_dir();
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Err(AuthError::NotInCluster {
            reason: "KUBERNETES_SERVICE_HOST is not set (not running in a pod?)".into(),
        });
    }
    if !dir.join("token").is_file() {
        return Err(AuthError::NotInCluster {
            reason: format!(
                "no token at {} (is automountServiceAccountToken false?)",
                dir.join("token").display()
            ),
        });
    }
    let config = Config::incluster().map_err(|e| AuthError::NotInCluster { reason: e.to_string() })?;
    let namespace = config.default_namespace.clone();
    Ok((config, AuthSource::InCluster { namespace }))
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
fn describe(error: &dyn std::error::Error) -> String {
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
}
