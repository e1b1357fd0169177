//! Parsing and recording of incoming requests.

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::access::Attributes;

/// What an incoming request addresses, as the fake server routes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET /api/v1/pods` or `GET /api/v1/namespaces/{namespace}/pods` without `watch`.
    PodList {
        /// The namespace, or `None` for all namespaces.
        namespace: Option<String>,
    },
    /// The same paths with `watch=true`.
    PodWatch {
        /// The namespace, or `None` for all namespaces.
        namespace: Option<String>,
    },
    /// `GET /api/v1/namespaces/{namespace}/pods/{name}`.
    PodGet {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// `GET /api/v1/namespaces/{namespace}/pods/{name}/log`.
    PodLog {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The `container` query parameter, if given.
        container: Option<String>,
    },
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
    SelfSubjectAccessReview,
    /// `GET /version`.
    Version,
    /// A known path with a method the server does not serve there.
    MethodNotAllowed,
    /// Anything else.
    Unknown,
}

impl Route {
    pub(crate) fn parse(method: &Method, path: &str, query: &[(String, String)]) -> Self {
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let is_get = *method == Method::GET;
        let gated = |route: Route| {
            if is_get { route } else { Route::MethodNotAllowed }
        };
        let watch = query_flag(query, "watch").unwrap_or(false);
        let collection = |namespace: Option<&str>| {
            let namespace = namespace.map(str::to_owned);
            gated(if watch {
                Route::PodWatch { namespace }
            } else {
                Route::PodList { namespace }
            })
        };
        match segments.as_slice() {
            ["api", "v1", "pods"] => collection(None),
            ["api", "v1", "namespaces", ns, "pods"] => collection(Some(ns)),
            ["api", "v1", "namespaces", ns, "pods", name] => gated(Route::PodGet {
                namespace: (*ns).to_owned(),
                name: (*name).to_owned(),
            }),
            ["api", "v1", "namespaces", ns, "pods", name, "log"] => gated(Route::PodLog {
                namespace: (*ns).to_owned(),
                name: (*name).to_owned(),
                container: query_value(query, "container").map(str::to_owned),
            }),
            ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] if *method == Method::POST => {
                Route::SelfSubjectAccessReview
            }
            ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => Route::MethodNotAllowed,
            ["version"] => gated(Route::Version),
            _ => Route::Unknown,
        }
    }

    /// The authorizer's view of the request, for routes that RBAC guards.
    pub(crate) fn attributes(&self) -> Option<Attributes> {
        let pods = |verb: &str, namespace: &Option<String>, name: &str, subresource: &str| Attributes {
            verb: verb.to_owned(),
            group: String::new(),
            resource: "pods".to_owned(),
            subresource: subresource.to_owned(),
            namespace: namespace.clone().unwrap_or_default(),
            name: name.to_owned(),
        };
        match self {
            Route::PodList { namespace } => Some(pods("list", namespace, "", "")),
            Route::PodWatch { namespace } => Some(pods("watch", namespace, "", "")),
            Route::PodGet { namespace, name } => Some(pods("get", &Some(namespace.clone()), name, "")),
            Route::PodLog { namespace, name, .. } => Some(pods("get", &Some(namespace.clone()), name, "log")),
            Route::SelfSubjectAccessReview => Some(Attributes {
                verb: "create".to_owned(),
                group: "authorization.k8s.io".to_owned(),
                resource: "selfsubjectaccessreviews".to_owned(),
                ..Attributes::default()
            }),
            Route::Version | Route::MethodNotAllowed | Route::Unknown => None,
        }
    }
}

/// A request the fake server received, for assertions.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, percent-encoded as sent, without the query.
    pub path: String,
    /// The decoded query pairs in the order sent (kube-rs sends a leading empty pair for `?&`; it is skipped).
    pub query: Vec<(String, String)>,
    /// The request headers (`authorization`, `user-agent`, ...).
    pub headers: HeaderMap,
    /// The request body (the SelfSubjectAccessReview JSON, empty for GETs).
    pub body: Bytes,
    /// How the server routed it.
    pub route: Route,
}

impl RecordedRequest {
    /// The first value of query parameter `key`, if present.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        query_value(&self.query, key)
    }

    /// Whether this was a pod list (not a watch).
    pub fn is_pod_list(&self) -> bool {
        matches!(self.route, Route::PodList { .. })
    }

    /// Whether this was a pod watch.
    pub fn is_pod_watch(&self) -> bool {
        matches!(self.route, Route::PodWatch { .. })
    }

    /// Whether this was a pod log request.
    pub fn is_pod_log(&self) -> bool {
        matches!(self.route, Route::PodLog { .. })
    }
}

pub(crate) fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A boolean query parameter as Go's `strconv.ParseBool` reads it; `None` when absent or unparsable.
pub(crate) fn query_flag(query: &[(String, String)], key: &str) -> Option<bool> {
    parse_bool(query_value(query, key)?)
}

pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Splits an `application/x-www-form-urlencoded` query into decoded pairs, skipping empty ones.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&key.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_matches_form_urlencoding() {
        let query = parse_query("&sinceTime=2023-10-19T13%3A14%3A26Z&labelSelector=app+in+%28a%2Cb%29&follow");
        assert_eq!(
            query,
            vec![
                ("sinceTime".to_owned(), "2023-10-19T13:14:26Z".to_owned()),
                ("labelSelector".to_owned(), "app in (a,b)".to_owned()),
                ("follow".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn routes_follow_the_api_paths() {
        let watch = parse_query("watch=1");
        assert_eq!(
            Route::parse(&Method::GET, "/api/v1/namespaces/ns/pods", &watch),
            Route::PodWatch {
                namespace: Some("ns".to_owned())
            }
        );
        assert_eq!(
            Route::parse(&Method::GET, "/api/v1/pods", &[]),
            Route::PodList { namespace: None }
        );
        assert_eq!(
            Route::parse(&Method::DELETE, "/api/v1/namespaces/ns/pods/p", &[]),
            Route::MethodNotAllowed
        );
        assert_eq!(
            Route::parse(&Method::GET, "/apis/apps/v1/deployments", &[]),
            Route::Unknown
        );
    }
}
