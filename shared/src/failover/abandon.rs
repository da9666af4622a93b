//! `kubectl mp-failover --abandon`: gives up an unfinished failover instead
//! of resuming it. Under the pair's lock, like any run, it shows what the
//! journal says is done and each side's MP, keeps the journal (a copy in a
//! ConfigMap of its own, and the failover journal marked abandoned, so a
//! failback still finds the counts it recorded), and says what to run next.
//! It changes no deployment: what to start or stop is the operator's call,
//! printed as exact commands ([`plan::after_abandon`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::journal::{self, Journal};
use super::{Cli, Failover, connect_pair, lock, plan, steps};
use crate::error::{Error, Exit, Result};
use crate::kube::cluster::Cluster;
use crate::tsb::mp::{self, MpState, Replicas};
use crate::ui::output::{OutputFormat, Ui};

/// What `-o json|yaml` prints: the journal given up (marked abandoned,
/// unless a dry run), where its copy is kept, each side's MP deployments
/// as read (none for a side not read: `--disaster`), and the next steps.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Abandoned<'a> {
    dry_run: bool,
    journal: &'a Journal,
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_in: Option<&'a str>,
    /// By context: each MP deployment's replicas.
    sides: BTreeMap<&'a str, &'a BTreeMap<String, Replicas>>,
    next_steps: &'a [String],
}

/// Runs `--abandon` for `cli`'s `--from` and `--to`.
///
/// # Errors
/// Exit 2 when no unfinished failover from `--from` to `--to` is recorded;
/// 1 when another run holds the pair's lock (without `--force-unlock`) or
/// the question is not answered yes; 3 for an unreachable cluster (with the
/// active gone, `--disaster` reads the standby only). Nothing is changed
/// in any of these cases.
pub(super) async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    let layout = cli.connection.layout()?;
    let kubeconfig = cli.connection.load_kubeconfig()?;
    let client_settings = cli.connection.client_settings();
    let (from, to) = connect_pair(&kubeconfig, &client_settings, &cli.from, &cli.to).await?;
    let skip_active = cli.disaster;
    // Every read at once: one round trip.
    let (stored, to_lock, from_lock, to_state, from_state) = futures::join!(
        journal::load(&to),
        lock::read(&to),
        async {
            if skip_active {
                Ok(None)
            } else {
                lock::read(&from).await.map(Some)
            }
        },
        mp::read_state(&to, &layout),
        async {
            if skip_active {
                Ok(None)
            } else {
                mp::read_state(&from, &layout).await.map(Some)
            }
        },
    );
    let unreachable_active = |error: Error| {
        error.with_next_step("if the active is gone, add --disaster: only the standby is read")
    };
    let found = stored?.map(|stored| (stored.journal, stored.version));
    let (mut journal, version) = plan::abandon(
        found,
        &Failover::record_of(&from),
        &Failover::record_of(&to),
    )?;
    let (to_state, from_state) = (to_state?, from_state.map_err(unreachable_active)?);
    let mut locks = vec![(to.clone(), to_lock?)];
    if let Some(found) = from_lock.map_err(unreachable_active)? {
        locks.push((from.clone(), found));
    }
    let lease = lock::Lease::new(format!(
        "{} {} -> {} (--abandon)",
        journal.id,
        from.context(),
        to.context()
    ));
    check_lock(&ui, &locks, &lease, cli.force_unlock)?;

    show(
        &ui,
        &journal,
        [(&from, from_state.as_ref()), (&to, Some(&to_state))],
    );
    let next_steps = plan::after_abandon(&journal);
    let sides: BTreeMap<&str, &BTreeMap<String, Replicas>> =
        [(&from, from_state.as_ref()), (&to, Some(&to_state))]
            .into_iter()
            .filter_map(|(cluster, state)| Some((cluster.context(), &state?.deployments)))
            .collect();
    let output = cli.output.output;
    let record = |journal: &Journal, kept_in: Option<&str>| {
        if output != OutputFormat::Text {
            ui.record(&Abandoned {
                dry_run: cli.dry_run,
                journal,
                kept_in,
                sides: sides.clone(),
                next_steps: &next_steps,
            });
        }
    };
    if cli.dry_run {
        ui.info(&format!(
            "dry run: nothing was changed; --abandon would copy the journal into configmap {}<time> in context {:?}, mark configmap {} abandoned, and leave both MPs as they are",
            journal::ABANDONED_PREFIX,
            to.context(),
            journal::JOURNAL_NAME
        ));
        show_next(&ui, "then", &next_steps);
        record(&journal, None);
        return Ok(Exit::Ok);
    }
    let action = format!(
        "abandon the failover from {:?} to {:?} started at {}",
        from.context(),
        to.context(),
        journal.started_at
    );
    let yes_does = "keep its journal in a configmap of its own and mark it abandoned, so that it is not resumed; no deployment is changed; anything else stops here with nothing changed";
    if !crate::ui::prompt::confirm(&ui, &action, yes_does, cli.yes)? {
        return Err(Error::failed("not confirmed: nothing was changed"));
    }
    let pair_lock = lock::PairLock::acquire(locks, lease)
        .await
        .map_err(|error| {
            let message = format!("{}; nothing was changed", error.message());
            error.with_message(message)
        })?;
    let kept = keep_and_mark(&to, &mut journal, &version).await;
    for left in pair_lock.release().await {
        ui.warn(&left);
    }
    let kept = kept?;
    ui.info(&format!(
        "abandoned: its journal is kept in configmap {kept} in context {:?} (and configmap {} says abandoned); a new failover may start, either way",
        to.context(),
        journal::JOURNAL_NAME
    ));
    show_next(&ui, "next", &next_steps);
    record(&journal, Some(&kept));
    Ok(Exit::Ok)
}

