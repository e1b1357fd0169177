//! [`StdoutConfig`]: the stdout sink as a user describes it. In every build, like the other
//! variants of [`SinkConfig`](crate::SinkConfig); building it needs the cargo feature `stdout`.

use std::io::IsTerminal as _;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::encode::FormatKind;
use kle_core::Sink;
use kle_core::SinkError;

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
    /// The cluster whose lines this sink writes, for a run that names clusters (set with
    /// [`SinkConfig::with_cluster`](crate::SinkConfig::with_cluster), never read from a file).
    #[serde(skip)]
    pub cluster: Option<String>,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        Self {
            format: FormatKind::Text,
            timestamps: false,
            color: ColorChoice::Auto,
            template: None,
            cluster: None,
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
                crate::template::LineTemplate::parse(template)?,
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
            Ok(Box::new(
                super::StdoutSink::new(self.format()).with_cluster(self.cluster.as_deref()),
            ))
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
