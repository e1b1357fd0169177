//! Uploads (one PUT, or a multipart upload for large objects), the S3 client built from a
//! configuration, and store errors turned into messages that say what to do.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};

use super::object::FinishedObject;
use crate::s3::config::ValidS3Config;
use kle_core::SinkError;
use kle_core::sinks::UploadFailure;

/// Parts of one multipart upload in flight at once.
const PART_CONCURRENCY: usize = 4;

/// What an upload needs besides the object.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) bucket: String,
    /// Objects larger than this go up as multipart uploads, in parts of this size.
    pub(crate) part_bytes: usize,
}

/// Uploads `object`; on failure, why, in words a user can act on.
pub(crate) async fn upload(target: &Target, object: &FinishedObject) -> Result<(), UploadFailure> {
    let path = Path::parse(&object.key).map_err(|err| failure(target, object, &object_store::Error::from(err)))?;
    let result = if object.len <= target.part_bytes {
        let payload: PutPayload = object.chunks.iter().cloned().collect();
        target
            .store
            .put_opts(&path, payload, PutOptions::default())
            .await
            .map(drop)
    } else {
        upload_multipart(target, &path, object).await
    };
    result.map_err(|err| failure(target, object, &err))
}

/// A multipart upload in parts of `part_bytes`, a few in flight; aborted on failure so no
/// parts are left behind (and billed).
async fn upload_multipart(target: &Target, path: &Path, object: &FinishedObject) -> object_store::Result<()> {
    let upload = target
        .store
        .put_multipart_opts(path, PutMultipartOptions::default())
        .await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, target.part_bytes);
    for chunk in &object.chunks {
        writer.put(chunk.clone());
        if let Err(err) = writer.wait_for_capacity(PART_CONCURRENCY).await {
            // The part's error is the one to report, not the abort's.
            let _ = writer.abort().await;
            return Err(err);
        }
    }
    writer.finish().await.map(drop)
}

/// Builds the S3 client: `AWS_*` from the environment, then the configuration's settings.
pub(crate) fn s3_store(valid: &ValidS3Config) -> Result<Arc<dyn ObjectStore>, SinkError> {
    let (config, bucket) = (valid.config(), valid.bucket());
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(config.virtual_hosted_style)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: config.max_retries,
            retry_timeout: Duration::from_secs(config.retry_timeout_secs),
        })
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            format!("{}s", config.request_timeout_secs),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            format!("{}s", config.connect_timeout_secs),
        );
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if config.allow_http {
        builder = builder.with_allow_http(true);
    }
    let store = builder.build().map_err(|err| SinkError::InvalidConfig {
        sink: "s3",
        reason: format!("cannot configure the S3 client for bucket {bucket}: {err}"),
    })?;
    Ok(Arc::new(store))
}

/// Turns a store error into the bucket, key, S3 error code and message, and a hint.
pub(crate) fn failure(target: &Target, object: &FinishedObject, err: &object_store::Error) -> UploadFailure {
    let (code, message, hint) = explain(&target.bucket, err);
    UploadFailure::new(target.bucket.clone(), object.key.clone(), code, message, hint)
}

/// The S3 error code, the store's message and what to do about it, for a request to `bucket`.
pub(crate) fn explain(bucket: &str, err: &object_store::Error) -> (String, String, String) {
    let text = error_chain(err);
    let code = xml_field(&text, "Code");
    let message = xml_field(&text, "Message").unwrap_or_else(|| text.clone());
    let (code, hint) = match code {
        Some(code) => {
            let hint = hint_for_code(&code, bucket);
            (code, hint)
        }
        None => fallback(err, &text, bucket),
    };
    (code, message, hint)
}

fn hint_for_code(code: &str, bucket: &str) -> String {
    match code {
        "NoSuchBucket" => format!(
            "the bucket {bucket} does not exist at this endpoint: create it (aws s3 mb s3://{bucket}) or fix the \
             bucket in --s3-url, and check --s3-endpoint/--s3-region"
        ),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => format!(
            "these credentials may not write there: grant s3:PutObject, s3:AbortMultipartUpload and \
             s3:ListMultipartUploadParts on arn:aws:s3:::{bucket}/* to this identity, or use other credentials"
        ),
        "InvalidAccessKeyId" | "NotSignedUp" => {
            "the store does not know this access key: check AWS_ACCESS_KEY_ID (or the profile / role in use) and \
             that --s3-endpoint is the store the key belongs to"
                .into()
        }
        "SignatureDoesNotMatch" => "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY, \
                                    and --s3-region"
            .into(),
        "ExpiredToken" | "TokenRefreshRequired" | "InvalidToken" => {
            "the session token expired or is invalid: refresh the credentials (AWS_SESSION_TOKEN, aws sso login)".into()
        }
        "AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException" => {
            format!("the bucket {bucket} is in another region: set --s3-region (or AWS_REGION) to the bucket's region")
        }
        "EntityTooSmall" => "the store refused a multipart part as too small: it needs parts of at least 5 MiB; \
                             report this as a bug"
            .into(),
        _ => "see the store's message; the lines were not delivered and are uploaded again by the next commit or run"
            .into(),
    }
}

