//! The three patch types the API server accepts besides apply.

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch (`application/merge-patch+json`).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch_fields) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    for (key, patch_value) in patch_fields {
        if patch_value.is_null() {
            result.remove(key);
        } else {
            let merged = merge_patch(result.get(key).unwrap_or(&Value::Null), patch_value);
            result.insert(key.clone(), merged);
        }
    }
    Value::Object(result)
}

/// The key that identifies elements of the list stored under `field`, for
/// the built-in kinds (their `patchMergeKey` tags). None: the list is
/// replaced as a whole (or, for [`is_primitive_set`] lists, merged as a set).
///
/// `elements` are the list's elements (live and patch), needed for `ports`:
/// container ports are keyed by `containerPort`, service ports by `port`.
pub fn list_merge_key(field: &str, elements: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" => {
            let container_ports = elements
                .iter()
                .any(|element| element.get("containerPort").is_some());
            Some(if container_ports {
                "containerPort"
            } else {
                "port"
            })
        }
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

/// Lists of primitives that merge as a set instead of being replaced.
pub fn is_primitive_set(field: &str) -> bool {
    field == "finalizers"
}

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Strategic merge patch (`application/strategic-merge-patch+json`) for the
/// built-in kinds, with the list merge keys Kubernetes declares.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let Value::Object(patch_fields) = patch else {
        return Err("a strategic merge patch must be a JSON object".to_string());
    };
    let original = match target {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    // `$patch: delete` at the top level empties the object.
    Ok(Value::Object(
        merge_map(original, patch_fields)?.unwrap_or_default(),
    ))
}

/// Merges `patch` into `original`; None when the patch deletes the map.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, String> {
    match patch.get(PATCH_DIRECTIVE) {
        None => {}
        Some(Value::String(directive)) => match directive.as_str() {
            "merge" => {}
            "delete" => return Ok(None),
            "replace" => {
                // The patch becomes the map, its directives resolved against nothing.
                let mut rest = patch.clone();
                rest.remove(PATCH_DIRECTIVE);
                return merge_map(Map::new(), &rest);
            }
            other => return Err(format!("unknown $patch directive {other:?} on a map")),
        },
        Some(other) => return Err(format!("$patch must be a string, got {other}")),
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keys = strings(retain, RETAIN_KEYS)?;
        original.retain(|key, _| keys.iter().any(|kept| kept == key));
    }

    // $setElementOrder places server-only elements by where they were
    // before this patch.
    let lists_before: Map<String, Value> = patch
        .keys()
        .filter_map(|key| key.strip_prefix(SET_ELEMENT_ORDER))
        .filter_map(|list| Some((list.to_string(), original.get(list)?.clone())))
        .collect();

    for (key, patch_value) in patch {
        if key == PATCH_DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        {
            continue;
        }
        if patch_value.is_null() {
            original.remove(key);
            continue;
        }
        let merged = match (original.remove(key), patch_value) {
            (Some(Value::Object(live)), Value::Object(patch_map)) => {
                merge_map(live, patch_map)?.map(Value::Object)
            }
            (_, Value::Object(patch_map)) => merge_map(Map::new(), patch_map)?.map(Value::Object),
            (Some(Value::Array(live)), Value::Array(patch_list)) => {
                Some(Value::Array(merge_list(key, live, patch_list)?))
            }
            (_, Value::Array(patch_list)) => {
                Some(Value::Array(merge_list(key, Vec::new(), patch_list)?))
            }
            (_, scalar) => Some(scalar.clone()),
        };
        if let Some(value) = merged {
            original.insert(key.clone(), value);
        }
    }

    for (key, directive_value) in patch {
        if let Some(list) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let doomed = directive_value
                .as_array()
                .ok_or_else(|| format!("{key} must be a list"))?;
            if let Some(Value::Array(items)) = original.get_mut(list) {
                items.retain(|item| !doomed.contains(item));
            }
        }
    }
    for (key, order) in patch {
        if let Some(list) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let order = order
                .as_array()
                .ok_or_else(|| format!("{key} must be a list"))?;
            if let Some(Value::Array(items)) = original.get_mut(list) {
                let before = lists_before
                    .get(list)
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                let taken = std::mem::take(items);
                *items = order_elements(list, taken, order, before);
            }
        }
    }
    Ok(Some(original))
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| format!("{what} must be a list of strings"))
}

