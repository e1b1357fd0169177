//! [`FileSink`]: one file per container under a directory, laid out by a template.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::Offset;
use kle_core::{Container, ContainerKey, Gap, LogBatch};
use tracing::warn;

use super::state::{FileState, JOURNAL_FILE, Journal, baseline, instance_id, load_journal, resume};
use crate::encode::{Encoder, Format};
use crate::layout::{DEFAULT_LAYOUT, Layout};
use kle_core::Sink;
use kle_core::SinkError;

/// Files kept open at once by default.
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// Builds a [`FileSink`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileSinkBuilder {
    dir: PathBuf,
    layout: String,
    format: Format,
    max_open_files: usize,
    cluster: Option<String>,
}

impl FileSinkBuilder {
    /// A builder for a sink writing under `dir`, with [`DEFAULT_LAYOUT`], the API's bytes with
    /// timestamps ([`Format::RAW_WITH_TIMESTAMPS`]) and [`DEFAULT_MAX_OPEN_FILES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            layout: DEFAULT_LAYOUT.to_owned(),
            format: Format::RAW_WITH_TIMESTAMPS,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            cluster: None,
        }
    }

    /// Sets the cluster whose lines the sink writes: `{cluster}` in the layout renders it,
    /// JSON and text lines carry it, and when the layout has `{cluster}` the length journal is
    /// that cluster's own ([`cluster`](crate::cluster)).
    pub fn with_cluster(mut self, cluster: Option<&str>) -> Self {
        self.cluster = cluster.map(str::to_owned);
        self
    }

    /// Sets the path template (see [`layout`](crate::layout) for the placeholders).
    pub fn with_layout(mut self, layout: impl Into<String>) -> Self {
        self.layout = layout.into();
        self
    }

    /// Sets the format of the files' content.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets how many files stay open at once (at least 1); the least recently written is
    /// closed first.
    pub fn with_max_open_files(mut self, max_open_files: usize) -> Self {
        self.max_open_files = max_open_files;
        self
    }

    /// Checks the layout and creates the directory.
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`] for a bad template; [`SinkError::PermissionDenied`] or
    /// another I/O error when the directory cannot be created.
    pub fn build(self) -> Result<FileSink, SinkError> {
        let mut layout = Layout::parse_for_files(&self.layout)?;
        if let Some(cluster) = &self.cluster {
            layout = layout.with_cluster(cluster);
        }
        let journal = super::config::own_name(&self.layout, self.cluster.as_deref(), JOURNAL_FILE);
        if self.dir.as_os_str().is_empty() {
            return Err(SinkError::InvalidConfig {
                sink: "file",
                reason: "the directory is empty: give the directory to write the files under".into(),
            });
        }
        let mut new_dirs = BTreeSet::new();
        create_dirs(&self.dir, &mut new_dirs)?;
        Ok(FileSink {
            layout,
            encoder: Encoder::new(self.format).with_cluster(self.cluster.as_deref()),
            buf: Vec::with_capacity(64 * 1024),
            routes: HashMap::new(),
            files: HashMap::new(),
            max_open_files: self.max_open_files.max(1),
            clock: 0,
            closed_unsynced: Vec::new(),
            new_dirs,
            lengths: HashMap::new(),
            committed: BTreeMap::new(),
            writers: BTreeMap::new(),
            journal: Journal::new(self.dir.join(journal)),
            restoring: false,
            checked: HashSet::new(),
            root: self.dir,
        })
    }
}

/// Where a container's lines go, decided at its first line.
#[derive(Debug)]
struct Route {
    /// Held so the pointer used as the key cannot be reused by another container.
    container: Arc<Container>,
    path: Arc<Path>,
}

#[derive(Debug)]
struct OpenFile {
    file: Arc<File>,
    last_used: u64,
    /// Written since the last commit.
    dirty: bool,
}

/// Appends each container's lines to a file under a directory.
///
/// - Paths come from a [`Layout`] (default `{namespace}/{pod}/{container}.log`); every value
///   put into a path is a safe single component, so nothing is written outside the directory.
/// - Files are opened for appending (`O_APPEND`) and directories created as needed, so a
///   second run adds to the files of the first. By default a file holds the API's bytes, as
///   `kubectl logs --timestamps` prints them.
/// - At most `max_open_files` stay open; the least recently written is closed first and
///   reopened when its container writes again.
/// - [`commit`](Sink::commit) `fsync`s (`sync_data`) every file written since the previous
///   commit, and every directory that got a new entry, on tokio's blocking pool. Writes go to
///   the page cache directly.
/// - In a checkpointed run ([`restore`](Sink::restore)) the checkpoint holds each file's
///   committed length, and a resumed run cuts back what a crashed run appended after it.
///   [`retire`](Sink::retire) drops a finished instance's files from it, so it holds the live
///   files only; a length journal in the directory keeps the files it no longer lists safe.
///
/// ```no_run
/// use kle_core::Sink;
/// use kle_sinks::encode::Format;
/// use kle_sinks::file::FileSink;
///
/// # async fn demo(batch: kle_core::LogBatch) -> Result<(), kle_core::SinkError> {
/// let mut sink = FileSink::builder("/var/log/k8s")
///     .with_layout("{namespace}/{date}/{pod}.{container}.ndjson")
///     .with_format(Format::Json)
///     .build()?;
/// sink.write(&batch).await?;
/// sink.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileSink {
    root: PathBuf,
    layout: Layout,
    encoder: Encoder,
    buf: Vec<u8>,
    /// Keyed by the address of the batches' `Arc<Container>`.
    routes: HashMap<usize, Route>,
    files: HashMap<Arc<Path>, OpenFile>,
    max_open_files: usize,
    /// Ticks at every use of a file, for least-recently-used eviction.
    clock: u64,
    /// Files closed (evicted, or their container ended) while holding unsynced writes.
    closed_unsynced: Vec<(Arc<Path>, Arc<File>)>,
    /// Directories whose entries changed (a file or directory created in them) since the last commit.
    new_dirs: BTreeSet<PathBuf>,
    /// Current length of every file written since the sink was built.
    lengths: HashMap<Arc<Path>, u64>,
    /// Length of every file (relative to the root) as of the last commit: the checkpoint state.
    /// Files of retired containers are dropped (see [`Sink::retire`]).
    committed: BTreeMap<String, u64>,
    /// The instances that wrote each file (relative to the root) and are not retired.
    writers: BTreeMap<String, BTreeSet<String>>,
    /// Lengths of files before their first append, for files `committed` did not list.
    journal: Journal,
    /// A checkpointed run: files are cut back to their committed length when first opened.
    restoring: bool,
    /// Files already checked against `committed` in this run.
    checked: HashSet<Arc<Path>>,
}

