//! Runbook steps 1-2 end to end: `kubectl mp-export` on the active
//! cluster, `kubectl mp-import` on the standby, with real kubectl as referee.

mod plugin_support;

use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mp_sandbox::SeedKind;
use mp_sandbox::faults::{FaultAction, FaultRule};
use plugin_support::{Removed, World};
use serde_json::Value;

const GENERIC_EXPORTED: [&str; 12] = [
    "admin-credentials",
    "custom-host-ca",
    "elastic-credentials",
    "es-certs",
    "iam-signing-key",
    "ldap-credentials",
    "local-user-credentials",
    "mpc-certs",
    "postgres-credentials",
    "tsb-certs",
    "tsb-iam-jwks",
    "xcp-central-cert",
];

/// What a helm export of the `TsbHelm` seed carries: iam-signing-key (its
/// spec's signing keys), tsb-iam-jwks and the Secrets its values'
/// `secrets:` sections render (bundle order).
const HELM_EXPORTED: [&str; 7] = [
    "admin-credentials",
    "elastic-credentials",
    "iam-signing-key",
    "postgres-credentials",
    "tsb-certs",
    "tsb-iam-jwks",
    "xcp-central-cert",
];

fn data(secret: &Value) -> Value {
    secret["data"].clone()
}

/// Every secret value of `cluster`'s MP namespace, raw and base64, for leak scans.
fn secret_values(world: &World, cluster: &str, names: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    for name in names {
        let secret = world
            .secret(cluster, name)
            .unwrap_or_else(|| panic!("{name} seeded"));
        for encoded in secret["data"].as_object().expect("data").values() {
            let encoded = encoded.as_str().expect("base64 string").to_string();
            let raw = BASE64.decode(&encoded).expect("base64");
            if raw.len() >= 8 {
                for line in String::from_utf8_lossy(&raw)
                    .lines()
                    .filter(|line| line.len() >= 16 && !line.starts_with("-----"))
                {
                    values.push(line.to_string());
                }
                values.push(String::from_utf8_lossy(&raw).into_owned());
                values.push(encoded);
            }
        }
    }
    values
}

