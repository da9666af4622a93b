//! The export bundle: a plain YAML `v1 List` of Secrets that `kubectl apply -f`
//! accepts unchanged, under a comment header with our provenance and a sha256
//! over the canonical content (provenance included), so any edit is detected.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secrets::redact::hex_digest;

/// The bundle format this version writes and reads.
pub const FORMAT: &str = "kubectl-mp.bundle/v1";
const HEADER_PREFIX: &str = "# kubectl-mp/";

/// The two ways TSB's Management Plane is installed (the runbook's models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Installed with the managementplane helm chart.
    Helm,
    /// Installed with tctl: a ManagementPlane resource drives the operator.
    Generic,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::Helm => "helm",
            Model::Generic => "generic",
        })
    }
}

/// Where a bundle came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub context: String,
    pub server: String,
    pub namespace: String,
    pub model: Model,
    pub exported_at: String,
    pub tool: String,
}

/// Secrets and where they came from.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub provenance: Provenance,
    /// Sorted by name; each one's namespace is the provenance's.
    pub secrets: Vec<Secret>,
}

impl Bundle {
    pub fn new(provenance: Provenance, mut secrets: Vec<Secret>) -> Self {
        secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Bundle {
            provenance,
            secrets,
        }
    }

    /// The bundle as written to disk: header comments, then the YAML List.
    pub fn render(&self) -> Result<String> {
        let items = self.items()?;
        let digest = digest(&self.provenance, &items);
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let body = crate::yaml::to_string(&list)
            .map_err(|error| Error::failed(format!("cannot encode the bundle: {error}")))?;
        let p = &self.provenance;
        let mut text = String::from(
            "# kubectl-mp bundle: Secrets of a TSB Management Plane. It holds secret values: keep it private.\n\
             # Apply with `kubectl mp-import -f FILE` (checks it first) or `kubectl apply -f FILE`.\n",
        );
        for (key, value) in [
            ("format", FORMAT),
            ("context", &p.context),
            ("server", &p.server),
            ("namespace", &p.namespace),
            ("model", &p.model.to_string()),
            ("exported-at", &p.exported_at),
            ("tool", &p.tool),
            ("sha256", &digest),
        ] {
            text.push_str(&format!("{HEADER_PREFIX}{key}: {}\n", one_line(value)));
        }
        text.push_str(&body);
        Ok(text)
    }

    /// Reads a bundle from `source` (a path, or `-` for stdin) and checks it.
    pub fn read(source: &str) -> Result<Bundle> {
        Bundle::read_with_identity(source, None)
    }

