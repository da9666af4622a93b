//! The three patch types the API server accepts besides apply.

use serde_json::Value;

/// RFC 7386 JSON merge patch (`application/merge-patch+json`).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    todo!("{target}{patch}")
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) for the
/// built-in kinds, with the list merge keys Kubernetes declares.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    todo!("{target}{patch}")
}

/// RFC 6902 JSON patch (`application/json-patch+json`).
pub fn json_patch(target: &Value, operations: &Value) -> Result<Value, String> {
    todo!("{target}{operations}")
}
