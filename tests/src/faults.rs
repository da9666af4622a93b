//! Fault knobs and request counters for tests and benchmarks.

use serde::Deserialize;

/// What a matching request gets instead of its answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// A `metav1.Status` error with this HTTP code.
    Status(u16),
    /// The request is held open without an answer.
    Timeout,
}

/// A fault rule; see tests/README.md.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaultRule {
    pub verb: Option<String>,
    pub path_contains: Option<String>,
    pub nth: Option<u64>,
    pub times: Option<u64>,
    pub action: FaultAction,
}
