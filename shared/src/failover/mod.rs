//! `kubectl mp-failover`: the cut-over from the active MP to the standby, in
//! the runbook's order, each step verified and journaled in the standby's
//! namespace so an interrupted run resumes and a finished one is not redone.
//!
//! Where things live: the flags ([`cli`]) become [`settings`] once; the
//! [`preflight`] reads and checks everything before any change; [`plan`]
//! decides (start, resume or refuse; replica counts) without a request;
//! [`steps`] holds the ordered steps, one file each; the [`journal`] keeps
//! what is done, and the lock. This module runs them in order.

mod abandon;
mod cli;
mod describe;
mod interrupt;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod preflight;
mod progress;
pub mod settings;
pub mod steps;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

pub use cli::{Cli, DatabaseArgs, DatabaseMode, DnsArgs, DnsBackendKind};
use interrupt::Interrupt;
use journal::{Journal, SideRecord, StepRecord};
use preflight::{Preflight, Sides};
use progress::Progress;
use settings::FailoverSettings;
use steps::{PREFLIGHT, Run};

use crate::error::{Error, Exit, Result, join_in_order};
use crate::kube::cluster::Cluster;
use crate::tsb::layout::TsbLayout;
use crate::ui::check::Check;
use crate::ui::output::{OutputFormat, Ui};

/// What `-o json|yaml` prints at the end: the preflight's checks (each
/// `status`, `title`, and `hint` when it did not pass), and the journal;
/// when the preflight stops the failover, its checks, the exit code, the
/// error and its next step. It joins the run's one document
/// ([`crate::ui::output`]), which also has each step as it ended (`steps`)
/// and, however the run ends, its `exitCode`, `error` and `nextStep`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome<'a> {
    dry_run: bool,
    already_done: bool,
    preflight: &'a [Check],
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<&'a Journal>,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_step: Option<String>,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    if cli.abandon {
        return abandon::run(cli, ui).await;
    }
    let layout = cli.connection.layout()?;
    let connection = cli.connection.clone();
    let settings = FailoverSettings::from_cli(cli)?;
    let kubeconfig = connection.load_kubeconfig()?;
    let client_settings = connection.client_settings();
    let (from, to) = connect_pair(
        &kubeconfig,
        &client_settings,
        &settings.from_context,
        &settings.to_context,
    )
    .await?;
    let control_planes =
        connect_control_planes(&kubeconfig, &settings.control_planes, &client_settings).await?;
    let failover = Failover {
        settings,
        ui,
        layout,
        from,
        to,
        control_planes,
    };
    failover.run().await
}

/// One client for `--from` and one for `--to` (no request is made).
///
/// # Errors
/// A usage error (exit 2) when they name one context or one server, or a
/// context the kubeconfig lacks.
async fn connect_pair(
    kubeconfig: &crate::kube::kubeconfig::LoadedKubeconfig,
    client_settings: &crate::kube::kubeconfig::ClientSettings,
    from: &str,
    to: &str,
) -> Result<(Cluster, Cluster)> {
    if from == to {
        return Err(Error::usage(format!("--from and --to are both {from:?}"))
            .with_next_step("name two different contexts, one per Management Plane cluster"));
    }
    let (from, to) = join_in_order(
        Cluster::connect(kubeconfig, Some(from), client_settings),
        Cluster::connect(kubeconfig, Some(to), client_settings),
    )
    .await?;
    if from.server() == to.server() {
        return Err(Error::usage(format!(
            "--from and --to point at the same server {}",
            to.server()
        ))
        .with_next_step("the standby must be a different cluster from the active"));
    }
    Ok((from, to))
}

/// One client per control-plane context (no request is made). Every
/// context must be in the kubeconfig: one usage error names all that are
/// not, and where each was given, before anything changes.
async fn connect_control_planes(
    kubeconfig: &crate::kube::kubeconfig::LoadedKubeconfig,
    contexts: &[settings::ControlPlaneContext],
    client_settings: &crate::kube::kubeconfig::ClientSettings,
) -> Result<Vec<Cluster>> {
    let known = kubeconfig.context_names();
    let unknown: Vec<String> = contexts
        .iter()
        .filter(|context| !known.contains(&context.name.as_str()))
        .map(|context| format!("{:?} ({})", context.name, context.source))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::usage(format!(
            "control-plane context{} {} not found in {}; nothing was changed",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            kubeconfig.sources()
        ))
        .with_next_step("name contexts of your kubeconfig (kubectl config get-contexts)"));
    }
    crate::error::join_all_in_order(
        contexts
            .iter()
            .map(|context| Cluster::connect(kubeconfig, Some(&context.name), client_settings)),
    )
    .await
}

