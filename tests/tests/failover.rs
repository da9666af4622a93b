//! `kubectl mp-failover` end to end: the real plane's two clusters, a real BIND9 for
//! the MP's name, real PostgreSQL for the separate-database case.

mod bind_support;
mod pg_support;
mod plugin_support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bind_support::{Bind, NAME, ZONE};
use kubectl_mp::Cluster;
use kubectl_mp::kube::kubeconfig::{ClientSettings, LoadedKubeconfig};
use kubectl_mp::tsb::mp;
use mp_sandbox::faults::{FaultAction, FaultRule};
use mp_sandbox::{CertVariant, SeedKind};
use plugin_support::{Out, World};
use serde_json::Value;

const MP_DEPLOYMENTS: [&str; 9] = [
    "tsb",
    "iam",
    "web",
    "oap",
    "otel-collector",
    "xcp-operator-central",
    "central",
    "mpc",
    "envoy",
];
const OPERATOR: &str = "tsb-operator-management-plane";

/// Two installed MPs (tctl model) whose certificates carry the DNS name.
async fn world() -> World {
    world_of(SeedKind::TsbGeneric).await
}

/// Two MPs installed as `kind` says, whose certificates carry the DNS name.
async fn world_of(kind: SeedKind) -> World {
    World::start_for(
        NAME,
        &[
            ("active", kind, CertVariant::SharedRoot),
            ("standby", kind, CertVariant::SharedRoot),
        ],
    )
    .await
}

/// [`world`] with its secrets synced, and a BIND serving the MP's name.
async fn synced_world() -> (World, Bind) {
    synced_world_of(SeedKind::TsbGeneric).await
}

/// [`world_of`] with its secrets synced, and a BIND serving the MP's name.
async fn synced_world_of(kind: SeedKind) -> (World, Bind) {
    let world = world_of(kind).await;
    let bind = Bind::start();
    sync_secrets(&world).await;
    (world, bind)
}

/// Whether the MP's name answers the standby's front address, and only it.
async fn points_at_standby(world: &World, bind: &Bind) -> bool {
    dns_answer(bind).await == vec![front_address(world, "standby")]
}

