//! The checks of a pair, secret by secret: `present-on-both` (a secret
//! holding certificates on one side holds them on the other) and
//! `same-root` (both lead to the same set of roots, by SHA-256 fingerprint,
//! or, when the root is not in the secret, by issuer name and the key id
//! that signed; a name alone proves nothing and only warns).

use std::collections::{BTreeMap, BTreeSet};

use super::report::{CheckResult, id};
use super::secret_certs::{RootId, SecretCerts};
use super::snapshot::MpSnapshot;
use crate::ui::check::Check;

/// One side of the pair: its snapshot and what its secrets hold.
pub(super) type Side<'a> = (&'a MpSnapshot, &'a [SecretCerts]);

/// A check per secret found on either side, by name, appended to `checks`.
pub(super) fn compare(
    (first, first_certs): Side<'_>,
    (second, second_certs): Side<'_>,
    checks: &mut Vec<CheckResult>,
) {
    let (a, b) = (first.role.as_str(), second.role.as_str());
    let by_name = |all: &'_ [SecretCerts]| -> BTreeMap<String, usize> {
        all.iter()
            .enumerate()
            .map(|(index, certs)| (certs.name.clone(), index))
            .collect()
    };
    let (first_index, second_index) = (by_name(first_certs), by_name(second_certs));
    let names: BTreeSet<&String> = first_index.keys().chain(second_index.keys()).collect();
    for name in names {
        match (first_index.get(name), second_index.get(name)) {
            (Some(&i), Some(&j)) => checks.push(same_root(a, &first_certs[i], b, &second_certs[j])),
            (Some(_), None) => checks.push(present_on_both(name, a, b, second)),
            (None, Some(_)) => checks.push(present_on_both(name, b, a, first)),
            (None, None) => {}
        }
    }
}

/// A secret with certificates on one side only: ✖ missing on a cluster,
/// ‼ missing from a bundle (a bundle holds its install model's secrets).
fn present_on_both(
    name: &str,
    present_on: &str,
    missing_on: &str,
    missing: &MpSnapshot,
) -> CheckResult {
    let check = if missing.origin.is_bundle() {
        Check::warn(format!(
            "{name}: on {present_on}, not in the {missing_on} bundle; not compared"
        ))
        .hint("a bundle holds the secrets its install model copies; compare the clusters themselves to cover it")
    } else {
        Check::fail(format!(
            "{name}: holds certificates on {present_on}, none on {missing_on}"
        ))
        .hint(format!(
            "both MPs need the same certificates: copy {name} from the MP that serves clients today (kubectl mp-export, then kubectl mp-import), or provide it on {missing_on} from the same root CA"
        ))
    };
    CheckResult::new(id::PRESENT_ON_BOTH, check).secret(name)
}

/// ✔ the same roots on both sides, or ✖ naming both and what to do.
fn same_root(a: &str, first: &SecretCerts, b: &str, second: &SecretCerts) -> CheckResult {
    let name = &first.name;
    let key = leaf_key(first).or_else(|| leaf_key(second));
    let recorded = BTreeMap::from([
        (a.to_string(), fingerprints(first)),
        (b.to_string(), fingerprints(second)),
    ]);
    let roots_a: BTreeSet<&RootId> = first.roots.keys().collect();
    let roots_b: BTreeSet<&RootId> = second.roots.keys().collect();
    let check = if roots_a == roots_b && roots_a.iter().any(|root| root.by_name_only()) {
        // Two CAs may share a name: clients judge by key, so this is no proof.
        Check::warn(format!(
            "{name}: the same root CA name on {a} and {b}, but not the same root proven: {}",
            shown_roots(first)
        ))
        .hint(format!(
            "the chains stop below the root and their top certificates carry no authority key id: put the root CA certificate in {name} on both MPs (ca.crt) so it can be compared"
        ))
    } else if roots_a == roots_b {
        Check::pass(format!(
            "{name}: same root CA on {a} and {b}: {}",
            shown_roots(first)
        ))
    } else {
        let key_text = key.map(|key| format!("/{key}")).unwrap_or_default();
        Check::fail(format!(
            "{name}{key_text}: different root CAs on {a} and {b}"
        ))
        .hint(different_roots_hint(a, first, b, second))
    };
    let result = CheckResult::new(id::SAME_ROOT, check)
        .secret(name)
        .fingerprints(recorded);
    match key {
        Some(key) => result.key(key),
        None => result,
    }
}

