//! The plugins as users run them: installed with `make install`, found by the
//! real kubectl under both spellings, talking to sandbox clusters.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use mp_sandbox::faults::{FaultAction, FaultRule};
use mp_sandbox::{CertVariant, ClusterOptions, Sandbox, SandboxOptions, SeedKind};

const PLUGINS: [&str; 4] = ["export", "import", "cacheck", "failover"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// `make install` into a temporary prefix, once per test run: the same
/// command users run, with debug builds.
fn installed_bin_dir() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix =
            std::env::temp_dir().join(format!("kubectl-mp-install-{}", std::process::id()));
        let output = Command::new("make")
            .args(["-s", "install", "CARGO_PROFILE=dev"])
            .arg(format!("PREFIX={}", prefix.display()))
            .current_dir(workspace_root())
            .output()
            .expect("make must be installed");
        assert!(
            output.status.success(),
            "make install failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        prefix
    });
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| PREFIX.get().expect("set above").join("bin"))
}

/// Runs the real kubectl with the installed plugins first on PATH. Inside an
/// async test the sandbox shares the runtime, so tell it this thread blocks.
fn kubectl(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(|| kubectl_blocking(kubeconfig, args)),
        Err(_) => kubectl_blocking(kubeconfig, args),
    }
}

fn kubectl_blocking(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        installed_bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().expect("temp HOME");
    let mut command = Command::new("kubectl");
    command
        .args(args)
        .env("PATH", path)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    command
        .output()
        .unwrap_or_else(|error| panic!("kubectl not runnable ({error}); .ci/run installs it"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    Sandbox::start(SandboxOptions {
        clusters: vec![
            ClusterOptions {
                name: "active".into(),
                seed: SeedKind::TsbHelm,
                certs: CertVariant::SharedRoot,
            },
            ClusterOptions {
                name: "standby".into(),
                seed: SeedKind::Empty,
                certs: CertVariant::SharedRoot,
            },
        ],
        kubeconfig_path: dir.join("kubeconfig"),
        namespace: "tsb".into(),
        ready_delay: Duration::from_millis(100),
        floating_dns_name: "tsb.example.com".into(),
    })
    .await
    .expect("sandbox starts")
}

#[test]
fn kubectl_finds_every_plugin_under_both_spellings_without_warnings() {
    let output = kubectl(None, &["plugin", "list"]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "kubectl plugin list failed: {}",
        text(&output.stderr)
    );
    assert!(
        !text(&output.stderr).contains("warning"),
        "plugin list warned: {}",
        text(&output.stderr)
    );
    for plugin in PLUGINS {
        for name in [
            format!("kubectl-mp-{plugin}"),
            format!("kubectl-mp_{plugin}"),
        ] {
            assert!(
                stdout.contains(&installed_bin_dir().join(&name).display().to_string()),
                "{name} missing:\n{stdout}"
            );
        }
        let commit = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .expect("git");
        let commit = text(&commit.stdout).trim().to_string();
        for spelling in [
            vec![format!("mp-{plugin}")],
            vec!["mp".to_string(), plugin.to_string()],
        ] {
            let mut args: Vec<&str> = spelling.iter().map(String::as_str).collect();
            args.push("--version");
            let output = kubectl(None, &args);
            assert!(
                output.status.success(),
                "kubectl {args:?}: {}",
                text(&output.stderr)
            );
            assert_eq!(
                text(&output.stdout).trim(),
                format!(
                    "kubectl-mp-{plugin} {} (commit {commit})",
                    env!("CARGO_PKG_VERSION")
                )
            );
        }
    }
}

#[test]
fn every_plugin_help_has_examples_per_flag_group_and_the_exit_codes() {
    for plugin in PLUGINS {
        let output = kubectl(None, &[&format!("mp-{plugin}"), "--help"]);
        let help = text(&output.stdout);
        assert!(output.status.success(), "{plugin} --help failed");
        for needle in [
            "Cluster connection:",
            "--kubeconfig",
            "--request-timeout",
            "Examples:",
            "# Cluster connection",
            "Exit codes:",
            "  3  cluster unreachable",
        ] {
            assert!(
                help.contains(needle),
                "kubectl mp-{plugin} --help lacks {needle:?}:\n{help}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_reports_its_reachable_context_and_says_its_operation_is_not_built() {
    let sandbox = sandbox().await;
    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &["mp-export", "--context", "active"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "✔ context \"active\" reachable: {}",
            sandbox.cluster("active").server_url()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("mp-export is not built yet (issue #3)"),
        "{stderr}"
    );
    assert!(text(&output.stdout).is_empty(), "messages belong on stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_list_with_a_missing_file_still_works_and_unknown_context_is_a_usage_error() {
    let sandbox = sandbox().await;
    let list = format!("/nonexistent/kubeconfig:{}", sandbox.kubeconfig().display());
    let output = kubectl(
        Some(Path::new(&list)),
        &["mp-import", "--context", "standby"],
    );
    assert!(
        text(&output.stderr).contains("✔ context \"standby\" reachable"),
        "{}",
        text(&output.stderr)
    );

    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &["mp-import", "--context", "nope"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: context \"nope\" not found in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pass --context with one of: active"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_plugins_check_both_clusters_and_refuse_one_context_for_both_roles() {
    let sandbox = sandbox().await;
    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &[
            "mp-cacheck",
            "--active-context",
            "active",
            "--standby-context",
            "standby",
        ],
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("✔ active context \"active\" reachable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("✔ standby context \"standby\" reachable"),
        "{stderr}"
    );

    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &["mp-failover", "--from", "active", "--to", "active"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("the active and standby contexts are both \"active\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_and_denied_clusters_exit_3_with_one_line() {
    let sandbox = sandbox().await;
    let standby = sandbox.cluster("standby");
    standby.set_down(true).await.expect("down");
    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &[
            "mp-import",
            "--context",
            "standby",
            "--request-timeout",
            "5s",
        ],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("context \"standby\": cluster unreachable"),
        "{stderr}"
    );
    assert!(stderr.contains("check the cluster is up"), "{stderr}");
    standby.set_down(false).await.expect("up");

    standby.add_fault(FaultRule {
        verb: Some("get".into()),
        path_contains: Some("/version".into()),
        nth: None,
        times: None,
        action: FaultAction::Status(403),
    });
    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &["mp-import", "--context", "standby"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("context \"standby\": forbidden to reach the API server"),
        "{stderr}"
    );
    assert!(stderr.contains("auth can-i"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_never_answers_times_out_as_a_cluster_error() {
    let sandbox = sandbox().await;
    sandbox.cluster("active").add_fault(FaultRule {
        verb: None,
        path_contains: Some("/version".into()),
        nth: None,
        times: None,
        action: FaultAction::Timeout,
    });
    let output = kubectl(
        Some(sandbox.kubeconfig()),
        &[
            "mp-export",
            "--context",
            "active",
            "--request-timeout",
            "1s",
        ],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
}
