//! `kubectl mp-cacheck` on the seeded certificate variants, run as users
//! run it: installed, through the real kubectl.

mod plugin_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mp_sandbox::{CertVariant, SeedKind};
use plugin_support::{Out, World};
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
fn one_secrets_list(world: &World) -> BTreeMap<String, u64> {
    BTreeMap::from([(format!("list /api/v1/namespaces/{}/secrets", world.ns), 1)])
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
async fn a_shared_root_passes_in_one_request_per_cluster() {
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
            one_secrets_list(&world),
            "{cluster}"
        );
    }
    // 1.5 s per request: the two clusters one after the other would take 3 s.
    assert!(
        elapsed < Duration::from_millis(2900),
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
        one_secrets_list(&world),
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
async fn a_denied_list_exits_3_with_one_line() {
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
            "context \"{denied}\" ({}): forbidden to list secrets in namespace {}",
            world.cluster("standby").server_url(),
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}
