use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::*;

/// A record store in memory, with compare-and-swap on a counter and a switch to fail.
#[derive(Debug, Default)]
struct MemoryRecord {
    slot: Mutex<Option<(OwnerRecord, u64)>>,
    down: AtomicBool,
}

impl MemoryRecord {
    fn put(&self, record: OwnerRecord) {
        let mut slot = self.slot.lock().unwrap();
        let version = slot.as_ref().map_or(1, |(_, v)| v + 1);
        *slot = Some((record, version));
    }

    fn current(&self) -> Option<OwnerRecord> {
        self.slot.lock().unwrap().as_ref().map(|(r, _)| r.clone())
    }
}

#[async_trait]
impl RecordStore for Arc<MemoryRecord> {
    async fn read(&self) -> Result<Option<(OwnerRecord, RecordVersion)>, Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::InvalidSelection("store down".into()));
        }
        Ok(self
            .slot
            .lock()
            .unwrap()
            .as_ref()
            .map(|(r, v)| (r.clone(), RecordVersion(v.to_string()))))
    }

    async fn write(
        &self,
        record: &OwnerRecord,
        expected: Option<&RecordVersion>,
    ) -> Result<Option<RecordVersion>, Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::InvalidSelection("store down".into()));
        }
        let mut slot = self.slot.lock().unwrap();
        let current = slot.as_ref().map(|(_, v)| RecordVersion(v.to_string()));
        if current.as_ref() != expected {
            return Ok(None);
        }
        let version = slot.as_ref().map_or(1, |(_, v)| v + 1);
        *slot = Some((record.clone(), version));
        Ok(Some(RecordVersion(version.to_string())))
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

fn timing() -> LeaseTiming {
    LeaseTiming::with_duration(Duration::from_secs(3))
}

fn leased(store: &Arc<MemoryRecord>) -> Arc<dyn Ownership> {
    Arc::new(LeasedOwnership::new(Arc::clone(store), timing()))
}

fn ago(secs: i64) -> Timestamp {
    Timestamp::now().checked_sub(SignedDuration::from_secs(secs)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_second_run_is_refused_naming_the_holder() {
    let store = Arc::new(MemoryRecord::default());
    let first = OwnerGuard::acquire(leased(&store), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    assert!(first.took_over_from().is_none());
    let err = OwnerGuard::acquire(leased(&store), Claimant::new("node-b", 22), None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::OwnedElsewhere { holder, .. } if holder.holder == "node-a" && holder.pid == 11),
        "{message}"
    );
    assert!(
        message.contains("node-a pid 11") && message.contains("--wait-for-lock"),
        "{message}"
    );
    first.check().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lapsed_hold_is_taken_over_and_the_previous_holder_named() {
    let store = Arc::new(MemoryRecord::default());
    let mut crashed = Claimant::new("node-a", 11).record(Some(Duration::from_secs(3)));
    crashed.since = ago(60);
    crashed.renewed = ago(4);
    store.put(crashed.clone());
    let guard = OwnerGuard::acquire(leased(&store), Claimant::new("node-b", 22), None)
        .await
        .unwrap();
    assert_eq!(guard.took_over_from(), Some(&crashed));
    assert_eq!(store.current().unwrap().holder, "node-b");
}

#[tokio::test(start_paused = true)]
async fn a_hold_within_its_lease_is_not_taken_over_and_a_released_one_is_free_at_once() {
    let store = Arc::new(MemoryRecord::default());
    let mut live = Claimant::new("node-a", 11).record(Some(Duration::from_secs(3)));
    live.renewed = ago(2);
    store.put(live.clone());
    assert!(
        OwnerGuard::acquire(leased(&store), Claimant::new("node-b", 22), None)
            .await
            .is_err()
    );
    live.released = true;
    store.put(live);
    let guard = OwnerGuard::acquire(leased(&store), Claimant::new("node-b", 22), None)
        .await
        .unwrap();
    assert!(guard.took_over_from().is_none(), "a release is no takeover");
}

#[tokio::test(start_paused = true)]
async fn renewals_keep_the_hold_and_an_unreachable_store_lets_it_lapse() {
    let store = Arc::new(MemoryRecord::default());
    let guard = OwnerGuard::acquire(leased(&store), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    let first = store.current().unwrap().renewed;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        guard.check().unwrap();
    }
    assert!(store.current().unwrap().renewed >= first);
    store.down.store(true, Ordering::SeqCst);
    // Valid for the lease minus the margin after the last renewal started: 3 s - 0.6 s.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    guard.check().unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let err = guard.check().unwrap_err();
    assert!(
        matches!(&err, Error::LostOwnership { reason, .. } if reason.contains("lapsed")),
        "{err}"
    );
    assert!(guard.lost().is_cancelled(), "the run is told to stop");
}

#[tokio::test(start_paused = true)]
async fn a_paused_owner_is_fenced_when_it_resumes() {
    let store = Arc::new(MemoryRecord::default());
    let guard = OwnerGuard::acquire(leased(&store), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    // Like SIGSTOP: the clock jumps past the lease before the renewal task runs again.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(guard.check().is_err(), "expired by its own clock, before any renewal");
    tokio::task::yield_now().await;
    assert!(guard.check().is_err(), "and no late renewal revives it");
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_finds_another_owner_loses_at_once() {
    let store = Arc::new(MemoryRecord::default());
    let guard = OwnerGuard::acquire(leased(&store), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    store.put(Claimant::new("node-b", 22).record(Some(Duration::from_secs(3))));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = guard.check().unwrap_err().to_string();
    assert!(err.contains("another run took over: node-b pid 22"), "{err}");
    guard.release().await;
    assert_eq!(
        store.current().unwrap().holder,
        "node-b",
        "a lost hold releases nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_run_gets_the_hold_when_the_owner_releases() {
    let store = Arc::new(MemoryRecord::default());
    let first = OwnerGuard::acquire(leased(&store), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let ownership = leased(&store);
        async move { OwnerGuard::acquire(ownership, Claimant::new("node-b", 22), Some(Duration::from_secs(30))).await }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!waiter.is_finished());
    first.release().await;
    let second = waiter.await.unwrap().unwrap();
    assert!(second.took_over_from().is_none());
    assert_eq!(store.current().unwrap().holder, "node-b");
    let refused = OwnerGuard::acquire(
        leased(&store),
        Claimant::new("node-c", 33),
        Some(Duration::from_secs(2)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("node-b pid 22") && refused.contains("waited 2.0s"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_file_lock_refuses_a_second_owner_and_is_free_once_its_holder_is_gone() {
    let dir = tempdir();
    let lock = || -> Arc<dyn Ownership> { Arc::new(FileLock::beside(&dir.join(".checkpoint.json"))) };
    let first = OwnerGuard::acquire(lock(), Claimant::new("node-a", 11), None)
        .await
        .unwrap();
    let err = OwnerGuard::acquire(lock(), Claimant::new("node-b", 22), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node-a pid 11") && err.contains(".checkpoint.json.lock"),
        "{err}"
    );
    // Dropped without a release: as if the process died, the lock is gone with the file.
    drop(first);
    let second = OwnerGuard::acquire(lock(), Claimant::new("node-b", 22), None)
        .await
        .unwrap();
    assert_eq!(
        second.took_over_from().map(|r| r.pid),
        Some(11),
        "the takeover names the killed owner"
    );
    second.check().unwrap();
    second.release().await;
    let third = OwnerGuard::acquire(lock(), Claimant::new("node-c", 33), None)
        .await
        .unwrap();
    assert!(third.took_over_from().is_none(), "a released lock is no takeover");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kle-ownership-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
