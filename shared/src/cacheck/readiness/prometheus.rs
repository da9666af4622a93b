//! `-o prometheus`: the readiness report in Prometheus' text exposition
//! format (version 0.0.4), for node_exporter's textfile collector. Every
//! series carries the pair it is about (`active`, `standby` contexts and
//! `namespace`), so several pairs can share one collector directory.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ReadinessReport;
use crate::ui::check::CheckStatus;

/// What every series is labelled with: the pair.
pub struct Pair<'a> {
    pub active: &'a str,
    pub standby: &'a str,
    pub namespace: &'a str,
}

impl Pair<'_> {
    /// `active="…",standby="…",namespace="…"` followed by `extra`.
    fn labels(&self, extra: &[(&str, &str)]) -> String {
        [
            ("active", self.active),
            ("standby", self.standby),
            ("namespace", self.namespace),
        ]
        .iter()
        .chain(extra)
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// A label value as the format wants it: backslash, double quote and line
/// feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition being written: one HELP and TYPE per metric, then its series.
struct Exposition<'a> {
    pair: &'a Pair<'a>,
    text: String,
}

impl Exposition<'_> {
    fn gauge(&mut self, name: &str, help: &str, series: &[(Vec<(&str, &str)>, f64)]) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for (labels, value) in series {
            let _ = writeln!(self.text, "{name}{{{}}} {value}", self.pair.labels(labels));
        }
    }

    fn common(&mut self, up: bool, ready: bool, now: i64) {
        self.gauge(
            "kubectl_mp_readiness_up",
            "1 when both clusters could be read, 0 when the check could not run (unreachable, denied, bad flags).",
            &[(vec![], bool_value(up))],
        );
        self.gauge(
            "kubectl_mp_readiness_ready",
            "1 when a failover from the active to the standby would succeed now (no check failed), else 0.",
            &[(vec![], bool_value(ready))],
        );
        self.gauge(
            "kubectl_mp_readiness_timestamp_seconds",
            "When the check ran, Unix seconds: alert when it stops moving.",
            &[(vec![], now as f64)],
        );
    }
}

fn bool_value(value: bool) -> f64 {
    if value { 1.0 } else { 0.0 }
}

fn status_name(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "pass",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "fail",
    }
}

/// The report as an exposition, `now` in Unix seconds: whether it is
/// ready, one series per check (id and side; the worst status when a check
/// has several results), the counts, and the last restore's age.
pub fn render(report: &ReadinessReport, pair: &Pair<'_>, now: i64) -> String {
    let mut exposition = Exposition {
        pair,
        text: String::new(),
    };
    exposition.common(true, report.ready, now);
    let mut worst: BTreeMap<(&str, &str), CheckStatus> = BTreeMap::new();
    for result in &report.report.checks {
        let key = (result.id.as_str(), result.cluster.as_deref().unwrap_or(""));
        let status = result.check.status;
        worst
            .entry(key)
            .and_modify(|known| {
                if rank(status) > rank(*known) {
                    *known = status;
                }
            })
            .or_insert(status);
    }
    let checks: Vec<(Vec<(&str, &str)>, f64)> = worst
        .iter()
        .map(|((check, cluster), status)| {
            let labels = vec![
                ("check", *check),
                ("cluster", *cluster),
                ("status", status_name(*status)),
            ];
            (labels, 1.0)
        })
        .collect();
    exposition.gauge(
        "kubectl_mp_readiness_check",
        "One series per check (check id, cluster role or empty for the pair) labelled with its status (pass, warn, fail), value 1.",
        &checks,
    );
    let summary = report.report.summary;
    exposition.gauge(
        "kubectl_mp_readiness_checks",
        "How many check results have each status.",
        &[
            (vec![("status", "pass")], summary.pass as f64),
            (vec![("status", "warn")], summary.warn as f64),
            (vec![("status", "fail")], summary.fail as f64),
        ],
    );
    if let Some(age) = report
        .restore
        .as_ref()
        .and_then(|restore| restore.age_seconds.map(|age| (restore, age)))
    {
        let (restore, age) = age;
        exposition.gauge(
            "kubectl_mp_readiness_restore_last_success_age_seconds",
            "Seconds since the standby's restore CronJob last succeeded (status.lastSuccessfulTime); absent when it never did or does not exist.",
            &[(vec![("cronjob", restore.cronjob.as_str())], age as f64)],
        );
    }
    exposition.text
}

