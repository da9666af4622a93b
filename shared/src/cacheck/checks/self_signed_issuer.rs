//! `self-signed-issuer`: cert-manager generated no root CA of its own (the
//! runbook's CA caution), judged from the Secrets alone: a secret it wrote
//! whose `tls.crt` signs itself comes from a selfSigned issuer. What such a
//! root feeds is followed by signature, through the CA secrets cert-manager
//! issued under it, so that a renamed or extra CA Issuer cannot hide a
//! secret.

use std::collections::{BTreeMap, BTreeSet};

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::{
    CertKey, MANAGED_LABEL, SecretCerts, written_by_cert_manager,
};
use crate::cacheck::snapshot::{MpSnapshot, Origin};
use crate::secrets::certs::{self, Certificate};
use crate::tsb::layout::TsbLayout;
use crate::ui::check::Check;

/// Where cert-manager writes a Certificate's leaf and its chain.
const TLS_CRT: &str = "tls.crt";

/// The runbook's own words, quoted in the self-signed issuer hint.
const RUNBOOK_CAUTION: &str = "the runbook: \"Do not use an auto-generated (e.g., by cert-manager) Root CA in each MP instance to procure TLS certificates for TSB, XCP, ElasticSearch and Postgres. If you have to use a self-signed CA, provide it explicitly as part of each Management Plane deployment.\" Both MPs would get out of sync once one rotates its root";

/// ✔ no auto-generated root among the side's secrets, or ✖ per such root:
/// the secrets it feeds and how, with the runbook's warning; and ‼ when
/// Secrets cert-manager wrote lack its label ([`unlabelled`]).
pub(super) fn check(
    layout: &TsbLayout,
    snapshot: &MpSnapshot,
    found: &[SecretCerts],
) -> Vec<CheckResult> {
    let role = snapshot.role.as_str();
    let roots = auto_generated_roots(layout, found);
    let mut results = if roots.is_empty() {
        vec![none_found(snapshot, found)]
    } else {
        roots
            .into_iter()
            .map(|root| {
                let secrets = root.secrets.join(", ");
                let check = Check::fail(format!(
                    "cert-manager on {role}: an auto-generated self-signed root CA feeds {secrets}: {}",
                    root.description
                ))
                .hint(format!(
                    "{RUNBOOK_CAUTION}. Instead: create the root CA once, store it as the same Secret on both MPs, point a CA Issuer (spec.ca.secretName) at it in place of the selfSigned chain, and re-issue {secrets}; or use a well-known third-party CA"
                ));
                CheckResult::new(id::SELF_SIGNED_ISSUER, check).cluster(role)
            })
            .collect()
    };
    results.extend(unlabelled(snapshot));
    results
}

/// ‼ when Secrets read from a cluster carry cert-manager's annotations but
/// not its [`MANAGED_LABEL`]: a cert-manager before 1.12 wrote them, and
/// the Secrets it wrote that the layout does not name, found by that label
/// alone, may be missing from this check.
fn unlabelled(snapshot: &MpSnapshot) -> Option<CheckResult> {
    let Origin::Context { namespace, .. } = &snapshot.origin else {
        return None;
    };
    let names: Vec<&str> = snapshot
        .secrets
        .iter()
        .filter(|secret| {
            written_by_cert_manager(secret).is_some()
                && !secret
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|labels| labels.contains_key(MANAGED_LABEL))
        })
        .filter_map(|secret| secret.metadata.name.as_deref())
        .collect();
    if names.is_empty() {
        return None;
    }
    let role = snapshot.role.as_str();
    let check = Check::warn(format!(
        "cert-manager on {role}: {} carry its annotations but not its label {MANAGED_LABEL} (written before cert-manager 1.12): other Secrets it wrote are not looked at",
        names.join(", ")
    ))
    .hint(format!(
        "label them as cert-manager 1.12 and later does, then check again: kubectl label secret -n {namespace} {} {MANAGED_LABEL}=true",
        names.join(" ")
    ));
    Some(CheckResult::new(id::SELF_SIGNED_ISSUER, check).cluster(role))
}

