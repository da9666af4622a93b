//! `kubectl mp-cacheck --readiness`: would a failover from the active to
//! the standby succeed now? Read-only and cheap enough for a CronJob every
//! few minutes, so drift shows before the outage, not during it.
//!
//! It reads, per cluster and all at once, five things by name or by one
//! list ([`read_side`]); judges them with the failover preflight's own
//! judgements where it has them (the standby installed, the secrets its
//! model carries, the root CA), and adds what a failover assumes but only
//! finds out too late: the same configuration (helm chart version and
//! values, or the ManagementPlane spec), the standby fenced, the restore
//! CronJobs where they belong, and each MP's Postgres reachable from here.

mod prometheus;
mod spec;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::cli::Cli;
use super::report::{CheckResult, Report, SourceInfo};
use super::snapshot::{MpSnapshot, read_management_plane};
use crate::database;
use crate::error::{Error, Exit, Result};
use crate::failover::DatabaseMode;
use crate::failover::plan::standby_writers;
use crate::failover::preflight;
use crate::kube::cluster::{Cluster, ClusterPair};
use crate::tsb::helm;
use crate::tsb::layout::TsbLayout;
use crate::tsb::mp::{self, MpState};
use crate::ui::check::Check;
use crate::ui::output::{OutputFormat, Ui, write_stdout};

pub use prometheus::Pair;

/// The version of the readiness `-o json|yaml` document (the README's).
pub const SCHEMA_VERSION: u32 = 1;

/// Check ids of the readiness mode, stable for scripts and alerts (the README's).
pub mod id {
    pub const ACTIVE_FOUND: &str = "active-found";
    pub const STANDBY_INSTALLED: &str = "standby-installed";
    pub const STANDBY_FRONT: &str = "standby-front";
    pub const STANDBY_SCALED_DOWN: &str = "standby-scaled-down";
    pub const RESTORE_CRONJOB: &str = "restore-cronjob";
    pub const DATABASE: &str = "database";
    pub const ROOT_CA: &str = "root-ca";
    pub const SECRETS: &str = "secrets";
    pub const CHART_VERSION: &str = "chart-version";
    pub const CONFIGURATION: &str = "configuration";
}

/// What the readiness check is tuned with.
#[derive(Debug, Clone)]
pub struct ReadinessOptions {
    pub database: DatabaseMode,
    /// The floating DNS name the certificates must cover, when given.
    pub dns_name: Option<String>,
    /// A standby restore older than this warns.
    pub restore_max_age: Duration,
    /// How long a TCP connection to a Postgres server may take.
    pub connect_timeout: Duration,
    /// "Now", Unix seconds.
    pub now: i64,
}

/// The standby's restore CronJob, as the report and the metrics give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    pub cronjob: String,
    pub suspended: bool,
    /// RFC 3339, when it ever succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    /// Seconds since then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
}

/// The readiness `-o json|yaml` document: mp-cacheck's report (its
/// sources, checks and counts), whether the pair is ready, and the
/// standby's restore CronJob when it has one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessReport {
    pub mode: &'static str,
    /// No check failed (warnings allowed; `--strict` decides the exit code).
    pub ready: bool,
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreStatus>,
}

impl ReadinessReport {
    fn new(report: Report, restore: Option<RestoreStatus>) -> Self {
        ReadinessReport {
            mode: "readiness",
            ready: report.summary.fail == 0,
            report: Report {
                schema_version: SCHEMA_VERSION,
                ..report
            },
            restore,
        }
    }
}

/// One MP as the readiness check reads it.
pub struct SideRead {
    pub snapshot: MpSnapshot,
    pub state: MpState,
    /// The ManagementPlane object's spec, when it exists.
    pub spec: Option<Value>,
}

/// Reads one cluster, all at once: the MP's Secrets and ManagementPlane
/// ([`read_management_plane`]), its Deployments, the restore CronJob and
/// the front Service ([`mp::read_state`]), each by name.
pub async fn read_side(cluster: &Cluster, layout: &TsbLayout, role: &str) -> Result<SideRead> {
    let (management_plane, state) = futures::try_join!(
        read_management_plane(cluster, layout, role),
        mp::read_state(cluster, layout),
    )?;
    Ok(SideRead {
        snapshot: management_plane.snapshot,
        state,
        spec: management_plane.spec,
    })
}

