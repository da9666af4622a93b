//! The failover's flags turned, once, into what the steps use: typed, per
//! side, checked. Nothing below this module reads the [`Cli`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::cli::{Cli, ControlPlaneArgs, DatabaseArgs, DatabaseMode, DnsArgs, DnsBackendKind};
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
    /// The workload clusters whose control planes follow the MP, in the
    /// order given, each once.
    pub control_planes: Vec<ControlPlaneContext>,
    /// How long each control-plane wait may take (`--control-plane-timeout`).
    pub control_plane_timeout: Duration,
    pub output: OutputFormat,
}

/// A control plane's kubeconfig context, and where it was named (for
/// messages): `--control-plane-context`, or `FILE line N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneContext {
    pub name: String,
    pub source: String,
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
            control_planes: control_plane_contexts(&cli.control_planes)?,
            control_plane_timeout: cli.control_planes.control_plane_timeout,
            database: database_settings(cli.database)?,
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

/// `--control-plane-context` values, then the contexts file's, each once.
///
/// # Errors
/// A usage error (exit 2) naming the file when it cannot be read, or its
/// line when that holds more than one word.
fn control_plane_contexts(args: &ControlPlaneArgs) -> Result<Vec<ControlPlaneContext>> {
    let mut contexts: Vec<ControlPlaneContext> = args
        .contexts
        .iter()
        .map(|name| ControlPlaneContext {
            name: name.clone(),
            source: "--control-plane-context".into(),
        })
        .collect();
    if let Some(path) = &args.contexts_file {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::usage(format!(
                "cannot read --control-plane-contexts-file {}: {error}",
                path.display()
            ))
            .with_next_step("pass a file of kubeconfig contexts, one a line")
        })?;
        contexts.extend(parse_contexts_file(&path.display().to_string(), &text)?);
    }
    let mut seen = std::collections::BTreeSet::new();
    contexts.retain(|context| seen.insert(context.name.clone()));
    Ok(contexts)
}

/// The contexts of a `--control-plane-contexts-file` named `file`: one a
/// line; `#` starts a comment; blank lines are ignored.
///
/// # Errors
/// A usage error (exit 2) naming the file and the line holding more than
/// one word.
fn parse_contexts_file(file: &str, text: &str) -> Result<Vec<ControlPlaneContext>> {
    let mut contexts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        if content.split_whitespace().nth(1).is_some() {
            return Err(Error::usage(format!(
                "{file} line {number}: {content:?} is not one context name"
            ))
            .with_next_step("write one kubeconfig context a line (# starts a comment)"));
        }
        contexts.push(ControlPlaneContext {
            name: content.to_string(),
            source: format!("{file} line {number}"),
        });
    }
    Ok(contexts)
}

/// A flag clap requires unless `--abandon` is given, which never reaches
/// these settings.
///
/// # Errors
/// A usage error (exit 2) naming `flag` when it is absent.
fn required<T>(value: Option<T>, flag: &str) -> Result<T> {
    value.ok_or_else(|| {
        Error::usage(format!("{flag} is required"))
            .with_next_step(format!("pass {flag} (only --abandon runs without it)"))
    })
}

fn database_settings(args: DatabaseArgs) -> Result<DatabaseSettings> {
    Ok(DatabaseSettings {
        mode: required(args.database, "--database")?,
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
    })
}

fn dns_settings(args: &DnsArgs) -> Result<DnsSettings> {
    let kind = required(args.dns_backend, "--dns-backend")?;
    let server = required(args.dns_server, "--dns-server")?;
    let backend = match kind {
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
                server,
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
        kind,
        backend,
        name: required(args.dns_name.clone(), "--dns-name")?,
        target: args
            .dns_target
            .as_deref()
            .map(DnsTarget::alias)
            .transpose()
            .map_err(|error| {
                error.with_next_step("pass the standby MP's own DNS name with --dns-target")
            })?,
        server,
        ttl: args.dns_ttl,
        timeout: args.dns_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contexts_file_has_one_context_a_line_comments_and_blanks_aside() {
        let text = "# workload clusters\n\neast\n  west   # the new one\n\t\n";
        let contexts = parse_contexts_file("planes.txt", text).unwrap();
        let named: Vec<(&str, &str)> = contexts
            .iter()
            .map(|context| (context.name.as_str(), context.source.as_str()))
            .collect();
        assert_eq!(
            named,
            [("east", "planes.txt line 3"), ("west", "planes.txt line 4")]
        );
        assert!(
            parse_contexts_file("empty.txt", "# none yet\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_line_of_two_words_is_refused_naming_the_file_and_line() {
        let error = parse_contexts_file("planes.txt", "east\neast west\n").unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(
            error
                .message()
                .starts_with("planes.txt line 2: \"east west\" is not one context name"),
            "{error}"
        );
    }

    #[test]
    fn flags_come_first_and_each_context_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("planes.txt");
        std::fs::write(&file, "west\neast\n").unwrap();
        let args = ControlPlaneArgs {
            contexts: vec!["east".into()],
            contexts_file: Some(file.clone()),
            control_plane_timeout: Duration::from_secs(1),
        };
        let contexts = control_plane_contexts(&args).unwrap();
        let names: Vec<&str> = contexts
            .iter()
            .map(|context| context.name.as_str())
            .collect();
        assert_eq!(names, ["east", "west"]);
        assert_eq!(contexts[0].source, "--control-plane-context");
        let missing = ControlPlaneArgs {
            contexts_file: Some(dir.path().join("absent.txt")),
            ..args
        };
        let error = control_plane_contexts(&missing).unwrap_err();
        assert!(error.message().contains("absent.txt"), "{error}");
    }
}
