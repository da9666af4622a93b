//! Decodes the protobuf bodies kubectl's typed clients send on create
//! (`Content-Type: application/vnd.kubernetes.protobuf`): the `k8s\0` magic,
//! a `runtime.Unknown` envelope, and the typed object inside it.
//!
//! Field numbers follow Kubernetes' `generated.proto` files
//! (k8s.io/apimachinery `runtime` and `meta/v1`, k8s.io/api `core/v1`).
//! Go's protobuf encoder writes every non-pointer field, empty or not, so
//! empty strings, zero numbers and empty messages are left out of the JSON,
//! as kubectl's JSON encoding would leave them out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// True for `application/vnd.kubernetes.protobuf` (parameters ignored).
pub fn is_protobuf(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/vnd.kubernetes.protobuf")
}

/// Decodes a `k8s\0`-prefixed body into the JSON form of the object, with
/// `apiVersion` and `kind` set from the envelope. Namespace, Secret and
/// ConfigMap are supported; any other kind is an error naming it.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("protobuf body does not start with the k8s\\0 magic")?;

    // runtime.Unknown: 1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType.
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for field in fields(envelope)? {
        match field.number {
            1 => {
                // runtime.TypeMeta: 1 apiVersion, 2 kind.
                for type_field in fields(field.bytes()?)? {
                    match type_field.number {
                        1 => api_version = type_field.string()?,
                        2 => kind = type_field.string()?,
                        _ => {}
                    }
                }
            }
            2 => raw = field.bytes()?,
            3 => {
                let encoding = field.string()?;
                if !encoding.is_empty() {
                    return Err(format!(
                        "unsupported protobuf content encoding {encoding:?}"
                    ));
                }
            }
            _ => {}
        }
    }

    let mut object = match kind.as_str() {
        "Namespace" => namespace(raw)?,
        "Secret" => secret(raw)?,
        "ConfigMap" => config_map(raw)?,
        "" => return Err("protobuf envelope names no kind".to_string()),
        other => return Err(format!("protobuf bodies of kind {other} are not supported")),
    };
    object.insert("apiVersion".to_string(), Value::String(api_version));
    object.insert("kind".to_string(), Value::String(kind));
    Ok(Value::Object(object))
}

/// One field as it appears on the wire.
#[derive(Debug)]
struct Field<'a> {
    number: u64,
    value: WireValue<'a>,
}

#[derive(Debug)]
enum WireValue<'a> {
    Varint(u64),
    LengthDelimited(&'a [u8]),
    /// fixed32 / fixed64: no field we decode uses them, they are only skipped.
    Fixed,
}

impl<'a> Field<'a> {
    fn bytes(&self) -> Result<&'a [u8], String> {
        match self.value {
            WireValue::LengthDelimited(bytes) => Ok(bytes),
            _ => Err(format!(
                "protobuf field {} is not length-delimited",
                self.number
            )),
        }
    }

    fn string(&self) -> Result<String, String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("protobuf field {} is not valid UTF-8", self.number))
    }

    fn varint(&self) -> Result<u64, String> {
        match self.value {
            WireValue::Varint(value) => Ok(value),
            _ => Err(format!("protobuf field {} is not a varint", self.number)),
        }
    }

    /// Protobuf int64 is the two's complement of the varint.
    fn int64(&self) -> Result<i64, String> {
        self.varint().map(|value| value as i64)
    }

    fn bool(&self) -> Result<bool, String> {
        self.varint().map(|value| value != 0)
    }
}

/// Splits one message into its fields, in wire order.
fn fields(mut buffer: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut result = Vec::new();
    while !buffer.is_empty() {
        let key = read_varint(&mut buffer)?;
        let number = key >> 3;
        let value = match key & 7 {
            0 => WireValue::Varint(read_varint(&mut buffer)?),
            1 => {
                take(&mut buffer, 8)?;
                WireValue::Fixed
            }
            2 => {
                let length = usize::try_from(read_varint(&mut buffer)?)
                    .map_err(|_| "protobuf length does not fit in memory".to_string())?;
                WireValue::LengthDelimited(take(&mut buffer, length)?)
            }
            5 => {
                take(&mut buffer, 4)?;
                WireValue::Fixed
            }
            wire_type => {
                return Err(format!(
                    "unsupported protobuf wire type {wire_type} for field {number}"
                ));
            }
        };
        result.push(Field { number, value });
    }
    Ok(result)
}

