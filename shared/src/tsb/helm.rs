//! Reading helm's release records: Secrets `sh.helm.release.v1.<release>.v<N>`
//! whose `release` key is base64 of gzip of the release JSON.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use kube::api::{Api, ListParams};

use crate::kube::cluster::Cluster;
use crate::tsb::layout::{Requirement, TsbLayout};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// The type of helm's release Secrets.
const RELEASE_TYPE: &str = "helm.sh/release.v1";

/// The label and annotations by which helm (3.2 and later) recognises an
/// object as its release's own, and adopts or refuses it on install
/// (helm.sh/docs, "Helm 3.2.0: adopting existing resources"). An object's
/// owner is the cluster's own business: an import never changes them.
pub const OWNERSHIP_LABELS: [&str; 1] = ["app.kubernetes.io/managed-by"];
pub const OWNERSHIP_ANNOTATIONS: [&str; 2] = [
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
];

/// The deployed revision of `release` among `secrets` (the highest, should
/// helm have left more than one marked deployed).
pub fn deployed_release<'a>(secrets: &'a [Secret], release: &str) -> Option<&'a Secret> {
    let prefix = format!("sh.helm.release.v1.{release}.v");
    secrets
        .iter()
        .filter(|secret| secret.type_.as_deref() == Some(RELEASE_TYPE))
        .filter(|secret| label(secret, "status") == Some("deployed"))
        .filter_map(|secret| {
            let revision = secret
                .metadata
                .name
                .as_deref()?
                .strip_prefix(&prefix)?
                .parse::<u64>()
                .ok()?;
            Some((revision, secret))
        })
        .max_by_key(|(revision, _)| *revision)
        .map(|(_, secret)| secret)
}

/// True when `secrets` hold any revision of `release`, deployed or not.
pub fn has_release(secrets: &[Secret], release: &str) -> bool {
    let prefix = format!("sh.helm.release.v1.{release}.v");
    secrets.iter().any(|secret| {
        secret.type_.as_deref() == Some(RELEASE_TYPE)
            && secret
                .metadata
                .name
                .as_deref()
                .is_some_and(|name| name.starts_with(&prefix))
    })
}

