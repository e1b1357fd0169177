//! The HTTP stack under a [`kube::Client`]: kube's own layers, over a hyper client whose
//! connections read ahead a bounded amount.
//!
//! Every log stream is one HTTP/1.1 connection (kube speaks no HTTP/2), and hyper lets each
//! connection read up to 416 KiB ahead of the body's consumer. For one fast stream that is
//! what makes it fast; for thousands of streams that burst at once it is what fills memory.
//! [`read_buffer_for`] sizes the read-ahead from the number of streams expected at once.

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// hyper's own bound on a connection's read buffer.
pub const DEFAULT_READ_BUFFER: usize = 8192 + 4096 * 100;

/// The smallest read buffer hyper accepts.
const MIN_READ_BUFFER: usize = 8192;

/// What all streams together may read ahead of their consumer.
const READ_AHEAD_BUDGET: usize = 64 * 1024 * 1024;

/// The read buffer per connection for `streams` streams open at once: 64 MiB shared out,
/// between 8 KiB and hyper's default of 416 KiB (reached at 157 streams or fewer).
pub fn read_buffer_for(streams: usize) -> usize {
    (READ_AHEAD_BUDGET / streams.max(1)).clamp(MIN_READ_BUFFER, DEFAULT_READ_BUFFER)
}

/// A client for `config` whose connections buffer at most `read_buffer` bytes read ahead.
///
/// The layers are kube's (`Client::try_from`): TLS from the config, its timeouts, base URI,
/// authentication with token refresh, extra headers and server-aware retries; kube's request
/// tracing spans are left out. Through a proxy, kube's stack is used unchanged (with hyper's
/// default read buffer).
pub(crate) fn build(config: Config, read_buffer: usize) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Builder::new(TokioExecutor::new())
        .http1_max_buf_size(read_buffer.max(MIN_READ_BUFFER))
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_share_out_64_mib_within_hypers_bounds() {
        assert_eq!(read_buffer_for(0), DEFAULT_READ_BUFFER);
        assert_eq!(read_buffer_for(64), DEFAULT_READ_BUFFER);
        assert_eq!(read_buffer_for(1000), 67_108);
        assert_eq!(read_buffer_for(5000), 13_421);
        assert_eq!(read_buffer_for(100_000), MIN_READ_BUFFER);
    }
}