/// ✔ saying how many secrets were looked at and which cert-manager wrote.
fn none_found(snapshot: &MpSnapshot, found: &[SecretCerts]) -> CheckResult {
    let role = snapshot.role.as_str();
    let mut written: Vec<&str> = found
        .iter()
        .filter(|certs| certs.written.is_some())
        .map(|certs| certs.name.as_str())
        .collect();
    written.sort_unstable();
    let looked_at = if written.is_empty() {
        "none written by cert-manager".to_string()
    } else {
        format!(
            "cert-manager wrote {}, none self-signed",
            written.join(", ")
        )
    };
    let check = Check::pass(format!(
        "cert-manager on {role}: no auto-generated root CA among {} secrets ({looked_at})",
        snapshot.secrets.len()
    ));
    CheckResult::new(id::SELF_SIGNED_ISSUER, check).cluster(role)
}

/// A root cert-manager generated and what it signs.
struct AutoGeneratedRoot {
    /// `Issuer xcp-trust-anchor (selfSigned) → Certificate … → …`
    description: String,
    /// The secret holding the root and every secret that leads to it.
    secrets: Vec<String>,
}

/// Every root cert-manager generated itself: a secret it wrote whose
/// `tls.crt` signs itself, which only a selfSigned issuer makes it write.
fn auto_generated_roots(layout: &TsbLayout, found: &[SecretCerts]) -> Vec<AutoGeneratedRoot> {
    let mut roots = Vec::new();
    for (root_index, root) in found.iter().enumerate() {
        let (Some(written), Some(certificate)) = (&root.written, issued(root)) else {
            continue;
        };
        if !certificate.is_self_signed() {
            continue;
        }
        let signers = signers_for(found, root_index, certificate);
        // Each secret the root feeds, with the secret of the signer above it.
        let fed: Vec<(usize, usize)> = (0..found.len())
            .filter(|index| *index != root_index)
            .filter_map(|index| signer_of(found, index, &signers).map(|by| (index, by)))
            .collect();
        let mut steps = vec![
            format!("{} (selfSigned)", written.issuer),
            format!(
                "Certificate {} ({}secret {})",
                written.certificate,
                if certificate.is_ca { "isCA, " } else { "" },
                root.name
            ),
        ];
        steps.extend(fed_steps(layout, found, &signers, &fed));
        let secrets: BTreeSet<String> = std::iter::once(root.name.clone())
            .chain(fed.iter().map(|(index, _)| found[*index].name.clone()))
            .collect();
        roots.push(AutoGeneratedRoot {
            description: steps.join(" → "),
            secrets: secrets.into_iter().collect(),
        });
    }
    roots
}

/// `tls.crt`'s first certificate: the one cert-manager issued into the secret.
fn issued(certs: &SecretCerts) -> Option<&Certificate> {
    certs
        .keys
        .iter()
        .find(|key| key.key == TLS_CRT)
        .and_then(|key| key.certificates.first())
}

/// The root (at `root_index` in `found`), then every CA cert-manager issued
/// under it: they sign for it. Each with the index of its secret.
fn signers_for<'a>(
    found: &'a [SecretCerts],
    root_index: usize,
    root: &'a Certificate,
) -> Vec<(usize, &'a Certificate)> {
    let mut signers = vec![(root_index, root)];
    loop {
        let before = signers.len();
        for (index, certs) in found.iter().enumerate() {
            let Some(ca) = issued(certs).filter(|ca| ca.is_ca) else {
                continue;
            };
            if certs.written.is_some()
                && !signers.iter().any(|(owner, _)| *owner == index)
                && signer_of(found, index, &signers).is_some()
            {
                signers.push((index, ca));
            }
        }
        if signers.len() == before {
            return signers;
        }
    }
}

/// The secret (its index in `found`) of the first of `signers` that the
/// secret at `index` leads to: one of its certificates is that signer, or
/// verifies up to it through the certificates it holds. The leaf's chain is
/// tried first, so a leaf names the CA that issued it even when its `ca.crt`
/// holds the root above that CA. A secret's own certificate does not count:
/// a CA secret is fed by the one above it.
fn signer_of(
    found: &[SecretCerts],
    index: usize,
    signers: &[(usize, &Certificate)],
) -> Option<usize> {
    let certs = &found[index];
    let others: Vec<(usize, &Certificate)> = signers
        .iter()
        .copied()
        .filter(|(owner, _)| *owner != index)
        .collect();
    let mut candidates: Vec<Certificate> = certs
        .keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();
    candidates.extend(others.iter().map(|(_, signer)| (*signer).clone()));
    let (leaves, bundles): (Vec<&CertKey>, Vec<&CertKey>) =
        certs.keys.iter().partition(|key| key.leaf().is_some());
    leaves
        .into_iter()
        .chain(bundles)
        .flat_map(|key| &key.certificates)
        .find_map(|certificate| {
            certs::build_chain(certificate, &candidates)
                .path
                .iter()
                .find_map(|step| {
                    others
                        .iter()
                        .find(|(_, signer)| signer.fingerprint == step.fingerprint)
                        .map(|(owner, _)| *owner)
                })
        })
}

