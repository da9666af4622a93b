//! The failover's database step: find the MP's Postgres, dump the active's
//! database and restore it into the standby's, with the real client tools
//! (`pg_dump`, `pg_restore`, `psql`).
//!
//! Passwords travel in a private passfile named by `PGPASSFILE` (mode 0600,
//! removed when the tool exits), never in argv, logs or `Debug` output.
//!
//! A restore never leaves the target half-written: it restores into a staging
//! database next to the target and swaps the two with one transaction of
//! renames, so an interruption at any point leaves either the old database or
//! the new one, and a re-run cleans up what an interrupted run left behind.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::error::{Error, Result};
use crate::secrets::redact;

/// The Secret holding the MP's Postgres login (namespace of the MP).
pub const CREDENTIALS_SECRET: &str = "postgres-credentials";
/// Keys of [`CREDENTIALS_SECRET`] read for the user and the password, first
/// present wins: TSB's charts write `username`/`password`; the others are the
/// spellings of common Postgres images and operators.
pub const USERNAME_KEYS: [&str; 3] = ["username", "user", "POSTGRES_USER"];
pub const PASSWORD_KEYS: [&str; 2] = ["password", "POSTGRES_PASSWORD"];
/// Keys of [`CREDENTIALS_SECRET`] read for the CA of the server's certificate
/// (the seeds' `ca.crt`, helm values' `cacert`).
pub const CA_KEYS: [&str; 2] = ["ca.crt", "cacert"];

const DEFAULT_PORT: u16 = 5432;
/// Where restore connects to create, rename and drop the target database;
/// the second when the target is the first (one cannot rename the database
/// one is connected to).
const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];
/// Shown in `pg_stat_activity`, so a DBA can tell who is connected.
const APPLICATION_NAME: &str = "kubectl-mp";
const STAGING_SUFFIX: &str = "_mp_restore";
const OLD_SUFFIX: &str = "_mp_old";
/// Postgres silently truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;
/// A connection being closed may still be listed for a moment after
/// `pg_terminate_backend`: how often to terminate again and retry.
const BUSY_RETRIES: u32 = 10;
const BUSY_RETRY_DELAY: Duration = Duration::from_millis(300);
/// The longest a single connection attempt may take (libpq's `connect_timeout`).
const MAX_CONNECT_TIMEOUT_SECS: u64 = 15;
/// Hex characters of a digest shown to people, as `crate::secrets::redact` shows them.
const SHOWN_DIGEST_CHARS: usize = 12;
/// Longest tool message kept in an error: enough for Postgres' own errors.
const MAX_DETAIL_CHARS: usize = 600;

/// Where an MP's Postgres is and how to log in. The password never appears in
/// argv, logs or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgEndpoint {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    password: String,
    /// libpq's `sslmode` (disable, prefer, require, verify-ca, verify-full);
    /// `None` leaves libpq's default (or `PGSSLMODE`).
    pub sslmode: Option<String>,
    /// PEM of the CA the server's certificate must chain to, given to the
    /// tools (as `PGSSLROOTCERT`) when `sslmode` is `verify-ca` or `verify-full`.
    pub ca_cert: Option<String>,
}

impl PgEndpoint {
    pub fn new(
        host: impl Into<String>,
        port: u16,
        database: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        PgEndpoint {
            host: host.into(),
            port,
            database: database.into(),
            user: user.into(),
            password: password.into(),
            sslmode: None,
            ca_cert: None,
        }
    }

    /// Size (and sha256 prefix, for a long one) of the password, to tell two
    /// apart without showing either.
    pub fn password_summary(&self) -> String {
        redact::describe_value(self.password.as_bytes())
    }

    /// Whether the tools check the server's certificate against a CA.
    fn verifies_server(&self) -> bool {
        matches!(self.sslmode.as_deref(), Some("verify-ca" | "verify-full"))
    }

    /// The endpoint on a maintenance database other than its own.
    fn maintenance(&self) -> PgEndpoint {
        let [usual, fallback] = MAINTENANCE_DATABASES;
        self.at(if self.database == usual {
            fallback
        } else {
            usual
        })
    }

