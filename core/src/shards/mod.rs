//! Shards: one follow split across replicas, each shard owned by one replica at a time through
//! a `coordination.k8s.io/v1` Lease, and resumed exactly by whoever owns it next.
//!
//! - **Shards.** A pod belongs to shard `xxh3(uid) mod count` ([`Shard::of_pod`]): a stable
//!   hash of its UID, so every replica and every release agrees, and all of a pod's containers
//!   (and their restarts) stay in one shard. The count is fixed for a group: changing it starts
//!   new checkpoints (see [`ShardGroup`]).
//! - **Members.** Each replica holds a member Lease (`{group}-member-{holder}-{pid}`), renewed
//!   like any [`LeasedOwnership`]; the replicas list each other by the group's labels. A
//!   member whose Lease was not renewed for its duration is gone.
//! - **Assignment.** Rendezvous hashing ([`owner_of`]): shard `s` goes to the live member with
//!   the highest `xxh3(member, seed = s)`. A member that joins takes only the shards it now
//!   wins; a member that leaves gives up only its own: rescaling moves the fewest shards
//!   possible, and every replica computes the same answer from the same member list.
//! - **Ownership.** A replica runs a shard only while it holds the shard's Lease
//!   (`{group}-shard-{index}-of-{count}`), through an [`OwnerGuard`] that fences every write
//!   and checkpoint save ([`Export::with_owner`]). Each shard has its own checkpoint in the
//!   shared store, so whoever owns it next resumes after what was committed.
//! - **Handover.** A replica that no longer wins a shard stops its streams, commits, saves the
//!   checkpoint and releases the Lease; the winner, polling the Lease, starts within a second.
//!   A replica that dies (or is paused past its lease) loses its Leases when they lapse; the
//!   survivors see it gone at their next look, take its shards over, cut back what it wrote
//!   after its last checkpoint where the sink can, and resume.
//!
//! Two replicas may briefly disagree about the member list (one has seen a new member, the
//! other not yet): they then both want a shard, and the Lease gives it to one of them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kle_core::shards::{ShardGroup, ShardedFollow};
//! use kle_core::{Export, ExportOptions, Selection, StreamOptions};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(
//! #     client: kube::Client,
//! #     sink_for: impl Fn(kle_core::shards::Shard) -> Box<dyn kle_core::Sink> + Send + Sync + 'static,
//! #     checkpoint_for: impl Fn(kle_core::shards::Shard) -> Arc<dyn kle_core::checkpoint::CheckpointStore> + Send + Sync + 'static,
//! # ) -> Result<(), kle_core::Error> {
//! let group = ShardGroup::new("logging", "archive", 16)?;
//! let selection = Selection::builder().build()?;
//! let options = ExportOptions {
//!     stream: StreamOptions { follow: true, ..StreamOptions::default() },
//!     ..ExportOptions::default()
//! };
//! let exports_client = client.clone();
//! let report = ShardedFollow::new(client, group, move |shard| {
//!     Ok(Export::new(exports_client.clone(), selection.clone().in_shard(shard), sink_for(shard))
//!         .with_options(options.clone())
//!         .with_checkpoint(checkpoint_for(shard)))
//! })
//! .run(CancellationToken::new())
//! .await?;
//! println!("{} shard runs, {} handovers", report.runs.len(), report.handovers);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::error::{Error, Permission};
use crate::export::{Export, ExportReport, Metrics};
use crate::ownership::{Claimant, KubeLease, LeaseTiming, LeasedOwnership, OwnerGuard};

mod members;
#[cfg(test)]
mod tests;

use members::Membership;

pub use crate::export::ShardStats;

/// The most shards a group may have.
pub const MAX_SHARDS: u32 = 1024;

/// The label that names a Lease's shard group.
pub const GROUP_LABEL: &str = "kube-log-exporter.io/shard-group";
/// The label that says what a Lease of a group is for: `member` or `shard`.
pub const ROLE_LABEL: &str = "kube-log-exporter.io/role";
/// The label on a member Lease that says how many shards its replica splits the work into.
pub const COUNT_LABEL: &str = "kube-log-exporter.io/shards";

