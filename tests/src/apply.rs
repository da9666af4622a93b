//! Server-side apply and the `metadata.managedFields` bookkeeping.

use serde_json::Value;

/// Fields another manager owns with a different value than the apply asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConflict {
    /// (manager, field path such as `.data.key`)
    pub fields: Vec<(String, String)>,
}

/// Merges `applied` into `live` (None: the object does not exist yet) as
/// `manager`, returning the new object with `managedFields` updated.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    todo!("{live:?}{applied}{manager}{force}{now}")
}

/// Records a non-apply write (create, update, patch) by `manager` in
/// `new.metadata.managedFields` (operation `Update`), taking ownership of the
/// fields that changed from `old`.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    todo!("{old:?}{new}{manager}{subresource:?}{now}")
}