    fn at(&self, database: &str) -> PgEndpoint {
        PgEndpoint {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// libpq connection string without the password: safe for argv.
    fn conninfo(&self, connect_timeout: Duration) -> String {
        let mut parts = vec![
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("dbname", self.database.clone()),
            ("user", self.user.clone()),
            ("application_name", APPLICATION_NAME.to_string()),
            (
                "connect_timeout",
                connect_timeout
                    .as_secs()
                    .clamp(2, MAX_CONNECT_TIMEOUT_SECS)
                    .to_string(),
            ),
        ];
        if let Some(sslmode) = &self.sslmode {
            parts.push(("sslmode", sslmode.clone()));
        }
        parts
            .iter()
            .map(|(key, value)| format!("{key}={}", conninfo_quote(value)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A passfile line matching any connection of this invocation.
    fn passfile_line(&self) -> String {
        let escaped = self.password.replace('\\', "\\\\").replace(':', "\\:");
        format!("*:*:*:*:{escaped}\n")
    }
}

impl fmt::Display for PgEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

impl fmt::Debug for PgEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &format_args!("<{}>", self.password_summary()))
            .field("sslmode", &self.sslmode)
            .field(
                "ca_cert",
                &self
                    .ca_cert
                    .as_ref()
                    .map(|pem| format!("<{} B>", pem.len())),
            )
            .finish()
    }
}

/// Flags that take precedence over the MP spec and the credentials Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    /// A file holding the password (one trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    pub sslmode: Option<String>,
    /// A PEM file with the CA of the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// How the flags of this side are spelled, for errors: `--pg` gives
    /// `--pg-host`, `--to-pg` gives `--to-pg-host`.
    pub flag_prefix: String,
}

impl Default for PgOverrides {
    fn default() -> Self {
        PgOverrides {
            host: None,
            port: None,
            database: None,
            user: None,
            password_file: None,
            sslmode: None,
            ca_file: None,
            flag_prefix: "--pg".to_string(),
        }
    }
}

impl PgOverrides {
    fn flag(&self, name: &str) -> String {
        format!("{}-{name}", self.flag_prefix)
    }
}

/// The endpoint of an MP's Postgres, from its ManagementPlane spec
/// (`dataStore.postgres.{host,port,name,sslMode}`, or older versions'
/// `address: host:port`; a whole ManagementPlane object is accepted too) and
/// its `postgres-credentials` Secret (see [`USERNAME_KEYS`], [`PASSWORD_KEYS`]),
/// with `overrides` taking precedence. The port defaults to 5432; anything
/// else missing is a usage error naming the flag to pass.
pub fn endpoint_from(
    mp_spec: Option<&Value>,
    credentials: Option<&Secret>,
    overrides: &PgOverrides,
) -> Result<PgEndpoint> {
    let spec = spec_postgres(mp_spec, overrides)?;
    let values = credentials.map(redact::secret_values).unwrap_or_default();
    let from_secret = |keys: &[&str]| secret_text(&values, keys);
    let password = match &overrides.password_file {
        Some(path) => Some(read_password_file(path, &overrides.flag("password-file"))?),
        None => from_secret(&PASSWORD_KEYS),
    };
    let ca_cert = match &overrides.ca_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
            Error::usage(format!(
                "cannot read {} {}: {error}",
                overrides.flag("ca-file"),
                path.display()
            ))
        })?),
        None => from_secret(&CA_KEYS),
    };
    let mut missing = Vec::new();
    let mut require = |value: Option<String>, what: String| {
        if value.is_none() {
            missing.push(what);
        }
        value
    };
    let host = require(
        overrides.host.clone().or(spec.host),
        format!(
            "host (no spec.dataStore.postgres.host or address; pass {})",
            overrides.flag("host")
        ),
    );
    let database = require(
        overrides.database.clone().or(spec.name),
        format!(
            "database (no spec.dataStore.postgres.name; pass {})",
            overrides.flag("database")
        ),
    );
    let user = require(
        overrides
            .user
            .clone()
            .or_else(|| from_secret(&USERNAME_KEYS)),
        format!(
            "user (no {} in the {CREDENTIALS_SECRET} Secret; pass {})",
            USERNAME_KEYS.join("/"),
            overrides.flag("user")
        ),
    );
    let password = require(
        password,
        format!(
            "password (no {} in the {CREDENTIALS_SECRET} Secret; pass {})",
            PASSWORD_KEYS.join("/"),
            overrides.flag("password-file")
        ),
    );
    let (Some(host), Some(database), Some(user), Some(password)) = (host, database, user, password)
    else {
        return Err(Error::usage(format!(
            "Postgres connection details missing: {}",
            missing.join(", ")
        )));
    };
    check_password(&password)?;
    Ok(PgEndpoint {
        host,
        port: overrides.port.or(spec.port).unwrap_or(DEFAULT_PORT),
        database,
        user,
        password,
        sslmode: overrides.sslmode.clone().or(spec.sslmode),
        ca_cert,
    })
}

/// Where an MP's spec says its Postgres listens (`dataStore.postgres`'s
/// host and port, or an older `address`; the port defaults to 5432): no
/// credentials read. `None` when the spec names no host.
///
/// # Errors
/// A usage error for an `address` or `port` that does not parse.
pub fn spec_address(mp_spec: Option<&Value>) -> Result<Option<(String, u16)>> {
    let spec = spec_postgres(mp_spec, &PgOverrides::default())?;
    Ok(spec
        .host
        .map(|host| (host, spec.port.unwrap_or(DEFAULT_PORT))))
}

/// What an MP's spec says of its Postgres.
#[derive(Default)]
struct SpecPostgres {
    host: Option<String>,
    port: Option<u16>,
    name: Option<String>,
    sslmode: Option<String>,
}

/// `dataStore.postgres` of a ManagementPlane spec (or of the whole object):
/// `host`, `port`, `name`, `sslMode`, or an older `address: host:port`.
fn spec_postgres(mp_spec: Option<&Value>, overrides: &PgOverrides) -> Result<SpecPostgres> {
    let postgres = mp_spec
        .map(|spec| spec.get("spec").unwrap_or(spec))
        .and_then(|spec| spec.pointer("/dataStore/postgres"));
    let field = |name: &str| postgres.and_then(|postgres| postgres.get(name));
    let text = |name: &str| {
        field(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    };
    let (address_host, address_port) = match text("address") {
        Some(address) => split_address(&address).map_err(|problem| {
            Error::usage(format!(
                "the ManagementPlane spec's dataStore.postgres.address {address:?} {problem}"
            ))
            .with_next_step(format!(
                "pass {} and {}",
                overrides.flag("host"),
                overrides.flag("port")
            ))
        })?,
        None => (None, None),
    };
    let port = match field("port") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_port(value).ok_or_else(|| {
            Error::usage(format!(
                "the ManagementPlane spec's dataStore.postgres.port {value} is not a port number"
            ))
            .with_next_step(format!("pass {}", overrides.flag("port")))
        })?),
    };
    Ok(SpecPostgres {
        host: text("host").or(address_host),
        port: port.or(address_port),
        name: text("name"),
        sslmode: text("sslMode").or_else(|| text("sslmode")),
    })
}

