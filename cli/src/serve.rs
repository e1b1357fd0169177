//! `--metrics-addr`: a small HTTP server for `/metrics` (Prometheus text), `/healthz` (the
//! process is alive) and `/readyz` (the delivery has started: permissions checked, checkpoint
//! loaded, sink open). `/metrics` adds the connections to the API server and the streams on
//! them ([`TransportStats`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kle_auth::TransportStats;
use kle_core::Metrics;
use tokio::net::TcpListener;
use tracing::{debug, info};

/// Binds `addr` (so a taken port fails the command at once) and serves in the background.
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    transport: Option<TransportStats>,
) -> Result<SocketAddr, std::io::Error> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            let transport = transport.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(Arc::clone(&metrics), transport.clone(), request));
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!(error = %err, "metrics connection");
                }
            });
        }
    });
    Ok(bound)
}

async fn answer(
    metrics: Arc<Metrics>,
    transport: Option<TransportStats>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            // A run over several clusters has a transport per cluster: its `kle_api_*` series
            // would collide, so they are left out.
            metrics.render() + &transport.as_ref().map(TransportStats::render).unwrap_or_default(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if metrics.is_ready() => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready: starting\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}