/// Judges both sides; only the Postgres checks make requests of their own
/// (a TCP connection each).
pub async fn judge(
    layout: &TsbLayout,
    options: &ReadinessOptions,
    pair: &ClusterPair,
    active: &SideRead,
    standby: &SideRead,
) -> ReadinessReport {
    let mut checks = Vec::new();
    let on = |role: &str, id: &str, check: Check| CheckResult::new(id, check).cluster(role);

    let missing = active.state.missing(layout);
    checks.push(on(
        "active",
        id::ACTIVE_FOUND,
        Check::required(
            missing.is_empty(),
            format!("active MP found in context {:?}", pair.active.context()),
            format!("missing deployments: {}", missing.join(", ")),
        ),
    ));
    checks.push(on(
        "active",
        id::RESTORE_CRONJOB,
        active_restore_check(layout, &pair.active, &active.state),
    ));
    let [installed, front] = preflight::standby_checks(layout, &pair.standby, &standby.state);
    checks.push(on("standby", id::STANDBY_INSTALLED, installed));
    checks.push(on("standby", id::STANDBY_FRONT, front));
    checks.push(on(
        "standby",
        id::STANDBY_SCALED_DOWN,
        scaled_down_check(layout, &pair.standby, &standby.state),
    ));
    let (restore_check, restore) =
        standby_restore_check(layout, options, &pair.standby, &standby.state);
    checks.push(on("standby", id::RESTORE_CRONJOB, restore_check));
    checks.extend(database_checks(options, active, standby).await);

    let snapshots = [active.snapshot.clone(), standby.snapshot.clone()];
    for check in preflight::certificate_checks(layout, &snapshots, options.dns_name.clone(), false)
    {
        checks.push(CheckResult::new(id::ROOT_CA, check));
    }
    let secrets = preflight::judge_secrets(
        layout,
        pair.active.context(),
        (&active.snapshot.secrets, &standby.snapshot.secrets),
        (active.spec.as_ref(), standby.spec.as_ref()),
        &preflight::own_secrets(options.database),
        &preflight::KeyPolicy {
            standby_namespace: pair.standby.namespace(),
            sync: false,
            force_key_mismatch: false,
            failover_flags: false,
        },
    );
    for check in secrets.checks {
        checks.push(CheckResult::new(id::SECRETS, check));
    }
    checks.extend(configuration_checks(layout, options, active, standby));
    // Shown grouped: the active's, the standby's, then the pair's.
    checks.sort_by_key(|result| match result.cluster.as_deref() {
        Some("active") => 0,
        Some(_) => 1,
        None => 2,
    });

    let sources = [active, standby]
        .iter()
        .map(|side| SourceInfo {
            role: side.snapshot.role.clone(),
            origin: side.snapshot.origin.clone(),
        })
        .collect();
    ReadinessReport::new(Report::new(sources, checks), restore)
}

/// The standby is fenced as a failover expects to find it: its operator
/// and its database writers (layout `writerDeployments`) at 0, the
/// failover starts them. A running writer writes to the database the
/// active serves from (shared), or is restored over while it serves
/// (separate); a running operator scales the writers back up.
fn scaled_down_check(layout: &TsbLayout, standby: &Cluster, state: &MpState) -> Check {
    let expected = standby_writers(layout, state);
    let running: Vec<String> = expected
        .keys()
        .filter_map(|name| {
            let replicas = state.deployments.get(name)?;
            (!replicas.meets(0)).then(|| format!("{name} {}/{}", replicas.ready, replicas.desired))
        })
        .collect();
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    Check::required(
        running.is_empty(),
        format!(
            "standby scaled down: {} at 0 replicas",
            if names.is_empty() {
                "(none installed)".to_string()
            } else {
                names.join(", ")
            }
        ),
        format!(
            "running (ready/desired): {}; the failover starts them, until then they write to the MP's database: kubectl --context {} -n {} scale deployment {} --replicas=0 first, then {}",
            running.join(", "),
            standby.context(),
            standby.namespace(),
            layout.operator_deployment,
            layout.writer_deployments.join(", ")
        ),
    )
}