struct Failover {
    settings: FailoverSettings,
    ui: Ui,
    layout: TsbLayout,
    from: Cluster,
    to: Cluster,
    /// One client per `--control-plane-context`.
    control_planes: Vec<Cluster>,
}

/// What [`Failover::prepare`] ends with.
enum Prepared {
    /// Nothing to change: a finished failover re-checked, or a dry run.
    Finished(Exit),
    Go(Box<Ready>),
}

/// A failover whose preflight passed, ready for its steps.
struct Ready {
    begun: Begun,
    preflight: Preflight,
    shown: Vec<Check>,
    progress: Progress,
}

enum Began {
    /// A finished failover in this direction: re-checked only.
    AlreadyDone(Box<Journal>),
    Go(Box<Begun>),
}

/// How the run began: the journal to write to, what it restores, and the
/// pair's lock as read.
struct Begun {
    journal: Journal,
    version: Option<String>,
    restore_counts: BTreeMap<String, i32>,
    /// This run's lease, to take once confirmed.
    lease: lock::Lease,
    /// Each reachable cluster's lock ConfigMap as read.
    locks: Vec<(Cluster, lock::Found)>,
    /// The standby's backup as the database step records it.
    standby_backup: std::sync::Mutex<Option<journal::DumpRecord>>,
    /// Each control plane's outcome as the control-planes step records it.
    control_plane_records: std::sync::Mutex<BTreeMap<String, journal::ControlPlaneRecord>>,
}

impl Begun {
    /// The journal with what the steps recorded on the side.
    fn journal_to_write(&self) -> Journal {
        let mut journal = self.journal.clone();
        journal.standby_backup = self
            .standby_backup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        journal.control_planes = self
            .control_plane_records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        journal
    }
}

impl Begun {
    /// Other runs' live leases: (context, who holds it).
    fn held_by_others(&self) -> Vec<(String, String)> {
        self.locks
            .iter()
            .filter_map(|(cluster, found)| {
                let lease = found.held_by_other(&self.lease)?;
                Some((cluster.context().to_string(), lease.describe()))
            })
            .collect()
    }
}