fn merge_list(field: &str, original: Vec<Value>, patch: &[Value]) -> Result<Vec<Value>, String> {
    let replace_all = patch
        .iter()
        .any(|element| element.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    let (original, patch_elements): (Vec<Value>, Vec<&Value>) = if replace_all {
        let rest = patch
            .iter()
            .filter(|element| element.get(PATCH_DIRECTIVE).is_none())
            .collect();
        (Vec::new(), rest)
    } else {
        (original, patch.iter().collect())
    };

    let patch_order: Vec<Value> = patch_elements.iter().copied().cloned().collect();
    if is_primitive_set(field) {
        let mut merged = original.clone();
        for element in &patch_elements {
            if !merged.contains(element) {
                merged.push((*element).clone());
            }
        }
        return Ok(order_elements(field, merged, &patch_order, &original));
    }

    let all_elements: Vec<Value> = original
        .iter()
        .chain(patch_elements.iter().copied())
        .cloned()
        .collect();
    let merge_key =
        list_merge_key(field, &all_elements).filter(|_| all_elements.iter().all(Value::is_object));
    let Some(merge_key) = merge_key else {
        // Atomic list: the patch's elements replace the live ones.
        return Ok(patch_elements.into_iter().cloned().collect());
    };

    let mut merged = original.clone();
    for element in patch_elements {
        let Value::Object(patch_map) = element else {
            return Err(format!(
                "{field}: expected objects in a list merged by {merge_key}"
            ));
        };
        let key_value = patch_map.get(merge_key).ok_or_else(|| {
            format!("{field}: element does not contain declared merge key {merge_key}: {element}")
        })?;
        if patch_map.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            merged.retain(|live| live.get(merge_key) != Some(key_value));
            continue;
        }
        match merged
            .iter()
            .position(|live| live.get(merge_key) == Some(key_value))
        {
            Some(index) => {
                let live = match merged.remove(index) {
                    Value::Object(live) => live,
                    _ => Map::new(),
                };
                if let Some(result) = merge_map(live, patch_map)? {
                    merged.insert(index, Value::Object(result));
                }
            }
            None => {
                if let Some(result) = merge_map(Map::new(), patch_map)? {
                    merged.push(Value::Object(result));
                }
            }
        }
    }
    Ok(order_elements(field, merged, &patch_order, &original))
}

/// Orders a merged list as the API server does: the elements `order`
/// names come in that order; the others (known only to the server) keep
/// their relative order, each placed before the first ordered element that
/// came after it in `original`.
fn order_elements(
    field: &str,
    items: Vec<Value>,
    order: &[Value],
    original: &[Value],
) -> Vec<Value> {
    let merge_key = list_merge_key(field, &items);
    let identity = |item: &Value| -> Value {
        match (merge_key, item) {
            (Some(key), Value::Object(map)) => map.get(key).cloned().unwrap_or(Value::Null),
            _ => item.clone(),
        }
    };
    let position_in = |list: &[Value], item: &Value| {
        let wanted = identity(item);
        list.iter().position(|other| identity(other) == wanted)
    };
    let (mut ordered, mut server_only): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|item| position_in(order, item).is_some());
    ordered.sort_by_key(|item| position_in(order, item));
    server_only.sort_by_key(|item| position_in(original, item).unwrap_or(usize::MAX));

    let mut result = Vec::with_capacity(ordered.len() + server_only.len());
    let mut server_only = server_only.into_iter().peekable();
    for item in ordered {
        while let Some(next) = server_only.peek() {
            match (position_in(original, next), position_in(original, &item)) {
                (Some(server_index), Some(item_index)) if server_index < item_index => {
                    result.extend(server_only.next());
                }
                _ => break,
            }
        }
        result.push(item);
    }
    result.extend(server_only);
    result
}

