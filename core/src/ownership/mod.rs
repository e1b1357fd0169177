//! One owner at a time: who may write a checkpoint (and the output it covers), enforced by the
//! store that keeps it, with fencing.
//!
//! Two exporters writing one output undo each other's work: each takes the other's fresh lines
//! for what a crashed run wrote after its last checkpoint and cuts them. So every run first
//! becomes the checkpoint's *owner*, and writes only while it is:
//!
//! - an [`Ownership`] is where the owner is recorded: [`FileLock`] (an OS lock on a file beside
//!   a checkpoint file, released by the kernel when the process dies), or a [`LeasedOwnership`]
//!   over a [`RecordStore`] that replaces a record only at the version it read (a Kubernetes
//!   Lease, [`KubeLease`]; an object written with conditional PUTs, in `kle-sinks`). A leased
//!   owner renews its record; a record not renewed for its lease duration has lapsed and the
//!   next run takes over;
//! - [`OwnerGuard::acquire`] becomes the owner (or waits, or reports the holder), then renews in
//!   the background where the store needs it;
//! - [`OwnerGuard::check`] is the fence: the pipeline calls it before every sink write, commit and
//!   checkpoint save. It fails once the renewals stopped succeeding for the lease duration minus a
//!   safety margin (by this process's monotonic clock, which keeps counting while the process is
//!   paused) or once a renewal found another owner. The checkpoint save that follows a commit is
//!   itself conditional (file: the lock; ConfigMap: `resourceVersion`; object: ETag), so a writer
//!   that passed the fence just before it lapsed still cannot overwrite its successor's
//!   checkpoint.
//!
//! The same records serve any unit of work with one writer: a shard owned through a Lease is a
//! [`LeasedOwnership`] over a [`KubeLease`] of its own.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kle_core::ownership::{Claimant, FileLock, OwnerGuard};
//!
//! # async fn demo() -> Result<(), kle_core::Error> {
//! let lock = Arc::new(FileLock::new("/out/.kube-log-exporter-checkpoint.json.lock"));
//! let guard = OwnerGuard::acquire(lock, Claimant::this_process(), None).await?;
//! guard.check()?; // before each write
//! guard.release().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::Error;

mod file;
mod lease;
mod record;
#[cfg(test)]
mod tests;

pub use file::FileLock;
pub(crate) use lease::record_of;
pub use lease::{KubeLease, OWNER_ANNOTATION, lease_permissions};
pub use record::{LeasedOwnership, RecordStore, RecordVersion};

/// Who asks for ownership: a host or pod name, a process ID, and an ID of this run that no
/// other run shares (a restarted pod keeps its name; its run ID changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// Host or pod name (`HOSTNAME`, else the kernel's host name).
    pub holder: String,
    /// Process ID.
    pub pid: u32,
    /// Unique per run.
    pub run: String,
}

impl Claimant {
    /// This process: its host (or pod) name and PID, and a run ID made of both and the time.
    pub fn this_process() -> Self {
        let holder = std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
            })
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown-host".to_owned());
        Self::new(holder, std::process::id())
    }

    /// A claimant named `holder` with process ID `pid`.
    pub fn new(holder: impl Into<String>, pid: u32) -> Self {
        let holder = holder.into();
        let run = format!("{holder}-{pid}-{}", Timestamp::now().as_nanosecond());
        Self { holder, pid, run }
    }

    /// A fresh record of this claimant holding from now on, for `lease` (`None`: until the
    /// process ends).
    pub fn record(&self, lease: Option<Duration>) -> OwnerRecord {
        let now = Timestamp::now();
        OwnerRecord {
            holder: self.holder.clone(),
            pid: self.pid,
            run: self.run.clone(),
            since: now,
            renewed: now,
            lease,
            released: false,
        }
    }
}

/// Who owns (or last owned) a checkpoint, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// Host or pod name.
    pub holder: String,
    /// Process ID on that host.
    pub pid: u32,
    /// The run's unique ID.
    pub run: String,
    /// When this run became the owner.
    pub since: Timestamp,
    /// When the owner last renewed its hold.
    pub renewed: Timestamp,
    /// How long a hold lasts without renewal; `None`: until the process ends (an OS lock).
    #[serde(
        default,
        rename = "lease_ms",
        with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease: Option<Duration>,
    /// The owner let go: the next run takes over at once.
    #[serde(default)]
    pub released: bool,
}

impl OwnerRecord {
    /// When the hold lapses unless renewed; `None` for a hold without expiry.
    pub fn expires(&self) -> Option<Timestamp> {
        let lease = jiff::SignedDuration::try_from(self.lease?).ok()?;
        self.renewed.checked_add(lease).ok()
    }

    /// Whether another run may take over at `now` (wall clock): released, or its lease lapsed.
    pub fn is_free_at(&self, now: Timestamp) -> bool {
        self.released || self.expires().is_some_and(|expires| now >= expires)
    }
}