/// One of a group's shards: the pods whose UID hashes to `index` among `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidSelection`] unless `1 <= count <= MAX_SHARDS` and `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, Error> {
        check_count(count)?;
        if index >= count {
            return Err(Error::InvalidSelection(format!(
                "shard {index} does not exist among {count} (they are numbered from 0)"
            )));
        }
        Ok(Self { index, count })
    }

    /// Every shard of `count`, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard { index, count })
    }

    /// The shard of the pod with UID `uid`, among `count` (at least 1).
    pub fn of_pod(uid: &str, count: u32) -> Shard {
        let count = count.max(1);
        let index = u32::try_from(xxh3_64(uid.as_bytes()) % u64::from(count)).unwrap_or(0);
        Shard { index, count }
    }

    /// Whether the pod with UID `uid` is in this shard.
    pub fn holds_pod(&self, uid: &str) -> bool {
        Shard::of_pod(uid, self.count) == *self
    }

    /// Its index, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// `{index}-of-{count}`: the part of the shard's Lease name and checkpoint key that names it.
    pub fn slug(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {}/{}", self.index, self.count)
    }
}

fn check_count(count: u32) -> Result<(), Error> {
    if (1..=MAX_SHARDS).contains(&count) {
        Ok(())
    } else {
        Err(Error::InvalidSelection(format!(
            "{count} shards: the count must be between 1 and {MAX_SHARDS}; a few per replica you may run at most \
             (16 serve up to 16 replicas)"
        )))
    }
}

/// The member that owns `shard` among `members` (rendezvous hashing: the highest
/// `xxh3(member, seed = shard index)`, ties to the smaller name); `None` without members.
pub fn owner_of<S: AsRef<str>>(shard: Shard, members: &[S]) -> Option<&str> {
    members.iter().map(AsRef::as_ref).max_by(|a, b| {
        let score = |member: &str| xxh3_64_with_seed(member.as_bytes(), u64::from(shard.index));
        score(a).cmp(&score(b)).then_with(|| b.cmp(a))
    })
}

/// Which shards each member owns among `members`.
pub fn assignment<S: AsRef<str>>(count: u32, members: &[S]) -> BTreeMap<String, Vec<Shard>> {
    let mut owned: BTreeMap<String, Vec<Shard>> = members.iter().map(|m| (m.as_ref().to_owned(), Vec::new())).collect();
    for shard in Shard::all(count) {
        if let Some(owner) = owner_of(shard, members) {
            owned.entry(owner.to_owned()).or_default().push(shard);
        }
    }
    owned
}

/// A group of replicas that split one follow into `count` shards, coordinated through Leases
/// in `namespace` named after the group.
///
/// All replicas of a group must use the same count: a replica that finds an older member
/// with another count stops with an error. Changing the count for the whole group (stop all,
/// start with the new count) starts new shard checkpoints: the new shards read from the
/// export's `since`, so lines exported before are exported again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardGroup {
    namespace: String,
    name: String,
    count: u32,
    timing: LeaseTiming,
}

impl ShardGroup {
    /// The group `name` (a DNS label of at most 40 characters, it starts every Lease name)
    /// with `count` shards, its Leases in `namespace`, held for the default [`LeaseTiming`].
    ///
    /// # Errors
    /// [`Error::InvalidSelection`] for a name that cannot start a Lease name or a count out of
    /// range.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, count: u32) -> Result<Self, Error> {
        let name = name.into();
        check_group_name(&name)?;
        check_count(count)?;
        Ok(Self {
            namespace: namespace.into(),
            name,
            count,
            timing: LeaseTiming::default(),
        })
    }

    /// Holds member and shard Leases for `timing` instead.
    #[must_use]
    pub fn with_lease_timing(mut self, timing: LeaseTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The namespace of the group's Leases.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many shards it splits the work into.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// How its Leases are held.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// The name of `shard`'s Lease.
    pub fn shard_lease_name(&self, shard: Shard) -> String {
        format!("{}-shard-{}", self.name, shard.slug())
    }

    /// The name of the member Lease of `member` ([`member_id`]).
    pub fn member_lease_name(&self, member: &str) -> String {
        format!("{}-member-{member}", self.name)
    }

    fn labels(&self, role: &str) -> Vec<(String, String)> {
        let mut labels = vec![
            (GROUP_LABEL.to_owned(), self.name.clone()),
            (ROLE_LABEL.to_owned(), role.to_owned()),
        ];
        if role == "member" {
            labels.push((COUNT_LABEL.to_owned(), self.count.to_string()));
        }
        labels
    }

    /// What a replica needs: Leases in the group's namespace, to hold its member and shard
    /// Leases (get, create, update), to see the other members (list) and to remove members
    /// gone long ago (delete). Their names vary with the pods, so no `resourceNames`.
    pub fn permissions(&self) -> Vec<Permission> {
        permissions(&self.namespace)
    }
}