fn assert_no_secret_in(output: &str, values: &[String]) {
    for value in values {
        assert!(
            !output.contains(value.as_str()),
            "a secret value leaked into the output:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_model_round_trip_with_values_and_idempotent_reimport() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    world.cluster("active").reset_counters();
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--values-out",
            "values.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The seed's values set secrets.tsb, .postgres, .elasticsearch and
    // .xcp.central: the Secrets the chart renders from them travel too.
    assert!(
        out.stderr.contains(&format!(
            "exported 7 secrets from context \"active\" (namespace {}, helm model) to b.yaml:",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  iam-signing-key (Opaque): kid 16 B, private.key "),
        "{}",
        out.stderr
    );
    assert_eq!(bundle_names(&world, "b.yaml"), HELM_EXPORTED);
    assert!(
        out.stdout.is_empty(),
        "data goes to the file: {}",
        out.stdout
    );
    // Two round trips: the release's deployed revision (by helm's labels,
    // with the metadata of its revisions and of every deployed release)
    // and the ManagementPlane, then the secrets its values name, by name,
    // each once; never the namespace's every Secret.
    let counters = world.cluster("active").counters();
    let secrets = format!("/api/v1/namespaces/{}/secrets", world.ns);
    assert_eq!(
        world.cluster("active").lists(),
        std::collections::BTreeMap::from([
            (format!("{secrets}?labelSelector=owner=helm,name=mp"), 1),
            (
                format!("{secrets}?labelSelector=owner=helm,name=mp,status=deployed"),
                1
            ),
            (
                format!("{secrets}?labelSelector=owner=helm,status=deployed"),
                1
            ),
        ]),
        "{counters:?}"
    );
    assert!(
        counters
            .iter()
            .all(|(request, count)| request.starts_with("list ")
                || (request.starts_with("get ") && *count == 1)),
        "export reads each thing once, by name but for the release: {counters:?}"
    );
    assert_eq!(world.writes("active"), 0);

    for file in ["b.yaml", "values.yaml"] {
        let mode = std::fs::metadata(world.path(file))
            .expect(file)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(world.path("values.yaml")).unwrap())
            .unwrap();
    assert!(
        values.get("spec").is_some_and(Value::is_object),
        "values keep spec: {values}"
    );
    assert!(
        values.get("secrets").is_none(),
        "values drop secrets: {values}"
    );
    assert!(
        values.get("image").is_some(),
        "values keep the rest: {values}"
    );

    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("created namespace {}", world.ns)),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("iam-signing-key              create (2 keys)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("all 7 verified by data digest"),
        "{}",
        out.stderr
    );
    for name in HELM_EXPORTED {
        assert_eq!(
            data(&world.secret("standby", name).unwrap()),
            data(&world.secret("active", name).unwrap()),
            "{name}"
        );
    }

    world.cluster("standby").reset_counters();
    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml"])
        .await;
    assert_eq!(
        out.code,
        Some(0),
        "re-running changes nothing, even without --yes: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("nothing to change: all 7 secrets already match"),
        "{}",
        out.stderr
    );
    assert_eq!(world.writes("standby"), 0);
}

/// The user's values of a real `helm install` of the chart: the front
/// door's certificate, the admin password and the Postgres credentials set
/// under `secrets:`, as Tetrate's helm guide shows them.
const HELM_VALUES_WITH_SECRETS: &str = "\
spec:
  organization: tetrate
  dataStore:
    postgres: {host: postgres.example, port: 5432, name: tsb}
secrets:
  tsb:
    adminPassword: s3cret-admin-password-4711
    cert: s3cret-tsb-front-certificate-pem
    key: s3cret-tsb-front-private-key-pem
  postgres:
    username: tsb
    password: s3cret-postgres-password-4711
";

/// The names of a bundle file's items, in its order.
fn bundle_names(world: &World, file: &str) -> Vec<String> {
    let list: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(world.path(file)).unwrap()).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Issue 13: the runbook installs the standby "with the same values", and
/// the values file leaves `secrets:` out, so the Secrets the active's chart
/// rendered from them travel in the bundle. A real `helm install` on the
/// active, the export, the import, and a real `helm install` of the standby
/// with the exported values: the standby then has the active's admin
/// password, certificate and database credentials, and no secret value is in
/// the values file or the output.
#[tokio::test(flavor = "multi_thread")]
async fn helm_export_carries_the_secrets_its_values_rendered_never_in_the_values_file() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    world
        .helm_install("active", "mp", HELM_VALUES_WITH_SECRETS)
        .await
        .ok("helm install on the active");
    let rendered = ["admin-credentials", "postgres-credentials", "tsb-certs"];
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--values-out",
            "dr_mp_values.yaml",
        ])
        .await
        .ok("mp-export");
    assert!(
        out.stderr.contains(&format!(
            "exported 4 secrets from context \"active\" (namespace {}, helm model) to b.yaml:",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "rendered by the helm release's secrets: values: tsb-certs, admin-credentials, postgres-credentials"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("standby install values (no secrets section: the secrets come from the bundle; import it, then helm install with these values): dr_mp_values.yaml"),
        "{}",
        out.stderr
    );
    assert_eq!(
        bundle_names(&world, "b.yaml"),
        [
            "admin-credentials",
            "iam-signing-key",
            "postgres-credentials",
            "tsb-certs"
        ]
    );
    let values_text = std::fs::read_to_string(world.path("dr_mp_values.yaml")).unwrap();
    let values: Value = serde_saphyr::from_str(&values_text).unwrap();
    assert!(values.get("secrets").is_none(), "{values}");
    assert_eq!(
        values["spec"]["dataStore"]["postgres"]["host"],
        "postgres.example"
    );
    let mut leaks = secret_values(&world, "active", &rendered);
    leaks.extend(
        [
            "s3cret-admin-password-4711",
            "s3cret-tsb-front",
            "s3cret-postgres-password-4711",
        ]
        .map(str::to_string),
    );
    assert_no_secret_in(&values_text, &leaks);
    assert_no_secret_in(&out.all(), &leaks);

    // Runbook steps 2 and 3: the import, then the standby installed with
    // the exported values (no secrets: section, so the chart renders none).
    world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await
        .ok("mp-import");
    world
        .helm_install("standby", "mp", &values_text)
        .await
        .ok("helm install on the standby with the exported values");
    for name in rendered.iter().chain(&["iam-signing-key"]) {
        assert_eq!(
            data(&world.secret("standby", name).expect(name)),
            data(&world.secret("active", name).unwrap()),
            "{name}"
        );
    }
}

/// A Secret the release's values render but the namespace lacks stops the
/// export, naming it and the value that renders it; nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn helm_export_refuses_when_a_secret_its_values_render_is_missing() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    world
        .helm_install("active", "mp", HELM_VALUES_WITH_SECRETS)
        .await
        .ok("helm install on the active");
    world
        .kubectl(&[
            "--context",
            "active",
            "-n",
            &world.ns,
            "delete",
            "secret",
            "admin-credentials",
        ])
        .await
        .ok("kubectl delete secret");
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--values-out",
            "dr_mp_values.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "required secret missing in namespace {}: admin-credentials (from values secrets.tsb.adminPassword); nothing was written",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("helm status mp"),
        "says where to look: {}",
        out.stderr
    );
    assert!(!out.all().contains("s3cret"), "{}", out.all());
    assert!(!world.path("b.yaml").exists());
    assert!(!world.path("dr_mp_values.yaml").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_model_exports_the_runbook_list_and_imports_it_verified() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--values-out",
            "dr_mp_values.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "exported 12 secrets from context \"active\" (namespace {}, generic model)",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("absent (optional): azure-credentials, iam-oidc-client-secret"),
        "{}",
        out.stderr
    );
    let bundle = std::fs::read_to_string(world.path("b.yaml")).unwrap();
    let list: Value = serde_saphyr::from_str(&bundle).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, GENERIC_EXPORTED);
    for item in list["items"].as_array().unwrap() {
        let metadata = item["metadata"].as_object().unwrap();
        for server_field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "ownerReferences",
        ] {
            assert!(
                !metadata.contains_key(server_field),
                "{server_field} must be cleaned: {item}"
            );
        }
    }
    assert!(
        !bundle.contains("service-account-token"),
        "token secrets are never exported"
    );
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(world.path("dr_mp_values.yaml")).unwrap())
            .unwrap();
    assert!(
        values["spec"]["dataStore"].is_object(),
        "the ManagementPlane spec: {values}"
    );
    assert!(values.get("secrets").is_none());

    world.cluster("standby").reset_counters();
    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.yaml",
            "--yes",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["verified"], true);
    assert_eq!(report["namespaceCreated"], true);
    assert!(
        report["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|plan| plan["action"] == "create"),
        "{report}"
    );
    // The bundle's 12 secrets read by name (no LIST of the namespace) with
    // the namespace, then the namespace and the secrets created.
    let counters = world.cluster("standby").counters();
    assert!(
        world.cluster("standby").lists().is_empty(),
        "import reads by name: {counters:?}"
    );
    assert!(
        world.requests("standby") <= 2 * 12 + 3,
        "import budget 2N+3, namespace create included: {counters:?}"
    );
    for name in GENERIC_EXPORTED {
        assert_eq!(
            data(&world.secret("standby", name).unwrap()),
            data(&world.secret("active", name).unwrap()),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_secret_stops_the_export_naming_it_and_writes_nothing() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let out = world
        .kubectl(&[
            "--context",
            "active",
            "-n",
            &world.ns,
            "delete",
            "secret",
            "tsb-certs",
            "postgres-credentials",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("required secrets missing in namespace {}: postgres-credentials, tsb-certs; nothing was written", world.ns)), "{}", out.stderr);
    assert!(!world.path("b.yaml").exists());

    // Knowingly leaving them out is the user's call.
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--exclude",
            "tsb-certs",
            "--exclude",
            "postgres-credentials",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "c.yaml",
            "--include",
            "no-such-secret",
        ])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("no-such-secret"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_or_foreign_bundles_are_refused_with_no_change() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let remapped = world.remap_namespace();
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let bundle = std::fs::read_to_string(world.path("b.yaml")).unwrap();
    let encoded = world.secret("active", "admin-credentials").unwrap()["data"]["admin"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(bundle.contains(&encoded));
    let tampered = bundle.replace(&encoded, &BASE64.encode("attacker's password hash"));
    std::fs::write(world.path("tampered.yaml"), tampered).unwrap();
    let configmap = bundle.replacen("kind: Secret", "kind: ConfigMap", 1);
    std::fs::write(world.path("configmap.yaml"), configmap).unwrap();
    std::fs::write(world.path("broken.yaml"), "{not: yaml: at all").unwrap();

    world.cluster("standby").reset_counters();
    for (file, message) in [
        (
            "tampered.yaml",
            "bundle tampered.yaml was changed after export",
        ),
        ("configmap.yaml", "a bundle holds only v1 Secrets"),
        (
            "broken.yaml",
            "bundle broken.yaml: no `# kubectl-mp/format` header line",
        ),
        ("absent.yaml", "cannot read bundle absent.yaml"),
    ] {
        let out = world
            .kubectl(&["mp-import", "--context", "standby", "-f", file, "--yes"])
            .await;
        assert_eq!(out.code, Some(2), "{file}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{file}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    assert_eq!(
        world.requests("standby"),
        0,
        "a bad bundle never reaches the cluster"
    );

    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-n",
            &remapped,
            "-f",
            "b.yaml",
            "--yes",
        ])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "holds namespace \"{}\", the target is \"{remapped}\"",
            world.ns
        )),
        "{}",
        out.stderr
    );
    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.yaml",
            "--yes",
            "--namespace-remap",
            &format!("{}={remapped}", world.ns),
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        world
            .cluster("standby")
            .object("", "secrets", Some(&remapped), "tsb-certs")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_files_are_never_overwritten_without_force_nor_printed_to_a_terminal_implicitly() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    std::fs::write(world.path("b.yaml"), "precious").unwrap();
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("b.yaml already exists; choose another file, or pass --force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(world.path("b.yaml")).unwrap(),
        "precious"
    );
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "--force",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        std::fs::read_to_string(world.path("b.yaml"))
            .unwrap()
            .starts_with("# kubectl-mp bundle")
    );
    assert_eq!(
        std::fs::metadata(world.path("b.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // stdout is a pipe here: without -o the bundle goes there, as for `> file`.
    let out = world.kubectl(&["mp-export", "--context", "active"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with("# kubectl-mp bundle"));
}

#[tokio::test(flavor = "multi_thread")]
async fn export_piped_into_import_and_plain_kubectl_apply_both_work() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let out = world.shell("kubectl mp-export --context active -n \"$NS\" -f - | kubectl mp-import --context standby -n \"$NS\" -f - --yes").await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("all 12 verified"), "{}", out.stderr);

    // The bundle is a plain v1 List: kubectl applies it unchanged.
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    assert_eq!(
        world
            .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
            .await
            .code,
        Some(0)
    );
    assert_eq!(
        world
            .kubectl(&["--context", "standby", "create", "namespace", &world.ns])
            .await
            .code,
        Some(0)
    );
    let out = world
        .kubectl(&["--context", "standby", "apply", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("secret/tsb-certs created"),
        "{}",
        out.stdout
    );
    assert_eq!(
        data(&world.secret("standby", "tsb-certs").unwrap()),
        data(&world.secret("active", "tsb-certs").unwrap())
    );
    // ...and mp-import then finds nothing to change.
    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("nothing to change"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_are_planned_diffed_backed_up_and_restorable() {
    // Both clusters run a helm MP, each with its own iam-signing-key and
    // its own Secrets rendered from its own values: all 7 differ.
    let world = World::start(SeedKind::TsbHelm, SeedKind::TsbHelm).await;
    let standby_original = data(&world.secret("standby", "iam-signing-key").unwrap());
    assert_ne!(
        standby_original,
        data(&world.secret("active", "iam-signing-key").unwrap())
    );
    assert_eq!(
        world
            .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
            .await
            .code,
        Some(0)
    );

    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.yaml",
            "--dry-run",
            "--diff",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("iam-signing-key              update (changed: kid, private.key)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("~ private.key "), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("admin-credentials            update (changed: admin)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("dry run: the server accepted all 7 changes; nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        standby_original
    );

    // No terminal and no --yes: refused before anything changes.
    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("refusing to change 7 secrets in namespace {} of context \"standby\" without confirmation", world.ns)), "{}", out.stderr);
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        standby_original
    );

    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        data(&world.secret("active", "iam-signing-key").unwrap())
    );
    let backup = std::fs::read_dir(world.path("."))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with(&format!("mp-import-backup-standby-{}-", world.ns)))
        .expect("a backup bundle");
    assert_eq!(
        std::fs::metadata(world.path(&backup))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(out.stderr.contains(&format!("backup of the 7 secrets it replaces: ./{backup} (restore: kubectl mp-import --context standby -n {} -f ./{backup} --yes)", world.ns)), "{}", out.stderr);

    let restore = format!("./{backup}");
    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", &restore, "--yes"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        standby_original,
        "restored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_failure_midway_exits_4_and_a_rerun_converges() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    assert_eq!(
        world
            .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
            .await
            .code,
        Some(0)
    );
    let standby = world.cluster("standby");
    standby.add_fault(FaultRule {
        verb: Some("create".into()),
        path_contains: Some("/secrets".into()),
        nth: Some(3),
        times: Some(1),
        action: FaultAction::Status(500),
    });
    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("import stopped midway: wrote "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("run the same import again: it converges"),
        "{}",
        out.stderr
    );
    standby.clear_faults();

    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 secret changed, all 12 verified"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_appears_in_any_output() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::TsbGeneric).await;
    let values = secret_values(&world, "active", &GENERIC_EXPORTED);
    let standby_values = secret_values(&world, "standby", &GENERIC_EXPORTED);
    assert!(values.len() > 20, "the scan has values to look for");
    let runs = [
        world
            .kubectl(&[
                "mp-export",
                "--context",
                "active",
                "-f",
                "b.yaml",
                "-v",
                "--values-out",
                "v.yaml",
            ])
            .await,
        world
            .kubectl(&[
                "mp-import",
                "--context",
                "standby",
                "-f",
                "b.yaml",
                "--diff",
                "--dry-run",
                "-v",
            ])
            .await,
        world
            .kubectl(&[
                "mp-import",
                "--context",
                "standby",
                "-f",
                "b.yaml",
                "--diff",
                "--yes",
                "-v",
                "-o",
                "json",
            ])
            .await,
        world
            .kubectl(&[
                "mp-import",
                "--context",
                "standby",
                "-f",
                "b.yaml",
                "-o",
                "yaml",
            ])
            .await,
    ];
    for out in &runs {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert_no_secret_in(&out.all(), &values);
        assert_no_secret_in(&out.all(), &standby_values);
    }
    let values_file = std::fs::read_to_string(world.path("v.yaml")).unwrap();
    assert_no_secret_in(&values_file, &values);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_bundle_travels_and_only_its_identity_opens_it() {
    use age::secrecy::ExposeSecret;
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
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
            "b.age",
            "--encrypt-to",
            &recipient,
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("encrypted with age to 1 recipient(s)"),
        "{}",
        out.stderr
    );
    let sealed = std::fs::read_to_string(world.path("b.age")).unwrap();
    assert!(
        sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{sealed}"
    );
    assert_no_secret_in(&sealed, &secret_values(&world, "active", &GENERIC_EXPORTED));
    assert!(!sealed.contains("tsb-certs"));

    let out = world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.age", "--yes"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bundle b.age is encrypted with age; pass --identity FILE"),
        "{}",
        out.stderr
    );
    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.age",
            "--identity",
            "key.txt",
            "--yes",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("all 12 verified"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_import_asks_and_follows_the_answer() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::TsbHelm).await;
    assert_eq!(
        world
            .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
            .await
            .code,
        Some(0)
    );
    let standby_original = data(&world.secret("standby", "iam-signing-key").unwrap());
    // `script` gives the import a real terminal; the answer is typed into
    // it, again and again: keys typed before the prompt shows are discarded.
    let import = "script -qec \"kubectl mp-import --context standby -n $NS -f b.yaml\" /dev/null";
    // (`yes` ends on SIGPIPE when the import is done: not the pipeline's status.)
    let out = world.shell(&format!("(yes n || true) | {import}")).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "change 7 secrets in namespace {} of context \"standby\"? [y/N]",
            world.ns
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not confirmed: nothing was changed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        standby_original
    );

    let out = world.shell(&format!("(yes || true) | {import}")).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("imported: 7 secrets changed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        data(&world.secret("standby", "iam-signing-key").unwrap()),
        data(&world.secret("active", "iam-signing-key").unwrap())
    );
}