/// The names of the deployed releases of `chart` (chart.metadata.name) among
/// `secrets`, sorted: releases are found by what they install, not by name.
/// A release Secret that does not decode is passed over.
pub fn releases_of_chart(secrets: &[Secret], chart: &str) -> Vec<String> {
    let mut names: Vec<String> = secrets
        .iter()
        .filter(|secret| secret.type_.as_deref() == Some(RELEASE_TYPE))
        .filter(|secret| label(secret, "status") == Some("deployed"))
        .filter(|secret| {
            decode_release(secret).is_ok_and(|release| {
                release
                    .pointer("/chart/metadata/name")
                    .and_then(Value::as_str)
                    == Some(chart)
            })
        })
        .filter_map(|secret| label(secret, "name").map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The MP's helm release among `secrets`: `chosen` (`--release`) when
/// given; else the layout's `helmRelease` (default `mp`) when it exists;
/// else the one deployed release of the layout's chart (`managementplane`,
/// tsb-facts.md). `None`: no helm release of the MP (the generic model).
///
/// # Errors
/// `chosen` has no release here; or the chart has several releases and
/// none is named: the message lists them.
pub fn mp_release(
    secrets: &[Secret],
    layout: &TsbLayout,
    chosen: Option<&str>,
) -> Result<Option<String>, String> {
    if let Some(chosen) = chosen {
        return if has_release(secrets, chosen) {
            Ok(Some(chosen.to_string()))
        } else {
            Err(format!("no helm release {chosen:?}"))
        };
    }
    if has_release(secrets, &layout.helm_release) {
        return Ok(Some(layout.helm_release.clone()));
    }
    let mut found = releases_of_chart(secrets, &layout.helm_chart);
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(format!(
            "{} helm releases of chart {}: {}",
            found.len(),
            layout.helm_chart,
            found.join(", ")
        )),
    }
}

/// Reads the release records [`mp_release`] and [`user_values`] need, and
/// only those, by helm's own labels on them (`owner=helm`, `name`,
/// `status`; helm.sh/docs, "Storage backends"). At once: the deployed
/// revision of `chosen` (else of the layout's `helmRelease`), the metadata
/// alone of its revisions (to tell a release being upgraded from no
/// release) and the metadata alone of every deployed release. Only when
/// neither `chosen` nor `helmRelease` exists and another release is
/// deployed, a second round reads the deployed releases in full (to find
/// the chart's). So a namespace without helm, or with the MP's release
/// under its usual name, costs one round trip; never every revision's
/// payload, never another object of the namespace.
///
/// # Errors
/// A LIST that fails (403, timeout): one line naming the selector.
pub async fn read_release_records(
    cluster: &Cluster,
    layout: &TsbLayout,
    chosen: Option<&str>,
) -> crate::error::Result<Vec<Secret>> {
    let api: Api<Secret> = cluster.namespaced();
    let failed = |selector: &str, error: kube::Error| {
        cluster.error(
            error,
            &format!(
                "list helm release secrets ({selector}) in namespace {}",
                cluster.namespace()
            ),
        )
    };
    let release = chosen.unwrap_or(&layout.helm_release);
    let deployed_selector = format!("owner=helm,name={release},status=deployed");
    let any_selector = format!("owner=helm,name={release}");
    let every_deployed_selector = "owner=helm,status=deployed";
    let list_metadata = async |selector: &str| {
        api.list_metadata(&ListParams::default().labels(selector))
            .await
            .map_err(|error| failed(selector, error))
    };
    let (deployed, revisions, every_deployed) = futures::join!(
        async {
            api.list(&ListParams::default().labels(&deployed_selector))
                .await
                .map_err(|error| failed(&deployed_selector, error))
        },
        list_metadata(&any_selector),
        list_metadata(every_deployed_selector),
    );
    let (deployed, revisions, every_deployed) = (deployed?, revisions?, every_deployed?);
    if !deployed.items.is_empty() {
        return Ok(deployed.items);
    }
    if !revisions.items.is_empty() || chosen.is_some() || every_deployed.items.is_empty() {
        // Names and labels are all `has_release` reads; helm's `owner`
        // label marks them as its release records.
        return Ok(revisions
            .items
            .into_iter()
            .map(|revision| Secret {
                metadata: revision.metadata,
                type_: Some(RELEASE_TYPE.to_string()),
                ..Secret::default()
            })
            .collect());
    }
    Ok(api
        .list(&ListParams::default().labels(every_deployed_selector))
        .await
        .map_err(|error| failed(every_deployed_selector, error))?
        .items)
}

/// The user-supplied values (the release JSON's `config`) of `release`'s
/// deployed revision among `secrets`; an empty map when it has none.
///
/// # Errors
/// No deployed revision (a release never deployed, or being installed,
/// upgraded or rolled back: helm marks none deployed meanwhile), or one
/// that does not decode; the message names the release or its Secret and
/// never holds a value.
pub fn user_values(secrets: &[Secret], release: &str) -> Result<Value, String> {
    let deployed = deployed_release(secrets, release)
        .ok_or_else(|| format!("no deployed revision of helm release {release:?}"))?;
    let release = decode_release(deployed)?;
    Ok(release
        .get("config")
        .filter(|config| !config.is_null())
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default())))
}

/// A Secret the chart rendered from the release's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSecret {
    pub name: String,
    pub requirement: Requirement,
    /// The first of the layout's values for it that is set
    /// (`secrets.tsb.adminPassword`): why it is wanted, for messages.
    pub value: String,
}