/// What the replicas of a group with Leases in `namespace` need ([`ShardGroup::permissions`]).
pub fn permissions(namespace: &str) -> Vec<Permission> {
    ["get", "list", "create", "update", "delete"]
        .into_iter()
        .map(|verb| Permission {
            verb,
            group: "coordination.k8s.io",
            resource: "leases",
            namespace: Some(namespace.to_owned()),
            resource_name: None,
        })
        .collect()
}

fn check_group_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidSelection(format!(
            "shard group {name:?}: a group name is 1 to 40 lowercase letters, digits and '-', starting and ending \
             with a letter or digit (it starts the name of every Lease of the group)"
        )))
    }
}

/// A replica's member name: its host (or pod) name and process ID, as a DNS label.
pub fn member_id(claimant: &Claimant) -> String {
    let mut host: String = claimant
        .holder
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    host.truncate(150);
    let host = host.trim_matches('-');
    let host = if host.is_empty() { "replica" } else { host };
    format!("{host}-{}", claimant.pid)
}

/// What one shard's run did, as one of a [`ShardedReport`]'s runs.
#[derive(Debug)]
#[non_exhaustive]
pub struct ShardRun {
    /// The shard.
    pub shard: Shard,
    /// Its export's report.
    pub report: ExportReport,
}

/// What a [`ShardedFollow`] did until it was cancelled.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShardedReport {
    /// Each shard run that ended (handed over, or stopped with the follow), in the order they
    /// ended.
    pub runs: Vec<ShardRun>,
    /// Shards this replica handed over to another (after committing and checkpointing).
    pub handovers: u64,
    /// Shards this replica took over from a replica that did not let go (killed, paused).
    pub takeovers: u64,
    /// Shard runs that stopped because their Lease lapsed or was taken (they wrote nothing
    /// after that; the shard's next owner resumed from its checkpoint).
    pub lost: u64,
}

/// A follow split into shards across replicas: this replica's part of a [`ShardGroup`].
///
/// `exports` builds the export of one shard: the selection limited to the shard
/// ([`Selection::in_shard`](crate::Selection::in_shard)), a sink of its own and the shard's
/// checkpoint in the shared store. [`run`](Self::run) adds the shard's Lease as its owner.
pub struct ShardedFollow<F> {
    client: Client,
    group: ShardGroup,
    exports: Arc<F>,
    claimant: Claimant,
    metrics: Option<Arc<Metrics>>,
    takeovers: Arc<AtomicU64>,
}

impl<F> fmt::Debug for ShardedFollow<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedFollow")
            .field("group", &self.group)
            .field("claimant", &self.claimant)
            .finish_non_exhaustive()
    }
}

