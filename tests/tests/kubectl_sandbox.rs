//! The real kubectl against in-process sandbox clusters: every request path
//! kubectl takes for the commands our plugins and runbook use.

mod common;

use std::time::{Duration, Instant};

use common::{Env, NS};
use mp_sandbox::faults::{FaultAction, FaultRule};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// A Secret whose `key` holds `encoded` (base64).
fn secret_manifest(name: &str, encoded: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\ndata:\n  key: {encoded}\n"
    )
}

fn configmap_manifest(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NS}\n  labels:\n    tier: web\ndata:\n  key: {value}\n"
    )
}

fn deployment_manifest(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

fn management_plane_manifest(hub: &str) -> String {
    format!(
        "apiVersion: install.tetrate.io/v1alpha1\nkind: ManagementPlane\nmetadata:\n  name: managementplane\n  namespace: {NS}\nspec:\n  hub: {hub}\n  organization: tetrate\n"
    )
}

/// The ManagementPlane CRD, applied by the tests that need it: the seeds
/// may or may not hold it, and applying it exercises CRD registration.
const MANAGEMENT_PLANE_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: managementplanes.install.tetrate.io
spec:
  group: install.tetrate.io
  scope: Namespaced
  names:
    plural: managementplanes
    singular: managementplane
    kind: ManagementPlane
    listKind: ManagementPlaneList
    shortNames: [mp]
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

async fn install_management_plane_crd(env: &Env) {
    let applied = env.apply(MANAGEMENT_PLANE_CRD, &[]).await;
    assert!(applied.success, "{}", applied.stderr);
    assert!(
        applied.stdout.starts_with(
            "customresourcedefinition.apiextensions.k8s.io/managementplanes.install.tetrate.io"
        ),
        "{}",
        applied.stdout
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_reports_the_server_version() {
    let env = Env::start().await;
    let out = env.ok(&["version", "-o", "json"]).await;
    let server = &json(&out)["serverVersion"];
    assert!(
        server["gitVersion"].as_str().unwrap().starts_with("v1.33."),
        "{out}"
    );
    assert_eq!(server["major"], "1");
    assert_eq!(server["platform"], "linux/amd64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_builtins_and_custom_resources() {
    let env = Env::start().await;
    install_management_plane_crd(&env).await;
    let established = env
        .ok(&[
            "get",
            "crd",
            "managementplanes.install.tetrate.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ])
        .await;
    assert_eq!(established, "True");
    let out = env.ok(&["api-resources"]).await;
    let row = |name: &str| {
        out.lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        row("namespaces"),
        ["namespaces", "ns", "v1", "false", "Namespace"]
    );
    assert_eq!(
        row("customresourcedefinitions"),
        [
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
            "false",
            "CustomResourceDefinition"
        ]
    );
    assert!(row("leases").contains(&"coordination.k8s.io/v1"));
    assert!(row("cronjobs").contains(&"batch/v1"));
    assert_eq!(
        row("managementplanes"),
        [
            "managementplanes",
            "mp",
            "install.tetrate.io/v1alpha1",
            "true",
            "ManagementPlane"
        ]
    );
    let apps = env
        .ok(&["api-resources", "--api-group=apps", "-o", "name"])
        .await;
    assert_eq!(apps.trim(), "deployments.apps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_namespace_and_generic_secret_through_protobuf() {
    let env = Env::with_namespace().await;
    let again = env.run(&["create", "namespace", NS]).await;
    assert!(!again.success);
    assert!(
        again.stderr.contains(&format!(
            "Error from server (AlreadyExists): namespaces \"{NS}\" already exists"
        )),
        "{}",
        again.stderr
    );
    let out = env
        .ok(&[
            "-n",
            NS,
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=hunter2",
        ])
        .await;
    assert_eq!(out.trim(), "secret/db created");
    let stored = env.object("", "secrets", "db").expect("stored secret");
    assert_eq!(stored["data"]["password"], "aHVudGVyMg==");
    assert_eq!(stored["type"], "Opaque");
    assert_eq!(stored["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(stored["metadata"]["creationTimestamp"].is_string());
    let listed = env.ok(&["-n", NS, "get", "secrets"]).await;
    let header: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "DATA", "AGE"]);
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("db ") && line.contains("Opaque")),
        "{listed}"
    );

    // stringData is folded into data, as the real server does.
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: {NS}\nstringData:\n  user: admin\n"
    );
    let applied = env.apply(&manifest, &[]).await;
    assert!(applied.success, "{}", applied.stderr);
    let plain = env.object("", "secrets", "plain").unwrap();
    assert_eq!(plain["data"]["user"], "YWRtaW4=");
    assert!(plain.get("stringData").is_none());

    let missing = env
        .run(&[
            "-n",
            "nowhere",
            "create",
            "configmap",
            "x",
            "--from-literal=a=b",
        ])
        .await;
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("namespaces \"nowhere\" not found"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_patches_builtin_kinds() {
    let env = Env::with_namespace().await;
    for (manifest, changed, kind, group, plural) in [
        (
            secret_manifest("s", "b25l"),
            secret_manifest("s", "dHdv"),
            "secret",
            "",
            "secrets",
        ),
        (
            configmap_manifest("c", "one"),
            configmap_manifest("c", "two"),
            "configmap",
            "",
            "configmaps",
        ),
        (
            deployment_manifest("d", 1, "nginx:1"),
            deployment_manifest("d", 1, "nginx:2"),
            "deployment.apps",
            "apps",
            "deployments",
        ),
    ] {
        let name = &plural[..1];
        let created = env.apply(&manifest, &[]).await;
        assert!(created.success, "{}", created.stderr);
        assert_eq!(created.stdout.trim(), format!("{kind}/{name} created"));
        let before = env.object(group, plural, name).expect("created");
        let unchanged = env.apply(&manifest, &[]).await;
        assert_eq!(unchanged.stdout.trim(), format!("{kind}/{name} unchanged"));
        let patched = env.apply(&changed, &[]).await;
        assert!(patched.success, "{}", patched.stderr);
        assert_eq!(patched.stdout.trim(), format!("{kind}/{name} configured"));
        let after = env.object(group, plural, name).expect("still there");
        assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
        let before_version: u64 = before["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let after_version: u64 = after["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(after_version > before_version);
        assert!(
            after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .unwrap()
                .contains("two")
                || after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                    .as_str()
                    .unwrap()
                    .contains("dHdv")
                || after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                    .as_str()
                    .unwrap()
                    .contains("nginx:2")
        );
    }
    assert_eq!(
        env.object("", "secrets", "s").unwrap()["data"]["key"],
        "dHdv"
    );
    assert_eq!(
        env.object("", "configmaps", "c").unwrap()["data"]["key"],
        "two"
    );
    let deployment = env.object("apps", "deployments", "d").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    assert_eq!(deployment["metadata"]["generation"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_patches_custom_resources_with_merge_patch() {
    let env = Env::with_namespace().await;
    install_management_plane_crd(&env).await;
    let created = env
        .apply(&management_plane_manifest("registry.one"), &[])
        .await;
    assert!(created.success, "{}", created.stderr);
    assert_eq!(
        created.stdout.trim(),
        "managementplane.install.tetrate.io/managementplane created"
    );
    let patched = env
        .apply(&management_plane_manifest("registry.two"), &[])
        .await;
    assert!(patched.success, "{}", patched.stderr);
    assert!(patched.stdout.contains("configured"), "{}", patched.stdout);
    let stored = env
        .object("install.tetrate.io", "managementplanes", "managementplane")
        .unwrap();
    assert_eq!(stored["spec"]["hub"], "registry.two");
    assert_eq!(stored["spec"]["organization"], "tetrate");
    assert_eq!(stored["metadata"]["generation"], 2);

    // Custom resources have no strategic merge patch: the server says so.
    let strategic = env
        .run(&[
            "-n",
            NS,
            "patch",
            "managementplane",
            "managementplane",
            "-p",
            r#"{"spec":{"hub":"x"}}"#,
        ])
        .await;
    assert!(!strategic.success);
    assert!(
        strategic
            .stderr
            .contains("the body of the request was in an unknown format"),
        "{}",
        strategic.stderr
    );
    let merge = env
        .ok(&[
            "-n",
            NS,
            "patch",
            "mp",
            "managementplane",
            "--type=merge",
            "-p",
            r#"{"spec":{"hub":"x"}}"#,
        ])
        .await;
    assert!(merge.contains("patched"), "{merge}");
    let hub = env
        .ok(&[
            "-n",
            NS,
            "get",
            "managementplanes",
            "managementplane",
            "-o",
            "jsonpath={.spec.hub}",
        ])
        .await;
    assert_eq!(hub, "x");

    // Deleting the CRD takes its resources and their objects with it.
    env.ok(&["delete", "crd", "managementplanes.install.tetrate.io"])
        .await;
    assert!(
        env.object("install.tetrate.io", "managementplanes", "managementplane")
            .is_none()
    );
    let gone = env.run(&["-n", NS, "get", "managementplanes"]).await;
    assert!(!gone.success);
    assert!(
        // kubectl's discovery cache still knows the resource, so it lists and
        // hears 404; with a fresh cache it says it has no such type.
        gone.stderr
            .contains("the server could not find the requested resource")
            || gone
                .stderr
                .contains("the server doesn't have a resource type \"managementplanes\""),
        "{}",
        gone.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_reports_conflicts_and_forces() {
    let env = Env::with_namespace().await;
    let first = env
        .apply(&configmap_manifest("ssa", "one"), &["--server-side"])
        .await;
    assert!(first.success, "{}", first.stderr);
    assert_eq!(first.stdout.trim(), "configmap/ssa serverside-applied");

    let conflicting = env
        .apply(
            &configmap_manifest("ssa", "two"),
            &["--server-side", "--field-manager=intruder"],
        )
        .await;
    assert!(!conflicting.success);
    assert!(
        conflicting.stderr.contains("Apply failed with 1 conflict")
            && conflicting.stderr.contains("conflict with \"kubectl\"")
            && conflicting.stderr.contains(".data.key"),
        "{}",
        conflicting.stderr
    );
    assert_eq!(
        env.object("", "configmaps", "ssa").unwrap()["data"]["key"],
        "one"
    );

    let forced = env
        .apply(
            &configmap_manifest("ssa", "two"),
            &[
                "--server-side",
                "--field-manager=intruder",
                "--force-conflicts",
            ],
        )
        .await;
    assert!(forced.success, "{}", forced.stderr);
    assert_eq!(
        env.object("", "configmaps", "ssa").unwrap()["data"]["key"],
        "two"
    );
    let yaml = env
        .ok(&[
            "-n",
            NS,
            "get",
            "configmap",
            "ssa",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(yaml.contains("managedFields:"), "{yaml}");
    assert!(yaml.contains("manager: intruder"), "{yaml}");
    assert!(yaml.contains("operation: Apply"), "{yaml}");
    let hidden = env
        .ok(&["-n", NS, "get", "configmap", "ssa", "-o", "yaml"])
        .await;
    assert!(!hidden.contains("managedFields"), "{hidden}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_yaml_json_jsonpath_and_tables() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "configmap",
        "shown",
        "--from-literal=colour=blue",
    ])
    .await;
    let yaml = env
        .ok(&["-n", NS, "get", "configmap", "shown", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("colour: blue"),
        "{yaml}"
    );
    let object = json(
        &env.ok(&["-n", NS, "get", "configmap", "shown", "-o", "json"])
            .await,
    );
    assert_eq!(object["metadata"]["namespace"], NS);
    assert_eq!(object["apiVersion"], "v1");
    let colour = env
        .ok(&[
            "-n",
            NS,
            "get",
            "configmap",
            "shown",
            "-o",
            "jsonpath={.data.colour}",
        ])
        .await;
    assert_eq!(colour, "blue");
    let table = env.ok(&["-n", NS, "get", "configmap", "shown"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(&lines[1][..2], ["shown", "1"]);
    let list = json(&env.ok(&["-n", NS, "get", "configmaps", "-o", "json"]).await);
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["metadata"]["name"], "shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_file_creates_every_item() {
    let env = Env::with_namespace().await;
    // kubectl validates a List on the client side, with the OpenAPI v2 document.
    let item = |name: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": NS}, "data": {"key": name}})
    };
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [item("first"), item("second")]});
    let created = env
        .run_with_stdin(&["create", "-f", "-"], &list.to_string())
        .await;
    assert!(created.success, "{}", created.stderr);
    assert_eq!(
        created.stdout.lines().collect::<Vec<_>>(),
        ["configmap/first created", "configmap/second created"]
    );
    assert_eq!(
        env.object("", "configmaps", "second").unwrap()["data"]["key"],
        "second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_and_field_selectors_filter_lists() {
    let env = Env::with_namespace().await;
    env.apply(&configmap_manifest("labelled", "x"), &[]).await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "configmap",
        "plain",
        "--from-literal=a=b",
    ])
    .await;
    let by_label = env
        .ok(&[
            "-n",
            NS,
            "get",
            "configmaps",
            "-l",
            "tier=web",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(by_label.trim(), "configmap/labelled");
    let by_absent_label = env
        .ok(&["-n", NS, "get", "configmaps", "-l", "!tier", "-o", "name"])
        .await;
    assert_eq!(by_absent_label.trim(), "configmap/plain");
    let by_field = env
        .ok(&[
            "-n",
            NS,
            "get",
            "configmaps",
            "--field-selector",
            "metadata.name=plain",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(by_field.trim(), "configmap/plain");
    let across = env
        .ok(&[
            "get",
            "configmaps",
            "-A",
            "--field-selector",
            "metadata.name=labelled",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(across.trim(), "configmap/labelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_then_rollout_status_waits_for_ready_replicas() {
    let env = Env::with_namespace().await;
    let created = env
        .apply(&deployment_manifest("web", 1, "nginx:1"), &[])
        .await;
    assert!(created.success, "{}", created.stderr);
    let scaled = env
        .ok(&["-n", NS, "scale", "deployment", "web", "--replicas=3"])
        .await;
    assert_eq!(scaled.trim(), "deployment.apps/web scaled");
    let scale = json(
        &env.ok(&[
            "get",
            "--raw",
            &format!("/apis/apps/v1/namespaces/{NS}/deployments/web/scale"),
        ])
        .await,
    );
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");

    let started = Instant::now();
    let rollout = env
        .ok(&[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=30s",
        ])
        .await;
    assert!(rollout.contains("successfully rolled out"), "{rollout}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let ready = env
        .ok(&[
            "-n",
            NS,
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ])
        .await;
    assert_eq!(ready, "3");
    let table = env.ok(&["-n", NS, "get", "deploy", "web"]).await;
    assert!(table.lines().nth(1).unwrap().contains("3/3"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_waits_until_gone_and_namespace_delete_empties_it() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "configmap",
        "doomed",
        "--from-literal=a=b",
    ])
    .await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "inner",
        "--from-literal=a=b",
    ])
    .await;
    let deleted = env.ok(&["-n", NS, "delete", "configmap", "doomed"]).await;
    assert_eq!(deleted.trim(), "configmap \"doomed\" deleted");
    assert!(env.object("", "configmaps", "doomed").is_none());
    let again = env.run(&["-n", NS, "delete", "configmap", "doomed"]).await;
    assert!(!again.success);
    assert!(
        again.stderr.contains("configmaps \"doomed\" not found"),
        "{}",
        again.stderr
    );

    let namespace = env.ok(&["delete", "namespace", NS, "--timeout=20s"]).await;
    assert_eq!(namespace.trim(), format!("namespace \"{NS}\" deleted"));
    assert!(env.object("", "secrets", "inner").is_none());
    let gone = env.run(&["get", "namespace", NS]).await;
    assert!(
        gone.stderr
            .contains(&format!("namespaces \"{NS}\" not found")),
        "{}",
        gone.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_an_object_created_meanwhile() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "configmap",
        "before",
        "--from-literal=a=b",
    ])
    .await;
    let mut watcher = env.spawn(&[
        "-n",
        NS,
        "get",
        "configmaps",
        "--watch",
        "--request-timeout=20s",
    ]);
    let mut lines = tokio::io::BufReader::new(watcher.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let watched = tokio::time::timeout(Duration::from_secs(20), async {
        let mut created = false;
        while let Some(line) = lines.next_line().await.expect("read watch output") {
            seen.push(line.clone());
            if line.starts_with("before") && !created {
                // The initial list is printed: the watch is about to start.
                created = true;
                env.ok(&[
                    "-n",
                    NS,
                    "create",
                    "configmap",
                    "during",
                    "--from-literal=a=b",
                ])
                .await;
            }
            if line.starts_with("during") {
                return true;
            }
        }
        false
    })
    .await;
    watcher.kill().await.ok();
    assert_eq!(watched, Ok(true), "watch printed: {seen:?}");
    assert_eq!(
        seen[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DATA", "AGE"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_run_changes_nothing() {
    let env = Env::with_namespace().await;
    let created = env
        .ok(&[
            "-n",
            NS,
            "create",
            "configmap",
            "dry",
            "--from-literal=a=b",
            "--dry-run=server",
        ])
        .await;
    assert_eq!(created.trim(), "configmap/dry created (server dry run)");
    assert!(env.object("", "configmaps", "dry").is_none());

    env.apply(&configmap_manifest("real", "one"), &[]).await;
    let version =
        env.object("", "configmaps", "real").unwrap()["metadata"]["resourceVersion"].clone();
    let applied = env
        .apply(&configmap_manifest("real", "two"), &["--dry-run=server"])
        .await;
    assert!(applied.success, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("(server dry run)"),
        "{}",
        applied.stdout
    );
    let deleted = env
        .ok(&["-n", NS, "delete", "configmap", "real", "--dry-run=server"])
        .await;
    assert!(deleted.contains("(server dry run)"), "{deleted}");
    let stored = env.object("", "configmaps", "real").expect("still there");
    assert_eq!(stored["data"]["key"], "one");
    assert_eq!(stored["metadata"]["resourceVersion"], version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_with_a_stale_resource_version_conflicts() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "configmap",
        "raced",
        "--from-literal=a=b",
    ])
    .await;
    let stale = env
        .ok(&["-n", NS, "get", "configmap", "raced", "-o", "yaml"])
        .await;
    env.ok(&["-n", NS, "label", "configmap", "raced", "moved=on"])
        .await;
    let replaced = env.run_with_stdin(&["replace", "-f", "-"], &stale).await;
    assert!(!replaced.success);
    assert!(
        replaced.stderr.contains(
            "Operation cannot be fulfilled on configmaps \"raced\": the object has been modified; \
             please apply your changes to the latest version and try again"
        ),
        "{}",
        replaced.stderr
    );
    assert!(
        replaced.stderr.contains("(Conflict)"),
        "{}",
        replaced.stderr
    );
    assert_eq!(
        env.object("", "configmaps", "raced").unwrap()["metadata"]["labels"]["moved"],
        "on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_of_a_missing_object_is_not_found() {
    let env = Env::with_namespace().await;
    let missing = env.run(&["-n", NS, "get", "secret", "nope"]).await;
    assert!(!missing.success);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): secrets \"nope\" not found"
    );
    let missing_group = env.run(&["-n", NS, "get", "deployment", "nope"]).await;
    assert_eq!(
        missing_group.stderr.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_context_works_and_a_wrong_token_is_unauthorized() {
    let env = Env::start().await;
    let namespaces = env
        .ok(&[
            "--context",
            "standby-token",
            "get",
            "namespaces",
            "-o",
            "name",
        ])
        .await;
    assert!(namespaces.contains("namespace/default"), "{namespaces}");
    let whoami = env
        .ok(&[
            "--context",
            "standby-token",
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .await;
    assert_eq!(whoami, "standby-token");
    let admin = env
        .ok(&[
            "--context",
            "active",
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .await;
    assert_eq!(admin, "active-admin");
    let can_i = env
        .ok(&[
            "--context",
            "standby-token",
            "auth",
            "can-i",
            "delete",
            "secrets",
            "-n",
            NS,
        ])
        .await;
    assert_eq!(can_i.trim(), "yes");
    let standby = env.sandbox.cluster("standby");
    assert_eq!(standby.counters().get("list /api/v1/namespaces"), Some(&1));
    let wrong = env
        .run(&[
            "--context",
            "standby-token",
            "--token",
            "not-the-token",
            "get",
            "namespaces",
        ])
        .await;
    assert!(!wrong.success);
    assert!(wrong.stderr.contains("Unauthorized"), "{}", wrong.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_fault_surfaces_as_kubectl_forbidden() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "guarded",
        "--from-literal=a=b",
    ])
    .await;
    env.active().add_fault(FaultRule {
        verb: Some("get".into()),
        path_contains: Some("/secrets/guarded".into()),
        nth: None,
        times: None,
        action: FaultAction::Status(403),
    });
    let denied = env.run(&["-n", NS, "get", "secret", "guarded"]).await;
    assert!(!denied.success);
    assert_eq!(
        denied.stderr.trim(),
        format!(
            "Error from server (Forbidden): secrets \"guarded\" is forbidden: User \"active-admin\" \
             cannot get resource \"secrets\" in API group \"\" in the namespace \"{NS}\""
        )
    );
    // Other verbs and paths are untouched.
    env.ok(&["-n", NS, "get", "secrets"]).await;
    env.active().clear_faults();
    env.ok(&["-n", NS, "get", "secret", "guarded"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_knob_slows_requests_and_counters_count_them() {
    let env = Env::with_namespace().await;
    env.ok(&[
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "counted",
        "--from-literal=a=b",
    ])
    .await;
    env.active().reset_counters();
    env.active().set_latency(Duration::from_millis(400));
    let started = Instant::now();
    env.ok(&["-n", NS, "get", "secret", "counted"]).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    env.active().clear_faults();
    let counters = env.active().counters();
    assert_eq!(
        counters.get(&format!("get /api/v1/namespaces/{NS}/secrets/counted")),
        Some(&1),
        "{counters:?}"
    );
    assert!(
        counters.keys().all(|key| !key.contains('?')),
        "{counters:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_set_down_refuses_connections_until_up_again() {
    let env = Env::start().await;
    env.ok(&["get", "namespaces"]).await;
    env.active().set_down(true).await.unwrap();
    let refused = env.run(&["get", "namespaces"]).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("refused"), "{}", refused.stderr);
    // The other cluster keeps serving.
    env.ok(&["--context", "standby", "get", "namespaces"]).await;
    env.active().set_down(false).await.unwrap();
    let back = env.ok(&["get", "namespaces", "-o", "name"]).await;
    assert!(back.contains("namespace/default"), "{back}");
}

/// A bare HTTP/1.1 request to the admin API; returns (status, body).
fn admin_request(admin: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let address = admin.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("admin API reachable");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_writes_state_and_serves_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp-sandbox"))
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .arg("--state-file")
        .arg(&state_path)
        .args([
            "--cluster",
            "east=empty",
            "--cluster",
            "west=empty:own-root",
            "--ready-delay-ms",
            "50",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mp-sandbox runs");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    // The state JSON is printed pretty: it ends with a closing brace alone on its line.
    while !printed.ends_with("\n}\n") {
        let read = tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut printed))
            .await
            .expect("state printed in time")
            .unwrap();
        assert!(read > 0, "mp-sandbox exited early: {printed}");
    }
    let state = json(&printed);
    assert_eq!(json(&std::fs::read_to_string(&state_path).unwrap()), state);
    assert_eq!(state["kubeconfig"], kubeconfig.to_str().unwrap());
    let east = state["clusters"]["east"]["server"].as_str().unwrap();
    assert!(east.starts_with("https://127.0.0.1:"), "{state}");
    let admin = state["admin"].as_str().unwrap().to_string();

    let home = dir.path().join("home");
    let kubectl = |args: &'static [&'static str]| {
        let kubeconfig = kubeconfig.clone();
        let home = home.clone();
        async move {
            tokio::process::Command::new("kubectl")
                .args(args)
                .env("KUBECONFIG", kubeconfig)
                .env("HOME", home)
                .output()
                .await
                .expect("kubectl runs; .ci/run installs it")
        }
    };
    let listed = kubectl(&["--context", "west-token", "get", "namespaces", "-o", "name"]).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );

    let admin_call = |method: &'static str, path: &'static str, body: &'static str| {
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || admin_request(&admin, method, path, body))
    };
    let (status, body) = admin_call("GET", "/clusters/west/counters", "")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(json(&body)["list /api/v1/namespaces"], 1);
    let (status, _) = admin_call("DELETE", "/clusters/west/counters", "")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (_, body) = admin_call("GET", "/clusters/west/counters", "")
        .await
        .unwrap();
    assert_eq!(json(&body), serde_json::json!({}));

    let (status, _) = admin_call(
        "POST",
        "/clusters/east/faults",
        r#"{"verb":"list","path_contains":"/namespaces","action":{"status":500}}"#,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let failing = kubectl(&["--context", "east", "get", "namespaces"]).await;
    assert!(!failing.status.success());
    assert!(String::from_utf8_lossy(&failing.stderr).contains("InternalError"));
    admin_call("DELETE", "/clusters/east/faults", "")
        .await
        .unwrap();
    let (status, _) = admin_call("PUT", "/clusters/east/latency", r#"{"ms": 10}"#)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        kubectl(&["--context", "east", "get", "namespaces"])
            .await
            .status
            .success()
    );

    admin_call("POST", "/clusters/east/down", "").await.unwrap();
    let refused = kubectl(&["--context", "east", "get", "namespaces"]).await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused"));
    admin_call("POST", "/clusters/east/up", "").await.unwrap();
    assert!(
        kubectl(&["--context", "east", "get", "namespaces"])
            .await
            .status
            .success()
    );
    let (status, _) = admin_call("GET", "/clusters/nowhere/counters", "")
        .await
        .unwrap();
    assert_eq!(status, 404);

    let pid = child.id().expect("running").to_string();
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits on SIGTERM")
        .unwrap();
    assert!(exit.success());
    assert!(!state_path.exists(), "the state file is removed on exit");
}