/// Both sides' roots, and the fix: re-issue a leaf, copy a CA.
fn different_roots_hint(a: &str, first: &SecretCerts, b: &str, second: &SecretCerts) -> String {
    let name = &first.name;
    format!(
        "{a} root: {}; {b} root: {}. {}",
        shown_roots(first),
        shown_roots(second),
        if leaf_of(first).is_some() || leaf_of(second).is_some() {
            format!(
                "Clients that trust the {a} root will reject the {b} MP after failover: provide the same root CA to both MPs explicitly and re-issue the {b}'s {name} from it"
            )
        } else {
            format!(
                "Both MPs must trust the same CA: copy {name} from the {a} (kubectl mp-export, then kubectl mp-import), or provide the same CA to both explicitly"
            )
        }
    )
}

/// The roots' fingerprints as the report records them (`issuer:<DN>` for a
/// root not in the secret).
fn fingerprints(certs: &SecretCerts) -> Vec<String> {
    certs
        .roots
        .keys()
        .map(|root| match root {
            RootId::Certificate { fingerprint } => fingerprint.clone(),
            RootId::IssuerName { issuer, .. } => format!("issuer:{issuer}"),
        })
        .collect()
}

/// `"Root CA" sha256 AB:…; …`
fn shown_roots(certs: &SecretCerts) -> String {
    certs
        .roots
        .iter()
        .map(|(root, name)| format!("{name} {}", root.shown()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The key holding the secret's leaf (`tls.crt`), if any.
fn leaf_of(certs: &SecretCerts) -> Option<&str> {
    certs
        .keys
        .iter()
        .find(|key| key.leaf().is_some())
        .map(|key| key.key.as_str())
}

/// The key holding the secret's leaf, else its first certificate key.
fn leaf_key(certs: &SecretCerts) -> Option<&str> {
    leaf_of(certs).or_else(|| certs.keys.first().map(|key| key.key.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::fixtures::{
        Ca, FLOATING, cluster, failures, find, mp_secrets, options, run,
    };
    use crate::cacheck::snapshot::Origin;
    use crate::error::Exit;
    use crate::secrets::certs;
    use crate::ui::check::CheckStatus;

    #[test]
    fn a_standby_under_its_own_root_fails_naming_the_secret_and_both_fingerprints() {
        let shared = Ca::root("Shared Root CA");
        let own = Ca::root("Standby Root CA");
        let active = cluster("active", mp_secrets(&shared));
        let mut standby_secrets = mp_secrets(&shared);
        standby_secrets[0] = own.tls_secret("tsb-certs", &[FLOATING]);
        let standby = cluster("standby", standby_secrets);
        let report = run(&[active, standby], &options());
        assert_eq!(report.exit(false), Exit::Failed);
        let problems = failures(&report);
        assert_eq!(
            problems,
            ["Fail tsb-certs/tls.crt: different root CAs on active and standby"],
            "{problems:#?}"
        );
        let result = find(&report, id::SAME_ROOT, Some("tsb-certs"), None)[0];
        assert_eq!(result.key.as_deref(), Some("tls.crt"));
        let shared_fingerprint = certs::parse_pem_certificates(shared.pem.as_bytes()).unwrap()[0]
            .fingerprint
            .clone();
        let own_fingerprint = certs::parse_pem_certificates(own.pem.as_bytes()).unwrap()[0]
            .fingerprint
            .clone();
        let hint = result.check.hint.as_deref().unwrap();
        assert!(
            hint.contains(&format!(
                "active root: \"Shared Root CA\" sha256 {shared_fingerprint}"
            )),
            "{hint}"
        );
        assert!(
            hint.contains(&format!(
                "standby root: \"Standby Root CA\" sha256 {own_fingerprint}"
            )),
            "{hint}"
        );
        assert!(hint.contains("provide the same root CA to both MPs explicitly and re-issue the standby's tsb-certs"), "{hint}");
        assert_eq!(
            result.fingerprints,
            Some(BTreeMap::from([
                ("active".to_string(), vec![shared_fingerprint]),
                ("standby".to_string(), vec![own_fingerprint]),
            ]))
        );
    }

    #[test]
    fn a_secret_missing_on_a_cluster_fails_and_missing_from_a_bundle_warns() {
        let root = Ca::root("Root CA");
        let active = cluster("active", mp_secrets(&root));
        let mut standby = cluster("standby", mp_secrets(&root)[..2].to_vec());
        let report = run(&[active.clone(), standby.clone()], &options());
        let result = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Fail);
        assert_eq!(
            result.check.title,
            "es-certs: holds certificates on active, none on standby"
        );
        let report = run(&[standby.clone(), active.clone()], &options());
        let result = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(
            result.check.status,
            CheckStatus::Fail,
            "whichever side lacks it"
        );
        assert_eq!(
            result.check.title,
            "es-certs: holds certificates on active, none on standby"
        );

        standby.origin = Origin::Bundle {
            path: "standby.yaml".into(),
            context: "standby".into(),
            namespace: "tsb".into(),
            exported_at: "2026-11-25T17:00:00Z".into(),
        };
        let report = run(&[active, standby], &options());
        let result = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Warn);
        assert_eq!(
            find(&report, id::SELF_SIGNED_ISSUER, None, Some("standby"))[0]
                .check
                .title,
            "cert-manager on standby: no auto-generated root CA among 2 secrets (none written by cert-manager)",
            "a bundle is judged as a cluster is"
        );
        assert!(
            find(&report, id::SOURCE, None, Some("standby"))[0]
                .check
                .title
                .starts_with("standby bundle standby.yaml read: exported from context \"standby\"")
        );
    }

    /// Two roots that share a name, each behind an intermediate, neither in
    /// the secret: told apart by the key that signed (authority key id);
    /// without key ids a shared name proves nothing and only warns.
    #[test]
    fn roots_outside_the_secret_are_compared_by_key_not_by_name() {
        let leaf_secret = |ca: &Ca| {
            let (crt, key) = ca.leaf(&[FLOATING]);
            crate::cacheck::fixtures::secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)])
        };
        let same_root = |first: &Ca, second: &Ca| {
            let report = run(
                &[
                    cluster("active", vec![leaf_secret(first)]),
                    cluster("standby", vec![leaf_secret(second)]),
                ],
                &options(),
            );
            find(&report, id::SAME_ROOT, Some("tsb-certs"), None)[0]
                .check
                .clone()
        };
        let (one, other) = (
            Ca::root_with_key_ids("Root CA"),
            Ca::root_with_key_ids("Root CA"),
        );
        let (one_issuing, other_issuing) = (
            one.intermediate("Issuing CA"),
            other.intermediate("Issuing CA"),
        );
        let differ = same_root(
            &one_issuing.intermediate("MP CA"),
            &other_issuing.intermediate("MP CA"),
        );
        assert_eq!(differ.status, CheckStatus::Fail, "{differ:?}");
        assert!(differ.title.contains("different root CAs"), "{differ:?}");
        let same = same_root(
            &one_issuing.intermediate("MP CA"),
            &one_issuing.intermediate("MP CA"),
        );
        assert_eq!(same.status, CheckStatus::Pass, "one issuing key: {same:?}");

        let (plain, twin) = (Ca::root("Root CA"), Ca::root("Root CA"));
        let unknown = same_root(&plain.intermediate("MP CA"), &twin.intermediate("MP CA"));
        assert_eq!(unknown.status, CheckStatus::Warn, "{unknown:?}");
        assert!(
            unknown.title.contains("not the same root proven")
                && unknown
                    .hint
                    .as_deref()
                    .unwrap()
                    .contains("put the root CA certificate in tsb-certs"),
            "{unknown:?}"
        );
    }

    /// Chains that stop at an intermediate in tsb-certs, with each side's
    /// root in its custom-host-ca: the roots are compared by fingerprint,
    /// so twins that share only a name (and carry no key ids) fail instead
    /// of warning, and one root shared passes.
    #[test]
    fn roots_in_another_secret_of_each_side_are_compared_by_fingerprint() {
        let side = |role: &str, root: &Ca, issuing: &Ca| {
            let (crt, key) = issuing.leaf(&[FLOATING]);
            cluster(
                role,
                vec![
                    crate::cacheck::fixtures::secret(
                        "tsb-certs",
                        &[("tls.crt", &crt), ("tls.key", &key)],
                    ),
                    crate::cacheck::fixtures::secret(
                        "custom-host-ca",
                        &[("ca.crt", &root.root_pem)],
                    ),
                ],
            )
        };
        let same_root = |active: MpSnapshot, standby: MpSnapshot| {
            let report = run(&[active, standby], &options());
            find(&report, id::SAME_ROOT, Some("tsb-certs"), None)[0]
                .check
                .clone()
        };
        let (one, twin) = (Ca::root("Root CA"), Ca::root("Root CA"));
        let differ = same_root(
            side("active", &one, &one.intermediate("MP CA")),
            side("standby", &twin, &twin.intermediate("MP CA")),
        );
        assert_eq!(differ.status, CheckStatus::Fail, "{differ:?}");
        assert!(differ.title.contains("different root CAs"), "{differ:?}");
        let same = same_root(
            side("active", &one, &one.intermediate("MP CA")),
            side("standby", &one, &one.intermediate("MP CA")),
        );
        assert_eq!(same.status, CheckStatus::Pass, "{same:?}");
    }
}
