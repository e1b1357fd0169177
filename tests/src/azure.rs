//! Azurite, Microsoft's open-source Azure Storage server, for the object sink's Azure Blob
//! tests: one blob server process per test, on a free port, with its own directory.
//!
//! `tests/azure/up.sh` installs it once (npm, cached under `~/.cache/kube-log-exporter/azurite`)
//! and prints the path of `azurite-blob`; `scripts/test.sh` passes it in `KLE_AZURITE`. Azurite
//! checks Shared Key signatures and the conditions of conditional requests (`If-Match`,
//! `If-None-Match`) like Azure.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use object_store::ObjectStore;
use object_store::azure::MicrosoftAzureBuilder;

use crate::process::{ServerProcess, tool};
use crate::s3::quick_retries;

/// Azurite's well-known account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key (public: the same in every Azurite).
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob server.
#[derive(Debug)]
pub struct Azurite {
    process: ServerProcess,
}

impl Azurite {
    /// The `azurite-blob` script: `KLE_AZURITE`, else the cache `tests/azure/up.sh` installs into.
    pub fn binary() -> PathBuf {
        tool(
            "KLE_AZURITE",
            "azurite/node_modules/.bin/azurite-blob",
            "tests/azure/up.sh",
            "azure",
        )
    }

    /// Starts a server with an empty directory on a free port.
    pub fn start() -> Self {
        let process = ServerProcess::start(
            "azurite",
            Self::binary(),
            &[
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "{port}",
                "--location",
                "{dir}",
                "--silent",
                "--skipApiVersionCheck",
            ],
        );
        Self { process }
    }

    /// Kills the server; its data stays for [`Azurite::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.process.restart();
    }

    /// `http://127.0.0.1:<port>`: the `endpoint` of a configuration with `use_emulator`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// Creates a container: the one request object_store does not make, signed with Shared Key.
    pub fn create_container(&self, container: &str) {
        let date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let version = "2021-08-06";
        let path = format!("/{ACCOUNT}/{container}");
        // Verb, then eleven standard headers (all empty, Content-Length 0 written empty), the
        // x-ms headers, and the resource with its query.
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}{path}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(KEY)
            .expect("the well-known key is base64");
        let signing = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
        let signature =
            base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&signing, to_sign.as_bytes()));
        let request = format!(
            "PUT {path}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\n\
             x-ms-version: {version}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            port = self.process.port()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.process.port())).expect("connecting to Azurite");
        stream.write_all(request.as_bytes()).expect("sending to Azurite");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "Azurite did not create the container {container}: {answer}"
        );
    }

    /// A client for `container` with the well-known account and quick retries.
    pub fn store(&self, container: &str) -> Arc<dyn ObjectStore> {
        self.store_with_key(container, KEY)
    }

    /// A client for `container` signing with another key.
    pub fn store_with_key(&self, container: &str, key: &str) -> Arc<dyn ObjectStore> {
        let store = MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(key)
            .with_endpoint(format!("{}/{ACCOUNT}", self.endpoint()))
            .with_allow_http(true)
            .with_container_name(container)
            .with_retry(quick_retries())
            .build()
            .expect("building the Azure client");
        Arc::new(store)
    }

    /// Every blob in `container`, decompressed by its extension (`.zst`, `.gz`), by key.
    pub async fn objects(&self, container: &str) -> BTreeMap<String, Vec<u8>> {
        crate::s3::decompressed_objects(self.store(container).as_ref()).await
    }
}