/// The Secrets the chart rendered from `values` (a release's user values,
/// [`user_values`]), by the layout's `helmValueSecrets` table, in its
/// order, each once (required if any entry naming it is).
pub fn rendered_secrets(layout: &TsbLayout, values: &Value) -> Vec<RenderedSecret> {
    let mut rendered: Vec<RenderedSecret> = Vec::new();
    for entry in &layout.helm_value_secrets {
        let Some(value) = entry
            .values
            .iter()
            .find(|path| value_at(values, path).is_some_and(is_set))
        else {
            continue;
        };
        match rendered.iter_mut().find(|known| known.name == entry.secret) {
            Some(known) if entry.requirement == Requirement::Required => {
                known.requirement = Requirement::Required;
            }
            Some(_) => {}
            None => rendered.push(RenderedSecret {
                name: entry.secret.clone(),
                requirement: entry.requirement,
                value: value.clone(),
            }),
        }
    }
    rendered
}

/// The value at a dotted `path` (`secrets.tsb.cert`) of `values`.
fn value_at<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(values, |value, key| value.get(key))
}

/// Whether the user gave a value here, as helm's `if` sees one: a non-empty
/// string, `true`, a non-zero number, or a map or list holding one.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(set) => *set,
        Value::Number(number) => number.as_f64().is_some_and(|number| number != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => items.iter().any(is_set),
        Value::Object(map) => map.values().any(is_set),
    }
}

