//! `chain`: each leaf verifies, signature by signature, up to a self-signed
//! root the secret holds. Also finds the roots a secret's certificates lead
//! to, leaves and CA bundles alike, for the pair's `same-root`.

use std::collections::BTreeMap;

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::{CertKey, RootId};
use crate::secrets::certs::{self, Certificate, ChainEnd};
use crate::ui::check::Check;

/// A check per leaf, appended to `checks`; returns the roots every key
/// leads to, with their names as shown. A chain that leaves the secret is
/// completed, where it can be, with the certificates of `side`'s other
/// secrets (a root kept in `custom-host-ca`, say), so its root is compared
/// by fingerprint rather than by name.
pub(super) fn check(
    role: &str,
    name: &str,
    keys: &[CertKey],
    side: &[(&str, &Certificate)],
    checks: &mut Vec<CheckResult>,
) -> BTreeMap<RootId, String> {
    let candidates: Vec<Certificate> = keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();
    let elsewhere: Vec<(&str, &Certificate)> = side
        .iter()
        .filter(|(secret, _)| *secret != name)
        .copied()
        .collect();
    let chain_of = |certificate: &Certificate| {
        complete_elsewhere(certs::build_chain(certificate, &candidates), &elsewhere)
    };
    let mut roots = BTreeMap::new();
    for key in keys {
        match key.leaf() {
            Some(leaf) => {
                let (chain, from) = chain_of(leaf);
                checks.push(check_leaf(role, name, &key.key, &chain, &from));
                let (root, shown) = root_of(&chain);
                roots.insert(root, shown);
            }
            None => {
                // A CA bundle: every certificate in it is a root, or leads to one.
                for certificate in &key.certificates {
                    let (root, shown) = root_of(&chain_of(certificate).0);
                    roots.insert(root, shown);
                }
            }
        }
    }
    roots
}

/// `chain` carried on to a root through `elsewhere`'s certificates when it
/// stopped at an issuer its own secret lacks, every signature verified;
/// with the names of the secrets that completed it. Unchanged (and no
/// names) when no root is reached that way.
fn complete_elsewhere(
    chain: certs::Chain,
    elsewhere: &[(&str, &Certificate)],
) -> (certs::Chain, Vec<String>) {
    if !matches!(chain.end, ChainEnd::IssuerMissing { .. }) || elsewhere.is_empty() {
        return (chain, Vec::new());
    }
    let others: Vec<Certificate> = elsewhere
        .iter()
        .map(|(_, certificate)| (*certificate).clone())
        .collect();
    let rest = certs::build_chain(chain.top(), &others);
    if rest.end != ChainEnd::Root {
        return (chain, Vec::new());
    }
    let mut from: Vec<String> = rest.path[1..]
        .iter()
        .filter_map(|added| {
            elsewhere
                .iter()
                .find(|(_, certificate)| certificate.fingerprint == added.fingerprint)
                .map(|(secret, _)| secret.to_string())
        })
        .collect();
    from.sort();
    from.dedup();
    let mut path = chain.path;
    path.extend(rest.path.into_iter().skip(1));
    (
        certs::Chain {
            path,
            end: ChainEnd::Root,
        },
        from,
    )
}

fn root_of(chain: &certs::Chain) -> (RootId, String) {
    match (&chain.end, chain.root()) {
        (ChainEnd::Root, Some(root)) => (
            RootId::Certificate {
                fingerprint: root.fingerprint.clone(),
            },
            format!("{:?}", root.display_name()),
        ),
        _ => {
            let top = chain.top();
            (
                RootId::IssuerName {
                    issuer: top.issuer.clone(),
                    key_id: top.authority_key_id.clone(),
                },
                format!("{:?}", top.issuer),
            )
        }
    }
}

