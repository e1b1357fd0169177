//! [`FileLock`]: ownership of a checkpoint file through an OS lock on a file beside it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Attempt, Claimant, Held, LeaseTiming, OwnerRecord, Ownership, Renewal};
use crate::error::Error;

/// An exclusive OS lock (`flock` on Unix, `LockFileEx` on Windows) on a lock file, held for the
/// whole run and released by the kernel when the process ends, however it ends: a killed
/// owner's successor starts at once. The file holds the owner's [`OwnerRecord`], for messages.
///
/// A lock binds processes of one machine (or of one volume's mounts, on filesystems that pass
/// locks on); it has no expiry, so a paused owner keeps it until it resumes or dies.
#[derive(Debug, Clone)]
pub struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// A lock on `path` (created with its directory on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The lock file beside a checkpoint file: its name with `.lock` added.
    pub fn beside(checkpoint: &Path) -> Self {
        let mut name = checkpoint.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        Self::new(checkpoint.with_file_name(name))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, action: &str, err: std::io::Error) -> Error {
        Error::Checkpoint {
            store: self.describe(),
            action: action.to_owned(),
            source: err.into(),
        }
    }
}

#[async_trait]
impl Ownership for FileLock {
    async fn try_acquire(&self, claimant: &Claimant) -> Result<Attempt, Error> {
        let path = self.path.clone();
        let record = claimant.record(None);
        tokio::task::spawn_blocking(move || lock(&path, record))
            .await
            .map_err(|err| self.error("locking", std::io::Error::other(err)))?
            .map_err(|err| self.error("locking", err))
    }

    fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }
}

fn lock(path: &Path, record: OwnerRecord) -> std::io::Result<Attempt> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            // The holder writes its record right after locking: a moment may show none yet.
            let holder = read_record(&mut file).unwrap_or_else(|| OwnerRecord {
                holder: "an unknown process (its record is not written yet)".to_owned(),
                ..record
            });
            return Ok(Attempt::HeldBy(holder));
        }
        Err(TryLockError::Error(err)) => return Err(err),
    }
    let previous = read_record(&mut file).filter(|previous| !previous.released);
    write_record(&mut file, &record)?;
    Ok(Attempt::Acquired(Box::new(FileHold { file, record, previous })))
}

fn read_record(file: &mut File) -> Option<OwnerRecord> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_record(file: &mut File, record: &OwnerRecord) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&bytes)
}

#[derive(Debug)]
struct FileHold {
    /// Open and locked for as long as the hold lasts.
    file: File,
    record: OwnerRecord,
    previous: Option<OwnerRecord>,
}

#[async_trait]
impl Held for FileHold {
    fn lease(&self) -> Option<LeaseTiming> {
        None
    }

    fn took_over_from(&self) -> Option<&OwnerRecord> {
        self.previous.as_ref()
    }

    async fn renew(&mut self) -> Result<Renewal, Error> {
        Ok(Renewal::Renewed)
    }

    async fn release(self: Box<Self>) -> Result<(), Error> {
        let FileHold {
            mut file, mut record, ..
        } = *self;
        record.released = true;
        record.renewed = jiff::Timestamp::now();
        // Marked released so that the next owner does not report a takeover; the lock goes
        // with the file.
        tokio::task::spawn_blocking(move || {
            let written = write_record(&mut file, &record);
            let _ = file.unlock();
            written
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|written| written)
        .map_err(|err| Error::Checkpoint {
            store: "lock file".to_owned(),
            action: "releasing".to_owned(),
            source: err.into(),
        })
    }
}