/// The first of `keys` with a non-empty value, its line ending trimmed.
fn secret_text(values: &BTreeMap<String, Vec<u8>>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        values
            .get(*key)
            .map(|value| {
                String::from_utf8_lossy(value)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            })
            .filter(|value| !value.is_empty())
    })
}

/// The major version in a PostgreSQL version text: `15.10 (Debian …)` and
/// ` 15.10` give 15, `9.6.24` gives 9 (before 10, the major was two numbers;
/// the first decides here, as no client older than 10 is in use).
pub fn major_version(text: &str) -> Option<u32> {
    text.trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|major| major.parse().ok())
}

/// pg_dump refuses a server newer than itself: its major must be at least
/// each server's (`servers`: the role, as the user says it, and the
/// server_version it reported).
///
/// # Errors
/// A failure (exit 1) naming the server and the client to install.
pub fn check_pg_dump_covers(pg_dump_major: u32, servers: &[(&str, &str)]) -> Result<()> {
    for (role, version) in servers {
        let Some(server) = major_version(version) else {
            continue;
        };
        if server > pg_dump_major {
            return Err(Error::failed(format!(
                "pg_dump {pg_dump_major} is older than the {role}'s Postgres server {server}: it cannot dump it"
            ))
            .with_next_step(format!(
                "install the PostgreSQL {server} client tools or newer (Debian/Ubuntu: apt-get install postgresql-client-{server}) and pass --pg-bin-dir DIR"
            )));
        }
    }
    Ok(())
}

/// `host:port`, `host`, `[v6]:port` or a bare IPv6 address.
fn split_address(address: &str) -> Result<(Option<String>, Option<u16>), &'static str> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has no closing ]")?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((
                Some(host.to_string()),
                Some(port.parse().map_err(|_| "has a bad port")?),
            )),
            None if after.is_empty() => Ok((Some(host.to_string()), None)),
            None => Err("is not host:port"),
        };
    }
    match address.rsplit_once(':') {
        // More than one colon and no brackets: an IPv6 address without a port.
        Some((host, _)) if host.contains(':') => Ok((Some(address.to_string()), None)),
        Some((host, port)) => Ok((
            Some(host.to_string()),
            Some(port.parse().map_err(|_| "has a bad port")?),
        )),
        None => Ok((Some(address.to_string()), None)),
    }
}

