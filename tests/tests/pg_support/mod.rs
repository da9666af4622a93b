//! Throwaway PostgreSQL 15 clusters for the database tests: initdb into a
//! temporary directory, a random free port on 127.0.0.1, password (scram)
//! login over TCP for the user `tsb` owning the database `tsb`, trust over
//! the cluster's own Unix socket for the test's setup. Stopped and removed
//! on drop.
//!
//! initdb refuses to run as root, and CI runs as root: then every server
//! command runs as the `postgres` system user (which the postgresql-15
//! package creates), in a directory that user owns.
#![allow(dead_code)] // each test file uses its own part of this

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kubectl_mp::database::{PgEndpoint, PgTools};
use mp_sandbox::pki::IssuedCert;

/// Debian's postgresql-15 server and client binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
pub const USER: &str = "tsb";
pub const DATABASE: &str = "tsb";
const SUPERUSER: &str = "postgres";
const SERVER_OS_USER: &str = "postgres";
/// pg_ctl's own bound on start and stop.
const PG_CTL_WAIT_SECS: &str = "30";
const START_ATTEMPTS: u32 = 3;

/// The client tools of the installed server version.
pub fn tools() -> PgTools {
    PgTools::locate(Some(Path::new(PG_BIN))).unwrap_or_else(|error| {
        panic!("{error} (the tests need postgresql-15; .ci/run installs it)")
    })
}

/// A running throwaway cluster.
pub struct PgCluster {
    pub name: String,
    pub port: u16,
    /// The `tsb` user's password: with `:`, `\`, `'` and a space, so that
    /// every quoting and escaping path is exercised.
    pub password: String,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// Server options that turn TLS on, or empty.
    tls_options: String,
    run_as_postgres: bool,
    root: tempfile::TempDir,
}

impl PgCluster {
    /// initdb, start, and create the `tsb` user (LOGIN CREATEDB) and database.
    pub fn start(name: &str) -> PgCluster {
        PgCluster::launch(name, None)
    }

    /// As [`PgCluster::start`], serving TLS with `certificate` too.
    pub fn start_with_tls(name: &str, certificate: &IssuedCert) -> PgCluster {
        PgCluster::launch(name, Some(certificate))
    }

