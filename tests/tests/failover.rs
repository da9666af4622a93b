//! `kubectl mp-failover` end to end: the real plane's two clusters, a real BIND9 for
//! the MP's name, real PostgreSQL for the separate-database case.

mod bind_support;
mod failover_support;
mod pg_support;
mod plugin_support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bind_support::{ACTIVE_OWN_NAME, Bind, FLOATING_NAME, NAME, STANDBY_OWN_NAME, ZONE};
use failover_support::{
    failover_args, refuse_once, sync_secrets, synced_world, synced_world_of, world_of,
};
use kubectl_mp::Cluster;
use kubectl_mp::dns::DnsTarget;
use kubectl_mp::kube::kubeconfig::{ClientSettings, LoadedKubeconfig};
use kubectl_mp::tsb::mp;
use mp_sandbox::faults::{FaultAction, FaultRule};
use mp_sandbox::{CertVariant, SeedKind};
use plugin_support::{Out, Removed, World};
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

/// [`synced_world`] with a real Postgres per side, for `--database separate`.
async fn world_with_databases() -> (World, Bind, pg_support::PgCluster, pg_support::PgCluster) {
    let (world, bind) = synced_world().await;
    let (active, standby) = (
        pg_support::PgCluster::start("active"),
        pg_support::PgCluster::start("standby"),
    );
    (world, bind, active, standby)
}

/// Whether the MP's name answers the standby's front address, and only it.
async fn points_at_standby(world: &World, bind: &Bind) -> bool {
    dns_answer(bind).await == vec![front_address(world, "standby")]
}

