//! The failover's database step against real PostgreSQL 15 clusters: where
//! the connection details come from, the client tools, dump and restore.

mod pg_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kubectl_mp::Exit;
use kubectl_mp::database::{
    PgEndpoint, PgOverrides, PgTools, check_reachable, check_restore_privileges, dump, dump_sha256,
    endpoint_from, restore,
};
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::seed::{SeedContext, seed_objects};
use mp_sandbox::{CertVariant, SeedKind};
use pg_support::{PgCluster, tools};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

fn seeded(kind: SeedKind, want_kind: &str, name: &str) -> Value {
    let root = CertAuthority::new_root("test root");
    let objects = seed_objects(&SeedContext {
        cluster_name: "active",
        namespace: "tsb",
        kind,
        certs: CertVariant::SharedRoot,
        shared_root: &root,
        floating_dns_name: "tsb.example.com",
        front_address: "10.20.30.40".parse().unwrap(),
    });
    objects
        .into_iter()
        .find(|object| object["kind"] == want_kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the {kind:?} seed has no {want_kind} {name}"))
}

fn secret(data: &[(&str, &str)]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some("postgres-credentials".into());
    secret.string_data = Some(
        data.iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    );
    secret
}

fn password_of(endpoint: &PgEndpoint) -> String {
    // The password is private: tell it by its summary.
    endpoint.password_summary()
}

#[test]
fn endpoint_comes_from_the_seeded_spec_and_secret_of_both_install_models() {
    let management_plane = seeded(SeedKind::TsbGeneric, "ManagementPlane", "managementplane");
    for kind in [SeedKind::TsbGeneric, SeedKind::TsbHelm] {
        let credentials: Secret =
            serde_json::from_value(seeded(kind, "Secret", "postgres-credentials")).unwrap();
        // The spec alone (as helm values carry it) and the whole object both work.
        for spec in [&management_plane["spec"], &management_plane] {
            let endpoint =
                endpoint_from(Some(spec), Some(&credentials), &PgOverrides::default()).unwrap();
            assert_eq!(endpoint.host, "postgres.active.mp.internal");
            assert_eq!(endpoint.port, 5432);
            assert_eq!(endpoint.database, "tsb");
            assert_eq!(endpoint.user, "tsb");
            let seeded_password = &credentials.data.as_ref().unwrap()["password"].0;
            assert_eq!(
                password_of(&endpoint),
                PgEndpoint::new("", 0, "", "", String::from_utf8_lossy(seeded_password))
                    .password_summary(),
                "{kind:?}"
            );
            // Only the generic seed's Secret carries the Postgres CA.
            assert_eq!(
                endpoint.ca_cert.is_some(),
                kind == SeedKind::TsbGeneric,
                "{kind:?}"
            );
        }
    }
}

#[test]
fn endpoint_reads_older_address_string_ports_other_keys_and_overrides_win() {
    let older = json!({"dataStore": {"postgres": {"address": "pg.old:6543", "name": "tsbdb", "sslMode": "require"}}});
    let credentials = secret(&[("POSTGRES_USER", "admin"), ("POSTGRES_PASSWORD", "pw\n")]);
    let endpoint =
        endpoint_from(Some(&older), Some(&credentials), &PgOverrides::default()).unwrap();
    assert_eq!(
        (
            endpoint.host.as_str(),
            endpoint.port,
            endpoint.database.as_str(),
            endpoint.user.as_str()
        ),
        ("pg.old", 6543, "tsbdb", "admin")
    );
    assert_eq!(endpoint.sslmode.as_deref(), Some("require"));
    assert_eq!(
        password_of(&endpoint),
        PgEndpoint::new("", 0, "", "", "pw").password_summary(),
        "a trailing newline in the Secret is not part of the password"
    );

    let string_port =
        json!({"dataStore": {"postgres": {"host": "pg", "port": "7000", "name": "tsb"}}});
    let endpoint = endpoint_from(
        Some(&string_port),
        Some(&credentials),
        &PgOverrides::default(),
    )
    .unwrap();
    assert_eq!(endpoint.port, 7000);

    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "from-file\n").unwrap();
    let overrides = PgOverrides {
        host: Some("127.0.0.1".into()),
        port: Some(15432),
        database: Some("other".into()),
        user: Some("me".into()),
        password_file: Some(password_file),
        sslmode: Some("disable".into()),
        ..PgOverrides::default()
    };
    let endpoint = endpoint_from(Some(&older), Some(&credentials), &overrides).unwrap();
    assert_eq!(
        format!("{endpoint} {:?}", endpoint.sslmode),
        "postgres://me@127.0.0.1:15432/other Some(\"disable\")"
    );
    assert_eq!(
        password_of(&endpoint),
        PgEndpoint::new("", 0, "", "", "from-file").password_summary()
    );

    // Flags alone are enough: no spec, no Secret.
    assert!(endpoint_from(None, None, &overrides).is_ok());
}

