//! `expiry`: every certificate of a secret is valid now, and for
//! `--expiry-warning-days` more; the soonest to expire is named.

use std::collections::BTreeSet;

use crate::cacheck::options::CheckOptions;
use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::CertKey;
use crate::secrets::certs::{self, Certificate};
use crate::ui::check::{Check, CheckStatus};

const SECONDS_PER_DAY: i64 = 86_400;

fn date(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|timestamp| timestamp.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("@{unix_seconds}"))
}

/// ✖ expired or not yet valid, ‼ expiring soon, else ✔ valid until when,
/// for the certificates the secret relies on: its leaves and their chains.
/// A CA in a bundle key (`ca.crt`) that no leaf of the secret chains to (a
/// third party's root, as in `custom-host-ca`) only warns, expired or not:
/// it breaks connections to the hosts it was for, not the MP.
pub(super) fn check(
    options: &CheckOptions,
    role: &str,
    name: &str,
    keys: &[CertKey],
) -> CheckResult {
    let (relied, bundle_only) = partition(keys);
    let relied_on = judge(options, role, name, &relied);
    if relied_on.check.failed() || bundle_only.is_empty() {
        return relied_on;
    }
    let bundle = judge(options, role, name, &bundle_only);
    if !relied.is_empty() && bundle.check.status == CheckStatus::Pass {
        return relied_on;
    }
    let mut check = bundle.check;
    if check.failed() {
        check = Check::warn(format!(
            "{} (a CA no certificate of the secret chains to)",
            check.title
        ))
        .hint(format!(
            "remove it from {name} when no host still needs it; the MP itself does not rely on it"
        ));
    }
    CheckResult { check, ..bundle }
}

/// Each certificate with its key: (relied on, in a bundle only).
type Keyed<'a> = Vec<(&'a str, &'a Certificate)>;

/// The certificates a leaf of the secret relies on (the leaves' keys, and
/// every certificate on a leaf's chain), and the others of its CA bundles.
fn partition(keys: &[CertKey]) -> (Keyed<'_>, Keyed<'_>) {
    let candidates: Vec<Certificate> = keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();
    let on_chains: BTreeSet<String> = keys
        .iter()
        .filter_map(CertKey::leaf)
        .flat_map(|leaf| certs::build_chain(leaf, &candidates).path)
        .map(|certificate| certificate.fingerprint)
        .collect();
    let mut relied = Vec::new();
    let mut bundle_only = Vec::new();
    for key in keys {
        let bundle = key.leaf().is_none();
        for certificate in &key.certificates {
            if bundle && !on_chains.contains(&certificate.fingerprint) {
                bundle_only.push((key.key.as_str(), certificate));
            } else {
                relied.push((key.key.as_str(), certificate));
            }
        }
    }
    (relied, bundle_only)
}

