//! The operator's guide, `docs/operations.md`, run: each ```sh block is
//! marked `<!-- tested: NAME -->` and run here in bash, as written, against
//! the real plane's two clusters, a real BIND9 and real PostgreSQL 15, its
//! variables set as the guide's table says; each test asserts what the
//! block is for. A block no test runs fails [`every_command_of_the_guide_is_run_by_a_test`].

mod bind_support;
mod failover_support;
mod pg_support;
mod plugin_support;

use std::collections::BTreeMap;
use std::time::Duration;

use bind_support::NAME;
use failover_support::{failover_args, refuse_once, synced_world};
use plugin_support::{Out, World};
use serde_json::Value;

const GUIDE: &str = include_str!("../../docs/operations.md");
const MARKER: &str = "<!-- tested: ";

/// The guide's ```sh blocks by name, each as written (dedented to its
/// fence), in the guide's order.
fn blocks() -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = GUIDE.lines().peekable();
    let mut marker: Option<String> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(MARKER) {
            marker = Some(rest.trim_end().trim_end_matches("-->").trim().to_string());
            continue;
        }
        if trimmed.starts_with("```sh") {
            let indent = line.len() - trimmed.len();
            let mut text = String::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                text.push_str(inner.get(indent..).unwrap_or(inner.trim_start()));
                text.push('\n');
            }
            let name = marker.take().unwrap_or_else(|| {
                panic!("docs/operations.md: a sh block without {MARKER}NAME -->:\n{text}")
            });
            blocks.push((name, text));
        } else if !trimmed.is_empty() {
            marker = None;
        }
    }
    blocks
}

fn block(name: &str) -> String {
    blocks()
        .into_iter()
        .find(|(found, _)| found == name)
        .unwrap_or_else(|| panic!("docs/operations.md has no block {name:?}"))
        .1
}

/// Runs the guide's block `name` in bash (the world's kubeconfig, `$NS`,
/// the plugins on PATH, its directory as the working one) with `env`.
async fn guide(world: &World, name: &str, env: &Env) -> Out {
    let exports: String = env
        .0
        .iter()
        .map(|(key, value)| {
            assert!(!value.contains('\''), "{key}={value}");
            format!("export {key}='{value}'\n")
        })
        .collect();
    world.shell(&format!("{exports}{}", block(name))).await
}

/// The guide's variables, as the table in its beginning names them.
#[derive(Clone, Default)]
struct Env(Vec<(String, String)>);

impl Env {
    /// `FROM`, `TO` and `FAILOVER_FLAGS`: `args` after `--from X --to Y`,
    /// without `--yes` (each block adds it).
    fn failover(args: &[String]) -> Env {
        assert_eq!((&args[1][..], &args[3][..]), ("--from", "--to"), "{args:?}");
        let flags: Vec<&str> = args[5..]
            .iter()
            .map(String::as_str)
            .filter(|arg| *arg != "--yes")
            .collect();
        assert!(flags.iter().all(|flag| !flag.contains(' ')), "{flags:?}");
        Env(vec![
            ("FROM".into(), args[2].clone()),
            ("TO".into(), args[4].clone()),
            ("FAILOVER_FLAGS".into(), flags.join(" ")),
        ])
    }

    fn with(mut self, key: &str, value: impl ToString) -> Env {
        self.0.retain(|(existing, _)| existing != key);
        self.0.push((key.into(), value.to_string()));
        self
    }
}

async fn run(world: &World, args: &[String]) -> Out {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    world.kubectl(&args).await
}