impl FileSink {
    /// A builder for a sink writing under `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileSinkBuilder {
        FileSinkBuilder::new(dir)
    }

    /// The directory the files are written under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path template.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// How many files are open now.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// The file `container`'s lines go to, given the date of its first line.
    pub fn path_for(&self, container: &Container, date: Date) -> PathBuf {
        self.root.join(self.layout.render_path(container, date))
    }

    fn route(&mut self, container: &Arc<Container>, first: Option<Timestamp>) -> Arc<Path> {
        let key = Arc::as_ptr(container) as usize;
        if let Some(route) = self.routes.get(&key) {
            return Arc::clone(&route.path);
        }
        let date = Offset::UTC.to_datetime(first.unwrap_or_else(Timestamp::now)).date();
        let path: Arc<Path> = self.path_for(container, date).into();
        let relative = self.relative(&path);
        self.writers
            .entry(relative)
            .or_default()
            .insert(instance_id(&container.key()));
        self.routes.insert(
            key,
            Route {
                container: Arc::clone(container),
                path: Arc::clone(&path),
            },
        );
        path
    }

    /// `path` relative to the root, as recorded in the checkpoint state.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// On the first open of a file in a checkpointed run: cut off what was appended after the
    /// last checkpoint (by a run that crashed before saving it), so resumed lines are not
    /// written twice. Returns the file's length.
    fn reconcile_length(&mut self, path: &Arc<Path>, file: &File) -> Result<u64, SinkError> {
        let len = file
            .metadata()
            .map_err(|err| SinkError::from_io("reading the length of", path.display(), err))?
            .len();
        if !self.restoring || !self.checked.insert(Arc::clone(path)) {
            return Ok(len);
        }
        // Every file appended to since the checkpoint is in its state or in the journal (merged
        // into `committed` by restore): a file in neither was complete, perhaps a retired
        // container's, and is left whole.
        let Some(committed) = self.committed.get(&self.relative(path)).copied() else {
            return Ok(len);
        };
        if len > committed {
            warn!(file = %path.display(), bytes = len - committed, "discarding what an interrupted run wrote after its last checkpoint; those lines are exported again");
            file.set_len(committed)
                .map_err(|err| SinkError::from_io("truncating", path.display(), err))?;
            return Ok(committed);
        }
        if len < committed {
            warn!(file = %path.display(), expected = committed, found = len, "file is shorter than the checkpoint recorded: was it truncated or rotated by something else?");
        }
        Ok(len)
    }

    /// Appends `pieces`, in order, to `path`'s file.
    fn append(&mut self, path: &Arc<Path>, pieces: &[&[u8]]) -> Result<(), SinkError> {
        let result = self.open(path).and_then(|open| {
            open.dirty = true;
            pieces.iter().try_for_each(|piece| {
                (&*open.file)
                    .write_all(piece)
                    .map_err(|err| SinkError::from_io("writing", path.display(), err))
            })
        });
        if result.is_ok()
            && let Some(len) = self.lengths.get_mut(path)
        {
            *len += pieces.iter().map(|piece| piece.len() as u64).sum::<u64>();
        }
        result
    }

    /// Encodes with `encode` into the sink's buffer and appends that to `path`'s file.
    fn append_encoded(
        &mut self,
        path: &Arc<Path>,
        encode: impl FnOnce(&mut Encoder, &mut Vec<u8>),
    ) -> Result<(), SinkError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode(&mut self.encoder, &mut buf);
        let result = self.append(path, &[&buf]);
        self.buf = buf;
        result
    }

    fn open(&mut self, path: &Arc<Path>) -> Result<&mut OpenFile, SinkError> {
        self.clock += 1;
        if !self.files.contains_key(path) {
            if self.files.len() >= self.max_open_files {
                self.evict_least_recent();
            }
            let file = self.open_file(path)?;
            let len = self.reconcile_length(path, &file)?;
            self.lengths.entry(Arc::clone(path)).or_insert(len);
            self.record_length_before_appending(path, len)?;
            self.files.insert(
                Arc::clone(path),
                OpenFile {
                    file: Arc::new(file),
                    last_used: 0,
                    dirty: false,
                },
            );
        }
        let entry = self.files.get_mut(path).ok_or_else(|| {
            SinkError::from_io(
                "opening",
                path.display(),
                io::Error::other("file vanished from the open set"),
            )
        })?;
        entry.last_used = self.clock;
        Ok(entry)
    }

    /// In a checkpointed run, a file the state does not list gets its length recorded in the
    /// journal before anything is appended, so a crash before the next checkpoint leaves a
    /// length to cut it back to (see [`state`](super::state)).
    fn record_length_before_appending(&mut self, path: &Path, len: u64) -> Result<(), SinkError> {
        let relative = self.relative(path);
        if !self.restoring || self.committed.contains_key(&relative) {
            return Ok(());
        }
        self.journal
            .record(&relative, len)
            .map_err(|err| SinkError::from_io("recording a file length in", self.journal.path().display(), err))?;
        self.committed.insert(relative, len);
        Ok(())
    }

    /// Forgets `relative` (a file of retired instances only): its committed length, its
    /// journal entry, what this run knows of it. A file holding uncommitted lines is kept.
    fn forget_file(&mut self, relative: &str) {
        let path = self.root.join(relative);
        let unsynced = self.files.get(path.as_path()).is_some_and(|open| open.dirty)
            || self.closed_unsynced.iter().any(|(p, _)| **p == *path);
        if unsynced {
            return;
        }
        // Closed, so that a later writer reopens it and records its length first.
        self.files.remove(path.as_path());
        self.writers.remove(relative);
        self.committed.remove(relative);
        self.journal.forget(relative);
        self.lengths.remove(path.as_path());
        self.checked.remove(path.as_path());
    }

    fn open_file(&mut self, path: &Path) -> Result<File, SinkError> {
        if let Some(parent) = path.parent() {
            create_dirs(parent, &mut self.new_dirs)?;
        }
        let opened = OpenOptions::new().append(true).create_new(true).open(path);
        let file = match opened {
            Ok(file) => {
                if let Some(parent) = path.parent() {
                    self.new_dirs.insert(parent.to_path_buf());
                }
                Ok(file)
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new().append(true).open(path),
            Err(err) => Err(err),
        };
        file.map_err(|err| SinkError::from_io("opening", path.display(), err))
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .files
            .iter()
            .min_by_key(|(_, open)| open.last_used)
            .map(|(path, _)| Arc::clone(path));
        if let Some(path) = oldest {
            self.close_file(&path);
        }
    }

    fn close_file(&mut self, path: &Path) {
        if let Some((path, open)) = self.files.remove_entry(path)
            && open.dirty
        {
            // Its writes are synced at the next commit; the descriptor stays open until then.
            self.closed_unsynced.push((path, open.file));
        }
    }
}

