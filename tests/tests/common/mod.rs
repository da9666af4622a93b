//! Runs the real kubectl against an in-process sandbox.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mp_sandbox::{CertVariant, ClusterHandle, ClusterOptions, Sandbox, SandboxOptions, SeedKind};
use tokio::io::AsyncWriteExt;

/// What one kubectl run printed.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A sandbox with clusters `active` and `standby` (both seeded empty, so the
/// tests own every object they look at), plus a HOME of its own so kubectl's
/// discovery cache never leaks between tests.
pub struct Env {
    pub sandbox: Sandbox,
    dir: tempfile::TempDir,
}

/// The namespace each test creates and works in.
pub const NS: &str = "work";

impl Env {
    pub async fn start() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = |name: &str| ClusterOptions {
            name: name.into(),
            seed: SeedKind::Empty,
            certs: CertVariant::SharedRoot,
        };
        let sandbox = Sandbox::start(SandboxOptions {
            clusters: vec![cluster("active"), cluster("standby")],
            kubeconfig_path: dir.path().join("kubeconfig"),
            // Not NS: the tests create NS themselves, whatever the seeds hold.
            namespace: "tsb".into(),
            ready_delay: Duration::from_millis(300),
            floating_dns_name: "tsb.example.com".into(),
        })
        .await
        .expect("sandbox starts");
        Env { sandbox, dir }
    }

    /// Starts and creates the working namespace through kubectl.
    pub async fn with_namespace() -> Env {
        let env = Env::start().await;
        let out = env.ok(&["create", "namespace", NS]).await;
        assert!(out.contains(&format!("namespace/{NS} created")), "{out}");
        env
    }

    pub fn active(&self) -> &ClusterHandle {
        self.sandbox.cluster("active")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        // KUBECTL picks another kubectl build (e.g. a version-pinned one).
        let program = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env("KUBECONFIG", self.sandbox.kubeconfig())
            .env("HOME", self.home())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Spawns kubectl without waiting, for `--watch`.
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        self.command(args).spawn().unwrap_or_else(|error| {
            panic!("kubectl is not runnable ({error}); .ci/run installs it")
        })
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.spawn(args);
        let mut input = child.stdin.take().expect("piped stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write kubectl stdin");
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} hung"))
            .expect("kubectl ran");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    /// Runs kubectl, asserts success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.success, "kubectl {args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// `kubectl apply -f -` (plus `extra` flags) with `manifest` on stdin.
    pub async fn apply(&self, manifest: &str, extra: &[&str]) -> Run {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.run_with_stdin(&args, manifest).await
    }

    /// The stored object in the working namespace, from the active cluster.
    pub fn object(&self, group: &str, plural: &str, name: &str) -> Option<serde_json::Value> {
        self.active().object(group, plural, Some(NS), name)
    }
}