impl fmt::Display for OwnerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pid {}, owner since {}", self.holder, self.pid, self.since)?;
        if self.released {
            return write!(f, ", released at {}", self.renewed);
        }
        match self.expires() {
            Some(expires) => write!(f, ", last renewed {}, lapses {expires} unless renewed", self.renewed),
            None => Ok(()),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

/// How long a leased hold lasts, how often it is renewed, and how much sooner than its expiry
/// the owner stops writing (for the time a write takes to land and for clocks that disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// A hold not renewed for this long has lapsed; another run may take over.
    pub duration: Duration,
    /// The owner renews this often.
    pub renew_every: Duration,
    /// The owner stops writing this long before its hold would lapse.
    pub margin: Duration,
}

impl Default for LeaseTiming {
    /// 15 s, renewed every 5 s, writes stop 3 s before the expiry.
    fn default() -> Self {
        Self::with_duration(Duration::from_secs(15))
    }
}

impl LeaseTiming {
    /// A lease of `duration`, renewed every third of it, writes stopping a fifth of it early.
    pub fn with_duration(duration: Duration) -> Self {
        Self {
            duration,
            renew_every: duration / 3,
            margin: duration / 5,
        }
    }

    /// How long after a renewal request started the owner may still write.
    fn valid_for(&self) -> Duration {
        self.duration.saturating_sub(self.margin)
    }
}

/// Where a checkpoint's owner is recorded.
#[async_trait]
pub trait Ownership: Send + Sync + fmt::Debug {
    /// Becomes the owner if no one else is (or the holder's hold lapsed), else says who is.
    ///
    /// # Errors
    /// The store could not be reached or refused the request.
    async fn try_acquire(&self, claimant: &Claimant) -> Result<Attempt, Error>;

    /// A short description for messages (`lock file /out/...lock`, `lease logging/kle-owner`).
    fn describe(&self) -> String;
}

/// The outcome of [`Ownership::try_acquire`].
#[derive(Debug)]
pub enum Attempt {
    /// This run is the owner now.
    Acquired(Box<dyn Held>),
    /// Another run is.
    HeldBy(OwnerRecord),
}

/// An ownership held: renewed, then released.
#[async_trait]
pub trait Held: Send + Sync + fmt::Debug {
    /// The lease, when the hold lapses without renewal; `None`: held until the process ends.
    fn lease(&self) -> Option<LeaseTiming>;

    /// The previous owner's record when this hold took over from a run that did not release
    /// (crashed, killed, paused or cut off past its lease).
    fn took_over_from(&self) -> Option<&OwnerRecord>;

    /// Renews the hold.
    ///
    /// # Errors
    /// The store could not be reached; the hold may still be valid until its lease ends.
    async fn renew(&mut self) -> Result<Renewal, Error>;

    /// Lets go, so the next run need not wait for the lease to lapse.
    ///
    /// # Errors
    /// The store could not be reached (the hold then lapses by itself).
    async fn release(self: Box<Self>) -> Result<(), Error>;
}

/// The outcome of [`Held::renew`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Still the owner, for another lease from when the renewal started.
    Renewed,
    /// Someone else changed the record: this run is no longer the owner.
    Lost(Option<OwnerRecord>),
}

/// What the guard knows of its hold, shared with its renewal task.
#[derive(Debug)]
struct GuardState {
    /// Writes are allowed until then (`None`: no expiry).
    valid_until: Option<Instant>,
    /// Why the hold ended, once it did.
    lost: Option<String>,
}

/// Ownership held by this run: renewed in the background where the store needs it, checked
/// before every write ([`check`](Self::check)), released at the end.
#[derive(Debug)]
pub struct OwnerGuard {
    what: String,
    state: Arc<Mutex<GuardState>>,
    held: Arc<tokio::sync::Mutex<Option<Box<dyn Held>>>>,
    renewer: Option<JoinHandle<()>>,
    lost: CancellationToken,
    took_over_from: Option<OwnerRecord>,
}

impl OwnerGuard {
    /// Becomes the owner through `ownership`. When another run holds it, retries until `wait`
    /// has passed (`None`: returns at once).
    ///
    /// A takeover from a run that did not release (crashed, killed, or past its lease) is
    /// logged as a warning naming it.
    ///
    /// # Errors
    /// [`Error::OwnedElsewhere`] naming the holder when it is still held after `wait`; the
    /// store's errors.
    pub async fn acquire(
        ownership: Arc<dyn Ownership>,
        claimant: Claimant,
        wait: Option<Duration>,
    ) -> Result<Self, Error> {
        let deadline = wait.map(|wait| Instant::now() + wait);
        let mut announced = false;
        loop {
            let started = Instant::now();
            match ownership.try_acquire(&claimant).await? {
                Attempt::Acquired(held) => return Ok(Self::start(ownership.describe(), held, started)),
                Attempt::HeldBy(holder) => {
                    let now = Instant::now();
                    match deadline {
                        Some(deadline) if now < deadline => {
                            if !announced {
                                info!(owner = %ownership.describe(), holder = %holder, "waiting for the current owner to finish");
                                announced = true;
                            }
                            let retry = poll_interval(&holder);
                            tokio::time::sleep_until((now + retry).min(deadline)).await;
                        }
                        _ => {
                            return Err(Error::OwnedElsewhere {
                                owner: ownership.describe(),
                                holder: Box::new(holder),
                                waited: wait,
                            });
                        }
                    }
                }
            }
        }
    }