/// The active's restore CronJob, when it has one, is suspended: running,
/// it would restore an old backup over the database the active serves.
fn active_restore_check(layout: &TsbLayout, active: &Cluster, state: &MpState) -> Check {
    let name = &layout.restore_cronjob;
    match state.restore_cronjob_suspended {
        None => Check::pass(format!("active has no restore CronJob {name}")),
        Some(true) => Check::pass(format!("active's restore CronJob {name} is suspended")),
        Some(false) => {
            Check::fail(format!("active's restore CronJob {name} is suspended")).hint(format!(
                "it runs: it would restore an old backup over the database the active serves; {}",
                mp::suspend_command(active, name, true)
            ))
        }
    }
}

/// The standby's restore CronJob: with a database each, running and
/// recently successful (it keeps the standby's copy fresh; how fresh is
/// reported); with a shared one, not running (it would restore an old
/// backup over the database both use). Absent is fine either way: the
/// failover copies a separate database itself.
fn standby_restore_check(
    layout: &TsbLayout,
    options: &ReadinessOptions,
    standby: &Cluster,
    state: &MpState,
) -> (Check, Option<RestoreStatus>) {
    let name = &layout.restore_cronjob;
    let Some(suspended) = state.restore_cronjob_suspended else {
        return (
            Check::pass(format!("standby has no restore CronJob {name}")),
            None,
        );
    };
    let age = state
        .restore_cronjob_last_success
        .map(|time| options.now - time.as_second());
    let status = RestoreStatus {
        cronjob: name.clone(),
        suspended,
        last_successful_time: state
            .restore_cronjob_last_success
            .map(|time| time.to_string()),
        age_seconds: age,
    };
    let patch = |suspend: bool| mp::suspend_command(standby, name, suspend);
    let check = match (options.database, suspended) {
        (DatabaseMode::Shared, true) => Check::pass(format!(
            "standby's restore CronJob {name} is suspended (shared database)"
        )),
        (DatabaseMode::Shared, false) => Check::fail(format!(
            "standby's restore CronJob {name} is suspended (shared database)"
        ))
        .hint(format!(
            "it runs: it would restore an old backup over the database both MPs use; {}",
            patch(true)
        )),
        (DatabaseMode::Separate, true) => Check::fail(format!(
            "standby's restore CronJob {name} runs"
        ))
        .hint(format!(
            "it is suspended: the standby's database is no longer refreshed from the active's backups; {}",
            patch(false)
        )),
        (DatabaseMode::Separate, false) => {
            let max = options.restore_max_age.as_secs() as i64;
            match age {
                None => Check::warn(format!(
                    "standby's restore CronJob {name} runs, and has never succeeded"
                ))
                .hint(format!(
                    "kubectl --context {} -n {} get jobs: see why its Jobs fail",
                    standby.context(),
                    standby.namespace()
                )),
                Some(age) if age > max => Check::warn(format!(
                    "standby's restore CronJob {name} last succeeded {} ago",
                    describe_age(age)
                ))
                .hint(format!(
                    "older than --restore-max-age ({}): a failover now would lose what changed since, unless it copies the database (--database separate does)",
                    describe_age(max)
                )),
                Some(age) => Check::pass(format!(
                    "standby's restore CronJob {name} runs, last succeeded {} ago",
                    describe_age(age)
                )),
            }
        }
    };
    (check, Some(status))
}

/// `3d4h`, `2h5m`, `12m`, `40s`: the two largest units.
fn describe_age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, minutes) => format!("{minutes}m"),
        (0, hours, minutes) => format!("{hours}h{minutes}m"),
        (days, hours, _) => format!("{days}d{hours}h"),
    }
}

