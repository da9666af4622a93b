//! `kubectl mp-cacheck`: both Management Planes must chain to one root CA
//! (the runbook's CA caution), as checks a user can trust before and after
//! a failover, and as a library the other plugins call.
//!
//! Reading is separate from judging: [`read_cluster`] reads what one cluster
//! holds (one round trip: the layout's certificate secrets by name and
//! cert-manager's Secrets by its label) and [`check`] judges
//! already-fetched snapshots without any I/O, so the same checks run on
//! clusters, on export bundles, and in unit tests. cert-manager is judged
//! from what it leaves on Secrets (its label and annotations, and the
//! certificates' signatures), never from its own resources: reading those
//! would cost three more requests per cluster and RBAC on cert-manager's API.
//!
//! Where things live: the flags and what they ask to read (`cli`); a
//! side as read, from a cluster or a bundle (`snapshot`); the checks of
//! one side, one file each named by its check id (`checks`, tuned by
//! `options`), over what a secret holds, parsed (`secret_certs`); the
//! pair's checks (`compare`); the results, drawn as text or written as
//! JSON/YAML (`report`). This module runs them in that order.

mod checks;
mod cli;
mod compare;
#[cfg(test)]
mod fixtures;
mod options;
pub mod readiness;
mod report;
mod secret_certs;
mod snapshot;

pub use cli::Cli;
pub use options::{CheckOptions, DEFAULT_DNS_NAME_SECRETS, DEFAULT_EXPIRY_WARNING_DAYS};
pub use report::{CheckResult, Report, SCHEMA_VERSION, SourceInfo, Summary, id};
pub use snapshot::{
    ManagementPlaneRead, MpSnapshot, Origin, bundle_snapshot, read_cluster, read_management_plane,
};

use crate::error::{Error, Exit, Result};
use crate::tsb::layout::TsbLayout;
use crate::ui::output::{OutputFormat, Ui};

/// Checks one or two snapshots: every certificate-bearing secret of each,
/// cert-manager's issuers, and, with two, whether both lead to the same roots.
pub fn check(layout: &TsbLayout, options: &CheckOptions, snapshots: &[MpSnapshot]) -> Report {
    let paired = snapshots.len() == 2;
    let mut results = Vec::new();
    let parsed: Vec<_> = snapshots
        .iter()
        .map(|snapshot| checks::check_side(layout, options, snapshot, paired, &mut results))
        .collect();
    if let ([first, second], [first_certs, second_certs]) = (snapshots, &parsed[..]) {
        compare::compare((first, first_certs), (second, second_certs), &mut results);
    }
    let sources = snapshots
        .iter()
        .map(|snapshot| SourceInfo {
            role: snapshot.role.clone(),
            origin: snapshot.origin.clone(),
        })
        .collect();
    Report::new(sources, results)
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    if let (true, Some(database)) = (cli.readiness, cli.database) {
        let options = readiness::ReadinessOptions {
            database,
            dns_name: cli.dns_name.clone(),
            restore_max_age: cli.restore_max_age,
            connect_timeout: cli
                .connection
                .request_timeout
                .0
                .unwrap_or(std::time::Duration::from_secs(30)),
            now: jiff::Timestamp::now().as_second(),
        };
        return readiness::run(&cli, &ui, options).await;
    }
    let plan = cli::plan(&cli)?;
    let layout = cli.connection.layout()?;
    if cli.expiry_warning_days < 0 {
        return Err(Error::usage("--expiry-warning-days must not be negative"));
    }
    let options = CheckOptions {
        dns_name: cli.dns_name.clone(),
        dns_name_secrets: cli.dns_name_secrets.clone(),
        expiry_warning_days: cli.expiry_warning_days,
        ..CheckOptions::default()
    };
    if options.dns_name.is_none() {
        ui.detail("no --dns-name: the SAN check is skipped");
    }
    let snapshots = cli::read_plan(&cli, &layout, &plan).await?;
    let report = check(&layout, &options, &snapshots);
    match ui.format() {
        OutputFormat::Text => report.show(&ui),
        _ => ui.record(&report),
    }
    Ok(report.exit(cli.strict))
}

#[cfg(test)]
mod tests {
    use super::fixtures::{Ca, cluster, failures, find, mp_secrets, options, run};
    use super::report::id;
    use super::*;

    #[test]
    fn a_shared_root_passes_every_check() {
        let root = Ca::root("Shared Root CA");
        let active = cluster("active", mp_secrets(&root.intermediate("active CA")));
        let standby = cluster("standby", mp_secrets(&root.intermediate("standby CA")));
        let report = run(&[active, standby], &options());
        assert!(failures(&report).is_empty(), "{:#?}", failures(&report));
        assert_eq!(report.exit(true), Exit::Ok);
        for name in ["tsb-certs", "xcp-central-cert", "es-certs"] {
            let same = find(&report, id::SAME_ROOT, Some(name), None);
            assert_eq!(same.len(), 1, "{name}");
            assert!(
                same[0]
                    .check
                    .title
                    .contains("same root CA on active and standby"),
                "{}",
                same[0].check.title
            );
        }
        let chains = find(&report, id::CHAIN, Some("tsb-certs"), Some("standby"));
        assert!(
            chains[0]
                .check
                .title
                .contains("verifies up to root \"Shared Root CA\" (3 certificates)"),
            "{}",
            chains[0].check.title
        );
        assert_eq!(find(&report, id::KEY_MATCH, None, None).len(), 4);
        assert_eq!(find(&report, id::DNS_NAME, None, None).len(), 4);
        assert!(
            find(&report, id::SECRETS, None, Some("active"))[0]
                .check
                .title
                .ends_with("es-certs, tsb-certs, xcp-central-cert")
        );
        assert_eq!(report.summary.fail + report.summary.warn, 0);
        assert_eq!(report.summary.pass, report.checks.len());
    }
}