#[async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        if batch.lines.is_empty() {
            return Ok(());
        }
        let first = batch.lines.first_timestamp();
        let path = self.route(&batch.container, first);
        if self.encoder.passes_through() {
            // The API's bytes as they came, straight from the network buffer.
            return self.append(&path, &batch.lines.raw_slices());
        }
        self.append_encoded(&path, |encoder, buf| encoder.encode(batch, buf))
    }

    async fn gap(&mut self, gap: &Gap) -> Result<(), SinkError> {
        let path = self.route(&gap.container, gap.until.or(gap.after.map(|c| c.timestamp)));
        self.append_encoded(&path, |encoder, buf| encoder.encode_gap(gap, buf))
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        let mut files: Vec<(Arc<Path>, Arc<File>)> = self.closed_unsynced.clone();
        files.extend(
            self.files
                .iter()
                .filter(|(_, open)| open.dirty)
                .map(|(path, open)| (Arc::clone(path), Arc::clone(&open.file))),
        );
        let journal = self.journal.pending_sync();
        if files.is_empty() && self.new_dirs.is_empty() && journal.is_nothing() {
            return Ok(());
        }
        let dirs = self.new_dirs.clone();
        let journal_path = self.journal.path().to_path_buf();
        let sync = move || {
            // First: a file's appended bytes are only undone on restore if its length before
            // them is durable, and a checkpoint without a retired file may only be saved once
            // the journal has forgotten it too.
            journal
                .run()
                .map_err(|err| SinkError::from_io("syncing", journal_path.display(), err))?;
            sync_all(&files, &dirs).map(|()| journal)
        };
        let journal = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(sync).await.map_err(|err| SinkError::Io {
                action: "syncing files under",
                target: self.root.display().to_string(),
                source: io::Error::other(err),
            })??,
            Err(_) => sync()?,
        };
        self.journal.synced(&journal);
        // Only now: a failed commit leaves everything to be synced by the next one.
        let synced: Vec<Arc<Path>> = self
            .closed_unsynced
            .iter()
            .map(|(path, _)| Arc::clone(path))
            .chain(self.files.iter().filter(|(_, o)| o.dirty).map(|(p, _)| Arc::clone(p)))
            .collect();
        for path in synced {
            if let Some(&len) = self.lengths.get(&path) {
                let relative = self.relative(&path);
                self.committed.insert(relative, len);
            }
        }
        self.closed_unsynced.clear();
        self.new_dirs.clear();
        for open in self.files.values_mut() {
            open.dirty = false;
        }
        Ok(())
    }

    async fn end_container(&mut self, container: &Container) -> Result<(), SinkError> {
        let ended: Vec<usize> = self
            .routes
            .iter()
            .filter(|(_, route)| {
                std::ptr::eq(Arc::as_ptr(&route.container), container) || *route.container == *container
            })
            .map(|(key, _)| *key)
            .collect();
        for key in ended {
            if let Some(route) = self.routes.remove(&key) {
                self.close_file(&route.path);
            }
        }
        self.encoder.forget(container);
        Ok(())
    }

    /// Drops the committed lengths of the instance's files (those no other instance that is not
    /// retired wrote), so the checkpoint state holds only what is live. Safe for a file
    /// written again later, by a pod with the same name: a file the state does not list is
    /// never cut back unless the journal recorded its length before it was appended to.
    async fn retire(&mut self, instance: &ContainerKey) -> Result<(), SinkError> {
        let id = instance_id(instance);
        let mut finished = Vec::new();
        for (file, writers) in &mut self.writers {
            if writers.remove(&id) && writers.is_empty() {
                finished.push(file.clone());
            }
        }
        for file in finished {
            self.forget_file(&file);
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        self.commit().await?;
        self.files.clear();
        self.routes.clear();
        self.buf = Vec::new();
        Ok(())
    }

    fn committed_state(&self) -> Option<serde_json::Value> {
        if !self.restoring {
            return None;
        }
        serde_json::to_value(FileState {
            files: self.committed.clone(),
            writers: self.writers.clone(),
        })
        .ok()
    }

    async fn restore(&mut self, state: Option<&serde_json::Value>) -> Result<(), SinkError> {
        let state = state
            .map(|state| serde_json::from_value::<FileState>(state.clone()))
            .transpose()
            .map_err(|err| SinkError::InvalidConfig {
                sink: "file",
                reason: format!(
                    "the checkpoint's file state is unreadable ({err}); move the checkpoint away to start over"
                ),
            })?;
        let root = self.root.clone();
        let journal_path = self.journal.path().to_path_buf();
        let first_run = state.is_none();
        let (journal, present) = tokio::task::spawn_blocking(move || {
            let mut present = BTreeMap::new();
            if first_run {
                baseline(&root, &root, &mut present)?;
            }
            Ok::<_, io::Error>((load_journal(&journal_path)?, present))
        })
        .await
        .map_err(|err| SinkError::from_io("listing", self.root.display(), io::Error::other(err)))?
        .map_err(|err| SinkError::from_io("listing", self.root.display(), err))?;
        let resumed = resume(state, present, &journal);
        self.journal.restore(journal, resumed.journal);
        self.committed = resumed.state.files;
        self.writers = resumed.state.writers;
        self.restoring = true;
        self.checked.clear();
        Ok(())
    }

    fn describe(&self) -> String {
        format!("file:{}", self.root.display())
    }
}

/// `fsync`s the files' data and the directories whose entries changed.
fn sync_all(files: &[(Arc<Path>, Arc<File>)], dirs: &BTreeSet<PathBuf>) -> Result<(), SinkError> {
    for (path, file) in files {
        file.sync_data()
            .map_err(|err| SinkError::from_io("syncing", path.display(), err))?;
    }
    #[cfg(unix)]
    for dir in dirs {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(|err| SinkError::from_io("syncing directory", dir.display(), err))?;
    }
    #[cfg(not(unix))]
    let _ = dirs;
    Ok(())
}

/// Creates `dir` and its missing ancestors, recording the parent of each one created (its
/// entry must be synced for the new directory to survive a crash).
fn create_dirs(dir: &Path, changed: &mut BTreeSet<PathBuf>) -> Result<(), SinkError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.is_dir())
        .collect();
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {
                let parent = d
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                changed.insert(parent.to_path_buf());
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(err) => return Err(SinkError::from_io("creating directory", d.display(), err)),
        }
    }
    Ok(())
}

// The tests sit beside the backend's other files, not in a `sink/` folder of their own.
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
