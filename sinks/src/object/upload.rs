//! Uploads (one PUT, or a multipart upload for large objects), and store errors turned into
//! messages that say what to do.

use std::error::Error as StdError;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{Attributes, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};

use super::buffer::FinishedObject;
use crate::object::location::Backend;
use kle_core::sinks::UploadFailure;

/// Parts of one multipart upload in flight at once.
const PART_CONCURRENCY: usize = 4;

/// What an upload needs besides the object.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) backend: Backend,
    pub(crate) bucket: String,
    /// Set on every object: its storage class, when configured.
    pub(crate) attributes: Attributes,
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
            .put_opts(
                &path,
                payload,
                PutOptions {
                    attributes: target.attributes.clone(),
                    ..PutOptions::default()
                },
            )
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
        .put_multipart_opts(
            path,
            PutMultipartOptions {
                attributes: target.attributes.clone(),
                ..PutMultipartOptions::default()
            },
        )
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

/// Turns a store error into the bucket, key, S3 error code and message, and a hint.
pub(crate) fn failure(target: &Target, object: &FinishedObject, err: &object_store::Error) -> UploadFailure {
    let (code, message, hint) = explain(target.backend, &target.bucket, err);
    UploadFailure::new(target.bucket.clone(), object.key.clone(), code, message, hint)
        .with_scheme(target.backend.scheme())
}

/// The store's error code, its message and what to do about it, for a request to `bucket`.
/// S3, Azure and GCS's XML API all answer with `<Code>` and `<Message>`.
pub(crate) fn explain(backend: Backend, bucket: &str, err: &object_store::Error) -> (String, String, String) {
    let text = error_chain(err);
    let code = xml_field(&text, "Code");
    let message = xml_field(&text, "Message").unwrap_or_else(|| text.clone());
    let (code, hint) = match code {
        Some(code) => {
            let hint = match backend {
                Backend::S3 => hint_for_code(&code, bucket),
                Backend::Azure => azure_hint(&code, bucket),
                Backend::Gcs => gcs_hint(&code, bucket),
            };
            (code, hint)
        }
        None => fallback(backend, err, &text, bucket),
    };
    (code, message, hint)
}

const GENERIC_HINT: &str =
    "see the store's message; the lines were not delivered and are uploaded again by the next commit or run";

/// What to do about an Azure Blob error code.
fn azure_hint(code: &str, container: &str) -> String {
    match code {
        "ContainerNotFound" => format!(
            "the container {container} does not exist in this account: create it (az storage container create \
             --name {container}) or fix the container in the az:// URL, and check the account and --object-endpoint"
        ),
        "AuthenticationFailed" | "InvalidAuthenticationInfo" => {
            "the account key, SAS token or identity was refused: check AZURE_STORAGE_ACCOUNT_NAME with \
             AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY, or the workload identity)"
                .into()
        }
        // Azurite answers a wrong account key with AuthorizationFailure, Azure with
        // AuthenticationFailed: both causes are named.
        "AuthorizationFailure" | "AuthorizationPermissionMismatch" | "InsufficientAccountPermissions" => format!(
            "the credentials were refused or may not write there: check AZURE_STORAGE_ACCOUNT_KEY (or \
             AZURE_STORAGE_SAS_KEY), or give this identity the role Storage Blob Data Contributor on the container \
             {container}"
        ),
        "InvalidHeaderValue" => "Azure refused a header: with --storage-class (`storage_class`), the access tier \
                                 must be one Azure has (Hot, Cool, Cold, Archive)"
            .into(),
        "InvalidResourceName" | "OutOfRangeInput" => {
            format!("{container} is not a valid container name (3-63 lowercase letters, digits and `-`)")
        }
        _ => GENERIC_HINT.into(),
    }
}

/// What to do about a GCS error code.
fn gcs_hint(code: &str, bucket: &str) -> String {
    match code {
        "NoSuchBucket" => format!(
            "the bucket {bucket} does not exist: create it (gcloud storage buckets create gs://{bucket}) or fix the \
             bucket in the gs:// URL"
        ),
        "AccessDenied" => format!(
            "this identity may not write there: grant it roles/storage.objectAdmin on gs://{bucket}, or use other \
             credentials (GOOGLE_SERVICE_ACCOUNT, GOOGLE_APPLICATION_CREDENTIALS)"
        ),
        "InvalidBucketName" => format!("{bucket} is not a valid bucket name"),
        _ => GENERIC_HINT.into(),
    }
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
        "InvalidStorageClass" => "the store does not offer this storage class: fix --storage-class \
                                  (`storage_class`) or leave it out for the bucket's default"
            .into(),
        "KMS.NotFoundException" | "KMS.DisabledException" | "KMS.KMSInvalidStateException" => {
            "the KMS key of --s3-sse-kms-key-id (`sse_kms_key_id`) cannot be used: check its id, alias or ARN, \
             its region, and that it is enabled"
                .into()
        }
        "EntityTooSmall" => "the store refused a multipart part as too small: it needs parts of at least 5 MiB; \
                             report this as a bug"
            .into(),
        _ => GENERIC_HINT.into(),
    }
}

/// No error code in the response: a connection problem, or a store that sent no body.
fn fallback(backend: Backend, err: &object_store::Error, text: &str, bucket: &str) -> (String, String) {
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
            "the endpoint did not answer, even after the retries: check --s3-endpoint (or AWS_ENDPOINT, \
             AZURITE_BLOB_STORAGE_URL), the network and that the store is up; --s3-allow-http is needed for http:// \
             endpoints"
                .into(),
        );
    }
    let by_code = |code: &str| match backend {
        Backend::S3 => hint_for_code(code, bucket),
        Backend::Azure => azure_hint(code, bucket),
        Backend::Gcs => gcs_hint(code, bucket),
    };
    let missing = if backend == Backend::Azure {
        "ContainerNotFound"
    } else {
        "NoSuchBucket"
    };
    match err {
        object_store::Error::NotFound { .. } => (missing.into(), by_code(missing)),
        object_store::Error::PermissionDenied { .. } => {
            let denied = if backend == Backend::Azure {
                "AuthorizationFailure"
            } else {
                "AccessDenied"
            };
            (denied.into(), by_code(denied))
        }
        object_store::Error::Unauthenticated { .. } => (
            "Unauthenticated".into(),
            match backend {
                Backend::S3 => {
                    "no valid credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where \
                                a role is available"
                }
                Backend::Azure => {
                    "no valid credentials: set AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, or \
                                   run where a managed or workload identity is available"
                }
                Backend::Gcs => {
                    "no valid credentials: set GOOGLE_SERVICE_ACCOUNT or \
                                 GOOGLE_APPLICATION_CREDENTIALS, or run where a service account is attached"
                }
            }
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
            backend: Backend::S3,
            bucket: "logs".into(),
            attributes: Attributes::new(),
            part_bytes: crate::object::DEFAULT_PART_BYTES,
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
        let text = kle_core::SinkError::Upload(Box::new(failure)).to_string();
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
