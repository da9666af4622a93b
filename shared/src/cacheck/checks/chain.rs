//! `chain`: each leaf verifies, signature by signature, up to a self-signed
//! root the secret holds. Also finds the roots a secret's certificates lead
//! to, leaves and CA bundles alike, for the pair's `same-root`.

use std::collections::BTreeMap;

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::{CertKey, RootId};
use crate::secrets::certs::{self, Certificate, ChainEnd};
use crate::ui::check::Check;

/// A check per leaf, appended to `checks`; returns the roots every key
/// leads to, with their names as shown.
pub(super) fn check(
    role: &str,
    name: &str,
    keys: &[CertKey],
    checks: &mut Vec<CheckResult>,
) -> BTreeMap<RootId, String> {
    let candidates: Vec<Certificate> = keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();
    let mut roots = BTreeMap::new();
    for key in keys {
        match key.leaf() {
            Some(leaf) => {
                let chain = certs::build_chain(leaf, &candidates);
                checks.push(check_leaf(role, name, &key.key, &chain));
                let (root, shown) = root_of(&chain);
                roots.insert(root, shown);
            }
            None => {
                // A CA bundle: every certificate in it is a root, or leads to one.
                for certificate in &key.certificates {
                    let chain = certs::build_chain(certificate, &candidates);
                    let (root, shown) = root_of(&chain);
                    roots.insert(root, shown);
                }
            }
        }
    }
    roots
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

/// ✔ up to a root in the secret, ‼ up to an issuer it lacks, ✖ a bad signature.
fn check_leaf(role: &str, name: &str, key: &str, chain: &certs::Chain) -> CheckResult {
    let leaf = chain.path[0].display_name();
    let result = match &chain.end {
        ChainEnd::Root => {
            let root = chain.top();
            CheckResult::new(
                id::CHAIN,
                Check::pass(format!(
                    "{name}/{key} on {role}: {leaf:?} verifies up to root {:?} ({} certificates)",
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
                "{name}/{key} on {role}: {leaf:?} verifies up to {:?}, whose issuer {issuer} is not in the secret",
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
}
