//! The checks' results as one report: every check in order, each with what
//! it is about (side, secret, key, root fingerprints), and the counts.
//! [`Report::show`] draws it as text, grouped by side; serialized, it is the
//! `-o json|yaml` document, schema version [`SCHEMA_VERSION`] (the README's).

use std::collections::BTreeMap;

use serde::Serialize;

use super::snapshot::Origin;
use crate::error::Exit;
use crate::ui::check::{Check, CheckStatus};
use crate::ui::output::Ui;

/// The version of the `-o json|yaml` document; bumped on any breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// Check ids, stable for scripts (documented in the README); each check
/// has its file in checks/, but the pair's two, in compare.
pub mod id {
    pub const SOURCE: &str = "source";
    pub const SECRETS: &str = "certificate-secrets";
    pub const PARSE: &str = "parse";
    pub const CHAIN: &str = "chain";
    pub const EXPIRY: &str = "expiry";
    pub const DNS_NAME: &str = "dns-name";
    pub const KEY_MATCH: &str = "key-match";
    pub const SELF_SIGNED_ISSUER: &str = "self-signed-issuer";
    pub const PRESENT_ON_BOTH: &str = "present-on-both";
    pub const SAME_ROOT: &str = "same-root";
}

/// One check's result: the check (title, status, hint) and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// One of the ids above.
    pub id: String,
    pub check: Check,
    /// The side's role.
    pub cluster: Option<String>,
    pub secret: Option<String>,
    pub key: Option<String>,
    /// Root CA fingerprints by role (`active`, `standby`, …).
    pub fingerprints: Option<BTreeMap<String, Vec<String>>>,
}

impl CheckResult {
    pub(super) fn new(id: &str, check: Check) -> Self {
        CheckResult {
            id: id.into(),
            check,
            cluster: None,
            secret: None,
            key: None,
            fingerprints: None,
        }
    }

    pub(super) fn cluster(mut self, role: &str) -> Self {
        self.cluster = Some(role.into());
        self
    }

    pub(super) fn secret(mut self, name: &str) -> Self {
        self.secret = Some(name.into());
        self
    }

    pub(super) fn key(mut self, key: &str) -> Self {
        self.key = Some(key.into());
        self
    }

    pub(super) fn fingerprints(mut self, fingerprints: BTreeMap<String, Vec<String>>) -> Self {
        self.fingerprints = Some(fingerprints);
        self
    }
}

/// A check as the `-o json|yaml` document has it, in schema version 1's
/// order (the README's): what it is, what it is about, then the hint.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckDocument<'a> {
    id: &'a str,
    status: CheckStatus,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprints: Option<&'a BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

impl Serialize for CheckResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CheckDocument {
            id: &self.id,
            status: self.check.status,
            title: &self.check.title,
            cluster: self.cluster.as_deref(),
            secret: self.secret.as_deref(),
            key: self.key.as_deref(),
            fingerprints: self.fingerprints.as_ref(),
            hint: self.check.hint.as_deref(),
        }
        .serialize(serializer)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// Where each side was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    pub role: String,
    #[serde(flatten)]
    pub origin: Origin,
}

/// Every check, in order, and the counts: the `-o json|yaml` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub sources: Vec<SourceInfo>,
    pub checks: Vec<CheckResult>,
    pub summary: Summary,
}

impl Report {
    pub(super) fn new(sources: Vec<SourceInfo>, checks: Vec<CheckResult>) -> Self {
        let mut summary = Summary::default();
        for result in &checks {
            match result.check.status {
                CheckStatus::Pass => summary.pass += 1,
                CheckStatus::Warn => summary.warn += 1,
                CheckStatus::Fail => summary.fail += 1,
            }
        }
        Report {
            schema_version: SCHEMA_VERSION,
            sources,
            checks,
            summary,
        }
    }

