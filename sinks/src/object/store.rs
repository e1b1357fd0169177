//! [`open_store`]: the one place an object-store client is made from a configuration — for the
//! sink, for the checkpoint object beside its objects, and for anything that reads them back.

use std::sync::Arc;
use std::time::Duration;

use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::object::config::{ObjectStoreConfig, ValidObjectStoreConfig};
use crate::object::location::{Backend, StoreLocation, not_compiled};
use kle_core::SinkError;

/// Azurite's well-known account ("devstoreaccount1"); its key is object_store's.
#[cfg(feature = "azure")]
const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// Azurite's well-known account key (public, the same in every Azurite).
#[cfg(feature = "azure")]
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A service account key that object_store reads as "no OAuth": requests carry an empty token.
#[cfg(feature = "gcp")]
const ANONYMOUS_GCS: &str = r#"{"private_key": "", "private_key_id": "", "client_email": "", "disable_oauth": true}"#;

/// The client for the store a checked configuration names: its credentials from the store's
/// usual environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`, through object_store's `from_env`
/// builders), then the configuration's settings (endpoint, region, emulator, encryption,
/// retries and timeouts). Nothing is contacted: a bucket that does not exist or credentials
/// that are refused show at the first request.
///
/// The sink ([`ObjectSink::from_valid`](crate::object::ObjectSink::from_valid)), its checkpoint
/// ([`ObjectCheckpointStore::from_valid`](crate::object::ObjectCheckpointStore::from_valid)) and
/// the archive's reader all get their client here, so they reach the same store the same way.
/// [`ObjectStoreConfig::open`] does the checking and this in one call.
///
/// ```no_run
/// use kle_sinks::object::{ObjectStoreConfig, open_store};
///
/// # fn demo() -> Result<(), kle_core::SinkError> {
/// let valid = ObjectStoreConfig::new("az://logs/cluster-a")
///     .with_endpoint("http://127.0.0.1:10000", true)
///     .with_emulator(true)
///     .validated()?;
/// let store = open_store(&valid)?;
/// let prefix = valid.prefix(); // "cluster-a": list under it
/// # let _ = (store, prefix); Ok(()) }
/// ```
///
/// # Errors
/// [`SinkError::NotCompiled`] when this build lacks the store's feature, or
/// [`SinkError::InvalidConfig`] when the client cannot be configured (no Azure account, an
/// endpoint that is not a URL, an unreadable credentials file).
pub fn open_store(valid: &ValidObjectStoreConfig) -> Result<Arc<dyn ObjectStore>, SinkError> {
    let location = valid.location();
    let cannot = |err: object_store::Error| SinkError::InvalidConfig {
        sink: "s3",
        reason: format!(
            "cannot configure the {} client for {}: {err}",
            location.backend(),
            location.url()
        ),
    };
    match location.backend() {
        #[cfg(feature = "s3")]
        Backend::S3 => s3(valid).map_err(cannot),
        #[cfg(feature = "azure")]
        Backend::Azure => azure(valid).map_err(cannot),
        #[cfg(feature = "gcp")]
        Backend::Gcs => gcs(valid).map_err(cannot),
        #[allow(unreachable_patterns)]
        backend => Err(not_compiled(backend)),
    }
}

impl ObjectStoreConfig {
    /// Checks the configuration ([`validated`](Self::validated)) and opens its store
    /// ([`open_store`]): the client and where the objects are under it.
    ///
    /// # Errors
    /// As [`validated`](Self::validated) and [`open_store`].
    pub fn open(&self) -> Result<(Arc<dyn ObjectStore>, StoreLocation), SinkError> {
        let valid = self.validated()?;
        Ok((open_store(&valid)?, valid.location().clone()))
    }
}

/// Retries and timeouts, the same for every store.
fn retry(config: &ObjectStoreConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: config.max_retries,
        retry_timeout: Duration::from_secs(config.retry_timeout_secs),
    }
}

/// The client settings, as `(key, value)` for each builder's `with_config`.
fn client_settings(config: &ObjectStoreConfig) -> Vec<(ClientConfigKey, String)> {
    let mut settings = vec![
        (ClientConfigKey::Timeout, format!("{}s", config.request_timeout_secs)),
        (
            ClientConfigKey::ConnectTimeout,
            format!("{}s", config.connect_timeout_secs),
        ),
    ];
    if config.allow_http {
        settings.push((ClientConfigKey::AllowHttp, "true".to_owned()));
    }
    settings
}

