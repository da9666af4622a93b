//! `meta.k8s.io/v1` Table responses, asked for by kubectl get with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

use serde_json::Value;

/// What a Table row carries in `object` (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        todo!("{text:?}")
    }
}

/// A Table for `objects` of `kind` (columns chosen per kind; Name and Age
/// for any kind without its own). `resource_version` goes in the list meta.
pub fn table(
    kind: &str,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
) -> Value {
    todo!("{kind}{}{include:?}{resource_version}", objects.len())
}
