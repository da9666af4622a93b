//! `kubectl mp-cacheck` on the seeded certificate variants, run as users
//! run it: installed, through the real kubectl.

mod plugin_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kubectl_mp::tsb::layout::TsbLayout;
use mp_sandbox::{CertVariant, SeedKind};
use plugin_support::{Out, Removed, World};
use serde_json::Value;

const FLOATING: &str = "tsb.example.com";

async fn pair(active: CertVariant, standby: CertVariant) -> World {
    World::start_with(&[
        ("active", SeedKind::TsbGeneric, active),
        ("standby", SeedKind::TsbGeneric, standby),
    ])
    .await
}

async fn cacheck(world: &World, args: &[&str]) -> Out {
    let mut full = vec!["mp-cacheck"];
    full.extend_from_slice(args);
    world.kubectl(&full).await
}

async fn cacheck_pair(world: &World, extra: &[&str]) -> Out {
    let mut args = vec![
        "--active-context",
        "active",
        "--standby-context",
        "standby",
        "--dns-name",
        FLOATING,
    ];
    args.extend_from_slice(extra);
    cacheck(world, &args).await
}

/// The lines starting with `mark` (✔ ‼ ✖), without the mark.
fn lines(out: &Out, mark: &str) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|line| line.strip_prefix(mark))
        .map(|line| line.trim().to_string())
        .collect()
}

/// The sha256 fingerprint of a certificate in a seeded secret, as the
/// plugin prints it (uppercase hex pairs joined by colons).
fn fingerprint(world: &World, cluster: &str, secret: &str, key: &str) -> String {
    use base64::Engine;
    let object = world.secret(cluster, secret).expect("secret exists");
    let pem = base64::engine::general_purpose::STANDARD
        .decode(object["data"][key].as_str().expect("key exists"))
        .unwrap();
    let certificates = kubectl_mp::secrets::certs::parse_pem_certificates(&pem).unwrap();
    certificates[0].fingerprint.clone()
}

/// What cacheck may ask of a cluster: one list of the namespace's Secrets.
/// What mp-cacheck reads of a cluster, all at once: a GET of each of the
/// layout's certificate secrets and one LIST of cert-manager's, by its
/// label; never the namespace's other Secrets.
fn certificate_reads(world: &World) -> BTreeMap<String, u64> {
    let secrets = format!("/api/v1/namespaces/{}/secrets", world.ns);
    let mut reads: BTreeMap<String, u64> = TsbLayout::default()
        .certificate_secrets
        .iter()
        .map(|name| (format!("get {secrets}/{name}"), 1))
        .collect();
    reads.insert(format!("list {secrets}"), 1);
    reads
}

/// The LISTs mp-cacheck makes of a cluster: cert-manager's Secrets, by label.
fn cert_manager_list(world: &World) -> BTreeMap<String, u64> {
    BTreeMap::from([(
        format!(
            "/api/v1/namespaces/{}/secrets?labelSelector=controller.cert-manager.io/fao=true",
            world.ns
        ),
        1,
    )])
}