/// ✔ up to a root in the secret (or, named, in others of its side), ‼ up to
/// an issuer none holds, ✖ a bad signature.
fn check_leaf(
    role: &str,
    name: &str,
    key: &str,
    chain: &certs::Chain,
    completed_by: &[String],
) -> CheckResult {
    let leaf = chain.path[0].display_name();
    let result = match &chain.end {
        ChainEnd::Root => {
            let root = chain.top();
            let elsewhere = if completed_by.is_empty() {
                String::new()
            } else {
                format!(", completed from secret {}", completed_by.join(", "))
            };
            CheckResult::new(
                id::CHAIN,
                Check::pass(format!(
                    "{name}/{key} on {role}: {leaf:?} verifies up to root {:?} ({} certificates{elsewhere})",
                    root.display_name(),
                    chain.path.len()
                )),
            )
            .fingerprints(BTreeMap::from([(
                role.to_string(),
                vec![root.fingerprint.clone()],
            )]))
        }
        ChainEnd::IssuerMissing { issuer } => CheckResult::new(
            id::CHAIN,
            Check::warn(format!(
                "{name}/{key} on {role}: {leaf:?} verifies up to {:?}, whose issuer {issuer} is not in the secret nor in another secret on {role}",
                chain.top().display_name()
            ))
            .hint(format!(
                "the root is compared by name only; add the root CA certificate to secret {name} (key ca.crt) so its fingerprint can be compared"
            )),
        ),
        ChainEnd::BadSignature { subject, issuer } => CheckResult::new(
            id::CHAIN,
            Check::fail(format!(
                "{name}/{key} on {role}: the signature of {subject} does not verify with the key of {issuer}"
            ))
            .hint(format!(
                "secret {name} holds a CA named {issuer} that did not issue {subject}: put the issuing CA's certificate in it, or re-issue {key} from the CA it holds"
            )),
        ),
    };
    result.cluster(role).secret(name).key(key)
}

#[cfg(test)]
mod tests {
    use crate::cacheck::fixtures::{Ca, FLOATING, cluster, find, options, run, secret};
    use crate::cacheck::report::id;
    use crate::ui::check::CheckStatus;

    #[test]
    fn a_chain_whose_root_is_elsewhere_warns_and_compares_by_issuer_name() {
        let root = Ca::root("Public Root");
        let intermediate = root.intermediate("Public R1");
        let (crt, key) = intermediate.leaf(&[FLOATING]);
        let secret = secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)]);
        let report = run(&[cluster("cluster", vec![secret])], &options());
        let result = find(&report, id::CHAIN, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Warn);
        assert!(
            result.check.title.contains(
                "verifies up to \"Public R1\", whose issuer CN=Public Root is not in the secret"
            ),
            "{}",
            result.check.title
        );
    }

    /// The root a chain leaves its secret for is found in another secret of
    /// the same side (custom-host-ca): verified, named, and compared by
    /// fingerprint. A root there that shares the name but did not sign is
    /// no completion: the chain still warns.
    #[test]
    fn a_root_kept_in_another_secret_completes_the_chain() {
        let root = Ca::root("Corporate Root");
        let issuing = root.intermediate("Corporate Issuing");
        let (crt, key) = issuing.leaf(&[FLOATING]);
        let leaf_only = || secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)]);
        let bundle = |root_pem: &str| secret("custom-host-ca", &[("ca.crt", root_pem)]);
        let report = run(
            &[cluster(
                "cluster",
                vec![leaf_only(), bundle(&root.root_pem)],
            )],
            &options(),
        );
        let result = find(&report, id::CHAIN, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Pass, "{result:?}");
        assert!(
            result.check.title.contains(
                "verifies up to root \"Corporate Root\" (3 certificates, completed from secret custom-host-ca)"
            ),
            "{}",
            result.check.title
        );
        assert!(
            result
                .fingerprints
                .as_ref()
                .is_some_and(|by_cluster| by_cluster["cluster"].len() == 1),
            "{result:?}"
        );

        let impostor = Ca::root("Corporate Root");
        let report = run(
            &[cluster(
                "cluster",
                vec![leaf_only(), bundle(&impostor.root_pem)],
            )],
            &options(),
        );
        let result = find(&report, id::CHAIN, Some("tsb-certs"), None)[0];
        assert_eq!(result.check.status, CheckStatus::Warn, "{result:?}");
        assert!(
            result
                .check
                .title
                .contains("is not in the secret nor in another secret on cluster"),
            "{}",
            result.check.title
        );
    }
}
