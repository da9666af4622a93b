//! Server-side apply and the `metadata.managedFields` bookkeeping.
//!
//! Field ownership is kept as sets of paths. A path element is spelled as
//! in `fieldsV1`: `f:name` for a field, `k:{"name":"web"}` for the element
//! of a keyed list, `v:"value"` for the element of a primitive set list.
//! A path ends at a leaf (a scalar, an atomic list, an empty map) or at a
//! list element, which is then owned itself (`.` in `fieldsV1`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::patch::{is_primitive_set, list_merge_key};

/// Fields another manager owns with a different value than the apply asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConflict {
    /// (manager, field path such as `.data.key`)
    pub fields: Vec<(String, String)>,
}

impl std::fmt::Display for ApplyConflict {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let described: Vec<String> = self
            .fields
            .iter()
            .map(|(manager, path)| format!("conflict with \"{manager}\": {path}"))
            .collect();
        write!(
            formatter,
            "Apply failed with {} conflict{}: {}",
            self.fields.len(),
            if self.fields.len() == 1 { "" } else { "s" },
            described.join("; ")
        )
    }
}

impl std::error::Error for ApplyConflict {}

/// The manager the API server credits with every field of an object that
/// had no managedFields when it was first applied to.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

type Path = Vec<String>;
type FieldSet = BTreeSet<Path>;

