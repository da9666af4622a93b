//! The real plane itself (tests/kube): both contexts are kube-apiserver
//! 1.36 that kubectl 1.36 uses, the helm model through a real `helm
//! install`, and the fault proxy in front of a real API server. Every other
//! suite runs on the same plane through `plugin_support::World`.

mod plugin_support;

use std::path::Path;

use plugin_support::{Namespaces, plane, unique_namespace};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn both_contexts_are_real_kubernetes_that_kubectl_1_36_uses() {
    let plane = plane();
    let ours = std::env::var_os("MP_TEST_KUBECONFIG").is_none();
    for context in ["active", "standby"] {
        let version = plane
            .run(
                Path::new("."),
                Path::new("."),
                "kubectl",
                &["--context", context, "version", "-o", "json"],
            )
            .ok("kubectl version");
        let version = json(&version.stdout);
        assert_eq!(version["clientVersion"]["gitVersion"], "v1.36.3");
        let server = version["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap_or("");
        if ours {
            assert_eq!(server, "v1.36.3", "{context}");
            // The pair's token user is authorised by real RBAC.
            let token = format!("{context}-token");
            let can = plane.run(
                Path::new("."),
                Path::new("."),
                "kubectl",
                &[
                    "--context",
                    &token,
                    "auth",
                    "can-i",
                    "list",
                    "secrets",
                    "-A",
                ],
            );
            assert_eq!(can.stdout.trim(), "yes", "{token}: {}", can.stderr);
        } else {
            assert!(server.starts_with("v1."), "{context}: {server}");
        }
    }
}

/// Runbook steps 1-2 of the helm model on the real plane: `helm install` of
/// the managementplane chart writes helm's own release Secret, the operator
/// Deployment becomes Ready through kwok, and the plugins export the
/// generated iam-signing-key, the Secrets the values' `secrets:` rendered
/// (admin-credentials, postgres-credentials) and the standby's install
/// values, and import them into the standby. The release is named `tsb-mp`, not the usual
/// `mp`: the export finds it by its chart.
#[test]
fn helm_model_export_and_import_between_real_clusters() {
    let plane = plane();
    let plugins = plugin_support::bin_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = |program: &str, args: &[&str]| plane.run(dir.path(), plugins, program, args);
    let namespace = unique_namespace("mp-helm");
    let mut namespaces = Namespaces::new(plane);
    namespaces.create("active", &namespace);

    std::fs::write(
        dir.path().join("values.yaml"),
        "spec:\n  hub: registry.example/tetrate\n  organization: tetrate\n  dataStore:\n    postgres:\n      host: postgres.example\n      port: 5432\n      name: tsb\nsecrets:\n  tsb:\n    adminPassword: s3cret-admin-password\n  postgres:\n    username: tsb\n    password: s3cret-postgres-password\n",
    )
    .unwrap();
    let chart = plane.chart().display().to_string();
    run(
        "helm",
        &[
            "--kube-context",
            "active",
            "install",
            "tsb-mp",
            &chart,
            "-n",
            &namespace,
            "--values",
            "values.yaml",
            "--wait",
            "--timeout",
            "90s",
        ],
    )
    .ok("helm install");
    let release = run(
        "kubectl",
        &[
            "--context",
            "active",
            "-n",
            &namespace,
            "get",
            "secret",
            "sh.helm.release.v1.tsb-mp.v1",
            "-o",
            "jsonpath={.type}",
        ],
    )
    .ok("helm's release Secret");
    assert_eq!(release.stdout, "helm.sh/release.v1");
    let signing_key = |context: &str| {
        run(
            "kubectl",
            &[
                "--context",
                context,
                "-n",
                &namespace,
                "get",
                "secret",
                "iam-signing-key",
                "-o",
                "jsonpath={.data.private\\.key}",
            ],
        )
        .ok("iam-signing-key")
        .stdout
    };
    let active_key = signing_key("active");
    assert!(active_key.len() > 100, "helm generated a key: {active_key}");

    let export = run(
        "kubectl",
        &[
            "mp-export",
            "--context",
            "active",
            "-n",
            &namespace,
            "-f",
            "bundle.yaml",
            "--values-out",
            "dr_mp_values.yaml",
        ],
    )
    .ok("kubectl mp-export");
    assert!(
        export.stderr.contains("exported 3 secrets") && export.stderr.contains("helm model"),
        "{}",
        export.stderr
    );
    assert!(!export.stderr.contains(&active_key), "{}", export.stderr);
    let values = std::fs::read_to_string(dir.path().join("dr_mp_values.yaml")).unwrap();
    assert!(values.contains("registry.example/tetrate"), "{values}");
    assert!(values.contains("postgres.example"), "{values}");
    assert!(
        !values.contains("s3cret"),
        "no secrets in the values: {values}"
    );

    namespaces.adopt("standby", &namespace);
    run(
        "kubectl",
        &[
            "mp-import",
            "--context",
            "standby",
            "-n",
            &namespace,
            "-f",
            "bundle.yaml",
            "--yes",
        ],
    )
    .ok("kubectl mp-import");
    assert_eq!(signing_key("standby"), active_key);

    let again = run(
        "kubectl",
        &[
            "mp-import",
            "--context",
            "standby",
            "-n",
            &namespace,
            "-f",
            "bundle.yaml",
            "--yes",
        ],
    )
    .ok("kubectl mp-import, again");
    assert!(
        again
            .stderr
            .contains("nothing to change: all 3 secrets already match"),
        "a re-run changes nothing: {}",
        again.stderr
    );
}

/// The counting, fault and latency proxy in front of a real API server:
/// real kubectl works through it, it counts by verb and path, an injected
/// Status reaches the client, down refuses and up serves again, and a
/// bearer token passes through to the API server's own authentication.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fault_proxy_fronts_a_real_api_server() {
    use mp_sandbox::faults::{FaultAction, FaultRule};
    use std::time::{Duration, Instant};

    let plane = plane();
    let proxy = mp_sandbox::proxy::ApiProxy::start(plane.upstream_of("active"))
        .await
        .expect("proxy starts");
    let dir = tempfile::tempdir().unwrap();
    let token = plane.token_of("active");
    let ca = dir.path().join("proxy-ca.pem");
    std::fs::write(&ca, proxy.ca_pem()).unwrap();
    let (admin_cert, admin_key) = proxy.admin_client();
    std::fs::write(dir.path().join("admin.crt"), admin_cert).unwrap();
    std::fs::write(dir.path().join("admin.key"), admin_key).unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: proxied\nclusters:\n- name: proxy\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    client-certificate: admin.crt\n    client-key: admin.key\n- name: token\n  user:\n    token: {token}\n- name: bogus\n  user:\n    token: not-a-token\ncontexts:\n- name: proxied\n  context: {{cluster: proxy, user: admin}}\n- name: proxied-token\n  context: {{cluster: proxy, user: token}}\n- name: proxied-bogus\n  context: {{cluster: proxy, user: bogus}}\n",
            proxy.url(),
            ca.display()
        ),
    )
    .unwrap();
    let kubectl = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", "kubeconfig", "--request-timeout", "10s"];
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|arg| arg.to_string()).collect();
        let dir = dir.path().to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = all.iter().map(String::as_str).collect();
                plugin_support::plane().run(&dir, Path::new("."), "kubectl", &args)
            })
            .await
            .unwrap()
        }
    };

    kubectl(&["get", "namespace", "default"])
        .await
        .ok("through the proxy");
    assert_eq!(
        proxy
            .faults()
            .counters()
            .get("get /api/v1/namespaces/default"),
        Some(&1),
        "{:?}",
        proxy.faults().counters()
    );

    proxy.faults().add_rule(FaultRule {
        verb: Some("list".into()),
        path_contains: Some("/secrets".into()),
        nth: None,
        times: Some(1),
        action: FaultAction::Status(503),
    });
    let failed = kubectl(&["get", "secrets", "-n", "default"]).await;
    assert_eq!(
        failed.code,
        Some(1),
        "{failed:?} {:?}",
        proxy.faults().counters()
    );
    assert!(
        failed.stderr.contains("injected by the test proxy: 503"),
        "{}",
        failed.stderr
    );
    kubectl(&["get", "secrets", "-n", "default"])
        .await
        .ok("the rule fired once");

    proxy.faults().set_latency(Duration::from_millis(400));
    let started = Instant::now();
    kubectl(&["get", "namespace", "default"]).await.ok("slow");
    assert!(started.elapsed() >= Duration::from_millis(400));
    proxy.faults().clear();

    proxy.set_down(true).await.unwrap();
    let down = kubectl(&["get", "namespace", "default"]).await;
    assert_ne!(down.code, Some(0));
    assert!(down.stderr.contains("was refused"), "{}", down.stderr);
    proxy.set_down(false).await.unwrap();
    kubectl(&["get", "namespace", "default"])
        .await
        .ok("up again");

    let can = kubectl(&[
        "--context",
        "proxied-token",
        "auth",
        "can-i",
        "list",
        "secrets",
    ])
    .await;
    assert_eq!(can.stdout.trim(), "yes", "{}", can.stderr);
    let bogus = kubectl(&["--context", "proxied-bogus", "get", "namespace", "default"]).await;
    assert_eq!(bogus.code, Some(1));
    assert!(bogus.stderr.contains("Unauthorized"), "{}", bogus.stderr);
}