    /// 0 when nothing failed (and, with `strict`, nothing warned); else 1.
    pub fn exit(&self, strict: bool) -> Exit {
        if self.summary.fail > 0 || (strict && self.summary.warn > 0) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// The checks that did not pass.
    pub fn problems(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(|result| result.check.status != CheckStatus::Pass)
    }

    /// The checks as text: one line each, a header per side, the hints
    /// under the warnings and failures, and the counts.
    pub(super) fn show(&self, ui: &Ui) {
        let mut section: Option<&str> = None;
        for result in &self.checks {
            let here = result.cluster.as_deref().unwrap_or("comparison");
            if section != Some(here) {
                let header = match (here, &self.sources[..]) {
                    ("comparison", [first, second]) => {
                        format!("{} vs {}", first.role, second.role)
                    }
                    (role, _) => role.to_string(),
                };
                ui.info(&format!(
                    "\n{header}\n{}",
                    "-".repeat(header.chars().count())
                ));
                section = Some(here);
            }
            result.check.show(ui);
        }
        let summary = self.summary;
        ui.info(&format!(
            "\n{} passed, {} warnings, {} failed",
            summary.pass, summary.warn, summary.fail
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::cacheck::fixtures::{Ca, cluster, find, mp_secrets, options, run};
    use crate::ui::output::OutputFormat;

    #[test]
    fn the_json_document_follows_the_documented_schema() {
        let root = Ca::root("Root CA");
        let own = Ca::root("Own Root");
        let active = cluster("active", mp_secrets(&root));
        let standby = cluster("standby", mp_secrets(&own));
        let report = run(&[active, standby], &options());
        let json: Value = serde_json::from_str(
            &crate::ui::output::render_data(&report, OutputFormat::Json).unwrap(),
        )
        .unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(
            json["sources"][0],
            serde_json::json!({"role": "active", "kind": "context", "context": "active", "server": "https://active.example:6443", "namespace": "tsb"})
        );
        let checks = json["checks"].as_array().unwrap();
        for check in checks {
            let fields: BTreeSet<&str> = check
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                fields.is_subset(&BTreeSet::from([
                    "id",
                    "status",
                    "title",
                    "cluster",
                    "secret",
                    "key",
                    "fingerprints",
                    "hint"
                ])),
                "{fields:?}"
            );
            assert!(["pass", "warn", "fail"].contains(&check["status"].as_str().unwrap()));
        }
        let failed = checks
            .iter()
            .find(|check| check["id"] == "same-root" && check["secret"] == "tsb-certs")
            .unwrap();
        assert_eq!(failed["status"], "fail");
        assert_eq!(failed["key"], "tls.crt");
        assert_eq!(
            failed["fingerprints"]["standby"].as_array().unwrap().len(),
            1
        );
        let es = find(&report, id::SAME_ROOT, Some("es-certs"), None)[0];
        assert!(
            es.check.hint.as_deref().unwrap().contains(
                "copy es-certs from the active (kubectl mp-export, then kubectl mp-import)"
            ),
            "a CA-only secret is copied, not re-issued"
        );
        let summary = &json["summary"];
        assert_eq!(summary["fail"], 3, "tsb-certs, xcp-central-cert, es-certs");
        assert_eq!(
            summary["pass"].as_u64().unwrap()
                + summary["warn"].as_u64().unwrap()
                + summary["fail"].as_u64().unwrap(),
            checks.len() as u64
        );
    }

    #[test]
    fn a_check_is_written_in_the_readmes_field_order() {
        let result = CheckResult::new(id::SAME_ROOT, Check::fail("different").hint("fix it"))
            .cluster("active")
            .secret("tsb-certs")
            .key("tls.crt")
            .fingerprints(BTreeMap::from([("active".to_string(), vec!["AB".into()])]));
        assert_eq!(
            serde_json::to_string(&result).unwrap(),
            r#"{"id":"same-root","status":"fail","title":"different","cluster":"active","secret":"tsb-certs","key":"tls.crt","fingerprints":{"active":["AB"]},"hint":"fix it"}"#
        );
        let passed = CheckResult::new(id::SOURCE, Check::pass("read"));
        assert_eq!(
            serde_json::to_string(&passed).unwrap(),
            r#"{"id":"source","status":"pass","title":"read"}"#
        );
    }
}