/// Another run's live lease stops it, unless `force_unlock` (then it is
/// named in a warning, and taken with the lock).
fn check_lock(
    ui: &Ui,
    locks: &[(Cluster, lock::Found)],
    lease: &lock::Lease,
    force_unlock: bool,
) -> Result<()> {
    for (cluster, found) in locks {
        let Some(holder) = found.held_by_other(lease) else {
            continue;
        };
        if !force_unlock {
            return Err(Error::failed(format!(
                "context {:?}: another run holds the pair's lock: {}; nothing was changed",
                cluster.context(),
                holder.describe()
            ))
            .with_next_step(format!(
                "wait for it to finish (a lease lapses {}s after its last renewal), or run this again with --force-unlock if that run died",
                lock::LEASE_SECONDS
            )));
        }
        ui.warn(&format!(
            "context {:?}: the pair's lock is taken from {} (--force-unlock)",
            cluster.context(),
            holder.describe()
        ));
    }
    Ok(())
}

/// Copies the journal into a ConfigMap of its own, then marks the failover
/// journal abandoned (at the version read: a run that wrote it since wins).
/// Returns the copy's name.
async fn keep_and_mark(to: &Cluster, journal: &mut Journal, version: &str) -> Result<String> {
    let at = jiff::Timestamp::now();
    let kept = journal::keep_abandoned(to, journal, at).await?;
    journal.abandoned_at = Some(at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    journal::save(to, journal, Some(version))
        .await
        .map_err(|error| {
            let message = format!(
                "{}; its copy {kept} was written, the journal is not marked abandoned",
                error.message()
            );
            error.with_message(message)
        })?;
    Ok(kept)
}

/// What the journal says is done, and each side's MP deployments as read.
fn show(ui: &Ui, journal: &Journal, sides: [(&Cluster, Option<&MpState>); 2]) {
    let next = steps::next_undone(journal).unwrap_or("the end");
    ui.info(&format!(
        "the failover from {:?} to {:?} ({}, started {}) stopped before step {next}:",
        journal.from.context, journal.to.context, journal.id, journal.started_at
    ));
    for name in steps::names() {
        match journal.steps.get(name) {
            Some(done) => ui.info(&format!("  ✔ {} {}", steps::label(name), done.summary)),
            None => ui.info(&format!("  - {} not done", steps::label(name))),
        }
    }
    for (cluster, state) in sides {
        let described = state.map_or_else(
            || "not read (--disaster)".to_string(),
            |state| {
                state
                    .deployments
                    .iter()
                    .map(|(name, replicas)| {
                        format!("{name} {}/{} ready", replicas.ready, replicas.desired)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        ui.info(&format!(
            "  context {:?} now: {}",
            cluster.context(),
            if described.is_empty() {
                "no MP deployment"
            } else {
                &described
            }
        ));
    }
}

fn show_next(ui: &Ui, heading: &str, next_steps: &[String]) {
    ui.info(&format!("{heading}:"));
    for step in next_steps {
        ui.info(&format!("  - {step}"));
    }
}