fn label<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Decodes a release Secret into helm's release JSON.
pub fn decode_release(secret: &Secret) -> Result<Value, String> {
    let name = secret.metadata.name.as_deref().unwrap_or("<unnamed>");
    let encoded = secret
        .data
        .as_ref()
        .and_then(|data| data.get("release"))
        .ok_or_else(|| format!("helm release secret {name} has no `release` key"))?;
    let compressed = BASE64
        .decode(encoded.0.trim_ascii())
        .map_err(|error| format!("helm release secret {name}: `release` is not base64: {error}"))?;
    let json = if compressed.starts_with(GZIP_MAGIC) {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut json)
            .map_err(|error| {
                format!("helm release secret {name}: cannot gunzip `release`: {error}")
            })?;
        json
    } else {
        compressed
    };
    serde_json::from_slice(&json)
        .map_err(|error| format!("helm release secret {name}: `release` is not JSON: {error}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::io::Write;

    pub(crate) fn release_secret(
        release: &str,
        revision: u64,
        status: &str,
        payload: &Value,
    ) -> Secret {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(payload.to_string().as_bytes()).unwrap();
        let encoded = BASE64.encode(gzip.finish().unwrap());
        let mut secret = Secret::default();
        secret.metadata.name = Some(format!("sh.helm.release.v1.{release}.v{revision}"));
        secret.metadata.labels = Some(
            [("owner", "helm"), ("name", release), ("status", status)]
                .into_iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        );
        secret.type_ = Some("helm.sh/release.v1".into());
        secret.data = Some([("release".to_string(), ByteString(encoded.into_bytes()))].into());
        secret
    }

    #[test]
    fn the_highest_deployed_revision_is_chosen_and_decoded() {
        let secrets = vec![
            release_secret("mp", 1, "superseded", &serde_json::json!({"version": 1})),
            release_secret(
                "mp",
                3,
                "deployed",
                &serde_json::json!({"version": 3, "config": {"spec": {}}}),
            ),
            release_secret("mp", 2, "superseded", &serde_json::json!({"version": 2})),
            release_secret("other", 9, "deployed", &serde_json::json!({"version": 9})),
        ];
        let deployed = deployed_release(&secrets, "mp").unwrap();
        assert_eq!(
            deployed.metadata.name.as_deref(),
            Some("sh.helm.release.v1.mp.v3")
        );
        assert_eq!(decode_release(deployed).unwrap()["version"], 3);
        assert!(has_release(&secrets, "mp") && !has_release(&secrets, "absent"));
        assert!(deployed_release(&secrets, "absent").is_none());
    }

    /// A release is the MP's by its chart, whatever its name; `--release`
    /// picks one of several.
    #[test]
    fn the_mp_release_is_found_by_its_chart() {
        let of = |name: &str, chart: &str| {
            let payload = serde_json::json!({"chart": {"metadata": {"name": chart}}});
            release_secret(name, 1, "deployed", &payload)
        };
        let layout = TsbLayout::default();
        let one = vec![of("tsb-mp", "managementplane"), of("redis", "redis")];
        assert_eq!(mp_release(&one, &layout, None), Ok(Some("tsb-mp".into())));
        let named = vec![of("mp", "managementplane"), of("tsb-mp", "managementplane")];
        assert_eq!(mp_release(&named, &layout, None), Ok(Some("mp".into())));
        let two = vec![of("mp-a", "managementplane"), of("mp-b", "managementplane")];
        let error = mp_release(&two, &layout, None).unwrap_err();
        assert_eq!(
            error,
            "2 helm releases of chart managementplane: mp-a, mp-b"
        );
        assert_eq!(
            mp_release(&two, &layout, Some("mp-b")),
            Ok(Some("mp-b".into()))
        );
        assert!(mp_release(&two, &layout, Some("mp-c")).is_err());
        assert_eq!(mp_release(&[of("redis", "redis")], &layout, None), Ok(None));
    }

    #[test]
    fn a_corrupt_release_is_an_error_naming_the_secret() {
        let mut secret = release_secret("mp", 1, "deployed", &serde_json::json!({}));
        secret.data = Some(
            [(
                "release".to_string(),
                ByteString(b"!!not base64!!".to_vec()),
            )]
            .into(),
        );
        let error = decode_release(&secret).unwrap_err();
        assert!(
            error.contains("sh.helm.release.v1.mp.v1") && error.contains("not base64"),
            "{error}"
        );
    }

    fn rendered_names(layout: &TsbLayout, values: &Value) -> Vec<(String, Requirement)> {
        rendered_secrets(layout, values)
            .into_iter()
            .map(|rendered| (rendered.name, rendered.requirement))
            .collect()
    }

    /// Each `secrets:` section of the managementplane chart's values, alone,
    /// and the Secret the table says it renders.
    #[test]
    fn each_secrets_section_names_the_secret_it_renders() {
        use Requirement::{Optional, Required};
        let layout = TsbLayout::default();
        let cases = [
            (
                serde_json::json!({"tsb": {"cert": "PEM", "key": "PEM"}}),
                "tsb-certs",
                Required,
            ),
            (
                serde_json::json!({"tsb": {"adminPassword": "x"}}),
                "admin-credentials",
                Required,
            ),
            (
                serde_json::json!({"postgres": {"username": "tsb", "password": "x"}}),
                "postgres-credentials",
                Required,
            ),
            (
                serde_json::json!({"postgres": {"cacert": "PEM"}}),
                "postgres-credentials",
                Required,
            ),
            (
                serde_json::json!({"elasticsearch": {"username": "e", "password": "x"}}),
                "elastic-credentials",
                Required,
            ),
            (
                serde_json::json!({"elasticsearch": {"cacert": "PEM"}}),
                "es-certs",
                Optional,
            ),
            (
                serde_json::json!({"ldap": {"binddn": "cn=admin", "bindpassword": "x"}}),
                "ldap-credentials",
                Required,
            ),
            (
                serde_json::json!({"ldap": {"cacert": "PEM"}}),
                "custom-host-ca",
                Optional,
            ),
            (
                serde_json::json!({"oidc": {"clientSecret": "x"}}),
                "iam-oidc-client-secret",
                Required,
            ),
            (
                serde_json::json!({"oidc": {"deviceClientSecret": "x"}}),
                "iam-oidc-client-secret",
                Required,
            ),
            (
                serde_json::json!({"azure": {"clientSecret": "x"}}),
                "azure-credentials",
                Required,
            ),
            (
                serde_json::json!({"xcp": {"autoGenerateCerts": false, "central": {"cert": "PEM", "key": "PEM"}}}),
                "xcp-central-cert",
                Required,
            ),
        ];
        for (section, secret, requirement) in cases {
            let values = serde_json::json!({"spec": {}, "secrets": section});
            assert_eq!(
                rendered_names(&layout, &values),
                [(secret.to_string(), requirement)],
                "{section}"
            );
        }
    }

    #[test]
    fn unset_sections_render_nothing() {
        let layout = TsbLayout::default();
        for values in [
            serde_json::json!({}),
            serde_json::json!({"spec": {"organization": "tetrate"}}),
            serde_json::json!({"secrets": {"keep": true}}),
            serde_json::json!({"secrets": {"xcp": {"autoGenerateCerts": true, "rootca": "PEM", "rootcakey": "PEM"}}}),
            serde_json::json!({"secrets": {"tsb": {"adminPassword": ""}, "postgres": {}, "oidc": {"clientSecret": null}}}),
            serde_json::json!({"secrets": "not a map"}),
        ] {
            assert!(rendered_names(&layout, &values).is_empty(), "{values}");
        }
    }

    #[test]
    fn everything_set_renders_each_secret_once_in_table_order() {
        let layout = TsbLayout::default();
        let values = serde_json::json!({"secrets": {
            "tsb": {"adminPassword": "x", "cert": "PEM", "key": "PEM"},
            "postgres": {"username": "tsb", "password": "x"},
            "elasticsearch": {"username": "e", "password": "x", "cacert": "PEM"},
            "ldap": {"binddn": "cn=admin", "bindpassword": "x", "cacert": "PEM"},
            "oidc": {"clientSecret": "x", "deviceClientSecret": "x"},
            "azure": {"clientSecret": "x"},
            "xcp": {"central": {"cert": "PEM", "key": "PEM"}},
        }});
        let names: Vec<String> = rendered_names(&layout, &values)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "tsb-certs",
                "admin-credentials",
                "postgres-credentials",
                "elastic-credentials",
                "es-certs",
                "ldap-credentials",
                "custom-host-ca",
                "iam-oidc-client-secret",
                "azure-credentials",
                "xcp-central-cert"
            ]
        );
    }

    /// A site whose chart renders another name: the layout's table wins,
    /// and a Secret named twice is required when either entry says so.
    #[test]
    fn the_table_is_overridden_by_the_layout() {
        let layout = TsbLayout::from_yaml(
            "helmValueSecrets:\n  - {values: [secrets.tsb.adminPassword], secret: site-admin}\n  - {values: [secrets.site.ca], secret: site-admin, requirement: optional}\n",
        )
        .unwrap();
        assert_eq!(
            layout.helm_value_secrets[0].requirement,
            Requirement::Required
        );
        let values =
            serde_json::json!({"secrets": {"tsb": {"adminPassword": "x"}, "site": {"ca": "PEM"}}});
        assert_eq!(
            rendered_names(&layout, &values),
            [("site-admin".to_string(), Requirement::Required)]
        );
    }

    #[test]
    fn user_values_are_the_deployed_revisions_config() {
        let secrets = vec![
            release_secret(
                "mp",
                1,
                "superseded",
                &serde_json::json!({"config": {"old": true}}),
            ),
            release_secret(
                "mp",
                2,
                "deployed",
                &serde_json::json!({"config": {"spec": {}}}),
            ),
            release_secret("bare", 1, "deployed", &serde_json::json!({"config": null})),
        ];
        assert_eq!(
            user_values(&secrets, "mp"),
            Ok(serde_json::json!({"spec": {}}))
        );
        assert_eq!(user_values(&secrets, "bare"), Ok(serde_json::json!({})));
        assert_eq!(
            user_values(&secrets, "absent"),
            Err("no deployed revision of helm release \"absent\"".to_string())
        );
    }
}
