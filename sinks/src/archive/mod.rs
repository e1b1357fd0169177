//! Reading an archive back (feature `read`): the objects the S3 sink wrote under a prefix, or
//! the files the file sink wrote under a directory, as each container's lines, each line once.
//!
//! # How
//! 1. **List** the source once (under `{namespace}/` per selected namespace when the template
//!    starts with it) and parse every key back through its template ([`DEFAULT_KEY_TEMPLATE`]
//!    plus the extension, or the file sink's layout). Keys the template did not write (the
//!    checkpoint object `.kube-log-exporter-checkpoint*.json`, anything else a user put there)
//!    are skipped and counted. A key template must name each object's container
//!    (`{container}`, and `{pod}` or `{pod_uid}`) and its `{first_ts}`, `{last_ts}` and
//!    `{hash}`, as the S3 sink requires; without `{namespace}` every object counts as
//!    namespace `_` (and `-n` selects `_` only).
//! 2. **Prune** before fetching anything: the selectors ([`Filter`]: namespaces, pod and
//!    container expressions) on the key's names, the time range on its `{first_ts}` and
//!    `{last_ts}` (or, for files, the `{date}` of the layout).
//! 3. **The overlap rule** of the S3 sink: among a container's objects with the same
//!    `{first_ts}`, only the one with the latest `{last_ts}` (then the most `{lines}`) is read.
//!    Objects are read in order of `{first_ts}`, and a line at or before the container's last
//!    line read is skipped as a copy when it repeats what was read at that timestamp: that
//!    removes the copies the rule cannot see (a resumed run that cut the same lines at other
//!    points), so every line comes out once. Untimed lines (archives written without
//!    timestamps) cannot be compared and all come out.
//! 4. **Stream**: one object at a time per container, fetched as a stream of chunks and
//!    decompressed as they arrive (zstd with any number of frames, gzip with any number of
//!    members, or none), lines cut across chunks. Memory is bounded by a chunk and its
//!    decompressed form per container being read: one container at a time, or all selected
//!    containers at once with [`ArchiveReader::with_merge`] (a k-way merge by timestamp),
//!    plus about 300 bytes per selected object for the listing.
//! 5. **Gaps**: the markers the sinks wrote where lines were lost come out as
//!    [`Record::Gap`], never as lines.
//!
//! Lines come back as [`LogBatch`]es, so the sinks' encoders ([`Encoder`](crate::encode::Encoder))
//! print them in any format; an archive in `raw` format (the default) printed as `raw` with
//! timestamps is byte-equal to `kubectl logs --timestamps`. NDJSON archives give back the
//! API's bytes from `timestamp` and `message` (or `message_base64`). Archives written as
//! `text` or without timestamps come out line by line as they were written, untimed.
//!
//! ```no_run
//! use kle_sinks::archive::{ArchiveReader, Filter, Record, Source};
//! use kle_sinks::encode::{Encoder, Format};
//! use kle_sinks::s3::S3Config;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Source::open("s3://logs/cluster-a", &S3Config::new("s3://logs"))?;
//! let filter = Filter::builder().with_namespaces(["shop"]).with_since("2026-11-23T10:00:00Z".parse()?).build()?;
//! let mut reading = ArchiveReader::new(source).with_filter(filter).open().await?;
//! let mut encoder = Encoder::new(Format::RAW_WITH_TIMESTAMPS);
//! let mut out = Vec::new();
//! while let Some(record) = reading.next().await? {
//!     match record {
//!         Record::Lines(batch) => encoder.encode(&batch, &mut out),
//!         Record::Gap(gap) => eprintln!("warning: {gap}"),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! [`DEFAULT_KEY_TEMPLATE`]: crate::s3::DEFAULT_KEY_TEMPLATE

mod decode;
mod key;
mod plan;
mod source;
mod stream;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use kle_core::{Container, LogBatch, SinkError};
use regex::Regex;