/// Runbook steps 1-2, so the standby holds the active's secrets.
async fn sync_secrets(world: &World) {
    let out = world.shell("kubectl mp-export --context active -n \"$NS\" -o - | kubectl mp-import --context standby -n \"$NS\" -f - --yes").await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

fn failover_args(bind: &Bind, from: &str, to: &str, key_file: &std::path::Path) -> Vec<String> {
    [
        "mp-failover",
        "--from",
        from,
        "--to",
        to,
        "--database",
        "shared",
        "--dns-backend",
        "rfc2136",
        "--dns-server",
        &bind.addr.to_string(),
        "--dns-zone",
        ZONE,
        "--tsig-key-file",
        &key_file.display().to_string(),
        "--dns-name",
        NAME,
        "--yes",
        "--ready-timeout",
        "20s",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// [`failover_args`] whose DNS change is a command that fails (exit 1), as a
/// DNS provider's CLI does when its API is down: it passes the preflight.
fn failing_dns_args(bind: &Bind, from: &str, to: &str) -> Vec<String> {
    let mut args = failover_args(bind, from, to, &bind.update_key_file());
    let backend = args.iter().position(|arg| arg == "rfc2136").unwrap();
    args[backend] = "exec".into();
    args.extend(["--dns-exec".into(), "false".into()]);
    args
}

/// [`failover_args`] with `--database separate` and each side's Postgres
/// given by flags (host, port, a 0600 password file).
fn separate_database_args(
    world: &World,
    bind: &Bind,
    active: &pg_support::PgCluster,
    standby: &pg_support::PgCluster,
) -> Vec<String> {
    let mut args = failover_args(bind, "active", "standby", &bind.update_key_file());
    let database = args.iter().position(|arg| arg == "shared").unwrap();
    args[database] = "separate".into();
    for (side, cluster) in [("from", active), ("to", standby)] {
        let password_file = world.path(&format!("{side}.pw"));
        std::fs::write(&password_file, &cluster.password).expect("password file");
        args.extend([
            format!("--{side}-pg-host"),
            "127.0.0.1".into(),
            format!("--{side}-pg-port"),
            cluster.endpoint().port.to_string(),
            format!("--{side}-pg-password-file"),
            password_file.display().to_string(),
        ]);
    }
    args
}

/// The standby's LoadBalancer reports `address` now; its front door stays
/// where it was (nothing serves at a loopback address no test listens on).
async fn move_standby_load_balancer(world: &World, address: &str) {
    let status = format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{address}"}}]}}}}}}"#);
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
            &status,
        ])
        .await;
    assert_eq!(moved.code, Some(0), "{}", moved.stderr);
}

/// A fault: the next `verb` request whose path contains `path` answers `status`.
fn refuse_once(verb: &str, path: &str, status: u16) -> FaultRule {
    FaultRule {
        verb: Some(verb.into()),
        path_contains: Some(path.into()),
        nth: None,
        times: Some(1),
        action: FaultAction::Status(status),
    }
}

async fn run(world: &World, args: &[String], extra: &[&str]) -> Out {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    world.kubectl(&all).await
}

fn deployment(world: &World, cluster: &str, name: &str) -> Value {
    world
        .cluster(cluster)
        .object("apps", "deployments", Some(&world.ns), name)
        .unwrap_or_else(|| panic!("{cluster}/{name}"))
}

fn replicas(world: &World, cluster: &str) -> BTreeMap<String, (i64, i64)> {
    std::iter::once(OPERATOR)
        .chain(MP_DEPLOYMENTS)
        .map(|name| {
            let object = deployment(world, cluster, name);
            let desired = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = object["status"]["readyReplicas"].as_i64().unwrap_or(0);
            (name.to_string(), (desired, ready))
        })
        .collect()
}

fn front_address(world: &World, cluster: &str) -> IpAddr {
    let service = world
        .cluster(cluster)
        .object("", "services", Some(&world.ns), "envoy")
        .expect("envoy service");
    service["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .expect("front ip")
        .parse()
        .expect("ip")
}

async fn dns_answer(bind: &Bind) -> Vec<IpAddr> {
    kubectl_mp::dns::lookup(bind.addr, NAME)
        .await
        .expect("lookup")
        .map(|(addresses, _)| addresses)
        .unwrap_or_default()
}

/// A JSON document of the journal ConfigMap: `journal.json` or `lock.json`.
fn journal_entry(world: &World, cluster: &str, key: &str) -> Option<Value> {
    let configmap =
        world
            .cluster(cluster)
            .object("", "configmaps", Some(&world.ns), "mp-failover-journal")?;
    Some(serde_json::from_str(configmap["data"][key].as_str()?).expect("JSON in the journal"))
}

fn journal(world: &World, cluster: &str) -> Option<Value> {
    journal_entry(world, cluster, "journal.json")
}

fn lock(world: &World, cluster: &str) -> Option<Value> {
    journal_entry(world, cluster, "lock.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_then_rerun_then_failback() {
    let (world, bind) = synced_world().await;
    let (active_front, standby_front) = (
        front_address(&world, "active"),
        front_address(&world, "standby"),
    );
    assert_ne!(active_front, standby_front);

    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for step in [
        "[1/6] preflight",
        "[2/6] database",
        "[3/6] fence",
        "[4/6] activate",
        "[5/6] dns",
        "[6/6] verify",
    ] {
        assert!(
            out.stderr.contains(&format!("✔ {step} done in ")),
            "{step}: {}",
            out.stderr
        );
    }
    assert!(
        out.stderr
            .contains("clients may keep the old answer (127.0.0.10,fd00::10 ttl 30s) up to 30s"),
        "{}",
        out.stderr
    );
    assert_eq!(dns_answer(&bind).await, vec![standby_front]);
    // Fenced, and it stays fenced: the operator went first, so nothing scales the MP back up.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for (name, (desired, ready)) in replicas(&world, "active") {
        assert_eq!((desired, ready), (0, 0), "active {name} must stay fenced");
    }
    for (name, (desired, ready)) in replicas(&world, "standby") {
        assert!(
            desired >= 1 && ready == desired,
            "standby {name} must serve: {desired}/{ready}"
        );
    }
    let recorded = journal(&world, "standby").expect("journal in the standby");
    assert!(recorded["finishedAt"].is_string(), "{recorded}");
    assert_eq!(recorded["fencedReplicas"]["envoy"], 2, "{recorded}");

    // Re-running a finished failover changes nothing.
    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("finished at"), "{}", out.stderr);
    assert_eq!(world.writes("active") + world.writes("standby"), 0);

    // Failback: the same flow the other way, with the recorded replica counts.
    let back = failover_args(&bind, "standby", "active", &bind.update_key_file());
    let out = run(&world, &back, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(dns_answer(&bind).await, vec![active_front]);
    let active = replicas(&world, "active");
    assert_eq!(
        active["envoy"],
        (2, 2),
        "recorded count restored: {active:?}"
    );
    assert_eq!(active[OPERATOR], (1, 1));
    for (name, (desired, _)) in replicas(&world, "standby") {
        assert_eq!(desired, 0, "standby {name} fenced after failback");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_failovers_live_lock_stops_it_before_any_change_until_it_expires() {
    let (world, bind) = synced_world().await;
    // The standby's journal: a finished failback (standby to active) whose
    // holder has just taken the lock again, as a second run starting would.
    let server = |name: &str| world.cluster(name).server_url().to_string();
    let recorded = serde_json::json!({
        "id": "failover-other",
        "from": {"context": "standby", "server": server("standby")},
        "to": {"context": "active", "server": server("active")},
        "namespace": world.ns,
        "startedAt": "2026-01-01T00:00:00.000Z",
        "disaster": false,
        "steps": {},
        "fencedReplicas": {},
        "finishedAt": "2026-01-01T00:01:00.000Z",
    });
    let held = |renewed: jiff::Timestamp| {
        serde_json::json!({
            "holder": "failover-other bob@laptop pid 7",
            "acquiredAt": renewed.to_string(),
            "renewedAt": renewed.to_string(),
            "seconds": 600,
        })
        .to_string()
    };
    std::fs::write(world.path("journal.json"), recorded.to_string()).expect("journal file");
    std::fs::write(world.path("lock.json"), held(jiff::Timestamp::now())).expect("lock file");
    let out = world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "create",
            "configmap",
            "mp-failover-journal",
            "--from-file=journal.json",
            "--from-file=lock.json",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ no other failover holds the lock in context \"standby\"")
            && out
                .stderr
                .contains("held by failover-other bob@laptop pid 7"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(world.writes("active") + world.writes("standby"), 0);

    // Another failover wrote the journal between our read and our write.
    world.cluster("standby").add_fault(refuse_once(
        "update",
        "/configmaps/mp-failover-journal",
        409,
    ));
    let expired = held(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(660));
    let patch = serde_json::json!({"data": {"lock.json": expired}}).to_string();
    let out = world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "patch",
            "configmap",
            "mp-failover-journal",
            "--type",
            "merge",
            "-p",
            &patch,
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let before = (replicas(&world, "active"), replicas(&world, "standby"));
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("changed since this failover read it: another failover is writing it; nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(
        (replicas(&world, "active"), replicas(&world, "standby")),
        before
    );

    // Its holder died 11 minutes ago: the lock has expired and is taken over.
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let journal = journal(&world, "standby").expect("journal");
    assert!(
        journal["id"] != "failover-other" && journal["finishedAt"].is_string(),
        "{journal}"
    );
    assert_eq!(
        lock(&world, "standby"),
        None,
        "a finished failover gives the lock up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_shows_every_step_and_changes_nothing() {
    let (world, bind) = synced_world().await;
    let before = (
        replicas(&world, "active"),
        replicas(&world, "standby"),
        dns_answer(&bind).await,
    );
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for needle in [
        "[2/6] database: shared",
        "[3/6] fence context \"active\": ",
        "tsb=0",
        "[4/6] activate context \"standby\"",
        &format!("[5/6] DNS: {NAME} A {}", front_address(&world, "standby")),
        "[6/6] verify",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert_eq!(
        (
            replicas(&world, "active"),
            replicas(&world, "standby"),
            dns_answer(&bind).await
        ),
        before
    );
    assert!(
        journal(&world, "standby").is_none(),
        "a dry run writes no journal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_stops_before_any_change_and_sync_secrets_fixes_it() {
    let world = world().await;
    let bind = Bind::start();
    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ standby secrets match the active's (differ: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(
        world.writes("active") + world.writes("standby"),
        0,
        "preflight is read-only"
    );

    let out = run(&world, &args, &["--sync-secrets"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("copied before the failover (--sync-secrets)"),
        "{}",
        out.stderr
    );
}

/// Issue 13: with the helm model the preflight compares what the model
/// requires, iam-signing-key and the Secrets the active's release values
/// render: a standby whose admin password differs fails it, naming
/// admin-credentials, and `--sync-secrets` copies it.
#[tokio::test(flavor = "multi_thread")]
async fn helm_preflight_compares_the_secrets_the_values_render_and_sync_copies_them() {
    let (world, bind) = synced_world_of(SeedKind::TsbHelm).await;
    // The standby's admin password is its own again (its own helm values).
    world
        .shell("kubectl --context standby -n \"$NS\" create secret generic admin-credentials --from-literal=admin=0b14d501a594442a01c6859541bcb3e8164d183d32937b851835442f69d5c94e --dry-run=client -o yaml | kubectl --context standby -n \"$NS\" apply -f -")
        .await
        .ok("the standby's own admin-credentials");
    let active_admin = world.secret("active", "admin-credentials").expect("seeded")["data"].clone();
    assert_ne!(
        world.secret("standby", "admin-credentials").unwrap()["data"],
        active_admin
    );

    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ standby secrets match the active's (differ: admin-credentials)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(world.writes("active") + world.writes("standby"), 0);

    let out = run(&world, &args, &["--sync-secrets"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "standby secrets differ (admin-credentials): copied before the failover (--sync-secrets)"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        world.secret("standby", "admin-credentials").unwrap()["data"],
        active_admin,
        "copied"
    );
    assert!(
        !out.all().contains(active_admin["admin"].as_str().unwrap()),
        "never a secret value: {}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interruption_at_each_step_exits_4_and_resume_converges() {
    let (world, bind) = synced_world().await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let fault = |path: &str| refuse_once("patch", path, 500);

    // Step 3, fence: the active refuses to scale tsb once.
    world
        .cluster("active")
        .add_fault(fault("/deployments/tsb/scale"));
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 3 (fence)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("run the same command with --resume"),
        "{}",
        out.stderr
    );
    let interrupted = journal(&world, "standby").expect("journal");
    let holder = lock(&world, "standby").expect("the lock stays with the stopped failover");
    assert!(
        holder["holder"].as_str().is_some_and(
            |holder| holder.starts_with(&format!("{} ", interrupted["id"].as_str().unwrap()))
        ),
        "{holder}"
    );
    assert_eq!(interrupted["fencedReplicas"]["envoy"], 2, "{interrupted}");
    let out = run(&world, &args, &[]).await;
    assert_eq!(
        out.code,
        Some(2),
        "without --resume it refuses: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("stopped before step fence"),
        "{}",
        out.stderr
    );

    // A resumed run whose preflight fails is still "stopped midway", not "nothing changed".
    world
        .cluster("standby")
        .add_fault(refuse_once("list", "/secrets", 403));
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the failover stays stopped before step fence"),
        "{}",
        out.stderr
    );

    // Step 4, activate: the standby refuses to scale web once.
    world
        .cluster("standby")
        .add_fault(fault("/deployments/web/scale"));
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("✔ [3/6] fence done"), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 4 (activate)"),
        "{}",
        out.stderr
    );

    // Step 5, DNS: the provider's command fails, then RFC 2136 does it.
    let failing = failing_dns_args(&bind, "active", "standby");
    let out = run(&world, &failing, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the DNS command `false`"),
        "the error names the command: {}",
        out.stderr
    );
    assert_ne!(
        dns_answer(&bind).await,
        vec![front_address(&world, "standby")],
        "refused update changes nothing"
    );

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("[4/6] activate already done at"),
        "{}",
        out.stderr
    );
    assert!(points_at_standby(&world, &bind).await);
    assert!(journal(&world, "standby").expect("journal")["finishedAt"].is_string());
    assert_eq!(lock(&world, "standby"), None, "released at the end");
}

/// A TSIG key the DNS server would not accept (wrong secret, wrong
/// algorithm, or not allowed to update the name) stops the failover in its
/// preflight: nothing is fenced, no journal is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_dns_key_the_server_would_refuse_stops_the_preflight_before_any_change() {
    let (world, bind) = synced_world().await;
    let before = (replicas(&world, "active"), replicas(&world, "standby"));
    for (key_file, reason) in [
        (bind.wrong_secret_key_file(), "(BADSIG)"),
        (bind.wrong_algorithm_key_file(), "(BADKEY)"),
        (bind.no_grant_key_file(), "(REFUSED)"),
    ] {
        let args = failover_args(&bind, "active", "standby", &key_file);
        let out = run(&world, &args, &[]).await;
        assert_eq!(out.code, Some(1), "{reason}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("✖ DNS server {} ready for the change", bind.addr))
                && out.stderr.contains("would be refused")
                && out.stderr.contains(reason),
            "{reason}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        assert!(!out.stderr.contains("[3/6] fence"), "{}", out.stderr);
    }
    // Scripts read the same checks on stdout.
    let args = failover_args(&bind, "active", "standby", &bind.no_grant_key_file());
    let out = run(&world, &args, &["-o", "json"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let outcome: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    let dns_check = outcome["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["title"] == format!("DNS server {} ready for the change", bind.addr))
        .unwrap_or_else(|| panic!("{outcome}"));
    assert_eq!(dns_check["status"], "fail", "{outcome}");
    assert!(
        dns_check["hint"].as_str().unwrap().contains("(REFUSED)"),
        "{outcome}"
    );
    assert!(
        outcome["error"]
            .as_str()
            .unwrap()
            .contains("preflight failed"),
        "{outcome}"
    );
    assert!(outcome.get("journal").is_none(), "{outcome}");
    assert_eq!(
        (replicas(&world, "active"), replicas(&world, "standby")),
        before
    );
    assert_eq!(journal(&world, "standby"), None, "no journal written");
    assert!(!points_at_standby(&world, &bind).await);
}

/// The name is repointed only at a front door that answers: after the
/// standby's LoadBalancer moved to an address where nothing serves, the DNS
/// step stops before the update, and the name keeps its answer.
#[tokio::test(flavor = "multi_thread")]
async fn dns_is_not_repointed_at_a_front_door_that_does_not_answer() {
    let (world, bind) = synced_world().await;
    let failing = failing_dns_args(&bind, "active", "standby");
    let out = run(&world, &failing, &[]).await;
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    let before = dns_answer(&bind).await;
    // Nothing listens on 127.0.0.99: the LoadBalancer moved, envoy did not follow.
    move_standby_load_balancer(&world, "127.0.0.99").await;

    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)")
            && out
                .stderr
                .contains("the standby's front door at 127.0.0.99 does not serve yet"),
        "{}",
        out.stderr
    );
    assert_eq!(
        dns_answer(&bind).await,
        before,
        "the name still answers as before"
    );
}

/// A root cert-manager generated, shared by both MPs (their secrets
/// copied), stops the preflight; `--allow-cert-manager-root` lets the
/// failover go on with a warning that says what it risks.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_cert_manager_root_stops_the_preflight_unless_allowed_with_a_warning() {
    let world = World::start_for(
        NAME,
        &[
            (
                "active",
                SeedKind::TsbGeneric,
                CertVariant::CertManagerSelfSigned,
            ),
            (
                "standby",
                SeedKind::TsbGeneric,
                CertVariant::CertManagerSelfSigned,
            ),
        ],
    )
    .await;
    let bind = Bind::start();
    let copy = world.shell("kubectl mp-export --context active -n \"$NS\" --include xcp-identity-issuer -o - | kubectl mp-import --context standby -n \"$NS\" -f - --yes").await;
    assert_eq!(copy.code, Some(0), "{}", copy.stderr);
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("auto-generated self-signed root CA"),
        "{}",
        out.stderr
    );
    let out = run(&world, &args, &["--dry-run", "--allow-cert-manager-root"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("(allowed by --allow-cert-manager-root)")
            && out
                .stderr
                .contains("the risk: cert-manager may generate that root anew"),
        "{}",
        out.stderr
    );
}

/// A recorded DNS step is not skipped for ever: when the standby's
/// LoadBalancer moved after it, `--resume` repoints the name again (here
/// it stops there, as nothing serves at the new address, rather than
/// "verifying" an MP the name does not lead to).
#[tokio::test(flavor = "multi_thread")]
async fn resume_repoints_the_name_when_the_load_balancer_moved_after_the_dns_step() {
    let (world, bind) = synced_world().await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(points_at_standby(&world, &bind).await);
    // As if it had stopped after its DNS step: the journal without its end.
    let mut stopped = journal(&world, "standby").expect("journal");
    stopped["steps"].as_object_mut().unwrap().remove("verify");
    stopped.as_object_mut().unwrap().remove("finishedAt");
    let patch = serde_json::json!({"data": {"journal.json": stopped.to_string()}}).to_string();
    world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "patch",
            "configmap",
            "mp-failover-journal",
            "--type",
            "merge",
            "-p",
            &patch,
        ])
        .await
        .ok("kubectl patch configmap");
    move_standby_load_balancer(&world, "127.0.0.99").await;

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("[5/6] dns was done at")
            && out.stderr.contains("but no longer holds: doing it again")
            && out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
}

/// Two helm releases of the managementplane chart on the active, neither
/// named as the layout says: which secrets must match is not guessed.
#[tokio::test(flavor = "multi_thread")]
async fn two_helm_releases_of_the_mp_chart_stop_the_preflight_naming_them() {
    let (world, bind) = synced_world().await;
    for release in ["mp-a", "mp-b"] {
        let script = format!(
            "set -e; payload=$(printf '{{\"chart\":{{\"metadata\":{{\"name\":\"managementplane\"}}}}}}' | gzip | base64 -w0); \
             kubectl --context active -n \"$NS\" create secret generic sh.helm.release.v1.{release}.v1 --type=helm.sh/release.v1 --from-literal=release=\"$payload\"; \
             kubectl --context active -n \"$NS\" label secret sh.helm.release.v1.{release}.v1 owner=helm name={release} status=deployed"
        );
        let out = world.shell(&script).await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ the active MP's helm release in context \"active\"")
            && out
                .stderr
                .contains("2 helm releases of chart managementplane: mp-a, mp-b"),
        "{}",
        out.stderr
    );
}

/// `--resume` skips a recorded step only while what it achieved holds:
/// the old MP scaled back up after its fence is fenced again, while the
/// activation, still holding, is skipped.
#[tokio::test(flavor = "multi_thread")]
async fn resume_does_a_recorded_step_again_when_its_goal_moved() {
    let (world, bind) = synced_world().await;
    // Stopped at step 5: the DNS provider's command fails.
    let failing = failing_dns_args(&bind, "active", "standby");
    let out = run(&world, &failing, &[]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    assert_eq!(replicas(&world, "active")["tsb"].0, 0, "fenced");
    // Someone brings the old MP's tsb back while the failover waits.
    world
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
        .await
        .ok("kubectl scale");

    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("[3/6] fence was done at")
            && out.stderr.contains("but no longer holds: doing it again"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("✔ [3/6] fence done"), "{}", out.stderr);
    assert!(
        out.stderr.contains("[4/6] activate already done at"),
        "{}",
        out.stderr
    );
    assert_eq!(replicas(&world, "active")["tsb"], (0, 0), "fenced again");
    assert!(points_at_standby(&world, &bind).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_write_behind_a_step_that_fails_stops_the_failover_and_resume_converges() {
    let (world, bind) = synced_world().await;
    // The first write after taking the lock (the database step's record,
    // written while the fence runs) is refused.
    world.cluster("standby").add_fault(refuse_once(
        "update",
        "/configmaps/mp-failover-journal",
        500,
    ));
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped after step 3 (fence)")
            && out
                .stderr
                .contains("write the failover journal (configmap mp-failover-journal)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("run the same command with --resume"),
        "{}",
        out.stderr
    );
    // The fence it ran stays done; it stopped before activating and DNS.
    for (name, (desired, _)) in replicas(&world, "active") {
        assert_eq!(desired, 0, "active {name} fenced");
    }
    assert!(!points_at_standby(&world, &bind).await);
    assert!(
        lock(&world, "standby").is_some(),
        "the stopped failover keeps its lock"
    );

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(points_at_standby(&world, &bind).await);
    let recorded = journal(&world, "standby").expect("journal");
    assert!(recorded["finishedAt"].is_string(), "{recorded}");
    assert_eq!(
        recorded["fencedReplicas"]["envoy"], 2,
        "counts recorded before the fence: {recorded}"
    );
    assert_eq!(lock(&world, "standby"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn disaster_mode_fails_over_without_the_active_and_says_what_was_skipped() {
    let (world, bind) = synced_world().await;
    world.cluster("active").set_down(true).await.expect("down");
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--request-timeout", "3s"]).await;
    assert_ne!(
        out.code,
        Some(0),
        "without --disaster an unreachable active stops it: {}",
        out.stderr
    );
    let out = run(&world, &args, &["--disaster", "--request-timeout", "3s"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("skipped (--disaster)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("fence it before it serves again"),
        "{}",
        out.stderr
    );
    assert!(points_at_standby(&world, &bind).await);
    assert_eq!(
        journal(&world, "standby").expect("journal")["disaster"],
        true
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn separate_databases_are_copied_with_real_postgres() {
    let world = world().await;
    let bind = Bind::start();
    let (active_pg, standby_pg) = (
        pg_support::PgCluster::start("active"),
        pg_support::PgCluster::start("standby"),
    );
    active_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'tetrate'), ('tenant', 'payments')");
    // A trusted extension: its database's owner may create it, so it passes
    // the preflight and the restore as the standby's (non-superuser) user.
    active_pg.sql_as("postgres", "tsb", "CREATE EXTENSION hstore");
    standby_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'stale')");
    sync_secrets(&world).await;
    // With a database each, each MP keeps its own database credentials: the
    // preflight does not ask them to match, and nothing copies them.
    let own = world.shell("kubectl --context standby -n \"$NS\" create secret generic postgres-credentials --from-literal=username=tsb --from-literal=password=standby-own --dry-run=client -o yaml | kubectl --context standby -n \"$NS\" apply -f -").await;
    assert_eq!(own.code, Some(0), "{}", own.stderr);
    let args = separate_database_args(&world, &bind, &active_pg, &standby_pg);
    // Step 2 interrupted: the standby refuses to stop its tsb writer once.
    world
        .cluster("standby")
        .add_fault(refuse_once("patch", "/deployments/tsb/scale", 500));
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 2 (database)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        standby_pg.tsb_sql("SELECT value FROM config"),
        "stale",
        "not restored yet"
    );
    // The standby's operator was stopped before its writers: iam, which the
    // interrupted step did scale to 0, stays there. Were the operator still
    // running, it would scale iam back up within a controller pass (50 ms).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let standby = replicas(&world, "standby");
    assert_eq!(standby[OPERATOR], (0, 0), "{standby:?}");
    assert_eq!(standby["iam"].0, 0, "{standby:?}");

    // The active still serves until the fence: a row written now must not
    // be lost to the first attempt's dump.
    active_pg.tsb_sql("INSERT INTO config VALUES ('region', 'eu-west')");

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        standby_pg.tsb_sql("SELECT name || '=' || value FROM config ORDER BY name"),
        "org=tetrate\nregion=eu-west\ntenant=payments",
        "the resumed step dumps the active again"
    );
    assert!(
        out.stderr.contains("dumped at") && out.stderr.contains("while it served"),
        "the summary says when the dump was taken: {}",
        out.stderr
    );
    assert_eq!(
        active_pg.tsb_sql("SELECT count(*) FROM config"),
        "3",
        "the active's data is untouched"
    );
    let credentials = world
        .secret("standby", "postgres-credentials")
        .expect("the standby's postgres-credentials");
    assert_eq!(
        credentials["data"]["password"],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "standby-own"),
        "the standby keeps its own database password"
    );
    let dumps: Vec<_> = std::fs::read_dir(world.path("."))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "dump"))
        .collect();
    assert_eq!(
        dumps.len(),
        2,
        "the standby's backup and the active's dump: {dumps:?}"
    );
    for dump in dumps {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777,
            0o600,
            "{dump:?}"
        );
    }
    assert!(
        !out.all().contains(&active_pg.password) && !out.all().contains(&standby_pg.password),
        "no password in the output"
    );
}

/// An extension only a superuser may create (file_fdw), in the active's
/// database, with a restoring user that is not one: found by the preflight,
/// not by pg_restore midway.
#[tokio::test(flavor = "multi_thread")]
async fn an_extension_the_standbys_user_cannot_create_stops_the_preflight() {
    let world = world().await;
    let bind = Bind::start();
    let (active_pg, standby_pg) = (
        pg_support::PgCluster::start("active"),
        pg_support::PgCluster::start("standby"),
    );
    active_pg.sql_as("postgres", "tsb", "CREATE EXTENSION file_fdw");
    sync_secrets(&world).await;
    let args = separate_database_args(&world, &bind, &active_pg, &standby_pg);
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ the active database's extensions can be restored on the standby")
            && out.stderr.contains(
                "uses extension file_fdw, which only a superuser may create, and Postgres user \"tsb\""
            ),
        "{}",
        out.stderr
    );
    assert_eq!(journal(&world, "standby"), None, "nothing was changed");
}

/// A pg_dump older than a server is found by the preflight, not at step 2
/// with the lock taken: here a client that says it is 14, for servers 15.
#[tokio::test(flavor = "multi_thread")]
async fn a_pg_dump_older_than_a_server_stops_the_preflight() {
    let world = world().await;
    let bind = Bind::start();
    let (active_pg, standby_pg) = (
        pg_support::PgCluster::start("active"),
        pg_support::PgCluster::start("standby"),
    );
    sync_secrets(&world).await;
    let tools = world.path("pg14");
    std::fs::create_dir_all(&tools).unwrap();
    let real = std::path::Path::new(pg_support::PG_BIN);
    std::fs::write(
        tools.join("pg_dump"),
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'pg_dump (PostgreSQL) 14.13'; exit 0; }}\nexec {} \"$@\"\n",
            real.join("pg_dump").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        tools.join("pg_dump"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for tool in ["pg_restore", "psql"] {
        std::os::unix::fs::symlink(real.join(tool), tools.join(tool)).unwrap();
    }
    let mut args = separate_database_args(&world, &bind, &active_pg, &standby_pg);
    args.extend(["--pg-bin-dir".into(), tools.display().to_string()]);
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ pg_dump can dump the Postgres servers")
            && out.stderr.contains("pg_dump 14 is older than the")
            && out.stderr.contains("postgresql-client-15"),
        "{}",
        out.stderr
    );
    assert_eq!(journal(&world, "standby"), None, "nothing was changed");
}
/// The waits of the fence and the activation (`wait_for_replicas`) follow
/// the namespace's deployments with one list and one watch. A 410 Gone (the
/// resourceVersion the watch resumes from has expired; here answered to the
/// first watch request) starts them over from a fresh list and the wait goes
/// on; any other error, a 403, ends it at once, as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_wait_whose_watch_is_gone_lists_again_and_goes_on_and_a_forbidden_one_stops() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let kubeconfig = LoadedKubeconfig::load(Some(world.kubeconfig())).expect("kubeconfig");
    let settings = ClientSettings {
        namespace: world.ns.clone(),
        request_timeout: Some(Duration::from_secs(10)),
    };
    let cluster = Cluster::connect(&kubeconfig, Some("active"), &settings)
        .await
        .expect("client");
    let proxy = world.cluster("active");
    let deployments = format!("/apis/apps/v1/namespaces/{}/deployments", world.ns);
    let (list, watch) = (
        format!("list {deployments}"),
        format!("watch {deployments}"),
    );
    let count = |key: &str| proxy.counters().get(key).copied().unwrap_or(0);

    proxy.reset_counters();
    proxy.add_fault(refuse_once("watch", "/deployments", 410));
    let stopped = BTreeMap::from([(OPERATOR.to_string(), 0)]);
    // The operator is scaled down only once the wait has listed it running
    // and asked to watch, so the wait cannot end on its first list.
    let scale_once_watched = async {
        while count(&watch) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mp::scale(&cluster, OPERATOR, 0, false).await
    };
    let (waited, scaled) = tokio::time::timeout(
        Duration::from_secs(60),
        futures::future::join(
            mp::wait_for_replicas(&cluster, &stopped, Duration::from_secs(20)),
            scale_once_watched,
        ),
    )
    .await
    .expect("the wait and the scale end");
    scaled.expect("scale the operator to 0");
    waited.unwrap_or_else(|error| {
        panic!(
            "the wait must list again after the 410 and see the operator stop: {}",
            error.message()
        )
    });
    assert_eq!(
        count(&list),
        2,
        "the first list, and the fresh one after the 410'd watch: {:?}",
        proxy.counters()
    );
    assert!(count(&watch) >= 1, "{:?}", proxy.counters());
    assert_eq!(
        deployment(&world, "active", OPERATOR)["spec"]["replicas"],
        0
    );

    proxy.clear_faults();
    proxy.reset_counters();
    proxy.add_fault(refuse_once("watch", "/deployments", 403));
    let running = BTreeMap::from([(OPERATOR.to_string(), 1)]);
    let started = std::time::Instant::now();
    let error = mp::wait_for_replicas(&cluster, &running, Duration::from_secs(20))
        .await
        .expect_err("a 403 ends the wait");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once, not at the deadline: {:?}",
        started.elapsed()
    );
    assert!(
        error.message().contains(&format!(
            "forbidden to watch deployments in namespace {}",
            world.ns
        )),
        "{}",
        error.message()
    );
    assert_eq!(
        (count(&list), count(&watch)),
        (1, 1),
        "{:?}",
        proxy.counters()
    );
}