#[cfg(feature = "s3")]
fn s3(valid: &ValidObjectStoreConfig) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let config = valid.config();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(valid.bucket())
        .with_virtual_hosted_style_request(config.virtual_hosted_style)
        .with_retry(retry(config));
    for (key, value) in client_settings(config) {
        builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let Some(key_id) = &config.sse_kms_key_id {
        builder = builder.with_sse_kms_encryption(key_id);
    }
    if let Some(key) = valid.customer_key() {
        builder = builder.with_ssec_encryption(key);
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(feature = "azure")]
fn azure(valid: &ValidObjectStoreConfig) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let config = valid.config();
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_container_name(valid.bucket())
        .with_retry(retry(config));
    for (key, value) in client_settings(config) {
        builder = builder.with_config(AzureConfigKey::Client(key), value);
    }
    if let Some(account) = &config.account {
        builder = builder.with_account(account);
    }
    match (&config.endpoint, config.use_emulator) {
        // object_store's emulator mode takes Azurite's address from AZURITE_BLOB_STORAGE_URL
        // only; at an address of our own, Azurite is an account whose blob service is
        // `endpoint/ACCOUNT`, signed with its well-known key.
        (Some(endpoint), true) => {
            let account = config.account.as_deref().unwrap_or(AZURITE_ACCOUNT);
            builder = builder
                .with_account(account)
                .with_access_key(AZURITE_KEY)
                .with_endpoint(format!("{}/{account}", endpoint.trim_end_matches('/')))
                .with_allow_http(true);
        }
        (None, true) => builder = builder.with_use_emulator(true),
        (Some(endpoint), false) => builder = builder.with_endpoint(endpoint.clone()),
        (None, false) => {}
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(feature = "gcp")]
fn gcs(valid: &ValidObjectStoreConfig) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    let config = valid.config();
    let mut builder = if config.anonymous {
        // No credentials at all: object_store's `skip_signature` leaves reads unsigned but
        // still fetches a token for writes, so the writes get an empty one, as its
        // emulator-friendly `disable_oauth` does; the environment's credentials are ignored.
        GoogleCloudStorageBuilder::new()
            .with_skip_signature(true)
            .with_service_account_key(ANONYMOUS_GCS)
    } else {
        GoogleCloudStorageBuilder::from_env()
    }
    .with_bucket_name(valid.bucket())
    .with_retry(retry(config));
    for (key, value) in client_settings(config) {
        builder = builder.with_config(GoogleConfigKey::Client(key), value);
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_base_url(endpoint.trim_end_matches('/'));
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every store's client is made from its URL and settings without contacting anything,
    /// and says which store it reaches.
    #[test]
    fn each_scheme_opens_its_own_client() {
        let cases = [
            (
                ObjectStoreConfig::new("s3://logs/a")
                    .with_endpoint("http://127.0.0.1:9", true)
                    .with_region("eu-west-1")
                    .with_sse_kms("alias/logs"),
                "AmazonS3",
            ),
            (
                ObjectStoreConfig::new("azure://logs/a")
                    .with_endpoint("http://127.0.0.1:9", true)
                    .with_emulator(true),
                "MicrosoftAzure",
            ),
            (
                ObjectStoreConfig::new("gs://logs/a")
                    .with_endpoint("http://127.0.0.1:9", true)
                    .with_anonymous(true),
                "GoogleCloudStorage",
            ),
        ];
        for (config, client) in cases {
            let (store, location) = config.open().unwrap();
            assert_eq!(location.prefix(), "a");
            assert!(format!("{store:?}").contains(client), "{store:?}");
        }
    }

    /// An Azure URL without an account (none set, no emulator) is a configuration error that
    /// names the store, not a panic at the first upload.
    #[test]
    fn a_client_that_cannot_be_configured_is_an_invalid_configuration() {
        let mut config = ObjectStoreConfig::new("az://logs/a");
        config.account = None;
        if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_some() {
            return;
        }
        let err = config.open().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("cannot configure the Azure Blob client for az://logs/a"),
            "{err}"
        );
    }
}