/// No private key or secret value anywhere in what the plugin printed.
fn assert_no_secret_values(world: &World, out: &Out) {
    let everything = out.all();
    assert!(!everything.contains("PRIVATE KEY"), "{everything}");
    let tls_key = world.secret("active", "tsb-certs").unwrap()["data"]["tls.key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!everything.contains(&tls_key[..40]), "{everything}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_root_passes_reading_both_clusters_at_once() {
    let world = pair(CertVariant::SharedRoot, CertVariant::SharedRoot).await;
    for cluster in ["active", "standby"] {
        world.cluster(cluster).reset_counters();
        world
            .cluster(cluster)
            .set_latency(Duration::from_millis(1500));
    }
    let started = Instant::now();
    let out = cacheck_pair(&world, &["--strict"]).await;
    let elapsed = started.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(lines(&out, "✖").is_empty() && lines(&out, "‼").is_empty());
    let passed = lines(&out, "✔");
    for secret in [
        "tsb-certs",
        "xcp-central-cert",
        "es-certs",
        "postgres-credentials",
        "custom-host-ca",
        "mpc-certs",
    ] {
        assert!(
            passed.iter().any(|line| line.starts_with(&format!(
                "{secret}: same root CA on active and standby: \"mp-sandbox shared root CA\" sha256 "
            ))),
            "{secret}: {}",
            out.stderr
        );
    }
    assert!(
        passed
            .iter()
            .any(|line| line == "tsb-certs/tls.crt on standby: covers tsb.example.com"),
        "{}",
        out.stderr
    );
    assert!(
        passed
            .iter()
            .any(|line| line.starts_with("active context \"active\" reachable: https://127.0.0.1:")),
        "{}",
        out.stderr
    );
    assert_no_secret_values(&world, &out);

    for cluster in ["active", "standby"] {
        assert_eq!(
            world.cluster(cluster).counters(),
            certificate_reads(&world),
            "{cluster}"
        );
        assert_eq!(
            world.cluster(cluster).lists(),
            cert_manager_list(&world),
            "{cluster}"
        );
    }
    // 1.5 s per request, two round trips per cluster (a new client's first
    // request alone, then the rest at once): 3 s for both at once, 6 s one
    // after the other.
    assert!(
        elapsed < Duration::from_millis(4500),
        "both clusters are read concurrently: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_under_its_own_root_fails_naming_the_secret_and_both_fingerprints() {
    let world = pair(CertVariant::SharedRoot, CertVariant::OwnRoot).await;
    let out = cacheck_pair(&world, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let failed = lines(&out, "✖");
    assert!(
        failed
            .iter()
            .any(|line| line == "tsb-certs/tls.crt: different root CAs on active and standby"),
        "{}",
        out.stderr
    );
    let active_root = fingerprint(&world, "active", "tsb-certs", "ca.crt");
    let standby_root = fingerprint(&world, "standby", "tsb-certs", "ca.crt");
    let hint = out
        .stderr
        .lines()
        .skip_while(|line| {
            !line.ends_with("tsb-certs/tls.crt: different root CAs on active and standby")
        })
        .nth(1)
        .expect("a hint under the failure");
    assert!(
        hint.contains(&format!(
            "active root: \"mp-sandbox shared root CA\" sha256 {active_root}"
        )),
        "{hint}"
    );
    assert!(hint.contains(&standby_root), "{hint}");
    assert!(
        hint.contains("provide the same root CA to both MPs explicitly and re-issue the standby's tsb-certs from it"),
        "{hint}"
    );
    assert_no_secret_values(&world, &out);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_leaf_and_a_missing_floating_name_fail() {
    let world = World::start_with(&[
        ("active", SeedKind::TsbHelm, CertVariant::ExpiredLeaf),
        ("standby", SeedKind::TsbHelm, CertVariant::MissingSan),
    ])
    .await;
    let out = cacheck_pair(&world, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let failed = lines(&out, "✖");
    assert!(
        failed
            .iter()
            .any(|line| line.starts_with("tsb-certs/tls.crt on active: \"tsb\" expired on ")),
        "{}",
        out.stderr
    );
    for secret in ["tsb-certs", "xcp-central-cert"] {
        assert!(
            failed.iter().any(|line| line.starts_with(&format!(
                "{secret}/tls.crt on standby: does not cover tsb.example.com (SANs "
            ))),
            "{secret}: {}",
            out.stderr
        );
    }
    assert!(
        !failed
            .iter()
            .any(|line| line.contains("different root CAs")),
        "both still chain to the shared root: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_does_not_match_its_certificate_fails() {
    let world = pair(CertVariant::SharedRoot, CertVariant::SharedRoot).await;
    let out = world
        .shell(
            "key=$(kubectl --context standby -n \"$NS\" get secret xcp-central-cert -o 'jsonpath={.data.tls\\.key}') && \
             kubectl --context standby -n \"$NS\" patch secret tsb-certs --type merge -p \"{\\\"data\\\":{\\\"tls.key\\\":\\\"$key\\\"}}\"",
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = cacheck_pair(&world, &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        lines(&out, "✖").iter().any(|line| line
            == "tsb-certs/tls.key and tls.crt on standby: tls.key is not the key of \"tsb\" (ECDSA certificate)"),
        "{}",
        out.stderr
    );
    assert_no_secret_values(&world, &out);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cert_manager_self_signed_chain_is_flagged_on_one_cluster_from_its_secrets_alone() {
    let world = World::start_with(&[
        (
            "active",
            SeedKind::TsbGeneric,
            CertVariant::CertManagerSelfSigned,
        ),
        ("standby", SeedKind::Empty, CertVariant::SharedRoot),
    ])
    .await;
    world.cluster("active").reset_counters();
    let out = cacheck(&world, &["--context", "active"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        world.cluster("active").counters(),
        certificate_reads(&world),
        "cert-manager's own resources are not read"
    );
    let chain = "an auto-generated self-signed root CA feeds mpc-certs, xcp-central-cert, xcp-identity-issuer: Issuer xcp-trust-anchor (selfSigned) → Certificate xcp-identity-issuer (isCA, secret xcp-identity-issuer) → Issuer xcp-identity-issuer (ca) → secrets xcp-central-cert, mpc-certs";
    let failed = lines(&out, "✖");
    assert!(
        failed
            .iter()
            .any(|line| *line == format!("cert-manager on active: {chain}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "Do not use an auto-generated (e.g., by cert-manager) Root CA in each MP instance"
        ),
        "{}",
        out.stderr
    );
    assert!(
        lines(&out, "✔")
            .iter()
            .any(|line| line.starts_with("context \"active\" reachable")),
        "{}",
        out.stderr
    );

    // Offline: the bundle keeps cert-manager's annotations, so it is judged
    // alike, when it holds the root's secret.
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "--include",
            "xcp-identity-issuer",
            "-f",
            "with-root.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = cacheck(&world, &["--bundle", "with-root.yaml"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        lines(&out, "✖")
            .iter()
            .any(|line| *line == format!("cert-manager on bundle: {chain}")),
        "{}",
        out.stderr
    );
    // Without it (the model's secrets only) the root is out of sight, and the
    // pass says what it looked at.
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "model.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = cacheck(&world, &["--bundle", "model.yaml"]).await;
    assert!(
        lines(&out, "✔").iter().any(|line| line
            .starts_with("cert-manager on bundle: no auto-generated root CA among ")
            && line.ends_with(
                " secrets (cert-manager wrote mpc-certs, xcp-central-cert, none self-signed)"
            )),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_without_certificates_warns_and_exits_0() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let out = cacheck(&world, &["--context", "standby"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        lines(&out, "✔").iter().any(|line| line
            == "cert-manager on standby: no auto-generated root CA among 0 secrets (none written by cert-manager)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        lines(&out, "‼"),
        ["no certificate-bearing secret on standby"],
        "{}",
        out.stderr
    );
    let out = cacheck(&world, &["--context", "standby", "--strict"]).await;
    assert_eq!(
        out.code,
        Some(1),
        "--strict fails on warnings: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_a_bundle_against_a_cluster_and_against_another_bundle() {
    let world = pair(CertVariant::SharedRoot, CertVariant::OwnRoot).await;
    for cluster in ["active", "standby"] {
        let out = world
            .kubectl(&[
                "mp-export",
                "--context",
                cluster,
                "-f",
                &format!("{cluster}.yaml"),
            ])
            .await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }

    let out = cacheck(&world, &["--bundle", "active.yaml", "--context", "active"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        lines(&out, "✔").iter().any(|line| line
            .starts_with("active bundle active.yaml read: exported from context \"active\"")),
        "{}",
        out.stderr
    );

    let out = cacheck(&world, &["--bundle", "active.yaml", "--context", "standby"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        lines(&out, "✖")
            .iter()
            .any(|line| line == "tsb-certs/tls.crt: different root CAs on active and standby"),
        "{}",
        out.stderr
    );

    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    std::fs::write(
        world.path("key.txt"),
        format!("{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();
    let recipient = identity.to_public().to_string();
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "active.age",
            "--encrypt-to",
            &recipient,
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = cacheck(&world, &["--bundle", "active.age", "--context", "active"]).await;
    assert_eq!(
        out.code,
        Some(2),
        "an encrypted bundle needs its identity: {}",
        out.stderr
    );
    let out = cacheck(
        &world,
        &[
            "--bundle",
            "active.age",
            "--identity",
            "key.txt",
            "--context",
            "active",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    world.cluster("active").reset_counters();
    let out = cacheck(
        &world,
        &[
            "--bundle",
            "active.yaml",
            "--bundle",
            "standby.yaml",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        world.cluster("active").counters().is_empty(),
        "offline: no request"
    );
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["sources"][1]["kind"], "bundle");
    assert_eq!(report["sources"][1]["path"], "standby.yaml");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check["id"] == "same-root"
                && check["secret"] == "tsb-certs"
                && check["status"] == "fail")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_follows_the_documented_schema() {
    let world = pair(CertVariant::SharedRoot, CertVariant::OwnRoot).await;
    let out = cacheck_pair(&world, &["-o", "json"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        !out.stderr.contains('✔'),
        "JSON mode prints no check lines: {}",
        out.stderr
    );
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["sources"][0]["role"], "active");
    assert_eq!(report["sources"][0]["kind"], "context");
    assert_eq!(report["sources"][0]["context"], "active");
    assert_eq!(report["sources"][0]["namespace"], world.ns.as_str());
    let checks = report["checks"].as_array().unwrap();
    let failed = checks
        .iter()
        .find(|check| check["id"] == "same-root" && check["secret"] == "tsb-certs")
        .expect("a same-root check for tsb-certs");
    assert_eq!(failed["status"], "fail");
    assert_eq!(failed["key"], "tls.crt");
    assert_eq!(
        failed["fingerprints"]["active"][0],
        fingerprint(&world, "active", "tsb-certs", "ca.crt")
    );
    assert_eq!(
        failed["fingerprints"]["standby"][0],
        fingerprint(&world, "standby", "tsb-certs", "ca.crt")
    );
    assert!(failed["hint"].as_str().unwrap().contains("re-issue"));
    let count = |status: &str| {
        checks
            .iter()
            .filter(|check| check["status"] == status)
            .count()
    };
    assert_eq!(report["summary"]["pass"], count("pass"));
    assert_eq!(report["summary"]["warn"], count("warn"));
    assert_eq!(report["summary"]["fail"], count("fail"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_read_exits_3_with_one_line() {
    let world = pair(CertVariant::SharedRoot, CertVariant::SharedRoot).await;
    // RBAC's own denial: a ServiceAccount allowed nothing.
    let denied = world.denied_context("standby").await;
    let out = cacheck(
        &world,
        &[
            "--active-context",
            "active",
            "--standby-context",
            &denied,
            "--dns-name",
            FLOATING,
        ],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "context \"{denied}\" ({}): forbidden to get secret tsb-certs: ",
            world.cluster("standby").server_url(),
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// The shipped Role (deploy/rbac/cacheck) on both clusters is all the
/// comparison needs: as its ServiceAccount the report is the admin's.
#[tokio::test(flavor = "multi_thread")]
async fn cacheck_runs_as_the_shipped_role_alone() {
    let world = pair(CertVariant::SharedRoot, CertVariant::OwnRoot).await;
    let admin = cacheck_pair(&world, &["-o", "json"]).await;
    let mut contexts = Vec::new();
    for cluster in ["active", "standby"] {
        let context = world
            .bound_context(
                cluster,
                "deploy/rbac/cacheck",
                &world.ns,
                "mp-cacheck",
                None,
            )
            .await;
        contexts.push(context);
    }
    let args = [
        "--active-context",
        &contexts[0],
        "--standby-context",
        &contexts[1],
        "--dns-name",
        FLOATING,
        "-o",
        "json",
    ];
    let as_role = cacheck(&world, &args).await;
    // The pair's roots differ: a failed check, found the same way.
    assert_eq!(admin.code, Some(1), "{}", admin.stderr);
    assert_eq!(as_role.code, admin.code, "{}", as_role.stderr);
    let (admin, as_role): (Value, Value) = (
        serde_json::from_str(&admin.stdout).unwrap(),
        serde_json::from_str(&as_role.stdout).unwrap(),
    );
    // The same checks, but for the source lines naming the contexts.
    let checks = |report: &Value| -> Vec<Value> {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| check["id"] != "source")
            .cloned()
            .collect()
    };
    assert!(checks(&admin).len() > 5, "{admin}");
    assert!(checks(&as_role) == checks(&admin), "{as_role}");
    assert_eq!(as_role["summary"], admin["summary"]);
}

/// One permission less (the LIST discovering cert-manager's Secrets): the
/// real 403, one line naming the verb and the resource, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn cacheck_without_one_permission_of_its_role_fails_naming_it() {
    let world = pair(CertVariant::SharedRoot, CertVariant::SharedRoot).await;
    let removed = Removed {
        role: "mp-cacheck",
        resource: "secrets",
        verb: "list",
    };
    let context = world
        .bound_context(
            "standby",
            "deploy/rbac/cacheck",
            &world.ns,
            "mp-cacheck",
            Some(&removed),
        )
        .await;
    let args = [
        "--active-context",
        "active",
        "--standby-context",
        &context,
        "--dns-name",
        FLOATING,
    ];
    let out = cacheck(&world, &args).await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "context \"{context}\" ({}): forbidden to list secrets labelled controller.cert-manager.io/fao=true in namespace {}",
            world.cluster("standby").server_url(),
            world.ns
        )) && out.stderr.contains("cannot list resource \"secrets\""),
        "{}",
        out.stderr
    );
}

/// A pair a failover would succeed on now, as the readiness check expects
/// it: the standby holds the active's secrets (export | import), each MP's
/// spec names a Postgres of its own that listens here (a TCP listener each;
/// `--database separate`), the standby is fenced (operator, tsb and iam at
/// 0), the active's restore CronJob is suspended and the standby's runs,
/// its last success 10 minutes ago. The listeners are returned: keep them.
async fn ready_pair() -> (World, Vec<std::net::TcpListener>) {
    let world = pair(CertVariant::SharedRoot, CertVariant::SharedRoot).await;
    world
        .shell("kubectl mp-export --context active -n \"$NS\" -f - | kubectl mp-import --context standby -n \"$NS\" -f - --yes")
        .await
        .ok("export | import");
    let mut listeners = Vec::new();
    for cluster in ["active", "standby"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().unwrap().port();
        let spec = format!(
            r#"{{"spec":{{"dataStore":{{"postgres":{{"host":"127.0.0.1","port":{port}}}}}}}}}"#
        );
        in_ns(
            &world,
            cluster,
            &[
                "patch",
                "managementplane",
                "managementplane",
                "--type=merge",
                "-p",
                &spec,
            ],
        )
        .await;
        listeners.push(listener);
    }
    // The operator first: running, it would scale its writers back up.
    in_ns(
        &world,
        "standby",
        &[
            "scale",
            "deployment",
            "tsb-operator-management-plane",
            "--replicas=0",
        ],
    )
    .await;
    in_ns(
        &world,
        "standby",
        &["scale", "deployment", "tsb", "iam", "--replicas=0"],
    )
    .await;
    suspend_restore(&world, "active", true).await;
    let ten_minutes_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    let status = format!(
        r#"{{"status":{{"lastSuccessfulTime":"{}"}}}}"#,
        ten_minutes_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    in_ns(
        &world,
        "standby",
        &[
            "patch",
            "cronjob",
            "tsb-restore",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ],
    )
    .await;
    // Fenced means none left ready, which the controllers report shortly.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = in_ns(
            &world,
            "standby",
            &[
                "get",
                "deployment",
                "tsb",
                "iam",
                "tsb-operator-management-plane",
                "-o",
                "jsonpath={.items[*].status.readyReplicas}",
            ],
        )
        .await;
        if ready.stdout.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby's writers still ready: {}",
            ready.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (world, listeners)
}

/// `kubectl --context CLUSTER -n NS ARGS`, which must succeed.
async fn in_ns(world: &World, cluster: &str, args: &[&str]) -> Out {
    let mut full = vec!["--context", cluster, "-n", &world.ns];
    full.extend_from_slice(args);
    world.kubectl(&full).await.ok(&format!("kubectl {args:?}"))
}

async fn suspend_restore(world: &World, cluster: &str, suspend: bool) {
    let patch = format!(r#"{{"spec":{{"suspend":{suspend}}}}}"#);
    in_ns(
        world,
        cluster,
        &[
            "patch",
            "cronjob",
            "tsb-restore",
            "--type=merge",
            "-p",
            &patch,
        ],
    )
    .await;
}

/// `kubectl mp-cacheck --readiness` between `active` and `standby` (or the
/// contexts given), a database each.
async fn readiness(world: &World, contexts: (&str, &str), extra: &[&str]) -> Out {
    let mut args = vec![
        "--readiness",
        "--active-context",
        contexts.0,
        "--standby-context",
        contexts.1,
        "--database",
        "separate",
    ];
    args.extend_from_slice(extra);
    cacheck(world, &args).await
}

/// The (check id, cluster) of every failed check in a readiness document.
fn failed_checks(out: &Out) -> std::collections::BTreeSet<(String, String)> {
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["status"] == "fail")
        .map(|check| {
            let text = |field: &str| check[field].as_str().unwrap_or("").to_string();
            (text("id"), text("cluster"))
        })
        .collect()
}

/// A Prometheus exposition's samples: series (name and labels) to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("SERIES VALUE");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

const READINESS_CHECKS: [&str; 9] = [
    "active-found",
    "restore-cronjob",
    "standby-installed",
    "standby-front",
    "standby-scaled-down",
    "database",
    "root-ca",
    "secrets",
    "configuration",
];

#[tokio::test(flavor = "multi_thread")]
async fn readiness_passes_on_a_ready_pair_and_each_drift_fails_its_own_check() {
    let (world, mut listeners) = ready_pair().await;
    let pair = ("active", "standby");

    // Ready: every check passes, in 14 requests per cluster.
    for name in ["active", "standby"] {
        world.cluster(name).reset_counters();
    }
    let out = readiness(&world, pair, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        lines(&out, "✖").is_empty() && lines(&out, "‼").is_empty(),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("ready: a failover from \"active\" to \"standby\" would succeed now"),
        "{}",
        out.stderr
    );
    let passed = lines(&out, "✔").join("\n");
    for expected in [
        "standby scaled down: iam, tsb, tsb-operator-management-plane at 0 replicas",
        "active's restore CronJob tsb-restore is suspended",
        "standby's restore CronJob tsb-restore runs, last succeeded 10m ago",
        &format!(
            "active's Postgres reachable at 127.0.0.1:{} (TCP)",
            listeners[0].local_addr().unwrap().port()
        ),
        "certificates chain to the same root CA (mp-cacheck)",
        "ManagementPlane spec the same on both MPs",
    ] {
        assert!(passed.contains(expected), "{expected}\nnot in\n{passed}");
    }
    let secrets = lines(&out, "✔")
        .into_iter()
        .find(|line| line.starts_with("standby secrets match"))
        .expect("secrets line");
    assert!(
        secrets.contains("generic model: ")
            && secrets.contains("tsb-certs")
            && !secrets.contains("postgres-credentials"),
        "{secrets}"
    );
    // The token keys: a line each, as the failover's preflight judges them.
    for key in [
        "token signing secret iam-signing-key the same on both MPs (kid ",
        "XCP central key tsb-iam-jwks the same on both MPs",
    ] {
        assert!(passed.contains(key), "{key}\nnot in\n{passed}");
    }
    // Everything by name, each once: the layout's Secrets and 10
    // deployments, the front Service, the restore CronJob and the
    // ManagementPlane. LISTs only by label: cert-manager's Secrets and
    // helm's release records (none here: a tctl install).
    let secrets = format!("/api/v1/namespaces/{}/secrets", world.ns);
    for name in ["active", "standby"] {
        let counters = world.cluster(name).counters();
        let gets: Vec<(&String, &u64)> = counters
            .iter()
            .filter(|(request, _)| request.starts_with("get "))
            .collect();
        assert!(
            gets.iter().all(|(_, count)| **count == 1),
            "{name}: {counters:?}"
        );
        let layout = TsbLayout::default();
        for secret in layout.known_secret_names() {
            assert!(
                counters.contains_key(&format!("get {secrets}/{secret}")),
                "{name}: {secret} not read by name: {counters:?}"
            );
        }
        assert_eq!(
            gets.len(),
            layout.known_secret_names().len() + 10 + 3,
            "{name}: {counters:?}"
        );
        assert_eq!(
            world.cluster(name).lists().into_keys().collect::<Vec<_>>(),
            [
                "controller.cert-manager.io/fao=true",
                "owner=helm,name=mp",
                "owner=helm,name=mp,status=deployed",
                "owner=helm,status=deployed",
            ]
            .map(|selector| format!("{secrets}?labelSelector={selector}")),
            "{name}: {counters:?}"
        );
    }

    // The same as one JSON document, and as Prometheus' exposition.
    let json = readiness(&world, pair, &["-o", "json"]).await;
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["mode"], "readiness");
    assert_eq!(report["ready"], true);
    assert_eq!(report["exitCode"], 0);
    let ids: std::collections::BTreeSet<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, READINESS_CHECKS.into_iter().collect());
    assert_eq!(report["restore"]["cronjob"], "tsb-restore");
    let age = report["restore"]["ageSeconds"].as_i64().unwrap();
    assert!((600..700).contains(&age), "{age}");
    let prometheus = readiness(&world, pair, &["-o", "prometheus"]).await;
    assert_eq!(prometheus.code, Some(0), "{}", prometheus.stderr);
    let metrics = samples(&prometheus.stdout);
    let labels = format!(
        r#"active="active",standby="standby",namespace="{}""#,
        world.ns
    );
    assert_eq!(
        metrics[&format!("kubectl_mp_readiness_up{{{labels}}}")],
        1.0
    );
    assert_eq!(
        metrics[&format!("kubectl_mp_readiness_ready{{{labels}}}")],
        1.0
    );
    let age = metrics[&format!(
        r#"kubectl_mp_readiness_restore_last_success_age_seconds{{{labels},cronjob="tsb-restore"}}"#
    )];
    assert!((600.0..700.0).contains(&age), "{age}");
    assert!(metrics.contains_key(&format!(r#"kubectl_mp_readiness_check{{{labels},check="standby-scaled-down",cluster="standby",status="pass"}}"#)), "{}", prometheus.stdout);
    assert!(
        !prometheus
            .stdout
            .lines()
            .any(|line| line.starts_with("kubectl_mp_readiness_check{")
                && line.contains("status=\"fail\"")),
        "{}",
        prometheus.stdout
    );

    // Each drift, one at a time, adds its own failed check.
    let mut expected = std::collections::BTreeSet::new();
    let drifts: Vec<(&str, &str, &str)> = vec![
        (
            "secrets",
            "",
            "standby secrets match the active's (differ: admin-credentials)",
        ),
        (
            "standby-scaled-down",
            "standby",
            "standby scaled down: iam, tsb, tsb-operator-management-plane at 0 replicas",
        ),
        (
            "configuration",
            "",
            "ManagementPlane spec the same on both MPs",
        ),
        (
            "restore-cronjob",
            "active",
            "active's restore CronJob tsb-restore is suspended",
        ),
        (
            "restore-cronjob",
            "standby",
            "standby's restore CronJob tsb-restore runs",
        ),
        (
            "database",
            "standby",
            "standby's Postgres reachable at 127.0.0.1:",
        ),
    ];
    for (id, cluster, title) in drifts {
        match (id, cluster) {
            ("secrets", _) => {
                world.shell("kubectl --context standby -n \"$NS\" create secret generic admin-credentials --from-literal=password=drifted --dry-run=client -o yaml | kubectl --context standby -n \"$NS\" replace -f -").await.ok("replace admin-credentials");
            }
            ("standby-scaled-down", _) => {
                in_ns(
                    &world,
                    "standby",
                    &["scale", "deployment", "tsb", "--replicas=1"],
                )
                .await;
            }
            ("configuration", _) => {
                in_ns(
                    &world,
                    "standby",
                    &[
                        "patch",
                        "managementplane",
                        "managementplane",
                        "--type=merge",
                        "-p",
                        r#"{"spec":{"organization":"drifted-org"}}"#,
                    ],
                )
                .await;
            }
            ("restore-cronjob", "active") => suspend_restore(&world, "active", false).await,
            ("restore-cronjob", _) => suspend_restore(&world, "standby", true).await,
            _ => drop(listeners.pop()),
        }
        expected.insert((id.to_string(), cluster.to_string()));
        let out = readiness(&world, pair, &[]).await;
        assert_eq!(out.code, Some(1), "{id}: {}", out.stderr);
        assert!(
            lines(&out, "✖").iter().any(|line| line.starts_with(title)),
            "{id}: {title}\nnot failed in\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("NOT ready"), "{}", out.stderr);
        let json = readiness(&world, pair, &["-o", "json"]).await;
        assert_eq!(json.code, Some(1), "{}", json.stderr);
        assert_eq!(failed_checks(&json), expected, "{id}: {}", json.stdout);
        if id == "configuration" {
            assert!(
                out.stderr.contains("differ at: organization;"),
                "{}",
                out.stderr
            );
            assert!(
                !out.all().contains("drifted-org"),
                "a value is never printed"
            );
        }
        if id == "secrets" {
            assert!(
                !out.all().contains("drifted"),
                "a secret value is never printed"
            );
            // The hint offers what this command's user can run: mp-failover's
            // --sync-secrets is not an mp-cacheck flag.
            assert!(
                out.stderr
                    .contains("run kubectl mp-export | kubectl mp-import")
                    && !out.stderr.contains("--sync-secrets"),
                "{}",
                out.stderr
            );
        }
    }
    let prometheus = readiness(&world, pair, &["-o", "prometheus"]).await;
    assert_eq!(prometheus.code, Some(1), "{}", prometheus.stderr);
    let metrics = samples(&prometheus.stdout);
    assert_eq!(
        metrics[&format!("kubectl_mp_readiness_ready{{{labels}}}")],
        0.0
    );
    assert_eq!(
        metrics[&format!(r#"kubectl_mp_readiness_checks{{{labels},status="fail"}}"#)],
        expected.len() as f64
    );
    for (id, cluster) in &expected {
        let series = format!(
            r#"kubectl_mp_readiness_check{{{labels},check="{id}",cluster="{cluster}",status="fail"}}"#
        );
        assert_eq!(
            metrics.get(&series),
            Some(&1.0),
            "{series}\n{}",
            prometheus.stdout
        );
    }
}

/// The shipped Role (deploy/readiness/rbac) is all the readiness check
/// needs; without one of its permissions it stops with one line naming it.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_runs_as_the_shipped_role_alone() {
    let (world, _listeners) = ready_pair().await;
    let mut contexts = Vec::new();
    for cluster in ["active", "standby"] {
        let context = world
            .bound_context(
                cluster,
                "deploy/readiness/rbac",
                &world.ns,
                "mp-readiness",
                None,
            )
            .await;
        contexts.push(context);
    }
    let as_role = (contexts[0].as_str(), contexts[1].as_str());
    let out = readiness(&world, as_role, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(lines(&out, "✖").is_empty(), "{}", out.stderr);

    // The shipped CronJob is one the real API server accepts.
    let cronjob = world.path("readiness-cronjob");
    std::fs::create_dir_all(&cronjob).unwrap();
    std::fs::copy(
        plugin_support::workspace_root().join("deploy/readiness/cronjob.yaml"),
        cronjob.join("cronjob.yaml"),
    )
    .unwrap();
    std::fs::write(
        cronjob.join("kustomization.yaml"),
        format!("namespace: {}\nresources: [cronjob.yaml]\n", world.ns),
    )
    .unwrap();
    let applied = world
        .kubectl(&[
            "--context",
            "standby",
            "apply",
            "--dry-run=server",
            "-k",
            &cronjob.display().to_string(),
        ])
        .await;
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    assert!(
        applied
            .stdout
            .contains("cronjob.batch/mp-readiness created (server dry run)"),
        "{}",
        applied.stdout
    );

    // Without get on cronjobs in the standby: one line naming it, exit 3.
    let removed = Removed {
        role: "mp-readiness",
        resource: "cronjobs",
        verb: "get",
    };
    world
        .bound_context(
            "standby",
            "deploy/readiness/rbac",
            &world.ns,
            "mp-readiness",
            Some(&removed),
        )
        .await;
    let expected = format!(
        "context \"{}\" ({}): forbidden to get cronjob tsb-restore in namespace {}",
        as_role.1,
        world.cluster("standby").server_url(),
        world.ns
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = readiness(&world, as_role, &["-o", "prometheus"]).await;
        if out.code != Some(0) || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains(&expected),
        "{expected}\nnot in\n{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let metrics = samples(&out.stdout);
    let labels = format!(
        r#"active="{}",standby="{}",namespace="{}""#,
        as_role.0, as_role.1, world.ns
    );
    assert_eq!(
        metrics[&format!("kubectl_mp_readiness_up{{{labels}}}")],
        0.0,
        "{}",
        out.stdout
    );
    assert_eq!(
        metrics[&format!("kubectl_mp_readiness_ready{{{labels}}}")],
        0.0
    );
}