/// Issue 18: after a key rotation the ManagementPlane's spec names
/// `iam-signing-keys`, whose `new.key` signs and `old.key` verifies (Tetrate
/// MP HA guide, "Configure multiple IAM token validation keys"). The export
/// carries that Secret and says where its name came from; the import puts
/// it on the standby. A key an issuer names that the Secret lacks, or the
/// Secret itself missing, stops the export naming secret, key and spec
/// field, with nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn generic_export_carries_the_signing_keys_secret_the_spec_names() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let spec = r#"{"spec":{"tokenIssuer":{"jwt":{"signingKeysSecret":"iam-signing-keys","issuers":[{"name":"https://new.tetrate.io","algorithm":"ES256","signingKey":"new.key"},{"name":"https://old.tetrate.io","algorithm":"ES256","signingKey":"old.key"}]}}}}"#;
    world
        .kubectl(&[
            "--context",
            "active",
            "-n",
            &world.ns,
            "patch",
            "managementplane",
            "managementplane",
            "--type",
            "merge",
            "-p",
            spec,
        ])
        .await
        .ok("patch the ManagementPlane's tokenIssuer");
    let rotated = |keys: &str| {
        format!(
            "kubectl --context active -n \"$NS\" create secret generic iam-signing-keys {keys} --dry-run=client -o yaml | kubectl --context active -n \"$NS\" apply -f -"
        )
    };
    world
        .shell(&rotated(
            "--from-literal=new.key=new-signing-key-pem-0123456789abcdef --from-literal=old.key=old-signing-key-pem-0123456789abcdef",
        ))
        .await
        .ok("create iam-signing-keys");

    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await
        .ok("mp-export");
    assert!(
        out.stderr.contains(
            "token signing keys: iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret; signs with new.key, verifies old.key)"
        ),
        "{}",
        out.stderr
    );
    let names = bundle_names(&world, "b.yaml");
    assert!(names.contains(&"iam-signing-keys".to_string()), "{names:?}");
    assert!(
        !names.contains(&"iam-signing-key".to_string()),
        "the spec signs with another secret: {names:?}"
    );
    world
        .kubectl(&["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"])
        .await
        .ok("mp-import");
    assert_eq!(
        data(
            &world
                .secret("standby", "iam-signing-keys")
                .expect("imported")
        ),
        data(&world.secret("active", "iam-signing-keys").unwrap())
    );

    // old.key gone: the second issuer could no longer verify.
    world
        .shell(&rotated(
            "--from-literal=new.key=new-signing-key-pem-0123456789abcdef",
        ))
        .await
        .ok("drop old.key");
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "c.yaml"])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "in namespace {}, iam-signing-keys lacks data key old.key (named by spec.tokenIssuer.jwt.issuers[1].signingKey); nothing was written",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(!world.path("c.yaml").exists());
    assert!(!out.all().contains("signing-key-pem"), "{}", out.all());

    world
        .kubectl(&[
            "--context",
            "active",
            "-n",
            &world.ns,
            "delete",
            "secret",
            "iam-signing-keys",
        ])
        .await
        .ok("delete iam-signing-keys");
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "c.yaml"])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "required secret missing in namespace {}: iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret); nothing was written",
            world.ns
        )),
        "{}",
        out.stderr
    );
    assert!(!world.path("c.yaml").exists());
}

