//! `certificate-secrets`: which secrets a side's checks cover (the layout's
//! certificate secrets, and every secret cert-manager wrote), and that at
//! least one of them holds certificates.

use std::collections::BTreeSet;

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::{SecretCerts, written_by_cert_manager};
use crate::cacheck::snapshot::MpSnapshot;
use crate::tsb::layout::TsbLayout;
use crate::ui::check::Check;

/// The names of the secrets to check: the layout's certificate secrets and
/// every secret cert-manager wrote.
pub(super) fn names(layout: &TsbLayout, snapshot: &MpSnapshot) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = layout.certificate_secrets.iter().cloned().collect();
    for secret in &snapshot.secrets {
        if written_by_cert_manager(secret).is_some()
            && let Some(name) = &secret.metadata.name
        {
            names.insert(name.clone());
        }
    }
    names
}

/// ✔ the secrets `found` holding certificates, or ‼ none (wrong namespace?).
pub(super) fn check(layout: &TsbLayout, role: &str, found: &[SecretCerts]) -> CheckResult {
    let mut names: Vec<&str> = found.iter().map(|certs| certs.name.as_str()).collect();
    names.sort_unstable();
    let listed = if names.is_empty() {
        Check::warn(format!("no certificate-bearing secret on {role}")).hint(format!(
            "looked for {} and cert-manager's; check -n/--namespace, or that the MP is installed there",
            layout.certificate_secrets.join(", ")
        ))
    } else {
        Check::pass(format!(
            "certificate-bearing secrets on {role}: {}",
            names.join(", ")
        ))
    };
    CheckResult::new(id::SECRETS, listed).cluster(role)
}