impl<F> ShardedFollow<F>
where
    F: Fn(Shard) -> Result<Export, Error> + Send + Sync + 'static,
{
    /// This process's part of `group`, running `exports(shard)` for each shard it owns.
    pub fn new(client: Client, group: ShardGroup, exports: F) -> Self {
        Self {
            client,
            group,
            exports: Arc::new(exports),
            claimant: Claimant::this_process(),
            metrics: None,
            takeovers: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records `claimant` as the holder of this replica's Leases instead of this process.
    #[must_use]
    pub fn with_claimant(mut self, claimant: Claimant) -> Self {
        self.claimant = claimant;
        self
    }

    /// Counts shards owned, handovers and takeovers into `metrics`, and marks them ready once
    /// this replica is a member. Give the shards' exports the same `metrics` for lines and
    /// streams.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Joins the group and runs the shards this replica wins until `cancel`: then every shard
    /// commits, saves its checkpoint and releases its Lease, and the replica leaves the group.
    ///
    /// When this replica's member Lease lapses (the process was paused, or cut off from the API
    /// server for the lease), its shards stop writing (their Leases lapse too) and it joins
    /// again.
    ///
    /// # Errors
    /// - [`Error::ShardConflict`]: an older member of the group splits into another count;
    /// - an export's error other than a lost Lease (the sink, the checkpoint store, a refused
    ///   permission): every shard is stopped first, committing what it can;
    /// - [`Error::Forbidden`]: Leases in the group's namespace may not be read or written.
    pub async fn run(self, cancel: CancellationToken) -> Result<ShardedReport, Error> {
        let me = member_id(&self.claimant);
        let membership = Membership::new(self.client.clone(), self.group.clone(), me.clone());
        let mut report = ShardedReport::default();
        if let Some(metrics) = &self.metrics {
            metrics.shards().enable();
        }
        info!(
            group = %self.group.name,
            namespace = %self.group.namespace,
            shards = self.group.count,
            member = %me,
            "joining the shard group"
        );
        while !cancel.is_cancelled() {
            let Some(member) = self.join(&me, &cancel).await? else {
                break;
            };
            let outcome = self.serve(&membership, &member, &cancel, &mut report).await;
            let lost = member.check().is_err();
            member.release().await;
            report.takeovers = self.takeovers.load(Ordering::Relaxed);
            outcome?;
            if !lost {
                break;
            }
            warn!(member = %me, "this replica's membership lapsed; its shards stopped writing; joining again");
        }
        info!(member = %me, "left the shard group");
        Ok(report)
    }

    /// Holds this replica's member Lease (waiting out a previous process of the same name).
    async fn join(&self, me: &str, cancel: &CancellationToken) -> Result<Option<OwnerGuard>, Error> {
        let lease = KubeLease::new(
            self.client.clone(),
            &self.group.namespace,
            self.group.member_lease_name(me),
        )
        .with_labels(self.group.labels("member"));
        let ownership = Arc::new(LeasedOwnership::new(lease, self.group.timing));
        loop {
            let acquired = tokio::select! {
                () = cancel.cancelled() => return Ok(None),
                acquired = OwnerGuard::acquire(
                    ownership.clone(),
                    self.claimant.clone(),
                    Some(self.group.timing.duration * 2),
                ) => acquired,
            };
            match acquired {
                Ok(guard) => return Ok(Some(guard)),
                Err(err @ (Error::Forbidden { .. } | Error::OwnedElsewhere { .. })) => return Err(err),
                Err(err) => {
                    warn!(error = %err, "joining the shard group failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(None),
                        () = tokio::time::sleep(self.group.timing.renew_every) => {}
                    }
                }
            }
        }
    }

    /// Runs shards while this replica is a member: looks at the members every renewal
    /// interval, starts the shards it wins, hands over the ones it no longer wins.
    async fn serve(
        &self,
        membership: &Membership,
        member: &OwnerGuard,
        cancel: &CancellationToken,
        report: &mut ShardedReport,
    ) -> Result<(), Error> {
        let joined = Timestamp::now();
        let mut running: HashMap<Shard, CancellationToken> = HashMap::new();
        let mut handing_over: BTreeSet<Shard> = BTreeSet::new();
        let mut tasks: JoinSet<(Shard, Result<Option<ExportReport>, Error>)> = JoinSet::new();
        let mut failure: Option<Error> = None;
        let mut look = tokio::time::interval(self.group.timing.renew_every);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lost = member.lost();
        if let Some(metrics) = &self.metrics {
            metrics.set_ready(true);
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = lost.cancelled() => break,
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    let Ok((shard, outcome)) = ended else { continue };
                    running.remove(&shard);
                    let handed = handing_over.remove(&shard);
                    self.ended(shard, outcome, handed, report, &mut failure);
                    if failure.is_some() {
                        break;
                    }
                }
                _ = look.tick() => {
                    let members = match membership.live(joined).await {
                        Ok(members) => members,
                        Err(err @ Error::ShardConflict { .. }) => {
                            failure = Some(err);
                            break;
                        }
                        Err(err) => {
                            debug!(error = %err, "listing the group's members failed; keeping the shards as they are");
                            continue;
                        }
                    };
                    let wins: BTreeSet<Shard> = Shard::all(self.group.count)
                        .filter(|shard| owner_of(*shard, &members) == Some(membership.me()))
                        .collect();
                    for (shard, stop) in &running {
                        if !wins.contains(shard) && handing_over.insert(*shard) {
                            info!(%shard, "handing the shard over to the replica that now wins it");
                            stop.cancel();
                        }
                    }
                    for shard in wins {
                        if running.contains_key(&shard) {
                            continue;
                        }
                        let stop = cancel.child_token();
                        running.insert(shard, stop.clone());
                        let task = ShardTask {
                            client: self.client.clone(),
                            group: self.group.clone(),
                            claimant: self.claimant.clone(),
                            exports: Arc::clone(&self.exports),
                            metrics: self.metrics.clone(),
                            takeovers: Arc::clone(&self.takeovers),
                        };
                        tasks.spawn(async move { (shard, task.run(shard, stop).await) });
                    }
                    if let Some(metrics) = &self.metrics {
                        metrics.shards().set_running(running.len());
                    }
                }
            }
        }
        // Leaving (or lost): every shard commits, checkpoints and lets go.
        for stop in running.values() {
            stop.cancel();
        }
        while let Some(ended) = tasks.join_next().await {
            let Ok((shard, outcome)) = ended else { continue };
            let handed = handing_over.remove(&shard);
            self.ended(shard, outcome, handed, report, &mut failure);
        }
        if let Some(metrics) = &self.metrics {
            metrics.shards().set_running(0);
        }
        failure.map_or(Ok(()), Err)
    }

    fn ended(
        &self,
        shard: Shard,
        outcome: Result<Option<ExportReport>, Error>,
        handed: bool,
        report: &mut ShardedReport,
        failure: &mut Option<Error>,
    ) {
        match outcome {
            Ok(Some(run)) => {
                if handed {
                    report.handovers += 1;
                    if let Some(metrics) = &self.metrics {
                        metrics.shards().handed_over();
                    }
                    info!(%shard, lines = run.delivery.lines, "shard handed over: committed, checkpointed, released");
                }
                report.runs.push(ShardRun { shard, report: run });
            }
            Ok(None) => {}
            Err(err @ Error::LostOwnership { .. }) => {
                report.lost += 1;
                warn!(%shard, error = %err, "shard stopped writing: its Lease was lost");
            }
            Err(err) => {
                error!(%shard, error = %err, "shard failed; stopping every shard of this replica");
                failure.get_or_insert(err);
            }
        }
    }
}