/// Each MP deployment's `spec.replicas` in `cluster`.
fn replicas(world: &World, cluster: &str) -> BTreeMap<String, i64> {
    let layout = kubectl_mp::tsb::layout::TsbLayout::default();
    std::iter::once(&layout.operator_deployment)
        .chain(&layout.mp_deployments)
        .map(|name| {
            let object = world
                .cluster(cluster)
                .object("apps", "deployments", Some(&world.ns), name)
                .unwrap_or_else(|| panic!("{cluster}/{name}"));
            (
                name.clone(),
                object["spec"]["replicas"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

fn configmap_entry(world: &World, cluster: &str, name: &str) -> Option<Value> {
    let configmap = world
        .cluster(cluster)
        .object("", "configmaps", Some(&world.ns), name)?;
    let data = configmap["data"]
        .as_object()?
        .values()
        .next()?
        .as_str()?
        .to_string();
    Some(serde_json::from_str(&data).expect("JSON in the ConfigMap"))
}

fn journal(world: &World) -> Value {
    configmap_entry(world, "standby", "mp-failover-journal").expect("the journal")
}

/// The ConfigMaps in `cluster` whose name starts with `prefix`.
async fn configmaps_named(world: &World, cluster: &str, prefix: &str) -> Vec<String> {
    let out = world
        .kubectl(&[
            "--context",
            cluster,
            "-n",
            &world.ns,
            "get",
            "configmaps",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|line| line.strip_prefix("configmap/"))
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// A live lease of a run that died 10 s ago, in `cluster`.
async fn put_dead_runs_lease(world: &World, cluster: &str) {
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10);
    let lease = serde_json::json!({
        "holder": "bob@laptop pid 7",
        "run": "0123456789abcdef",
        "failover": "failover-x active -> standby",
        "acquiredAt": renewed.to_string(),
        "renewedAt": renewed.to_string(),
        "seconds": 120,
    });
    let configmap = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mp-failover-lock", "namespace": world.ns},
        "data": {"lease.json": lease.to_string()},
    });
    let out = world
        .kubectl_with_stdin(
            &["--context", cluster, "apply", "-f", "-"],
            configmap.to_string().as_bytes(),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// The standby's front door does not answer (its load balancer moved where
/// nothing serves): the failover stops at step 5, after the fence and the
/// activation. The guide's failback is refused until the failover is
/// abandoned (its dry run changes nothing; a dead run's lock stops it until
/// `--force-unlock`, the lock holder shown by the guide's command); then the
/// failback restores the old active's recorded counts, and repoints the name.
#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_failover_is_kept_and_the_failback_restores_the_old_actives_counts() {
    let (world, bind) = synced_world().await;
    let before = replicas(&world, "active");
    assert!(before.values().all(|count| *count >= 1), "{before:?}");
    let status =
        serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.99"}]}}});
    let moved = world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "patch",
            "service",
            "envoy",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            &status.to_string(),
        ])
        .await;
    assert_eq!(moved.code, Some(0), "{}", moved.stderr);
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    let env = Env::failover(&args);

    // Going back over it is refused, saying how to give it up.
    let out = guide(&world, "failback", &env).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("is not finished: it is at step dns")
            && out.stderr.contains("--from active --to standby --abandon"),
        "{}",
        out.stderr
    );

    let out = guide(&world, "abandon-dry-run", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("✔ [3/8] fence")
            && out.stderr.contains("[5/8] dns not done")
            && out
                .stderr
                .contains("context \"active\" now: central 0/0 ready, envoy 0/0 ready")
            && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
    assert!(journal(&world)["abandonedAt"].is_null(), "dry run");
    // With -o json: one document on stdout, for a script.
    let out = world
        .kubectl(&[
            "mp-failover",
            "--from",
            "active",
            "--to",
            "standby",
            "--abandon",
            "--dry-run",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let document: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(document["dryRun"], true, "{document}");
    assert_eq!(
        document["sides"]["active"]["envoy"]["desired"], 0,
        "{document}"
    );
    assert_eq!(
        document["journal"]["fencedReplicas"]["envoy"], 2,
        "{document}"
    );
    assert!(
        document["nextSteps"][0]
            .as_str()
            .is_some_and(|step| step.contains("kubectl mp-failover --from standby --to active")),
        "{document}"
    );

    // A run that died holds the lock: named by the guide's command, it
    // stops the abandon until --force-unlock.
    for cluster in ["active", "standby"] {
        put_dead_runs_lease(&world, cluster).await;
    }
    let out = guide(&world, "lock-holder", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout.matches("bob@laptop pid 7").count(),
        2,
        "{}",
        out.stdout
    );
    let out = guide(&world, "abandon", &env).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("another run holds the pair's lock: bob@laptop pid 7")
            && out.stderr.contains("--force-unlock"),
        "{}",
        out.stderr
    );
    assert!(journal(&world)["abandonedAt"].is_null(), "nothing changed");

    let out = guide(&world, "force-unlock", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the pair's lock is taken from bob@laptop pid 7 (failover failover-x"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("fail back")
            && out
                .stderr
                .contains("kubectl mp-failover --from standby --to active"),
        "{}",
        out.stderr
    );
    let recorded = journal(&world);
    assert!(recorded["abandonedAt"].is_string(), "{recorded}");
    let copies = configmaps_named(&world, "standby", "mp-failover-journal-abandoned-").await;
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = configmap_entry(&world, "standby", &copies[0]).expect("the copy");
    assert_eq!(copy["id"], recorded["id"]);
    assert_eq!(copy["fencedReplicas"], recorded["fencedReplicas"]);
    for cluster in ["active", "standby"] {
        assert!(
            configmap_entry(&world, cluster, "mp-failover-lock").is_none(),
            "{cluster}: the lock is given up"
        );
    }
    // Once abandoned, it is not abandoned again, nor resumed.
    let mut resume = args.clone();
    resume.push("--resume".into());
    let out = run(&world, &resume).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("nothing to resume"), "{}", out.stderr);

    let out = guide(&world, "failback", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(replicas(&world, "active"), before, "the recorded counts");
    for (name, count) in replicas(&world, "standby") {
        assert_eq!(count, 0, "standby {name} fenced by the failback");
    }
    let answer = kubectl_mp::dns::lookup(bind.addr, NAME)
        .await
        .expect("lookup")
        .expect("an answer");
    let active_front = kubectl_mp::dns::DnsTarget::Address(world.cluster("active").front_address());
    assert_eq!(answer.targets, vec![active_front], "the name is repointed");
}

/// A port nothing listens on (one just freed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// With a database each, a failover stopped at the fence is abandoned; the
/// guide finds the standby's pre-restore dump (checked by its digest) and
/// puts it back: the row the standby held before the failover is there
/// again. Leftover staging databases are listed and dropped. Before it
/// all, the reachability check passes for what answers and names what
/// does not.
#[tokio::test(flavor = "multi_thread")]
async fn the_guide_puts_the_standbys_backup_back_drops_leftovers_and_checks_reachability() {
    let (world, bind) = synced_world().await;
    let (active_pg, standby_pg) = (
        pg_support::PgCluster::start("active"),
        pg_support::PgCluster::start("standby"),
    );
    active_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'tetrate')");
    standby_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'standby-before')");
    let mut args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let database = args.iter().position(|arg| arg == "shared").unwrap();
    args[database] = "separate".into();
    let mut passfile = String::new();
    for (side, cluster) in [("from", &active_pg), ("to", &standby_pg)] {
        let password_file = world.path(&format!("{side}.pw"));
        std::fs::write(&password_file, &cluster.password).expect("password file");
        args.extend([
            format!("--{side}-pg-host"),
            "127.0.0.1".into(),
            format!("--{side}-pg-port"),
            cluster.port.to_string(),
            format!("--{side}-pg-password-file"),
            password_file.display().to_string(),
        ]);
        let escaped = cluster.password.replace('\\', "\\\\").replace(':', "\\:");
        passfile.push_str(&format!("127.0.0.1:{}:*:tsb:{escaped}\n", cluster.port));
    }
    let pgpass = world.path("pgpass");
    std::fs::write(&pgpass, passfile).expect("passfile");
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    // Before the failover, while both front doors serve.
    let reachable = Env::failover(&args)
        .with("TO_PG_HOST", "127.0.0.1")
        .with("TO_PG_PORT", standby_pg.port)
        .with("FROM_PG_HOST", "127.0.0.1")
        .with("FROM_PG_PORT", active_pg.port)
        .with("DNS_SERVER", bind.addr)
        .with("FROM_FRONT", world.cluster("active").front_address())
        .with("TO_FRONT", world.cluster("standby").front_address());
    let out = guide(&world, "reachability", &reachable).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("reachable ").count(),
        6,
        "{}",
        out.stdout
    );
    let closed = closed_port();
    let one_closed = reachable.with("TO_PG_PORT", closed);
    let out = guide(&world, "reachability", &one_closed).await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("UNREACHABLE  127.0.0.1:{closed}")),
        "{}",
        out.stdout
    );
    world
        .cluster("active")
        .add_fault(refuse_once("patch", "/deployments/tsb/scale", 500));
    let out = run(&world, &args).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 3 (fence)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        standby_pg.tsb_sql("SELECT value FROM config"),
        "tetrate",
        "restored"
    );

    let env = Env::failover(&args)
        .with("TO_PG_HOST", "127.0.0.1")
        .with("TO_PG_PORT", standby_pg.port)
        .with("TO_PG_USER", "tsb")
        .with("TO_PG_DB", "tsb")
        .with("FROM_PG_HOST", "127.0.0.1")
        .with("FROM_PG_PORT", active_pg.port)
        .with("PGPASSFILE", pgpass.display());
    let out = guide(&world, "abandon", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("\"active\" was not fenced by this failover")
            && out.stderr.contains(
                "give \"standby\" back what the database step stopped: kubectl --context standby"
            )
            && out.stderr.contains("-standby-before.dump"),
        "{}",
        out.stderr
    );

    let out = guide(&world, "backup-path", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let backup = out
        .stdout
        .trim()
        .strip_suffix(": OK")
        .unwrap_or_else(|| panic!("sha256sum says OK: {}", out.stdout))
        .to_string();
    assert!(backup.ends_with("-standby-before.dump"), "{backup}");
    let put_back = env.clone().with("BACKUP_FILE", &backup);
    let out = guide(&world, "put-back", &put_back).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        standby_pg.tsb_sql("SELECT value FROM config"),
        "standby-before",
        "the standby's database as it was before the failover"
    );
    let standby = replicas(&world, "standby");
    assert_eq!((standby["tsb"], standby["iam"]), (0, 0), "{standby:?}");

    // A run stopped mid-restore leaves these behind.
    for leftover in ["tsb_mp_restore", "tsb_mp_old"] {
        standby_pg.sql_as("tsb", "postgres", &format!("CREATE DATABASE {leftover}"));
    }
    let out = guide(&world, "leftovers", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "tsb_mp_old\ntsb_mp_restore");
    let out = guide(&world, "drop-leftovers", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let databases = standby_pg.databases();
    assert!(
        !databases.iter().any(|name| name.starts_with("tsb_mp_"))
            && databases.contains(&"tsb".to_string()),
        "{databases:?}"
    );
}