/// Each MP's Postgres, as its ManagementPlane spec names it, accepts a TCP
/// connection from where the check runs (no login: neither credentials
/// nor Postgres tools are needed). One check for a shared database.
async fn database_checks(
    options: &ReadinessOptions,
    active: &SideRead,
    standby: &SideRead,
) -> Vec<CheckResult> {
    let address = |side: &SideRead| database::spec_address(side.spec.as_ref());
    let (active_address, standby_address) = (address(active), address(standby));
    let shared = options.database == DatabaseMode::Shared
        && matches!((&active_address, &standby_address), (Ok(Some(a)), Ok(Some(b))) if a == b);
    let sides: Vec<(Option<&str>, _)> = if shared {
        vec![(None, active_address)]
    } else {
        vec![
            (Some("active"), active_address),
            (Some("standby"), standby_address),
        ]
    };
    let timeout = options.connect_timeout;
    let judged = futures::future::join_all(sides.into_iter().map(|(role, address)| async move {
        let whose = role.map_or("shared".to_string(), |role| format!("{role}'s"));
        let check = match address {
            Err(error) => Check::fail(format!("{whose} Postgres address")).hint(error.to_string()),
            Ok(None) => Check::fail(format!("{whose} Postgres address")).hint(
                "its ManagementPlane spec names no dataStore.postgres host (or the ManagementPlane is missing)",
            ),
            Ok(Some((host, port))) => reachable(&whose, &host, port, timeout).await,
        };
        let result = CheckResult::new(id::DATABASE, check);
        match role {
            Some(role) => result.cluster(role),
            None => result,
        }
    }));
    judged.await
}

/// ✔ `whose` Postgres reachable at host:port, or ✖ with why not.
async fn reachable(whose: &str, host: &str, port: u16, timeout: Duration) -> Check {
    let title = format!("{whose} Postgres reachable at {host}:{port} (TCP)");
    let hint = |why: String| {
        format!(
            "{why}; check the path from where this check runs (DNS, network policies, firewalls) to the database"
        )
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Check::pass(title),
        Ok(Err(error)) => Check::fail(title).hint(hint(error.to_string())),
        Err(_) => {
            Check::fail(title).hint(hint(format!("no answer within {}s", timeout.as_secs_f64())))
        }
    }
}

/// The two MPs are configured alike, but for the fields that are each
/// one's own: helm model, the same chart version and the same user values
/// (without `secrets:`, which the standby's install leaves out); generic
/// model, the same ManagementPlane spec. The layout's `specMayDiffer`
/// fields, and with `--database separate` its `specDatabaseFields`, are not
/// compared. Differences are named by path, never by value.
fn configuration_checks(
    layout: &TsbLayout,
    options: &ReadinessOptions,
    active: &SideRead,
    standby: &SideRead,
) -> Vec<CheckResult> {
    let mut skip = layout.spec_may_differ.clone();
    if options.database == DatabaseMode::Separate {
        skip.extend(layout.spec_database_fields.iter().cloned());
    }
    let release = |side: &SideRead| helm::mp_release(&side.snapshot.secrets, layout, None);
    match (release(active), release(standby)) {
        // The secrets check has said why the active's release is unknown.
        (Err(_), _) => Vec::new(),
        (Ok(Some(active_release)), standby_release) => {
            let Ok(Some(standby_release)) = standby_release else {
                return vec![CheckResult::new(
                    id::CONFIGURATION,
                    Check::fail("standby installed with helm like the active").hint(format!(
                        "no single helm release of the MP on the standby ({}); install it with helm and the active's values",
                        standby_release.err().unwrap_or_else(|| "none".into())
                    )),
                )];
            };
            let mut skip_values = spec::under_spec(&skip);
            skip_values.push("secrets".into());
            helm_checks(
                active,
                standby,
                (&active_release, &standby_release),
                &skip_values,
            )
        }
        (Ok(None), _) => {
            let kind = &layout.management_plane.kind;
            let check = match (&active.spec, &standby.spec) {
                (Some(active_spec), Some(standby_spec)) => {
                    differing_check(&format!("{kind} spec"), active_spec, standby_spec, &skip)
                }
                (active_spec, _) => {
                    Check::fail(format!("{kind} spec the same on both MPs")).hint(format!(
                        "no {kind} {} on the {}",
                        layout.management_plane_name,
                        if active_spec.is_none() {
                            "active"
                        } else {
                            "standby"
                        }
                    ))
                }
            };
            vec![CheckResult::new(id::CONFIGURATION, check)]
        }
    }
}