/// [`failover_args`] whose DNS change is the user's command `set-dns.sh`,
/// which fails (exit 1) while `dns-down` exists in the test's directory, as
/// a DNS provider's CLI does while its API is down (it passes the
/// preflight); [`dns_provider_recovers`] makes the change as the provider
/// would once back. A resume must keep its options, backend included.
fn provider_dns_args(world: &World, bind: &Bind) -> Vec<String> {
    let script = world.path("set-dns.sh");
    std::fs::write(&script, "#!/bin/sh\ntest ! -e dns-down\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(world.path("dns-down"), "").expect("marker");
    let mut args = failover_args(bind, "active", "standby", &bind.update_key_file());
    let backend = args.iter().position(|arg| arg == "rfc2136").unwrap();
    args[backend] = "exec".into();
    args.extend(["--dns-exec".into(), script.display().to_string()]);
    args
}

/// The DNS provider is back: its command succeeds, and the name answers
/// the standby's front address (the change it made).
async fn dns_provider_recovers(world: &World, bind: &Bind) {
    std::fs::remove_file(world.path("dns-down")).expect("marker");
    set_record(
        bind,
        NAME,
        DnsTarget::Address(front_address(world, "standby")),
    )
    .await;
}

/// `name` answers `target` (TTL 30 s), changed as a DNS provider would:
/// an RFC 2136 update with the zone's key.
async fn set_record(bind: &Bind, name: &str, target: DnsTarget) {
    let provider = kubectl_mp::dns::DnsBackend::Rfc2136 {
        server: bind.addr,
        zone: ZONE.into(),
        tsig: kubectl_mp::dns::TsigKey::from_file(&bind.update_key_file()).unwrap(),
    };
    let record = kubectl_mp::dns::DnsRecord {
        name: name.into(),
        target,
        ttl: 30,
    };
    let ui = kubectl_mp::ui::output::Ui::plain(false);
    kubectl_mp::dns::update(&provider, &record, None, &ui, true)
        .await
        .unwrap();
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
    set_standby_load_balancer(world, serde_json::json!({ "ip": address })).await;
}

/// The standby's LoadBalancer reports `ingress` (one entry) as its status.
async fn set_standby_load_balancer(world: &World, ingress: Value) {
    let status =
        serde_json::json!({"status": {"loadBalancer": {"ingress": [ingress]}}}).to_string();
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

/// `args` with `flag`'s value replaced.
fn with_flag(mut args: Vec<String>, flag: &str, value: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|arg| arg == flag)
        .unwrap_or_else(|| panic!("{flag} in {args:?}"));
    args[at + 1] = value.to_string();
    args
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

/// A step's progress label, `[3/8] fence`, as the plugin numbers it.
fn step(name: &str) -> String {
    kubectl_mp::failover::steps::label(name)
}

/// The `tsb-restore` CronJob's `spec.suspend` in `cluster`, when it exists.
fn restore_cronjob_suspended(world: &World, cluster: &str) -> Option<bool> {
    let cronjob =
        world
            .cluster(cluster)
            .object("batch", "cronjobs", Some(&world.ns), "tsb-restore")?;
    Some(cronjob["spec"]["suspend"].as_bool().unwrap_or(false))
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

/// The addresses the MP's name answers (none for an alias or no record).
async fn dns_answer(bind: &Bind) -> Vec<IpAddr> {
    kubectl_mp::dns::lookup(bind.addr, NAME)
        .await
        .expect("lookup")
        .map(|answer| {
            answer
                .targets
                .into_iter()
                .filter_map(|target| match target {
                    DnsTarget::Address(address) => Some(address),
                    DnsTarget::Alias(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON document `key` of ConfigMap `name` in `cluster`'s namespace.
fn configmap_entry(world: &World, cluster: &str, name: &str, key: &str) -> Option<Value> {
    let configmap = world
        .cluster(cluster)
        .object("", "configmaps", Some(&world.ns), name)?;
    Some(serde_json::from_str(configmap["data"][key].as_str()?).expect("JSON in the ConfigMap"))
}

fn journal(world: &World, cluster: &str) -> Option<Value> {
    configmap_entry(world, cluster, "mp-failover-journal", "journal.json")
}

/// Replaces the `journal.json` of `cluster`'s journal ConfigMap with `text`.
async fn put_journal(world: &World, cluster: &str, text: &str) {
    let patch = serde_json::json!({"data": {"journal.json": text}}).to_string();
    world
        .kubectl(&[
            "--context",
            cluster,
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
}

/// The lease on the pair's lock that `cluster` holds, if any.
fn lock(world: &World, cluster: &str) -> Option<Value> {
    configmap_entry(world, cluster, "mp-failover-lock", "lease.json")
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
    for name in kubectl_mp::failover::steps::names() {
        let label = step(name);
        assert!(
            out.stderr.contains(&format!("✔ {label} done in ")),
            "{label}: {}",
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
    // No restore over the new primary, and none over the one database both use.
    assert_eq!(restore_cronjob_suspended(&world, "standby"), Some(true));
    assert_eq!(restore_cronjob_suspended(&world, "active"), Some(true));
    assert!(
        out.stderr.contains(
            "--database shared: cronjob tsb-restore on context \"active\" is left as it is"
        ),
        "{}",
        out.stderr
    );

    // Re-running a finished failover changes nothing.
    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("finished at"), "{}", out.stderr);
    assert_eq!(world.writes("active") + world.writes("standby"), 0);

    // Failback: the same flow the other way, with the recorded replica
    // counts; never without them: an unreadable journal holding them stops it.
    // Its DNS server is given by name (localhost is 127.0.0.1 in the test
    // image's /etc/hosts), as an operator names their primary.
    let mut back = failover_args(&bind, "standby", "active", &bind.update_key_file());
    let server = back.iter().position(|arg| arg == "--dns-server").unwrap() + 1;
    back[server] = format!("localhost:{}", bind.addr.port());
    let recorded = journal(&world, "standby").expect("journal");
    put_journal(&world, "standby", "{ not a journal").await;
    let out = run(&world, &back, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("context \"standby\": configmap mp-failover-journal is not a journal"),
        "{}",
        out.stderr
    );
    put_journal(&world, "standby", &recorded.to_string()).await;
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

/// Writes a lease on the pair's lock in `cluster`, renewed `age` ago, as
/// another run (`failover`, `holder`) would.
async fn put_lease(world: &World, cluster: &str, failover: &str, age: std::time::Duration) {
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::try_from(age).unwrap();
    let lease = serde_json::json!({
        "holder": "bob@laptop pid 7",
        "run": "0123456789abcdef",
        "failover": failover,
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
    std::fs::write(world.path("lease.yaml"), configmap.to_string()).expect("lease file");
    let out = world
        .kubectl(&["--context", cluster, "apply", "-f", "lease.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// One failover at a time for the pair, whichever direction: a failback's
/// live lease in the ACTIVE cluster stops a failover before any change; a
/// lock ConfigMap rewritten between our read and our write stops it with
/// nothing changed (and nothing of ours left behind); a live lease of a run
/// that died is taken with --force-unlock, which names its holder, and a
/// lapsed one is simply taken.
#[tokio::test(flavor = "multi_thread")]
async fn the_pair_lock_stops_a_failover_while_another_holds_it_in_either_cluster() {
    let (world, bind) = synced_world().await;
    put_lease(
        &world,
        "active",
        "failover-other standby -> active",
        Duration::ZERO,
    )
    .await;
    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ no other failover holds the pair's lock (context \"active\")")
            && out.stderr.contains(
                "held by bob@laptop pid 7 (failover failover-other standby -> active, renewed"
            )
            && out
                .stderr
                .contains("or pass --force-unlock if that run died"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(world.writes("active") + world.writes("standby"), 0);

    // Lapsed, but rewritten by another run between our read and our write.
    put_lease(
        &world,
        "active",
        "failover-other standby -> active",
        Duration::from_secs(180),
    )
    .await;
    world
        .cluster("active")
        .add_fault(refuse_once("update", "/configmaps/mp-failover-lock", 409));
    let before = (replicas(&world, "active"), replicas(&world, "standby"));
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "configmap mp-failover-lock changed since this failover read it: another failover took the lock; nothing was changed"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        (replicas(&world, "active"), replicas(&world, "standby")),
        before
    );
    assert_eq!(lock(&world, "standby"), None, "what it took, it gave back");
    assert_eq!(journal(&world, "standby"), None);

    // A run that died a moment ago: live, refused, then forced.
    put_lease(
        &world,
        "standby",
        "failover-dead active -> standby",
        Duration::ZERO,
    )
    .await;
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let out = run(&world, &args, &["--force-unlock"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "‼ the lock in context \"standby\" is taken from its holder (--force-unlock)"
        ) && out
            .stderr
            .contains("held by bob@laptop pid 7 (failover failover-dead active -> standby"),
        "{}",
        out.stderr
    );
    assert!(points_at_standby(&world, &bind).await);
    for cluster in ["active", "standby"] {
        assert_eq!(lock(&world, cluster), None, "given up at the end");
    }
}

/// Two operators at once, opposite ways: exactly one failover runs, the
/// other changes nothing, and the name ends on the MP the winner activated.
#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_in_opposite_directions_let_exactly_one_through() {
    let (world, bind) = synced_world().await;
    let forth = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let back = failover_args(&bind, "standby", "active", &bind.update_key_file());
    let (forth_out, back_out) = futures::join!(run(&world, &forth, &[]), run(&world, &back, &[]));
    let codes = (forth_out.code, back_out.code);
    let (winner, loser, serving) = match codes {
        (Some(0), Some(code)) if code != 0 => (&forth_out, &back_out, "standby"),
        (Some(code), Some(0)) if code != 0 => (&back_out, &forth_out, "active"),
        _ => panic!(
            "exactly one must pass: {codes:?}\n--- forth:\n{}\n--- back:\n{}",
            forth_out.stderr, back_out.stderr
        ),
    };
    assert!(winner.stderr.contains("failover done"), "{}", winner.stderr);
    assert!(
        loser.stderr.contains("pair's lock")
            || loser.stderr.contains("another failover took the lock"),
        "{}",
        loser.stderr
    );
    assert!(
        loser.stderr.contains("nothing was changed"),
        "{}",
        loser.stderr
    );
    assert_eq!(
        dns_answer(&bind).await,
        vec![front_address(&world, serving)]
    );
    for cluster in ["active", "standby"] {
        assert_eq!(lock(&world, cluster), None);
    }
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
        &format!("{}: shared", step("database")),
        "first: take the pair's lock (configmap mp-failover-lock in ",
        &format!(
            "{} context \"active\": tsb-operator-management-plane=0 first, then ",
            step("fence")
        ),
        "tsb=0",
        "last: record the end in the journal and give the lock up",
        &format!("{} context \"standby\"", step("activate")),
        &format!(
            "{} DNS: {NAME} A {}",
            step("dns").trim_end_matches(" dns"),
            front_address(&world, "standby")
        ),
        &step("verify"),
        &format!(
            "{}: --database shared: cronjob tsb-restore",
            step("standby")
        ),
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

/// What the preflight reads follows the MP's own objects: 300 other
/// Secrets in each namespace are never listed or fetched (issue 19).
#[tokio::test(flavor = "multi_thread")]
async fn the_preflight_reads_the_mp_by_name_however_many_others_share_the_namespace() {
    let (world, bind) = synced_world().await;
    for cluster in ["active", "standby"] {
        world.add_unrelated_secrets(cluster, 300).await;
        world.cluster(cluster).reset_counters();
    }
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let secrets = format!("/api/v1/namespaces/{}/secrets", world.ns);
    for cluster in ["active", "standby"] {
        let counters = world.cluster(cluster).counters();
        let lists = world.cluster(cluster).lists();
        assert!(
            lists
                .keys()
                .all(|list| !list.starts_with(&secrets) || list.contains("?labelSelector=")),
            "{cluster}: a LIST of every Secret: {lists:?}"
        );
        let secret_gets: Vec<&String> = counters
            .keys()
            .filter(|request| request.starts_with(&format!("get {secrets}/")))
            .collect();
        assert!(
            secret_gets.len() >= 10 && secret_gets.iter().all(|get| !get.contains("unrelated-")),
            "{cluster}: the MP's Secrets by name, no other: {counters:?}"
        );
        assert!(
            counters
                .iter()
                .filter(|(request, _)| request.starts_with(&format!("get {secrets}/")))
                .all(|(_, count)| *count == 1),
            "{cluster}: each Secret read once: {counters:?}"
        );
    }
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

/// The value of `key` in `cluster`'s Secret `name`, decoded.
fn secret_text(world: &World, cluster: &str, name: &str, key: &str) -> String {
    use base64::Engine;
    let secret = world.secret(cluster, name).expect(name);
    let encoded = secret["data"][key].as_str().expect(key);
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// Issue 18: the standby's token keys are its own again (another signing
/// key with another kid, another tsb-iam-jwks) while every other secret
/// matches: the preflight refuses, one line per key secret naming the kids
/// (never a key), and the secret comparison does not report them again;
/// `--force-key-mismatch` lets the run go on with a ‼ saying what breaks.
#[tokio::test(flavor = "multi_thread")]
async fn preflight_refuses_other_token_keys_unless_forced_saying_what_breaks() {
    let (world, bind) = synced_world().await;
    world
        .shell("kubectl --context standby -n \"$NS\" create secret generic iam-signing-key --from-literal=private.key=standby-own-signing-key-0123456789abcdef --from-literal=kid=standby-kid --dry-run=client -o yaml | kubectl --context standby -n \"$NS\" apply -f - && kubectl --context standby -n \"$NS\" create secret generic tsb-iam-jwks --from-literal=jwks=standby-own-jwks-0123456789abcdef0123456789 --dry-run=client -o yaml | kubectl --context standby -n \"$NS\" apply -f -")
        .await
        .ok("the standby's own token keys");
    let active_kid = secret_text(&world, "active", "iam-signing-key", "kid");
    let active_key = secret_text(&world, "active", "iam-signing-key", "private.key");

    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let signing = format!(
        "✖ token signing secret iam-signing-key the same on both MPs (kid {active_kid:?} on the active, \"standby-kid\" on the standby)"
    );
    for needle in [
        signing.as_str(),
        "✖ XCP central key tsb-iam-jwks the same on both MPs (other data on the standby)",
        "✔ standby secrets match the active's (",
        "--force-key-mismatch fails over anyway: tokens the old active issued are rejected by the new one",
        "nothing was changed",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(
        !out.stderr.contains("differ: "),
        "the key secrets are reported once: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("iam-signing-key").count(),
        2,
        "its check and the final list of problems: {}",
        out.stderr
    );
    for value in [
        &active_key[30..60],
        "standby-own-signing-key",
        "standby-own-jwks",
    ] {
        assert!(!out.all().contains(value), "never a key: {}", out.all());
    }

    let out = run(&world, &args, &["--dry-run", "--force-key-mismatch"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for needle in [
        format!("‼ token signing secret iam-signing-key differs on the standby (kid {active_kid:?} on the active, \"standby-kid\" on the standby): failing over anyway (--force-key-mismatch)"),
        "‼ XCP central key tsb-iam-jwks differs on the standby (other data on the standby): failing over anyway (--force-key-mismatch)".into(),
        "control planes' cached tokens are rejected until re-issued".into(),
    ] {
        assert!(out.stderr.contains(&needle), "{needle}: {}", out.stderr);
    }

    // tsb-iam-jwks on the standby only: nothing to copy, refused.
    sync_secrets(&world).await;
    let delete_jwks = |cluster: &str| {
        format!("kubectl --context {cluster} -n \"$NS\" delete secret tsb-iam-jwks")
    };
    world
        .shell(&delete_jwks("active"))
        .await
        .ok("delete the active's tsb-iam-jwks");
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("✖ XCP central key tsb-iam-jwks on both MPs (absent on the active)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "✔ token signing secret iam-signing-key the same on both MPs (kid {active_kid:?})"
        )),
        "{}",
        out.stderr
    );
    // Absent on both (a version without it): a warning, the run goes on.
    world
        .shell(&delete_jwks("standby"))
        .await
        .ok("delete the standby's tsb-iam-jwks");
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("‼ XCP central key tsb-iam-jwks absent on both MPs: not compared"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interruption_at_each_step_exits_4_and_resume_converges() {
    let (world, bind) = synced_world().await;
    let args = provider_dns_args(&world, &bind);
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
    // Resuming with other options than the run it resumes is refused.
    let renamed = with_flag(args.clone(), "--dns-name", "other.mp.example");
    let out = run(&world, &renamed, &["--resume"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "was run with other options: --dns-name {NAME} (now: other.mp.example)"
        )),
        "{}",
        out.stderr
    );
    let interrupted = journal(&world, "standby").expect("journal");
    for cluster in ["active", "standby"] {
        assert_eq!(
            lock(&world, cluster),
            None,
            "a stopped failover gives the pair's lock up: --resume need not wait"
        );
    }
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
    assert!(
        out.stderr.contains(&format!("✔ {} done", step("fence"))),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("failover stopped at step 4 (activate)"),
        "{}",
        out.stderr
    );

    // Step 5, DNS: the provider's command fails; later the provider has
    // made the change and the command succeeds.
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the DNS command `"),
        "the error names the command: {}",
        out.stderr
    );
    assert_ne!(
        dns_answer(&bind).await,
        vec![front_address(&world, "standby")],
        "refused update changes nothing"
    );
    dns_provider_recovers(&world, &bind).await;
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} already done at", step("activate"))),
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
        assert!(!out.stderr.contains(&step("fence")), "{}", out.stderr);
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
    let args = provider_dns_args(&world, &bind);
    let out = run(&world, &args, &[]).await;
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
    let before = dns_answer(&bind).await;
    // Nothing listens on 127.0.0.99: the LoadBalancer moved, envoy did not follow.
    move_standby_load_balancer(&world, "127.0.0.99").await;

    let out = run(&world, &args, &["--resume", "-o", "json"]).await;
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
    // Issue 17: a failover stopped midway is one document on stdout too,
    // saying what each step did (and how long it took), the exit code, the
    // error line and its next step.
    let document: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(document["exitCode"], 4, "{document}");
    assert!(
        document["error"]
            .as_str()
            .unwrap()
            .contains("failover stopped at step 5 (dns)"),
        "{document}"
    );
    assert!(
        document["nextStep"].as_str().unwrap().contains("--resume"),
        "{document}"
    );
    let steps: Vec<(&str, &str)> = document["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{document}"))
        .iter()
        .map(|step| {
            (
                step["step"].as_str().unwrap(),
                step["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps.first(), Some(&("preflight", "done")), "{document}");
    assert_eq!(steps.last(), Some(&("dns", "failed")), "{document}");
    for step in ["fence", "activate"] {
        assert!(
            steps.contains(&(step, "skipped")) || steps.contains(&(step, "done")),
            "{step}: {document}"
        );
    }
    assert!(
        document["steps"][0]["seconds"].as_f64().is_some(),
        "{document}"
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
    let copy = world.shell("kubectl mp-export --context active -n \"$NS\" --include xcp-identity-issuer -f - | kubectl mp-import --context standby -n \"$NS\" -f - --yes").await;
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
    put_journal(&world, "standby", &stopped.to_string()).await;
    move_standby_load_balancer(&world, "127.0.0.99").await;

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{} was done at", step("dns")))
            && out.stderr.contains("but no longer holds: doing it again")
            && out.stderr.contains("failover stopped at step 5 (dns)"),
        "{}",
        out.stderr
    );
}

/// On AWS a LoadBalancer reports only a hostname: the failover probes the
/// front door there (through the system's resolver) and makes the MP's name
/// an alias (CNAME) of it. The hostname here is the standby front IP's
/// 32-bit decimal form, which the resolver maps to that address without DNS
/// (inet_aton) and Kubernetes accepts as a hostname, since a test cannot
/// add names to /etc/hosts.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_balancer_known_only_by_hostname_gets_the_name_as_its_alias() {
    let (world, bind) = synced_world().await;
    let IpAddr::V4(front) = front_address(&world, "standby") else {
        panic!("the test front doors are IPv4")
    };
    let hostname = u32::from(front).to_string();
    set_standby_load_balancer(&world, serde_json::json!({ "hostname": hostname })).await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{NAME} CNAME {hostname} answered by {}",
            bind.addr
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        kubectl_mp::dns::lookup(bind.addr, NAME).await.unwrap(),
        Some(kubectl_mp::dns::DnsAnswer {
            targets: vec![DnsTarget::alias(&hostname).unwrap()],
            ttl: 30
        })
    );
    assert!(
        out.stderr
            .contains(&format!("https://{NAME}:8443 ({hostname}) answers 200")),
        "{}",
        out.stderr
    );
}

/// Tetrate's floating name is an alias of each MP's own name. Without
/// --dns-target the preflight will not turn it into an address record;
/// a --dns-target that answers another address is refused; the standby's
/// own name, once it answers the standby's front address, is made the
/// alias's target.
#[tokio::test(flavor = "multi_thread")]
async fn a_floating_alias_is_repointed_to_the_standbys_own_name() {
    let world = World::start_for(
        FLOATING_NAME,
        &[
            ("active", SeedKind::TsbGeneric, CertVariant::SharedRoot),
            ("standby", SeedKind::TsbGeneric, CertVariant::SharedRoot),
        ],
    )
    .await;
    let bind = Bind::start();
    sync_secrets(&world).await;
    let floating = || kubectl_mp::dns::lookup(bind.addr, FLOATING_NAME);
    let before = floating().await.unwrap();
    let args = with_flag(
        failover_args(&bind, "active", "standby", &bind.update_key_file()),
        "--dns-name",
        FLOATING_NAME,
    );
    let standby_front = front_address(&world, "standby");

    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "✖ {FLOATING_NAME} can be repointed to {standby_front}"
        )) && out.stderr.contains("pass --dns-target"),
        "{}",
        out.stderr
    );
    // The active's own name answers the active's address, not the standby's.
    let out = run(&world, &args, &["--dns-target", ACTIVE_OWN_NAME]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "✖ {ACTIVE_OWN_NAME} leads to the standby's front door ({standby_front})"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(floating().await.unwrap(), before, "nothing changed");
    assert_eq!(journal(&world, "standby"), None, "no journal written");

    // The standby's own name is made to answer its front address first.
    set_record(&bind, STANDBY_OWN_NAME, DnsTarget::Address(standby_front)).await;
    let out = run(&world, &args, &["--dns-target", STANDBY_OWN_NAME]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "✔ {STANDBY_OWN_NAME} leads to the standby's front door ({standby_front})"
        )) && out.stderr.contains(&format!(
            "{FLOATING_NAME} CNAME {STANDBY_OWN_NAME} answered by"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        floating().await.unwrap(),
        Some(kubectl_mp::dns::DnsAnswer {
            targets: vec![DnsTarget::alias(STANDBY_OWN_NAME).unwrap()],
            ttl: 30
        })
    );
}

/// A `--dns-exec` whose program cannot start (here a typo in its path)
/// fails the preflight: found before the old MP is fenced, not at step 5
/// with the standby serving and the name still on the old MP.
#[tokio::test(flavor = "multi_thread")]
async fn a_dns_command_whose_program_is_missing_stops_the_failover_before_any_change() {
    let (world, bind) = synced_world().await;
    let mut args = provider_dns_args(&world, &bind);
    let at = args.iter().position(|arg| arg == "--dns-exec").unwrap();
    let typo = world.path("set-dsn.sh");
    args[at + 1] = typo.display().to_string();
    world.cluster("active").reset_counters();
    world.cluster("standby").reset_counters();
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "the DNS command's program {} is not found, or not executable",
            typo.display()
        )) && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(world.writes("active") + world.writes("standby"), 0);
}

/// The shipped Route 53 hook (deploy/dns-hooks/route53.sh) as the exec
/// backend, its `aws` a stub that applies the change to the real BIND as
/// Route 53 would. Denied first: step 5 stops (exit 4) with the CLI's
/// reason and the name untouched; allowed, `--resume` runs the hook again
/// and the failover's own wait against `--dns-server` sees the new record.
#[tokio::test(flavor = "multi_thread")]
async fn the_route53_hook_repoints_the_name_and_a_denied_change_resumes() {
    let (world, bind) = synced_world().await;
    let stub = tempfile::tempdir().expect("stub dir");
    let bin = bind.aws_applying_changes(stub.path());
    std::fs::write(stub.path().join("denied"), "").expect("marker");
    let hook =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dns-hooks/route53.sh");
    let mut args = with_flag(
        failover_args(&bind, "active", "standby", &bind.update_key_file()),
        "--dns-backend",
        "exec",
    );
    args.extend([
        "--dns-exec".into(),
        format!(
            "MP_ROUTE53_ZONE_ID=Z0TEST PATH={}:\"$PATH\" {}",
            bin.display(),
            hook.display()
        ),
        // A hook that exits 0 without changing anything fails fast.
        "--dns-timeout".into(),
        "10s".into(),
        "-v".into(),
    ]);
    let before = dns_answer(&bind).await;

    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 5 (dns): the DNS command")
            && out.stderr.contains(
                "failed (exit status 254): An error occurred (AccessDenied) when calling the ChangeResourceRecordSets operation: not authorized"
            ),
        "{}",
        out.stderr
    );
    assert_eq!(dns_answer(&bind).await, before, "the name is untouched");

    std::fs::remove_file(stub.path().join("denied")).expect("marker");
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let standby = front_address(&world, "standby");
    assert!(points_at_standby(&world, &bind).await);
    // The hook's stdout, shown with -v.
    assert!(
        out.stderr.contains(&format!(
            "dns command: route53.sh: {NAME}. A {standby}: change /change/C0TEST\tPENDING"
        )),
        "{}",
        out.stderr
    );
    let calls = std::fs::read_to_string(stub.path().join("calls")).expect("calls");
    assert_eq!(
        calls
            .lines()
            .filter(|line| line.starts_with("route53 change-resource-record-sets"))
            .count(),
        2,
        "the denied change and the resumed one: {calls}"
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
    let args = provider_dns_args(&world, &bind);
    let out = run(&world, &args, &[]).await;
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

    dns_provider_recovers(&world, &bind).await;
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} was done at", step("fence")))
            && out.stderr.contains("but no longer holds: doing it again"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("✔ {} done", step("fence"))),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("{} already done at", step("activate"))),
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
    assert_eq!(
        lock(&world, "standby"),
        None,
        "the stopped failover gave its lock up"
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

    // Run again as it was: done, but the old active was never fenced: said.
    let out = run(&world, &args, &["--disaster", "--request-timeout", "3s"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the old active \"active\" was never fenced"),
        "{}",
        out.stderr
    );
    // The old active comes back, its MP still running beside the new one:
    // a run without --disaster does not call that done; it fences it.
    world.cluster("active").set_down(false).await.expect("up");
    assert!(
        replicas(&world, "active")
            .values()
            .any(|(desired, _)| *desired > 0),
        "the returning active still runs its MP"
    );
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains(&step("fence")), "{}", out.stderr);
    for (name, (desired, _)) in replicas(&world, "active") {
        assert_eq!(desired, 0, "returning active's {name} fenced");
    }
    assert!(points_at_standby(&world, &bind).await);
}

/// A finished journal never blocks a new failover: after a failover and
/// its failback, a --disaster failover the same way as the first (whose
/// journal says "finished") runs, rather than re-checking the old one.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_journal_never_blocks_a_later_failover() {
    let (world, bind) = synced_world().await;
    let forth = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let back = failover_args(&bind, "standby", "active", &bind.update_key_file());
    for args in [&forth, &back] {
        let out = run(&world, args, &[]).await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert_eq!(
        dns_answer(&bind).await,
        vec![front_address(&world, "active")]
    );
    world.cluster("active").set_down(true).await.expect("down");
    let out = run(&world, &forth, &["--disaster", "--request-timeout", "3s"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !out.stderr.contains("nothing to change") && out.stderr.contains(&step("activate")),
        "{}",
        out.stderr
    );
    // The counts the standby's MP had are in the failback's journal, in the
    // unreachable active: said, not guessed silently.
    assert!(
        out.stderr.contains(
            "the replica counts it had are recorded in context \"active\", unreachable (--disaster): each deployment starts with 1"
        ),
        "{}",
        out.stderr
    );
    assert!(points_at_standby(&world, &bind).await);
}

/// On a terminal the question is drawn on a line of its own above the
/// spinner, says what yes does, and is not answered by keys typed before it
/// showed: a `y` typed ahead is discarded, and the `n` typed after it stops
/// the failover with nothing changed.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_keys_typed_ahead_do_not_answer_the_question() {
    let (world, bind) = synced_world().await;
    let args: Vec<String> = failover_args(&bind, "active", "standby", &bind.update_key_file())
        .into_iter()
        .filter(|arg| arg != "--yes")
        .collect();
    let before = (replicas(&world, "active"), replicas(&world, "standby"));
    let command = format!("kubectl {} -n $NS", args.join(" "));
    let out = world
        .shell(&format!(
            "(printf y; sleep 4; yes n || true) | script -qec \"{command}\" /dev/null"
        ))
        .await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("yes will stop the MP in context \"active\" (its operator first), start the MP in context \"standby\"")
            && out.stdout.contains(&format!(
                "fail the MP over from context \"active\" to \"standby\" (fence the old MP, repoint {NAME})? [y/N]"
            ))
            && out.stdout.contains("not confirmed: nothing was changed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        (replicas(&world, "active"), replicas(&world, "standby")),
        before
    );
    assert_eq!(journal(&world, "standby"), None);
}

/// --request-timeout bounds each request, not the waits: with a standby
/// deployment whose pods can never run, a 2 s request timeout does not end
/// the activation's wait early; --ready-timeout (6 s) does, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn the_request_timeout_does_not_cut_the_readiness_wait_short() {
    let (world, bind) = synced_world().await;
    // Stopped, and its new pods match no node: started, they stay Pending.
    world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "patch",
            "deployment",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":0,"template":{"spec":{"nodeSelector":{"kubectl-mp-test/nowhere":"true"}}}}}"#,
        ])
        .await
        .ok("kubectl patch deployment");
    let args = with_flag(
        failover_args(&bind, "active", "standby", &bind.update_key_file()),
        "--ready-timeout",
        "6s",
    );
    let started = std::time::Instant::now();
    let out = run(&world, &args, &["--request-timeout", "2s"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("failover stopped at step 4 (activate)")
            && out
                .stderr
                .contains("deployments not at their replicas after 6s: web"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("timed out trying to watch"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() >= Duration::from_secs(6));
}

/// SIGINT (or SIGTERM) in the middle of the database step, while pg_dump
/// waits on a real PostgreSQL: the run stops pg_dump, leaves no password
/// file and no partial dump, gives the pair's lock up, names the step and
/// the `--resume` command, exits 4, and the resume converges.
#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_the_database_step_stops_cleanly_and_resume_converges() {
    let (world, bind, active_pg, standby_pg) = world_with_databases().await;
    active_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'tetrate')");
    standby_pg.tsb_sql("CREATE TABLE config (name text primary key, value text)");
    let args = separate_database_args(&world, &bind, &active_pg, &standby_pg);
    let holder = active_pg.hold_table_lock("config").await;
    let command = args
        .iter()
        .map(|arg| format!("'{arg}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let port = active_pg.port;
    // The first run starts the failover; the second resumes it.
    for (signal, resume) in [("INT", ""), ("TERM", "--resume")] {
        let script = format!(
            // Anchored at the tool's path, so they never match this script.
            r#"dump="^/[^ ]*/pg_dump .*port='{port}'"; tools="^/[^ ]*/pg_(dump|restore) .*port='{port}'"
mkdir -p tmp dumps; export TMPDIR="$PWD/tmp"
kubectl {command} {resume} -n "$NS" --dump-dir dumps >out.txt 2>err.txt & pid=$!
for i in $(seq 1 300); do pgrep -f "$dump" >/dev/null && break; sleep 0.1; done
pgrep -f "$dump" >/dev/null && echo "pg_dump was running"
kill -{signal} $pid; wait $pid; echo "exit $?"
sleep 0.5
pgrep -f "$tools" >/dev/null && echo "ORPHAN"
ls -A tmp dumps | grep -v ':$' | grep . | sed 's/^/LEFT /'
cat err.txt"#
        );
        let out = world.shell(&script).await;
        let stdout = &out.stdout;
        assert!(stdout.contains("pg_dump was running"), "{stdout}");
        assert!(stdout.contains("exit 4\n"), "{stdout}");
        assert!(!stdout.contains("ORPHAN"), "pg_dump survived: {stdout}");
        let left: Vec<&str> = stdout
            .lines()
            // The standby's backup, finished before the signal, is kept.
            .filter(|line| line.starts_with("LEFT ") && !line.ends_with("-standby-before.dump"))
            .collect();
        assert!(left.is_empty(), "files left behind: {left:?}\n{stdout}");
        assert!(
            stdout.contains(&format!(
                "interrupted by SIG{signal} at step 2 (database): the failover stopped midway"
            )) && stdout.contains("run the same command with --resume"),
            "{stdout}"
        );
        for cluster in ["active", "standby"] {
            assert_eq!(lock(&world, cluster), None, "the lock is given up");
        }
    }
    drop(holder);
    active_pg.end_holders();
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(standby_pg.tsb_sql("SELECT value FROM config"), "tetrate");
}

#[tokio::test(flavor = "multi_thread")]
async fn separate_databases_are_copied_with_real_postgres() {
    let (world, bind, active_pg, standby_pg) = world_with_databases().await;
    active_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'tetrate'), ('tenant', 'payments')");
    // A trusted extension: its database's owner may create it, so it passes
    // the preflight and the restore as the standby's (non-superuser) user.
    active_pg.sql_as("postgres", "tsb", "CREATE EXTENSION hstore");
    standby_pg.tsb_sql("CREATE TABLE config (name text primary key, value text); INSERT INTO config VALUES ('org', 'stale')");
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

    // The standby's backup, taken once and recorded in the journal with its
    // digest: a resume finds it truncated and refuses to go on with it.
    let recorded = journal(&world, "standby").expect("journal");
    let backup = std::path::PathBuf::from(
        recorded["standbyBackup"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("the backup is recorded: {recorded}")),
    );
    let backup = if backup.is_absolute() {
        backup
    } else {
        world.path(&backup.display().to_string())
    };
    let intact = std::fs::read(&backup).expect("the backup file");
    std::fs::write(&backup, &intact[..intact.len() / 2]).expect("truncate");
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "the dump {} changed since it was taken",
            recorded["standbyBackup"]["path"].as_str().unwrap()
        )) && out.stderr.contains("move ")
            && out.stderr.contains("aside"),
        "{}",
        out.stderr
    );
    std::fs::write(&backup, &intact).expect("put the backup back");

    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The old active becomes the standby: it restores the new active's
    // backups; the new active restores nothing over itself.
    assert_eq!(restore_cronjob_suspended(&world, "active"), Some(false));
    assert_eq!(restore_cronjob_suspended(&world, "standby"), Some(true));
    assert!(
        out.stderr.contains(
            "context \"active\": cronjob tsb-restore resumed; it restores the new active's backups"
        ),
        "{}",
        out.stderr
    );
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
    let (world, bind, active_pg, standby_pg) = world_with_databases().await;
    active_pg.sql_as("postgres", "tsb", "CREATE EXTENSION file_fdw");
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
    let (world, bind, active_pg, standby_pg) = world_with_databases().await;
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
        user_agent: kubectl_mp::ui::cli::user_agent(),
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

/// How a test's stand-in XCP edge behaves (see [`control_plane`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// Logs "connected to central" again and again.
    Reconnects,
    /// Logs only that it waits, until its Deployment is restarted; then connects.
    ReconnectsAfterRestart,
    /// Logs token errors until its tokens were deleted; then, standing in
    /// for XCP's token issuer, re-creates them and connects.
    TokenErrorsUntilReissued,
    /// Logs nothing.
    Silent,
}

/// A workload cluster's control plane for a test: context `wl-CLUSTER` of
/// the world's kubeconfig, pointing at `cluster`, whose namespace
/// [`World::remap_namespace`] (the layout's `controlPlane.namespace`, see
/// [`control_plane_layout`]) holds Deployment `edge` and the four tokens.
/// The edge's log is a file kwok serves as its pods' log (a ClusterLogs
/// object selecting that namespace); a task writes it as `edge` says, and
/// stops with this value.
struct ControlPlane {
    context: String,
    cluster: String,
    /// The control plane's namespace, which also names its ClusterLogs.
    namespace: String,
    edge: std::sync::Arc<std::sync::Mutex<Edge>>,
    task: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    fn set(&self, edge: Edge) {
        *self.edge.lock().unwrap() = edge;
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.task.abort();
        let name = format!("clusterlogs/{}-{}", self.namespace, self.context);
        let _ = plugin_support::plane().run(
            std::path::Path::new("."),
            std::path::Path::new("."),
            "kubectl",
            &[
                "--context",
                &self.cluster,
                "delete",
                &name,
                "--wait=false",
                "--ignore-not-found",
            ],
        );
    }
}

const TOKENS: [&str; 4] = [
    "otel-token",
    "oap-token",
    "ngac-token",
    "xcp-edge-central-auth-token",
];

/// A layout file naming the world's second namespace as the control plane's.
fn control_plane_layout(world: &World) -> String {
    let path = world.path("control-plane-layout.yaml");
    std::fs::write(
        &path,
        format!("controlPlane:\n  namespace: {}\n", world.remap_namespace()),
    )
    .expect("layout");
    path.display().to_string()
}

async fn control_plane(world: &World, cluster: &str, edge: Edge) -> ControlPlane {
    let ns = world.remap_namespace();
    let context = format!("wl-{cluster}");
    world
        .kubectl(&[
            "config",
            "set-context",
            &context,
            &format!("--cluster={cluster}"),
            &format!("--user={cluster}-admin"),
        ])
        .await
        .ok("kubectl config set-context");
    let log = world.path(&format!("{context}.log"));
    std::fs::write(&log, "").expect("log file");
    let tokens: String = TOKENS
        .iter()
        .map(|name| format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{token: issued}}\n"))
        .collect();
    let manifest = format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {{name: {ns}-{context}}}
spec:
  selector: {{matchNamespaces: [{ns}]}}
  logs: [{{logsFile: {log}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: edge, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: edge}}}}
  template:
    metadata: {{labels: {{app: edge}}}}
    spec: {{containers: [{{name: edge, image: registry.invalid/xcp-edge:1}}]}}
{tokens}",
        log = log.display()
    );
    world
        .kubectl_with_stdin(
            &["--context", cluster, "apply", "-f", "-"],
            manifest.as_bytes(),
        )
        .await
        .ok("kubectl apply the control plane");
    world
        .kubectl(&[
            "--context",
            cluster,
            "-n",
            &ns,
            "rollout",
            "status",
            "deployment/edge",
            "--timeout=60s",
        ])
        .await
        .ok("kubectl rollout status");
    let edge = std::sync::Arc::new(std::sync::Mutex::new(edge));
    let kubeconfig = LoadedKubeconfig::load(Some(world.kubeconfig())).expect("kubeconfig");
    let settings = ClientSettings {
        namespace: ns.clone(),
        request_timeout: Some(Duration::from_secs(10)),
        user_agent: kubectl_mp::ui::cli::user_agent(),
    };
    let client = Cluster::connect(&kubeconfig, Some(&context), &settings)
        .await
        .expect("client");
    let task = tokio::spawn(stand_in(client, log, std::sync::Arc::clone(&edge)));
    ControlPlane {
        context,
        cluster: cluster.into(),
        namespace: ns,
        edge,
        task,
    }
}

/// The edge's log as its stand-in writes it, every 200 ms, in the CRI log
/// format kwok reads (`TIME stdout F LINE`).
async fn stand_in(
    cluster: Cluster,
    log: std::path::PathBuf,
    edge: std::sync::Arc<std::sync::Mutex<Edge>>,
) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, PostParams};
    use std::io::Write;
    let deployments: Api<Deployment> = cluster.namespaced();
    let secrets: Api<Secret> = cluster.namespaced();
    let mut reissued = false;
    loop {
        let behaviour = *edge.lock().unwrap();
        let line = match behaviour {
            Edge::Reconnects => Some("connected to central tsb.example.com:9443"),
            Edge::ReconnectsAfterRestart => {
                let restarted = deployments
                    .get("edge")
                    .await
                    .ok()
                    .is_some_and(|deployment| {
                        deployment
                            .spec
                            .and_then(|spec| spec.template.metadata?.annotations)
                            .is_some_and(|annotations| {
                                annotations.contains_key(kubectl_mp::tsb::edge::RESTARTED_AT)
                            })
                    });
                Some(if restarted {
                    "connected to central tsb.example.com:9443"
                } else {
                    "waiting for central"
                })
            }
            Edge::TokenErrorsUntilReissued => {
                for name in TOKENS {
                    if matches!(secrets.get_opt(name).await, Ok(None)) {
                        let mut secret = Secret::default();
                        secret.metadata.name = Some(name.into());
                        secret.string_data =
                            Some([("token".to_string(), "re-issued".to_string())].into());
                        let _ = secrets.create(&PostParams::default(), &secret).await;
                        reissued = true;
                    }
                }
                Some(if reissued {
                    "connected to central tsb.example.com:9443"
                } else {
                    "rpc error: code = Unauthenticated desc = invalid token"
                })
            }
            Edge::Silent => None,
        };
        if let Some(line) = line {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("log");
            writeln!(file, "{} stdout F {line}", jiff::Timestamp::now()).expect("log line");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The restartedAt annotation of `plane`'s edge, if it was ever restarted.
fn restarted_at(world: &World, plane: &ControlPlane) -> Option<String> {
    let deployment = world
        .cluster(&plane.cluster)
        .object(
            "apps",
            "deployments",
            Some(&world.remap_namespace()),
            "edge",
        )
        .expect("edge deployment");
    deployment["spec"]["template"]["metadata"]["annotations"][kubectl_mp::tsb::edge::RESTARTED_AT]
        .as_str()
        .map(String::from)
}

/// The uid of each token secret of `plane`.
fn token_uids(world: &World, plane: &ControlPlane) -> Vec<Option<String>> {
    TOKENS
        .iter()
        .map(|name| {
            world
                .cluster(&plane.cluster)
                .object("", "secrets", Some(&world.remap_namespace()), name)
                .and_then(|secret| secret["metadata"]["uid"].as_str().map(String::from))
        })
        .collect()
}

/// The failover's arguments with the control planes of `planes`.
fn with_control_planes(
    world: &World,
    mut args: Vec<String>,
    planes: &[&ControlPlane],
) -> Vec<String> {
    for plane in planes {
        args.extend(["--control-plane-context".into(), plane.context.clone()]);
    }
    args.extend([
        "--control-plane-timeout".into(),
        "3s".into(),
        "--layout".into(),
        control_plane_layout(world),
    ]);
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn control_planes_follow_the_mp_after_dns_with_a_restart_or_new_tokens_as_needed() {
    let (world, bind) = synced_world().await;
    // One after the other: both write the kubeconfig.
    let east = control_plane(&world, "active", Edge::Reconnects).await;
    let west = control_plane(&world, "standby", Edge::ReconnectsAfterRestart).await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let args = with_control_planes(&world, args, &[&east, &west]);
    let out = run(&world, &args, &["-o", "json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The preflight reached both before anything changed.
    let edge = format!("deployment/edge in {}", world.remap_namespace());
    assert!(
        out.stderr.contains(&format!(
            "✔ 2 of 2 control planes reached, each with its {edge}: wl-active 1/1 ready, wl-standby 1/1 ready"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("✔ {} done in ", step("control-planes")))
            && out
                .stderr
                .contains("2 control planes follow the MP (1 restarted)"),
        "{}",
        out.stderr
    );
    let document: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let rows = document["controlPlanes"].as_array().expect("controlPlanes");
    let row = |context: &str| {
        rows.iter()
            .find(|row| row["context"] == context)
            .unwrap_or_else(|| panic!("{context}: {document}"))
    };
    assert_eq!(row("wl-active")["action"], "none", "{document}");
    assert_eq!(row("wl-standby")["action"], "restarted", "{document}");
    assert!(rows.iter().all(|row| row["followed"] == true), "{document}");
    assert_eq!(row("wl-standby")["edge"], "1/1 ready", "{document}");
    assert_eq!(
        restarted_at(&world, &east),
        None,
        "a reconnected edge is left alone"
    );
    let west_restart = restarted_at(&world, &west).expect("the silent edge was restarted");

    // Failback: the old active's edge now reports token errors, a restart
    // does not help, and its tokens are re-issued.
    east.set(Edge::TokenErrorsUntilReissued);
    west.set(Edge::Reconnects);
    let tokens_before = token_uids(&world, &east);
    let back = failover_args(&bind, "standby", "active", &bind.update_key_file());
    let back = with_control_planes(&world, back, &[&east, &west]);
    let out = run(&world, &back, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let east_row = out
        .stderr
        .lines()
        .find(|line| line.trim_start().starts_with("wl-active "))
        .unwrap_or_else(|| panic!("no row for wl-active: {}", out.stderr));
    assert!(
        east_row.contains("tokens re-issued")
            && east_row.contains("followed: its edge reconnected once 4 tokens were re-issued"),
        "{east_row}"
    );
    assert!(
        restarted_at(&world, &east).is_some(),
        "restarted before the tokens"
    );
    let tokens_after = token_uids(&world, &east);
    for ((name, before), after) in TOKENS.iter().zip(&tokens_before).zip(&tokens_after) {
        assert!(
            after.is_some() && after != before,
            "{name}: {before:?} -> {after:?}"
        );
    }
    assert_eq!(
        restarted_at(&world, &west).as_deref(),
        Some(west_restart.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_control_plane_that_does_not_follow_exits_5_and_resume_retries_only_it() {
    let (world, bind) = synced_world().await;
    // One after the other: both write the kubeconfig.
    let east = control_plane(&world, "active", Edge::Reconnects).await;
    let west = control_plane(&world, "standby", Edge::Silent).await;
    let base = failover_args(&bind, "active", "standby", &bind.update_key_file());

    // A context the kubeconfig lacks is refused before anything changes,
    // named with its file and line.
    std::fs::write(
        world.path("planes.txt"),
        "# workload clusters\nwl-active\n\nnope # gone\n",
    )
    .expect("contexts file");
    let mut listed = with_control_planes(&world, base.clone(), &[]);
    listed.extend(["--control-plane-contexts-file".into(), "planes.txt".into()]);
    let out = run(&world, &listed, &[]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("control-plane context \"nope\" (planes.txt line 4) not found in "),
        "{}",
        out.stderr
    );
    assert!(journal(&world, "standby").is_none(), "nothing changed");

    // The dry run lists each control plane, with the server's dry run of its restart.
    let args = with_control_planes(&world, base, &[&east, &west]);
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for needle in [
        &format!(
            "{}: on each of 2 clusters at once, wait up to 3s for deployment/edge in ",
            step("control-planes")
        ),
        "\"wl-active\": its restart is accepted (server dry run)",
        "\"wl-standby\": its restart is accepted (server dry run)",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert_eq!(
        restarted_at(&world, &west),
        None,
        "a dry run restarts nothing"
    );

    // The silent edge does not follow, and a cluster that is down is its
    // own row: the MP failover is done, exit 5.
    let commands: [&[&str]; 2] = [
        &[
            "config",
            "set-cluster",
            "gone",
            "--server=https://127.0.0.1:1",
        ],
        &[
            "config",
            "set-context",
            "wl-gone",
            "--cluster=gone",
            "--user=active-admin",
        ],
    ];
    for command in commands {
        world.kubectl(command).await.ok("kubectl config");
    }
    let mut with_gone = args.clone();
    with_gone.extend(["--control-plane-context".into(), "wl-gone".into()]);
    let out = run(&world, &with_gone, &[]).await;
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    let ns = world.remap_namespace();
    for needle in [
        "✖ control plane \"wl-standby\" did not follow the MP: its edge did not reconnect within 3s of a restart",
        &format!("kubectl --context wl-standby -n {ns} rollout restart deployment/edge"),
        "✖ control plane \"wl-gone\" did not follow the MP: context \"wl-gone\" (https://127.0.0.1:1): cluster unreachable while trying to get deployment/edge",
        // Known before anything changed, and not a reason to stop.
        "‼ control plane \"wl-gone\" cannot follow the MP: context \"wl-gone\" (https://127.0.0.1:1): cluster unreachable while trying to get deployment/edge",
        &format!(
            "the MP failover is done (\"standby\" serves {NAME}), but 2 of 3 control planes did not follow it: \"wl-standby\", \"wl-gone\""
        ),
        "then run the same command with --resume: it retries only those",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(points_at_standby(&world, &bind).await);
    let recorded = journal(&world, "standby").expect("journal");
    assert_eq!(
        recorded["controlPlanes"]["wl-active"]["followed"], true,
        "{recorded}"
    );
    assert_eq!(
        recorded["controlPlanes"]["wl-standby"]["followed"], false,
        "{recorded}"
    );
    assert_eq!(
        recorded["controlPlanes"]["wl-standby"]["action"], "restarted",
        "{recorded}"
    );

    // Fixed; --resume retries only the one that did not follow (with the
    // contexts given now: the cluster that is gone is left out).
    west.set(Edge::Reconnects);
    let out = run(&world, &args, &["--resume"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let row = |context: &str| {
        out.stderr
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{context} ")))
            .unwrap_or_else(|| panic!("no row for {context}: {}", out.stderr))
            .to_string()
    };
    assert!(
        row("wl-active").contains("none (earlier run)"),
        "{}",
        out.stderr
    );
    assert!(
        row("wl-standby").contains("followed: its edge reconnected by itself"),
        "{}",
        out.stderr
    );
    let recorded = journal(&world, "standby").expect("journal");
    assert!(recorded["finishedAt"].is_string(), "{recorded}");
    assert_eq!(
        recorded["controlPlanes"]["wl-standby"]["followed"], true,
        "{recorded}"
    );
}

/// Replaces `plane`'s cached tokens with a JWT whose header names `kid`, as
/// an MP signing with that key would have issued it; returns the token.
async fn issue_tokens(world: &World, plane: &ControlPlane, kid: &str) -> String {
    use base64::Engine;
    let encode =
        |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes());
    let token = format!(
        "{}.{}.{}",
        encode(&format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}"#)),
        encode(r#"{"iss":"https://tsb.mp.example","sub":"edge"}"#),
        encode("not-a-real-signature-0123456789")
    );
    let ns = &plane.namespace;
    let manifest: String = TOKENS
        .iter()
        .map(|name| {
            format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{token: {token}}}\n")
        })
        .collect();
    world
        .kubectl_with_stdin(
            &["--context", &plane.cluster, "apply", "-f", "-"],
            manifest.as_bytes(),
        )
        .await
        .ok("kubectl apply the tokens");
    token
}

/// A synced world whose `active` holds a control plane that reconnects by
/// itself, the fault `fault(namespace of its edge)` on `active`, and its
/// counters reset; with the failover's arguments (active to standby, that
/// control plane given) and the edge's namespace. The control plane and
/// the DNS server live as long as the values returned.
async fn edge_on_active_with_fault(
    fault: impl FnOnce(&str) -> FaultRule,
) -> (World, Bind, ControlPlane, Vec<String>, String) {
    let (world, bind) = synced_world().await;
    let plane = control_plane(&world, "active", Edge::Reconnects).await;
    let args = failover_args(&bind, "active", "standby", &bind.update_key_file());
    let args = with_control_planes(&world, args, &[&plane]);
    let ns = world.remap_namespace();
    world.cluster("active").add_fault(fault(&ns));
    world.cluster("active").reset_counters();
    (world, bind, plane, args, ns)
}

/// Issue 19: the step's first look at an edge lists its pods by the
/// selector the preflight read, alongside the Deployment's GET, not after
/// its answer. Proven without a clock: the step's GET of the Deployment
/// (its second, after the preflight's) is never answered, and its pods are
/// listed all the same. The step's looks read from the API server's watch
/// cache; the preflight's GET, which decides whether the failover starts,
/// from etcd.
#[tokio::test(flavor = "multi_thread")]
async fn a_control_planes_pods_are_listed_alongside_its_deployments_get() {
    let (world, _bind, _plane, args, ns) = edge_on_active_with_fault(|ns| FaultRule {
        verb: Some("get".into()),
        path_contains: Some(format!("/namespaces/{ns}/deployments/edge")),
        nth: Some(2),
        times: Some(1),
        action: FaultAction::Timeout,
    })
    .await;
    let out = run(&world, &args, &["--request-timeout", "3s"]).await;
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    let counters = world.cluster("active").counters();
    let count = |key: &str| counters.get(key).copied().unwrap_or(0);
    assert_eq!(
        count(&format!(
            "get /apis/apps/v1/namespaces/{ns}/deployments/edge"
        )),
        2,
        "the preflight's GET and the step's unanswered one: {counters:?}"
    );
    assert_eq!(
        count(&format!("list /api/v1/namespaces/{ns}/pods")),
        1,
        "the pods listed while the Deployment's GET waits: {counters:?}"
    );
    assert_eq!(
        world.cluster("active").watch_cache_reads(),
        BTreeMap::from([
            (
                format!("get /apis/apps/v1/namespaces/{ns}/deployments/edge"),
                1
            ),
            (format!("list /api/v1/namespaces/{ns}/pods"), 1),
        ]),
        "the step's GET and LIST from the watch cache, the preflight's GET from etcd"
    );
}

/// A pod deleted between the step's LIST and the GET of its log (in a
/// rollout, or listed from a watch cache a moment behind) is no longer one
/// of the edge's: the look goes on without it instead of failing the
/// cluster, and the next look finds the edge connected.
#[tokio::test(flavor = "multi_thread")]
async fn an_edge_pod_gone_before_its_log_is_read_is_passed_over() {
    let (world, _bind, _plane, args, ns) = edge_on_active_with_fault(|ns| FaultRule {
        verb: Some("get".into()),
        path_contains: Some(format!("/namespaces/{ns}/pods/")),
        nth: Some(1),
        times: Some(1),
        action: FaultAction::Status(404),
    })
    .await;
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("followed: its edge reconnected by itself"),
        "{}",
        out.stderr
    );
    let log_reads: u64 = world
        .cluster("active")
        .counters()
        .iter()
        .filter(|(key, _)| {
            key.starts_with(&format!("get /api/v1/namespaces/{ns}/pods/")) && key.ends_with("/log")
        })
        .map(|(_, count)| count)
        .sum();
    assert!(
        log_reads >= 2,
        "the gone pod's log, then a later look's: {log_reads}"
    );
}

/// Issue 18: under `--disaster` the active cannot be read, and a control
/// plane's cached tokens name the key it signed with. The standby signing
/// with that key passes; tokens naming another kid refuse the failover
/// before anything changes (never showing a token), unless
/// `--force-key-mismatch`, which warns saying what breaks.
#[tokio::test(flavor = "multi_thread")]
async fn under_disaster_the_standbys_kid_is_compared_with_a_control_planes_cached_tokens() {
    let (world, bind) = synced_world().await;
    let plane = control_plane(&world, "standby", Edge::Reconnects).await;
    let active_kid = secret_text(&world, "active", "iam-signing-key", "kid");
    issue_tokens(&world, &plane, &active_kid).await;
    world.cluster("active").set_down(true).await.expect("down");
    let args = with_control_planes(
        &world,
        failover_args(&bind, "active", "standby", &bind.update_key_file()),
        &[&plane],
    );
    let disaster = ["--disaster", "--request-timeout", "3s", "--dry-run"];

    let out = run(&world, &args, &disaster).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "✔ standby's token signing secret iam-signing-key (kid {active_kid:?}) is the key the control planes' cached tokens name (4 tokens, 1 cluster)"
        )),
        "{}",
        out.stderr
    );

    // The lost active had rotated its key since the standby got its copy.
    let token = issue_tokens(&world, &plane, "rotated-kid").await;
    world.cluster("standby").reset_counters();
    let out = run(&world, &args, &disaster).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "✖ standby's token signing secret iam-signing-key (kid {active_kid:?}) is the key the control planes' cached tokens name (they name \"rotated-kid\" in \"wl-standby\" otel-token, "
        )) && out.stderr.contains("import the active's iam-signing-key from your last export"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(&token), "a token is never shown");
    assert_eq!(world.writes("standby"), 0, "nothing changed");

    let out = run(
        &world,
        &args,
        &[&disaster[..], &["--force-key-mismatch"]].concat(),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("‼ standby's token signing secret iam-signing-key")
            && out
                .stderr
                .contains("failing over anyway (--force-key-mismatch)")
            && out
                .stderr
                .contains("control planes' cached tokens are rejected until re-issued"),
        "{}",
        out.stderr
    );
}

/// Least privilege (issue 20): a failover, its server dry run first, as
/// the shipped Roles alone: deploy/rbac/failover on both MP clusters and
/// deploy/rbac/control-plane on a workload cluster whose edge needs a
/// restart and then new tokens (every rule of that Role used).
#[tokio::test(flavor = "multi_thread")]
async fn failover_runs_as_the_shipped_roles_alone() {
    let (world, bind) = synced_world().await;
    let plane = control_plane(&world, "standby", Edge::TokenErrorsUntilReissued).await;
    let (ns, workload_ns) = (world.ns.clone(), world.remap_namespace());
    let from = world
        .bound_context("active", "deploy/rbac/failover", &ns, "mp-failover", None)
        .await;
    let to = world
        .bound_context("standby", "deploy/rbac/failover", &ns, "mp-failover", None)
        .await;
    let workload = world
        .bound_context(
            "standby",
            "deploy/rbac/control-plane",
            &workload_ns,
            "mp-failover",
            None,
        )
        .await;
    let mut args = failover_args(&bind, &from, &to, &bind.update_key_file());
    args.extend([
        "--control-plane-context".into(),
        workload.clone(),
        "--control-plane-timeout".into(),
        "5s".into(),
        "--layout".into(),
        control_plane_layout(&world),
    ]);
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = run(&world, &args, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(points_at_standby(&world, &bind).await);
    for (name, (desired, _)) in replicas(&world, "active") {
        assert_eq!(desired, 0, "active {name} fenced");
    }
    let row = out
        .stderr
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{workload} ")))
        .unwrap_or_else(|| panic!("no row for {workload}: {}", out.stderr));
    assert!(
        row.contains("followed: its edge reconnected once 4 tokens were re-issued"),
        "{row}"
    );
    drop(plane);
}

/// One permission less than the shipped Role on the standby (`patch` of
/// deployments/scale, what activates it): its server dry run is refused by
/// the real API server, one line names the verb and the resource, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn failover_without_one_permission_of_its_role_fails_naming_it() {
    let (world, bind) = synced_world().await;
    let ns = world.ns.clone();
    let from = world
        .bound_context("active", "deploy/rbac/failover", &ns, "mp-failover", None)
        .await;
    let removed = Removed {
        role: "mp-failover",
        resource: "deployments/scale",
        verb: "patch",
    };
    let to = world
        .bound_context(
            "standby",
            "deploy/rbac/failover",
            &ns,
            "mp-failover",
            Some(&removed),
        )
        .await;
    let args = failover_args(&bind, &from, &to, &bind.update_key_file());
    let out = run(&world, &args, &["--dry-run"]).await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let denied: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.contains("forbidden"))
        .collect();
    assert_eq!(denied.len(), 1, "{}", out.stderr);
    assert!(
        denied[0].starts_with(&format!("error: context \"{to}\" ("))
            && denied[0].contains("forbidden to scale deployment ")
            && denied[0].contains("cannot patch resource \"deployments/scale\""),
        "{}",
        out.stderr
    );
}