/// Metadata the server maintains; never part of anyone's field set, and
/// never taken from an applied configuration.
const SERVER_OWNED_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Left out of field sets as the API server leaves them out: they identify
/// the object rather than being owned by anyone.
const IDENTITY_FIELDS: &[&str] = &["apiVersion", "kind"];
const IDENTITY_METADATA: &[&str] = &["name", "namespace"];

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Manager {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Manager {
    fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    fn from_json(entry: &Value) -> Option<Self> {
        let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_string);
        let mut fields = FieldSet::new();
        if let Some(tree) = entry.get("fieldsV1") {
            parse_fields_v1(tree, &mut Vec::new(), &mut fields);
        }
        Some(Self {
            manager: text("manager")?,
            operation: text("operation")?,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time").unwrap_or_default(),
            subresource: text("subresource").filter(|name| !name.is_empty()),
            fields,
        })
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), json!(self.manager));
        entry.insert("operation".into(), json!(self.operation));
        entry.insert("apiVersion".into(), json!(self.api_version));
        entry.insert("time".into(), json!(self.time));
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), fields_v1(&self.fields));
        if let Some(subresource) = &self.subresource {
            entry.insert("subresource".into(), json!(subresource));
        }
        Value::Object(entry)
    }
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
    let applied = without_server_metadata(applied);
    let applied_fields = field_set(&applied);
    let api_version = text_at(&applied, "apiVersion");

    let Some(live) = live else {
        let entry = Manager {
            manager: manager.to_string(),
            operation: "Apply".to_string(),
            api_version,
            time: now.to_string(),
            subresource: None,
            fields: applied_fields,
        };
        let mut created = applied;
        write_managers(&mut created, &[entry]);
        return Ok(created);
    };

    let mut managers = read_managers(live);
    if managers.is_empty() {
        // Like the API server: an object nobody tracked yet is credited to
        // one legacy manager, so applies cannot silently take it over.
        let fields = field_set(live);
        if !fields.is_empty() {
            managers.push(Manager {
                manager: BEFORE_FIRST_APPLY.to_string(),
                operation: "Update".to_string(),
                api_version: text_at(live, "apiVersion"),
                time: now.to_string(),
                subresource: None,
                fields,
            });
        }
    }
    let own_index = managers
        .iter()
        .position(|entry| entry.is(manager, "Apply", None));

    // Conflicts: fields the apply would change that someone else owns.
    let mut conflicts = Vec::new();
    for path in &applied_fields {
        if ends_at_list_element(path) || value_at(live, path) == value_at(&applied, path) {
            continue;
        }
        for (index, entry) in managers.iter().enumerate() {
            if Some(index) != own_index && entry.fields.contains(path) {
                conflicts.push((index, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let mut fields: Vec<(String, String)> = conflicts
            .iter()
            .map(|(index, path)| (managers[*index].manager.clone(), display_path(path)))
            .collect();
        fields.sort();
        fields.dedup();
        return Err(ApplyConflict { fields });
    }
    for (index, path) in &conflicts {
        managers[*index].fields.remove(path);
    }

    // Fields this manager applied before but no longer does are removed,
    // unless someone else still owns them (or something beneath them).
    let previously_applied = own_index
        .map(|index| managers[index].fields.clone())
        .unwrap_or_default();
    let mut merged = live.clone();
    for path in previously_applied.difference(&applied_fields) {
        let still_owned = managers.iter().enumerate().any(|(index, entry)| {
            Some(index) != own_index && entry.fields.iter().any(|owned| owned.starts_with(path))
        });
        if !still_owned {
            remove_path(&mut merged, path);
        }
    }
    let merged = merge_applied(&merged, &applied, None);

    let object_changed = without_managed_fields(&merged) != without_managed_fields(live);
    let own_entry = Manager {
        manager: manager.to_string(),
        operation: "Apply".to_string(),
        api_version,
        time: match own_index {
            // A no-op re-apply keeps the entry as it was.
            Some(index) if !object_changed && managers[index].fields == applied_fields => {
                managers[index].time.clone()
            }
            _ => now.to_string(),
        },
        subresource: None,
        fields: applied_fields,
    };
    match own_index {
        Some(index) => managers[index] = own_entry,
        None => managers.push(own_entry),
    }
    managers.retain(|entry| !entry.fields.is_empty());

    let mut result = merged;
    write_managers(&mut result, &managers);
    Ok(result)
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
    let mut managers = base_managers(old, new, subresource);
    let new_fields = field_set(new);
    let (changed, removed) = match old {
        None => (new_fields.clone(), FieldSet::new()),
        Some(old) => {
            let old_fields = field_set(old);
            let changed: FieldSet = new_fields
                .iter()
                .filter(|path| {
                    // A list element changes hands only when it is added;
                    // editing inside it moves just the edited fields.
                    if ends_at_list_element(path) {
                        value_at(old, path).is_none()
                    } else {
                        value_at(old, path) != value_at(new, path)
                    }
                })
                .cloned()
                .collect();
            let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
            (changed, removed)
        }
    };

    for entry in &mut managers {
        if !entry.is(manager, "Update", subresource) {
            entry
                .fields
                .retain(|path| !changed.contains(path) && !removed.contains(path));
        }
    }
    let own_index = managers
        .iter()
        .position(|entry| entry.is(manager, "Update", subresource));
    match own_index {
        Some(index) => {
            let entry = &mut managers[index];
            entry.fields.extend(changed.iter().cloned());
            entry.fields.retain(|path| !removed.contains(path));
            if !changed.is_empty() {
                entry.time = now.to_string();
                entry.api_version = text_at(new, "apiVersion");
            }
        }
        None if !changed.is_empty() => managers.push(Manager {
            manager: manager.to_string(),
            operation: "Update".to_string(),
            api_version: text_at(new, "apiVersion"),
            time: now.to_string(),
            subresource: subresource.map(str::to_string),
            fields: changed,
        }),
        None => {}
    }
    managers.retain(|entry| !entry.fields.is_empty());
    write_managers(new, &managers);
}

/// The entries a write starts from, chosen as the API server does: a
/// client may set managedFields itself (`[{}]` resets them), except
/// through a subresource; otherwise the stored object's entries carry over,
/// so clients unaware of managedFields cannot drop them by accident.
fn base_managers(old: Option<&Value>, new: &Value, subresource: Option<&str>) -> Vec<Manager> {
    let stored = || old.map(read_managers).unwrap_or_default();
    if subresource.is_some() {
        return stored();
    }
    let requested = new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    match requested {
        Some(entries) if entries.len() == 1 && entries[0] == json!({}) => Vec::new(),
        Some(_) => {
            let managers = read_managers(new);
            if managers.iter().all(|entry| entry.fields.is_empty()) {
                stored()
            } else {
                managers
            }
        }
        None => stored(),
    }
}

fn text_at(object: &Value, field: &str) -> String {
    object
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn read_managers(object: &Value) -> Vec<Manager> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(Manager::from_json).collect())
        .unwrap_or_default()
}

fn write_managers(object: &mut Value, managers: &[Manager]) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    if managers.is_empty() {
        metadata.remove("managedFields");
    } else {
        let entries = managers.iter().map(Manager::to_json).collect();
        metadata.insert("managedFields".to_string(), Value::Array(entries));
    }
}

fn without_server_metadata(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|key, _| !SERVER_OWNED_METADATA.contains(&key.as_str()));
    }
    object
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