    fn start(what: String, held: Box<dyn Held>, started: Instant) -> Self {
        let took_over_from = held.took_over_from().cloned();
        match &took_over_from {
            Some(previous) => warn!(
                owner = %what,
                previous = %previous,
                "taking over from a run that did not let go (killed, crashed, or paused past its lease); \
                 what it wrote after its last checkpoint is undone"
            ),
            None => info!(owner = %what, "this run is the owner"),
        }
        let lease = held.lease();
        let state = Arc::new(Mutex::new(GuardState {
            valid_until: lease.map(|lease| started + lease.valid_for()),
            lost: None,
        }));
        let held = Arc::new(tokio::sync::Mutex::new(Some(held)));
        let lost = CancellationToken::new();
        let renewer = lease.map(|lease| {
            tokio::spawn(renew(
                what.clone(),
                lease,
                Arc::clone(&state),
                Arc::clone(&held),
                lost.clone(),
            ))
        });
        Self {
            what,
            state,
            held,
            renewer,
            lost,
            took_over_from,
        }
    }

    /// The fence: `Ok` while this run may write.
    ///
    /// # Errors
    /// [`Error::LostOwnership`] once the hold lapsed (no successful renewal for the lease
    /// duration minus the margin, by this process's clock) or another run took over.
    pub fn check(&self) -> Result<(), Error> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.lost.is_none() && state.valid_until.is_some_and(|until| Instant::now() >= until) {
            state.lost = Some(lapsed_reason());
            self.lost.cancel();
        }
        match &state.lost {
            Some(reason) => Err(Error::LostOwnership {
                owner: self.what.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Cancelled when the hold is lost, so that a run with nothing to write stops too.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The previous owner when this run took over from one that did not let go.
    pub fn took_over_from(&self) -> Option<&OwnerRecord> {
        self.took_over_from.as_ref()
    }

    /// Stops renewing and lets go (unless the hold was lost), so the next run starts at once.
    /// A failure is logged: the hold then lapses by itself.
    pub async fn release(mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if self.check().is_err() {
            return;
        }
        let held = self.held.lock().await.take();
        if let Some(held) = held
            && let Err(err) = held.release().await
        {
            warn!(owner = %self.what, error = %err, "could not release ownership; it lapses by itself");
        }
    }
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

/// How often a waiting run asks again: soon for a hold that lapses soon.
fn poll_interval(holder: &OwnerRecord) -> Duration {
    let until_expiry = holder
        .expires()
        .and_then(|expires| Duration::try_from(expires.duration_since(Timestamp::now())).ok())
        .unwrap_or(Duration::from_secs(1));
    until_expiry.clamp(Duration::from_millis(200), Duration::from_secs(1))
}

fn lapsed_reason() -> String {
    "its hold lapsed: no renewal succeeded within the lease (the process was paused or cut off from the store)"
        .to_owned()
}

/// The renewal task: renews every `renew_every`; a renewal that finds another owner, or no
/// successful renewal before the hold would lapse, ends the hold.
async fn renew(
    what: String,
    lease: LeaseTiming,
    state: Arc<Mutex<GuardState>>,
    held: Arc<tokio::sync::Mutex<Option<Box<dyn Held>>>>,
    lost: CancellationToken,
) {
    let lose = |reason: String| {
        let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.lost.get_or_insert(reason);
        lost.cancel();
    };
    let mut next = Instant::now() + lease.renew_every;
    loop {
        let valid_until = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .valid_until;
        let wake = valid_until.map_or(next, |until| next.min(until));
        tokio::time::sleep_until(wake).await;
        // A process paused past its lease wakes up here: whoever took over may be writing.
        if valid_until.is_some_and(|until| Instant::now() >= until) {
            warn!(owner = %what, "ownership lapsed; this run stops writing");
            lose(lapsed_reason());
            return;
        }
        let started = Instant::now();
        let mut slot = held.lock().await;
        let Some(hold) = slot.as_mut() else { return };
        match hold.renew().await {
            Ok(Renewal::Renewed) => {
                let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if state.lost.is_none() {
                    state.valid_until = Some(started + lease.valid_for());
                }
                next = started + lease.renew_every;
            }
            Ok(Renewal::Lost(holder)) => {
                let reason = match holder {
                    Some(holder) => format!("another run took over: {holder}"),
                    None => "another run changed the owner record".to_owned(),
                };
                warn!(owner = %what, %reason, "ownership lost; this run stops writing");
                lose(reason);
                return;
            }
            Err(err) => {
                warn!(owner = %what, error = %err, "renewing ownership failed; retrying until the hold lapses");
                next = Instant::now() + (lease.renew_every / 4).max(Duration::from_millis(100));
            }
        }
    }
}
