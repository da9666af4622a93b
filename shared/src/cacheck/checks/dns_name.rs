//! `dns-name`: the leaves of `--dns-name-secrets` (tsb-certs and
//! xcp-central-cert) cover the floating name clients use, `--dns-name`;
//! skipped when it is not given.

use crate::cacheck::options::CheckOptions;
use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::CertKey;
use crate::secrets::certs::Certificate;
use crate::ui::check::Check;

/// A check per leaf of the secret, when it is one of `--dns-name-secrets`
/// and `--dns-name` is given.
pub(super) fn check(
    options: &CheckOptions,
    role: &str,
    name: &str,
    keys: &[CertKey],
) -> Vec<CheckResult> {
    let Some(dns_name) = &options.dns_name else {
        return Vec::new();
    };
    if !options.dns_name_secrets.iter().any(|wanted| wanted == name) {
        return Vec::new();
    }
    keys.iter()
        .filter_map(|key| key.leaf().map(|leaf| (key, leaf)))
        .map(|(key, leaf)| check_leaf(role, name, &key.key, leaf, dns_name))
        .collect()
}

fn check_leaf(
    role: &str,
    name: &str,
    key: &str,
    leaf: &Certificate,
    dns_name: &str,
) -> CheckResult {
    let check = if leaf.covers_name(dns_name) {
        Check::pass(format!("{name}/{key} on {role}: covers {dns_name}"))
    } else {
        let sans: Vec<String> = leaf
            .dns_names
            .iter()
            .cloned()
            .chain(leaf.ip_addresses.iter().map(ToString::to_string))
            .collect();
        let sans = if sans.is_empty() {
            "no SANs".to_string()
        } else {
            format!("SANs {}", sans.join(", "))
        };
        Check::fail(format!(
            "{name}/{key} on {role}: does not cover {dns_name} ({sans})"
        ))
        .hint(format!(
            "clients reach the MP as {dns_name}: re-issue {key} of secret {name} with {dns_name} among its DNS SANs (it may keep the MP's own name too)"
        ))
    };
    CheckResult::new(id::DNS_NAME, check)
        .cluster(role)
        .secret(name)
        .key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::fixtures::{Ca, cluster, find, mp_secrets, options, run};
    use crate::ui::check::CheckStatus;

    #[test]
    fn a_leaf_without_the_floating_name_fails_and_no_name_means_no_check() {
        let root = Ca::root("Root CA");
        let mut secrets = mp_secrets(&root);
        secrets[0] = root.tls_secret("tsb-certs", &["active.example.com"]);
        let snapshot = cluster("cluster", secrets);
        let report = run(std::slice::from_ref(&snapshot), &options());
        let checks = find(&report, id::DNS_NAME, None, None);
        assert_eq!(checks.len(), 2, "tsb-certs and xcp-central-cert only");
        let failed = find(&report, id::DNS_NAME, Some("tsb-certs"), None)[0];
        assert_eq!(failed.check.status, CheckStatus::Fail);
        assert_eq!(
            failed.check.title,
            "tsb-certs/tls.crt on cluster: does not cover tsb.example.com (SANs active.example.com)"
        );
        assert!(
            failed
                .check
                .hint
                .as_deref()
                .unwrap()
                .contains("re-issue tls.crt of secret tsb-certs with tsb.example.com")
        );

        let without = CheckOptions {
            dns_name: None,
            ..options()
        };
        assert!(find(&run(&[snapshot], &without), id::DNS_NAME, None, None).is_empty());
    }
}
