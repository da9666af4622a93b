//! The two MPs' configuration compared field by field, by path: the helm
//! release's chart version and user values, or the ManagementPlane spec.
//! Only paths are reported, never values (a value may be a credential).

use serde_json::Value;

/// The dotted paths (`dataStore.postgres.host`) where `active` and
/// `standby` differ, in order, skipping every path equal to or under one of
/// `skip`. A field on one side only differs; lists are compared whole (their
/// path is reported, not an index: items have no stable identity).
pub fn differing_paths(active: &Value, standby: &Value, skip: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    walk(active, standby, "", skip, &mut found);
    found
}

fn walk(active: &Value, standby: &Value, path: &str, skip: &[String], found: &mut Vec<String>) {
    if is_skipped(path, skip) {
        return;
    }
    match (active, standby) {
        (Value::Object(active), Value::Object(standby)) => {
            let mut keys: Vec<&String> = active.keys().chain(standby.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (active.get(key), standby.get(key)) {
                    (Some(active), Some(standby)) => walk(active, standby, &here, skip, found),
                    // Present on one side only (null counts as absent: helm and
                    // the API server drop it alike).
                    (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
                    _ if is_skipped(&here, skip) => {}
                    _ => found.push(here),
                }
            }
        }
        (active, standby) if active == standby => {}
        _ => found.push(if path.is_empty() {
            "(whole document)".to_string()
        } else {
            path.to_string()
        }),
    }
}

/// Whether `path` is one of `skip`, or under one.
fn is_skipped(path: &str, skip: &[String]) -> bool {
    skip.iter().any(|skipped| {
        path == skipped
            || path
                .strip_prefix(skipped.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// `paths` (relative to the ManagementPlane spec) as helm values' paths: under `spec.`.
pub fn under_spec(paths: &[String]) -> Vec<String> {
    paths.iter().map(|path| format!("spec.{path}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn skip(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|path| path.to_string()).collect()
    }

    #[test]
    fn equal_documents_have_no_differing_path() {
        let spec = json!({"organization": "tetrate", "dataStore": {"postgres": {"host": "pg", "port": 5432}}});
        assert!(differing_paths(&spec, &spec.clone(), &[]).is_empty());
    }

    #[test]
    fn differences_are_named_by_path_never_by_value() {
        let active = json!({
            "organization": "tetrate",
            "dataStore": {"postgres": {"host": "pg-a", "port": 5432}},
            "components": {"frontEnvoy": {"port": 8443}},
            "tokenIssuer": {"jwt": {"issuers": [{"name": "a"}]}},
            "onlyActive": {"x": 1},
            "nulled": null,
        });
        let standby = json!({
            "organization": "tetrate",
            "dataStore": {"postgres": {"host": "pg-b", "port": 5432}},
            "components": {"frontEnvoy": {"port": 443}},
            "tokenIssuer": {"jwt": {"issuers": [{"name": "b"}]}},
            "onlyStandby": "secret-ish",
        });
        let found = differing_paths(&active, &standby, &[]);
        assert_eq!(
            found,
            [
                "components.frontEnvoy.port",
                "dataStore.postgres.host",
                "onlyActive",
                "onlyStandby",
                "tokenIssuer.jwt.issuers"
            ]
        );
        assert!(!found.join(" ").contains("pg-a") && !found.join(" ").contains("secret-ish"));
    }

    #[test]
    fn skipped_paths_and_everything_under_them_are_not_compared() {
        let active =
            json!({"dataStore": {"postgres": {"host": "a", "port": 1}}, "hub": "x", "hubs": 1});
        let standby = json!({"dataStore": {"postgres": {"host": "b", "port": 2}}, "hub": "y"});
        assert_eq!(
            differing_paths(&active, &standby, &skip(&["dataStore.postgres.host"])),
            ["dataStore.postgres.port", "hub", "hubs"]
        );
        assert_eq!(
            differing_paths(&active, &standby, &skip(&["dataStore", "hub"])),
            ["hubs"],
            "hub does not skip hubs"
        );
        let values =
            json!({"spec": {"dataStore": {"postgres": {"host": "a"}}}, "secrets": {"tsb": "x"}});
        let other = json!({"spec": {"dataStore": {"postgres": {"host": "b"}}}});
        let mut skipped = under_spec(&skip(&["dataStore.postgres.host"]));
        skipped.push("secrets".into());
        assert!(differing_paths(&values, &other, &skipped).is_empty());
    }
}