/// RFC 6902 JSON patch (`application/json-patch+json`).
pub fn json_patch(target: &Value, operations: &Value) -> Result<Value, String> {
    let operations = operations
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    let mut document = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        apply_operation(&mut document, operation)
            .map_err(|error| format!("JSON patch operation {index}: {error}"))?;
    }
    Ok(document)
}

fn apply_operation(document: &mut Value, operation: &Value) -> Result<(), String> {
    let field = |name: &str| -> Result<&Value, String> {
        operation
            .get(name)
            .ok_or_else(|| format!("missing {name:?} in {operation}"))
    };
    let text = |name: &str| -> Result<&str, String> {
        field(name)?
            .as_str()
            .ok_or_else(|| format!("{name:?} must be a string in {operation}"))
    };
    let op = text("op")?;
    let path = parse_pointer(text("path")?)?;
    match op {
        "add" => add(document, &path, field("value")?.clone()),
        "remove" => remove(document, &path).map(drop),
        "replace" => {
            let value = field("value")?.clone();
            let slot = resolve_mut(document, &path)?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(text("from")?)?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err("cannot move a value into one of its children".to_string());
            }
            let value = remove(document, &from)?;
            add(document, &path, value)
        }
        "copy" => {
            let from = parse_pointer(text("from")?)?;
            let value = resolve_mut(document, &from)?.clone();
            add(document, &path, value)
        }
        "test" => {
            let expected = field("value")?;
            let actual = resolve_mut(document, &path)?;
            if actual == expected {
                Ok(())
            } else {
                Err(format!(
                    "test failed at {}: found {actual}, expected {expected}",
                    text("path")?
                ))
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// RFC 6901: "" is the whole document, otherwise `/`-separated tokens with
/// `~1` for `/` and `~0` for `~`.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {pointer:?} must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(token: &str, length: usize, allow_end: bool) -> Result<usize, String> {
    let valid_digits = !token.is_empty()
        && token.chars().all(|character| character.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index: usize = if valid_digits {
        token
            .parse()
            .map_err(|_| format!("array index {token:?} is too large"))?
    } else {
        return Err(format!("{token:?} is not an array index"));
    };
    let limit = if allow_end {
        length
    } else {
        length.saturating_sub(1)
    };
    if index > limit || (!allow_end && length == 0) {
        return Err(format!(
            "array index {index} is out of bounds (length {length})"
        ));
    }
    Ok(index)
}

fn resolve_mut<'a>(document: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut current = document;
    for token in path {
        current = match current {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("path member {token:?} does not exist"))?,
            Value::Array(items) => {
                let index = array_index(token, items.len(), false)?;
                &mut items[index]
            }
            _ => return Err(format!("cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(current)
}

fn add(document: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent_path)) = path.split_last() else {
        *document = value;
        return Ok(());
    };
    match resolve_mut(document, parent_path)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
            } else {
                let index = array_index(last, items.len(), true)?;
                items.insert(index, value);
            }
            Ok(())
        }
        _ => Err(format!("cannot add {last:?} to a scalar")),
    }
}