    fn launch(name: &str, tls: Option<&IssuedCert>) -> PgCluster {
        let initdb = Path::new(PG_BIN).join("initdb");
        assert!(
            initdb.is_file(),
            "{} not found: the database tests need the PostgreSQL 15 server \
             (apt-get install postgresql-15; .ci/run installs it)",
            initdb.display()
        );
        let run_as_postgres = running_as_root();
        let owner = run_as_postgres.then(postgres_ids);
        let root = tempfile::Builder::new()
            .prefix(&format!("kubectl-mp-pg-{name}-"))
            .tempdir()
            .expect("temporary directory");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(root.path(), Some(uid), Some(gid))
                .expect("chown the cluster directory to postgres");
        }
        let mut tls_options = String::new();
        if let Some(certificate) = tls {
            for (file, contents) in [
                ("server.crt", &certificate.cert_pem),
                ("server.key", &certificate.key_pem),
            ] {
                // The server insists on a key only its own user can read.
                let path = root.path().join(file);
                std::fs::write(&path, contents).expect("write the server's TLS files");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod the server's TLS files");
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .expect("chown the server's TLS files to postgres");
                }
            }
            tls_options = format!(
                " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                root.path().display()
            );
        }
        let password = format!("pw:{}\\ 'x", random_hex(12));
        let mut cluster = PgCluster {
            name: name.to_string(),
            port: 0,
            password,
            data_dir: root.path().join("data"),
            socket_dir: root.path().to_path_buf(),
            tls_options,
            run_as_postgres,
            root,
        };
        cluster.server_command(
            "initdb",
            &[
                "--no-sync",
                "--pgdata",
                &cluster.data_dir.display().to_string(),
                "--username",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        cluster.start_on_a_free_port();
        cluster.admin_sql(&format!(
            "CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{}'",
            cluster.password.replace('\'', "''")
        ));
        cluster.admin_sql(&format!("CREATE DATABASE {DATABASE} OWNER {USER}"));
        cluster
    }

    fn start_on_a_free_port(&mut self) {
        let log = self.root.path().join("server.log");
        for attempt in 1..=START_ATTEMPTS {
            // Another process may take the port between its release and the
            // server's bind: then try another one.
            self.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off \
                 -c shared_buffers=16MB -c max_connections=30{}",
                self.port,
                self.socket_dir.display(),
                self.tls_options
            );
            let output = self.try_server_command(
                "pg_ctl",
                &[
                    "start",
                    "--wait",
                    "--timeout",
                    PG_CTL_WAIT_SECS,
                    "--pgdata",
                    &self.data_dir.display().to_string(),
                    "--log",
                    &log.display().to_string(),
                    "-o",
                    &options,
                ],
            );
            if output.status.success() {
                return;
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < START_ATTEMPTS && server_log.contains("could not bind"),
                "cluster {}: pg_ctl start failed: {}\nserver log:\n{server_log}",
                self.name,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// Logs in as `tsb` over TCP with the password.
    pub fn endpoint(&self) -> PgEndpoint {
        PgEndpoint::new(
            "127.0.0.1",
            self.port,
            DATABASE,
            USER,
            self.password.clone(),
        )
    }

    /// SQL as the superuser on `postgres` (trust over the Unix socket).
    pub fn admin_sql(&self, sql: &str) -> String {
        self.sql_as(SUPERUSER, "postgres", sql)
    }

    /// SQL as `tsb` on `tsb`, so what it creates belongs to the MP's user.
    pub fn tsb_sql(&self, sql: &str) -> String {
        self.sql_as(USER, DATABASE, sql)
    }

    /// Unaligned, tuples-only output of `sql`, trimmed.
    pub fn sql_as(&self, user: &str, database: &str, sql: &str) -> String {
        let output = Command::new(Path::new(PG_BIN).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", &self.socket_dir.display().to_string()])
            .args(["-p", &self.port.to_string(), "-U", user, "-d", database])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "cluster {}: psql as {user} on {database} failed for {sql:?}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// A client of the `tsb` database (over TCP, as `tsb`) busy in a long
    /// query, once the server lists it. Killed when dropped.
    pub async fn hold_connection(&self) -> tokio::process::Child {
        self.hold_in("SELECT pg_sleep(60)").await
    }

    /// A client holding `table` locked against every reader (a dump waits
    /// for it) for a minute, once the server lists it. Killed when dropped.
    pub async fn hold_table_lock(&self, table: &str) -> tokio::process::Child {
        self.hold_in(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)"
        ))
        .await
    }

    /// Ends the holding clients' sessions on the server (killing the client
    /// alone leaves its query running until it next writes to it).
    pub fn end_holders(&self) {
        self.admin_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'test-holder'",
        );
    }

    async fn hold_in(&self, sql: &str) -> tokio::process::Child {
        let child = tokio::process::Command::new(Path::new(PG_BIN).join("psql"))
            .args(["-X", "-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", USER, "-d", DATABASE])
            .args(["-c", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGAPPNAME", "test-holder")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run psql");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.admin_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'test-holder'",
        ) != "1"
        {
            assert!(
                Instant::now() < deadline,
                "cluster {}: the holding client never connected",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child
    }

    /// The databases of the cluster, sorted, without the templates.
    pub fn databases(&self) -> Vec<String> {
        self.admin_sql("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn server_command(&self, program: &str, args: &[&str]) {
        let output = self.try_server_command(program, args);
        assert!(
            output.status.success(),
            "cluster {}: {program} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn try_server_command(&self, program: &str, args: &[&str]) -> Output {
        let program = Path::new(PG_BIN).join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_OS_USER, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            // Immediate: the data is thrown away anyway.
            let _ = self.try_server_command(
                "pg_ctl",
                &[
                    "stop",
                    "--mode=immediate",
                    "--wait",
                    "--timeout",
                    PG_CTL_WAIT_SECS,
                    "--pgdata",
                    &self.data_dir.display().to_string(),
                ],
            );
        }
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid() == 0)
        .unwrap_or(false)
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, SERVER_OS_USER])
            .output()
            .expect("run id");
        assert!(
            output.status.success(),
            "running as root, the tests start Postgres as the {SERVER_OS_USER:?} user, \
             which does not exist: install postgresql-15 (.ci/run does)"
        );
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut buffer))
        .expect("read /dev/urandom");
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}