/// Issue 18, helm model: the release values' `spec` names the signing keys'
/// Secret, here Tetrate's own example, the front door's `tsb-certs` with
/// key `tls.key`: a real `helm install`, then the export carries `tsb-certs`
/// once and not the chart's unused `iam-signing-key`; `tsb-iam-jwks`, which
/// this chart does not make, is reported absent.
#[tokio::test(flavor = "multi_thread")]
async fn helm_export_follows_the_signing_keys_secret_of_the_values_spec() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    let values = HELM_VALUES_WITH_SECRETS.replace(
        "spec:\n",
        "spec:\n  tokenIssuer:\n    jwt:\n      signingKeysSecret: tsb-certs\n      issuers:\n      - {name: https://jwt.tetrate.io, algorithm: RS256, signingKey: tls.key}\n",
    );
    world
        .helm_install("active", "mp", &values)
        .await
        .ok("helm install on the active");
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "-o",
            "json",
        ])
        .await
        .ok("mp-export");
    assert_eq!(
        bundle_names(&world, "b.yaml"),
        ["admin-credentials", "postgres-credentials", "tsb-certs"]
    );
    assert!(
        out.stderr.contains(
            "token signing keys: tsb-certs (from spec.tokenIssuer.jwt.signingKeysSecret; signs with tls.key)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("absent (optional): tsb-iam-jwks"),
        "{}",
        out.stderr
    );
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["signingKeys"]["secret"], "tsb-certs");
    assert_eq!(report["signingKeys"]["namedBySpec"], true);
    assert_eq!(report["signingKeys"]["keys"][0]["key"], "tls.key");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_reads_the_mps_secrets_by_name_however_many_others_share_the_namespace() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    world.add_unrelated_secrets("active", 300).await;
    world.cluster("active").reset_counters();
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(bundle_names(&world, "b.yaml"), GENERIC_EXPORTED);
    let counters = world.cluster("active").counters();
    let lists = world.cluster("active").lists();
    // Auto looks for the helm release by helm's labels only: those LISTs
    // return release records, never the 300 others.
    assert!(
        lists
            .keys()
            .all(|list| list.contains("?labelSelector=owner=helm")),
        "an unfiltered LIST: {lists:?}"
    );
    let secrets = format!("/api/v1/namespaces/{}/secrets", world.ns);
    let secret_gets: Vec<&String> = counters
        .keys()
        .filter(|request| request.starts_with(&format!("get {secrets}/")))
        .collect();
    assert!(
        counters
            .iter()
            .all(|(request, count)| request.starts_with("list ")
                || (request.starts_with("get ") && *count == 1)),
        "{counters:?}"
    );
    assert!(
        secret_gets.len() >= GENERIC_EXPORTED.len()
            && secret_gets.iter().all(|get| !get.contains("unrelated-")),
        "each wanted secret read by name, no other: {counters:?}"
    );
}

