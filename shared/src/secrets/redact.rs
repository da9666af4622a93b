//! The one place that formats a Secret for people: key names, sizes and
//! sha256 prefixes, never values. Anything that shows a Secret (summaries,
//! diffs, `-v`, errors) goes through here.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex characters of sha256 shown: enough to tell values apart.
const DIGEST_PREFIX_LEN: usize = 12;
/// Values shorter than this (bytes) are shown with no digest at all: a PIN
/// or a short password can be found again from its digest by trying every
/// candidate. Keys, certificates and tokens are longer.
pub const MIN_DIGEST_BYTES: usize = 32;

/// One key of a Secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    pub key: String,
    pub size: usize,
    /// None for a value shorter than [`MIN_DIGEST_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A Secret as it may be shown: name, type and key summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    pub keys: Vec<KeySummary>,
}

/// The first hex characters of the sha256 of `bytes`; None when `bytes`
/// is shorter than [`MIN_DIGEST_BYTES`].
fn digest_prefix(bytes: &[u8]) -> Option<String> {
    if bytes.len() < MIN_DIGEST_BYTES {
        return None;
    }
    let mut hex = hex_digest(bytes);
    hex.truncate(DIGEST_PREFIX_LEN);
    Some(hex)
}

/// A value as it may be shown: `48 B sha256:0123456789ab`, or `4 B` alone
/// when it is too short for a digest that cannot be reversed.
pub fn describe_value(bytes: &[u8]) -> String {
    shown(bytes.len(), digest_prefix(bytes).as_deref())
}

fn shown(size: usize, digest: Option<&str>) -> String {
    match digest {
        Some(digest) => format!("{size} B sha256:{digest}"),
        None => format!("{size} B"),
    }
}

/// The full hex sha256 of `bytes`.
pub fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A Secret's values as the API server stores them: `data` with `stringData`
/// merged over it (as the server does on write).
pub fn secret_values(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut values: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect();
    for (key, value) in secret.string_data.iter().flatten() {
        values.insert(key.clone(), value.clone().into_bytes());
    }
    values
}

/// One digest over every key and value of a Secret, independent of key order:
/// two Secrets with the same digest hold the same data.
pub fn data_digest(secret: &Secret) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in secret_values(secret) {
        // Length-prefixed so that no two different key/value lists hash alike.
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(&value);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl SecretSummary {
    pub fn of(secret: &Secret) -> Self {
        SecretSummary {
            name: secret.metadata.name.clone().unwrap_or_default(),
            namespace: secret.metadata.namespace.clone(),
            secret_type: secret.type_.clone(),
            keys: secret_values(secret)
                .into_iter()
                .map(|(key, value)| KeySummary {
                    key,
                    size: value.len(),
                    sha256: digest_prefix(&value),
                })
                .collect(),
        }
    }
}

impl fmt::Display for SecretSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(secret_type) = &self.secret_type {
            write!(f, " ({secret_type})")?;
        }
        if self.keys.is_empty() {
            return f.write_str(": no keys");
        }
        for (index, key) in self.keys.iter().enumerate() {
            let separator = if index == 0 { ": " } else { ", " };
            write!(
                f,
                "{separator}{} {}",
                key.key,
                shown(key.size, key.sha256.as_deref())
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, &[u8])], string_data: &[(&str, &str)]) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some("tsb-certs".into());
        secret.type_ = Some("kubernetes.io/tls".into());
        secret.data = Some(
            data.iter()
                .map(|(key, value)| (key.to_string(), ByteString(value.to_vec())))
                .collect(),
        );
        if !string_data.is_empty() {
            secret.string_data = Some(
                string_data
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect(),
            );
        }
        secret
    }

    #[test]
    fn summary_shows_keys_sizes_and_digests_never_values() {
        let value = b"-----BEGIN PRIVATE KEY-----very-secret-----END PRIVATE KEY-----";
        let summary = SecretSummary::of(&secret(&[("tls.key", value), ("ca.crt", b"ca")], &[]));
        let text = summary.to_string();
        assert_eq!(
            text,
            format!(
                "tsb-certs (kubernetes.io/tls): ca.crt 2 B, tls.key {} B sha256:{}",
                value.len(),
                digest_prefix(value).unwrap()
            )
        );
        assert!(!text.contains("very-secret"));
        let json = serde_json::to_string(&summary).unwrap();
        assert!(
            !json.contains("very-secret") && json.contains("\"tls.key\""),
            "{json}"
        );
        assert_eq!(digest_prefix(value).unwrap().len(), DIGEST_PREFIX_LEN);
        assert!(
            !json.contains(&hex_digest(b"ca")[..DIGEST_PREFIX_LEN]),
            "{json}"
        );
    }

    #[test]
    fn string_data_counts_like_data_and_wins_over_it() {
        let summary = SecretSummary::of(&secret(&[("password", b"old")], &[("password", "newer")]));
        assert_eq!(
            summary.keys,
            vec![KeySummary {
                key: "password".into(),
                size: 5,
                sha256: None
            }]
        );
    }

    /// A 4-digit PIN's digest prefix would be found by trying all 10,000.
    #[test]
    fn short_values_get_no_digest() {
        assert_eq!(describe_value(b"1234"), "4 B");
        assert_eq!(digest_prefix(&[b'x'; MIN_DIGEST_BYTES - 1]), None);
        let long = [b'x'; MIN_DIGEST_BYTES];
        assert_eq!(
            describe_value(&long),
            format!("32 B sha256:{}", &hex_digest(&long)[..DIGEST_PREFIX_LEN])
        );
    }

    #[test]
    fn data_digest_changes_with_any_key_or_value_and_ignores_metadata() {
        let base = secret(&[("a", b"1"), ("b", b"2")], &[]);
        let mut renamed = base.clone();
        renamed.metadata.name = Some("other".into());
        assert_eq!(data_digest(&base), data_digest(&renamed));
        assert_ne!(
            data_digest(&base),
            data_digest(&secret(&[("a", b"1"), ("b", b"3")], &[]))
        );
        assert_ne!(
            data_digest(&base),
            data_digest(&secret(&[("a", b"12")], &[]))
        );
        assert_ne!(
            data_digest(&secret(&[("ab", b"c")], &[])),
            data_digest(&secret(&[("a", b"bc")], &[]))
        );
    }
}
