//! [`SinkConfig`]: the sink a user describes in YAML (or JSON), built into a [`Sink`].

use std::io::IsTerminal as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::error::SinkError;
use crate::layout::{DEFAULT_LAYOUT, Layout};
use crate::s3_config::S3Config;
use crate::sink::Sink;

/// A sink as configured: plain data, separate from the runtime sink it [builds](SinkConfig::build).
///
/// Tagged by `type`, as a user writes it:
/// ```yaml
/// type: stdout
/// format: text        # text | raw | json
/// timestamps: false
/// color: auto         # auto | always | never
/// ```
/// ```yaml
/// type: file
/// dir: /var/log/k8s
/// layout: "{namespace}/{pod}/{container}.log"
/// format: raw         # the API's bytes; with timestamps, as `kubectl logs --timestamps`
/// timestamps: true
/// max_open_files: 256
/// ```
/// ```yaml
/// type: s3
/// url: s3://my-logs/cluster-a
/// compression: zstd
/// ```
/// (see [`S3Config`] for every field).
///
/// Every variant exists in every build; one whose cargo feature is off fails to build with
/// [`SinkError::NotCompiled`], so a configuration file reads the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SinkConfig {
    /// Standard output (feature `stdout`).
    Stdout(StdoutConfig),
    /// Files under a directory (feature `file`).
    File(FileConfig),
    /// Objects in S3 or an S3-compatible store (feature `s3`).
    S3(S3Config),
}

impl SinkConfig {
    /// The sink's `type` (`stdout`, `file`).
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::S3(_) => "s3",
        }
    }

    /// Checks the configuration without building anything (no directory is created).
    ///
    /// # Errors
    /// As [`SinkConfig::build`] would report for the configuration itself.
    pub fn validate(&self) -> Result<(), SinkError> {
        match self {
            SinkConfig::Stdout(config) => config.validate(),
            SinkConfig::File(config) => config.validate(),
            SinkConfig::S3(config) => config.validate(),
        }
    }

    /// How often the delivery loop should commit into this sink, when it has a preference:
    /// the S3 sink's `max_object_age`, since every commit finishes the open objects and more
    /// frequent commits make small objects. `None`: the loop's default (1 s) suits it.
    pub fn preferred_commit_interval(&self) -> Option<std::time::Duration> {
        match self {
            SinkConfig::S3(config) => Some(config.max_object_age()),
            _ => None,
        }
    }

    /// Where `container`'s lines would go, for a dry run: `stdout`, the file's path, or the
    /// S3 object keys with their per-object placeholders left as `{first_ts}` and the like.
    ///
    /// # Errors
    /// An invalid layout, key template or URL, as [`SinkConfig::validate`].
    pub fn destination(&self, container: &kle_core::Container) -> Result<String, SinkError> {
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        match self {
            SinkConfig::Stdout(_) => Ok("stdout".to_owned()),
            SinkConfig::File(config) => {
                let layout = Layout::parse_for_files(&config.layout)?;
                Ok(config
                    .dir
                    .join(layout.render_path(container, today))
                    .display()
                    .to_string())
            }
            SinkConfig::S3(config) => {
                let (bucket, prefix) = config.bucket_and_prefix()?;
                let layout = Layout::parse(&config.key_template)?;
                // Object placeholders render as `_`; the objects' own parts are a `*`.
                let key = layout
                    .render(container, today)
                    .into_iter()
                    .map(|part| {
                        if part.bytes().all(|b| b == b'_' || b == b'-') {
                            "*".to_owned()
                        } else {
                            part
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                Ok(format!("s3://{bucket}/{prefix}{key}{}", config.extension()))
            }
        }
    }

    /// Builds the runtime sink.
    ///
    /// # Errors
    /// [`SinkError::NotCompiled`] for a sink whose feature is off, and the sink's own build
    /// errors (an invalid layout, a directory that cannot be created).
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        match self {
            SinkConfig::Stdout(config) => config.build(),
            SinkConfig::File(config) => config.build(),
            SinkConfig::S3(config) => config.build(),
        }
    }
}

/// The name of a [`Format`] in a configuration; the flags beside it complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FormatKind {
    /// [`Format::Text`].
    Text,
    /// [`Format::Raw`].
    Raw,
    /// [`Format::Json`].
    Json,
    /// [`Format::Template`], standard output only; the template is [`StdoutConfig::template`].
    Template,
}