impl Failover {
    fn sides(&self) -> Sides<'_> {
        Sides {
            settings: &self.settings,
            layout: &self.layout,
            from: &self.from,
            to: &self.to,
            ui: &self.ui,
            control_planes: &self.control_planes,
        }
    }

    fn record_of(cluster: &Cluster) -> SideRecord {
        SideRecord {
            context: cluster.context().into(),
            server: cluster.server().into(),
        }
    }

    /// Everything up to the first change, then the steps; a SIGINT or
    /// SIGTERM before the first change ends it with nothing changed.
    async fn run(self) -> Result<Exit> {
        let interrupt = Interrupt::listen();
        let started = Instant::now();
        let prepared = tokio::select! {
            prepared = self.prepare(started) => prepared?,
            signal = interrupt.received() => {
                return Err(Error::failed(format!(
                    "interrupted by {signal} before any change: nothing was changed"
                )))
            }
        };
        match prepared {
            Prepared::Finished(exit) => Ok(exit),
            Prepared::Go(ready) => {
                let Ready {
                    begun,
                    preflight,
                    shown,
                    progress,
                } = *ready;
                self.run_steps(begun, &preflight, &shown, &progress, started, &interrupt)
                    .await
            }
        }
    }

    /// Reads, decides and checks (the preflight), read-only: a finished
    /// failover re-checked, a dry run, or a failover ready to go.
    async fn prepare(&self, started: Instant) -> Result<Prepared> {
        let sides = self.sides();
        // The journals, the locks and the preflight's reads are all
        // read-only: one round trip for all of them, even when the journal
        // then says to stop.
        let skip_active = self.settings.disaster;
        let (existing, reverse, to_lock, from_lock, reads) = futures::join!(
            journal::load(&self.to),
            async {
                if skip_active {
                    Ok(None)
                } else {
                    journal::load(&self.from).await
                }
            },
            lock::read(&self.to),
            async {
                if skip_active {
                    Ok(None)
                } else {
                    lock::read(&self.from).await.map(Some)
                }
            },
            preflight::read(&sides),
        );
        let mut locks = vec![(self.to.clone(), to_lock?)];
        if let Some(found) = from_lock? {
            locks.push((self.from.clone(), found));
        }
        let finished_holds = self.finished_holds(&reads);
        let begun = match self.begin(existing?, reverse, locks, finished_holds)? {
            Began::AlreadyDone(journal) => {
                let old_active_seen_stopped =
                    matches!(&reads.from, Ok(Some((_, state, _))) if !runs_an_mp(state));
                if journal.disaster && !old_active_seen_stopped {
                    self.ui.warn(&format!(
                        "this failover ran with --disaster: the old active {:?} was never fenced; when it answers again, run this command without --disaster, which fences it",
                        journal.from.context
                    ));
                }
                let (to_snapshot, to_state, _) = reads.to?;
                return self
                    .already_done(*journal, to_snapshot, to_state)
                    .await
                    .map(Prepared::Finished);
            }
            Began::Go(begun) => *begun,
        };
        // A failback with --disaster cannot read the counts its failover
        // recorded (they are in the unreachable cluster): say so, not guess.
        let standby_stopped = matches!(&reads.to, Ok((_, state, _)) if !state.deployments.is_empty() && !runs_an_mp(state));
        if self.settings.disaster && begun.restore_counts.is_empty() && standby_stopped {
            self.ui.warn(&format!(
                "the MP in context {:?} is stopped and the replica counts it had are recorded in context {:?}, unreachable (--disaster): each deployment starts with 1; scale them to their usual counts afterwards",
                self.to.context(),
                self.from.context()
            ));
        }
        let progress = Progress::new(&self.ui);
        // Preflight runs on every start (read-only), even when resuming: the
        // steps after it need what it reads.
        progress.start(PREFLIGHT);
        let held = begun.held_by_others();
        let mut shown = Vec::new();
        let preflight = match preflight::judge(&sides, reads, &held, &mut shown).await {
            Ok(preflight) => preflight,
            Err(error) => {
                progress.fail(PREFLIGHT, started);
                let error = self.preflight_failed(&begun.journal, error);
                self.write_outcome(&shown, None, false, Some(&error))?;
                return Err(error);
            }
        };
        progress.done(PREFLIGHT, started, "every check passed");
        if self.settings.dry_run {
            self.dry_run(&begun, &preflight).await?;
            return self
                .finish(&shown, &begun.journal, false)
                .map(Prepared::Finished);
        }
        Ok(Prepared::Go(Box::new(Ready {
            begun,
            preflight,
            shown,
            progress,
        })))
    }

    /// Whether, by the preflight's reads, a finished failover to the
    /// standby still holds: its MP runs ready, the name answers it, and the
    /// old active (when it was read) runs no MP. One that no longer does
    /// (a failback since, or an old active that came back after
    /// `--disaster`) is started again rather than only re-checked.
    fn finished_holds(&self, reads: &preflight::Reads) -> bool {
        let layout = &self.layout;
        let Ok((_, to_state, _)) = &reads.to else {
            // Unreadable: the re-check reports it.
            return true;
        };
        let serves = to_state.missing(layout).is_empty()
            && layout.mp_deployments.iter().all(|name| {
                to_state
                    .deployments
                    .get(name)
                    .is_some_and(|replicas| replicas.desired > 0 && replicas.ready >= 1)
            });
        let answers = match (&reads.dns, &to_state.front_address) {
            (Ok(Some(answer)), Some(front)) => answer.is(&self.settings.dns.target_for(front)),
            _ => false,
        };
        let old_active_runs =
            matches!(&reads.from, Ok(Some((_, from_state, _))) if runs_an_mp(from_state));
        serves && answers && !old_active_runs
    }

    /// Start, resume or refuse ([`plan::start`]).
    fn begin(
        &self,
        existing: Option<journal::Stored>,
        reverse: Result<Option<journal::Stored>>,
        locks: Vec<(Cluster, lock::Found)>,
        finished_holds: bool,
    ) -> Result<Began> {
        // The counts a failback restores are in it: never guessed around.
        let reverse = reverse?.map(|stored| stored.journal);
        let (from, to) = (Self::record_of(&self.from), Self::record_of(&self.to));
        let flags = plan::Flags {
            resume: self.settings.resume,
            dry_run: self.settings.dry_run,
            disaster: self.settings.disaster,
            options: self.settings.run_options(),
            finished_holds,
        };
        let new = || Journal {
            id: journal::new_id(jiff::Timestamp::now()),
            from: from.clone(),
            to: to.clone(),
            namespace: self.to.namespace().into(),
            started_at: journal::now(),
            disaster: self.settings.disaster,
            steps: BTreeMap::new(),
            fenced_replicas: BTreeMap::new(),
            standby_writer_replicas: BTreeMap::new(),
            restore_cronjob_was_suspended: None,
            finished_at: None,
            abandoned_at: None,
            standby_backup: None,
            options: Some(flags.options.clone()),
            control_planes: BTreeMap::new(),
        };
        let found = existing.map(|stored| (stored.journal, stored.version));
        let order: Vec<&str> = steps::names().collect();
        let decided = plan::start(found, reverse.as_ref(), &from, &to, &flags, &order, new)?;
        let (journal, version) = match decided {
            plan::Start::AlreadyDone(journal) => {
                return Ok(Began::AlreadyDone(Box::new(journal)));
            }
            plan::Start::Go { journal, version } => (journal, version),
        };
        let lease = lock::Lease::new(format!("{} {} -> {}", journal.id, from.context, to.context));
        Ok(Began::Go(Box::new(Begun {
            restore_counts: plan::restore_counts(reverse.as_ref(), &from, &to),
            standby_backup: std::sync::Mutex::new(journal.standby_backup.clone()),
            control_plane_records: std::sync::Mutex::new(journal.control_planes.clone()),
            journal,
            version,
            lease,
            locks,
        })))
    }

    /// A failed preflight. Resuming, earlier steps did change things, so
    /// this is not "nothing was changed" but "still stopped midway".
    fn preflight_failed(&self, journal: &Journal, error: Error) -> Error {
        if !journal.is_done(PREFLIGHT) {
            return error;
        }
        let next = steps::next_undone(journal).unwrap_or("the end");
        Error::new(
            Exit::Partial,
            format!(
                "the failover stays stopped before step {next}: {}",
                error.message().trim_end_matches("; nothing was changed")
            ),
        )
        .with_next_step(format!(
            "{}; then run the same command with --resume",
            error.next_step().unwrap_or("fix the cause")
        ))
    }
}