/// The merge key of `items` under `field` when every element is an object
/// carrying it; None for atomic lists.
fn keyed_list<'a>(
    field: Option<&str>,
    items: impl IntoIterator<Item = &'a Value>,
) -> Option<&'static str> {
    let items: Vec<Value> = items.into_iter().cloned().collect();
    let key = list_merge_key(field?, &items)?;
    items
        .iter()
        .all(|item| item.get(key).is_some())
        .then_some(key)
}

fn key_element(key: &str, item: &Value) -> String {
    let mut identity = Map::new();
    identity.insert(
        key.to_string(),
        item.get(key).cloned().unwrap_or(Value::Null),
    );
    format!("k:{}", Value::Object(identity))
}

fn field_element(name: &str) -> String {
    format!("f:{name}")
}

/// The set of fields `object` sets, without identity and server metadata.
fn field_set(object: &Value) -> FieldSet {
    let mut fields = FieldSet::new();
    let Some(map) = object.as_object() else {
        return fields;
    };
    for (name, value) in map {
        if IDENTITY_FIELDS.contains(&name.as_str()) {
            continue;
        }
        if name == "metadata"
            && let Some(metadata) = value.as_object()
        {
            for (meta_name, meta_value) in metadata {
                let skipped = SERVER_OWNED_METADATA.contains(&meta_name.as_str())
                    || IDENTITY_METADATA.contains(&meta_name.as_str());
                if !skipped {
                    let path = vec![field_element("metadata"), field_element(meta_name)];
                    collect_fields(meta_value, Some(meta_name), path, &mut fields);
                }
            }
            continue;
        }
        collect_fields(value, Some(name), vec![field_element(name)], &mut fields);
    }
    fields
}

fn collect_fields(value: &Value, field: Option<&str>, path: Path, fields: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, child) in map {
                let mut child_path = path.clone();
                child_path.push(field_element(name));
                collect_fields(child, Some(name), child_path, fields);
            }
        }
        Value::Array(items) if !items.is_empty() && field.is_some_and(is_primitive_set) => {
            for item in items {
                let mut item_path = path.clone();
                item_path.push(format!("v:{item}"));
                fields.insert(item_path);
            }
        }
        Value::Array(items) if !items.is_empty() => match keyed_list(field, items) {
            Some(key) => {
                for item in items {
                    let mut item_path = path.clone();
                    item_path.push(key_element(key, item));
                    fields.insert(item_path.clone());
                    // The element's fields, its merge key included, as the API server does.
                    if let Some(map) = item.as_object() {
                        for (name, child) in map {
                            let mut child_path = item_path.clone();
                            child_path.push(field_element(name));
                            collect_fields(child, Some(name), child_path, fields);
                        }
                    }
                }
            }
            None => {
                fields.insert(path);
            }
        },
        _ => {
            fields.insert(path);
        }
    }
}

fn ends_at_list_element(path: &Path) -> bool {
    path.last()
        .is_some_and(|element| element.starts_with("k:") || element.starts_with("v:"))
}

/// Index of the element of `items` a `k:` or `v:` path element names.
fn find_element(items: &[Value], element: &str) -> Option<usize> {
    if let Some(identity) = element.strip_prefix("k:") {
        let identity: Map<String, Value> = serde_json::from_str(identity).ok()?;
        items.iter().position(|item| {
            identity
                .iter()
                .all(|(key, value)| item.get(key) == Some(value))
        })
    } else if let Some(value) = element.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        items.iter().position(|item| *item == value)
    } else {
        None
    }
}