fn parse_port(value: &Value) -> Option<u16> {
    match value {
        Value::Number(number) => number.as_u64().and_then(|port| u16::try_from(port).ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn read_password_file(path: &Path, flag: &str) -> Result<String> {
    let contents = std::fs::read_to_string(path)
        .map_err(|error| Error::usage(format!("cannot read {flag} {}: {error}", path.display())))?;
    let password = contents
        .strip_suffix("\r\n")
        .or_else(|| contents.strip_suffix('\n'))
        .unwrap_or(&contents);
    if password.is_empty() {
        return Err(Error::usage(format!("{flag} {} is empty", path.display()))
            .with_next_step("write the password into it"));
    }
    Ok(password.to_string())
}

/// A passfile holds one password per line: line breaks cannot be represented.
fn check_password(password: &str) -> Result<()> {
    if password.contains(['\n', '\r']) {
        return Err(Error::usage(
            "the Postgres password contains a line break, which the client tools cannot be given",
        )
        .with_next_step("use a password without line breaks"));
    }
    Ok(())
}

/// The PostgreSQL client tools the database step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTools {
    pg_dump: PathBuf,
    pg_restore: PathBuf,
    psql: PathBuf,
}

impl PgTools {
    /// Finds `pg_dump`, `pg_restore` and `psql`: only in `bin_dir` when given
    /// (`--pg-bin-dir`), else on PATH, else in Debian's versioned directories
    /// (`/usr/lib/postgresql/<newest>/bin`). The error lists every missing tool.
    pub fn locate(bin_dir: Option<&Path>) -> Result<PgTools> {
        let fallback_dirs = match bin_dir {
            Some(_) => Vec::new(),
            None => debian_bin_dirs(Path::new("/usr/lib/postgresql")),
        };
        let find = |name: &str| -> Option<PathBuf> {
            match bin_dir {
                Some(dir) => which::which_in(name, Some(dir), dir).ok(),
                None => which::which(name).ok().or_else(|| {
                    fallback_dirs
                        .iter()
                        .find_map(|dir| which::which_in(name, Some(dir), dir).ok())
                }),
            }
        };
        let (pg_dump, pg_restore, psql) = (find("pg_dump"), find("pg_restore"), find("psql"));
        match (pg_dump, pg_restore, psql) {
            (Some(pg_dump), Some(pg_restore), Some(psql)) => Ok(PgTools {
                pg_dump,
                pg_restore,
                psql,
            }),
            (pg_dump, pg_restore, psql) => {
                let missing: Vec<&str> = [
                    ("pg_dump", pg_dump.is_none()),
                    ("pg_restore", pg_restore.is_none()),
                    ("psql", psql.is_none()),
                ]
                .iter()
                .filter(|(_, missing)| *missing)
                .map(|(name, _)| *name)
                .collect();
                let looked = match bin_dir {
                    Some(dir) => format!("in {}", dir.display()),
                    None => "on PATH or in /usr/lib/postgresql/*/bin".to_string(),
                };
                Err(Error::failed(format!(
                    "PostgreSQL client tools not found {looked}: {}",
                    missing.join(", ")
                ))
                .with_next_step(
                    "install them (Debian/Ubuntu: apt-get install postgresql-client-15, \
                     or the client of your server's major version or newer) or pass --pg-bin-dir DIR",
                ))
            }
        }
    }

    pub fn pg_dump(&self) -> &Path {
        &self.pg_dump
    }

    /// The major version `pg_dump --version` reports (`pg_dump (PostgreSQL)
    /// 15.10 (Debian …)` gives 15).
    ///
    /// # Errors
    /// pg_dump does not run, or says something else.
    pub async fn pg_dump_major(&self) -> Result<u32> {
        let output = Command::new(&self.pg_dump)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|error| {
                Error::failed(format!(
                    "cannot run {} --version: {error}",
                    self.pg_dump.display()
                ))
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.split(')')
            .nth(1)
            .and_then(major_version)
            .ok_or_else(|| {
                Error::failed(format!(
                    "{} --version answered {:?}, not a PostgreSQL version",
                    self.pg_dump.display(),
                    text.trim()
                ))
            })
    }

    pub fn pg_restore(&self) -> &Path {
        &self.pg_restore
    }

    pub fn psql(&self) -> &Path {
        &self.psql
    }
}

/// `<root>/<version>/bin`, newest major version first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// Connects to the endpoint's database and returns the server's version
/// (e.g. `15.18 (Debian 15.18-0+deb12u1)`).
pub async fn check_reachable(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    timeout: Duration,
) -> Result<String> {
    let version = psql(tools, endpoint, &["SHOW server_version"], timeout)
        .await
        .map_err(|failure| failure.into_error("connect to", endpoint, timeout))?;
    Ok(version.trim().to_string())
}

/// Checks, read-only, that the extensions of the `from` database can be
/// restored into `to`'s server by `to`'s user: each is installed there, and
/// one only a superuser may create (not `trusted`, PostgreSQL 13 and later)
/// needs `to`'s user to be one. pg_restore would otherwise fail midway.
///
/// # Errors
/// A failure (exit 1) naming the extensions and what to do; exit 3 when a
/// server does not answer.
pub async fn check_extensions(
    tools: &PgTools,
    from: &PgEndpoint,
    to: &PgEndpoint,
    timeout: Duration,
) -> Result<()> {
    let used = psql(
        tools,
        from,
        &["SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"],
        timeout,
    )
    .await
    .map_err(|failure| failure.into_error("connect to", from, timeout))?;
    let used: Vec<&str> = used
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    if used.is_empty() {
        return Ok(());
    }
    let listed = used
        .iter()
        .map(|name| sql_literal(name))
        .collect::<Vec<_>>()
        .join(",");
    let query = format!(
        "SELECT e.name, bool_or(e.trusted), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
         FROM pg_available_extension_versions e WHERE e.name IN ({listed}) GROUP BY e.name"
    );
    let maintenance = to.maintenance();
    let rows = psql(tools, &maintenance, &[&query], timeout)
        .await
        .map_err(|failure| failure.into_error("connect to", &maintenance, timeout))?;
    let available: BTreeMap<&str, (bool, bool)> = rows
        .lines()
        .filter_map(|row| match row.trim().split('|').collect::<Vec<_>>()[..] {
            [name, trusted, superuser] => Some((name, (trusted == "t", superuser == "t"))),
            _ => None,
        })
        .collect();
    let missing: Vec<&str> = used
        .iter()
        .copied()
        .filter(|name| !available.contains_key(name))
        .collect();
    if !missing.is_empty() {
        return Err(Error::failed(format!(
            "the active's database uses extension{} {} which the standby's Postgres server {}:{} does not have",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            to.host,
            to.port
        ))
        .with_next_step("install them on the standby's server (Debian: the postgresql-<version>-<extension> package)"));
    }
    let needs_superuser: Vec<&str> = available
        .iter()
        .filter(|(_, (trusted, superuser))| !trusted && !superuser)
        .map(|(name, _)| *name)
        .collect();
    if needs_superuser.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "the active's database uses extension{} {}, which only a superuser may create, and Postgres user {:?} on {}:{} is not one",
        if needs_superuser.len() == 1 { "" } else { "s" },
        needs_superuser.join(", "),
        to.user,
        to.host,
        to.port
    ))
    .with_next_step("restore as a superuser (--to-pg-user, --to-pg-password-file)"))
}