impl Failover {
    fn step_run<'a>(&'a self, begun: &'a Begun, preflight: &'a Preflight) -> Run<'a> {
        Run {
            settings: &self.settings,
            layout: &self.layout,
            from: &self.from,
            to: &self.to,
            ui: &self.ui,
            preflight,
            journal: &begun.journal,
            standby_backup: &begun.standby_backup,
            restore_counts: &begun.restore_counts,
            control_planes: &self.control_planes,
            control_plane_records: &begun.control_plane_records,
        }
    }

    /// Takes the pair's lock, runs every step in order and records the
    /// end; gives the lock up however the steps end, a signal included.
    async fn run_steps(
        &self,
        mut begun: Begun,
        preflight: &Preflight,
        shown: &[Check],
        progress: &Progress,
        started: Instant,
        interrupt: &Interrupt,
    ) -> Result<Exit> {
        self.confirm_once(&mut begun, started)?;
        let locks = std::mem::take(&mut begun.locks);
        let pair_lock = lock::PairLock::acquire(locks, begun.lease.clone())
            .await
            .map_err(|error| {
                let message = format!("{}; nothing was changed", error.message());
                error.with_message(message)
            })?;
        let outcome = match self.first_write(&mut begun, preflight).await {
            Ok(mut writer) => {
                let steps =
                    self.steps_under_lock(&mut begun, preflight, progress, &pair_lock, &mut writer);
                // The steps' future is dropped on a signal: with it go the
                // children it runs and the files it holds.
                let ended = tokio::select! {
                    outcome = steps => Ok(outcome),
                    signal = interrupt.received() => Err(signal),
                };
                match ended {
                    Ok(outcome) => outcome,
                    Err(signal) => Err(self
                        .interrupted(signal, &begun, progress, &mut writer)
                        .await),
                }
            }
            Err(error) => Err(error),
        };
        for left in pair_lock.release().await {
            self.ui.warn(&left);
        }
        outcome?;
        self.summary(&begun.journal);
        self.finish(shown, &begun.journal, false)
    }

    /// After a signal stopped the steps: names the step it stopped, records
    /// the journal as it stands (every finished step), and says how to go on.
    async fn interrupted(
        &self,
        signal: &str,
        begun: &Begun,
        progress: &Progress,
        writer: &mut journal::Writer,
    ) -> Error {
        let step = steps::next_undone(&begun.journal).unwrap_or("verify");
        progress.interrupted(step, signal);
        let recorded = match writer.write(&begun.journal_to_write()).await {
            Ok(()) => String::new(),
            Err(error) => format!(
                " (its last steps may not be recorded: {}; --resume repeats them, each is safe to repeat)",
                error.message()
            ),
        };
        Error::new(
            Exit::Partial,
            format!(
                "interrupted by {signal} at step {} ({step}): the failover stopped midway{recorded}",
                steps::number(step)
            ),
        )
        .with_next_step("run the same command with --resume")
    }

    async fn steps_under_lock(
        &self,
        begun: &mut Begun,
        preflight: &Preflight,
        progress: &Progress,
        pair_lock: &lock::PairLock,
        writer: &mut journal::Writer,
    ) -> Result<()> {
        if let Some(bundle) = &preflight.sync {
            self.sync_secrets(bundle).await?;
        }
        for step in steps::ALL {
            pair_lock.check().map_err(|error| {
                stopped(
                    format!(
                        "before step {} ({})",
                        steps::number(step.name()),
                        step.name()
                    ),
                    error,
                )
            })?;
            let summary = self
                .run_step(step, begun, preflight, progress, writer)
                .await?;
            if let Some(summary) = summary {
                begun.journal = begun.journal_to_write();
                begun.journal.steps.insert(step.name().into(), summary);
                writer.write_behind(&begun.journal).await.map_err(|error| {
                    stopped(
                        format!(
                            "after step {} ({})",
                            steps::number(step.name()),
                            step.name()
                        ),
                        error,
                    )
                    .with_next_step("run the same command with --resume")
                })?;
            }
        }
        begun.journal.finished_at = Some(journal::now());
        writer.finish(&begun.journal).await.map_err(|error| {
            Error::new(
                Exit::Partial,
                format!(
                    "the failover is done but its end was not recorded: {}",
                    error.message()
                ),
            )
            .with_next_step("run the same command with --resume: it re-checks and records it")
        })
    }

    /// Asks, unless resuming (that was asked already), and records the
    /// preflight as passed.
    fn confirm_once(&self, begun: &mut Begun, started: Instant) -> Result<()> {
        if !begun.journal.is_done(PREFLIGHT) {
            self.confirm()?;
            begun
                .journal
                .steps
                .insert(PREFLIGHT.into(), record(started, "every check passed"));
        }
        Ok(())
    }

    /// The journal's first write. It already records what later steps
    /// must restore, so no step has to write before it acts.
    async fn first_write(
        &self,
        begun: &mut Begun,
        preflight: &Preflight,
    ) -> Result<journal::Writer> {
        let mut writer = journal::Writer::new(&self.to, begun.version.clone());
        let copies_database = self.settings.database.mode == DatabaseMode::Separate
            && preflight.from_endpoint.is_some();
        plan::record_counts(
            &mut begun.journal,
            &self.layout,
            preflight.from_state.as_ref(),
            &preflight.to_state,
            copies_database,
        );
        writer.write(&begun.journal).await.map_err(|error| {
            let message = format!("{}; nothing was changed", error.message());
            error.with_message(message)
        })?;
        Ok(writer)
    }

    /// Asks before the first change (`--yes` answers for the user).
    fn confirm(&self) -> Result<()> {
        let fence = if self.settings.disaster {
            "skipped: --disaster"
        } else {
            "the old MP"
        };
        let action = format!(
            "fail the MP over from context {:?} to {:?} (fence {fence}, repoint {})",
            self.from.context(),
            self.to.context(),
            self.settings.dns.name
        );
        let fence_does = if self.settings.disaster {
            String::new()
        } else {
            format!(
                "stop the MP in context {:?} (its operator first), ",
                self.from.context()
            )
        };
        let yes_does = format!(
            "{fence_does}start the MP in context {:?} and repoint {} to it, now; anything else stops here with nothing changed",
            self.to.context(),
            self.settings.dns.name
        );
        if !crate::ui::prompt::confirm(&self.ui, &action, &yes_does, self.settings.yes)? {
            return Err(Error::failed("not confirmed: nothing was changed"));
        }
        Ok(())
    }

    /// One step: skipped when recorded and its goal still holds; else done.
    /// Returns its record to keep, or None when skipped.
    ///
    /// A step's record is written while the next steps run: every step is
    /// safe to repeat, so a record that arrives late (or never, when the run
    /// dies) at worst makes --resume repeat a finished step.
    async fn run_step(
        &self,
        step: &dyn steps::Step,
        begun: &Begun,
        preflight: &Preflight,
        progress: &Progress,
        writer: &mut journal::Writer,
    ) -> Result<Option<StepRecord>> {
        let run = self.step_run(begun, preflight);
        let name = step.name();
        if let Some(done) = begun.journal.steps.get(name) {
            if step.holds(&run).await.unwrap_or(false) {
                progress.skip(name, done);
                return Ok(None);
            }
            progress.redo(name, done);
        }
        let started = Instant::now();
        progress.start(name);
        match step.apply(&run).await {
            Ok(summary) => {
                progress.done(name, started, &summary);
                Ok(Some(record(started, &summary)))
            }
            Err(error) => {
                progress.fail(name, started);
                // Changes were made since the journal began: say how to converge.
                let _ = writer.write(&begun.journal_to_write()).await;
                // The MP failover itself is done: the error says so, exit 5.
                if error.exit() == Exit::ControlPlanes {
                    return Err(error);
                }
                let next_step = format!(
                    "{}; then run the same command with --resume",
                    error.next_step().unwrap_or("fix the cause")
                );
                Err(
                    stopped(format!("at step {} ({name})", steps::number(name)), error)
                        .with_next_step(next_step),
                )
            }
        }
    }

    async fn sync_secrets(&self, bundle: &crate::secrets::bundle::Bundle) -> Result<()> {
        let options = crate::import::ImportOptions {
            dry_run: false,
            diff: false,
            yes: true,
            backup_dir: self.settings.database.dump_dir.clone(),
        };
        crate::import::import_into(&self.to, bundle, &options, &self.ui)
            .await
            .map(|_| ())
    }

    /// Every step's plan, in order, with the server's dry run of its writes.
    async fn dry_run(&self, begun: &Begun, preflight: &Preflight) -> Result<()> {
        let ui = &self.ui;
        ui.info("dry run: these are the changes a failover makes, in order; nothing is changed");
        let lock_contexts: Vec<String> = begun
            .locks
            .iter()
            .map(|(cluster, _)| format!("{:?}", cluster.context()))
            .collect();
        ui.info(&format!(
            "  first: take the pair's lock (configmap {} in {}) and write the journal (configmap {} in {:?})",
            lock::LOCK_NAME,
            lock_contexts.join(" and "),
            journal::JOURNAL_NAME,
            self.to.context()
        ));
        if let Some(bundle) = &preflight.sync {
            ui.info(&format!(
                "  [{}/{}] copy {} secrets to context {:?} (--sync-secrets)",
                steps::number(PREFLIGHT),
                steps::ALL.len() + 1,
                bundle.secrets.len(),
                self.to.context()
            ));
        }
        let run = self.step_run(begun, preflight);
        // Each plan's server dry runs are independent of the others': all at once.
        let plans =
            crate::error::join_all_in_order(steps::ALL.iter().map(|step| step.plan(&run))).await?;
        for (step, lines) in steps::ALL.iter().zip(plans) {
            let number = format!("[{}/{}]", steps::number(step.name()), steps::ALL.len() + 1);
            for (index, line) in lines.iter().enumerate() {
                if index == 0 {
                    ui.info(&format!("  {number} {line}"));
                } else {
                    ui.info(&format!("        {line}"));
                }
            }
        }
        ui.info("  last: record the end in the journal and give the lock up");
        Ok(())
    }

    fn finish(&self, preflight: &[Check], journal: &Journal, already_done: bool) -> Result<Exit> {
        self.write_outcome(preflight, Some(journal), already_done, None)?;
        Ok(Exit::Ok)
    }

    /// The [`Outcome`], on stdout with `-o json|yaml` when the run ends.
    fn write_outcome(
        &self,
        preflight: &[Check],
        journal: Option<&Journal>,
        already_done: bool,
        error: Option<&Error>,
    ) -> Result<()> {
        if self.settings.output == OutputFormat::Text {
            return Ok(());
        }
        let outcome = Outcome {
            dry_run: self.settings.dry_run,
            already_done,
            preflight,
            journal,
            exit_code: error.map_or(Exit::Ok, Error::exit) as u8,
            error: error.map(|error| error.message().to_string()),
            next_step: error.and_then(|error| error.next_step().map(str::to_string)),
        };
        // Written on stdout when the run ends, as every plugin's document.
        self.ui.record(&outcome);
        Ok(())
    }

    /// A finished failover is not redone: only checked again, read-only.
    async fn already_done(
        &self,
        journal: Journal,
        mut to_snapshot: crate::cacheck::MpSnapshot,
        to_state: crate::tsb::mp::MpState,
    ) -> Result<Exit> {
        // It serves now: name it so in the checks.
        to_snapshot.role = "active".into();
        self.ui.info(&format!(
            "the failover from {:?} to {:?} finished at {}; nothing to change, checking it still holds",
            journal.from.context,
            journal.to.context,
            journal.finished_at.as_deref().unwrap_or("?")
        ));
        let preflight = Preflight {
            from_state: None,
            to_state,
            to_snapshot,
            from_endpoint: None,
            to_endpoint: None,
            tools: None,
            sync: None,
            dns_answer: None,
            control_plane_edges: BTreeMap::new(),
        };
        let begun = Begun {
            journal,
            version: None,
            restore_counts: BTreeMap::new(),
            lease: lock::Lease::new(String::new()),
            locks: Vec::new(),
            standby_backup: std::sync::Mutex::new(None),
            control_plane_records: std::sync::Mutex::new(BTreeMap::new()),
        };
        let summary = steps::verify(&self.step_run(&begun, &preflight)).await?;
        Check::pass(summary).show(&self.ui);
        // A finished failover is not redone, and neither is its
        // control-planes step: a control plane it did not cover is named.
        let layout = &self.layout.control_plane;
        for cluster in &self.control_planes {
            let followed = begun
                .journal
                .control_planes
                .get(cluster.context())
                .is_some_and(|record| record.followed);
            if !followed {
                self.ui.warn(&format!(
                    "control plane {:?} was not part of this finished failover: check that it follows the MP: {}",
                    cluster.context(),
                    crate::tsb::edge::manual_commands(cluster.context(), layout)
                ));
            }
        }
        self.finish(&[], &begun.journal, true)
    }

    fn summary(&self, journal: &Journal) {
        let ui = &self.ui;
        ui.info(&format!(
            "failover done: {:?} serves {} now; {:?} is fenced{}",
            self.to.context(),
            self.settings.dns.name,
            self.from.context(),
            if journal.disaster {
                " NOT (disaster: fence it when it returns)"
            } else {
                ""
            }
        ));
        for name in steps::names() {
            if let Some(done) = journal.steps.get(name) {
                ui.info(&format!(
                    "  {name}: {} ({:.1}s)",
                    done.summary, done.seconds
                ));
            }
        }
        if !journal.fenced_replicas.is_empty() {
            ui.info(&format!(
                "  recorded for failback: {}",
                describe::replicas(&journal.fenced_replicas)
            ));
        }
    }
}

/// "failover stopped WHERE: CAUSE", exit 4: changes were made.
/// Whether any of the MP's deployments (or its operator) asks for replicas.
fn runs_an_mp(state: &crate::tsb::mp::MpState) -> bool {
    state
        .deployments
        .values()
        .any(|replicas| replicas.desired > 0)
}

fn stopped(at: String, error: Error) -> Error {
    Error::new(
        Exit::Partial,
        format!("failover stopped {at}: {}", error.message()),
    )
}

fn record(started: Instant, summary: &str) -> StepRecord {
    StepRecord {
        finished_at: journal::now(),
        seconds: started.elapsed().as_secs_f64(),
        summary: summary.into(),
    }
}
