//! What a [`FileSink`](super::FileSink) keeps so that a resumed run can undo a crashed run's
//! uncommitted tail: the checkpoint state ([`FileState`]) and the length journal
//! ([`Journal`]).
//!
//! # Why a journal
//! On restore a file is cut back to the length the checkpoint recorded for it. A file the
//! checkpoint does not list used to be cut back to nothing, as written wholly after the
//! checkpoint. Once the files of retired containers are dropped from the state (so that it
//! does not grow for ever), "not listed" also means "finished and forgotten", and such a file
//! can be appended to again: a StatefulSet's `web-0` recreated under
//! `{namespace}/{pod}/{container}.log`. Cutting it to nothing would destroy exported logs of a
//! pod that is gone.
//!
//! So before the first byte is appended to a file the state does not list, its length then
//! (zero for a new file) is appended to the journal, a file of the sink's own beside the logs.
//! On restore a file is cut back to its length in the checkpoint's state, else to its length
//! in the journal; a file in neither was complete when the checkpoint was saved and is never
//! cut. The journal forgets a file when the state takes over (at restore) or when its writers
//! are retired; a forgotten entry is removed from the journal on disk before the next commit
//! returns, so before any checkpoint that no longer lists the file is saved. File times play
//! no part: a clock stepped back or a file server's clock cannot make a finished file look new.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kle_core::ContainerKey;

/// Files whose names start with this are the exporter's own (checkpoints), never logs.
pub(super) const OWN_FILES_PREFIX: &str = ".kube-log-exporter";

/// The journal's name in the sink's directory.
pub(super) const JOURNAL_FILE: &str = ".kube-log-exporter-file-lengths.journal";

/// The checkpoint state of a [`FileSink`](super::FileSink).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct FileState {
    /// Committed length of each file, by path relative to the root.
    pub(super) files: BTreeMap<String, u64>,
    /// The container instances ([`instance_id`]) that wrote each file and are not retired, so
    /// a later run can retire an instance that only an earlier run wrote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) writers: BTreeMap<String, BTreeSet<String>>,
}

/// How the state names a container instance: the parts of [`Container::key`].
pub(super) fn instance_id(key: &ContainerKey) -> String {
    format!("{}/{}/{}", key.pod_uid, key.container, key.restart_count)
}

/// The lengths files had before a checkpointed run first appended to them, for the files its
/// checkpoint state does not list; see the [module](self) documentation.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    entries: BTreeMap<String, u64>,
    /// Open for appending; `None` until the first entry, and after a rewrite replaced the file.
    appender: Option<Arc<File>>,
    /// Entries appended since the last sync.
    appended: bool,
    /// Entries forgotten since the file was last rewritten: it still holds them.
    stale: bool,
}

/// What a commit does to make the journal durable, on the blocking pool.
#[derive(Debug)]
pub(super) enum JournalSync {
    /// Nothing changed.
    Nothing,
    /// Entries were appended: `fsync` the file.
    Appended(Arc<File>),
    /// Entries were forgotten: replace the file with these bytes.
    Rewrite(PathBuf, Vec<u8>),
}

