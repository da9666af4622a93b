//! Runs the plugins as users do: installed with `make install`, on PATH, found
//! by the real kubectl, against in-process sandbox clusters.
#![allow(dead_code)] // each test file uses its own part of this

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use mp_sandbox::{CertVariant, ClusterHandle, ClusterOptions, Sandbox, SandboxOptions, SeedKind};
use tokio::io::AsyncWriteExt;

pub const PLUGINS: [&str; 4] = ["export", "import", "cacheck", "failover"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// `make install CARGO_PROFILE=dev` into a temporary prefix, once per test
/// binary: the same command users run.
pub fn bin_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let prefix =
            std::env::temp_dir().join(format!("kubectl-mp-install-{}", std::process::id()));
        let output = std::process::Command::new("make")
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
        prefix.join("bin")
    })
}

/// What one command printed, and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Everything printed, for "no secret value anywhere" scans.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Sandbox clusters `active` and `standby`, a working directory, and a
/// runner for kubectl with the plugins on PATH.
pub struct World {
    pub sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl World {
    pub async fn start(active: SeedKind, standby: SeedKind) -> World {
        World::start_with(&[
            ("active", active, CertVariant::SharedRoot),
            ("standby", standby, CertVariant::SharedRoot),
        ])
        .await
    }

    pub async fn start_with(clusters: &[(&str, SeedKind, CertVariant)]) -> World {
        World::start_for("tsb.example.com", clusters).await
    }

    /// Clusters whose MP certificates carry `dns_name`, the floating name.
    pub async fn start_for(dns_name: &str, clusters: &[(&str, SeedKind, CertVariant)]) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let sandbox = Sandbox::start(SandboxOptions {
            clusters: clusters
                .iter()
                .map(|(name, seed, certs)| ClusterOptions {
                    name: name.to_string(),
                    seed: *seed,
                    certs: *certs,
                })
                .collect(),
            kubeconfig_path: dir.path().join("kubeconfig"),
            namespace: "tsb".into(),
            ready_delay: Duration::from_millis(100),
            floating_dns_name: dns_name.into(),
        })
        .await
        .expect("sandbox starts");
        World { sandbox, dir }
    }

    pub fn cluster(&self, name: &str) -> &ClusterHandle {
        self.sandbox.cluster(name)
    }

    pub fn kubeconfig(&self) -> &Path {
        self.sandbox.kubeconfig()
    }

    /// A path in the test's working directory (where commands run).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(
        &self,
        program: &str,
        args: &[&str],
        kubeconfig: &std::ffi::OsStr,
    ) -> tokio::process::Command {
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            .env_remove("KUBECTL_MP_LAYOUT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn finish(mut child: tokio::process::Child, stdin: &[u8], what: &str) -> Out {
        let mut input = child.stdin.take().expect("piped stdin");
        input.write_all(stdin).await.expect("write stdin");
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{what} hung"))
            .expect("command ran");
        Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `kubectl ARGS` (plugins included) with the sandbox kubeconfig.
    pub async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_with_stdin(args, b"").await
    }

    pub async fn kubectl_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.kubectl_with_kubeconfig(args, stdin, self.kubeconfig().as_os_str())
            .await
    }

    /// Like `kubectl`, with KUBECONFIG set to `kubeconfig` (e.g. a list).
    pub async fn kubectl_with_kubeconfig(
        &self,
        args: &[&str],
        stdin: &[u8],
        kubeconfig: &std::ffi::OsStr,
    ) -> Out {
        let child = self
            .command("kubectl", args, kubeconfig)
            .spawn()
            .unwrap_or_else(|error| panic!("kubectl not runnable ({error}); .ci/run installs it"));
        World::finish(child, stdin, &format!("kubectl {args:?}")).await
    }

    /// A bash pipeline, for `mp-export -o - | mp-import -f -`.
    pub async fn shell(&self, script: &str) -> Out {
        let child = self
            .command(
                "bash",
                &["-o", "pipefail", "-c", script],
                self.kubeconfig().as_os_str(),
            )
            .spawn()
            .expect("bash");
        World::finish(child, b"", script).await
    }

    /// Requests to `cluster` that change something, from the sandbox's counters.
    pub fn writes(&self, cluster: &str) -> u64 {
        self.cluster(cluster)
            .counters()
            .iter()
            .filter(|(key, _)| {
                ["create ", "update ", "patch ", "delete "]
                    .iter()
                    .any(|verb| key.starts_with(verb))
            })
            .map(|(_, count)| count)
            .sum()
    }

    /// Every request `cluster` has counted.
    pub fn requests(&self, cluster: &str) -> u64 {
        self.cluster(cluster).counters().values().sum()
    }

    /// The sandbox's stored Secret `name` in `tsb` of `cluster`.
    pub fn secret(&self, cluster: &str, name: &str) -> Option<serde_json::Value> {
        self.cluster(cluster)
            .object("", "secrets", Some("tsb"), name)
    }
}
