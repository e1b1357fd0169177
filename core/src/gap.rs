//! Lines that can no longer be exported, said out loud.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use crate::cursor::Cursor;
use crate::instance::Container;

/// Why lines of a container instance are missing from the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GapReason {
    /// The resumed log starts after the cursor: the kubelet rotated the lines in between away
    /// (the API serves only the current log file).
    Rotated,
    /// The pod was deleted before its log was read to the end.
    PodDeleted,
    /// The previous instance of a restarted container can no longer be read (the kubelet keeps
    /// only the last terminated instance).
    PreviousUnavailable,
    /// The container restarted more than once since its lines were last read: the instances
    /// between the recorded one and the last terminated one are gone.
    InstancesLost {
        /// Instances whose remaining lines are lost.
        instances: u32,
    },
}

/// Lines of a container instance that were not and will not be exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The instance the lines belonged to.
    pub container: Arc<Container>,
    /// Why they are missing.
    pub reason: GapReason,
    /// The position delivered before the gap, when anything was.
    pub after: Option<Cursor>,
    /// The timestamp of the first line delivered after the gap, when known.
    pub until: Option<Timestamp>,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.container)?;
        match self.reason {
            GapReason::Rotated => f.write_str("lines were rotated away by the kubelet before they were read")?,
            GapReason::PodDeleted => f.write_str("the pod was deleted before its log was read to the end")?,
            GapReason::PreviousUnavailable => f.write_str("the previous instance's log is no longer readable")?,
            GapReason::InstancesLost { instances } => write!(
                f,
                "the container restarted again before being read; {instances} instance(s) could not be read"
            )?,
        }
        match (self.after, self.until) {
            (Some(after), Some(until)) => write!(
                f,
                " (lines after {} and before {until} may be missing)",
                after.timestamp
            ),
            (Some(after), None) => write!(f, " (lines after {} are missing)", after.timestamp),
            (None, Some(until)) => write!(f, " (lines before {until} are missing)"),
            (None, None) => Ok(()),
        }
    }
}
