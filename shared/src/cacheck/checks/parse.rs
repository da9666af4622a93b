//! `parse`: every key of a secret that holds certificates holds PEM
//! certificates that parse.

use std::collections::BTreeMap;

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::CertKey;
use crate::secrets::certs;
use crate::ui::check::Check;

/// The secret's certificate-bearing keys, parsed; ✖ for each that does not
/// parse, appended to `checks` (a key that parses is no check of its own).
pub(super) fn check(
    role: &str,
    name: &str,
    values: &BTreeMap<String, Vec<u8>>,
    checks: &mut Vec<CheckResult>,
) -> Vec<CertKey> {
    let mut keys = Vec::new();
    for (key, value) in values {
        if !certs::holds_certificate(value) {
            continue;
        }
        match certs::parse_pem_certificates(value) {
            Ok(certificates) => keys.push(CertKey {
                key: key.clone(),
                certificates,
            }),
            Err(problem) => checks.push(
                CheckResult::new(
                    id::PARSE,
                    Check::fail(format!(
                        "{name}/{key} on {role}: certificates do not parse: {problem}"
                    ))
                    .hint(format!(
                        "replace {key} of secret {name} with PEM certificates (openssl x509 -in FILE -noout -text reads them)"
                    )),
                )
                .cluster(role)
                .secret(name)
                .key(key),
            ),
        }
    }
    keys
}
