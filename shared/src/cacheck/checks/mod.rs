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

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::options::CheckOptions;
use super::report::CheckResult;
use super::secret_certs::{CertKey, RootId, SecretCerts, written_by_cert_manager};
use super::snapshot::MpSnapshot;
use crate::secrets::certs::Certificate;
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
    // Every secret is parsed before any chain is built: a chain may end at
    // a root that another secret of this side holds.
    let parsed: Vec<Parsed> = snapshot
        .secrets
        .iter()
        .filter_map(|secret| {
            let name = secret.metadata.name.as_deref()?;
            wanted
                .contains(name)
                .then(|| Parsed::new(role, name, secret))
        })
        .collect();
    let side: Vec<(&str, &Certificate)> = parsed
        .iter()
        .flat_map(|parsed| {
            parsed
                .keys
                .iter()
                .flat_map(|key| &key.certificates)
                .map(|certificate| (parsed.name, certificate))
        })
        .collect();
    // Collected apart so the list of secrets comes before their checks.
    let mut secret_checks = Vec::new();
    let roots: Vec<_> = parsed
        .iter()
        .map(|parsed| check_secret(options, role, parsed, &side, &mut secret_checks))
        .collect();
    let found: Vec<SecretCerts> = parsed
        .into_iter()
        .zip(roots)
        .filter(|(parsed, _)| !parsed.keys.is_empty())
        .map(|(parsed, roots)| SecretCerts {
            name: parsed.name.into(),
            keys: parsed.keys,
            roots,
            written: written_by_cert_manager(parsed.secret),
        })
        .collect();
    checks.push(certificate_secrets::check(layout, role, &found));
    checks.append(&mut secret_checks);
    checks.extend(self_signed_issuer::check(layout, snapshot, &found));
    found
}

/// One certificate-bearing secret of a side, parsed, with its parse checks.
struct Parsed<'a> {
    name: &'a str,
    secret: &'a Secret,
    values: BTreeMap<String, Vec<u8>>,
    keys: Vec<CertKey>,
    parse_checks: Vec<CheckResult>,
}

impl<'a> Parsed<'a> {
    fn new(role: &str, name: &'a str, secret: &'a Secret) -> Parsed<'a> {
        let values = secret_values(secret);
        let mut parse_checks = Vec::new();
        let keys = parse::check(role, name, &values, &mut parse_checks);
        Parsed {
            name,
            secret,
            values,
            keys,
            parse_checks,
        }
    }
}

/// Appends a parsed secret's checks to `checks`: parsing, chains (up to
/// roots it holds, or `side`'s other secrets hold), expiry, names and key
/// pairs. Returns the roots its certificates lead to.
fn check_secret(
    options: &CheckOptions,
    role: &str,
    parsed: &Parsed,
    side: &[(&str, &Certificate)],
    checks: &mut Vec<CheckResult>,
) -> BTreeMap<RootId, String> {
    let (name, keys) = (parsed.name, &parsed.keys);
    checks.extend(parsed.parse_checks.iter().cloned());
    if keys.is_empty() {
        return BTreeMap::new();
    }
    let roots = chain::check(role, name, keys, side, checks);
    checks.push(expiry::check(options, role, name, keys));
    checks.extend(dns_name::check(options, role, name, keys));
    checks.extend(key_match::check(role, name, &parsed.values, keys));
    roots
}
