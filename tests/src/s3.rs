//! A real S3 server for the S3 sink's tests: one `s3s-fs` process per test, on a free loopback
//! port, with its own directory and keys, killed on drop.
//!
//! `s3s-fs` checks SigV4 signatures and multipart part sizes like AWS. `tests/s3/up.sh`
//! installs it once (cached under `~/.cache/kube-log-exporter/s3s-fs`) and prints its path;
//! `scripts/test.sh` passes that path in `KLE_S3S_FS` and runs the `#[ignore]`d S3 tests with
//! `--ignored`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreExt as _, RetryConfig};

use crate::process::{ServerProcess, tool};

/// The access key every test server accepts.
pub const ACCESS_KEY: &str = "KLETESTACCESSKEY";
/// Its secret.
pub const SECRET_KEY: &str = "kle-test-secret-key";

/// A running `s3s-fs` process.
#[derive(Debug)]
pub struct S3Server {
    process: ServerProcess,
}

impl S3Server {
    /// The `s3s-fs` binary: `KLE_S3S_FS`, else the cache `tests/s3/up.sh` installs into.
    /// Panics with what to run when it is missing: a test that needs S3 must not pass without it.
    pub fn binary() -> PathBuf {
        tool("KLE_S3S_FS", "s3s-fs/bin/s3s-fs", "tests/s3/up.sh", "s3")
    }

    /// Starts a server with an empty directory on a free port.
    pub fn start() -> Self {
        let process = ServerProcess::start(
            "s3s-fs",
            Self::binary(),
            &[
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                "{dir}",
            ],
        );
        Self { process }
    }

    /// Kills the server; its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.process.restart();
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// The directory the server stores buckets in.
    pub fn root(&self) -> &Path {
        self.process.dir()
    }

    /// Creates a bucket (a directory, for s3s-fs).
    pub fn create_bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root().join(bucket)).expect("creating a bucket directory");
    }

    /// A client for `bucket` with the server's keys and quick retries.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        self.store_with_keys(bucket, ACCESS_KEY, SECRET_KEY)
    }

    /// A client for `bucket` with other keys, no retries.
    pub fn store_with_keys(&self, bucket: &str, access_key: &str, secret_key: &str) -> Arc<dyn ObjectStore> {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key)
            .with_retry(quick_retries())
            .build()
            .expect("building the S3 client");
        Arc::new(store)
    }

    /// Every object in `bucket`, decompressed by its extension (`.zst`, `.gz`), by key.
    pub async fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        decompressed_objects(self.store(bucket).as_ref()).await
    }

    /// Sizes of the objects in `bucket` as stored (compressed), by key.
    pub async fn object_sizes(&self, bucket: &str) -> BTreeMap<String, u64> {
        let metas: Vec<_> = self
            .store(bucket)
            .list(None)
            .try_collect()
            .await
            .expect("listing the bucket");
        metas.into_iter().map(|m| (m.location.to_string(), m.size)).collect()
    }
}

/// Two quick retries: enough for a flaky moment, fast to fail on a stopped server.
pub fn quick_retries() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    }
}

/// Every object in `store`, decompressed by its extension (`.zst`, `.gz`), by key.
pub async fn decompressed_objects(store: &dyn ObjectStore) -> BTreeMap<String, Vec<u8>> {
    let metas: Vec<_> = store.list(None).try_collect().await.expect("listing the objects");
    let mut out = BTreeMap::new();
    for meta in metas {
        let key = meta.location.to_string();
        let bytes = store
            .get(&meta.location)
            .await
            .expect("getting an object")
            .bytes()
            .await
            .expect("reading an object");
        out.insert(key.clone(), decompress(&key, &bytes));
    }
    out
}

/// Decompresses by extension: `.zst`, `.gz`, else as is.
pub fn decompress(key: &str, bytes: &[u8]) -> Vec<u8> {
    if key.ends_with(".zst") {
        zstd::decode_all(bytes).expect("a valid zstd object")
    } else if key.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip object");
        out
    } else {
        bytes.to_vec()
    }
}
