//! [`LeasedOwnership`]: ownership through a record with a lease, replaced only at the version
//! that was read (compare-and-swap), over any [`RecordStore`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{Attempt, Claimant, Held, LeaseTiming, OwnerRecord, Ownership, Renewal};
use crate::error::Error;

/// The version of a stored record (a `resourceVersion`, an ETag), as the store compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion(pub String);

/// Where an [`OwnerRecord`] is kept, with compare-and-swap writes: a Kubernetes Lease
/// ([`KubeLease`](super::KubeLease)), an object written with conditional PUTs.
#[async_trait]
pub trait RecordStore: Send + Sync + fmt::Debug + 'static {
    /// The record and its version, or `None` when there is none yet.
    ///
    /// # Errors
    /// The store could not be read.
    async fn read(&self) -> Result<Option<(OwnerRecord, RecordVersion)>, Error>;

    /// Writes `record` if the stored one is still at `expected` (`None`: only if there is
    /// none). `Ok(None)`: someone else wrote first, nothing was written.
    ///
    /// # Errors
    /// The store could not be written for another reason.
    async fn write(
        &self,
        record: &OwnerRecord,
        expected: Option<&RecordVersion>,
    ) -> Result<Option<RecordVersion>, Error>;

    /// A short description for messages.
    fn describe(&self) -> String;
}

/// Ownership through a record with a lease: free when there is none, when it was released, or
/// when it was not renewed for its lease (by the wall clock: clocks of the runs must agree
/// within the [margin](LeaseTiming::margin)).
#[derive(Debug)]
pub struct LeasedOwnership<S> {
    store: Arc<S>,
    timing: LeaseTiming,
}

impl<S: RecordStore> LeasedOwnership<S> {
    /// Ownership recorded in `store`, held for `timing`.
    pub fn new(store: S, timing: LeaseTiming) -> Self {
        Self {
            store: Arc::new(store),
            timing,
        }
    }

    /// The record store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

#[async_trait]
impl<S: RecordStore> Ownership for LeasedOwnership<S> {
    async fn try_acquire(&self, claimant: &Claimant) -> Result<Attempt, Error> {
        let current = self.store.read().await?;
        let (expected, previous) = match current {
            None => (None, None),
            Some((record, version)) if record.run == claimant.run || record.is_free_at(Timestamp::now()) => {
                let previous = (!record.released && record.run != claimant.run).then_some(record);
                (Some(version), previous)
            }
            Some((record, _)) => return Ok(Attempt::HeldBy(record)),
        };
        let record = claimant.record(Some(self.timing.duration));
        match self.store.write(&record, expected.as_ref()).await? {
            Some(version) => Ok(Attempt::Acquired(Box::new(LeasedHold {
                store: Arc::clone(&self.store),
                timing: self.timing,
                record,
                version,
                previous,
            }))),
            // Another run got there first: it is the holder now.
            None => match self.store.read().await? {
                Some((record, _)) => Ok(Attempt::HeldBy(record)),
                None => Ok(Attempt::HeldBy(previous.unwrap_or(record))),
            },
        }
    }

    fn describe(&self) -> String {
        self.store.describe()
    }
}

#[derive(Debug)]
struct LeasedHold<S> {
    store: Arc<S>,
    timing: LeaseTiming,
    record: OwnerRecord,
    version: RecordVersion,
    previous: Option<OwnerRecord>,
}

#[async_trait]
impl<S: RecordStore> Held for LeasedHold<S> {
    fn lease(&self) -> Option<LeaseTiming> {
        Some(self.timing)
    }

    fn took_over_from(&self) -> Option<&OwnerRecord> {
        self.previous.as_ref()
    }

    async fn renew(&mut self) -> Result<Renewal, Error> {
        let mut record = self.record.clone();
        record.renewed = Timestamp::now();
        match self.store.write(&record, Some(&self.version)).await? {
            Some(version) => {
                self.record = record;
                self.version = version;
                Ok(Renewal::Renewed)
            }
            None => Ok(Renewal::Lost(self.store.read().await?.map(|(record, _)| record))),
        }
    }

    async fn release(self: Box<Self>) -> Result<(), Error> {
        let mut record = self.record.clone();
        record.renewed = Timestamp::now();
        record.released = true;
        self.store.write(&record, Some(&self.version)).await.map(|_| ())
    }
}
