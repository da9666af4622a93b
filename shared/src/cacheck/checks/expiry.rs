//! `expiry`: every certificate of a secret is valid now, and for
//! `--expiry-warning-days` more; the soonest to expire is named.

use crate::cacheck::options::CheckOptions;
use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::secret_certs::CertKey;
use crate::ui::check::Check;

const SECONDS_PER_DAY: i64 = 86_400;

fn date(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|timestamp| timestamp.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("@{unix_seconds}"))
}

/// ✖ expired or not yet valid, ‼ expiring soon, else ✔ valid until when.
pub(super) fn check(
    options: &CheckOptions,
    role: &str,
    name: &str,
    keys: &[CertKey],
) -> CheckResult {
    let all = keys.iter().flat_map(|key| {
        key.certificates
            .iter()
            .map(move |certificate| (key.key.as_str(), certificate))
    });
    let not_yet_valid = all
        .clone()
        .find(|(_, certificate)| certificate.not_before > options.now);
    let Some((soonest_key, soonest)) = all.min_by_key(|(_, certificate)| certificate.not_after)
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
    } else if let Some((key, early)) = not_yet_valid {
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
}