impl Journal {
    /// The journal kept at `path` (normally [`JOURNAL_FILE`] in the sink's directory).
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            entries: BTreeMap::new(),
            appender: None,
            appended: false,
            stale: false,
        }
    }

    /// Where it is kept.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// How many files it holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records, before anything is appended to `file`, that it is `len` bytes long.
    pub(super) fn record(&mut self, file: &str, len: u64) -> io::Result<()> {
        let appender = match &self.appender {
            Some(appender) => Arc::clone(appender),
            None => {
                let opened = Arc::new(OpenOptions::new().create(true).append(true).open(&self.path)?);
                self.appender = Some(Arc::clone(&opened));
                opened
            }
        };
        let mut line = serde_json::to_vec(&(file, len)).map_err(io::Error::other)?;
        line.push(b'\n');
        // One write with O_APPEND: a crash leaves at most a torn last line, which `load` skips.
        (&*appender).write_all(&line)?;
        self.entries.insert(file.to_owned(), len);
        self.appended = true;
        Ok(())
    }

    /// Drops `file`'s entry (its length is in the state now, or it is retired).
    pub(super) fn forget(&mut self, file: &str) {
        if self.entries.remove(file).is_some() {
            self.stale = true;
        }
    }

    /// At restore: the entries read from disk, and those still needed (see [`resume`]).
    pub(super) fn restore(&mut self, on_disk: BTreeMap<String, u64>, kept: BTreeMap<String, u64>) {
        self.stale = kept != on_disk;
        self.entries = kept;
        self.appender = None;
        self.appended = false;
    }

    /// What the next commit has to do.
    pub(super) fn pending_sync(&self) -> JournalSync {
        if self.stale {
            let mut bytes = Vec::new();
            for entry in &self.entries {
                // Serializing a string and a number does not fail.
                if let Ok(line) = serde_json::to_vec(&entry) {
                    bytes.extend_from_slice(&line);
                    bytes.push(b'\n');
                }
            }
            JournalSync::Rewrite(self.path.clone(), bytes)
        } else if self.appended {
            self.appender
                .as_ref()
                .map_or(JournalSync::Nothing, |file| JournalSync::Appended(Arc::clone(file)))
        } else {
            JournalSync::Nothing
        }
    }

    /// The sync returned by [`pending_sync`](Self::pending_sync) succeeded.
    pub(super) fn synced(&mut self, done: &JournalSync) {
        match done {
            JournalSync::Nothing => {}
            JournalSync::Appended(_) => self.appended = false,
            JournalSync::Rewrite(..) => {
                // The handle points at the replaced file: the next entry reopens the new one.
                self.appender = None;
                self.appended = false;
                self.stale = false;
            }
        }
    }
}

impl JournalSync {
    /// Whether there is nothing to do.
    pub(super) fn is_nothing(&self) -> bool {
        matches!(self, JournalSync::Nothing)
    }

    /// Makes the journal durable: `fsync`s it, or replaces it whole (a new file, synced, then
    /// renamed over the old one, and the directory synced).
    pub(super) fn run(&self) -> io::Result<()> {
        match self {
            JournalSync::Nothing => Ok(()),
            JournalSync::Appended(file) => file.sync_data(),
            JournalSync::Rewrite(path, bytes) => {
                let mut temporary = path.clone().into_os_string();
                temporary.push(".new");
                let temporary = PathBuf::from(temporary);
                let mut file = File::create(&temporary)?;
                file.write_all(bytes)?;
                file.sync_data()?;
                fs::rename(&temporary, path)?;
                #[cfg(unix)]
                if let Some(dir) = path.parent() {
                    File::open(dir)?.sync_all()?;
                }
                Ok(())
            }
        }
    }
}

/// What a resumed sink starts from.
#[derive(Debug)]
pub(super) struct Resumed {
    /// The lengths to cut files back to, and their writers.
    pub(super) state: FileState,
    /// The journal's entries still needed.
    pub(super) journal: BTreeMap<String, u64>,
}

/// Where a checkpointed run starts: from the checkpoint's `state`, with the journal's length
/// for each file the state does not list (a file a crashed run appended to before its next
/// checkpoint); the entries of files the state lists are done with. Without a state (the
/// first checkpointed run), from the files `present` now, as they are; the journal is done
/// with, as it belongs to a checkpoint that is gone.
pub(super) fn resume(
    state: Option<FileState>,
    present: BTreeMap<String, u64>,
    journal: &BTreeMap<String, u64>,
) -> Resumed {
    let Some(mut state) = state else {
        return Resumed {
            state: FileState {
                files: present,
                writers: BTreeMap::new(),
            },
            journal: BTreeMap::new(),
        };
    };
    let kept: BTreeMap<String, u64> = journal
        .iter()
        .filter(|(file, _)| !state.files.contains_key(*file))
        .map(|(file, &len)| (file.clone(), len))
        .collect();
    state.files.extend(kept.iter().map(|(file, &len)| (file.clone(), len)));
    Resumed { state, journal: kept }
}

