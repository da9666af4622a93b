//! `kubectl mp-failover`: the cut-over from the active MP to the standby, in
//! the runbook's order, each step verified and journaled in the standby's
//! namespace so an interrupted run resumes and a finished one is not redone.

pub mod journal;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;

use crate::cacheck::{self, CheckOptions, MpSnapshot};
use crate::database::{self, PgEndpoint, PgOverrides, PgTools};
use crate::dns::{self, DnsBackend, DnsRecord, TsigKey};
use crate::error::{EXIT_CODES_HELP, Error, Exit, Result, join_all_in_order, join_in_order};
use crate::kube::cluster::Cluster;
use crate::secrets::bundle::{Bundle, Model, Provenance};
use crate::secrets::redact::data_digest;
use crate::tsb::layout::TsbLayout;
use crate::tsb::mp::{self, MpState};
use crate::ui::cli::{ConnectionArgs, OutputArgs, VERSION, parse_duration};
use crate::ui::output::{CheckStatus, OutputFormat, Ui, write_data};
use journal::{Journal, Side, Step, StepRecord};

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: fail over from the active to the standby context
  kubectl mp-failover --from active --to standby -n tsb --database shared \\
    --dns-backend rfc2136 --dns-server 10.0.0.53:53 --dns-zone example.com \\
    --tsig-key-file mp-update.key --dns-name tsb.example.com --yes

  # Safety: see every step and change first; continue after an interruption
  kubectl mp-failover --from active --to standby ... --dry-run
  kubectl mp-failover --from active --to standby ... --resume

  # Database: separate Postgres per MP, copied with pg_dump/pg_restore
  kubectl mp-failover --from active --to standby --database separate \\
    --from-pg-password-file active.pw --to-pg-password-file standby.pw ...

  # DNS: let your own tool change the record, or do it by hand
  kubectl mp-failover ... --dns-backend exec --dns-exec ./update-dns.sh
  kubectl mp-failover ... --dns-backend manual

  # Failback: the same command the other way; recorded replica counts are restored
  kubectl mp-failover --from standby --to active ...

  # Output: the journal and result as JSON for a script
  kubectl mp-failover --from active --to standby ... --yes -o json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseMode {
    /// Both MPs use one Postgres: nothing to copy
    Shared,
    /// Each MP has its own Postgres: dump the active's, restore into the standby's
    Separate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DnsBackendKind {
    /// TSIG-signed dynamic update (RFC 2136) to the authoritative server
    Rfc2136,
    /// Run --dns-exec with the name and the new address
    Exec,
    /// Print the record to change and wait for confirmation
    Manual,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// Whether the MPs share one Postgres or have one each
    #[arg(long, value_enum)]
    pub database: DatabaseMode,
    /// Active side's Postgres host (default: from its ManagementPlane spec)
    #[arg(long, value_name = "HOST")]
    pub from_pg_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub from_pg_port: Option<u16>,
    #[arg(long, value_name = "NAME")]
    pub from_pg_database: Option<String>,
    /// Active side's Postgres user (default: from its postgres-credentials secret)
    #[arg(long, value_name = "USER")]
    pub from_pg_user: Option<String>,
    /// File holding the active side's Postgres password (default: from postgres-credentials)
    #[arg(long, value_name = "FILE")]
    pub from_pg_password_file: Option<PathBuf>,
    /// Standby side's Postgres host (default: from its ManagementPlane spec)
    #[arg(long, value_name = "HOST")]
    pub to_pg_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub to_pg_port: Option<u16>,
    #[arg(long, value_name = "NAME")]
    pub to_pg_database: Option<String>,
    #[arg(long, value_name = "USER")]
    pub to_pg_user: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub to_pg_password_file: Option<PathBuf>,
    /// Directory of pg_dump, pg_restore and psql (default: PATH)
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Where the database dumps are kept (mode 0600)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dump_dir: PathBuf,
    /// How long one dump or restore may take
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub database_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "DNS")]
pub struct DnsArgs {
    /// How the MP's DNS record is changed
    #[arg(long, value_enum)]
    pub dns_backend: DnsBackendKind,
    /// The MP's DNS name, the one clients use
    #[arg(long, value_name = "NAME")]
    pub dns_name: String,
    /// The zone's authoritative server, HOST:PORT (updates go there; answers are checked there)
    #[arg(long, value_name = "HOST:PORT")]
    pub dns_server: SocketAddr,
    /// The zone holding the name (rfc2136)
    #[arg(long, value_name = "ZONE")]
    pub dns_zone: Option<String>,
    /// BIND key file (tsig-keygen output) signing the update (rfc2136)
    #[arg(long, value_name = "FILE")]
    pub tsig_key_file: Option<PathBuf>,
    /// Command run with the name and address (exec)
    #[arg(long, value_name = "COMMAND")]
    pub dns_exec: Option<String>,
    /// TTL of the new record, seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub dns_ttl: u32,
    /// How long to wait for the server to answer the new address
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub dns_timeout: Duration,
}

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-failover",
    bin_name = "kubectl mp-failover",
    version = VERSION,
    about = "Fail the TSB Management Plane over from the active cluster to the standby (and back)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}\n  (1 or 3: failed before any change; 4: failed midway, run again with --resume)"),
)]
pub struct Cli {
    /// Context of the cluster serving the MP now
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub from: String,

    /// Context of the cluster that takes over
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub to: String,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Show every step and the exact changes; change nothing
    #[arg(long, help_heading = "Safety")]
    pub dry_run: bool,

    /// Go ahead without asking (needed without a terminal)
    #[arg(short = 'y', long, help_heading = "Safety")]
    pub yes: bool,

    /// Continue an interrupted failover from its journal
    #[arg(long, help_heading = "Safety")]
    pub resume: bool,

    /// The active cluster is gone: skip what needs it (it must be fenced when it returns)
    #[arg(long, help_heading = "Safety")]
    pub disaster: bool,