fn remove(document: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err("cannot remove the whole document".to_string());
    };
    match resolve_mut(document, parent_path)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("path member {last:?} does not exist")),
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Ok(items.remove(index))
        }
        _ => Err(format!("cannot remove {last:?} from a scalar")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_maps_and_null_deletes() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        let patch = json!({"a": "z", "c": {"f": null, "h": 1}, "list": [3]});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"a": "z", "c": {"d": "e", "h": 1}, "list": [3]})
        );
    }

    #[test]
    fn merge_patch_rfc7386_examples() {
        assert_eq!(
            merge_patch(&json!({"a": "b"}), &json!({"a": null})),
            json!({})
        );
        assert_eq!(
            merge_patch(&json!({"a": [{"b": "c"}]}), &json!({"a": [1]})),
            json!({"a": [1]})
        );
        assert_eq!(
            merge_patch(&json!(["a", "b"]), &json!(["c", "d"])),
            json!(["c", "d"])
        );
        assert_eq!(merge_patch(&json!({"a": "b"}), &json!(["c"])), json!(["c"]));
        assert_eq!(
            merge_patch(&json!({"e": null}), &json!({"a": 1})),
            json!({"e": null, "a": 1})
        );
        assert_eq!(
            merge_patch(&json!("string"), &json!({"a": {"bb": {"ccc": null}}})),
            json!({"a": {"bb": {}}})
        );
    }

    #[test]
    fn json_patch_add_remove_replace() {
        let target = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let operations = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "replace", "path": "/list/0", "value": 10},
            {"op": "add", "path": "/list/1", "value": 15},
            {"op": "add", "path": "/list/-", "value": 30}
        ]);
        assert_eq!(
            json_patch(&target, &operations).unwrap(),
            json!({"metadata": {"labels": {"b": "2"}}, "list": [10, 15, 2, 30]})
        );
    }

    #[test]
    fn json_patch_move_copy_and_test() {
        let target = json!({"a": {"x": 1}, "b": {}});
        let operations = json!([
            {"op": "test", "path": "/a/x", "value": 1},
            {"op": "copy", "from": "/a/x", "path": "/b/y"},
            {"op": "move", "from": "/a", "path": "/c"}
        ]);
        assert_eq!(
            json_patch(&target, &operations).unwrap(),
            json!({"b": {"y": 1}, "c": {"x": 1}})
        );
    }

    #[test]
    fn json_patch_unescapes_pointer_tokens() {
        let target = json!({"metadata": {"annotations": {}}});
        let operations = json!([
            {"op": "add", "path": "/metadata/annotations/tetrate.io~1owner", "value": "mp"},
            {"op": "add", "path": "/metadata/annotations/a~0b", "value": "tilde"}
        ]);
        assert_eq!(
            json_patch(&target, &operations).unwrap(),
            json!({"metadata": {"annotations": {"tetrate.io/owner": "mp", "a~b": "tilde"}}})
        );
    }

    #[test]
    fn json_patch_replaces_the_whole_document_at_the_root() {
        let result = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "replace", "path": "", "value": {"b": 2}}]),
        );
        assert_eq!(result.unwrap(), json!({"b": 2}));
    }

    #[test]
    fn json_patch_errors_leave_no_partial_result() {
        let target = json!({"a": 1, "list": [1]});
        for (operations, fragment) in [
            (
                json!([{"op": "test", "path": "/a", "value": 2}]),
                "test failed",
            ),
            (
                json!([{"op": "remove", "path": "/missing"}]),
                "does not exist",
            ),
            (
                json!([{"op": "replace", "path": "/missing", "value": 1}]),
                "does not exist",
            ),
            (
                json!([{"op": "add", "path": "/list/5", "value": 1}]),
                "out of bounds",
            ),
            (
                json!([{"op": "add", "path": "/list/01", "value": 1}]),
                "not an array index",
            ),
            (
                json!([{"op": "add", "path": "/missing/child", "value": 1}]),
                "does not exist",
            ),
            (json!([{"op": "frobnicate", "path": "/a"}]), "unknown op"),
            (
                json!([{"op": "add", "path": "a", "value": 1}]),
                "must start with '/'",
            ),
            (json!([{"op": "add", "path": "/b"}]), "missing \"value\""),
            (
                json!([{"op": "move", "from": "/list", "path": "/list/0"}]),
                "its children",
            ),
            (json!({"op": "add"}), "list of operations"),
        ] {
            let error = json_patch(&target, &operations).unwrap_err();
            assert!(error.contains(fragment), "{operations}: {error}");
        }
    }

    #[test]
    fn strategic_merge_merges_maps_and_null_deletes() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": {"y": "2"}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "data": {"x": "1", "y": "2"}})
        );
    }

    #[test]
    fn strategic_merge_replaces_primitive_and_unkeyed_lists() {
        let target =
            json!({"spec": {"args": ["a", "b"], "tolerations": [{"key": "x"}, {"key": "y"}]}});
        let patch = json!({"spec": {"args": ["c"], "tolerations": [{"key": "z"}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"args": ["c"], "tolerations": [{"key": "z"}]}})
        );
    }

    #[test]
    fn strategic_merge_merges_finalizers_as_a_set() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"finalizers": ["b", "c"]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}})
        );
    }

    // Without $setElementOrder the API server puts new elements before the
    // server-only elements that follow the patched ones (apimachinery's
    // normalizeElementOrder); these expectations follow it.
    #[test]
    fn strategic_merge_merges_keyed_lists_by_their_key() {
        let target = json!({"spec": {"containers": [
            {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}});
        let patch = json!({"spec": {"containers": [
            {"name": "web", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "debug", "image": "busybox"}
        ]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"containers": [
                {"name": "web", "image": "web:1",
                 "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]},
                {"name": "debug", "image": "busybox"},
                {"name": "sidecar", "image": "proxy:1"}
            ]}})
        );
    }

    #[test]
    fn strategic_merge_keys_service_ports_by_port_and_conditions_by_type() {
        let target = json!({
            "spec": {"ports": [{"port": 443, "targetPort": 8443}, {"port": 80}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}
        });
        let patch = json!({
            "spec": {"ports": [{"port": 443, "targetPort": 9443}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({
                "spec": {"ports": [{"port": 443, "targetPort": 9443}, {"port": 80}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}
            })
        );
    }

    #[test]
    fn strategic_merge_keyed_element_without_its_key_is_an_error() {
        let target = json!({"spec": {"containers": [{"name": "web"}]}});
        let patch = json!({"spec": {"containers": [{"image": "x"}]}});
        let error = strategic_merge_patch(&target, &patch).unwrap_err();
        assert!(error.contains("merge key name"), "{error}");
    }

    #[test]
    fn strategic_merge_patch_replace_on_a_map() {
        let target = json!({"data": {"a": "1", "b": "2"}});
        let patch = json!({"data": {"$patch": "replace", "c": "3"}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"data": {"c": "3"}})
        );
    }

    #[test]
    fn strategic_merge_patch_delete_on_a_map_and_at_the_root() {
        let target = json!({"spec": {"template": {"x": 1}}, "data": {"a": "1"}});
        let patch = json!({"spec": {"template": {"$patch": "delete"}}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {}, "data": {"a": "1"}})
        );
        let root = strategic_merge_patch(&target, &json!({"$patch": "delete"})).unwrap();
        assert_eq!(root, json!({}));
    }

    #[test]
    fn strategic_merge_patch_merge_directive_is_the_default() {
        let target = json!({"data": {"a": "1"}});
        let patch = json!({"data": {"$patch": "merge", "b": "2"}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"data": {"a": "1", "b": "2"}})
        );
    }

    #[test]
    fn strategic_merge_unknown_patch_directive_is_an_error() {
        let error = strategic_merge_patch(&json!({}), &json!({"$patch": "explode"})).unwrap_err();
        assert!(error.contains("explode"), "{error}");
    }

    #[test]
    fn strategic_merge_patch_delete_on_a_list_element() {
        let target = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"volumes": [{"name": "a", "$patch": "delete"}, {"name": "zzz", "$patch": "delete"}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"volumes": [{"name": "b"}]}})
        );
    }

    #[test]
    fn strategic_merge_patch_replace_element_replaces_the_whole_list() {
        let target = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}});
        let patch =
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "3"}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"containers": [{"name": "c", "image": "3"}]}})
        );
    }

    #[test]
    fn strategic_merge_new_lists_lose_their_directives() {
        let patch =
            json!({"spec": {"volumes": [{"name": "a"}, {"name": "gone", "$patch": "delete"}]}});
        assert_eq!(
            strategic_merge_patch(&json!({}), &patch).unwrap(),
            json!({"spec": {"volumes": [{"name": "a"}]}})
        );
    }

    #[test]
    fn strategic_merge_set_element_order_orders_and_is_stripped() {
        let target = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "server-only"}]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
            "containers": [{"name": "c"}]
        }});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}, {"name": "server-only"}]}})
        );
    }

    #[test]
    fn strategic_merge_keeps_server_only_elements_where_they_were() {
        let target =
            json!({"spec": {"volumes": [{"name": "a"}, {"name": "server"}, {"name": "b"}]}});
        let patch = json!({"spec": {
            "$setElementOrder/volumes": [{"name": "b"}, {"name": "a"}],
            "volumes": [{"name": "b", "secret": {}}]
        }});
        // "server" came before b in the live list, so it stays before b.
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"volumes": [{"name": "server"}, {"name": "b", "secret": {}}, {"name": "a"}]}})
        );
    }

    #[test]
    fn strategic_merge_without_order_puts_new_elements_before_later_server_ones() {
        let target = json!({"spec": {"env": [{"name": "A"}, {"name": "B"}, {"name": "Z"}]}});
        let patch = json!({"spec": {"env": [{"name": "B", "value": "2"}, {"name": "C"}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"env": [{"name": "A"}, {"name": "B", "value": "2"}, {"name": "C"}, {"name": "Z"}]}})
        );
    }

    #[test]
    fn strategic_merge_set_element_order_on_a_primitive_list() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"metadata": {"finalizers": ["c", "b", "a"]}})
        );
    }

    #[test]
    fn strategic_merge_retain_keys_clears_unlisted_fields() {
        let target = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"strategy": {"type": "Recreate"}}})
        );
    }

    #[test]
    fn strategic_merge_delete_from_primitive_list() {
        let target = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"metadata": {"finalizers": ["a", "c"]}})
        );
    }

    #[test]
    fn strategic_merge_kubectl_apply_patch_on_a_deployment() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "tsb-operator",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
            },
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [
                    {"name": "operator", "image": "tsb/operator:1.9", "env": [{"name": "LOG", "value": "info"}]},
                    {"name": "proxy", "image": "envoy:1.30"}
                ]}}
            }
        });
        // What `kubectl apply` sends after changing one image and adding an env var.
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "operator"}, {"name": "proxy"}],
                "containers": [{
                    "$setElementOrder/env": [{"name": "LOG"}, {"name": "MODE"}],
                    "env": [{"name": "MODE", "value": "standby"}],
                    "image": "tsb/operator:1.10",
                    "name": "operator"
                }]
            }}}
        });
        assert_eq!(
            strategic_merge_patch(&deployment, &patch).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "tsb-operator",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"}
                },
                "spec": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [
                        {"name": "operator", "image": "tsb/operator:1.10",
                         "env": [{"name": "LOG", "value": "info"}, {"name": "MODE", "value": "standby"}]},
                        {"name": "proxy", "image": "envoy:1.30"}
                    ]}}
                }
            })
        );
    }

    #[test]
    fn json_patch_on_arrays_and_special_keys() {
        let target = json!({"list": [{"a": 1}, {"b": 2}], "map": {}});
        let operations = json!([
            {"op": "test", "path": "/list/1", "value": {"b": 2}},
            {"op": "copy", "from": "/list/0", "path": "/list/-"},
            {"op": "remove", "path": "/list/0"},
            // On an object "-" and "" are plain member names.
            {"op": "add", "path": "/map/-", "value": "dash"},
            {"op": "add", "path": "/map/", "value": "empty"}
        ]);
        assert_eq!(
            json_patch(&target, &operations).unwrap(),
            json!({"list": [{"b": 2}, {"a": 1}], "map": {"-": "dash", "": "empty"}})
        );
    }

    #[test]
    fn json_patch_cannot_remove_the_end_marker_or_the_root() {
        let target = json!({"list": [1]});
        let error = json_patch(&target, &json!([{"op": "remove", "path": "/list/-"}])).unwrap_err();
        assert!(error.contains("not an array index"), "{error}");
        let error = json_patch(&target, &json!([{"op": "remove", "path": ""}])).unwrap_err();
        assert!(error.contains("whole document"), "{error}");
        let error = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "add", "path": "/a/b", "value": 1}]),
        )
        .unwrap_err();
        assert!(error.contains("scalar"), "{error}");
    }

    #[test]
    fn json_patch_errors_name_the_failing_operation() {
        let operations = json!([
            {"op": "add", "path": "/a", "value": 1},
            {"op": "remove", "path": "/nope"}
        ]);
        let error = json_patch(&json!({}), &operations).unwrap_err();
        assert!(error.starts_with("JSON patch operation 1:"), "{error}");
    }

    #[test]
    fn strategic_merge_null_removes_a_whole_list_and_scalars_replace_maps() {
        let target = json!({"spec": {"containers": [{"name": "a"}], "selector": {"app": "x"}}});
        let patch = json!({"spec": {"containers": null, "selector": "flat"}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"selector": "flat"}})
        );
    }

    #[test]
    fn strategic_merge_malformed_directives_are_errors() {
        for (patch, fragment) in [
            (json!({"spec": {"$retainKeys": "type"}}), "$retainKeys"),
            (
                json!({"spec": {"$setElementOrder/containers": {"name": "a"}}}),
                "$setElementOrder/containers",
            ),
            (
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
                "$deleteFromPrimitiveList/finalizers",
            ),
            (json!({"$patch": 1}), "$patch"),
            (json!(["not", "an", "object"]), "JSON object"),
        ] {
            let error = strategic_merge_patch(&json!({"spec": {}}), &patch).unwrap_err();
            assert!(error.contains(fragment), "{patch}: {error}");
        }
    }

    #[test]
    fn strategic_merge_keyed_list_by_a_numeric_key() {
        let target = json!({"spec": {"containers": [{"name": "web", "ports": [
            {"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}
        ]}]}});
        let patch = json!({"spec": {"containers": [{"name": "web", "ports": [
            {"containerPort": 443, "$patch": "delete"}, {"containerPort": 8080, "name": "alt"}
        ]}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"spec": {"containers": [{"name": "web", "ports": [
                {"containerPort": 8080, "name": "alt"}, {"containerPort": 80, "name": "http"}
            ]}]}})
        );
    }

    #[test]
    fn strategic_merge_owner_references_merge_by_uid() {
        let target = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}});
        let patch = json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}});
        assert_eq!(
            strategic_merge_patch(&target, &patch).unwrap(),
            json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]}})
        );
    }

    #[test]
    fn list_merge_key_table() {
        assert_eq!(list_merge_key("containers", &[]), Some("name"));
        assert_eq!(list_merge_key("volumeMounts", &[]), Some("mountPath"));
        assert_eq!(list_merge_key("ownerReferences", &[]), Some("uid"));
        assert_eq!(
            list_merge_key("ports", &[json!({"containerPort": 80})]),
            Some("containerPort")
        );
        assert_eq!(
            list_merge_key("ports", &[json!({"port": 443})]),
            Some("port")
        );
        assert_eq!(list_merge_key("tolerations", &[]), None);
        assert!(is_primitive_set("finalizers"));
        assert!(!is_primitive_set("args"));
    }
}
