//! `key-match`: each private key of a secret is the key of its certificate
//! (`tls.key` of `tls.crt`, `X.key` of `X.crt`, `clientkey` of
//! `clientcert`), compared by public key; key material is never shown.

use std::collections::BTreeMap;

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::CertKey;
use crate::secrets::certs::{self, KeyMatch};
use crate::ui::check::Check;

/// A check per private key of the secret that has a certificate to match.
pub(super) fn check(
    role: &str,
    name: &str,
    values: &BTreeMap<String, Vec<u8>>,
    keys: &[CertKey],
) -> Vec<CheckResult> {
    values
        .iter()
        .filter(|(_, value)| certs::holds_private_key(value))
        .filter_map(|(private_key, _)| check_pair(role, name, private_key, values, keys))
        .collect()
}

/// The certificate key a private key belongs to: `tls.key` → `tls.crt`,
/// `x.key` → `x.crt`/`x.cert`/`x.pem`, `clientkey` → `clientcert`; else the
/// secret's only leaf.
fn paired_certificate_key<'a>(private_key: &str, keys: &'a [CertKey]) -> Option<&'a CertKey> {
    let stem = private_key
        .strip_suffix(".key")
        .map(|stem| (stem, "."))
        .or_else(|| private_key.strip_suffix("key").map(|stem| (stem, "")));
    if let Some((stem, dot)) = stem {
        for suffix in ["crt", "cert", "pem"] {
            let candidate = format!("{stem}{dot}{suffix}");
            if let Some(found) = keys.iter().find(|key| key.key == candidate) {
                return Some(found);
            }
        }
    }
    let mut leaves = keys.iter().filter(|key| key.leaf().is_some());
    match (leaves.next(), leaves.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// ✔ the key is the certificate's, ✖ it is not, ‼ it cannot be read.
fn check_pair(
    role: &str,
    name: &str,
    private_key: &str,
    values: &BTreeMap<String, Vec<u8>>,
    keys: &[CertKey],
) -> Option<CheckResult> {
    let certificate_key = paired_certificate_key(private_key, keys)?;
    let certificate = certificate_key.certificates.first()?;
    let pem = values.get(private_key)?;
    let pair = format!("{name}/{private_key} and {}", certificate_key.key);
    let check = match certs::key_matches(pem, certificate) {
        KeyMatch::Matches => Check::pass(format!("{pair} on {role}: the key is the certificate's")),
        KeyMatch::Mismatch => Check::fail(format!(
            "{pair} on {role}: {private_key} is not the key of {:?} ({} certificate)",
            certificate.display_name(),
            certs::key_algorithm(certificate)
        ))
        .hint(format!(
            "TLS with this secret will fail: write the certificate and its own key together into {name} (re-issue both, or restore the matching {private_key})"
        )),
        KeyMatch::Unknown(why) => Check::warn(format!(
            "{pair} on {role}: cannot compare: {private_key} is {why}"
        ))
        .hint(format!(
            "compare by hand: openssl x509 -noout -pubkey of {} and openssl pkey -pubout of {private_key}",
            certificate_key.key
        )),
    };
    Some(
        CheckResult::new(id::KEY_MATCH, check)
            .cluster(role)
            .secret(name)
            .key(private_key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::fixtures::{Ca, FLOATING, cluster, find, mp_secrets, options, run, secret};
    use crate::ui::check::CheckStatus;

    #[test]
    fn a_key_that_is_not_the_certificates_fails() {
        let root = Ca::root("Root CA");
        let (crt, _) = root.leaf(&[FLOATING]);
        let (_, other_key) = root.leaf(&[FLOATING]);
        let mut secrets = mp_secrets(&root);
        secrets[0] = secret(
            "tsb-certs",
            &[
                ("tls.crt", &crt),
                ("tls.key", &other_key),
                ("ca.crt", &root.pem),
            ],
        );
        let report = run(&[cluster("cluster", secrets)], &options());
        let result = find(&report, id::KEY_MATCH, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Fail);
        assert_eq!(result.key.as_deref(), Some("tls.key"));
        assert!(
            result
                .check
                .title
                .contains("tls.key is not the key of \"leaf\" (ECDSA certificate)"),
            "{}",
            result.check.title
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(other_key.lines().nth(1).unwrap()),
            "no key material in the report"
        );
    }

    #[test]
    fn key_pairs_follow_naming_conventions() {
        let keys = |names: &[&str]| -> Vec<CertKey> {
            names
                .iter()
                .map(|name| CertKey {
                    key: name.to_string(),
                    certificates: Vec::new(),
                })
                .collect()
        };
        let all = keys(&["tls.crt", "clientcert", "server.pem"]);
        assert_eq!(
            paired_certificate_key("tls.key", &all).unwrap().key,
            "tls.crt"
        );
        assert_eq!(
            paired_certificate_key("clientkey", &all).unwrap().key,
            "clientcert"
        );
        assert_eq!(
            paired_certificate_key("server.key", &all).unwrap().key,
            "server.pem"
        );
        assert!(
            paired_certificate_key("private.key", &all).is_none(),
            "no leaf to fall back on"
        );
    }
}
