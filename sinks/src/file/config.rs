//! [`FileConfig`]: the file sink as a user describes it. In every build, like the other
//! variants of [`SinkConfig`](crate::SinkConfig); building it needs the cargo feature `file`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::encode::FormatKind;
use crate::layout::{DEFAULT_LAYOUT, Layout};
use kle_core::Sink;
use kle_core::SinkError;

/// Configuration of the file sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileConfig {
    /// Directory the files are written under (created if missing).
    pub dir: PathBuf,
    /// Path template under `dir`; default [`DEFAULT_LAYOUT`].
    #[serde(default = "default_layout")]
    pub layout: String,
    /// Encoding; default `raw`.
    #[serde(default = "default_file_format")]
    pub format: FormatKind,
    /// Keep the API's timestamps (`raw`, `text`); default true.
    #[serde(default = "default_true")]
    pub timestamps: bool,
    /// Files open at once; default 256.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// The cluster whose lines this sink writes, for a run that names clusters (set with
    /// [`SinkConfig::with_cluster`](crate::SinkConfig::with_cluster), never read from a file).
    #[serde(skip)]
    pub cluster: Option<String>,
}

/// `base`, or one cluster's own name for it when `layout` splits the output by `{cluster}`.
pub(super) fn own_name(layout: &str, cluster: Option<&str>, base: &str) -> String {
    let split = Layout::parse_for_files(layout).is_ok_and(|layout| layout.uses_cluster());
    match cluster {
        Some(cluster) if split => crate::cluster::own_file_name(base, cluster),
        _ => base.to_owned(),
    }
}

fn default_layout() -> String {
    DEFAULT_LAYOUT.to_owned()
}

fn default_file_format() -> FormatKind {
    FormatKind::Raw
}

fn default_true() -> bool {
    true
}

fn default_max_open_files() -> usize {
    256
}

impl FileConfig {
    /// The configuration for files under `dir`, with the defaults: the API's bytes with
    /// timestamps, in `{namespace}/{pod}/{container}.log`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            layout: default_layout(),
            format: default_file_format(),
            timestamps: true,
            max_open_files: default_max_open_files(),
            cluster: None,
        }
    }

    /// Sets the path template.
    #[must_use]
    pub fn with_layout(mut self, layout: impl Into<String>) -> Self {
        self.layout = layout.into();
        self
    }

    /// Sets the encoding and whether timestamps are kept.
    #[must_use]
    pub fn with_format(mut self, format: FormatKind, timestamps: bool) -> Self {
        self.format = format;
        self.timestamps = timestamps;
        self
    }

    /// The format written (never coloured).
    pub fn format(&self) -> Format {
        self.format.with(self.timestamps, false)
    }

    /// The name of the sink's own file `base` in [`dir`](Self::dir): one cluster's own
    /// ([`own_file_name`](crate::cluster::own_file_name)) when the layout has `{cluster}` and
    /// the sink is a cluster's, else `base`.
    pub fn own_file(&self, base: &str) -> PathBuf {
        self.dir.join(own_name(&self.layout, self.cluster.as_deref(), base))
    }

    /// Checks the layout and the numbers, without touching the disk.
    ///
    /// # Errors
    /// [`SinkError::InvalidLayout`] or [`SinkError::InvalidConfig`].
    pub fn validate(&self) -> Result<(), SinkError> {
        Layout::parse_for_files(&self.layout)?;
        self.format.refuse_template("file")?;
        if self.dir.as_os_str().is_empty() {
            return Err(SinkError::InvalidConfig {
                sink: "file",
                reason: "`dir` is empty: give the directory to write the files under".into(),
            });
        }
        if self.max_open_files == 0 {
            return Err(SinkError::InvalidConfig {
                sink: "file",
                reason: "`max_open_files` must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Builds the sink, creating the directory.
    ///
    /// # Errors
    /// As [`FileConfig::validate`], an I/O error creating the directory, or
    /// [`SinkError::NotCompiled`] without the `file` feature.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        self.validate()?;
        #[cfg(feature = "file")]
        {
            let sink = super::FileSink::builder(&self.dir)
                .with_layout(&self.layout)
                .with_format(self.format())
                .with_max_open_files(self.max_open_files)
                .with_cluster(self.cluster.as_deref())
                .build()?;
            Ok(Box::new(sink))
        }
        #[cfg(not(feature = "file"))]
        {
            Err(SinkError::NotCompiled {
                sink: "file",
                feature: "file",
            })
        }
    }
}