use crate::encode::Format;
use crate::layout::{DEFAULT_LAYOUT, Layout};
use crate::s3::DEFAULT_KEY_TEMPLATE;
use crate::template::{Placeholder, Segment};
use key::{KeyMatcher, is_own_file};
pub use source::Source;
use stream::{ContainerReader, Merge};

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The source names nothing this build can read.
    #[error("cannot read {source_name:?}: {reason}")]
    InvalidSource {
        /// The source as given.
        source_name: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
    /// The key template (or file layout) cannot be read back.
    #[error("the template {template:?} cannot be read back: {reason}")]
    Template {
        /// The template.
        template: String,
        /// Why.
        reason: String,
    },
    /// A template that does not parse, or that the S3 sink would refuse.
    #[error(transparent)]
    Layout(#[from] SinkError),
    /// A selector that is not a regular expression.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Pattern {
        /// The expression.
        pattern: String,
        /// What the regex parser said.
        reason: String,
    },
    /// The store refused or failed a request.
    #[error("{target}: {message}: {hint}")]
    Store {
        /// The bucket and key (or directory).
        target: String,
        /// What kind of failure.
        failure: StoreFailure,
        /// The store's message.
        message: String,
        /// What to do.
        hint: String,
    },
    /// An object whose key the template wrote but whose content is not what the sinks write.
    #[error("{key} is not an archive object kube-log-exporter wrote: {reason}")]
    NotAnArchive {
        /// The object (or file), relative to the source.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file of a directory source cannot be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// What kind of failure a [`ReadError::Store`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// No such bucket (or directory).
    Missing,
    /// The credentials were refused, or may not read there.
    Denied,
    /// The endpoint did not answer.
    Unreachable,
    /// Anything else.
    Other,
}

/// Which containers and which time range to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    namespaces: Option<Vec<String>>,
    pod: Option<Regex>,
    exclude_pods: Vec<Regex>,
    container: Option<Regex>,
    exclude_containers: Vec<Regex>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl Filter {
    /// A builder; by default everything is read.
    pub fn builder() -> FilterBuilder {
        FilterBuilder::default()
    }
}

/// Builds a [`Filter`]; the expressions are checked by [`FilterBuilder::build`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct FilterBuilder {
    namespaces: Option<Vec<String>>,
    pod: Option<String>,
    exclude_pods: Vec<String>,
    container: Option<String>,
    exclude_containers: Vec<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl FilterBuilder {
    /// Only these namespaces (all when never called).
    pub fn with_namespaces<S: Into<String>>(mut self, namespaces: impl IntoIterator<Item = S>) -> Self {
        self.namespaces = Some(namespaces.into_iter().map(Into::into).collect());
        self
    }

    /// Only pods whose name matches this regular expression.
    pub fn with_pod(mut self, pattern: impl Into<String>) -> Self {
        self.pod = Some(pattern.into());
        self
    }

    /// Leave out pods whose name matches any of these.
    pub fn with_exclude_pods<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.exclude_pods = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Only containers whose name matches this regular expression.
    pub fn with_container(mut self, pattern: impl Into<String>) -> Self {
        self.container = Some(pattern.into());
        self
    }

    /// Leave out containers whose name matches any of these.
    pub fn with_exclude_containers<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.exclude_containers = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Only lines at or after this time.
    pub fn with_since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Only lines at or before this time.
    pub fn with_until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// Checks the expressions.
    ///
    /// # Errors
    /// [`ReadError::Pattern`] for the first that is not a regular expression.
    pub fn build(self) -> Result<Filter, ReadError> {
        let compile = |pattern: &String| {
            Regex::new(pattern).map_err(|err| ReadError::Pattern {
                pattern: pattern.clone(),
                reason: err.to_string(),
            })
        };
        Ok(Filter {
            namespaces: self.namespaces,
            pod: self.pod.as_ref().map(compile).transpose()?,
            exclude_pods: self.exclude_pods.iter().map(compile).collect::<Result<_, _>>()?,
            container: self.container.as_ref().map(compile).transpose()?,
            exclude_containers: self.exclude_containers.iter().map(compile).collect::<Result<_, _>>()?,
            since: self.since,
            until: self.until,
        })
    }
}

/// What reading gives: lines, or a gap.
#[derive(Debug, Clone)]
pub enum Record {
    /// Lines of one container, in order.
    Lines(LogBatch),
    /// Lines the exporter could not export, where they were missing.
    Gap(ArchivedGap),
}

/// A gap marker read from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedGap {
    /// The container whose lines are missing.
    pub container: Arc<Container>,
    /// The time of the marker (the first line after the gap, or the last before it).
    pub at: Option<Timestamp>,
    /// Why: `rotated`, `pod_deleted`, `previous_unavailable`, `instances_lost` (JSON archives
    /// give its detail), or `unknown`.
    pub reason: String,
    /// What the exporter wrote about it.
    pub text: String,
}