/// The helm model's checks: chart version, then user values.
fn helm_checks(
    active: &SideRead,
    standby: &SideRead,
    (active_release, standby_release): (&str, &str),
    skip: &[String],
) -> Vec<CheckResult> {
    let decode = |side: &SideRead, release: &str| {
        helm::deployed_release(&side.snapshot.secrets, release)
            .ok_or_else(|| format!("no deployed revision of helm release {release:?}"))
            .and_then(helm::decode_release)
    };
    let (active_json, standby_json) = match (
        decode(active, active_release),
        decode(standby, standby_release),
    ) {
        (Ok(active), Ok(standby)) => (active, standby),
        (Err(problem), _) | (_, Err(problem)) => {
            return vec![CheckResult::new(
                id::CONFIGURATION,
                Check::fail("helm values the same on both MPs")
                    .hint(format!("{problem}; wait for helm to finish (helm status)")),
            )];
        }
    };
    let version = |release: &Value| {
        release
            .pointer("/chart/metadata/version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    let (active_version, standby_version) = (version(&active_json), version(&standby_json));
    let chart = if active_version == standby_version {
        Check::pass(format!("same chart version on both MPs ({active_version})"))
    } else {
        Check::fail("same chart version on both MPs").hint(format!(
            "active {active_version}, standby {standby_version}: helm upgrade the standby to the active's chart version"
        ))
    };
    let values = |release: &Value| {
        release
            .get("config")
            .filter(|config| !config.is_null())
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
    };
    vec![
        CheckResult::new(id::CHART_VERSION, chart),
        CheckResult::new(
            id::CONFIGURATION,
            differing_check(
                "helm values (without secrets)",
                &values(&active_json),
                &values(&standby_json),
                skip,
            ),
        ),
    ]
}

/// ✔ `what` the same on both MPs, or ✖ naming the differing paths.
fn differing_check(what: &str, active: &Value, standby: &Value, skip: &[String]) -> Check {
    let title = format!("{what} the same on both MPs");
    let differing = spec::differing_paths(active, standby, skip);
    if differing.is_empty() {
        return Check::pass(format!(
            "{title} ({} per-MP field{} not compared)",
            skip.len(),
            if skip.len() == 1 { "" } else { "s" }
        ));
    }
    Check::fail(title).hint(format!(
        "differ at: {}; make the standby's like the active's (or, when a field is each MP's own, add it to specMayDiffer in a --layout file)",
        differing.join(", ")
    ))
}

/// `kubectl mp-cacheck --readiness`: reads both clusters, judges, and
/// shows the checks as text, one JSON/YAML document, or Prometheus'
/// exposition. Exit 0 when ready (warnings too, unless `--strict`), 1 when
/// not; errors as every plugin's (2 usage, 3 unreachable or denied), with
/// `-o prometheus` after writing an exposition saying the check did not run.
pub(super) async fn run(cli: &Cli, ui: &Ui, options: ReadinessOptions) -> Result<Exit> {
    let (Some(active), Some(standby)) = (&cli.active_context, &cli.standby_context) else {
        return Err(Error::usage("--readiness needs both sides")
            .with_next_step("pass --active-context A --standby-context B"));
    };
    let pair_labels = Pair {
        active,
        standby,
        namespace: &cli.connection.namespace,
    };
    let checked = async {
        let layout = cli.connection.layout()?;
        let kubeconfig = cli.connection.load_kubeconfig()?;
        let pair = ClusterPair::connect(
            &kubeconfig,
            active,
            standby,
            &cli.connection.client_settings(),
        )
        .await?;
        let (active_read, standby_read) = crate::error::join_in_order(
            read_side(&pair.active, &layout, "active"),
            read_side(&pair.standby, &layout, "standby"),
        )
        .await?;
        Ok(judge(&layout, &options, &pair, &active_read, &standby_read).await)
    }
    .await;
    let report = match (checked, ui.format()) {
        (Ok(report), _) => report,
        (Err(error), OutputFormat::Prometheus) => {
            write_stdout(&prometheus::render_not_up(&pair_labels, options.now))?;
            return Err(error);
        }
        (Err(error), _) => return Err(error),
    };
    match ui.format() {
        OutputFormat::Text => {
            report.report.show(ui);
            ui.info(&if report.ready {
                format!("\nready: a failover from {active:?} to {standby:?} would succeed now")
            } else {
                format!(
                    "\nNOT ready: a failover from {active:?} to {standby:?} would fail now ({} failed; hints above)",
                    report.report.summary.fail
                )
            });
        }
        OutputFormat::Prometheus => {
            write_stdout(&prometheus::render(&report, &pair_labels, options.now))?
        }
        OutputFormat::Json | OutputFormat::Yaml => ui.record(&report),
    }
    Ok(report.report.exit(cli.strict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::snapshot::Origin;
    use crate::tsb::helm::tests::release_secret;
    use serde_json::json;

    fn helm_side(role: &str, version: &str, values: Value) -> SideRead {
        let release = json!({"chart": {"metadata": {"name": "managementplane", "version": version}}, "config": values});
        SideRead {
            snapshot: MpSnapshot {
                role: role.into(),
                origin: Origin::Context {
                    context: role.into(),
                    server: "https://example:6443".into(),
                    namespace: "tsb".into(),
                },
                secrets: vec![release_secret("mp", 1, "deployed", &release)],
            },
            state: MpState::default(),
            spec: None,
        }
    }

    fn options(database: DatabaseMode) -> ReadinessOptions {
        ReadinessOptions {
            database,
            dns_name: None,
            restore_max_age: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(1),
            now: 0,
        }
    }

    /// Helm model: the chart version and the user values, without
    /// `secrets:` and the fields each MP keeps its own (the Postgres host
    /// too, with a database each); differences named by path alone.
    #[test]
    fn helm_pairs_compare_chart_version_and_values_but_not_secrets() {
        let layout = TsbLayout::default();
        let values = |host: &str, password: &str, organization: &str| {
            json!({
                "spec": {"organization": organization, "dataStore": {"postgres": {"host": host}},
                         "components": {"frontEnvoy": {"kubeSpec": {"service": {"annotations": {"lb": host}}}}}},
                "secrets": {"tsb": {"adminPassword": password}},
            })
        };
        let active = helm_side("active", "1.12.0", values("pg-a", "one", "tetrate"));
        let alike = helm_side("standby", "1.12.0", values("pg-b", "two", "tetrate"));
        let judged =
            configuration_checks(&layout, &options(DatabaseMode::Separate), &active, &alike);
        assert_eq!(judged.len(), 2);
        assert!(
            judged
                .iter()
                .all(|result| result.check.status == crate::ui::check::CheckStatus::Pass),
            "{judged:#?}"
        );
        assert_eq!(judged[0].id, id::CHART_VERSION);
        assert_eq!(
            judged[0].check.title,
            "same chart version on both MPs (1.12.0)"
        );

        // With one database, its host must be the same.
        let shared = configuration_checks(&layout, &options(DatabaseMode::Shared), &active, &alike);
        assert_eq!(
            shared[1]
                .check
                .hint
                .as_deref()
                .map(|hint| hint.starts_with("differ at: spec.dataStore.postgres.host;")),
            Some(true),
            "{shared:#?}"
        );

        let drifted = helm_side("standby", "1.13.0", values("pg-b", "two", "other-org"));
        let judged =
            configuration_checks(&layout, &options(DatabaseMode::Separate), &active, &drifted);
        assert!(
            judged.iter().all(|result| result.check.failed()),
            "{judged:#?}"
        );
        assert_eq!(
            judged[0].check.hint.as_deref(),
            Some(
                "active 1.12.0, standby 1.13.0: helm upgrade the standby to the active's chart version"
            )
        );
        let hint = judged[1].check.hint.as_deref().unwrap();
        assert!(hint.starts_with("differ at: spec.organization;"), "{hint}");
        assert!(
            !hint.contains("other-org") && !hint.contains("two"),
            "never a value: {hint}"
        );
    }

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(describe_age(40), "40s");
        assert_eq!(describe_age(12 * 60 + 5), "12m");
        assert_eq!(describe_age(2 * 3600 + 5 * 60), "2h5m");
        assert_eq!(describe_age(3 * 86_400 + 4 * 3600 + 59), "3d4h");
    }
}