/// The description's steps below the root: per signer, the secrets it
/// feeds, grouped by the issuer cert-manager names (`Issuer x (ca) →
/// secrets a, b`), or `secrets c (not written by cert-manager)`. `fed`:
/// (secret, its signer's secret), as indexes in `found`.
fn fed_steps(
    layout: &TsbLayout,
    found: &[SecretCerts],
    signers: &[(usize, &Certificate)],
    fed: &[(usize, usize)],
) -> Vec<String> {
    let mut steps = Vec::new();
    for (signer, _) in signers {
        // By the issuer cert-manager names; None: not written by cert-manager.
        let mut by_issuer: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
        for (index, _) in fed.iter().filter(|(_, by)| by == signer) {
            let certs = &found[*index];
            by_issuer
                .entry(
                    certs
                        .written
                        .as_ref()
                        .map(|written| written.issuer.as_str()),
                )
                .or_default()
                .push(&certs.name);
        }
        for (issuer, mut names) in by_issuer {
            names.sort_by_key(|name| shown_order(layout, name));
            let names = names.join(", ");
            steps.push(match issuer {
                Some(issuer) => format!("{issuer} (ca) → secrets {names}"),
                None => format!("secrets {names} (not written by cert-manager)"),
            });
        }
    }
    steps
}

