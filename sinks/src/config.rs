//! [`SinkConfig`]: the sink a user describes in YAML (or JSON), built into a [`Sink`].

use serde::{Deserialize, Serialize};

use kle_core::SinkError;
// Also reachable here for code that names the configs through this module (export_config's tests).
use crate::file::FileConfig;
use crate::layout::Layout;
use crate::object::ObjectStoreConfig;
use crate::stdout::StdoutConfig;
use kle_core::Sink;

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
/// type: s3                 # or `object`: S3, Azure Blob or GCS, by the URL's scheme
/// url: s3://my-logs/cluster-a   # az://container/prefix, gs://bucket/prefix
/// compression: zstd
/// ```
/// (see [`ObjectStoreConfig`] for every field).
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
    /// Objects in S3 or an S3-compatible store (feature `s3`), Azure Blob (feature `azure`) or
    /// Google Cloud Storage (feature `gcp`), picked by the URL's scheme. Written `type: s3`
    /// (its name from when it wrote to S3 only) or `type: object`.
    #[serde(alias = "object")]
    S3(ObjectStoreConfig),
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

    /// The sink for the lines of one cluster, `name`, in a run that names clusters (several
    /// `--context`s, or `--cluster-name`): `{cluster}` in layouts, keys and line templates
    /// renders `name`, JSON lines get a `cluster` field and text lines a `[name] ` before their
    /// prefix. When the layout or key template has `{cluster}`, the sink's own files beside
    /// the output are that cluster's ([`cluster`](crate::cluster)).
    #[must_use]
    pub fn with_cluster(mut self, name: impl Into<String>) -> Self {
        let name = Some(name.into());
        match &mut self {
            SinkConfig::Stdout(config) => config.cluster = name,
            SinkConfig::File(config) => config.cluster = name,
            SinkConfig::S3(config) => config.cluster = name,
        }
        self
    }

    /// Whether the output is split by cluster: the file layout or the key template has
    /// `{cluster}`. Several clusters may share a file or S3 sink only then; standard output is
    /// shared as it is, each line labelled.
    pub fn splits_by_cluster(&self) -> bool {
        match self {
            SinkConfig::Stdout(_) => false,
            SinkConfig::File(config) => Layout::parse_for_files(&config.layout).is_ok_and(|l| l.uses_cluster()),
            SinkConfig::S3(config) => Layout::parse(&config.key_template).is_ok_and(|l| l.uses_cluster()),
        }
    }

    /// Whether `{cluster}` is anywhere in the sink's templates (layout, key template or line
    /// template): such a sink needs the cluster's name even in a run over one cluster.
    pub fn uses_cluster_placeholder(&self) -> bool {
        match self {
            SinkConfig::Stdout(config) => config
                .template
                .as_deref()
                .and_then(|template| crate::template::LineTemplate::parse(template).ok())
                .is_some_and(|template| template.has_placeholder("cluster")),
            SinkConfig::File(_) | SinkConfig::S3(_) => self.splits_by_cluster(),
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

    /// Where `container`'s lines would go, for a dry run: `stdout`, the file's path, or the
    /// object keys with their per-object placeholders left as `{first_ts}` and the like.
    ///
    /// # Errors
    /// An invalid layout, key template or URL, as [`SinkConfig::validate`].
    pub fn destination(&self, container: &kle_core::Container) -> Result<String, SinkError> {
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        match self {
            SinkConfig::Stdout(_) => Ok("stdout".to_owned()),
            SinkConfig::File(config) => {
                let mut layout = Layout::parse_for_files(&config.layout)?;
                if let Some(cluster) = &config.cluster {
                    layout = layout.with_cluster(cluster);
                }
                Ok(config
                    .dir
                    .join(layout.render_path(container, today))
                    .display()
                    .to_string())
            }
            SinkConfig::S3(config) => {
                let valid = config.validated()?;
                // Object placeholders render as `_`; the objects' own parts are a `*`.
                let key = valid
                    .key_layout()
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
                Ok(format!(
                    "{}{}",
                    valid.location().describe_key(&valid.key(&key)),
                    config.extension()
                ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Format, FormatKind};
    use crate::layout::DEFAULT_LAYOUT;
    use crate::stdout::ColorChoice;

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