fn read_varint(buffer: &mut &[u8]) -> Result<u64, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buffer
            .split_first()
            .ok_or("protobuf body is truncated inside a varint")?;
        *buffer = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("protobuf varint is longer than 10 bytes".to_string())
}

fn take<'a>(buffer: &mut &'a [u8], length: usize) -> Result<&'a [u8], String> {
    if buffer.len() < length {
        return Err(format!(
            "protobuf body is truncated: a field needs {length} bytes, {} remain",
            buffer.len()
        ));
    }
    let (head, rest) = buffer.split_at(length);
    *buffer = rest;
    Ok(head)
}

/// Inserts `value` unless it is an empty string, array or object.
fn insert_non_empty(object: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(entries) => entries.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        object.insert(key.to_string(), value);
    }
}

/// A `map<string, string>` entry (1 key, 2 value) added to `map`.
fn string_map_entry(map: &mut Map<String, Value>, entry: &[u8]) -> Result<(), String> {
    let (key, value) = map_entry(entry)?;
    let value = String::from_utf8(value.to_vec())
        .map_err(|_| format!("protobuf map value for {key:?} is not valid UTF-8"))?;
    map.insert(key, Value::String(value));
    Ok(())
}

/// A `map<string, bytes>` entry added to `map` as base64, like JSON `[]byte`.
fn bytes_map_entry(map: &mut Map<String, Value>, entry: &[u8]) -> Result<(), String> {
    let (key, value) = map_entry(entry)?;
    map.insert(key, Value::String(BASE64.encode(value)));
    Ok(())
}

fn map_entry(entry: &[u8]) -> Result<(String, &[u8]), String> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for field in fields(entry)? {
        match field.number {
            1 => key = field.string()?,
            2 => value = field.bytes()?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// meta/v1 Time {1 seconds, 2 nanos} as RFC 3339 in whole seconds, the way
/// metav1.Time marshals; None for the zero time Go sends for unset stamps.
fn time(message: &[u8]) -> Result<Option<String>, String> {
    let mut seconds = 0;
    for field in fields(message)? {
        if field.number == 1 {
            seconds = field.int64()?;
        }
    }
    if seconds == 0 {
        return Ok(None);
    }
    let timestamp = jiff::Timestamp::from_second(seconds)
        .map_err(|error| format!("protobuf timestamp {seconds} is out of range: {error}"))?;
    Ok(Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// meta/v1 ObjectMeta. managedFields (17) are skipped: clients never send
/// them on create and the server rebuilds them anyway.
fn object_meta(message: &[u8]) -> Result<Value, String> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut owner_references = Vec::new();
    let mut finalizers = Vec::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut meta, "name", Value::String(field.string()?)),
            2 => insert_non_empty(&mut meta, "generateName", Value::String(field.string()?)),
            3 => insert_non_empty(&mut meta, "namespace", Value::String(field.string()?)),
            4 => insert_non_empty(&mut meta, "selfLink", Value::String(field.string()?)),
            5 => insert_non_empty(&mut meta, "uid", Value::String(field.string()?)),
            6 => insert_non_empty(&mut meta, "resourceVersion", Value::String(field.string()?)),
            7 => {
                let generation = field.int64()?;
                if generation != 0 {
                    meta.insert("generation".to_string(), generation.into());
                }
            }
            8 => {
                if let Some(stamp) = time(field.bytes()?)? {
                    meta.insert("creationTimestamp".to_string(), Value::String(stamp));
                }
            }
            9 => {
                if let Some(stamp) = time(field.bytes()?)? {
                    meta.insert("deletionTimestamp".to_string(), Value::String(stamp));
                }
            }
            // A pointer in Go: present means set, even to zero.
            10 => {
                meta.insert(
                    "deletionGracePeriodSeconds".to_string(),
                    field.int64()?.into(),
                );
            }
            11 => string_map_entry(&mut labels, field.bytes()?)?,
            12 => string_map_entry(&mut annotations, field.bytes()?)?,
            13 => owner_references.push(owner_reference(field.bytes()?)?),
            14 => finalizers.push(Value::String(field.string()?)),
            _ => {}
        }
    }
    insert_non_empty(&mut meta, "labels", Value::Object(labels));
    insert_non_empty(&mut meta, "annotations", Value::Object(annotations));
    insert_non_empty(&mut meta, "ownerReferences", Value::Array(owner_references));
    insert_non_empty(&mut meta, "finalizers", Value::Array(finalizers));
    Ok(Value::Object(meta))
}

