//! The members of a shard group, as their Leases say.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use tracing::{debug, info};

use super::{COUNT_LABEL, GROUP_LABEL, ROLE_LABEL, ShardGroup};
use crate::error::{Error, Permission};
use crate::ownership::record_of;

/// A member Lease not renewed for this many lease durations is deleted by whoever lists it.
const FORGOTTEN_AFTER_LEASES: i32 = 20;

/// Lists the live members of a group.
#[derive(Debug)]
pub(super) struct Membership {
    api: Api<Lease>,
    group: ShardGroup,
    me: String,
}

impl Membership {
    pub(super) fn new(client: Client, group: ShardGroup, me: String) -> Self {
        Self {
            api: Api::namespaced(client, &group.namespace),
            group,
            me,
        }
    }

    /// This replica's member name.
    pub(super) fn me(&self) -> &str {
        &self.me
    }

    /// The members whose Leases are held now (always including this replica), sorted. Member
    /// Leases forgotten long ago are deleted on the way.
    ///
    /// # Errors
    /// [`Error::ShardConflict`] when a member that joined before `joined` splits into another
    /// count; the API's errors.
    pub(super) async fn live(&self, joined: Timestamp) -> Result<Vec<String>, Error> {
        let selector = format!("{GROUP_LABEL}={},{ROLE_LABEL}=member", self.group.name);
        let leases = self
            .api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|err| self.error(err))?;
        let now = Timestamp::now();
        let prefix = self.group.member_lease_name("");
        let mut members = vec![self.me.clone()];
        for lease in &leases.items {
            let Some(name) = lease.metadata.name.as_deref() else {
                continue;
            };
            let Some(member) = name.strip_prefix(&prefix) else {
                continue;
            };
            let record = record_of(lease);
            if record.is_free_at(now) {
                self.forget_if_long_gone(lease, &record, now).await;
                continue;
            }
            let count = lease
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(COUNT_LABEL))
                .and_then(|count| count.parse::<u32>().ok());
            if let Some(count) = count
                && count != self.group.count
                && record.since < joined
                && member != self.me
            {
                return Err(Error::ShardConflict {
                    group: self.group.name.clone(),
                    member: record.to_string(),
                    theirs: count,
                    ours: self.group.count,
                });
            }
            if member != self.me {
                members.push(member.to_owned());
            }
        }
        members.sort();
        members.dedup();
        Ok(members)
    }

    /// Deletes a member Lease that lapsed long ago (pods of a Deployment get new names), at the
    /// version that was read, so a member that came back in between is left alone.
    async fn forget_if_long_gone(&self, lease: &Lease, record: &crate::ownership::OwnerRecord, now: Timestamp) {
        let lease_duration = record
            .lease
            .and_then(|l| SignedDuration::try_from(l).ok())
            .unwrap_or_default();
        let Ok(forgotten_at) = record.renewed.checked_add(lease_duration * FORGOTTEN_AFTER_LEASES) else {
            return;
        };
        if now < forgotten_at {
            return;
        }
        let Some(name) = lease.metadata.name.as_deref() else {
            return;
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: lease.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(name, &params).await {
            Ok(_) => info!(lease = %name, holder = %record, "deleted the Lease of a member gone long ago"),
            Err(err) => debug!(lease = %name, error = %err, "could not delete a forgotten member's Lease"),
        }
    }

    fn error(&self, err: kube::Error) -> Error {
        match err {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                permission: Permission {
                    verb: "list",
                    group: "coordination.k8s.io",
                    resource: "leases",
                    namespace: Some(self.group.namespace.clone()),
                    resource_name: None,
                },
                message: status.message,
            },
            err => Error::Api {
                action: format!("listing the members of shard group {}", self.group.name),
                source: Box::new(err),
            },
        }
    }
}
