//! The failover's flags, as clap reads them. [`super::settings`] turns them
//! into what the steps use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use serde::Serialize;

use crate::error::EXIT_CODES_HELP;
use crate::ui::cli::{ConnectionArgs, OutputArgs, PluginCli, VERSION, parse_duration};

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: fail over from the active to the standby context
  kubectl mp-failover --from active --to standby -n tsb --database shared \\
    --dns-backend rfc2136 --dns-server 10.0.0.53:53 --dns-zone example.com \\
    --tsig-key-file mp-update.key --dns-name tsb.example.com --yes

  # Safety: see every step and change first; continue after an interruption
  kubectl mp-failover --from active --to standby ... --dry-run
  kubectl mp-failover --from active --to standby ... --resume
  kubectl mp-failover --from active --to standby --abandon   # give it up instead

  # Database: separate Postgres per MP, copied with pg_dump/pg_restore
  kubectl mp-failover --from active --to standby --database separate \\
    --from-pg-password-file active.pw --to-pg-password-file standby.pw ...

  # DNS: let your own tool change the record, or do it by hand
  kubectl mp-failover ... --dns-backend exec --dns-exec ./update-dns.sh
  kubectl mp-failover ... --dns-backend manual

  # Control planes: make each workload cluster's XCP edge follow the MP
  kubectl mp-failover ... --control-plane-context east --control-plane-context west
  kubectl mp-failover ... --control-plane-contexts-file control-planes.txt

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
    /// Whether the MPs share one Postgres or have one each (not needed with --abandon)
    #[arg(long, value_enum, required_unless_present = "abandon")]
    pub database: Option<DatabaseMode>,
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
    #[arg(long, value_enum, required_unless_present = "abandon")]
    pub dns_backend: Option<DnsBackendKind>,
    /// The MP's DNS name, the one clients use
    #[arg(long, value_name = "NAME", required_unless_present = "abandon")]
    pub dns_name: Option<String>,
    /// The zone's authoritative (primary) server, for every backend: rfc2136
    /// sends its update there, and the new answer is verified there
    /// (exec and manual too). IP, IP:PORT, HOST or HOST:PORT; port 53 by
    /// default; a HOST is resolved once, by this machine's resolver
    #[arg(long, value_name = "HOST[:PORT]", value_parser = crate::dns::parse_server, required_unless_present = "abandon")]
    pub dns_server: Option<SocketAddr>,
    /// Make the name an alias (CNAME) of this one: the standby MP's own DNS
    /// name, for a floating name that is a CNAME of each MP's name. Without
    /// it the name answers the standby's LoadBalancer address (an A or AAAA
    /// record), or is made an alias of its hostname when that is all the
    /// load balancer reports (AWS)
    #[arg(long, value_name = "NAME")]
    pub dns_target: Option<String>,
    /// The zone holding the name (rfc2136)
    #[arg(long, value_name = "ZONE")]
    pub dns_zone: Option<String>,
    /// BIND key file (tsig-keygen output) signing the update (rfc2136)
    #[arg(long, value_name = "FILE")]
    pub tsig_key_file: Option<PathBuf>,
    /// Command run with the name and its new target, an address or a name (exec)
    #[arg(long, value_name = "COMMAND")]
    pub dns_exec: Option<String>,
    /// TTL of the new record, seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub dns_ttl: u32,
    /// How long to wait for the server to answer the new record
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub dns_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Control planes")]
pub struct ControlPlaneArgs {
    /// Context of a workload cluster whose control plane must follow the MP
    /// after DNS (its XCP edge reconnects, else is restarted, else its
    /// tokens are re-issued); repeatable. Least privilege there: the Role
    /// in deploy/rbac/control-plane
    #[arg(long = "control-plane-context", value_name = "CONTEXT")]
    pub contexts: Vec<String>,
    /// File of such contexts, one a line (`#` starts a comment; blank lines
    /// are ignored)
    #[arg(long = "control-plane-contexts-file", value_name = "FILE")]
    pub contexts_file: Option<PathBuf>,
    /// How long each control-plane wait may take: the edge's reconnection,
    /// its restart, its tokens' return
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub control_plane_timeout: Duration,
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

    /// Give up the unfinished failover from --from to --to instead of
    /// resuming it: shows what it did and each side's MP, keeps its journal
    /// (configmap mp-failover-journal-abandoned-TIME) and says what to run
    /// next; a new failover, either way, may then start
    #[arg(long, help_heading = "Safety", conflicts_with = "resume")]
    pub abandon: bool,

    /// The active cluster is gone: skip what needs it (it must be fenced when it returns)
    #[arg(long, help_heading = "Safety")]
    pub disaster: bool,

    /// Take the pair's lock from a run that died (its holder is named; a
    /// dead run's lease also lapses by itself after 2 minutes)
    #[arg(long, help_heading = "Safety")]
    pub force_unlock: bool,

    /// Copy the secrets now when the standby's differ from the active's
    #[arg(long, help_heading = "Safety")]
    pub sync_secrets: bool,

    /// Fail over although the standby's token keys (the signing keys' secret
    /// the spec names, tsb-iam-jwks) differ from the active's: tokens the
    /// old active issued are then rejected, control planes' until re-issued
    #[arg(long, help_heading = "Safety")]
    pub force_key_mismatch: bool,

    /// Fail over although cert-manager generated the root CA the MPs share (the runbook warns against it); the preflight says what it risks
    #[arg(long, help_heading = "Safety")]
    pub allow_cert_manager_root: bool,

    /// How long deployments may take to stop or become ready
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, help_heading = "Safety")]
    pub ready_timeout: Duration,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub control_planes: ControlPlaneArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl PluginCli for Cli {
    fn output_args(&self) -> &OutputArgs {
        &self.output
    }
}