/// meta/v1 OwnerReference: 1 kind, 3 name, 4 uid, 5 apiVersion,
/// 6 controller, 7 blockOwnerDeletion (both pointers: present means set).
fn owner_reference(message: &[u8]) -> Result<Value, String> {
    let mut reference = Map::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut reference, "kind", Value::String(field.string()?)),
            3 => insert_non_empty(&mut reference, "name", Value::String(field.string()?)),
            4 => insert_non_empty(&mut reference, "uid", Value::String(field.string()?)),
            5 => insert_non_empty(&mut reference, "apiVersion", Value::String(field.string()?)),
            6 => {
                reference.insert("controller".to_string(), Value::Bool(field.bool()?));
            }
            7 => {
                reference.insert("blockOwnerDeletion".to_string(), Value::Bool(field.bool()?));
            }
            _ => {}
        }
    }
    Ok(Value::Object(reference))
}

/// core/v1 Namespace: 1 metadata, 2 spec {1 finalizers}, 3 status
/// {1 phase, 2 conditions}.
fn namespace(message: &[u8]) -> Result<Map<String, Value>, String> {
    let mut object = Map::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut object, "metadata", object_meta(field.bytes()?)?),
            2 => {
                let mut finalizers = Vec::new();
                for spec_field in fields(field.bytes()?)? {
                    if spec_field.number == 1 {
                        finalizers.push(Value::String(spec_field.string()?));
                    }
                }
                let mut spec = Map::new();
                insert_non_empty(&mut spec, "finalizers", Value::Array(finalizers));
                insert_non_empty(&mut object, "spec", Value::Object(spec));
            }
            3 => insert_non_empty(&mut object, "status", namespace_status(field.bytes()?)?),
            _ => {}
        }
    }
    Ok(object)
}

fn namespace_status(message: &[u8]) -> Result<Value, String> {
    let mut status = Map::new();
    let mut conditions = Vec::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut status, "phase", Value::String(field.string()?)),
            2 => conditions.push(namespace_condition(field.bytes()?)?),
            _ => {}
        }
    }
    insert_non_empty(&mut status, "conditions", Value::Array(conditions));
    Ok(Value::Object(status))
}

/// core/v1 NamespaceCondition: 1 type, 2 status, 4 lastTransitionTime,
/// 5 reason, 6 message.
fn namespace_condition(message: &[u8]) -> Result<Value, String> {
    let mut condition = Map::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut condition, "type", Value::String(field.string()?)),
            2 => insert_non_empty(&mut condition, "status", Value::String(field.string()?)),
            4 => {
                if let Some(stamp) = time(field.bytes()?)? {
                    condition.insert("lastTransitionTime".to_string(), Value::String(stamp));
                }
            }
            5 => insert_non_empty(&mut condition, "reason", Value::String(field.string()?)),
            6 => insert_non_empty(&mut condition, "message", Value::String(field.string()?)),
            _ => {}
        }
    }
    Ok(Value::Object(condition))
}

/// core/v1 Secret: 1 metadata, 2 data (bytes), 3 type, 4 stringData,
/// 5 immutable (a pointer: present means set).
fn secret(message: &[u8]) -> Result<Map<String, Value>, String> {
    let mut object = Map::new();
    let mut data = Map::new();
    let mut string_data = Map::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut object, "metadata", object_meta(field.bytes()?)?),
            2 => bytes_map_entry(&mut data, field.bytes()?)?,
            3 => insert_non_empty(&mut object, "type", Value::String(field.string()?)),
            4 => string_map_entry(&mut string_data, field.bytes()?)?,
            5 => {
                object.insert("immutable".to_string(), Value::Bool(field.bool()?));
            }
            _ => {}
        }
    }
    insert_non_empty(&mut object, "data", Value::Object(data));
    insert_non_empty(&mut object, "stringData", Value::Object(string_data));
    Ok(object)
}