fn judge(
    options: &CheckOptions,
    role: &str,
    name: &str,
    all: &[(&str, &Certificate)],
) -> CheckResult {
    let not_yet_valid = all
        .iter()
        .find(|(_, certificate)| certificate.not_before > options.now);
    let Some(&(soonest_key, soonest)) = all
        .iter()
        .min_by_key(|(_, certificate)| certificate.not_after)
    else {
        return CheckResult::new(
            id::EXPIRY,
            Check::pass(format!("{name} on {role}: no certificates")),
        );
    };
    let days_left = (soonest.not_after - options.now).div_euclid(SECONDS_PER_DAY);
    let renew = format!(
        "renew it: re-issue the certificate in {soonest_key} of secret {name} (cert-manager: cmctl renew; otherwise from the shared root CA) on BOTH MPs"
    );
    let result = if soonest.not_after <= options.now {
        CheckResult::new(
            id::EXPIRY,
            Check::fail(format!(
                "{name}/{soonest_key} on {role}: {:?} expired on {}",
                soonest.display_name(),
                date(soonest.not_after)
            ))
            .hint(renew),
        )
        .key(soonest_key)
    } else if let Some(&(key, early)) = not_yet_valid {
        CheckResult::new(
            id::EXPIRY,
            Check::fail(format!(
                "{name}/{key} on {role}: {:?} is not valid before {}",
                early.display_name(),
                date(early.not_before)
            ))
            .hint("check the clock of the machine that issued it, or wait"),
        )
        .key(key)
    } else if days_left < options.expiry_warning_days {
        CheckResult::new(
            id::EXPIRY,
            Check::warn(format!(
                "{name}/{soonest_key} on {role}: {:?} expires in {days_left} days ({})",
                soonest.display_name(),
                date(soonest.not_after)
            ))
            .hint(renew),
        )
        .key(soonest_key)
    } else {
        CheckResult::new(
            id::EXPIRY,
            Check::pass(format!(
                "{name} on {role}: certificates valid until at least {} ({days_left} days)",
                date(soonest.not_after)
            )),
        )
    };
    result.cluster(role).secret(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::fixtures::{Ca, cluster, find, mp_secrets, options, run};
    use crate::error::Exit;
    use crate::secrets::certs;
    use crate::secrets::redact::secret_values;
    use crate::ui::check::CheckStatus;

    #[test]
    fn expired_and_expiring_certificates_fail_and_warn() {
        let root = Ca::root("Root CA");
        let snapshot = cluster("cluster", mp_secrets(&root));
        let leaf = certs::parse_pem_certificates(&secret_values(&snapshot.secrets[0])["tls.crt"])
            .unwrap()[0]
            .clone();
        let soonest = leaf.not_after;

        let expired = CheckOptions {
            now: soonest + 1,
            ..options()
        };
        let report = run(std::slice::from_ref(&snapshot), &expired);
        let result = find(&report, id::EXPIRY, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Fail);
        assert!(
            result
                .check
                .title
                .starts_with("tsb-certs/tls.crt on cluster: \"leaf\" expired on "),
            "{}",
            result.check.title
        );
        assert!(
            result
                .check
                .hint
                .as_deref()
                .unwrap()
                .contains("on BOTH MPs")
        );
        assert_eq!(report.exit(false), Exit::Failed);

        let expiring = CheckOptions {
            now: soonest - 10 * SECONDS_PER_DAY,
            ..options()
        };
        let report = run(std::slice::from_ref(&snapshot), &expiring);
        let result = find(&report, id::EXPIRY, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Warn);
        assert!(
            result.check.title.contains("expires in 10 days"),
            "{}",
            result.check.title
        );
        assert_eq!(report.exit(false), Exit::Ok, "warnings exit 0");
        assert_eq!(report.exit(true), Exit::Failed, "unless --strict");

        let early = CheckOptions {
            now: leaf.not_before - 1,
            ..options()
        };
        let result = find(
            &run(std::slice::from_ref(&snapshot), &early),
            id::EXPIRY,
            Some("tsb-certs"),
            None,
        )[0]
        .clone();
        assert_eq!(result.check.status, CheckStatus::Fail);
        assert!(
            result.check.title.contains("is not valid before"),
            "{}",
            result.check.title
        );
    }

    /// A CA certificate made with rcgen, valid from `from` to `to` (years).
    fn ca_pem(name: &str, from: i32, to: i32) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    /// An expired third party's root in a CA bundle warns (an expired
    /// certificate a leaf relies on fails: the test above); a bundle of
    /// valid CAs passes as before.
    #[test]
    fn an_expired_ca_no_leaf_chains_to_only_warns() {
        let root = Ca::root("Root CA");
        let expired = ca_pem("Old Partner Root", 2000, 2001);
        let bundle = format!("{}{expired}", root.pem);
        let mut secrets = mp_secrets(&root);
        secrets.push(crate::cacheck::fixtures::secret(
            "custom-host-ca",
            &[("ca.crt", &bundle)],
        ));
        let report = run(&[cluster("cluster", secrets)], &options());
        let result = find(&report, id::EXPIRY, Some("custom-host-ca"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Warn, "{:?}", result.check);
        assert!(
            result
                .check
                .title
                .contains("\"Old Partner Root\" expired on")
                && result
                    .check
                    .title
                    .contains("a CA no certificate of the secret chains to"),
            "{:?}",
            result.check
        );
        assert_eq!(report.exit(false), Exit::Ok, "a warning does not fail");

        let valid_bundle =
            crate::cacheck::fixtures::secret("custom-host-ca", &[("ca.crt", &root.pem)]);
        let report = run(&[cluster("cluster", vec![valid_bundle])], &options());
        let result = find(&report, id::EXPIRY, Some("custom-host-ca"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Pass, "{:?}", result.check);
        assert!(
            result.check.title.contains("valid until at least"),
            "{:?}",
            result.check
        );
    }
}