/// Checks, read-only, that the endpoint's user may replace its database:
/// it can connect to the `postgres` maintenance database (`template1` when
/// the target is `postgres`), create databases
/// (CREATEDB or superuser) and owns the database (or is a superuser).
/// [`restore`] checks this too before it changes anything.
pub async fn check_restore_privileges(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    timeout: Duration,
) -> Result<()> {
    let maintenance = endpoint.maintenance();
    let query = format!(
        "SELECT r.rolsuper OR r.rolcreatedb, \
         coalesce((SELECT r.rolsuper OR pg_has_role(current_user, d.datdba, 'USAGE') \
         FROM pg_database d WHERE d.datname = {target}), true), \
         coalesce((SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = {target}), '') \
         FROM pg_roles r WHERE r.rolname = current_user",
        target = sql_literal(&endpoint.database)
    );
    let row = psql(tools, &maintenance, &[&query], timeout)
        .await
        .map_err(|failure| failure.into_error("connect to", &maintenance, timeout))?;
    let fields: Vec<&str> = row.trim().split('|').collect();
    match fields.as_slice() {
        ["t", "t", _] => Ok(()),
        ["f", _, _] => Err(Error::failed(format!(
            "Postgres user {:?} on {}:{} may not create databases, which replacing {:?} needs",
            endpoint.user, endpoint.host, endpoint.port, endpoint.database
        ))
        .with_next_step(format!(
            "as a superuser run ALTER ROLE {} CREATEDB, or pass a user that may",
            sql_identifier(&endpoint.user)
        ))),
        [_, "f", owner] => Err(Error::failed(format!(
            "database {:?} on {}:{} is owned by {owner:?}, so {:?} cannot replace it",
            endpoint.database, endpoint.host, endpoint.port, endpoint.user
        ))
        .with_next_step(format!(
            "as a superuser run ALTER DATABASE {} OWNER TO {}",
            sql_identifier(&endpoint.database),
            sql_identifier(&endpoint.user)
        ))),
        _ => Err(Error::failed(format!(
            "unexpected answer from {maintenance} checking privileges: {:?}",
            one_line(&row, &endpoint.password)
        ))),
    }
}

/// What [`dump`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpInfo {
    pub path: PathBuf,
    pub bytes: u64,
    /// The file's sha256 in hex, to check it is unchanged before a resumed restore.
    pub sha256: String,
    pub duration: Duration,
}

impl fmt::Display for DumpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} B, sha256:{}, {:.1}s)",
            self.path.display(),
            self.bytes,
            &self.sha256[..SHOWN_DIGEST_CHARS.min(self.sha256.len())],
            self.duration.as_secs_f64()
        )
    }
}

/// `pg_dump -Fc` of the endpoint's database into `path`, mode 0600, written
/// under a temporary name and renamed into place: `path` (replaced if it
/// exists) only ever holds a complete dump.
pub async fn dump(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    path: &Path,
    timeout: Duration,
) -> Result<DumpInfo> {
    let started = Instant::now();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let io_error = |what: &str, error: std::io::Error| {
        Error::failed(format!(
            "cannot write the dump {}: {what}: {error}",
            path.display()
        ))
        .with_next_step("check the directory exists, is writable and has space")
    };
    // tempfile creates the file with mode 0600; pg_dump truncates and keeps it.
    let temp = tempfile::Builder::new()
        .prefix(".kubectl-mp-dump-")
        .tempfile_in(dir)
        .map_err(|error| io_error("cannot create a temporary file", error))?;
    let args = vec![
        "--format=custom".to_string(),
        "--no-password".to_string(),
        format!("--file={}", temp.path().display()),
        format!("--dbname={}", endpoint.conninfo(timeout)),
    ];
    run(tools.pg_dump(), &args, endpoint, timeout)
        .await
        .map_err(|failure| failure.into_error("pg_dump of", endpoint, timeout))?;
    let (bytes, sha256) =
        digest_file(temp.as_file()).map_err(|error| io_error("cannot read it back", error))?;
    temp.as_file()
        .sync_all()
        .map_err(|error| io_error("sync failed", error))?;
    temp.persist(path)
        .map_err(|error| io_error("rename failed", error.error))?;
    Ok(DumpInfo {
        path: path.to_path_buf(),
        bytes,
        sha256,
        duration: started.elapsed(),
    })
}

/// The sha256 (hex) of a dump file, as [`DumpInfo::sha256`]: to check,
/// before a resumed restore, that the file is the one the dump wrote.
/// Checks the dump at `path` is still the one whose sha256 was `expected`
/// (hex): a file swapped, truncated or rewritten since is refused, never
/// restored or relied on.
///
/// # Errors
/// Exit 1 naming the file and both digest prefixes, or the read error.
pub fn verify_dump(path: &Path, expected: &str) -> Result<()> {
    let found = dump_sha256(path)?;
    if found == expected {
        return Ok(());
    }
    let short = |digest: &str| digest[..SHOWN_DIGEST_CHARS.min(digest.len())].to_string();
    Err(Error::failed(format!(
        "the dump {} changed since it was taken (sha256 {} expected, {} found)",
        path.display(),
        short(expected),
        short(&found)
    )))
}

pub fn dump_sha256(path: &Path) -> Result<String> {
    std::fs::File::open(path)
        .and_then(|file| digest_file(&file))
        .map(|(_, sha256)| sha256)
        .map_err(|error| {
            Error::failed(format!("cannot read the dump {}: {error}", path.display()))
                .with_next_step("dump again")
        })
}

/// A file as a tool's positional argument: never mistaken for an option.
fn file_argument(path: &Path) -> String {
    if path.is_absolute() {
        path.display().to_string()
    } else {
        Path::new(".").join(path).display().to_string()
    }
}

fn digest_file(mut file: &std::fs::File) -> std::io::Result<(u64, String)> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((bytes, hex))
}