/// core/v1 ConfigMap: 1 metadata, 2 data (strings), 3 binaryData (bytes),
/// 4 immutable (a pointer: present means set).
fn config_map(message: &[u8]) -> Result<Map<String, Value>, String> {
    let mut object = Map::new();
    let mut data = Map::new();
    let mut binary_data = Map::new();
    for field in fields(message)? {
        match field.number {
            1 => insert_non_empty(&mut object, "metadata", object_meta(field.bytes()?)?),
            2 => string_map_entry(&mut data, field.bytes()?)?,
            3 => bytes_map_entry(&mut binary_data, field.bytes()?)?,
            4 => {
                object.insert("immutable".to_string(), Value::Bool(field.bool()?));
            }
            _ => {}
        }
    }
    insert_non_empty(&mut object, "data", Value::Object(data));
    insert_non_empty(&mut object, "binaryData", Value::Object(binary_data));
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Captured from `kubectl create ns foo`.
    const NAMESPACE_BODY: &[u8] = b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03foo\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00\"\x00";
    /// Captured from `kubectl create secret generic s --from-literal=a=b`.
    const SECRET_BODY: &[u8] = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x1d\n\x11\n\x01s\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x06\n\x01a\x12\x01b\x1a\x00\x1a\x00\"\x00";

    // A tiny encoder, so tests can build bodies with the fields kubectl
    // would send for labels, annotations and binary data.
    fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    fn bytes_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }
    fn varint_field(number: u64, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3, &mut out);
        varint(value, &mut out);
        out
    }
    fn map_entry_field(number: u64, key: &str, value: &[u8]) -> Vec<u8> {
        bytes_field(
            number,
            &[bytes_field(1, key.as_bytes()), bytes_field(2, value)].concat(),
        )
    }
    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [
            bytes_field(1, api_version.as_bytes()),
            bytes_field(2, kind.as_bytes()),
        ]
        .concat();
        [
            MAGIC.to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, raw),
            bytes_field(3, b""),
            bytes_field(4, b""),
        ]
        .concat()
    }

    #[test]
    fn recognises_the_protobuf_content_type_with_or_without_parameters() {
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "application/vnd.kubernetes.protobuf; charset=utf-8"
        ));
        assert!(is_protobuf("Application/VND.Kubernetes.Protobuf"));
        assert!(!is_protobuf("application/json"));
    }

    #[test]
    fn decodes_the_namespace_kubectl_create_ns_sends() {
        let object = decode(NAMESPACE_BODY).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}})
        );
    }

    #[test]
    fn decodes_the_secret_kubectl_create_secret_sends_with_base64_data() {
        let object = decode(SECRET_BODY).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "Yg=="}})
        );
    }

    #[test]
    fn decodes_config_map_with_labels_annotations_binary_data_and_immutable() {
        let creation = [varint_field(1, 1_700_000_000), varint_field(2, 5)].concat();
        let meta = [
            bytes_field(1, b"settings"),
            bytes_field(3, b"tsb"),
            varint_field(7, 3),
            bytes_field(8, &creation),
            map_entry_field(11, "app", b"tsb"),
            map_entry_field(11, "tier", b"mp"),
            map_entry_field(12, "note", b"hello"),
            bytes_field(14, b"example.com/keep"),
            // An unknown field number must be skipped, whatever its type.
            varint_field(99, 7),
            bytes_field(98, b"ignored"),
        ]
        .concat();
        let raw = [
            bytes_field(1, &meta),
            map_entry_field(2, "plain", b"text"),
            map_entry_field(3, "blob", &[0, 159, 146, 150]),
            varint_field(4, 1),
        ]
        .concat();
        let object = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "settings",
                    "namespace": "tsb",
                    "generation": 3,
                    "creationTimestamp": "2023-11-14T22:13:20Z",
                    "labels": {"app": "tsb", "tier": "mp"},
                    "annotations": {"note": "hello"},
                    "finalizers": ["example.com/keep"]
                },
                "data": {"plain": "text"},
                "binaryData": {"blob": "AJ+Slg=="},
                "immutable": true
            })
        );
    }

    #[test]
    fn decodes_secret_type_string_data_owner_references_and_fixed_width_fields() {
        let owner = [
            bytes_field(1, b"Deployment"),
            bytes_field(3, b"web"),
            bytes_field(4, b"uid-1"),
            bytes_field(5, b"apps/v1"),
            varint_field(6, 1),
        ]
        .concat();
        let meta = [bytes_field(1, b"tls"), bytes_field(13, &owner)].concat();
        let mut raw = [
            bytes_field(1, &meta),
            bytes_field(3, b"kubernetes.io/tls"),
            map_entry_field(4, "tls.crt", b"PEM"),
            varint_field(5, 0),
        ]
        .concat();
        // fixed64 (wire type 1) and fixed32 (wire type 5) of unknown fields.
        raw.extend_from_slice(&[(9 << 3 | 1) as u8, 1, 2, 3, 4, 5, 6, 7, 8]);
        raw.extend_from_slice(&[(10 << 3 | 5) as u8, 1, 2, 3, 4]);
        let object = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "tls",
                    "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-1", "apiVersion": "apps/v1", "controller": true}]
                },
                "type": "kubernetes.io/tls",
                "stringData": {"tls.crt": "PEM"},
                "immutable": false
            })
        );
    }

    #[test]
    fn decodes_namespace_spec_finalizers_and_status_phase() {
        let raw = [
            bytes_field(1, &bytes_field(1, b"tsb")),
            bytes_field(2, &bytes_field(1, b"kubernetes")),
            bytes_field(3, &bytes_field(1, b"Active")),
        ]
        .concat();
        let object = decode(&envelope("v1", "Namespace", &raw)).unwrap();
        assert_eq!(object["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(object["status"], json!({"phase": "Active"}));
    }

    #[test]
    fn decodes_fields_longer_than_127_bytes() {
        // Lengths above 127 need a multi-byte varint.
        let long_value = "x".repeat(300);
        let raw = [
            bytes_field(1, &bytes_field(1, b"big")),
            map_entry_field(2, "payload", long_value.as_bytes()),
        ]
        .concat();
        let object = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(object["data"]["payload"], json!(long_value));
    }

    #[test]
    fn decodes_deletion_grace_period_and_owner_flags_even_when_zero() {
        let owner = [
            bytes_field(1, b"Job"),
            varint_field(6, 0),
            varint_field(7, 1),
        ]
        .concat();
        let meta = [
            bytes_field(1, b"n"),
            varint_field(10, 0),
            bytes_field(13, &owner),
        ]
        .concat();
        let object = decode(&envelope("v1", "Namespace", &bytes_field(1, &meta))).unwrap();
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], json!(0));
        assert_eq!(
            object["metadata"]["ownerReferences"],
            json!([{"kind": "Job", "controller": false, "blockOwnerDeletion": true}])
        );
    }

    #[test]
    fn rejects_malformed_fields() {
        let not_utf8 = bytes_field(1, &bytes_field(1, &[0xff, 0xfe]));
        let error = decode(&envelope("v1", "Namespace", &not_utf8)).unwrap_err();
        assert!(error.contains("UTF-8"), "{error}");

        let endless_varint = [MAGIC, &[0x08], &[0xff; 11]].concat();
        let error = decode(&endless_varint).unwrap_err();
        assert!(error.contains("longer than 10 bytes"), "{error}");

        // Wire type 3 (a protobuf group) is never used by Kubernetes.
        let group = [MAGIC, &[(1 << 3) | 3]].concat();
        let error = decode(&group).unwrap_err();
        assert!(error.contains("wire type 3"), "{error}");

        // The name as a varint instead of a string.
        let wrong_type = bytes_field(1, &varint_field(1, 5));
        let error = decode(&envelope("v1", "Namespace", &wrong_type)).unwrap_err();
        assert!(error.contains("not length-delimited"), "{error}");
    }

    #[test]
    fn rejects_an_encoded_payload() {
        let mut body = envelope("v1", "Namespace", b"");
        body.extend(bytes_field(3, b"gzip"));
        let error = decode(&body).unwrap_err();
        assert!(error.contains("gzip"), "{error}");
    }

    #[test]
    fn rejects_a_body_without_the_magic() {
        let error = decode(b"{\"kind\":\"Namespace\"}").unwrap_err();
        assert!(error.contains("magic"), "{error}");
    }

    #[test]
    fn rejects_truncated_bodies() {
        for cut in [NAMESPACE_BODY.len() - 3, 10, 6] {
            let error = decode(&NAMESPACE_BODY[..cut]).unwrap_err();
            assert!(error.contains("truncated"), "cut at {cut}: {error}");
        }
    }

    #[test]
    fn rejects_an_unsupported_kind_by_name() {
        let raw = bytes_field(1, &bytes_field(1, b"web"));
        let error = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap_err();
        assert!(error.contains("Deployment"), "{error}");
    }

    #[test]
    fn rejects_an_envelope_without_kind() {
        let error = decode(&envelope("v1", "", b"")).unwrap_err();
        assert!(error.contains("no kind"), "{error}");
    }
}
