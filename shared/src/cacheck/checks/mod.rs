//! The checks of one side, in the order they are shown: where it was read
//! from ([`source`]) and which secrets hold certificates
//! ([`certificate_secrets`]); then for each such secret, that its
//! certificates parse ([`parse`]), verify up to a root ([`chain`]), are in
//! their validity period ([`expiry`]), cover the floating DNS name
//! ([`dns_name`]) and match their private keys ([`key_match`]); last, that
//! cert-manager made no root CA of its own ([`self_signed_issuer`]).
//!
//! One file per check, named by its id; each judges what was read and makes
//! [`CheckResult`]s, without I/O. The two checks of a pair are in
//! `compare`, as they need both sides.

mod certificate_secrets;
mod chain;
mod dns_name;
mod expiry;
mod key_match;
mod parse;
mod self_signed_issuer;
mod source;

use k8s_openapi::api::core::v1::Secret;

use super::options::CheckOptions;
use super::report::CheckResult;
use super::secret_certs::{SecretCerts, written_by_cert_manager};
use super::snapshot::MpSnapshot;
use crate::secrets::redact::secret_values;
use crate::tsb::layout::TsbLayout;

/// Every check of one side, appended to `checks`; returns what its
/// certificate-bearing secrets hold, for the pair's comparison. `paired`:
/// a side of a pair says which side it is.
pub(super) fn check_side(
    layout: &TsbLayout,
    options: &CheckOptions,
    snapshot: &MpSnapshot,
    paired: bool,
    checks: &mut Vec<CheckResult>,
) -> Vec<SecretCerts> {
    let role = snapshot.role.as_str();
    checks.push(source::check(snapshot, paired));
    let wanted = certificate_secrets::names(layout, snapshot);
    let mut found = Vec::new();
    // Collected apart so the list of secrets comes before their checks.
    let mut secret_checks = Vec::new();
    for secret in &snapshot.secrets {
        let Some(name) = secret.metadata.name.as_deref() else {
            continue;
        };
        if !wanted.contains(name) {
            continue;
        }
        if let Some(certs) = check_secret(options, role, name, secret, &mut secret_checks) {
            found.push(certs);
        }
    }
    checks.push(certificate_secrets::check(layout, role, &found));
    checks.append(&mut secret_checks);
    checks.extend(self_signed_issuer::check(layout, snapshot, &found));
    found
}

/// Parses a secret's certificate keys and checks its chains, expiry, names
/// and key pairs. `None` when the secret holds no certificate.
fn check_secret(
    options: &CheckOptions,
    role: &str,
    name: &str,
    secret: &Secret,
    checks: &mut Vec<CheckResult>,
) -> Option<SecretCerts> {
    let values = secret_values(secret);
    let keys = parse::check(role, name, &values, checks);
    if keys.is_empty() {
        return None;
    }
    let roots = chain::check(role, name, &keys, checks);
    checks.push(expiry::check(options, role, name, &keys));
    checks.extend(dns_name::check(options, role, name, &keys));
    checks.extend(key_match::check(role, name, &values, &keys));
    Some(SecretCerts {
        name: name.into(),
        keys,
        roots,
        written: written_by_cert_manager(secret),
    })
}
