//! Label and field selectors (`labelSelector=`, `fieldSelector=`).

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct LabelSelector {}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        todo!("{text}")
    }
    /// `object` is the whole object; its `metadata.labels` are matched.
    pub fn matches(&self, object: &Value) -> bool {
        todo!("{object}")
    }
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector {}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        todo!("{text}")
    }
    pub fn matches(&self, object: &Value) -> bool {
        todo!("{object}")
    }
}
