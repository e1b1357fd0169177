//! HTTPS for the fake API server: a self-signed certificate made at start, and the protocols it
//! offers in the handshake (ALPN), as a real API server or a proxy in front of one would.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// What a TLS [`FakeApiServer`](super::FakeApiServer) offers in the TLS handshake (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1` only, as an old API server or a TLS-terminating proxy in front of one: a
    /// client that asks for `h2` gets HTTP/1.1 or nothing.
    Http1Only,
    /// `h2` and `http/1.1`, as the API server: HTTP/2 on the connections that negotiate it, with
    /// at most `max_streams` concurrent streams on one (`--http2-max-streams-per-connection`).
    H2AndHttp1 {
        /// Concurrent streams allowed on one HTTP/2 connection.
        max_streams: u32,
    },
}

impl Alpn {
    /// The stream limit of HTTP/2 connections, `None` when the server speaks HTTP/1.1 only.
    pub(super) fn http2_max_streams(self) -> Option<u32> {
        match self {
            Alpn::Http1Only => None,
            Alpn::H2AndHttp1 { max_streams } => Some(max_streams),
        }
    }

    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::Http1Only => vec![b"http/1.1".to_vec()],
            Alpn::H2AndHttp1 { .. } => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// The server's certificate, which is also the CA a client trusts (it signed itself).
pub(super) struct SelfSigned {
    /// PEM, as a kubeconfig's `certificate-authority-data` carries it (base64-encoded once more).
    pub(super) pem: String,
    /// DER, as [`kube::Config::root_cert`] takes it.
    pub(super) der: CertificateDer<'static>,
}

/// A certificate for `127.0.0.1` and `localhost`, and an acceptor that presents it and offers `alpn`.
pub(super) fn self_signed(alpn: Alpn) -> (TlsAcceptor, SelfSigned) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).expect("generating a self-signed certificate");
    let certificate = SelfSigned {
        pem: generated.cert.pem(),
        der: generated.cert.der().clone(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
    // The provider kube's client uses here, whatever the process default is.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der.clone()], key)
        .expect("rustls accepts the generated certificate and key");
    config.alpn_protocols = alpn.protocols();
    (TlsAcceptor::from(Arc::new(config)), certificate)
}