impl FormatKind {
    /// The format with its flags. `Template` needs its template: see [`StdoutConfig::format`];
    /// here it falls back to plain text.
    pub fn with(self, timestamps: bool, color: bool) -> Format {
        match self {
            FormatKind::Text | FormatKind::Template => Format::Text { color, timestamps },
            FormatKind::Raw => Format::Raw { timestamps },
            FormatKind::Json => Format::Json,
        }
    }

    fn refuse_template(self, sink: &'static str) -> Result<(), SinkError> {
        match self {
            FormatKind::Template => Err(SinkError::InvalidConfig {
                sink,
                reason: "`format: template` is for the stdout sink; use raw, text or json".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// When to colour the text prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    /// When standard output is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour output written to standard output.
    pub fn for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Configuration of the standard-output sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StdoutConfig {
    /// Encoding; default `text`.
    pub format: FormatKind,
    /// Show the API's timestamps (`text`, `raw`); default false.
    pub timestamps: bool,
    /// Colour the `text` prefix; default `auto`.
    pub color: ColorChoice,
    /// The line template of `format: template` (`{namespace}/{pod} {message}`, see
    /// [`LineTemplate`](crate::LineTemplate)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        Self {
            format: FormatKind::Text,
            timestamps: false,
            color: ColorChoice::Auto,
            template: None,
        }
    }
}

impl StdoutConfig {
    /// The configuration for `format`, with the other settings at their defaults.
    pub fn new(format: FormatKind) -> Self {
        Self {
            format,
            ..Self::default()
        }
    }

    /// Sets whether timestamps are shown.
    #[must_use]
    pub fn with_timestamps(mut self, timestamps: bool) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Sets when to colour.
    #[must_use]
    pub fn with_color(mut self, color: ColorChoice) -> Self {
        self.color = color;
        self
    }

    /// Sets the line template and selects `format: template`.
    #[must_use]
    pub fn with_template(mut self, template: impl Into<String>) -> Self {
        self.format = FormatKind::Template;
        self.template = Some(template.into());
        self
    }

    /// Checks the template of `format: template`.
    ///
    /// # Errors
    /// [`SinkError::InvalidConfig`] without a template, [`SinkError::InvalidLayout`] for one
    /// that does not parse.
    pub fn validate(&self) -> Result<(), SinkError> {
        self.template_format().map(|_| ())
    }

    fn template_format(&self) -> Result<Option<Format>, SinkError> {
        match (self.format, &self.template) {
            (FormatKind::Template, Some(template)) => Ok(Some(Format::Template(std::sync::Arc::new(
                crate::LineTemplate::parse(template)?,
            )))),
            (FormatKind::Template, None) => Err(SinkError::InvalidConfig {
                sink: "stdout",
                reason: "`format: template` needs a `template` (--template '{namespace}/{pod} {message}')".into(),
            }),
            _ => Ok(None),
        }
    }

    /// The format written, resolving `color: auto` against the real standard output (plain
    /// text for a template that does not [validate](StdoutConfig::validate)).
    pub fn format(&self) -> Format {
        match self.template_format() {
            Ok(Some(template)) => template,
            _ => self.format.with(self.timestamps, self.color.for_stdout()),
        }
    }

    /// Builds the sink.
    ///
    /// # Errors
    /// [`SinkError::NotCompiled`] without the `stdout` feature.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        self.validate()?;
        #[cfg(feature = "stdout")]
        {
            Ok(Box::new(crate::stdout::StdoutSink::new(self.format())))
        }
        #[cfg(not(feature = "stdout"))]
        {
            Err(SinkError::NotCompiled {
                sink: "stdout",
                feature: "stdout",
            })
        }
    }
}

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
            let sink = crate::file::FileSink::builder(&self.dir)
                .with_layout(&self.layout)
                .with_format(self.format())
                .with_max_open_files(self.max_open_files)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<SinkConfig, String> {
        serde_saphyr::from_str(text).map_err(|err| err.to_string())
    }

    #[test]
    fn stdout_from_yaml_with_defaults() {
        assert_eq!(
            yaml("type: stdout\n").unwrap(),
            SinkConfig::Stdout(StdoutConfig::default())
        );
        let config = yaml("type: stdout\nformat: json\ntimestamps: true\ncolor: never\n").unwrap();
        let SinkConfig::Stdout(stdout) = &config else {
            panic!("{config:?}")
        };
        assert_eq!(stdout.format(), Format::Json);
        let text = StdoutConfig::new(FormatKind::Text)
            .with_timestamps(true)
            .with_color(ColorChoice::Always);
        assert_eq!(
            text.format(),
            Format::Text {
                color: true,
                timestamps: true
            }
        );
        let never = StdoutConfig::new(FormatKind::Text).with_color(ColorChoice::Never);
        assert_eq!(never.format(), Format::PLAIN_TEXT);
    }

    #[test]
    fn file_from_yaml_with_defaults() {
        let config = yaml("type: file\ndir: /var/log/k8s\n").unwrap();
        assert_eq!(config, SinkConfig::File(FileConfig::new("/var/log/k8s")));
        let SinkConfig::File(file) = &config else {
            panic!("{config:?}")
        };
        assert_eq!(file.format(), Format::RAW_WITH_TIMESTAMPS);
        assert_eq!(file.layout, DEFAULT_LAYOUT);

        let custom = yaml(
            "type: file\ndir: out\nlayout: \"{namespace}/{date}/{pod}.ndjson\"\nformat: json\nmax_open_files: 8\n",
        )
        .unwrap();
        let expected = FileConfig {
            max_open_files: 8,
            ..FileConfig::new("out")
                .with_layout("{namespace}/{date}/{pod}.ndjson")
                .with_format(FormatKind::Json, true)
        };
        assert_eq!(custom, SinkConfig::File(expected));
    }

    #[test]
    fn round_trips_through_json() {
        let config = SinkConfig::File(FileConfig::new("/x").with_format(FormatKind::Text, false));
        let text = serde_json::to_string(&config).unwrap();
        assert!(text.contains("\"type\":\"file\""), "{text}");
        assert_eq!(serde_json::from_str::<SinkConfig>(&text).unwrap(), config);
    }

    #[test]
    fn mistakes_are_reported() {
        let unknown_field = yaml("type: file\ndir: x\nlayuot: a\n").unwrap_err();
        assert!(unknown_field.contains("layuot"), "{unknown_field}");
        let unknown_type = yaml("type: kafka\n").unwrap_err();
        assert!(unknown_type.contains("kafka"), "{unknown_type}");
        let missing_dir = yaml("type: file\n").unwrap_err();
        assert!(missing_dir.contains("dir"), "{missing_dir}");
        let bad_format = yaml("type: stdout\nformat: xml\n").unwrap_err();
        assert!(bad_format.contains("xml"), "{bad_format}");
    }

    #[test]
    fn validate_checks_layout_and_numbers_without_the_disk() {
        let bad_layout = SinkConfig::File(FileConfig::new("/nonexistent/dir").with_layout("{nope}"));
        let err = bad_layout.validate().unwrap_err();
        assert!(err.to_string().contains("{nope}"), "{err}");
        assert!(bad_layout.build().is_err());
        let zero = SinkConfig::File(FileConfig {
            max_open_files: 0,
            ..FileConfig::new("/x")
        });
        assert!(matches!(zero.validate(), Err(SinkError::InvalidConfig { .. })));
        assert!(SinkConfig::Stdout(StdoutConfig::default()).validate().is_ok());
    }

    #[cfg(not(feature = "file"))]
    #[test]
    fn a_sink_left_out_of_the_build_names_its_feature() {
        let err = SinkConfig::File(FileConfig::new("/x")).build().err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("feature `file`"), "{message}");
    }

    #[cfg(all(feature = "file", feature = "stdout"))]
    #[test]
    fn builds_boxed_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("logs");
        let sink = SinkConfig::File(FileConfig::new(&root)).build().unwrap();
        assert_eq!(sink.describe(), format!("file:{}", root.display()));
        assert!(root.is_dir(), "build creates the directory");
        let stdout = SinkConfig::Stdout(StdoutConfig::default()).build().unwrap();
        assert_eq!(stdout.describe(), "stdout");
    }
}