/// After `--disaster`, the old active returns running its MP: the guide's
/// check says it is not fenced; the by-hand fence stops it and the check
/// says fenced; a deployment scaled up again is caught by the check, and
/// the failover's own command (without --disaster) fences it again.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_disaster_the_guide_fences_the_old_active_and_checks_it_stays_fenced() {
    let (world, bind) = synced_world().await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    world.cluster("active").set_down(true).await.expect("down");
    let mut disaster = args.clone();
    disaster.extend(["--disaster".into(), "--request-timeout".into(), "3s".into()]);
    let out = run(&world, &disaster).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    world.cluster("active").set_down(false).await.expect("up");
    let env = Env::failover(&args);

    let out = guide(&world, "fence-check", &env).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains("NOT FENCED: envoy wants 2 replicas"),
        "{}",
        out.stdout
    );

    let out = guide(&world, "fence-by-hand", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The operator went first: nothing scales the MP back up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (name, count) in replicas(&world, "active") {
        assert_eq!(count, 0, "active {name} fenced");
    }
    let out = guide(&world, "fence-check", &env).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "fenced: every MP deployment at 0");

    let scaled = world
        .kubectl(&[
            "--context",
            "active",
            "-n",
            &world.ns,
            "scale",
            "deployment",
            "tsb",
            "--replicas=1",
        ])
        .await;
    assert_eq!(scaled.code, Some(0), "{}", scaled.stderr);
    let out = guide(&world, "fence-check", &env).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "NOT FENCED: tsb wants 1 replicas");

    let out = guide(&world, "fence-with-the-tool", &env).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("fence"), "{}", out.stderr);
    let out = guide(&world, "fence-check", &env).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);

    // A cluster it cannot read is never called fenced.
    let out = guide(&world, "fence-check", &env.with("FROM", "no-such-context")).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stdout.contains("UNKNOWN"), "{}", out.stdout);
}

/// Every ```sh block of the guide is marked, named once, and run by a test
/// of this file: an untested command cannot be added.
#[test]
fn every_command_of_the_guide_is_run_by_a_test() {
    let blocks = blocks();
    assert!(blocks.len() >= 10, "{blocks:?}");
    assert_eq!(
        GUIDE.matches("```sh").count(),
        blocks.len(),
        "every sh block is found"
    );
    let source = include_str!("operations.rs");
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &blocks {
        assert!(seen.insert(name), "block {name:?} is named twice");
        assert!(
            source.contains(&format!("guide(&world, \"{name}\"")),
            "docs/operations.md block {name:?} is run by no test"
        );
    }
}