fn value_at<'a>(object: &'a Value, path: &Path) -> Option<&'a Value> {
    let mut current = object;
    for element in path {
        current = match (current, element.strip_prefix("f:")) {
            (Value::Object(map), Some(name)) => map.get(name)?,
            (Value::Array(items), None) => &items[find_element(items, element)?],
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the field or list element at `path`. Maps and lists the
/// removal leaves empty go too, as they disappear from typed objects in the
/// API server. Returns whether anything was removed.
fn remove_path(value: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match value {
        Value::Object(map) => {
            let Some(name) = first.strip_prefix("f:") else {
                return false;
            };
            if rest.is_empty() {
                return map.remove(name).is_some();
            }
            let Some(child) = map.get_mut(name) else {
                return false;
            };
            let removed = remove_path(child, rest);
            if removed && is_empty_container(child) {
                map.remove(name);
            }
            removed
        }
        Value::Array(items) => {
            let Some(index) = find_element(items, first) else {
                return false;
            };
            if rest.is_empty() {
                items.remove(index);
                return true;
            }
            remove_path(&mut items[index], rest)
        }
        _ => false,
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Merges an applied configuration into the live object: maps recursively,
/// keyed lists element by element, set lists as a union, anything else
/// replaced by the applied value.
fn merge_applied(live: &Value, applied: &Value, field: Option<&str>) -> Value {
    match (live, applied) {
        (Value::Object(live_map), Value::Object(applied_map)) => {
            let mut result = live_map.clone();
            for (name, applied_value) in applied_map {
                let merged = match live_map.get(name) {
                    Some(live_value) => merge_applied(live_value, applied_value, Some(name)),
                    None => applied_value.clone(),
                };
                result.insert(name.clone(), merged);
            }
            Value::Object(result)
        }
        (Value::Array(live_items), Value::Array(applied_items)) => {
            if field.is_some_and(is_primitive_set) {
                let mut result = live_items.clone();
                for item in applied_items {
                    if !result.contains(item) {
                        result.push(item.clone());
                    }
                }
                return Value::Array(result);
            }
            let Some(key) = keyed_list(field, live_items.iter().chain(applied_items)) else {
                return applied.clone();
            };
            let mut result = live_items.clone();
            for item in applied_items {
                match result
                    .iter()
                    .position(|live| live.get(key) == item.get(key))
                {
                    Some(index) => result[index] = merge_applied(&result[index], item, None),
                    None => result.push(item.clone()),
                }
            }
            Value::Array(result)
        }
        _ => applied.clone(),
    }
}

/// `.spec.containers[name="web"].image`, the way conflicts are reported.
fn display_path(path: &Path) -> String {
    let mut text = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            text.push('.');
            text.push_str(name);
        } else if let Some(identity) = element.strip_prefix("k:") {
            let parsed: Map<String, Value> = serde_json::from_str(identity).unwrap_or_default();
            let keys: Vec<String> = parsed
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            text.push_str(&format!("[{}]", keys.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            text.push_str(&format!("[={value}]"));
        }
    }
    text
}

/// The `fieldsV1` tree of a field set.
fn fields_v1(fields: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node {
        owned: bool,
        children: BTreeMap<String, Node>,
    }
    fn to_json(node: &Node) -> Value {
        let mut map: Map<String, Value> = node
            .children
            .iter()
            .map(|(element, child)| (element.clone(), to_json(child)))
            .collect();
        // An owned node with children says so with "."; a leaf stays `{}`.
        if node.owned && !map.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        Value::Object(map)
    }
    let mut root = Node::default();
    for path in fields {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.owned = true;
    }
    to_json(&root)
}

fn parse_fields_v1(node: &Value, path: &mut Path, fields: &mut FieldSet) {
    let Some(map) = node.as_object() else {
        return;
    };
    if (map.is_empty() || map.contains_key(".")) && !path.is_empty() {
        fields.insert(path.clone());
    }
    for (element, child) in map {
        if element != "." {
            path.push(element.clone());
            parse_fields_v1(child, path, fields);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "2026-11-25T10:00:00Z";
    const T2: &str = "2026-11-25T11:00:00Z";

    fn config_map(data: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "tsb", "labels": {"app": "tsb"}},
            "data": data
        })
    }

    fn managers(object: &Value) -> Vec<Value> {
        object["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(object: &'a Value, manager: &str) -> &'a Value {
        object["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["manager"] == manager)
            .unwrap_or_else(|| panic!("no managedFields entry for {manager}"))
    }

    #[test]
    fn apply_creates_with_an_apply_entry_in_the_real_format() {
        let created = apply(None, &config_map(json!({"key": "v"})), "kubectl", false, T1).unwrap();
        assert_eq!(created["data"], json!({"key": "v"}));
        assert_eq!(
            managers(&created),
            [json!({
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "v1",
                "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {"f:key": {}}}
            })]
        );
    }

    #[test]
    fn apply_never_takes_server_owned_metadata_from_the_config() {
        let mut applied = config_map(json!({"key": "v"}));
        applied["metadata"]["uid"] = json!("forged");
        applied["metadata"]["resourceVersion"] = json!("999");
        let created = apply(None, &applied, "kubectl", false, T1).unwrap();
        assert!(created["metadata"].get("uid").is_none());
        assert!(created["metadata"].get("resourceVersion").is_none());
        let owned = &entry(&created, "kubectl")["fieldsV1"]["f:metadata"];
        assert!(owned.get("f:uid").is_none() && owned.get("f:name").is_none());
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let config = config_map(json!({"key": "v"}));
        let created = apply(None, &config, "kubectl", false, T1).unwrap();
        let again = apply(Some(&created), &config, "kubectl", false, T2).unwrap();
        assert_eq!(again, created);
    }

    #[test]
    fn omitting_a_previously_applied_field_removes_it() {
        let created = apply(
            None,
            &config_map(json!({"a": "1", "b": "2"})),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        let updated = apply(
            Some(&created),
            &config_map(json!({"a": "1"})),
            "kubectl",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(updated["data"], json!({"a": "1"}));
        assert_eq!(
            entry(&updated, "kubectl")["fieldsV1"]["f:data"],
            json!({"f:a": {}})
        );
        assert_eq!(entry(&updated, "kubectl")["time"], T2);
    }

    #[test]
    fn omitting_every_label_removes_the_emptied_map() {
        let created = apply(None, &config_map(json!({"a": "1"})), "kubectl", false, T1).unwrap();
        let mut config = config_map(json!({"a": "1"}));
        config["metadata"].as_object_mut().unwrap().remove("labels");
        let updated = apply(Some(&created), &config, "kubectl", false, T2).unwrap();
        assert!(updated["metadata"].get("labels").is_none(), "{updated}");
        assert_eq!(
            entry(&updated, "kubectl")["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
    }

    #[test]
    fn omitted_field_stays_when_another_manager_owns_it_too() {
        let created = apply(
            None,
            &config_map(json!({"a": "1", "b": "2"})),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        // A second applier sets the same value for b: shared ownership.
        let shared = apply(
            Some(&created),
            &config_map(json!({"b": "2"})),
            "helm",
            false,
            T1,
        )
        .unwrap();
        let updated = apply(
            Some(&shared),
            &config_map(json!({"a": "1"})),
            "kubectl",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(updated["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(
            entry(&updated, "helm")["fieldsV1"]["f:data"],
            json!({"f:b": {}})
        );
    }

    #[test]
    fn applying_over_a_field_another_manager_updated_is_a_conflict() {
        let created = apply(None, &config_map(json!({"key": "v"})), "kubectl", false, T1).unwrap();
        let mut edited = created.clone();
        edited["data"]["key"] = json!("edited");
        track_update(Some(&created), &mut edited, "kubectl-edit", None, T2);
        let conflict = apply(
            Some(&edited),
            &config_map(json!({"key": "v2"})),
            "kubectl",
            false,
            T2,
        )
        .unwrap_err();
        assert_eq!(
            conflict.fields,
            [("kubectl-edit".to_string(), ".data.key".to_string())]
        );
        assert!(
            conflict
                .to_string()
                .contains("conflict with \"kubectl-edit\": .data.key")
        );
    }

    #[test]
    fn applying_the_value_another_manager_set_is_not_a_conflict() {
        let created = apply(None, &config_map(json!({"key": "v"})), "kubectl", false, T1).unwrap();
        let shared = apply(
            Some(&created),
            &config_map(json!({"key": "v"})),
            "helm",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(
            entry(&shared, "helm")["fieldsV1"]["f:data"],
            json!({"f:key": {}})
        );
        assert_eq!(
            entry(&shared, "kubectl")["fieldsV1"]["f:data"],
            json!({"f:key": {}})
        );
    }

    #[test]
    fn force_takes_ownership_from_the_other_manager() {
        let created = apply(None, &config_map(json!({"key": "v"})), "kubectl", false, T1).unwrap();
        let mut edited = created.clone();
        edited["data"]["key"] = json!("edited");
        track_update(Some(&created), &mut edited, "kubectl-edit", None, T2);
        let forced = apply(
            Some(&edited),
            &config_map(json!({"key": "v2"})),
            "kubectl",
            true,
            T2,
        )
        .unwrap();
        assert_eq!(forced["data"]["key"], "v2");
        // kubectl-edit owned only .data.key, so its entry is gone.
        assert!(
            managers(&forced)
                .iter()
                .all(|entry| entry["manager"] != "kubectl-edit")
        );
        assert_eq!(
            entry(&forced, "kubectl")["fieldsV1"]["f:data"],
            json!({"f:key": {}})
        );
    }

    #[test]
    fn objects_without_managed_fields_belong_to_before_first_apply() {
        let seeded = config_map(json!({"key": "seeded"}));
        let conflict = apply(
            Some(&seeded),
            &config_map(json!({"key": "mine"})),
            "kubectl",
            false,
            T1,
        )
        .unwrap_err();
        assert_eq!(
            conflict.fields,
            [(BEFORE_FIRST_APPLY.to_string(), ".data.key".to_string())]
        );
        let added = apply(
            Some(&seeded),
            &config_map(json!({"other": "x"})),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        assert_eq!(added["data"], json!({"key": "seeded", "other": "x"}));
        assert_eq!(entry(&added, BEFORE_FIRST_APPLY)["operation"], "Update");
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "tsb"},
            "spec": {"template": {"spec": {"containers": containers}}}
        })
    }

    #[test]
    fn keyed_list_items_are_owned_per_element() {
        let created = apply(
            None,
            &deployment(json!([{"name": "web", "image": "web:1"}])),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        assert_eq!(
            entry(&created, "kubectl")["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}
            }}}}})
        );
        // Another manager adds a sidecar: the list merges by name.
        let with_sidecar = apply(
            Some(&created),
            &deployment(json!([{"name": "proxy", "image": "envoy"}])),
            "istio",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(
            with_sidecar["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "web:1"}, {"name": "proxy", "image": "envoy"}])
        );
        // Changing the web image conflicts with nobody; removing the sidecar
        // from istio's config removes only the sidecar.
        let updated = apply(
            Some(&with_sidecar),
            &deployment(json!([{"name": "web", "image": "web:2"}])),
            "kubectl",
            false,
            T2,
        )
        .unwrap();
        let removed = apply(Some(&updated), &deployment(json!([])), "istio", false, T2).unwrap();
        assert_eq!(
            removed["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "web:2"}])
        );
    }

    #[test]
    fn keyed_list_conflicts_name_the_element() {
        let created = apply(
            None,
            &deployment(json!([{"name": "web", "image": "web:1"}])),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        let conflict = apply(
            Some(&created),
            &deployment(json!([{"name": "web", "image": "web:2"}])),
            "ci",
            false,
            T2,
        )
        .unwrap_err();
        assert_eq!(
            conflict.fields,
            [(
                "kubectl".to_string(),
                ".spec.template.spec.containers[name=\"web\"].image".to_string()
            )]
        );
    }

    #[test]
    fn track_update_on_create_owns_every_field() {
        let mut created = config_map(json!({"key": "v"}));
        created["metadata"]["uid"] = json!("u-1");
        track_update(None, &mut created, "kubectl-create", None, T1);
        assert_eq!(
            managers(&created),
            [json!({
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "v1",
                "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {"f:key": {}}}
            })]
        );
    }

    #[test]
    fn track_update_moves_changed_fields_and_drops_empty_entries() {
        let mut created = config_map(json!({"a": "1"}));
        track_update(None, &mut created, "creator", None, T1);
        let mut changed = created.clone();
        changed["data"]["a"] = json!("2");
        changed["data"]["b"] = json!("3");
        track_update(Some(&created), &mut changed, "editor", None, T2);
        assert_eq!(
            entry(&changed, "editor")["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert_eq!(
            entry(&changed, "creator")["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:app": {}}}})
        );

        let mut relabelled = changed.clone();
        relabelled["metadata"]["labels"]["app"] = json!("other");
        track_update(Some(&changed), &mut relabelled, "editor", None, T2);
        assert!(
            managers(&relabelled)
                .iter()
                .all(|entry| entry["manager"] != "creator")
        );
    }

    #[test]
    fn track_update_records_the_subresource_and_ignores_no_op_writes() {
        let mut created = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
        track_update(None, &mut created, "kubectl", None, T1);
        let mut status = created.clone();
        status["status"] = json!({"readyReplicas": 1});
        track_update(
            Some(&created),
            &mut status,
            "controller",
            Some("status"),
            T2,
        );
        let controller = entry(&status, "controller");
        assert_eq!(controller["subresource"], "status");
        assert_eq!(
            controller["fieldsV1"],
            json!({"f:status": {"f:readyReplicas": {}}})
        );

        let mut unchanged = status.clone();
        track_update(Some(&status), &mut unchanged, "someone", None, T2);
        assert_eq!(unchanged, status);
    }

    #[test]
    fn track_update_inside_a_list_element_moves_only_the_edited_field() {
        let created = apply(
            None,
            &deployment(json!([{"name": "web", "image": "web:1"}])),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        let mut edited = created.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
        track_update(Some(&created), &mut edited, "kubectl-set", None, T2);
        assert_eq!(
            entry(&edited, "kubectl-set")["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {"f:image": {}}
            }}}}})
        );
        assert_eq!(
            entry(&edited, "kubectl")["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:name": {}}
            }}}}})
        );
    }

    #[test]
    fn finalizers_are_owned_per_value() {
        let mut config = config_map(json!({"k": "v"}));
        config["metadata"]["finalizers"] = json!(["a.example/x", "b.example/y"]);
        let created = apply(None, &config, "kubectl", false, T1).unwrap();
        assert_eq!(
            entry(&created, "kubectl")["fieldsV1"]["f:metadata"]["f:finalizers"],
            json!({"v:\"a.example/x\"": {}, "v:\"b.example/y\"": {}})
        );
        config["metadata"]["finalizers"] = json!(["a.example/x"]);
        let updated = apply(Some(&created), &config, "kubectl", false, T2).unwrap();
        assert_eq!(updated["metadata"]["finalizers"], json!(["a.example/x"]));
    }

    #[test]
    fn atomic_lists_are_owned_and_replaced_whole() {
        let created = apply(
            None,
            &deployment(json!([{"name": "web", "args": ["--a", "--b"]}])),
            "kubectl",
            false,
            T1,
        )
        .unwrap();
        assert_eq!(
            entry(&created, "kubectl")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
                ["k:{\"name\":\"web\"}"]["f:args"],
            json!({})
        );
        let updated = apply(
            Some(&created),
            &deployment(json!([{"name": "web", "args": ["--c"]}])),
            "kubectl",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(
            updated["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--c"])
        );
    }

    #[test]
    fn conflicts_list_every_manager_and_field() {
        let created = apply(
            None,
            &config_map(json!({"a": "1", "b": "2"})),
            "one",
            false,
            T1,
        )
        .unwrap();
        let shared = apply(
            Some(&created),
            &config_map(json!({"b": "2"})),
            "two",
            false,
            T1,
        )
        .unwrap();
        let conflict = apply(
            Some(&shared),
            &config_map(json!({"a": "x", "b": "y"})),
            "three",
            false,
            T2,
        )
        .unwrap_err();
        assert_eq!(
            conflict.fields,
            [
                ("one".to_string(), ".data.a".to_string()),
                ("one".to_string(), ".data.b".to_string()),
                ("two".to_string(), ".data.b".to_string()),
            ]
        );
        assert!(
            conflict
                .to_string()
                .starts_with("Apply failed with 3 conflicts")
        );
    }

    #[test]
    fn a_manager_keeps_its_update_entry_next_to_its_apply_entry() {
        let created = apply(None, &config_map(json!({"a": "1"})), "kubectl", false, T1).unwrap();
        let mut patched = created.clone();
        patched["data"]["b"] = json!("2");
        track_update(Some(&created), &mut patched, "kubectl", None, T2);
        let entries = managers(&patched);
        let operations: Vec<(&str, &str)> = entries
            .iter()
            .map(|entry| {
                (
                    entry["manager"].as_str().unwrap(),
                    entry["operation"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(operations, [("kubectl", "Apply"), ("kubectl", "Update")]);
    }

    #[test]
    fn track_update_forgets_removed_fields() {
        let mut created = config_map(json!({"a": "1", "b": "2"}));
        track_update(None, &mut created, "creator", None, T1);
        let mut trimmed = created.clone();
        trimmed["data"].as_object_mut().unwrap().remove("b");
        track_update(Some(&created), &mut trimmed, "editor", None, T2);
        assert_eq!(
            entry(&trimmed, "creator")["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:data": {"f:a": {}}})
        );
        // Removing a field changes nothing the editor now owns.
        assert!(
            managers(&trimmed)
                .iter()
                .all(|entry| entry["manager"] != "editor")
        );
    }

    #[test]
    fn track_update_respects_managed_fields_the_client_sets() {
        let mut created = config_map(json!({"a": "1"}));
        track_update(None, &mut created, "creator", None, T1);

        // `[{}]` resets them: only this write's changes are recorded.
        let mut reset = created.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        reset["data"]["b"] = json!("2");
        track_update(Some(&created), &mut reset, "resetter", None, T2);
        let entries = managers(&reset);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["fieldsV1"], json!({"f:data": {"f:b": {}}}));

        // Explicit entries replace the stored ones.
        let mut handed_over = created.clone();
        handed_over["metadata"]["managedFields"][0]["manager"] = json!("new-owner");
        track_update(Some(&created), &mut handed_over, "editor", None, T2);
        assert_eq!(managers(&handed_over).len(), 1);
        assert_eq!(entry(&handed_over, "new-owner")["time"], T1);

        // A write without managedFields keeps the stored ones.
        let mut unaware = created.clone();
        unaware["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        track_update(Some(&created), &mut unaware, "editor", None, T2);
        assert_eq!(managers(&unaware), managers(&created));

        // Through a subresource the request's entries are ignored.
        let mut status = created.clone();
        status["metadata"]["managedFields"] = json!([{}]);
        status["status"] = json!({"phase": "x"});
        track_update(Some(&created), &mut status, "kubelet", Some("status"), T2);
        assert_eq!(managers(&status).len(), 2);
    }

    #[test]
    fn track_update_on_create_takes_every_field_from_entries_the_client_sent() {
        let source = apply(None, &config_map(json!({"a": "1"})), "kubectl", false, T1).unwrap();
        let mut restored = source.clone();
        track_update(None, &mut restored, "restorer", None, T2);
        // A create changes every field, so the creator takes them all from
        // the entries copied along with the object, which then drop out.
        assert_eq!(entry(&restored, "restorer")["operation"], "Update");
        assert!(
            managers(&restored)
                .iter()
                .all(|entry| entry["manager"] != "kubectl")
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let tree = json!({
            "f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}
        });
        let mut fields = FieldSet::new();
        parse_fields_v1(&tree, &mut Vec::new(), &mut fields);
        assert_eq!(fields_v1(&fields), tree);
    }
}