/// Replaces the endpoint's database with the dump at `path`. The caller has
/// already scaled the writers (tsb, iam) to 0.
///
/// Checks the archive and the user's privileges, restores into a staging
/// database (`<db>_mp_restore`, with the target's encoding and locale,
/// objects owned by the endpoint's user: `--no-owner --no-privileges`), then
/// terminates the target's connections and swaps the two in one transaction
/// (`<db>` → `<db>_mp_old`, staging → `<db>`) and drops the old one. Safe to
/// re-run after an interruption at any point: leftovers of an earlier run are
/// dropped first, and the target changes only in the swap's transaction.
/// Each tool run is bounded by `timeout`.
pub async fn restore(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    path: &Path,
    timeout: Duration,
) -> Result<()> {
    check_archive(tools, endpoint, path, timeout).await?;
    check_restore_privileges(tools, endpoint, timeout).await?;
    let names = RestoreNames::new(&endpoint.database);
    let maintenance = endpoint.maintenance();
    let admin = Admin {
        tools,
        maintenance: &maintenance,
        timeout,
    };

    for leftover in [&names.staging, &names.old] {
        admin.drop_database(leftover).await?;
    }
    let create = format!(
        "CREATE DATABASE {} TEMPLATE template0{}",
        sql_identifier(&names.staging),
        admin.locale_of(&endpoint.database).await?
    );
    admin.sql(&create, "create the staging database").await?;

    let args = vec![
        "--no-password".to_string(),
        "--exit-on-error".to_string(),
        "--no-owner".to_string(),
        "--no-privileges".to_string(),
        format!("--dbname={}", endpoint.at(&names.staging).conninfo(timeout)),
        file_argument(path),
    ];
    run(tools.pg_restore(), &args, endpoint, timeout)
        .await
        .map_err(|failure| {
            failure
                .into_error("pg_restore into", &endpoint.at(&names.staging), timeout)
                .with_next_step(format!(
                    "{} is unchanged; fix the cause and re-run",
                    endpoint.database
                ))
        })?;

    let target_exists = admin.database_exists(&endpoint.database).await?;
    let swap = if target_exists {
        format!(
            "ALTER DATABASE {target} RENAME TO {old}; ALTER DATABASE {staging} RENAME TO {target}",
            target = sql_identifier(&endpoint.database),
            old = sql_identifier(&names.old),
            staging = sql_identifier(&names.staging),
        )
    } else {
        format!(
            "ALTER DATABASE {} RENAME TO {}",
            sql_identifier(&names.staging),
            sql_identifier(&endpoint.database)
        )
    };
    admin
        .while_busy(
            &[&endpoint.database, &names.staging],
            &swap,
            "swap in the restored database",
        )
        .await?;
    admin.drop_database(&names.old).await
}

/// `pg_restore --list`: fails before any change when the file is missing or
/// not a custom-format archive this pg_restore can read.
async fn check_archive(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    path: &Path,
    timeout: Duration,
) -> Result<()> {
    if !path.is_file() {
        return Err(
            Error::usage(format!("dump file {} not found", path.display()))
                .with_next_step("pass the file dump wrote"),
        );
    }
    let args = vec!["--list".to_string(), file_argument(path)];
    run(tools.pg_restore(), &args, endpoint, timeout)
        .await
        .map(|_| ())
        .map_err(|failure| {
            Error::failed(format!(
                "{} is not a dump pg_restore can read: {}",
                path.display(),
                failure.detail(endpoint, timeout)
            ))
            .with_next_step("dump again, or use a pg_restore as new as the pg_dump that wrote it")
        })
}

/// The databases a restore works with besides the target, kept within
/// Postgres' identifier length so they never collide after truncation.
struct RestoreNames {
    staging: String,
    old: String,
}

impl RestoreNames {
    fn new(database: &str) -> Self {
        let with = |suffix: &str| {
            let mut end = database.len().min(MAX_IDENTIFIER_BYTES - suffix.len());
            while !database.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{suffix}", &database[..end])
        };
        RestoreNames {
            staging: with(STAGING_SUFFIX),
            old: with(OLD_SUFFIX),
        }
    }
}

/// SQL on the maintenance database, on behalf of a restore.
struct Admin<'a> {
    tools: &'a PgTools,
    maintenance: &'a PgEndpoint,
    timeout: Duration,
}

impl Admin<'_> {
    async fn query(&self, sql: &str, what: &str) -> Result<String> {
        psql(self.tools, self.maintenance, &[sql], self.timeout)
            .await
            .map_err(|failure| {
                Error::failed(format!(
                    "could not {what} on {}: {}",
                    self.maintenance,
                    failure.detail(self.maintenance, self.timeout)
                ))
            })
    }

    async fn sql(&self, sql: &str, what: &str) -> Result<()> {
        self.query(sql, what).await.map(|_| ())
    }

    async fn database_exists(&self, database: &str) -> Result<bool> {
        let sql = format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            sql_literal(database)
        );
        Ok(self.query(&sql, "list databases").await?.trim() == "1")
    }

    /// ` ENCODING … LC_COLLATE … LC_CTYPE …` of an existing database, so the
    /// restored one sorts and stores text alike; empty when it does not exist.
    async fn locale_of(&self, database: &str) -> Result<String> {
        let sql = format!(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = {}",
            sql_literal(database)
        );
        let row = self.query(&sql, "read the database's encoding").await?;
        Ok(match row.trim().split('|').collect::<Vec<_>>().as_slice() {
            [encoding, collate, ctype] => format!(
                " ENCODING {} LC_COLLATE {} LC_CTYPE {}",
                sql_literal(encoding),
                sql_literal(collate),
                sql_literal(ctype)
            ),
            _ => String::new(),
        })
    }

    /// Terminates the other connections to `databases`, then runs `sql`;
    /// again while Postgres still sees one of them (a client reconnecting, or
    /// a backend not yet gone). `DROP … WITH (FORCE)` would need Postgres 13.
    async fn while_busy(&self, databases: &[&str], sql: &str, what: &str) -> Result<()> {
        let names: Vec<String> = databases.iter().map(|name| sql_literal(name)).collect();
        let terminate = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname IN ({}) AND pid <> pg_backend_pid()",
            names.join(", ")
        );
        let mut attempt = 0;
        loop {
            self.sql(&terminate, "terminate the connections").await?;
            match psql(self.tools, self.maintenance, &[sql], self.timeout).await {
                Ok(_) => return Ok(()),
                Err(failure) if failure.busy() && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(BUSY_RETRY_DELAY).await;
                }
                Err(failure) => {
                    return Err(Error::failed(format!(
                        "could not {what} on {}: {}",
                        self.maintenance,
                        failure.detail(self.maintenance, self.timeout)
                    ))
                    .with_next_step("stop the clients still connecting (tsb, iam) and re-run"));
                }
            }
        }
    }

    async fn drop_database(&self, database: &str) -> Result<()> {
        let sql = format!("DROP DATABASE IF EXISTS {}", sql_identifier(database));
        self.while_busy(&[database], &sql, &format!("drop {database}"))
            .await
    }
}

