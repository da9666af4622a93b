//! Reading helm's release records: Secrets `sh.helm.release.v1.<release>.v<N>`
//! whose `release` key is base64 of gzip of the release JSON.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::tsb::layout::TsbLayout;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

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
        .filter(|secret| secret.type_.as_deref() == Some("helm.sh/release.v1"))
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
        secret.type_.as_deref() == Some("helm.sh/release.v1")
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
        .filter(|secret| secret.type_.as_deref() == Some("helm.sh/release.v1"))
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
}