impl fmt::Display for ArchivedGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.container.to_string();
        write!(f, "gap in {name}")?;
        if let Some(at) = self.at {
            write!(f, " at {at}")?;
        }
        let text = self
            .text
            .strip_prefix(&name)
            .and_then(|t| t.strip_prefix(": "))
            .unwrap_or(&self.text);
        write!(f, ": {text}")
    }
}

impl ArchivedGap {
    /// Appends the gap in `format`: JSON, an object with `"gap"` set to the reason and
    /// `"message"` to the text (as the sinks write it); otherwise the marker line the sinks write.
    pub fn encode(&self, format: &Format, out: &mut Vec<u8>) {
        let c = &self.container;
        let text = format!("[kube-log-exporter] GAP: {}", self.text);
        let at = self.at.map(|at| format!("{at:.9}"));
        match format {
            Format::Json => {
                // The fields in the order the JSON encoder writes them.
                let string = |value: &str| serde_json::Value::from(value).to_string();
                let _ = writeln!(
                    out,
                    "{{\"timestamp\":{},\"namespace\":{},\"pod\":{},\"container\":{},\"gap\":{},\"message\":{}}}",
                    at.as_deref().map_or("null".into(), string),
                    string(c.namespace()),
                    string(c.pod_name()),
                    string(&c.name),
                    string(&self.reason),
                    string(&text)
                );
            }
            Format::Raw { timestamps } => {
                if let (true, Some(at)) = (timestamps, &at) {
                    let _ = write!(out, "{at} ");
                }
                let _ = writeln!(out, "{text}");
            }
            Format::Text { timestamps, .. } => {
                let _ = write!(out, "{}/{}/{} ", c.namespace(), c.pod_name(), c.name);
                if let (true, Some(at)) = (timestamps, &at) {
                    let _ = write!(out, "{at} ");
                }
                let _ = writeln!(out, "{text}");
            }
            Format::Template(_) => {
                let _ = writeln!(
                    out,
                    "{}/{}/{} {} {text}",
                    c.namespace(),
                    c.pod_name(),
                    c.name,
                    at.as_deref().unwrap_or("-")
                );
            }
        }
    }
}

/// How far a reading got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// Containers selected.
    pub containers: usize,
    /// Objects (files) to read, after pruning and the overlap rule.
    pub objects: usize,
    /// Their bytes, as stored.
    pub object_bytes: u64,
    /// Objects left out as copies under the overlap rule.
    pub overlapped: usize,
    /// Objects left out by the time range, unread.
    pub out_of_range: usize,
    /// Keys under the source the template did not write (the sinks' own files not counted).
    pub foreign: usize,
    /// Objects read to the end.
    pub objects_read: usize,
    /// Bytes fetched, as stored.
    pub bytes: u64,
    /// Lines given out.
    pub lines: u64,
}

/// Reads an archive: a [`Source`], the template its keys were written with, a [`Filter`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ArchiveReader {
    source: Source,
    template: Option<String>,
    filter: Filter,
    merge: bool,
}

