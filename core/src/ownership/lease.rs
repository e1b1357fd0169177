//! [`KubeLease`]: an owner record kept in a `coordination.k8s.io/v1` Lease.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, PostParams};

use super::{OwnerRecord, RecordStore, RecordVersion};
use crate::error::{Error, Permission};

/// The annotation that holds the whole [`OwnerRecord`] (PID and run ID, which the Lease's
/// fields have no place for).
pub const OWNER_ANNOTATION: &str = "kube-log-exporter.io/owner";

/// An owner record in a Lease, replaced at the `resourceVersion` it was read at: the standard
/// fields (`holderIdentity` = host or pod name, `acquireTime`, `renewTime`,
/// `leaseDurationSeconds`) say who holds it to `kubectl get lease`, and an
/// annotation holds the rest. A Lease without the annotation (another program's) is read from
/// its standard fields.
///
/// The identity needs `get` and `update` of the Lease and `create` of leases in its namespace
/// ([`lease_permissions`]).
#[derive(Debug, Clone)]
pub struct KubeLease {
    api: Api<Lease>,
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
}

impl KubeLease {
    /// The Lease `name` in `namespace` (created on first use).
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let namespace = namespace.into();
        Self {
            api: Api::namespaced(client, &namespace),
            namespace,
            name: name.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Adds labels to the Lease (besides `app.kubernetes.io/managed-by`), so that a group of
    /// Leases can be listed by them.
    #[must_use]
    pub fn with_labels(mut self, labels: impl IntoIterator<Item = (String, String)>) -> Self {
        self.labels.extend(labels);
        self
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, action: &str, verb: &'static str, err: kube::Error) -> Error {
        match err {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                permission: Permission::on_object(verb, "coordination.k8s.io", "leases", &self.namespace, &self.name),
                message: status.message,
            },
            err => Error::Api {
                action: format!("{action} {}", self.describe()),
                source: Box::new(err),
            },
        }
    }
}

#[async_trait]
impl RecordStore for KubeLease {
    async fn read(&self) -> Result<Option<(OwnerRecord, RecordVersion)>, Error> {
        let lease = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|err| self.error("reading", "get", err))?;
        Ok(lease.and_then(|lease| {
            let version = RecordVersion(lease.metadata.resource_version.clone()?);
            Some((record_of(&lease), version))
        }))
    }

    async fn write(
        &self,
        record: &OwnerRecord,
        expected: Option<&RecordVersion>,
    ) -> Result<Option<RecordVersion>, Error> {
        let mut lease = lease_of(record);
        if let Some(labels) = lease.metadata.labels.as_mut() {
            labels.extend(self.labels.clone());
        }
        lease.metadata.name = Some(self.name.clone());
        lease.metadata.namespace = Some(self.namespace.clone());
        let (verb, written) = match expected {
            Some(version) => {
                lease.metadata.resource_version = Some(version.0.clone());
                (
                    "update",
                    self.api.replace(&self.name, &PostParams::default(), &lease).await,
                )
            }
            None => ("create", self.api.create(&PostParams::default(), &lease).await),
        };
        match written {
            Ok(lease) => Ok(lease.metadata.resource_version.map(RecordVersion)),
            // 409: changed since read (update) or already there (create).
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(err) => Err(self.error("writing", verb, err)),
        }
    }

    fn describe(&self) -> String {
        format!("lease {}/{}", self.namespace, self.name)
    }
}

/// The record a Lease holds: its annotation, else its standard fields.
pub(crate) fn record_of(lease: &Lease) -> OwnerRecord {
    if let Some(record) = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .and_then(|json| serde_json::from_str::<OwnerRecord>(json).ok())
    {
        return record;
    }
    let spec = lease.spec.clone().unwrap_or_default();
    let renewed = spec
        .renew_time
        .or(spec.acquire_time.clone())
        .map(|t| t.0)
        .unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    OwnerRecord {
        released: holder.is_none(),
        holder: holder.unwrap_or_else(|| "nobody".to_owned()),
        pid: 0,
        run: String::new(),
        since: spec.acquire_time.map(|t| t.0).unwrap_or(renewed),
        renewed,
        lease: Some(std::time::Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15),
        )),
    }
}

/// The Lease that holds `record`.
fn lease_of(record: &OwnerRecord) -> Lease {
    let seconds = record
        .lease
        .map_or(15, |lease| lease.as_secs_f64().ceil() as i32)
        .max(1);
    let json = serde_json::to_string(record).unwrap_or_default();
    let mut lease = Lease::default();
    lease.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        "kube-log-exporter".to_owned(),
    )]));
    lease.metadata.annotations = Some(BTreeMap::from([(OWNER_ANNOTATION.to_owned(), json)]));
    lease.spec = Some(LeaseSpec {
        holder_identity: (!record.released).then(|| record.holder.clone()),
        lease_duration_seconds: Some(seconds),
        acquire_time: Some(MicroTime(record.since)),
        renew_time: Some(MicroTime(record.renewed)),
        ..LeaseSpec::default()
    });
    lease
}

/// What a [`KubeLease`] named `name` in `namespace` needs: `get` and `update` of it, and
/// `create` (which RBAC cannot restrict to a name) of leases in the namespace.
pub fn lease_permissions(namespace: &str, name: &str) -> Vec<Permission> {
    ["get", "create", "update"]
        .into_iter()
        .map(|verb| Permission::on_object(verb, "coordination.k8s.io", "leases", namespace, name))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_record_round_trips_through_a_lease_and_fills_its_standard_fields() {
        let mut record = crate::ownership::Claimant::new("exporter-7f9c", 1).record(Some(Duration::from_secs(15)));
        record.renewed = record.since.checked_add(jiff::SignedDuration::from_secs(5)).unwrap();
        let lease = lease_of(&record);
        assert_eq!(record_of(&lease), record);
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("exporter-7f9c"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
    }

    #[test]
    fn a_foreign_lease_is_read_from_its_standard_fields() {
        let mut lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some("other".into()),
                lease_duration_seconds: Some(10),
                renew_time: Some(MicroTime("2026-11-23T10:00:00Z".parse().unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        let record = record_of(&lease);
        assert_eq!(record.holder, "other");
        assert!(!record.released);
        assert_eq!(record.expires(), Some("2026-11-23T10:00:10Z".parse().unwrap()));
        lease.spec.as_mut().unwrap().holder_identity = None;
        assert!(record_of(&lease).released, "no holder: free");
    }
}
