//! The failover's flags turned, once, into what the steps use: typed, per
//! side, checked. Nothing below this module reads the [`Cli`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::cli::{Cli, DatabaseArgs, DatabaseMode, DnsArgs, DnsBackendKind};
use super::journal::RunOptions;
use crate::database::PgOverrides;
use crate::dns::{DnsBackend, DnsTarget, TsigKey};
use crate::error::{Error, Result};
use crate::tsb::mp::FrontAddress;
use crate::ui::output::OutputFormat;
use clap::ValueEnum;

/// One side of the failover, named as its flags are (`--from`, `--to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The cluster serving the MP now (the active).
    From,
    /// The cluster that takes over (the standby).
    To,
}

/// Everything a failover run decides by, resolved from its flags.
#[derive(Debug)]
pub struct FailoverSettings {
    pub from_context: String,
    pub to_context: String,
    pub dry_run: bool,
    pub yes: bool,
    pub resume: bool,
    pub disaster: bool,
    /// Take the pair's lock from another run (`--force-unlock`).
    pub force_unlock: bool,
    pub sync_secrets: bool,
    /// `--force-key-mismatch`: token keys that differ between the MPs only
    /// warn. Not recorded for `--resume`: every run's preflight judges the
    /// keys again, and no step depends on the flag.
    pub force_key_mismatch: bool,
    /// `--allow-cert-manager-root`: a root cert-manager generated only warns.
    pub allow_cert_manager_root: bool,
    /// How long deployments may take to stop or become ready.
    pub ready_timeout: Duration,
    /// One API-request-sized wait, for quick checks (`--request-timeout`,
    /// else 30 s).
    pub connection_timeout: Duration,
    pub database: DatabaseSettings,
    pub dns: DnsSettings,
    pub output: OutputFormat,
}

/// The database step's settings (`--database`, `--from-pg-*`, `--to-pg-*`).
#[derive(Debug)]
pub struct DatabaseSettings {
    pub mode: DatabaseMode,
    from: PgOverrides,
    to: PgOverrides,
    /// Directory of pg_dump, pg_restore and psql (None: PATH).
    pub bin_dir: Option<PathBuf>,
    /// Where dumps (and `--sync-secrets` backups) are written, 0600.
    pub dump_dir: PathBuf,
    /// How long one dump or restore may take.
    pub timeout: Duration,
}

impl DatabaseSettings {
    /// The flags given for `side`'s Postgres; the rest comes from its MP.
    pub fn overrides(&self, side: Side) -> &PgOverrides {
        match side {
            Side::From => &self.from,
            Side::To => &self.to,
        }
    }
}

/// The DNS step's settings.
#[derive(Debug)]
pub struct DnsSettings {
    pub kind: DnsBackendKind,
    pub backend: DnsBackend,
    /// The MP's name, the one clients use.
    pub name: String,
    /// `--dns-target`: the name to make it an alias of, if given.
    pub target: Option<DnsTarget>,
    /// The zone's authoritative server: updates go there, answers are checked there.
    pub server: SocketAddr,
    /// TTL of the new record, seconds.
    pub ttl: u32,
    /// How long to wait for the server to answer the new address.
    pub timeout: Duration,
}

impl DnsSettings {
    /// What the name must answer after the failover, given the standby's
    /// front address: an alias of `--dns-target` when given, else the
    /// address itself (or an alias of the load balancer's hostname).
    pub fn target_for(&self, front: &FrontAddress) -> DnsTarget {
        self.target.clone().unwrap_or_else(|| front.dns_target())
    }
}

impl FailoverSettings {
    /// The options a `--resume` must repeat, as the journal records them.
    pub fn run_options(&self) -> RunOptions {
        let name = |value: Option<clap::builder::PossibleValue>| {
            value.map_or(String::new(), |value| value.get_name().to_string())
        };
        RunOptions {
            database: name(self.database.mode.to_possible_value()),
            dns_backend: name(self.dns.kind.to_possible_value()),
            dns_name: self.dns.name.clone(),
            dns_target: self.dns.target.as_ref().map(ToString::to_string),
        }
    }

    /// # Errors
    /// A usage error (exit 2) for a DNS backend without the flags it needs,
    /// or an unreadable TSIG key file.
    pub fn from_cli(cli: Cli) -> Result<FailoverSettings> {
        Ok(FailoverSettings {
            dns: dns_settings(&cli.dns)?,
            database: database_settings(cli.database),
            connection_timeout: cli
                .connection
                .request_timeout
                .0
                .unwrap_or(Duration::from_secs(30)),
            from_context: cli.from,
            to_context: cli.to,
            dry_run: cli.dry_run,
            yes: cli.yes,
            resume: cli.resume,
            disaster: cli.disaster,
            force_unlock: cli.force_unlock,
            sync_secrets: cli.sync_secrets,
            force_key_mismatch: cli.force_key_mismatch,
            allow_cert_manager_root: cli.allow_cert_manager_root,
            ready_timeout: cli.ready_timeout,
            output: cli.output.output,
        })
    }
}

fn database_settings(args: DatabaseArgs) -> DatabaseSettings {
    DatabaseSettings {
        mode: args.database,
        from: PgOverrides {
            host: args.from_pg_host,
            port: args.from_pg_port,
            database: args.from_pg_database,
            user: args.from_pg_user,
            password_file: args.from_pg_password_file,
            flag_prefix: "--from-pg".into(),
            ..PgOverrides::default()
        },
        to: PgOverrides {
            host: args.to_pg_host,
            port: args.to_pg_port,
            database: args.to_pg_database,
            user: args.to_pg_user,
            password_file: args.to_pg_password_file,
            flag_prefix: "--to-pg".into(),
            ..PgOverrides::default()
        },
        bin_dir: args.pg_bin_dir,
        dump_dir: args.dump_dir,
        timeout: args.database_timeout,
    }
}

fn dns_settings(args: &DnsArgs) -> Result<DnsSettings> {
    let backend = match args.dns_backend {
        DnsBackendKind::Rfc2136 => {
            let zone = args.dns_zone.clone().ok_or_else(|| {
                Error::usage("--dns-backend rfc2136 needs --dns-zone")
                    .with_next_step("name the zone holding --dns-name")
            })?;
            let key_file = args.tsig_key_file.as_deref().ok_or_else(|| {
                Error::usage("--dns-backend rfc2136 needs --tsig-key-file")
                    .with_next_step("pass the BIND key file allowed to update the zone")
            })?;
            DnsBackend::Rfc2136 {
                server: args.dns_server,
                zone,
                tsig: TsigKey::from_file(key_file)?,
            }
        }
        DnsBackendKind::Exec => {
            let command = args.dns_exec.clone().ok_or_else(|| {
                Error::usage("--dns-backend exec needs --dns-exec COMMAND")
                    .with_next_step("pass the command that repoints the name")
            })?;
            DnsBackend::Exec { command }
        }
        DnsBackendKind::Manual => DnsBackend::Manual,
    };
    Ok(DnsSettings {
        kind: args.dns_backend,
        backend,
        name: args.dns_name.clone(),
        target: args
            .dns_target
            .as_deref()
            .map(DnsTarget::alias)
            .transpose()
            .map_err(|error| {
                error.with_next_step("pass the standby MP's own DNS name with --dns-target")
            })?,
        server: args.dns_server,
        ttl: args.dns_ttl,
        timeout: args.dns_timeout,
    })
}