    /// Copy the secrets now when the standby's differ from the active's
    #[arg(long, help_heading = "Safety")]
    pub sync_secrets: bool,

    /// How long deployments may take to stop or become ready
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, help_heading = "Safety")]
    pub ready_timeout: Duration,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `-o json|yaml` prints at the end.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome<'a> {
    dry_run: bool,
    already_done: bool,
    journal: &'a Journal,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    let layout = cli.connection.layout()?;
    let backend = dns_backend(&cli.dns)?;
    let kubeconfig = cli.connection.load_kubeconfig()?;
    let settings = cli.connection.client_settings();
    if cli.from == cli.to {
        return Err(
            Error::usage(format!("--from and --to are both {:?}", cli.from))
                .with_next_step("name two different contexts, one per Management Plane cluster"),
        );
    }
    let (from, to) = join_in_order(
        Cluster::connect(&kubeconfig, Some(&cli.from), &settings),
        Cluster::connect(&kubeconfig, Some(&cli.to), &settings),
    )
    .await?;
    if from.server() == to.server() {
        return Err(Error::usage(format!(
            "--from and --to point at the same server {}",
            to.server()
        ))
        .with_next_step("the standby must be a different cluster from the active"));
    }
    let failover = Failover {
        cli,
        ui,
        layout,
        backend,
        from,
        to,
    };
    failover.run().await
}

fn dns_backend(args: &DnsArgs) -> Result<DnsBackend> {
    match args.dns_backend {
        DnsBackendKind::Rfc2136 => {
            let zone = args.dns_zone.clone().ok_or_else(|| {
                Error::usage("--dns-backend rfc2136 needs --dns-zone")
                    .with_next_step("name the zone holding --dns-name")
            })?;
            let key_file = args.tsig_key_file.as_deref().ok_or_else(|| {
                Error::usage("--dns-backend rfc2136 needs --tsig-key-file")
                    .with_next_step("pass the BIND key file allowed to update the zone")
            })?;
            Ok(DnsBackend::Rfc2136 {
                server: args.dns_server,
                zone,
                tsig: TsigKey::from_file(key_file)?,
            })
        }
        DnsBackendKind::Exec => {
            let command = args.dns_exec.clone().ok_or_else(|| {
                Error::usage("--dns-backend exec needs --dns-exec COMMAND")
                    .with_next_step("pass the command that repoints the name")
            })?;
            Ok(DnsBackend::Exec { command })
        }
        DnsBackendKind::Manual => Ok(DnsBackend::Manual),
    }
}

struct Failover {
    cli: Cli,
    ui: Ui,
    layout: TsbLayout,
    backend: DnsBackend,
    from: Cluster,
    to: Cluster,
}

/// What preflight learned, for the steps after it.
struct Preflight {
    from_state: Option<MpState>,
    to_state: MpState,
    to_snapshot: MpSnapshot,
    from_endpoint: Option<PgEndpoint>,
    to_endpoint: Option<PgEndpoint>,
    tools: Option<PgTools>,
    /// Secrets to copy first (`--sync-secrets`).
    sync: Option<Bundle>,
}

/// What the preflight reads from a cluster: its CA snapshot, its MP's
/// state and (for a database copy) its ManagementPlane spec.
type ClusterRead = (MpSnapshot, MpState, Option<serde_json::Value>);

/// Everything the preflight reads, before it judges it.
struct PreflightReads {
    /// None with --disaster.
    from: Result<Option<ClusterRead>>,
    to: Result<ClusterRead>,
    dns: Result<Option<(Vec<IpAddr>, u32)>>,
}

impl Failover {
    fn side(cluster: &Cluster) -> Side {
        Side {
            context: cluster.context().into(),
            server: cluster.server().into(),
        }
    }

