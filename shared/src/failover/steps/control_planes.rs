//! Step 7, after the new MP is verified: each workload cluster's control
//! plane (`--control-plane-context`) follows it, all at once. Tetrate's MP
//! HA guide: an XCP edge that does not reconnect is restarted, and on token
//! errors its cached tokens are deleted so they are re-issued
//! ([`crate::tsb::edge::follow`]). After verify, so that control planes are
//! only pushed to an MP proven to serve under its name.
//!
//! Each cluster's outcome is journaled, even when the step fails: a resumed
//! run retries only those that did not follow. The contexts are those of
//! this run (a resume may add one); the MP failover is done before this
//! step, so a failure here exits 5, not 4.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use super::{Run, Step};
use crate::error::{Error, Exit, Result};
use crate::failover::journal::{self, ControlPlaneRecord};
use crate::kube::cluster::Cluster;
use crate::tsb::edge::{self, Action};
use crate::ui::check::Check;

pub struct ControlPlanes;

/// The step's name, the journal's key.
pub const NAME: &str = "control-planes";

impl Step for ControlPlanes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        plan(run).boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        follow_all(run).boxed()
    }

    /// Every control plane of this run is recorded as having followed.
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        async move {
            Ok(run.control_planes.iter().all(|cluster| {
                run.journal
                    .control_planes
                    .get(cluster.context())
                    .is_some_and(|record| record.followed)
            }))
        }
        .boxed()
    }
}

/// One line per control plane: what it would do, with the server's dry run
/// of the restart (which proves the edge exists and may be restarted).
async fn plan(run: &Run<'_>) -> Result<Vec<String>> {
    let layout = &run.layout.control_plane;
    if run.control_planes.is_empty() {
        return Ok(vec![format!(
            "{NAME}: skipped (no --control-plane-context given)"
        )]);
    }
    let seconds = run.settings.control_plane_timeout.as_secs();
    let mut lines = vec![format!(
        "{NAME}: on each of {} cluster{} at once, wait up to {seconds}s for deployment/{} in {} to reconnect; else rollout restart it; on token errors delete {} and wait for them to return",
        run.control_planes.len(),
        if run.control_planes.len() == 1 {
            ""
        } else {
            "s"
        },
        layout.edge_deployment,
        layout.namespace,
        layout.token_secrets.join(", ")
    )];
    let checks = join_all(run.control_planes.iter().map(|cluster| async move {
        if followed(run, cluster).is_some() {
            return format!(
                "{:?}: followed already (journal): nothing to do",
                cluster.context()
            );
        }
        match edge::restart(cluster, layout, true).await {
            Ok(_) => format!(
                "{:?}: its restart is accepted (server dry run)",
                cluster.context()
            ),
            Err(error) => format!("{:?}: ✖ {}", cluster.context(), error.message()),
        }
    }))
    .await;
    lines.extend(checks);
    Ok(lines)
}

/// The journal's record of `cluster`, when it followed already.
fn followed<'a>(run: &'a Run<'_>, cluster: &Cluster) -> Option<&'a ControlPlaneRecord> {
    run.journal
        .control_planes
        .get(cluster.context())
        .filter(|record| record.followed)
}

/// A control plane's row, in the table and in `-o json|yaml`'s `controlPlanes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    context: String,
    edge: String,
    /// `none`, `restarted`, `tokens re-issued`; `none (earlier run)` when
    /// the journal says it followed already.
    action: String,
    followed: bool,
    result: String,
}

