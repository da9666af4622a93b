//! The real Kubernetes plane the end-to-end tests run on: two clusters
//! (contexts `active` and `standby`) of real kube-apiserver 1.36, etcd,
//! controllers and kwok, and the real kubectl and helm built beside them
//! (tests/kube). Tests share the pair and isolate themselves by namespace.
//!
//! MP_TEST_KUBECONFIG points the tests at a pair you run yourself (a
//! kubeconfig with contexts `active` and `standby`); otherwise the first test
//! brings up `make clusters`' pair (`tests/kube/clusters.sh up`), which
//! `make test` also stops afterwards.
#![allow(dead_code)] // each test file uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub struct Plane {
    /// Contexts `active` and `standby` (and `NAME-token` on our own pair).
    pub kubeconfig: PathBuf,
    /// kubectl 1.36, helm, kwokctl, ... as tests/kube/build-tools.sh built them.
    pub tools: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn stdout_line(what: &str, output: std::io::Result<Output>) -> PathBuf {
    let output = output.unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// The pair, started on first use (once per test binary).
pub fn plane() -> &'static Plane {
    static PLANE: OnceLock<Plane> = OnceLock::new();
    PLANE.get_or_init(|| {
        let root = workspace_root();
        let tools = stdout_line(
            "tests/kube/build-tools.sh",
            Command::new("bash")
                .arg(root.join("tests/kube/build-tools.sh"))
                .output(),
        );
        let kubeconfig = match std::env::var_os("MP_TEST_KUBECONFIG") {
            Some(kubeconfig) => PathBuf::from(kubeconfig),
            None => stdout_line(
                "tests/kube/clusters.sh up",
                Command::new("bash")
                    .arg(root.join("tests/kube/clusters.sh"))
                    .arg("up")
                    .output(),
            ),
        };
        Plane { kubeconfig, tools }
    })
}

/// A namespace name no other test (or earlier run) uses: `PREFIX-XXXXXXXX`.
pub fn unique_namespace(prefix: &str) -> String {
    let mut random = [0u8; 4];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("/dev/urandom"),
        &mut random,
    )
    .expect("4 random bytes");
    let suffix: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}-{suffix}")
}

/// What one command printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the command's stderr unless it exited 0.
    pub fn ok(self, what: &str) -> Run {
        assert_eq!(self.code, Some(0), "{what}: {}", self.stderr);
        self
    }
}

impl Plane {
    /// Runs `program ARGS` in `dir` with the pair's kubeconfig and, first on
    /// PATH, `extra_path` (the installed plugins) and the built tools.
    pub fn run(&self, dir: &Path, extra_path: &Path, program: &str, args: &[&str]) -> Run {
        let path = format!(
            "{}:{}:{}",
            extra_path.display(),
            self.tools.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("PATH", path)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .env_remove("KUBECTL_MP_LAYOUT")
            .output()
            .unwrap_or_else(|error| panic!("{program} {args:?}: {error}"));
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The local stand-in of Tetrate's managementplane chart.
    pub fn chart(&self) -> PathBuf {
        workspace_root().join("tests/kube/charts/managementplane")
    }
}

/// Namespaces a test made, deleted (without waiting) when it ends.
pub struct Namespaces<'a> {
    plane: &'a Plane,
    created: Vec<(String, String)>,
}

impl<'a> Namespaces<'a> {
    pub fn new(plane: &'a Plane) -> Namespaces<'a> {
        Namespaces {
            plane,
            created: Vec::new(),
        }
    }

    /// Creates `name` in `context`.
    pub fn create(&mut self, context: &str, name: &str) {
        self.plane
            .run(
                Path::new("."),
                Path::new("."),
                "kubectl",
                &["--context", context, "create", "namespace", name],
            )
            .ok("kubectl create namespace");
        self.created.push((context.to_string(), name.to_string()));
    }

    /// Records `name` in `context` for deletion (made by someone else).
    pub fn adopt(&mut self, context: &str, name: &str) {
        self.created.push((context.to_string(), name.to_string()));
    }
}

impl Drop for Namespaces<'_> {
    fn drop(&mut self) {
        for (context, name) in &self.created {
            let _ = self.plane.run(
                Path::new("."),
                Path::new("."),
                "kubectl",
                &[
                    "--context",
                    context,
                    "delete",
                    "namespace",
                    name,
                    "--wait=false",
                    "--ignore-not-found",
                ],
            );
        }
    }
}

/// Seeds a TSB Management Plane into `namespace` of `context` on the real
/// plane, with the built kubectl (see [`mp_sandbox::live::apply_seed`]).
pub fn seed(plane: &Plane, dir: &Path, context: &str, seed: &mp_sandbox::seed::SeedContext) {
    mp_sandbox::live::apply_seed(
        &plane.tools.join("kubectl"),
        &plane.kubeconfig,
        context,
        seed,
        dir,
    )
    .unwrap_or_else(|error| panic!("seeding {context}: {error}"));
}

/// How `context` reaches its API server, from the kubeconfig with every
/// file inlined: what a proxy in front of it needs.
pub fn upstream(plane: &Plane, context: &str) -> mp_sandbox::proxy::Upstream {
    use base64::Engine;
    let view = plane
        .run(
            Path::new("."),
            Path::new("."),
            "kubectl",
            &[
                "config",
                "view",
                "--raw",
                "--flatten",
                "--minify",
                "--context",
                context,
                "-o",
                "json",
            ],
        )
        .ok("kubectl config view");
    let view: serde_json::Value = serde_json::from_str(&view.stdout).expect("kubeconfig JSON");
    let decode = |value: &serde_json::Value| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("inlined data"))
            .expect("base64");
        String::from_utf8(bytes).expect("PEM")
    };
    let cluster = &view["clusters"][0]["cluster"];
    let user = &view["users"][0]["user"];
    let server = cluster["server"].as_str().expect("server");
    let host_port = server.trim_start_matches("https://").trim_end_matches('/');
    let address: std::net::SocketAddr = host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("the pair's servers are IP:port");
    mp_sandbox::proxy::Upstream {
        address,
        server_name: address.ip().to_string(),
        ca_pem: decode(&cluster["certificate-authority-data"]),
        client_cert_pem: decode(&user["client-certificate-data"]),
        client_key_pem: decode(&user["client-key-data"]),
    }
}