    /// Who we are, for the lock: the journal's id, so a resumed run may take it back.
    fn holder(journal: &Journal) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!(
            "{} {}@{} pid {}",
            journal.id,
            std::env::var("USER").unwrap_or_default(),
            host.trim(),
            std::process::id()
        )
    }

    async fn run(self) -> Result<Exit> {
        let disaster = self.cli.disaster;
        let started = Instant::now();
        // The journals and the preflight's reads are all read-only: one round
        // trip for all of them, even when the journal then says to stop.
        let (existing, reverse, reads) = futures::join!(
            journal::load(&self.to),
            async {
                if disaster {
                    Ok(None)
                } else {
                    journal::load(&self.from).await
                }
            },
            self.preflight_reads(),
        );
        let existing = existing?;
        let reverse = reverse.unwrap_or(None).map(|stored| stored.journal);
        let (from_side, to_side) = (Self::side(&self.from), Self::side(&self.to));

        // A failback restores what the failover it undoes recorded.
        let restore_counts = reverse
            .as_ref()
            .filter(|journal| journal.same_direction(&to_side, &from_side))
            .map(|journal| journal.fenced_replicas.clone())
            .unwrap_or_default();
        let superseded = |journal: &Journal| {
            reverse.as_ref().is_some_and(|other| {
                other.same_direction(&to_side, &from_side) && other.started_at >= journal.started_at
            })
        };
        let lock_found = existing.as_ref().and_then(|stored| stored.lock.clone());

        let (mut journal, version) = match existing.map(|stored| (stored.journal, stored.version)) {
            Some((journal, version))
                if journal.same_direction(&from_side, &to_side) && !superseded(&journal) =>
            {
                if journal.finished_at.is_some() {
                    return self.already_done(journal, reads.to?).await;
                }
                if !self.cli.resume && !self.cli.dry_run {
                    let next = journal
                        .next_step()
                        .map_or("the end".to_string(), |step| step.to_string());
                    return Err(Error::usage(format!(
                        "a failover from {:?} to {:?} started at {} stopped before step {next}",
                        journal.from.context, journal.to.context, journal.started_at
                    ))
                    .with_next_step("run the same command with --resume to continue it"));
                }
                (journal, Some(version))
            }
            Some((journal, _)) if journal.finished_at.is_none() && !superseded(&journal) => {
                return Err(Error::usage(format!(
                    "an unfinished failover from {:?} to {:?} (started {}) is recorded in context {:?}",
                    journal.from.context, journal.to.context, journal.started_at, self.to.context()
                ))
                .with_next_step("resume that one first (same --from/--to with --resume)"));
            }
            other => {
                if self.cli.resume {
                    return Err(Error::usage(format!(
                        "nothing to resume: no unfinished failover from {:?} to {:?}",
                        self.from.context(),
                        self.to.context()
                    ))
                    .with_next_step("run without --resume to start one"));
                }
                let started_at = journal::now();
                let journal = Journal {
                    id: journal::new_id(jiff::Timestamp::now()),
                    from: from_side,
                    to: to_side,
                    namespace: self.to.namespace().into(),
                    started_at,
                    disaster,
                    steps: BTreeMap::new(),
                    fenced_replicas: BTreeMap::new(),
                    standby_writer_replicas: BTreeMap::new(),
                    restore_cronjob_was_suspended: None,
                    finished_at: None,
                };
                (journal, other.map(|(_, version)| version))
            }
        };
        let us = Self::holder(&journal);
        let held_by_other = lock_found
            .as_ref()
            .and_then(|lock| lock.held_by_other(&us))
            .map(String::from);

        let progress = Progress::new(&self.ui);
        // Preflight runs on every start (read-only), even when resuming: the
        // steps after it need what it reads.
        progress.start(Step::Preflight);
        let preflight = self.preflight(reads, held_by_other).await;
        let preflight = match preflight {
            Ok(preflight) => preflight,
            Err(error) if journal.is_done(Step::Preflight) => {
                // Resuming: earlier steps did change things, so this is not
                // "nothing was changed" but "still stopped midway".
                progress.fail(Step::Preflight, started);
                let next = journal
                    .next_step()
                    .map_or("the end".to_string(), |step| step.to_string());
                return Err(Error::new(
                    Exit::Partial,
                    format!(
                        "the failover stays stopped before step {next}: {}",
                        error.message().trim_end_matches("; nothing was changed")
                    ),
                )
                .with_next_step(format!(
                    "{}; then run the same command with --resume",
                    error.next_step().unwrap_or("fix the cause")
                )));
            }
            Err(error) => {
                progress.fail(Step::Preflight, started);
                return Err(error);
            }
        };
        progress.done(Step::Preflight, started, "every check passed");

        if self.cli.dry_run {
            self.dry_run(&journal, &preflight, &restore_counts).await?;
            return self.finish(&journal, false);
        }
        if !journal.is_done(Step::Preflight) {
            let action = format!(
                "fail the MP over from context {:?} to {:?} (fence {}, repoint {})",
                self.from.context(),
                self.to.context(),
                if disaster {
                    "skipped: --disaster"
                } else {
                    "the old MP"
                },
                self.cli.dns.dns_name
            );
            if !crate::ui::prompt::confirm(&action, self.cli.yes)? {
                return Err(Error::failed("not confirmed: nothing was changed"));
            }
        }
        // Taking the lock is the first write, and it already records what
        // later steps must restore, so no step has to write before it acts.
        let mut writer = journal::Writer::new(&self.to, journal::Lock::new(&us), version);
        if !journal.is_done(Step::Preflight) {
            journal
                .steps
                .insert(Step::Preflight, record(started, "every check passed"));
        }
        self.record_counts(&preflight, &mut journal);
        writer.write(&journal).await.map_err(|error| {
            let message = format!("{}; nothing was changed", error.message());
            error.with_message(message)
        })?;
        if let Some(bundle) = &preflight.sync {
            self.sync_secrets(bundle).await?;
        }

        // A step's record is written while the next steps run: every step
        // is safe to repeat, so a record that arrives late (or never, when
        // the run dies) at worst makes --resume repeat a finished step.
        for step in [
            Step::Database,
            Step::Fence,
            Step::Activate,
            Step::Dns,
            Step::Verify,
        ] {
            if let Some(done) = journal.steps.get(&step) {
                progress.skip(step, done);
                continue;
            }
            let started = Instant::now();
            progress.start(step);
            let result = match step {
                Step::Database => self.database(&preflight, &journal).await,
                Step::Fence => self.fence(&preflight).await,
                Step::Activate => self.activate(&preflight, &journal, &restore_counts).await,
                Step::Dns => self.dns(&preflight).await,
                _ => self.verify(&preflight).await,
            };
            let summary = match result {
                Ok(summary) => summary,
                Err(error) => {
                    progress.fail(step, started);
                    // Changes were made since the journal began: say how to converge.
                    let _ = writer.write(&journal).await;
                    return Err(Error::new(
                        Exit::Partial,
                        format!(
                            "failover stopped at step {} ({step}): {}",
                            step.number(),
                            error.message()
                        ),
                    )
                    .with_next_step(format!(
                        "{}; then run the same command with --resume",
                        error.next_step().unwrap_or("fix the cause")
                    )));
                }
            };
            progress.done(step, started, &summary);
            journal.steps.insert(step, record(started, &summary));
            writer.write_behind(&journal).await.map_err(|error| {
                Error::new(
                    Exit::Partial,
                    format!(
                        "failover stopped after step {} ({step}): {}",
                        step.number(),
                        error.message()
                    ),
                )
                .with_next_step("run the same command with --resume")
            })?;
        }
        journal.finished_at = Some(journal::now());
        // The last write records the end and gives the lock up at once.
        writer.finish(&journal).await.map_err(|error| {
            Error::new(
                Exit::Partial,
                format!(
                    "the failover is done but its end was not recorded: {}",
                    error.message()
                ),
            )
            .with_next_step("run the same command with --resume: it re-checks and records it")
        })?;
        self.summary(&journal);
        self.finish(&journal, false)
    }

    fn finish(&self, journal: &Journal, already_done: bool) -> Result<Exit> {
        if self.cli.output.output != OutputFormat::Text {
            write_data(
                &Outcome {
                    dry_run: self.cli.dry_run,
                    already_done,
                    journal,
                },
                self.cli.output.output,
            )?;
        }
        Ok(Exit::Ok)
    }

    /// A finished failover is not redone: only checked again, read-only.
    async fn already_done(
        &self,
        journal: Journal,
        (mut to_snapshot, to_state, _): ClusterRead,
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
        };
        let summary = self.verify(&preflight).await?;
        self.ui.check(CheckStatus::Pass, &summary, None);
        self.finish(&journal, true)
    }

    /// Reads both clusters and asks the DNS server, all at once.
    async fn preflight_reads(&self) -> PreflightReads {
        let disaster = self.cli.disaster;
        let layout = &self.layout;
        let database = self.cli.database.database;
        let (from, to, dns) = futures::join!(
            async {
                if disaster {
                    return Ok(None);
                }
                let (snapshot, state, spec) = futures::try_join!(
                    cacheck::read_cluster(&self.from, "active"),
                    mp::read_state(&self.from, layout),
                    self.management_plane_spec(&self.from, database),
                )?;
                Ok::<_, Error>(Some((snapshot, state, spec)))
            },
            async {
                futures::try_join!(
                    cacheck::read_cluster(&self.to, "standby"),
                    mp::read_state(&self.to, layout),
                    self.management_plane_spec(&self.to, database),
                )
            },
            async {
                dns::preflight(&self.backend, &self.cli.dns.dns_name, self.cli.yes).await?;
                dns::lookup(self.cli.dns.dns_server, &self.cli.dns.dns_name).await
            },
        );
        PreflightReads { from, to, dns }
    }

    /// Judges what [`Failover::preflight_reads`] found, printing a check per
    /// finding. `held_by_other`: the live lock of another failover, found
    /// with the journal.
    async fn preflight(
        &self,
        reads: PreflightReads,
        held_by_other: Option<String>,
    ) -> Result<Preflight> {
        let layout = &self.layout;
        let database = self.cli.database.database;
        let from_read = reads.from?;
        let (to_snapshot, to_state, to_spec) = reads.to?;
        let dns_check = reads.dns;
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut check = |ok: bool, title: String, hint: String| {
            self.ui.check(
                if ok {
                    CheckStatus::Pass
                } else {
                    CheckStatus::Fail
                },
                &title,
                (!ok).then_some(hint.as_str()),
            );
            if !ok {
                problems.push((title, hint));
            }
        };

        if let Some(holder) = held_by_other {
            check(
                false,
                format!(
                    "no other failover holds the lock in context {:?}",
                    self.to.context()
                ),
                format!("held by {holder}; wait for it to finish"),
            );
        }
        let missing = to_state.missing(layout);
        check(
            missing.is_empty(),
            format!(
                "standby MP installed in context {:?} (namespace {})",
                self.to.context(),
                self.to.namespace()
            ),
            format!(
                "missing deployments: {}; install the standby MP first (runbook: helm install with the exported values)",
                missing.join(", ")
            ),
        );
        check(
            to_state.front_address.is_some(),
            format!(
                "standby front Service {} has an address",
                layout.front_service.name
            ),
            format!(
                "service {} has no LoadBalancer ingress address yet",
                layout.front_service.name
            ),
        );
        match &dns_check {
            Ok(answer) => check(
                true,
                format!(
                    "DNS server {} answers for {} (now {})",
                    self.cli.dns.dns_server,
                    self.cli.dns.dns_name,
                    describe_answer(answer)
                ),
                String::new(),
            ),
            Err(error) => check(
                false,
                format!(
                    "DNS server {} ready for the change",
                    self.cli.dns.dns_server
                ),
                error.to_string(),
            ),
        }

        let mut sync = None;
        let mut snapshots = vec![];
        if let Some((from_snapshot, from_state, _)) = &from_read {
            let (differing, bundle) =
                self.compare_secrets(&from_snapshot.secrets, &to_snapshot.secrets);
            if differing.is_empty() {
                check(
                    true,
                    "standby secrets match the active's".into(),
                    String::new(),
                );
            } else if self.cli.sync_secrets {
                self.ui.check(
                    CheckStatus::Warn,
                    &format!(
                        "standby secrets differ ({}): copied before the failover (--sync-secrets)",
                        differing.join(", ")
                    ),
                    None,
                );
                sync = Some(bundle);
            } else {
                check(
                    false,
                    format!(
                        "standby secrets match the active's (differ: {})",
                        differing.join(", ")
                    ),
                    "run kubectl mp-export | kubectl mp-import, or pass --sync-secrets".into(),
                );
            }
            let missing_active = from_state.missing(layout);
            check(
                missing_active.is_empty() || self.cli.resume,
                format!("active MP found in context {:?}", self.from.context()),
                format!("missing deployments: {}", missing_active.join(", ")),
            );
            snapshots.push(from_snapshot.clone());
        } else {
            self.ui.check(
                CheckStatus::Warn,
                &format!(
                    "active context {:?} skipped (--disaster): secrets and CA not compared with it",
                    self.from.context()
                ),
                None,
            );
        }
        snapshots.push(to_snapshot.clone());
        let options = CheckOptions {
            dns_name: Some(self.cli.dns.dns_name.clone()),
            ..CheckOptions::default()
        };
        let report = cacheck::check(layout, &options, &snapshots);
        let failing: Vec<String> = report
            .problems()
            .filter(|problem| problem.status == CheckStatus::Fail)
            .map(|problem| problem.title.clone())
            .collect();
        check(
            failing.is_empty(),
            "certificates chain to the same root CA (mp-cacheck)".into(),
            format!(
                "{}; run kubectl mp-cacheck for the details",
                failing.join("; ")
            ),
        );

        let (mut from_endpoint, mut to_endpoint, mut tools) = (None, None, None);
        if database == DatabaseMode::Separate {
            let overrides = |side: &str| self.pg_overrides(side);
            let located = PgTools::locate(self.cli.database.pg_bin_dir.as_deref());
            match located {
                Ok(found) => {
                    let to_secret = find(&to_snapshot.secrets, "postgres-credentials");
                    let to_ep =
                        database::endpoint_from(to_spec.as_ref(), to_secret, &overrides("to"));
                    let from_ep = from_read.as_ref().map(|(snapshot, _, spec)| {
                        database::endpoint_from(
                            spec.as_ref(),
                            find(&snapshot.secrets, "postgres-credentials"),
                            &overrides("from"),
                        )
                    });
                    match (&to_ep, &from_ep) {
                        (Ok(to_ep), from_ep) => {
                            let timeout = self.connection_timeout();
                            let (to_ok, from_ok) = futures::join!(
                                async {
                                    let version =
                                        database::check_reachable(&found, to_ep, timeout).await?;
                                    database::check_restore_privileges(&found, to_ep, timeout)
                                        .await?;
                                    Ok::<_, Error>(version)
                                },
                                async {
                                    match from_ep {
                                        Some(Ok(ep)) => Some(
                                            database::check_reachable(&found, ep, timeout).await,
                                        ),
                                        _ => None,
                                    }
                                }
                            );
                            match to_ok {
                                Ok(version) => check(
                                    true,
                                    format!(
                                        "standby Postgres reachable ({}:{}, {version})",
                                        to_ep.host, to_ep.port
                                    ),
                                    String::new(),
                                ),
                                Err(error) => check(
                                    false,
                                    "standby Postgres reachable".into(),
                                    error.to_string(),
                                ),
                            }
                            match (from_ep, from_ok) {
                                (Some(Ok(ep)), Some(Ok(version))) => check(
                                    true,
                                    format!(
                                        "active Postgres reachable ({}:{}, {version})",
                                        ep.host, ep.port
                                    ),
                                    String::new(),
                                ),
                                (Some(Ok(_)), Some(Err(error))) => check(
                                    false,
                                    "active Postgres reachable".into(),
                                    error.to_string(),
                                ),
                                (Some(Err(error)), _) => check(
                                    false,
                                    "active Postgres connection details".into(),
                                    error.to_string(),
                                ),
                                _ => {}
                            }
                        }
                        (Err(error), _) => check(
                            false,
                            "standby Postgres connection details".into(),
                            error.to_string(),
                        ),
                    }
                    to_endpoint = to_ep.ok();
                    from_endpoint = from_ep.and_then(|ep| ep.ok());
                    tools = Some(found);
                }
                Err(error) => check(
                    false,
                    "Postgres client tools found".into(),
                    error.to_string(),
                ),
            }
        }

        if !problems.is_empty() {
            return Err(Error::failed(format!(
                "preflight failed ({} problem{}): {}; nothing was changed",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems
                    .iter()
                    .map(|(title, _)| title.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
            .with_next_step("fix them (hints above), then run the same command again"));
        }
        Ok(Preflight {
            from_state: from_read.map(|(_, state, _)| state),
            to_state,
            to_snapshot,
            from_endpoint,
            to_endpoint,
            tools,
            sync,
        })
    }

    /// One API-request-sized wait, for quick checks.
    fn connection_timeout(&self) -> Duration {
        self.cli
            .connection
            .request_timeout
            .0
            .unwrap_or(Duration::from_secs(30))
    }

    fn pg_overrides(&self, side: &str) -> PgOverrides {
        let args = &self.cli.database;
        if side == "from" {
            PgOverrides {
                host: args.from_pg_host.clone(),
                port: args.from_pg_port,
                database: args.from_pg_database.clone(),
                user: args.from_pg_user.clone(),
                password_file: args.from_pg_password_file.clone(),
                flag_prefix: "--from-pg".into(),
                ..PgOverrides::default()
            }
        } else {
            PgOverrides {
                host: args.to_pg_host.clone(),
                port: args.to_pg_port,
                database: args.to_pg_database.clone(),
                user: args.to_pg_user.clone(),
                password_file: args.to_pg_password_file.clone(),
                flag_prefix: "--to-pg".into(),
                ..PgOverrides::default()
            }
        }
    }

    /// The ManagementPlane's spec, when the database step needs it (one get).
    async fn management_plane_spec(
        &self,
        cluster: &Cluster,
        database: DatabaseMode,
    ) -> Result<Option<serde_json::Value>> {
        if database == DatabaseMode::Shared {
            return Ok(None);
        }
        let kind = &self.layout.management_plane;
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind),
            &kind.plural,
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(cluster.client().clone(), cluster.namespace(), &resource);
        match api.get_opt(&self.layout.management_plane_name).await {
            Ok(found) => Ok(found.and_then(|object| object.data.get("spec").cloned())),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(error) => Err(cluster.error(
                error,
                &format!("get {} {}", kind.kind, self.layout.management_plane_name),
            )),
        }
    }

    /// The model's secrets whose data differ between the clusters, and the
    /// bundle that would make the standby's match.
    fn compare_secrets(&self, from: &[Secret], to: &[Secret]) -> (Vec<String>, Bundle) {
        let model = if crate::tsb::helm::has_release(from, &self.layout.helm_release) {
            Model::Helm
        } else {
            Model::Generic
        };
        let selection = crate::export::select_secrets(from, &self.layout, model, &[], &[]);
        let differing = selection
            .chosen
            .iter()
            .filter(|wanted| {
                let name = wanted.metadata.name.as_deref();
                to.iter()
                    .find(|secret| secret.metadata.name.as_deref() == name)
                    .map(data_digest)
                    != Some(data_digest(wanted))
            })
            .filter_map(|secret| secret.metadata.name.clone())
            .collect();
        let provenance = Provenance {
            context: self.from.context().into(),
            server: self.from.server().into(),
            namespace: self.to.namespace().into(),
            model,
            exported_at: journal::now(),
            tool: format!("kubectl-mp-failover {VERSION} (--sync-secrets)"),
        };
        let mut bundle = Bundle::new(provenance, selection.chosen);
        bundle.remap_namespace(self.to.namespace());
        (differing, bundle)
    }

    async fn sync_secrets(&self, bundle: &Bundle) -> Result<()> {
        let options = crate::import::ImportOptions {
            dry_run: false,
            diff: false,
            yes: true,
            backup_dir: self.cli.database.dump_dir.clone(),
        };
        crate::import::import_into(&self.to, bundle, &options, &self.ui)
            .await
            .map(|_| ())
    }

    async fn dry_run(
        &self,
        journal: &Journal,
        preflight: &Preflight,
        restore_counts: &BTreeMap<String, i32>,
    ) -> Result<()> {
        let ui = &self.ui;
        ui.info("dry run: these are the changes a failover makes; nothing is changed");
        if let Some(bundle) = &preflight.sync {
            ui.info(&format!(
                "  [1/6] copy {} secrets to context {:?} (--sync-secrets)",
                bundle.secrets.len(),
                self.to.context()
            ));
        }
        match self.cli.database.database {
            DatabaseMode::Shared => ui.info("  [2/6] database: shared, nothing to copy"),
            DatabaseMode::Separate => ui.info(&format!(
                "  [2/6] database: dump the standby's database (backup) and the active's into {}, scale {} then {} on context {:?} to 0, restore the active's dump into the standby's database",
                self.cli.database.dump_dir.display(),
                self.layout.operator_deployment,
                self.layout.writer_deployments.join(", "),
                self.to.context()
            )),
        }
        match &preflight.from_state {
            Some(state) => {
                let fence = self.fence_plan(state);
                ui.info(&format!(
                    "  [3/6] fence context {:?}: {}",
                    self.from.context(),
                    describe(&fence)
                ));
                // The server's dry run proves the scale requests would be accepted.
                let operator = &self.layout.operator_deployment;
                for (name, replicas) in std::iter::once((operator, &0)).chain(fence.iter()) {
                    if state.deployments.contains_key(name) {
                        mp::scale(&self.from, name, *replicas, true).await?;
                    }
                }
                if state.restore_cronjob_suspended == Some(false) {
                    ui.info(&format!(
                        "        and suspend cronjob {}",
                        self.layout.restore_cronjob
                    ));
                }
            }
            None => ui.info(
                "  [3/6] fence: skipped (--disaster); fence the old MP before it serves again",
            ),
        }
        let targets = self.activation_targets(&preflight.to_state, journal, restore_counts);
        ui.info(&format!(
            "  [4/6] activate context {:?}: {}",
            self.to.context(),
            describe(&targets)
        ));
        for (name, replicas) in &targets {
            mp::scale(&self.to, name, *replicas, true).await?;
        }
        let current = dns::lookup(self.cli.dns.dns_server, &self.cli.dns.dns_name).await?;
        ui.info(&format!(
            "  [5/6] DNS: {} A {} (now {}) via {:?}",
            self.cli.dns.dns_name,
            preflight
                .to_state
                .front_address
                .map_or("?".into(), |address| address.to_string()),
            describe_answer(&current),
            self.cli.dns.dns_backend
        ));
        ui.info(
            "  [6/6] verify: TLS handshake with the standby's front door against its CA; CA check",
        );
        Ok(())
    }

    /// What the database step scales to 0 on the standby while it restores:
    /// its writers, and its operator, which would otherwise scale them back
    /// up (an installed standby runs it).
    fn standby_writers(&self, preflight: &Preflight) -> BTreeMap<String, i32> {
        self.layout
            .writer_deployments
            .iter()
            .chain(std::iter::once(&self.layout.operator_deployment))
            .filter(|name| preflight.to_state.deployments.contains_key(*name))
            .map(|name| (name.clone(), 0))
            .collect()
    }

    /// Scales `targets` of `cluster` to 0: the operator first, once it is
    /// seen at 0 the rest concurrently, then waits for all. While the
    /// operator runs it scales the MP back up, so the order matters.
    async fn stop_operator_first(
        &self,
        cluster: &Cluster,
        targets: &BTreeMap<String, i32>,
        alongside: impl Future<Output = Result<()>>,
    ) -> Result<()> {
        let operator = &self.layout.operator_deployment;
        if targets.contains_key(operator) {
            mp::scale(cluster, operator, 0, false).await?;
            mp::wait_for_replicas(
                cluster,
                &BTreeMap::from([(operator.clone(), 0)]),
                self.cli.ready_timeout,
            )
            .await?;
        }
        join_in_order(
            join_all_in_order(
                targets
                    .keys()
                    .filter(|name| *name != operator)
                    .map(|name| mp::scale(cluster, name, 0, false)),
            ),
            alongside,
        )
        .await?;
        mp::wait_for_replicas(cluster, targets, self.cli.ready_timeout).await
    }

    /// Records, before anything changes, the replica counts later steps
    /// restore: the fenced MP's (for a failback) and the standby writers'
    /// the database step stops (for activation). Kept once recorded: a
    /// resumed run must not record the zeros an earlier run made.
    fn record_counts(&self, preflight: &Preflight, journal: &mut Journal) {
        if let Some(state) = &preflight.from_state
            && journal.fenced_replicas.is_empty()
        {
            journal.fenced_replicas = state
                .deployments
                .iter()
                .map(|(name, replicas)| (name.clone(), replicas.desired))
                .collect();
            journal.restore_cronjob_was_suspended = state.restore_cronjob_suspended;
        }
        let copies_database = self.cli.database.database == DatabaseMode::Separate
            && preflight.from_endpoint.is_some();
        if copies_database && journal.standby_writer_replicas.is_empty() {
            journal.standby_writer_replicas = self
                .standby_writers(preflight)
                .keys()
                .filter_map(|name| {
                    Some((
                        name.clone(),
                        preflight.to_state.deployments.get(name)?.desired,
                    ))
                })
                .collect();
        }
    }

    async fn database(&self, preflight: &Preflight, journal: &Journal) -> Result<String> {
        if self.cli.database.database == DatabaseMode::Shared {
            return Ok("shared database: nothing to copy".into());
        }
        let tools = preflight
            .tools
            .as_ref()
            .ok_or_else(|| Error::failed("no Postgres client tools"))?;
        let to_endpoint = preflight
            .to_endpoint
            .as_ref()
            .ok_or_else(|| Error::failed("no standby Postgres connection details"))?;
        let Some(from_endpoint) = preflight.from_endpoint.as_ref() else {
            return Ok(
                "active unreachable (--disaster): the standby keeps its own database".into(),
            );
        };
        if from_endpoint.host == to_endpoint.host
            && from_endpoint.port == to_endpoint.port
            && from_endpoint.database == to_endpoint.database
        {
            return Err(Error::failed(format!(
                "both MPs use the same database {}:{}/{}",
                to_endpoint.host, to_endpoint.port, to_endpoint.database
            ))
            .with_next_step("use --database shared"));
        }
        let dir = &self.cli.database.dump_dir;
        let timeout = self.cli.database.database_timeout;
        let backup = dir.join(format!("{}-standby-before.dump", journal.id));
        let source = dir.join(format!("{}-active.dump", journal.id));
        let (backup_info, source_info) = join_in_order(
            async {
                if backup.exists() {
                    Ok(None)
                } else {
                    database::dump(tools, to_endpoint, &backup, timeout)
                        .await
                        .map(Some)
                }
            },
            async {
                if source.exists() {
                    Ok(None)
                } else {
                    database::dump(tools, from_endpoint, &source, timeout)
                        .await
                        .map(Some)
                }
            },
        )
        .await?;
        if let Some(info) = &backup_info {
            self.ui.detail(&format!(
                "standby database backed up to {} ({info})",
                backup.display()
            ));
        }
        if let Some(info) = &source_info {
            self.ui.detail(&format!(
                "active database dumped to {} ({info})",
                source.display()
            ));
        }
        // Nothing may write to the standby's database while it is replaced.
        let writers = self.standby_writers(preflight);
        self.stop_operator_first(&self.to, &writers, async { Ok(()) })
            .await?;
        database::restore(tools, to_endpoint, &source, timeout).await?;
        Ok(format!(
            "restored the active's database into the standby's ({}); standby backup: {}",
            source.display(),
            backup.display()
        ))
    }

    /// Replica targets that stop the old MP: every MP deployment to 0.
    fn fence_plan(&self, state: &MpState) -> BTreeMap<String, i32> {
        self.layout
            .mp_deployments
            .iter()
            .filter(|name| state.deployments.contains_key(*name))
            .map(|name| (name.clone(), 0))
            .collect()
    }

    async fn fence(&self, preflight: &Preflight) -> Result<String> {
        let Some(state) = &preflight.from_state else {
            return Ok(format!(
                "skipped (--disaster): when context {:?} returns, fence it before it serves again: kubectl --context {} -n {} scale deployment {} --replicas=0, then the MP deployments",
                self.from.context(),
                self.from.context(),
                self.from.namespace(),
                self.layout.operator_deployment
            ));
        };
        let mut targets = self.fence_plan(state);
        let operator = &self.layout.operator_deployment;
        if state.deployments.contains_key(operator) {
            targets.insert(operator.clone(), 0);
        }
        let suspend = async {
            if state.restore_cronjob_suspended == Some(false) {
                mp::suspend_cronjob(&self.from, &self.layout.restore_cronjob, true, false).await
            } else {
                Ok(())
            }
        };
        self.stop_operator_first(&self.from, &targets, suspend)
            .await?;
        Ok(format!(
            "context {:?}: {operator} then {} deployments at 0",
            self.from.context(),
            targets.keys().filter(|name| *name != operator).count()
        ))
    }

    /// What each deployment on the new MP runs at: what a failback recorded,
    /// else what the database step found before stopping it, else what it
    /// has, and at least one.
    fn activation_targets(
        &self,
        state: &MpState,
        journal: &Journal,
        restore_counts: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, i32> {
        state
            .deployments
            .iter()
            .map(|(name, replicas)| {
                let recorded = restore_counts
                    .get(name)
                    .or(journal.standby_writer_replicas.get(name));
                let target = recorded
                    .copied()
                    .filter(|count| *count > 0)
                    .unwrap_or(replicas.desired.max(1));
                (name.clone(), target)
            })
            .collect()
    }

    async fn activate(
        &self,
        preflight: &Preflight,
        journal: &Journal,
        restore_counts: &BTreeMap<String, i32>,
    ) -> Result<String> {
        let targets = self.activation_targets(&preflight.to_state, journal, restore_counts);
        // Starting, unlike stopping, has no order: the operator only scales up.
        let suspend = async {
            // A restore job on the new primary would overwrite it with an old backup.
            if preflight.to_state.restore_cronjob_suspended == Some(false) {
                mp::suspend_cronjob(&self.to, &self.layout.restore_cronjob, true, false).await
            } else {
                Ok(())
            }
        };
        join_in_order(
            join_all_in_order(
                targets
                    .iter()
                    .map(|(name, replicas)| mp::scale(&self.to, name, *replicas, false)),
            ),
            suspend,
        )
        .await?;
        let (_, state) = futures::try_join!(
            mp::wait_for_replicas(&self.to, &targets, self.cli.ready_timeout),
            mp::read_state(&self.to, &self.layout),
        )?;
        let address = state.front_address.ok_or_else(|| {
            Error::failed(format!(
                "service {} on context {:?} has no address",
                self.layout.front_service.name,
                self.to.context()
            ))
            .with_next_step("check the LoadBalancer")
        })?;
        Ok(format!(
            "context {:?}: {} deployments ready; front address {address}",
            self.to.context(),
            targets.len()
        ))
    }

    fn front_address(&self, preflight: &Preflight) -> Result<IpAddr> {
        preflight
            .to_state
            .front_address
            .ok_or_else(|| Error::failed("the standby's front Service has no address"))
    }

    async fn dns(&self, preflight: &Preflight) -> Result<String> {
        let address = self.front_address(preflight)?;
        let record = DnsRecord {
            name: self.cli.dns.dns_name.clone(),
            address,
            ttl: self.cli.dns.dns_ttl,
        };
        // Caches hold the OLD answer for up to its TTL: that is what to report.
        let old = dns::lookup(self.cli.dns.dns_server, &record.name).await?;
        dns::update(&self.backend, &record, &self.ui, self.cli.yes).await?;
        dns::wait_for(
            self.cli.dns.dns_server,
            &record.name,
            address,
            self.cli.dns.dns_timeout,
        )
        .await?;
        let cached = match &old {
            Some((addresses, ttl)) if !(addresses.len() == 1 && addresses[0] == address) => {
                format!(
                    "clients may keep the old answer ({}) up to {ttl}s",
                    describe_answer(&old)
                )
            }
            _ => "it already answered that".to_string(),
        };
        Ok(format!(
            "{} A {address} answered by {}; {cached}",
            record.name, self.cli.dns.dns_server
        ))
    }

    async fn verify(&self, preflight: &Preflight) -> Result<String> {
        let address = self.front_address(preflight)?;
        let ca = find(&preflight.to_snapshot.secrets, "tsb-certs")
            .and_then(|secret| secret.data.as_ref()?.get("ca.crt"))
            .map(|value| value.0.clone())
            .ok_or_else(|| {
                Error::failed(
                    "the standby's tsb-certs has no ca.crt to verify its front door against",
                )
            })?;
        let port = self.layout.front_service.port;
        let timeout = self.connection_timeout();
        let started = Instant::now();
        let deadline = started + self.cli.ready_timeout;
        let probe = loop {
            match crate::tsb::front::probe(address, port, &self.cli.dns.dns_name, &ca, timeout)
                .await
            {
                Err(error) if error.exit() == Exit::Cluster && Instant::now() < deadline => {
                    // A load balancer often opens a moment after its backends
                    // are ready: look again soon, then less often.
                    let pause = if started.elapsed() < Duration::from_secs(1) {
                        25
                    } else {
                        500
                    };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                result => break result?,
            }
        };
        let lookup = dns::lookup(self.cli.dns.dns_server, &self.cli.dns.dns_name).await?;
        if !lookup
            .as_ref()
            .is_some_and(|(addresses, _)| addresses.contains(&address))
        {
            return Err(Error::failed(format!(
                "{} does not answer {address}",
                self.cli.dns.dns_name
            ))
            .with_next_step("check the DNS record"));
        }
        let snapshots = vec![preflight.to_snapshot.clone()];
        let options = CheckOptions {
            dns_name: Some(self.cli.dns.dns_name.clone()),
            ..CheckOptions::default()
        };
        let report = cacheck::check(&self.layout, &options, &snapshots);
        if report.summary.fail > 0 {
            let titles: Vec<_> = report
                .problems()
                .map(|problem| problem.title.clone())
                .collect();
            return Err(Error::failed(format!(
                "the new MP's certificates fail the CA check: {}",
                titles.join("; ")
            ))
            .with_next_step("run kubectl mp-cacheck for details"));
        }
        Ok(format!(
            "https://{}:{port} ({address}) answers {} with a certificate from the expected CA; DNS answers {address}",
            self.cli.dns.dns_name, probe.status
        ))
    }

    fn summary(&self, journal: &Journal) {
        let ui = &self.ui;
        ui.info(&format!(
            "failover done: {:?} serves {} now; {:?} is fenced{}",
            self.to.context(),
            self.cli.dns.dns_name,
            self.from.context(),
            if journal.disaster {
                " NOT (disaster: fence it when it returns)"
            } else {
                ""
            }
        ));
        for (step, done) in &journal.steps {
            ui.info(&format!(
                "  {step}: {} ({:.1}s)",
                done.summary, done.seconds
            ));
        }
        if !journal.fenced_replicas.is_empty() {
            ui.info(&format!(
                "  recorded for failback: {}",
                describe(&journal.fenced_replicas)
            ));
        }
    }
}

fn find<'a>(secrets: &'a [Secret], name: &str) -> Option<&'a Secret> {
    secrets
        .iter()
        .find(|secret| secret.metadata.name.as_deref() == Some(name))
}

fn describe_answer(answer: &Option<(Vec<IpAddr>, u32)>) -> String {
    match answer {
        Some((addresses, ttl)) => format!(
            "{} ttl {ttl}s",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => "no address".into(),
    }
}

fn describe(replicas: &BTreeMap<String, i32>) -> String {
    replicas
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn record(started: Instant, summary: &str) -> StepRecord {
    StepRecord {
        finished_at: journal::now(),
        seconds: started.elapsed().as_secs_f64(),
        summary: summary.into(),
    }
}

/// Step progress: a spinner on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ui: Ui,
}

impl Progress {
    fn new(ui: &Ui) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            ui: ui.clone(),
        }
    }

    fn label(step: Step) -> String {
        format!("[{}/6] {step}", step.number())
    }

    fn start(&self, step: Step) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{} …", Self::label(step))),
            None => self.ui.info(&format!("{} …", Self::label(step))),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.ui.info(text),
        }
    }

    fn done(&self, step: Step, started: Instant, summary: &str) {
        self.line(&self.ui.check_line(
            CheckStatus::Pass,
            &format!(
                "{} done in {:.1}s: {summary}",
                Self::label(step),
                started.elapsed().as_secs_f64()
            ),
            None,
        ));
    }

    fn skip(&self, step: Step, done: &StepRecord) {
        self.line(&self.ui.check_line(
            CheckStatus::Pass,
            &format!(
                "{} already done at {}: {}",
                Self::label(step),
                done.finished_at,
                done.summary
            ),
            None,
        ));
    }

    fn fail(&self, step: Step, started: Instant) {
        self.line(&self.ui.check_line(
            CheckStatus::Fail,
            &format!(
                "{} failed after {:.1}s",
                Self::label(step),
                started.elapsed().as_secs_f64()
            ),
            None,
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