async fn follow_all(run: &Run<'_>) -> Result<String> {
    if run.control_planes.is_empty() {
        return Ok("skipped: no --control-plane-context given".into());
    }
    let layout = &run.layout.control_plane;
    let timeout = run.settings.control_plane_timeout;
    // The edges reconnect once the name leads to the new MP: their logs
    // count from then.
    let since = run
        .journal
        .steps
        .get("dns")
        .and_then(|record| record.finished_at.parse().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let rows = join_all(run.control_planes.iter().map(|cluster| async move {
        if let Some(record) = followed(run, cluster) {
            return (
                Row {
                    context: cluster.context().into(),
                    edge: "-".into(),
                    action: format!("{} (earlier run)", record.action),
                    followed: true,
                    result: record.result.clone(),
                },
                None,
            );
        }
        let found = run.preflight.control_plane_edges.get(cluster.context());
        let outcome = edge::follow(cluster, layout, found, since, timeout).await;
        let (followed, result) = match &outcome.result {
            Ok(summary) => (true, summary.clone()),
            Err(error) => (false, error.message().to_string()),
        };
        let record = ControlPlaneRecord {
            followed,
            action: outcome.action.name().into(),
            result: result.clone(),
            at: journal::now(),
        };
        let row = Row {
            context: cluster.context().into(),
            edge: outcome.edge,
            action: outcome.action.name().into(),
            followed,
            result,
        };
        (row, Some(record))
    }))
    .await;
    let mut records = run
        .control_plane_records
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (row, record) in &rows {
        if let Some(record) = record {
            records.insert(row.context.clone(), record.clone());
        }
    }
    drop(records);
    let rows: Vec<Row> = rows.into_iter().map(|(row, _)| row).collect();
    show(run, &rows);
    let failed: Vec<&Row> = rows.iter().filter(|row| !row.followed).collect();
    if failed.is_empty() {
        return Ok(summary(&rows));
    }
    for row in &failed {
        Check::fail(format!(
            "control plane {:?} did not follow the MP: {}",
            row.context, row.result
        ))
        .hint(format!(
            "try: {}",
            edge::manual_commands(&row.context, layout)
        ))
        .show(run.ui);
    }
    let names: Vec<String> = failed
        .iter()
        .map(|row| format!("{:?}", row.context))
        .collect();
    Err(Error::new(
        Exit::ControlPlanes,
        format!(
            "the MP failover is done ({:?} serves {}), but {} of {} control planes did not follow it: {}",
            run.to.context(),
            run.settings.dns.name,
            failed.len(),
            rows.len(),
            names.join(", ")
        ),
    )
    .with_next_step(
        "fix them (commands to try above), then run the same command with --resume: it retries only those",
    ))
}

/// `3 control planes follow the MP (1 restarted, 1 tokens re-issued)`.
fn summary(rows: &[Row]) -> String {
    let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        if row.action != Action::None.name() {
            *actions.entry(row.action.as_str()).or_default() += 1;
        }
    }
    let done: Vec<String> = actions
        .iter()
        .map(|(action, count)| format!("{count} {action}"))
        .collect();
    format!(
        "{} control plane{} follow{} the MP{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if rows.len() == 1 { "s" } else { "" },
        if done.is_empty() {
            String::new()
        } else {
            format!(" ({})", done.join(", "))
        }
    )
}

/// The table on stderr, and each row in `-o json|yaml`'s `controlPlanes`.
fn show(run: &Run<'_>, rows: &[Row]) {
    let width = |pick: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|row| pick(row).chars().count())
            .chain(std::iter::once(title.len()))
            .max()
            .unwrap_or(0)
    };
    let (context, edge, action) = (
        width(|row| &row.context, "CONTEXT"),
        width(|row| &row.edge, "EDGE"),
        width(|row| &row.action, "ACTION"),
    );
    run.ui.info(&format!(
        "  {:context$}  {:edge$}  {:action$}  RESULT",
        "CONTEXT", "EDGE", "ACTION"
    ));
    for row in rows {
        let result = if row.followed {
            format!("followed: {}", row.result)
        } else {
            format!("NOT followed: {}", row.result)
        };
        run.ui.info(&format!(
            "  {:context$}  {:edge$}  {:action$}  {result}",
            row.context, row.edge, row.action
        ));
        run.ui.record_item("controlPlanes", row);
    }
}