/// Least privilege (issue 20): the shipped export Role (deploy/rbac/export)
/// grants `get` by `resourceNames`, never `list`; a generic export needs
/// nothing more, and the default `--model auto` says which grant it lacks.
/// With deploy/rbac/export-helm's `list` a helm MP exports as well.
#[tokio::test(flavor = "multi_thread")]
async fn export_runs_as_the_shipped_export_role_alone() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let context = world
        .bound_context("active", "deploy/rbac/export", &world.ns, "mp-export", None)
        .await;
    let listing = world
        .kubectl(&["get", "secrets", "--context", &context, "-n", &world.ns])
        .await;
    assert_ne!(listing.code, Some(0), "the Role must not grant list");

    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            &context,
            "--model",
            "generic",
            "-f",
            "b.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(bundle_names(&world, "b.yaml"), GENERIC_EXPORTED);

    // Auto looks for helm's records first: a LIST this Role does not grant.
    let out = world
        .kubectl(&["mp-export", "--context", &context, "-f", "auto.yaml"])
        .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("forbidden to list helm release secrets")
            && out.stderr.contains("cannot list resource \"secrets\"")
            && out.stderr.contains("deploy/rbac/export"),
        "{}",
        out.stderr
    );
    assert!(!world.path("auto.yaml").exists(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_export_runs_as_the_shipped_export_helm_role_alone() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let context = world
        .bound_context(
            "active",
            "deploy/rbac/export-helm",
            &world.ns,
            "mp-export",
            None,
        )
        .await;
    let out = world
        .kubectl(&["mp-export", "--context", &context, "-f", "b.yaml"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(bundle_names(&world, "b.yaml"), HELM_EXPORTED);
}

/// One permission less than the shipped Role (`get` on the
/// ManagementPlane): the real API server's 403, one line naming the verb
/// and the resource, exit 3, no bundle.
#[tokio::test(flavor = "multi_thread")]
async fn export_without_one_permission_of_its_role_fails_naming_it() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let removed = Removed {
        role: "mp-export",
        resource: "managementplanes",
        verb: "get",
    };
    let context = world
        .bound_context(
            "active",
            "deploy/rbac/export",
            &world.ns,
            "mp-export",
            Some(&removed),
        )
        .await;
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            &context,
            "--model",
            "generic",
            "-f",
            "b.yaml",
        ])
        .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("forbidden to get ManagementPlane managementplane in namespace")
            && out.stderr.contains(
                "cannot get resource \"managementplanes\" in API group \"install.tetrate.io\""
            ),
        "{}",
        out.stderr
    );
    assert!(!world.path("b.yaml").exists(), "nothing half-written");
}