/// Runs SQL statements (each its own `-c`) and returns the unaligned,
/// tuples-only output.
async fn psql(
    tools: &PgTools,
    endpoint: &PgEndpoint,
    statements: &[&str],
    timeout: Duration,
) -> Result<String, ToolFailure> {
    run(
        tools.psql(),
        &psql_args(endpoint, statements, timeout),
        endpoint,
        timeout,
    )
    .await
}

fn psql_args(endpoint: &PgEndpoint, statements: &[&str], timeout: Duration) -> Vec<String> {
    let mut args: Vec<String> = [
        "--no-psqlrc",
        "--no-password",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "--set=ON_ERROR_STOP=1",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.push(format!("--dbname={}", endpoint.conninfo(timeout)));
    for statement in statements {
        args.push(format!("--command={statement}"));
    }
    args
}

/// Why a tool run failed, with its stderr already reduced to one line.
#[derive(Debug)]
enum ToolFailure {
    Spawn {
        program: PathBuf,
        error: std::io::Error,
    },
    TimedOut,
    Exited {
        code: Option<i32>,
        stderr: String,
    },
}

impl ToolFailure {
    /// Postgres refused because another session uses the database.
    fn busy(&self) -> bool {
        matches!(self, ToolFailure::Exited { stderr, .. } if stderr.contains("is being accessed by other users"))
    }

    fn detail(&self, endpoint: &PgEndpoint, timeout: Duration) -> String {
        match self {
            ToolFailure::Spawn { program, error } => {
                format!("cannot run {}: {error}", program.display())
            }
            ToolFailure::TimedOut => format!("timed out after {}s", timeout.as_secs()),
            ToolFailure::Exited { code, stderr } => {
                let detail = one_line(stderr, &endpoint.password);
                match (detail.is_empty(), code) {
                    (false, _) => detail,
                    (true, Some(code)) => format!("exited with code {code}"),
                    (true, None) => "killed by a signal".to_string(),
                }
            }
        }
    }

    /// Connection and authentication failures are "unreachable or denied"
    /// (exit 3); anything else is a failure of the operation.
    fn into_error(self, action: &str, endpoint: &PgEndpoint, timeout: Duration) -> Error {
        let detail = self.detail(endpoint, timeout);
        let message = format!("Postgres: could not {action} {endpoint}: {detail}");
        let lower = detail.to_ascii_lowercase();
        if lower.contains("server version mismatch") {
            Error::failed(message).with_next_step(
                "use client tools as new as the server: install its postgresql-client or pass --pg-bin-dir",
            )
        } else if matches!(self, ToolFailure::TimedOut) {
            Error::cluster(message).with_next_step("check the server is up, or raise the timeout")
        } else if lower.contains("root certificate") || lower.contains("certificate verify failed")
        {
            Error::cluster(message).with_next_step(
                "check the Postgres CA (ca.crt in the postgres-credentials Secret, or the CA file flag) and sslmode",
            )
        } else if lower.contains("password authentication failed")
            || lower.contains("no password supplied")
            || lower.contains("no pg_hba.conf entry")
        {
            Error::cluster(message).with_next_step(
                "check the user and password (the postgres-credentials Secret or the password file flag)",
            )
        } else if lower.contains("connection to server")
            || lower.contains("could not connect")
            || lower.contains("could not translate host name")
            || lower.contains("timeout expired")
        {
            Error::cluster(message).with_next_step(
                "check the host and port, and that Postgres is up and reachable from here",
            )
        } else {
            Error::failed(message)
        }
    }
}

/// Runs a client tool against `endpoint` with its password in a private
/// passfile, killing it when `timeout` passes.
async fn run(
    program: &Path,
    args: &[String],
    endpoint: &PgEndpoint,
    timeout: Duration,
) -> Result<String, ToolFailure> {
    let spawn_failure = |error| ToolFailure::Spawn {
        program: program.to_path_buf(),
        error,
    };
    // Removed when dropped, after the tool has exited or been killed.
    let mut passfile = tempfile::Builder::new()
        .prefix(".kubectl-mp-pgpass-")
        .tempfile()
        .map_err(spawn_failure)?;
    passfile
        .write_all(endpoint.passfile_line().as_bytes())
        .and_then(|()| passfile.flush())
        .map_err(spawn_failure)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env("PGPASSFILE", passfile.path())
        // An inherited PGPASSWORD would win over the passfile.
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let root_cert = match (&endpoint.ca_cert, endpoint.verifies_server()) {
        (Some(pem), true) => {
            let mut file = tempfile::Builder::new()
                .prefix(".kubectl-mp-pgca-")
                .tempfile()
                .map_err(spawn_failure)?;
            file.write_all(pem.as_bytes())
                .and_then(|()| file.flush())
                .map_err(spawn_failure)?;
            command.env("PGSSLROOTCERT", file.path());
            Some(file)
        }
        _ => None,
    };
    let output = command.output();
    let output = match tokio::time::timeout(timeout, output).await {
        Err(_) => return Err(ToolFailure::TimedOut),
        Ok(result) => result.map_err(spawn_failure)?,
    };
    drop((passfile, root_cert));
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ToolFailure::Exited {
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A tool's stderr as one line for an error message: lines joined, long
/// output cut, and the password replaced should a server ever echo it.
fn one_line(text: &str, password: &str) -> String {
    let mut line = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if !password.is_empty() {
        line = line.replace(password, "<password>");
    }
    if line.chars().count() > MAX_DETAIL_CHARS {
        line = line.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "…";
    }
    line
}

/// A libpq connection-string value: single-quoted, `\` and `'` escaped.
fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An SQL identifier, double-quoted.
fn sql_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal (standard_conforming_strings, the default since 9.1).
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_must_be_at_least_each_servers_major_version() {
        assert_eq!(major_version("15.10 (Debian 15.10-0+deb12u1)"), Some(15));
        assert_eq!(major_version(" 16.4"), Some(16));
        assert_eq!(major_version("nonsense"), None);
        check_pg_dump_covers(15, &[("active", "15.10"), ("standby", "14.2")]).unwrap();
        let error = check_pg_dump_covers(14, &[("active", "15.10 (Debian)"), ("standby", "14.2")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("pg_dump 14 is older than the active's Postgres server 15")
                && error.contains("postgresql-client-15"),
            "{error}"
        );
    }

    const PASSWORD: &str = "s3cr:et\\pa'ss word";

    fn endpoint() -> PgEndpoint {
        PgEndpoint::new("db.example", 5433, "tsb", "tsb", PASSWORD)
    }

    #[test]
    fn argv_carries_the_connection_but_never_the_password() {
        let args = psql_args(&endpoint(), &["SELECT 1"], Duration::from_secs(30));
        let joined = args.join(" ");
        assert!(
            !joined.contains(PASSWORD) && !joined.contains("s3cr"),
            "{joined}"
        );
        assert!(
            joined.contains("--dbname=host='db.example' port='5433' dbname='tsb' user='tsb'"),
            "{joined}"
        );
        assert!(joined.contains("--no-password"), "never prompts: {joined}");
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let shown = format!("{:?} {}", endpoint(), endpoint());
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains(&endpoint().password_summary()), "{shown}");
    }

    #[test]
    fn passfile_escapes_colons_and_backslashes() {
        assert_eq!(
            endpoint().passfile_line(),
            "*:*:*:*:s3cr\\:et\\\\pa'ss word\n"
        );
    }

    #[test]
    fn conninfo_and_sql_quote_what_would_break_them() {
        assert_eq!(conninfo_quote(r"a'b\c d"), r"'a\'b\\c d'");
        assert_eq!(sql_identifier(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(sql_literal("it's"), "'it''s'");
    }

    #[test]
    fn staging_names_fit_postgres_identifiers() {
        let names = RestoreNames::new("tsb");
        assert_eq!(names.staging, "tsb_mp_restore");
        assert_eq!(names.old, "tsb_mp_old");
        let long = "é".repeat(40);
        let names = RestoreNames::new(&long);
        assert!(
            names.staging.len() <= MAX_IDENTIFIER_BYTES && names.staging.ends_with(STAGING_SUFFIX)
        );
        assert!(names.old.len() <= MAX_IDENTIFIER_BYTES && names.old.ends_with(OLD_SUFFIX));
    }

    #[test]
    fn tool_output_becomes_one_line_without_the_password() {
        let stderr = format!("psql: error: connection failed\n  DETAIL: {PASSWORD}\n\n");
        assert_eq!(
            one_line(&stderr, PASSWORD),
            "psql: error: connection failed / DETAIL: <password>"
        );
        assert!(one_line(&"x".repeat(5000), "").chars().count() <= MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_address("pg:6543"),
            Ok((Some("pg".into()), Some(6543)))
        );
        assert_eq!(split_address("pg"), Ok((Some("pg".into()), None)));
        assert_eq!(
            split_address("[::1]:5432"),
            Ok((Some("::1".into()), Some(5432)))
        );
        assert_eq!(split_address("fd00::1"), Ok((Some("fd00::1".into()), None)));
        assert!(split_address("pg:http").is_err());
    }

    #[test]
    fn dump_digest_is_the_full_sha256_and_file_arguments_never_look_like_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dump");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(dump_sha256(&path).unwrap(), redact::hex_digest(b"abc"));
        assert!(dump_sha256(&dir.path().join("missing")).is_err());
        assert_eq!(file_argument(Path::new("-x.dump")), "./-x.dump");
        assert_eq!(file_argument(&path), path.display().to_string());
    }

    #[test]
    fn maintenance_is_never_the_target_itself() {
        assert_eq!(endpoint().maintenance().database, "postgres");
        assert_eq!(
            endpoint().at("postgres").maintenance().database,
            "template1"
        );
    }

    #[test]
    fn debian_bin_dirs_come_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9", "15", "13", "common"] {
            std::fs::create_dir(root.path().join(version)).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        assert_eq!(
            dirs,
            ["15", "13", "9"]
                .map(|version| root.path().join(version).join("bin"))
                .to_vec()
        );
    }
}