/// The exposition of a check that could not run (an error, exit 2 or 3):
/// not up, not ready, so an alert on `ready == 0` fires for it too.
pub fn render_not_up(pair: &Pair<'_>, now: i64) -> String {
    let mut exposition = Exposition {
        pair,
        text: String::new(),
    };
    exposition.common(false, false, now);
    exposition.text
}

fn rank(status: CheckStatus) -> u8 {
    match status {
        CheckStatus::Pass => 0,
        CheckStatus::Warn => 1,
        CheckStatus::Fail => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cacheck::readiness::RestoreStatus;
    use crate::cacheck::report::{CheckResult, Report};
    use crate::ui::check::Check;

    fn pair() -> Pair<'static> {
        Pair {
            active: "active",
            standby: "stand\"by",
            namespace: "tsb",
        }
    }

    #[test]
    fn the_exposition_has_one_series_per_check_at_its_worst_status() {
        let checks = vec![
            CheckResult::new("secrets", Check::pass("match")),
            CheckResult::new("root-ca", Check::warn("allowed")),
            CheckResult::new("root-ca", Check::fail("differ")),
            CheckResult::new("standby-scaled-down", Check::pass("stopped")).cluster("standby"),
        ];
        let report = ReadinessReport::new(Report::new(Vec::new(), checks), None);
        let restore = RestoreStatus {
            cronjob: "tsb-restore".into(),
            suspended: false,
            last_successful_time: Some("2026-12-01T00:00:00Z".into()),
            age_seconds: Some(600),
        };
        let report = ReadinessReport {
            restore: Some(restore),
            ..report
        };
        let text = render(&report, &pair(), 1_700_000_000);
        let labels = r#"active="active",standby="stand\"by",namespace="tsb""#;
        for line in [
            "# TYPE kubectl_mp_readiness_ready gauge".to_string(),
            format!("kubectl_mp_readiness_up{{{labels}}} 1"),
            format!("kubectl_mp_readiness_ready{{{labels}}} 0"),
            format!("kubectl_mp_readiness_timestamp_seconds{{{labels}}} 1700000000"),
            format!(
                r#"kubectl_mp_readiness_check{{{labels},check="root-ca",cluster="",status="fail"}} 1"#
            ),
            format!(
                r#"kubectl_mp_readiness_check{{{labels},check="secrets",cluster="",status="pass"}} 1"#
            ),
            format!(
                r#"kubectl_mp_readiness_check{{{labels},check="standby-scaled-down",cluster="standby",status="pass"}} 1"#
            ),
            format!(r#"kubectl_mp_readiness_checks{{{labels},status="fail"}} 1"#),
            format!(
                r#"kubectl_mp_readiness_restore_last_success_age_seconds{{{labels},cronjob="tsb-restore"}} 600"#
            ),
        ] {
            assert!(
                text.lines().any(|got| got == line),
                "{line}\nnot in\n{text}"
            );
        }
        assert_eq!(
            text.matches("check=\"root-ca\"").count(),
            1,
            "one series per check: {text}"
        );
        // Every sample line is NAME{LABELS} VALUE, under its HELP and TYPE.
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} gauge")), "{line}");
        }
    }

    #[test]
    fn a_check_that_could_not_run_is_not_up_and_not_ready() {
        let text = render_not_up(&pair(), 5);
        assert!(
            text.contains(
                r#"kubectl_mp_readiness_up{active="active",standby="stand\"by",namespace="tsb"} 0"#
            ),
            "{text}"
        );
        assert!(text.contains("kubectl_mp_readiness_ready{") && text.contains("} 0\n"));
        assert!(!text.contains("kubectl_mp_readiness_check{"));
    }
}