impl ArchiveReader {
    /// A reader of everything in `source`, per container, with the sinks' default templates:
    /// [`DEFAULT_KEY_TEMPLATE`] for a store, [`DEFAULT_LAYOUT`] for a directory.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            template: None,
            filter: Filter::default(),
            merge: false,
        }
    }

    /// The key template (a store) or layout (a directory) the archive was written with.
    pub fn with_template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Which containers and time range.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Merge the containers' lines by timestamp instead of one container after another.
    pub fn with_merge(mut self, merge: bool) -> Self {
        self.merge = merge;
        self
    }

    /// Lists the source and plans the reading; nothing is fetched yet.
    ///
    /// # Errors
    /// A template that cannot be read back, or a listing the store refused.
    pub async fn open(self) -> Result<Reading, ReadError> {
        let (layout, matcher) = match &self.source {
            Source::Store { .. } => {
                let layout = Layout::parse(self.template.as_deref().unwrap_or(DEFAULT_KEY_TEMPLATE))?;
                let matcher = KeyMatcher::for_objects(&layout)?;
                (layout, matcher)
            }
            Source::Directory(_) => {
                let layout = Layout::parse_for_files(self.template.as_deref().unwrap_or(DEFAULT_LAYOUT))?;
                let matcher = KeyMatcher::for_files(&layout)?;
                (layout, matcher)
            }
        };
        let mut listed = Vec::new();
        let mut foreign = 0;
        for under in listing_prefixes(&layout, &self.filter) {
            for (key, size) in self.source.list(&under).await? {
                if is_own_file(&key) {
                    continue;
                }
                match matcher.parse(&key) {
                    Some(parsed) => listed.push(plan::Listed { key, size, parsed }),
                    None => foreign += 1,
                }
            }
        }
        let plan = plan::plan(listed, &self.filter);
        let stats = ReadStats {
            containers: plan.containers.len(),
            objects: plan.containers.iter().map(|c| c.objects.len()).sum(),
            object_bytes: plan.containers.iter().flat_map(|c| &c.objects).map(|o| o.size).sum(),
            overlapped: plan.overlapped,
            out_of_range: plan.out_of_range,
            foreign,
            ..ReadStats::default()
        };
        let readers: Vec<_> = plan.containers.into_iter().map(ContainerReader::new).collect();
        let order = if self.merge {
            Order::Merged(Merge::new(readers))
        } else {
            Order::OneByOne(readers.into())
        };
        Ok(Reading {
            source: self.source,
            filter: self.filter,
            order,
            stats,
        })
    }
}

/// Where to list: under each selected namespace when the template starts with `{namespace}/`.
fn listing_prefixes(layout: &Layout, filter: &Filter) -> Vec<String> {
    let starts_with_namespace = layout.components().len() > 1
        && matches!(
            layout.components()[0].as_slice(),
            [Segment::Placeholder(Placeholder::Namespace)]
        );
    match &filter.namespaces {
        Some(namespaces) if starts_with_namespace => {
            let mut namespaces: Vec<_> = namespaces
                .iter()
                .filter(|n| !n.is_empty() && !n.contains('/') && *n != "." && *n != "..")
                .map(|n| format!("{n}/"))
                .collect();
            namespaces.sort();
            namespaces.dedup();
            namespaces
        }
        _ => vec![String::new()],
    }
}

enum Order {
    OneByOne(std::collections::VecDeque<ContainerReader>),
    Merged(Merge),
}

/// An archive being read: records in order, fetched as they are asked for.
pub struct Reading {
    source: Source,
    filter: Filter,
    order: Order,
    stats: ReadStats,
}

impl fmt::Debug for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reading")
            .field("source", &self.source.describe())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Reading {
    /// The next record; `None` at the end.
    ///
    /// # Errors
    /// A store that fails a request, or an object that is not an archive.
    pub async fn next(&mut self) -> Result<Option<Record>, ReadError> {
        match &mut self.order {
            Order::OneByOne(readers) => {
                while let Some(reader) = readers.front_mut() {
                    if let Some(record) = reader.next(&self.source, &self.filter, &mut self.stats).await? {
                        return Ok(Some(record));
                    }
                    readers.pop_front();
                }
                Ok(None)
            }
            Order::Merged(merge) => merge.next(&self.source, &self.filter, &mut self.stats).await,
        }
    }

    /// What was planned and how far the reading got.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }
}
