//! Label selectors: the exporter's own parser (`kle_core::selectors`), which follows apimachinery's grammar,
//! semantics and error messages, so the fake server and the exporter cannot disagree on the grammar.

use std::collections::BTreeMap;

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(kle_core::selectors::LabelSelector);

impl LabelSelector {
    /// Parses a `labelSelector` query value; the error is the message the API server answers with (400).
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        kle_core::selectors::LabelSelector::parse(input)
            .map(Self)
            .map_err(|e| e.to_string())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.0.matches(labels)
    }
}