/// One shard's run: hold its Lease (waiting for the previous owner to let go or lapse), then
/// export it under that Lease until stopped.
struct ShardTask<F> {
    client: Client,
    group: ShardGroup,
    claimant: Claimant,
    exports: Arc<F>,
    metrics: Option<Arc<Metrics>>,
    takeovers: Arc<AtomicU64>,
}

impl<F> ShardTask<F>
where
    F: Fn(Shard) -> Result<Export, Error> + Send + Sync + 'static,
{
    async fn run(self, shard: Shard, stop: CancellationToken) -> Result<Option<ExportReport>, Error> {
        let lease = KubeLease::new(
            self.client.clone(),
            &self.group.namespace,
            self.group.shard_lease_name(shard),
        )
        .with_labels(self.group.labels("shard"));
        let ownership = Arc::new(LeasedOwnership::new(lease, self.group.timing));
        let guard = loop {
            let acquired = tokio::select! {
                () = stop.cancelled() => return Ok(None),
                // Until stopped: the manager stops this task when another replica wins the shard.
                acquired = OwnerGuard::acquire(ownership.clone(), self.claimant.clone(), Some(Duration::from_secs(3600))) => acquired,
            };
            match acquired {
                Ok(guard) => break guard,
                Err(Error::OwnedElsewhere { .. }) => {}
                Err(err @ Error::Forbidden { .. }) => return Err(err),
                Err(err) => {
                    debug!(%shard, error = %err, "taking the shard's Lease failed; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return Ok(None),
                        () = tokio::time::sleep(self.group.timing.renew_every) => {}
                    }
                }
            }
        };
        if let Some(previous) = guard.took_over_from() {
            let since_renewal = Timestamp::now().duration_since(previous.renewed);
            let seconds = since_renewal.as_secs_f64().max(0.0);
            info!(
                %shard,
                previous = %previous,
                seconds_since_its_last_renewal = format!("{seconds:.1}"),
                "shard taken over from a replica that did not let go"
            );
            self.takeovers.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = &self.metrics {
                metrics.shards().took_over(seconds);
            }
        } else {
            info!(%shard, "shard owned");
        }
        let export = (self.exports)(shard)?.with_owner(guard);
        export.run(stop).await.map(Some)
    }
}