/// The shipped import Role (deploy/rbac/import) into a standby that holds
/// other values: every Secret by name, replaced or created, nothing listed.
#[tokio::test(flavor = "multi_thread")]
async fn import_runs_as_the_shipped_import_role_alone() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::TsbGeneric).await;
    world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await
        .ok("export as the admin");
    // One the standby lacks, to be created.
    world
        .kubectl(&[
            "--context",
            "standby",
            "-n",
            &world.ns,
            "delete",
            "secret",
            "mpc-certs",
        ])
        .await
        .ok("kubectl delete secret");
    let context = world
        .bound_context(
            "standby",
            "deploy/rbac/import",
            &world.ns,
            "mp-import",
            None,
        )
        .await;
    world.cluster("standby").reset_counters();
    let out = world
        .kubectl(&["mp-import", "--context", &context, "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("imported: "), "{}", out.stderr);
    for name in GENERIC_EXPORTED {
        assert_eq!(
            world.secret("standby", name).map(|secret| data(&secret)),
            world.secret("active", name).map(|secret| data(&secret)),
            "{name}"
        );
    }
    let counters = world.cluster("standby").counters();
    assert!(
        counters.keys().all(|request| !request.starts_with("list ")),
        "{counters:?}"
    );
}

/// One permission less than the shipped import Role (`update` on its
/// Secrets): the real 403, one line naming the verb and the resource,
/// exit 3, the standby's Secrets as they were.
#[tokio::test(flavor = "multi_thread")]
async fn import_without_one_permission_of_its_role_fails_naming_it() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::TsbGeneric).await;
    world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await
        .ok("export as the admin");
    let before = world
        .secret("standby", "tsb-certs")
        .map(|secret| data(&secret));
    let removed = Removed {
        role: "mp-import",
        resource: "secrets",
        verb: "update",
    };
    let context = world
        .bound_context(
            "standby",
            "deploy/rbac/import",
            &world.ns,
            "mp-import",
            Some(&removed),
        )
        .await;
    let out = world
        .kubectl(&["mp-import", "--context", &context, "-f", "b.yaml", "--yes"])
        .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let error_lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{}", out.stderr);
    assert!(
        error_lines[0].contains("forbidden to update secret ")
            && error_lines[0].contains("cannot update resource \"secrets\""),
        "{}",
        out.stderr
    );
    assert_eq!(
        world
            .secret("standby", "tsb-certs")
            .map(|secret| data(&secret)),
        before
    );
}