/// The MP's own certificates in the layout's order, then the others by name.
fn shown_order(layout: &TsbLayout, name: &str) -> (usize, String) {
    let position = layout
        .certificate_secrets
        .iter()
        .position(|known| known == name);
    (position.unwrap_or(usize::MAX), name.to_string())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;
    use crate::cacheck::fixtures::{
        Ca, FLOATING, cluster, failures, find, mp_secrets, options, run, secret, written,
    };
    use crate::cacheck::report::Report;
    use crate::cacheck::snapshot::bundle_snapshot;
    use crate::secrets::bundle::Bundle;
    use crate::ui::check::CheckStatus;

    /// tctl's `--xcp-certs` shape, as cert-manager leaves it in Secrets:
    /// Issuer xcp-trust-anchor (selfSigned) wrote the CA xcp-identity-issuer,
    /// Issuer xcp-identity-issuer (ca) the leaves. tsb-certs and es-certs
    /// come from `shared`.
    fn xcp_self_signed_chain(shared: &Ca) -> Vec<Secret> {
        let identity = Ca::root("xcp-identity-issuer");
        let mut secrets = mp_secrets(shared);
        secrets[1] = written(
            identity.tls_secret("xcp-central-cert", &[FLOATING]),
            "Issuer xcp-identity-issuer",
        );
        secrets.push(written(
            identity.tls_secret("mpc-certs", &["mpc"]),
            "Issuer xcp-identity-issuer",
        ));
        secrets.push(written(
            identity.ca_secret("xcp-identity-issuer"),
            "Issuer xcp-trust-anchor",
        ));
        secrets
    }

    const XCP_CHAIN: &str = "cert-manager on cluster: an auto-generated self-signed root CA feeds mpc-certs, xcp-central-cert, xcp-identity-issuer: Issuer xcp-trust-anchor (selfSigned) → Certificate xcp-identity-issuer (isCA, secret xcp-identity-issuer) → Issuer xcp-identity-issuer (ca) → secrets xcp-central-cert, mpc-certs";

    fn self_signed_issuer(report: &Report) -> Vec<&CheckResult> {
        find(report, id::SELF_SIGNED_ISSUER, None, None)
    }

    #[test]
    fn the_xcp_certs_chain_fails_with_the_runbooks_warning_and_its_secrets_are_checked() {
        let shared = Ca::root("Root CA");
        let report = run(
            &[cluster("cluster", xcp_self_signed_chain(&shared))],
            &options(),
        );
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1, "one root, one failure");
        assert_eq!(checks[0].check.status, CheckStatus::Fail);
        assert_eq!(checks[0].check.title, XCP_CHAIN);
        let hint = checks[0].check.hint.as_deref().unwrap();
        assert!(
            hint.contains(
                "\"Do not use an auto-generated (e.g., by cert-manager) Root CA in each MP instance"
            ),
            "{hint}"
        );
        assert!(
            hint.contains("point a CA Issuer (spec.ca.secretName) at it")
                && hint.ends_with("re-issue mpc-certs, xcp-central-cert, xcp-identity-issuer; or use a well-known third-party CA"),
            "{hint}"
        );
        assert!(
            find(&report, id::CHAIN, Some("mpc-certs"), None)[0]
                .check
                .title
                .contains("\"xcp-identity-issuer\""),
            "cert-manager's secrets are checked too"
        );
        assert!(
            !find(&report, id::EXPIRY, Some("xcp-identity-issuer"), None).is_empty(),
            "the root's own secret too"
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            !text.contains("PRIVATE KEY"),
            "no key material in the report"
        );
    }

    #[test]
    fn secrets_cert_manager_wrote_without_its_label_are_named_with_the_label_command() {
        let shared = Ca::root("Root CA");
        let mut secrets = mp_secrets(&shared);
        secrets[0] = written(secrets[0].clone(), "Issuer tsb-issuer");
        secrets[0].metadata.labels = None;
        let report = run(&[cluster("cluster", secrets.clone())], &options());
        let checks = self_signed_issuer(&report);
        let warning = checks
            .iter()
            .find(|check| check.check.status == CheckStatus::Warn)
            .expect("a warning");
        assert_eq!(
            warning.check.title,
            "cert-manager on cluster: tsb-certs carry its annotations but not its label controller.cert-manager.io/fao (written before cert-manager 1.12): other Secrets it wrote are not looked at"
        );
        assert_eq!(
            warning.check.hint.as_deref(),
            Some(
                "label them as cert-manager 1.12 and later does, then check again: kubectl label secret -n tsb tsb-certs controller.cert-manager.io/fao=true"
            )
        );

        // Labelled, or read from a bundle (which holds every Secret
        // exported): nothing to warn about.
        let labelled = run(
            &[cluster("cluster", {
                let mut secrets = secrets.clone();
                secrets[0] = written(secrets[0].clone(), "Issuer tsb-issuer");
                secrets
            })],
            &options(),
        );
        let bundle = MpSnapshot {
            role: "bundle".into(),
            origin: Origin::Bundle {
                path: "bundle.yaml".into(),
                context: "active".into(),
                namespace: "tsb".into(),
                exported_at: "2026-11-25T17:00:00Z".into(),
            },
            secrets,
        };
        for report in [labelled, run(&[bundle], &options())] {
            assert!(
                self_signed_issuer(&report)
                    .iter()
                    .all(|check| check.check.status == CheckStatus::Pass),
                "{:?}",
                self_signed_issuer(&report)
            );
        }
    }

    #[test]
    fn a_self_signed_leaf_written_by_cert_manager_fails() {
        let root = Ca::root("Root CA");
        let mut params = CertificateParams::new(vec![FLOATING.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "tsb");
        let key = KeyPair::generate().unwrap();
        let crt = params.self_signed(&key).unwrap().pem();
        let mut secrets = mp_secrets(&root);
        secrets[0] = written(
            secret(
                "tsb-certs",
                &[
                    ("tls.crt", &crt),
                    ("tls.key", &key.serialize_pem()),
                    ("ca.crt", &crt),
                ],
            ),
            "ClusterIssuer selfsigned",
        );
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].check.status, CheckStatus::Fail);
        assert_eq!(
            checks[0].check.title,
            "cert-manager on cluster: an auto-generated self-signed root CA feeds tsb-certs: ClusterIssuer selfsigned (selfSigned) → Certificate tsb-certs (secret tsb-certs)"
        );
    }

    #[test]
    fn what_the_root_feeds_is_followed_by_signature_through_cert_managers_cas() {
        let anchor = Ca::root("cluster root");
        let intermediate = anchor.intermediate("cluster intermediate");
        let user = Ca::root("User Root");
        let mut secrets = mp_secrets(&user);
        secrets.extend([
            written(anchor.ca_secret("cluster-root"), "ClusterIssuer anchor"),
            written(
                intermediate.ca_secret("cluster-intermediate"),
                "ClusterIssuer cluster-root",
            ),
            written(
                intermediate.tls_secret("mpc-certs", &["mpc"]),
                "Issuer intermediate",
            ),
            // Trusts the root without cert-manager.
            secret("custom-host-ca", &[("ca.crt", &anchor.pem)]),
            // Names the intermediate's Issuer, but another CA signed it: names prove nothing.
            written(
                user.tls_secret("decoy-certs", &["decoy"]),
                "Issuer intermediate",
            ),
        ]);
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(
            checks[0].check.title,
            "cert-manager on cluster: an auto-generated self-signed root CA feeds cluster-intermediate, cluster-root, custom-host-ca, mpc-certs: ClusterIssuer anchor (selfSigned) → Certificate cluster-root (isCA, secret cluster-root) → secrets custom-host-ca (not written by cert-manager) → ClusterIssuer cluster-root (ca) → secrets cluster-intermediate → Issuer intermediate (ca) → secrets mpc-certs"
        );
    }

    #[test]
    fn a_user_provided_root_behind_a_ca_issuer_passes() {
        // The runbook's remedy: the root in a plain Secret, a CA Issuer on it.
        let user = Ca::root("User Root");
        let mut secrets = vec![
            written(user.tls_secret("tsb-certs", &[FLOATING]), "Issuer user-ca"),
            written(
                user.tls_secret("xcp-central-cert", &[FLOATING]),
                "Issuer user-ca",
            ),
            user.ca_secret("user-root-ca"),
        ];
        secrets.extend(mp_secrets(&user).into_iter().skip(2));
        let report = run(&[cluster("cluster", secrets)], &options());
        assert!(failures(&report).is_empty(), "{:#?}", failures(&report));
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].check.status, CheckStatus::Pass);
        assert_eq!(
            checks[0].check.title,
            "cert-manager on cluster: no auto-generated root CA among 5 secrets (cert-manager wrote tsb-certs, xcp-central-cert, none self-signed)"
        );
    }

    #[test]
    fn secrets_without_cert_managers_annotations_pass() {
        let report = run(
            &[cluster("cluster", mp_secrets(&Ca::root("Root CA")))],
            &options(),
        );
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].check.status, CheckStatus::Pass);
        assert_eq!(
            checks[0].check.title,
            "cert-manager on cluster: no auto-generated root CA among 4 secrets (none written by cert-manager)"
        );
    }

    #[test]
    fn cert_managers_certificates_under_a_root_it_did_not_make_pass() {
        // An ACME-like issuer: the leaf's root is not in the secret at all;
        // and a CA cert-manager wrote that a user's root signed.
        let public = Ca::root("Public Root");
        let (crt, key) = public.intermediate("Public R1").leaf(&[FLOATING]);
        let user = Ca::root("User Root");
        let mut secrets = mp_secrets(&user);
        secrets[0] = written(
            secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)]),
            "ClusterIssuer letsencrypt",
        );
        secrets.push(written(
            user.intermediate("MP CA").ca_secret("mp-ca"),
            "Issuer user-ca",
        ));
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].check.status, CheckStatus::Pass);
        assert_eq!(
            checks[0].check.title,
            "cert-manager on cluster: no auto-generated root CA among 5 secrets (cert-manager wrote mp-ca, tsb-certs, none self-signed)"
        );
    }

    #[test]
    fn a_bundle_is_checked_for_cert_managers_root_from_the_annotations_it_keeps() {
        let shared = Ca::root("Root CA");
        // As mp-export writes it (--include xcp-identity-issuer) and as it is read back.
        let provenance = crate::secrets::bundle::Provenance {
            context: "active".into(),
            server: "https://active.example:6443".into(),
            namespace: "tsb".into(),
            model: crate::secrets::bundle::Model::Generic,
            exported_at: "2026-11-25T17:00:00Z".into(),
            tool: "kubectl-mp-export".into(),
        };
        let exported = Bundle::new(
            provenance,
            xcp_self_signed_chain(&shared)
                .into_iter()
                .map(|mut secret| {
                    secret.metadata.namespace = Some("tsb".into());
                    crate::export::clean_secret(&secret)
                })
                .collect(),
        );
        let bundle = Bundle::parse(&exported.render().unwrap(), "active.yaml").unwrap();
        let snapshot = bundle_snapshot(bundle, "active.yaml", "cluster");
        let report = run(&[snapshot], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].check.status, CheckStatus::Fail);
        assert_eq!(checks[0].check.title, XCP_CHAIN);
    }
}