/// Reads the journal at `path`: no file, no entries. A line that does not parse (the torn end
/// of a crashed append) is skipped; its file was not written to yet.
pub(super) fn load_journal(path: &Path) -> io::Result<BTreeMap<String, u64>> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(err),
    };
    Ok(text
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<(String, u64)>(line).ok())
        .collect())
}

/// Records the length of every file under `dir` (the exporter's own files aside).
pub(super) fn baseline(root: &Path, dir: &Path, lengths: &mut BTreeMap<String, u64>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(OWN_FILES_PREFIX) {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            baseline(root, &path, lengths)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            lengths.insert(relative, entry.metadata()?.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_survives_a_torn_line_and_a_rewrite_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::new(dir.path().join(JOURNAL_FILE));
        journal.record("a.log", 0).unwrap();
        journal.record("b/c.log", 42).unwrap();
        let sync = journal.pending_sync();
        assert!(matches!(sync, JournalSync::Appended(_)));
        sync.run().unwrap();
        journal.synced(&sync);
        assert!(journal.pending_sync().is_nothing());

        // A crash in the middle of an append.
        let mut file = OpenOptions::new().append(true).open(journal.path()).unwrap();
        file.write_all(b"[\"d.log\",1").unwrap();
        let loaded = load_journal(journal.path()).unwrap();
        assert_eq!(loaded, BTreeMap::from([("a.log".into(), 0), ("b/c.log".into(), 42)]));

        journal.forget("a.log");
        let sync = journal.pending_sync();
        assert!(matches!(sync, JournalSync::Rewrite(..)));
        sync.run().unwrap();
        journal.synced(&sync);
        assert_eq!(
            load_journal(journal.path()).unwrap(),
            BTreeMap::from([("b/c.log".into(), 42)])
        );
        // Appending after a rewrite goes to the new file.
        journal.record("e.log", 7).unwrap();
        assert_eq!(load_journal(journal.path()).unwrap().len(), 2);
        assert_eq!(load_journal(&dir.path().join("missing")).unwrap(), BTreeMap::new());
    }

    #[test]
    fn resume_takes_the_journal_for_files_the_state_does_not_list() {
        let journal = BTreeMap::from([("listed.log".to_owned(), 0), ("appended.log".to_owned(), 10)]);
        let state = FileState {
            files: BTreeMap::from([("listed.log".to_owned(), 25)]),
            writers: BTreeMap::from([("listed.log".to_owned(), BTreeSet::from(["uid/app/0".to_owned()]))]),
        };
        let resumed = resume(Some(state), BTreeMap::new(), &journal);
        assert_eq!(
            resumed.state.files,
            BTreeMap::from([("listed.log".to_owned(), 25), ("appended.log".to_owned(), 10)])
        );
        assert_eq!(resumed.state.writers.len(), 1);
        assert_eq!(resumed.journal, BTreeMap::from([("appended.log".to_owned(), 10)]));

        let present = BTreeMap::from([("old.log".to_owned(), 7)]);
        let first = resume(None, present.clone(), &journal);
        assert_eq!(first.state.files, present);
        assert!(first.journal.is_empty());
    }

    #[test]
    fn states_without_writers_still_load() {
        let state: FileState = serde_json::from_str(r#"{"files": {"a.log": 3}}"#).unwrap();
        assert_eq!(state.files["a.log"], 3);
        assert!(state.writers.is_empty());
        let text = serde_json::to_string(&FileState::default()).unwrap();
        assert_eq!(text, r#"{"files":{}}"#, "no writers, no key");
    }
}