#[test]
fn missing_pieces_are_named_with_the_flag_to_pass() {
    let overrides = PgOverrides {
        flag_prefix: "--to-pg".into(),
        ..PgOverrides::default()
    };
    let error = endpoint_from(None, None, &overrides).unwrap_err();
    assert_eq!(error.exit(), Exit::Usage);
    let text = error.to_string();
    for flag in [
        "--to-pg-host",
        "--to-pg-database",
        "--to-pg-user",
        "--to-pg-password-file",
    ] {
        assert!(text.contains(flag), "{flag} not named: {text}");
    }
    assert!(!text.contains('\n'), "{text}");

    let spec = json!({"dataStore": {"postgres": {"host": "pg", "name": "tsb"}}});
    let error = endpoint_from(
        Some(&spec),
        Some(&secret(&[("username", "tsb")])),
        &PgOverrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("password (no password/POSTGRES_PASSWORD in the postgres-credentials Secret; pass --pg-password-file)")
            && !error.contains("host"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let error = endpoint_from(
        Some(&spec),
        Some(&secret(&[("username", "tsb")])),
        &PgOverrides {
            password_file: Some(empty),
            ..PgOverrides::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("--pg-password-file") && error.contains("is empty"),
        "{error}"
    );

    let bad_port =
        json!({"dataStore": {"postgres": {"host": "pg", "port": "http", "name": "tsb"}}});
    let error = endpoint_from(
        Some(&bad_port),
        Some(&secret(&[("username", "tsb"), ("password", "x")])),
        &PgOverrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("not a port number") && error.contains("--pg-port"),
        "{error}"
    );
}

#[test]
fn locate_lists_exactly_the_missing_tools_and_how_to_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let psql = dir.path().join("psql");
    std::fs::write(&psql, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&psql, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = PgTools::locate(Some(dir.path())).unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "PostgreSQL client tools not found in {}: pg_dump, pg_restore;",
            dir.path().display()
        )),
        "{error}"
    );
    assert!(
        error.contains("postgresql-client-15") && error.contains("--pg-bin-dir"),
        "{error}"
    );

    let tools = tools();
    assert_eq!(tools.psql(), Path::new(pg_support::PG_BIN).join("psql"));
    let found =
        PgTools::locate(None).expect("the client tools are on PATH or under /usr/lib/postgresql");
    assert!(found.pg_restore().is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn reachable_reports_the_version_and_a_wrong_password_is_one_clear_line() {
    let cluster = PgCluster::start("reach");
    let tools = tools();
    let version = check_reachable(&tools, &cluster.endpoint(), TIMEOUT)
        .await
        .unwrap();
    assert!(version.starts_with("15."), "{version}");

    let wrong_password = "Wr0ng:pass\\word";
    let wrong = PgEndpoint::new("127.0.0.1", cluster.port, "tsb", "tsb", wrong_password);
    let error = check_reachable(&tools, &wrong, TIMEOUT).await.unwrap_err();
    let text = error.to_string();
    assert_eq!(error.exit(), Exit::Cluster, "{text}");
    assert!(
        text.contains("password authentication failed for user \"tsb\""),
        "{text}"
    );
    assert!(text.contains("check the user and password"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(
        !text.contains("Wr0ng") && !text.contains(&cluster.password),
        "{text}"
    );

    // Nothing listens on a fresh free port once its listener is closed.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = PgEndpoint::new("127.0.0.1", closed_port, "tsb", "tsb", "x");
    let error = check_reachable(&tools, &down, TIMEOUT).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster);
    assert!(
        error.to_string().contains("check the host and port"),
        "{error}"
    );
}

/// Rows of the `service` table, one `id:name` per line.
fn rows(cluster: &PgCluster) -> String {
    cluster.tsb_sql("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM service")
}

fn write_active_rows(active: &PgCluster) {
    active.tsb_sql(
        "CREATE TABLE service (id int PRIMARY KEY, name text NOT NULL); \
         INSERT INTO service SELECT i, 'active-' || i FROM generate_series(1, 500) i; \
         CREATE INDEX service_name ON service (name); \
         CREATE VIEW service_names AS SELECT name FROM service",
    );
}

fn write_standby_rows(standby: &PgCluster) {
    standby.tsb_sql(
        "CREATE TABLE service (id int PRIMARY KEY, name text NOT NULL, extra int); \
         INSERT INTO service VALUES (1, 'standby-only', 7), (9999, 'stale', 0); \
         CREATE TABLE standby_only (x int); INSERT INTO standby_only VALUES (1)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_of_active_restored_into_standby_leaves_exactly_the_active_rows() {
    let (active, standby) = (PgCluster::start("active"), PgCluster::start("standby"));
    write_active_rows(&active);
    write_standby_rows(&standby);
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("active.dump");

    let info = dump(&tools, &active.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(info.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(info.bytes > 1000, "{info}");
    assert_eq!(info.sha256.len(), 64);
    assert_eq!(dump_sha256(&path).unwrap(), info.sha256);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left next to the dump"
    );
    assert!(info.to_string().contains(&info.sha256[..12]), "{info}");
    assert!(
        !info.to_string().contains(&info.sha256),
        "only a prefix is shown: {info}"
    );

    restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    let expected = rows(&active);
    assert!(expected.starts_with("1:active-1,2:active-2"), "{expected}");
    assert_eq!(rows(&standby), expected);
    assert_eq!(
        standby.tsb_sql("SELECT count(*) FROM pg_tables WHERE tablename = 'standby_only'"),
        "0",
        "the standby's own tables are gone"
    );
    assert_eq!(standby.tsb_sql("SELECT count(*) FROM service_names"), "500");
    assert_eq!(
        standby.tsb_sql(
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "tsb",
        "restored objects belong to the MP's user"
    );
    assert_eq!(
        standby.admin_sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'tsb'"),
        "tsb"
    );
    assert_eq!(
        standby.databases(),
        ["postgres", "tsb"],
        "no staging leftovers"
    );

    // Re-running converges on the same state.
    restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(rows(&standby), expected);
    assert_eq!(standby.databases(), ["postgres", "tsb"]);

    // A re-dump replaces the file in place, complete.
    active.tsb_sql("INSERT INTO service VALUES (501, 'later')");
    let again = dump(&tools, &active.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_ne!(again.sha256, info.sha256);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_terminates_a_client_holding_the_standby_database() {
    let (active, standby) = (PgCluster::start("active"), PgCluster::start("standby"));
    write_active_rows(&active);
    write_standby_rows(&standby);
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("active.dump");
    dump(&tools, &active.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();

    let holder = standby.hold_connection().await;
    restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(rows(&standby), rows(&active));
    let output = tokio::time::timeout(Duration::from_secs(10), holder.wait_with_output())
        .await
        .expect("the holding client ends once its connection is terminated")
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("terminat"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_converges_after_an_interrupted_run_and_when_the_target_is_gone() {
    let (active, standby) = (PgCluster::start("active"), PgCluster::start("standby"));
    write_active_rows(&active);
    write_standby_rows(&standby);
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("active.dump");
    dump(&tools, &active.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();

    // What a run interrupted during the restore or after the swap leaves.
    standby.admin_sql("CREATE DATABASE tsb_mp_restore OWNER tsb");
    standby.sql_as("tsb", "tsb_mp_restore", "CREATE TABLE half_done (x int)");
    standby.admin_sql("CREATE DATABASE tsb_mp_old OWNER tsb");
    restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(rows(&standby), rows(&active));
    assert_eq!(standby.databases(), ["postgres", "tsb"]);

    // A target that does not exist (yet) is created.
    standby.admin_sql("DROP DATABASE tsb");
    restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(rows(&standby), rows(&active));
    assert_eq!(standby.databases(), ["postgres", "tsb"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_before_any_change_without_privileges_or_with_a_bad_dump() {
    let standby = PgCluster::start("standby");
    write_standby_rows(&standby);
    let before = rows(&standby);
    let tools = tools();
    let dir = tempfile::tempdir().unwrap();

    let not_a_dump = dir.path().join("not.dump");
    std::fs::write(&not_a_dump, "plain text").unwrap();
    let error = restore(&tools, &standby.endpoint(), &not_a_dump, TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is not a dump pg_restore can read"),
        "{error}"
    );
    let error = restore(
        &tools,
        &standby.endpoint(),
        &dir.path().join("missing"),
        TIMEOUT,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("not found"), "{error}");

    check_restore_privileges(&tools, &standby.endpoint(), TIMEOUT)
        .await
        .unwrap();
    let path = dir.path().join("standby.dump");
    dump(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap();
    standby.admin_sql("ALTER ROLE tsb NOCREATEDB");
    let error = restore(&tools, &standby.endpoint(), &path, TIMEOUT)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("may not create databases") && text.contains("ALTER ROLE \"tsb\" CREATEDB"),
        "{text}"
    );

    standby.admin_sql("ALTER ROLE tsb CREATEDB; ALTER DATABASE tsb OWNER TO postgres");
    let text = check_restore_privileges(&tools, &standby.endpoint(), TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("is owned by \"postgres\"")
            && text.contains("ALTER DATABASE \"tsb\" OWNER TO \"tsb\""),
        "{text}"
    );
    assert_eq!(rows(&standby), before, "nothing changed");
    assert_eq!(standby.databases(), ["postgres", "tsb"]);
}

/// Stand-ins for the client tools that record how they were run.
const RECORDING_TOOL: &str = r#"#!/bin/sh
log="$(dirname "$0")/calls.log"
{
  printf 'argv:'; for arg in "$@"; do printf ' [%s]' "$arg"; done; echo
  printf 'passfile: %s mode %s line %s\n' "$PGPASSFILE" "$(stat -c %a "$PGPASSFILE")" "$(cat "$PGPASSFILE")"
  echo "pgpassword: ${PGPASSWORD-unset}"
} >> "$log"
for arg in "$@"; do
  case "$arg" in --file=*) printf 'dump' > "${arg#--file=}" ;; esac
done
echo "15.0"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_password_reaches_the_tools_in_a_private_passfile_never_in_argv() {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["pg_dump", "pg_restore", "psql"] {
        let path = bin.path().join(tool);
        std::fs::write(&path, RECORDING_TOOL).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tools = PgTools::locate(Some(bin.path())).unwrap();
    let password = "Sup3r:secret\\value";
    let endpoint = PgEndpoint::new("db.example", 5433, "tsb", "tsb", password);

    assert_eq!(
        check_reachable(&tools, &endpoint, TIMEOUT).await.unwrap(),
        "15.0"
    );
    let dump_path = bin.path().join("out.dump");
    dump(&tools, &endpoint, &dump_path, TIMEOUT).await.unwrap();

    let log = std::fs::read_to_string(bin.path().join("calls.log")).unwrap();
    let argv: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("argv:"))
        .collect();
    assert_eq!(argv.len(), 2, "{log}");
    for line in &argv {
        assert!(
            !line.contains("Sup3r") && !line.contains("secret"),
            "{line}"
        );
        assert!(line.contains("host='db.example' port='5433'"), "{line}");
    }
    for line in log.lines().filter(|line| line.starts_with("passfile:")) {
        assert!(line.contains(" mode 600 "), "{line}");
        assert!(
            line.ends_with(r"line *:*:*:*:Sup3r\:secret\\value"),
            "{line}"
        );
        let passfile = line.split(' ').nth(1).unwrap();
        assert!(
            !Path::new(passfile).exists(),
            "the passfile is removed after the run"
        );
    }
    assert!(
        log.lines()
            .filter(|line| line.starts_with("pgpassword:"))
            .all(|line| line == "pgpassword: unset"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_checks_the_server_against_the_ca_of_the_credentials() {
    let ca = CertAuthority::new_root("postgres ca");
    let certificate = ca.issue_server(
        "postgres",
        &["localhost"],
        &["127.0.0.1".parse().unwrap()],
        Duration::from_secs(3600),
    );
    let cluster = PgCluster::start_with_tls("tls", &certificate);
    let tools = tools();
    let spec = json!({"dataStore": {"postgres": {
        "host": "127.0.0.1", "port": cluster.port, "name": "tsb", "sslMode": "verify-full"
    }}});
    let credentials = secret(&[
        ("username", "tsb"),
        ("password", &cluster.password),
        ("ca.crt", ca.root_pem()),
    ]);
    let endpoint = endpoint_from(Some(&spec), Some(&credentials), &PgOverrides::default()).unwrap();
    // verify-full succeeding means TLS with a certificate for 127.0.0.1 from that CA.
    assert!(check_reachable(&tools, &endpoint, TIMEOUT).await.is_ok());

    let without_ca = secret(&[("username", "tsb"), ("password", &cluster.password)]);
    let endpoint = endpoint_from(Some(&spec), Some(&without_ca), &PgOverrides::default()).unwrap();
    let error = check_reachable(&tools, &endpoint, TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("root certificate"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.crt");
    std::fs::write(
        &other_ca,
        CertAuthority::new_root("someone else").root_pem(),
    )
    .unwrap();
    let overrides = PgOverrides {
        ca_file: Some(other_ca),
        ..PgOverrides::default()
    };
    let wrong = endpoint_from(Some(&spec), Some(&credentials), &overrides).unwrap();
    let error = check_reachable(&tools, &wrong, TIMEOUT).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster);
    assert!(
        error.to_string().contains("certificate verify failed")
            && error.to_string().contains("check the Postgres CA"),
        "{error}"
    );
}