    /// Like [`Bundle::read`], opening an age-encrypted bundle with `identity_file`.
    pub fn read_with_identity(source: &str, identity_file: Option<&Path>) -> Result<Bundle> {
        let origin = if source == "-" { "stdin" } else { source };
        let mut bytes = Vec::new();
        if source == "-" {
            std::io::stdin().read_to_end(&mut bytes).map_err(|error| {
                Error::usage(format!("cannot read the bundle from stdin: {error}"))
            })?;
        } else {
            bytes = std::fs::read(Path::new(source)).map_err(|error| {
                Error::usage(format!("cannot read bundle {source}: {error}"))
                    .with_next_step("check the path given with -f")
            })?;
        }
        if crate::secrets::seal::is_encrypted(&bytes) {
            bytes = crate::secrets::seal::decrypt(&bytes, identity_file, origin)?;
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::usage(format!("bundle {origin} is not text"))
                .with_next_step("use a bundle written by `kubectl mp-export`")
        })?;
        Bundle::parse(&text, origin)
    }

    /// Parses and validates a bundle: format, integrity digest, Secrets only.
    /// `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Bundle> {
        let invalid = |problem: String| {
            Error::usage(format!("bundle {origin}: {problem}"))
                .with_next_step("use a bundle written by `kubectl mp-export`, unedited")
        };
        let header = parse_header(text);
        let field = |key: &str| {
            header
                .get(key)
                .cloned()
                .ok_or_else(|| invalid(format!("no `{HEADER_PREFIX}{key}` header line")))
        };
        let format = field("format")?;
        if format != FORMAT {
            return Err(invalid(format!(
                "format {format:?} is not the {FORMAT:?} this version reads"
            )));
        }
        let model = match field("model")?.as_str() {
            "helm" => Model::Helm,
            "generic" => Model::Generic,
            other => return Err(invalid(format!("unknown model {other:?}"))),
        };
        let provenance = Provenance {
            context: field("context")?,
            server: field("server")?,
            namespace: field("namespace")?,
            model,
            exported_at: field("exported-at")?,
            tool: field("tool")?,
        };
        let expected = field("sha256")?;

        let list: Value = crate::yaml::from_str(text)
            .map_err(|error| invalid(format!("not valid YAML: {error}")))?;
        if list.get("apiVersion").and_then(Value::as_str) != Some("v1")
            || list.get("kind").and_then(Value::as_str) != Some("List")
        {
            return Err(invalid("the document is not a `v1 List`".into()));
        }
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (index, item) in items.iter().enumerate() {
            check_item(index, item, &provenance.namespace, origin)?;
        }
        let actual = digest(&provenance, &items);
        if actual != expected {
            return Err(Error::usage(format!(
                "bundle {origin} was changed after export: sha256 {} expected, {} found",
                short(&expected),
                short(&actual)
            ))
            .with_next_step("export it again; a bundle must not be edited by hand"));
        }
        let secrets = items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<Secret>(item)
                    .map_err(|error| invalid(format!("a Secret is malformed: {error}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bundle::new(provenance, secrets))
    }

    /// The digest over this bundle's canonical content.
    pub fn digest(&self) -> Result<String> {
        Ok(digest(&self.provenance, &self.items()?))
    }

    /// Rewrites the namespace of the bundle and of every Secret in it.
    pub fn remap_namespace(&mut self, namespace: &str) {
        self.provenance.namespace = namespace.to_string();
        for secret in &mut self.secrets {
            secret.metadata.namespace = Some(namespace.to_string());
        }
    }

    fn items(&self) -> Result<Vec<Value>> {
        self.secrets
            .iter()
            .map(|secret| {
                serde_json::to_value(secret)
                    .map_err(|error| Error::failed(format!("cannot encode a Secret: {error}")))
            })
            .collect()
    }
}

/// sha256 over canonical JSON (sorted keys, no whitespace) of the format,
/// provenance and items, so neither a value nor the header can change unseen.
fn digest(provenance: &Provenance, items: &[Value]) -> String {
    let content = serde_json::json!({"format": FORMAT, "provenance": provenance, "items": items});
    let mut canonical = String::new();
    write_canonical(&content, &mut canonical);
    hex_digest(canonical.as_bytes())
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let sorted: BTreeMap<_, _> = map.iter().collect();
            for (index, (key, value)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn parse_header(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .filter_map(|line| line.strip_prefix(HEADER_PREFIX))
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Header values must stay on their comment line.
fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// Item `index` (from 0) of a bundle: a v1 Secret of the bundle's `namespace`.
fn check_item(index: usize, item: &Value, namespace: &str, origin: &str) -> Result<()> {
    let text = |pointer: &str, absent: &'static str| {
        item.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or(absent)
    };
    let kind = text("/kind", "<no kind>");
    let api_version = text("/apiVersion", "<no apiVersion>");
    let name = text("/metadata/name", "<no name>");
    if kind != "Secret" || api_version != "v1" {
        return Err(Error::usage(format!(
            "bundle {origin}: item {} is {api_version} {kind} {name:?}; a bundle holds only v1 Secrets",
            index + 1
        ))
        .with_next_step("remove it, or export again with `kubectl mp-export`"));
    }
    let found = item.pointer("/metadata/namespace").and_then(Value::as_str);
    if found != Some(namespace) {
        return Err(Error::usage(format!(
            "bundle {origin}: Secret {name:?} is in namespace {:?}, the bundle says {namespace:?}",
            found.unwrap_or("")
        ))
        .with_next_step("use a bundle written by `kubectl mp-export`, unedited"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    pub(crate) fn provenance() -> Provenance {
        Provenance {
            context: "active".into(),
            server: "https://127.0.0.1:6443".into(),
            namespace: "tsb".into(),
            model: Model::Generic,
            exported_at: "2026-11-25T03:00:00Z".into(),
            tool: "kubectl-mp-export 0.1.0 (commit abc)".into(),
        }
    }

    pub(crate) fn secret(name: &str, key: &str, value: &[u8]) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.metadata.namespace = Some("tsb".into());
        secret.type_ = Some("Opaque".into());
        secret.data = Some([(key.to_string(), ByteString(value.to_vec()))].into());
        secret
    }

    fn bundle() -> Bundle {
        Bundle::new(
            provenance(),
            vec![
                secret("tsb-certs", "tls.key", b"key-bytes"),
                secret("admin-credentials", "admin", b"yes"),
            ],
        )
    }

    #[test]
    fn a_rendered_bundle_parses_back_identically() {
        let text = bundle().render().unwrap();
        assert!(text.starts_with("# kubectl-mp bundle"));
        assert!(text.contains("# kubectl-mp/format: kubectl-mp.bundle/v1\n"));
        assert!(text.contains("apiVersion: v1\nitems:\n"), "{text}");
        let parsed = Bundle::parse(&text, "b.yaml").unwrap();
        assert_eq!(parsed.provenance, provenance());
        let names: Vec<_> = parsed
            .secrets
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["admin-credentials", "tsb-certs"], "sorted by name");
        assert_eq!(parsed.secrets, bundle().secrets);
        assert_eq!(parsed.render().unwrap(), text, "rendering is deterministic");
    }

    #[test]
    fn any_edit_is_detected() {
        let text = bundle().render().unwrap();
        let value_edit = text.replace(&base64_of(b"key-bytes"), &base64_of(b"key-bytez"));
        assert_ne!(value_edit, text);
        let header_edit = text.replace(
            "# kubectl-mp/context: active",
            "# kubectl-mp/context: other",
        );
        for tampered in [value_edit, header_edit] {
            let error = Bundle::parse(&tampered, "b.yaml").unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("bundle b.yaml was changed after export"),
                "{error}"
            );
            assert_eq!(error.exit(), crate::error::Exit::Usage);
        }
    }

    #[test]
    fn other_kinds_and_foreign_namespaces_are_refused() {
        let text = bundle().render().unwrap();
        let configmap = text.replacen("kind: Secret", "kind: ConfigMap", 1);
        let error = Bundle::parse(&configmap, "b.yaml").unwrap_err();
        assert!(
            error.to_string().contains(
                "item 1 is v1 ConfigMap \"admin-credentials\"; a bundle holds only v1 Secrets"
            ),
            "{error}"
        );
        let moved = text.replacen("    namespace: tsb", "    namespace: other", 1);
        let error = Bundle::parse(&moved, "b.yaml").unwrap_err();
        assert!(
            error.to_string().contains("is in namespace \"other\""),
            "{error}"
        );
    }

    #[test]
    fn malformed_or_headerless_input_names_the_file() {
        let error =
            Bundle::parse("apiVersion: v1\nkind: List\nitems: []\n", "plain.yaml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("bundle plain.yaml: no `# kubectl-mp/format` header line"),
            "{error}"
        );
        let text = bundle()
            .render()
            .unwrap()
            .replace("kind: List", "kind: [List");
        let error = Bundle::parse(&text, "b.yaml").unwrap_err();
        assert!(
            error.to_string().contains("bundle b.yaml: not valid YAML"),
            "{error}"
        );
    }

    #[test]
    fn remapping_moves_every_secret() {
        let mut bundle = bundle();
        bundle.remap_namespace("tsb-dr");
        assert_eq!(bundle.provenance.namespace, "tsb-dr");
        assert!(
            bundle
                .secrets
                .iter()
                .all(|s| s.metadata.namespace.as_deref() == Some("tsb-dr"))
        );
        let reparsed = Bundle::parse(&bundle.render().unwrap(), "b.yaml").unwrap();
        assert_eq!(reparsed.provenance.namespace, "tsb-dr");
    }

    fn base64_of(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}