/// No S3 error code in the response: a connection problem, or a store that sent no body.
fn fallback(err: &object_store::Error, text: &str, bucket: &str) -> (String, String) {
    let unreachable = [
        "error sending request",
        "Connect",
        "connection",
        "dns error",
        "timed out",
        "Timeout",
    ]
    .iter()
    .any(|needle| text.contains(needle));
    if unreachable {
        return (
            "unreachable".into(),
            "the endpoint did not answer, even after the retries: check --s3-endpoint (or AWS_ENDPOINT), the \
             network and that the store is up; --s3-allow-http is needed for http:// endpoints"
                .into(),
        );
    }
    match err {
        object_store::Error::NotFound { .. } => ("NoSuchBucket".into(), hint_for_code("NoSuchBucket", bucket)),
        object_store::Error::PermissionDenied { .. } => ("AccessDenied".into(), hint_for_code("AccessDenied", bucket)),
        object_store::Error::Unauthenticated { .. } => (
            "Unauthenticated".into(),
            "no valid credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is available"
                .into(),
        ),
        _ => (
            "error".into(),
            "the lines were not delivered and are uploaded again by the next commit or run".into(),
        ),
    }
}

/// The error and its sources, one after the other.
fn error_chain(err: &object_store::Error) -> String {
    let mut text = err.to_string();
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// The text of `<name>...</name>` in an S3 error body.
fn xml_field(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    let value = text[start..end].trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_fields_are_read_from_an_error_body() {
        let body = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?><Error>\
                    <Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(xml_field(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(
            xml_field(body, "Message").as_deref(),
            Some("The specified bucket does not exist")
        );
        assert_eq!(xml_field(body, "Resource"), None);
        assert_eq!(xml_field("<Code></Code>", "Code"), None);
    }

    fn target() -> Target {
        Target {
            store: Arc::new(object_store::memory::InMemory::new()),
            bucket: "logs".into(),
            part_bytes: crate::s3::DEFAULT_PART_BYTES,
        }
    }

    fn object() -> FinishedObject {
        FinishedObject {
            key: "a/shop/web-1/app/x.log.zst".into(),
            chunks: Vec::new(),
            len: 0,
            lines: 0,
            container: "shop/web-1/app".into(),
        }
    }

    #[test]
    fn aws_answers_become_code_message_and_hint() {
        // The body AWS sends for a PUT into a bucket that does not exist, as object_store wraps it.
        let body = "Error performing PUT http://s3/logs/a in 10ms - Server returned non-2xx status code: 404 Not Found: \
                    <?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code>\
                    <Message>The specified bucket does not exist</Message><BucketName>logs</BucketName></Error>";
        let err = object_store::Error::NotFound {
            path: "a/shop/web-1/app/x.log.zst".into(),
            source: Box::new(std::io::Error::other(body)),
        };
        let failure = failure(&target(), &object(), &err);
        assert_eq!(failure.code, "NoSuchBucket");
        assert_eq!(failure.message, "The specified bucket does not exist");
        let text = SinkError::Upload(Box::new(failure)).to_string();
        assert!(
            text.starts_with("uploading s3://logs/a/shop/web-1/app/x.log.zst failed: NoSuchBucket:")
                && text.contains("aws s3 mb s3://logs"),
            "{text}"
        );

        // No body: the variant decides.
        let denied = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: Box::new(std::io::Error::other("403 Forbidden")),
        };
        assert_eq!(failure_code(&denied), "AccessDenied");
        let refused = object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::other("error sending request: Connection refused")),
        };
        assert_eq!(failure_code(&refused), "unreachable");
    }

    fn failure_code(err: &object_store::Error) -> String {
        failure(&target(), &object(), err).code
    }

    #[test]
    fn every_permanent_code_gets_a_specific_hint() {
        let generic = hint_for_code("SomethingElse", "b");
        for code in [
            "NoSuchBucket",
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "PermanentRedirect",
        ] {
            let hint = hint_for_code(code, "logs");
            assert_ne!(hint, generic, "{code}");
        }
        assert!(hint_for_code("NoSuchBucket", "logs").contains("s3://logs"));
    }
}
