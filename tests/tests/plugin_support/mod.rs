//! Runs the plugins as users do: installed with `make install`, on PATH,
//! found by the real kubectl 1.36, against the real plane (tests/kube): two
//! real clusters, contexts `active` and `standby`, of kube-apiserver 1.36,
//! etcd, controllers and kwok, shared by every test of a binary.
//!
//! Each [`World`] isolates itself by namespace: one fresh namespace (the
//! same name on both clusters) holds its seeded Management Plane, and its
//! own kubeconfig reaches each cluster through a counting, fault-injecting
//! proxy ([`mp_sandbox::proxy`]), so a test's request counts are its own.
//! What the real plane does not run, the TSB operator and the MP's front
//! door, is played against the real API ([`mp_sandbox::live`]).
//!
//! MP_TEST_KUBECONFIG points the tests at a pair you run yourself (a
//! kubeconfig with contexts `active` and `standby`, admin rights); otherwise
//! the first test brings up `make clusters`' pair (`tests/kube/clusters.sh
//! up`), which `make test` stops afterwards.
#![allow(dead_code)] // each test file uses its own part of this

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use mp_sandbox::faults::FaultRule;
use mp_sandbox::live::{LiveFront, LiveNamespace};
use mp_sandbox::proxy::{ApiProxy, Upstream};
use mp_sandbox::seed::SeedContext;
use mp_sandbox::{CertVariant, SeedKind};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

pub const PLUGINS: [&str; 4] = ["export", "import", "cacheck", "failover"];

/// The clusters of the real plane, as contexts of its kubeconfig.
pub const CONTEXTS: [&str; 2] = ["active", "standby"];

/// Proxy variables of the test process, set empty (unset, to Go and to the
/// plugins) for every command: a test names the proxy it wants.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// `make install CARGO_PROFILE=dev` into a prefix of this test binary's own
/// under the build's target directory, once per test binary: the same
/// command users run. The prefix is emptied first, so runs do not pile up
/// copies (about 200 MB each) anywhere.
pub fn bin_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let binary = std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "tests".into());
        let prefix = target.join("test-install").join(binary);
        let _ = std::fs::remove_dir_all(&prefix);
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
        prefix.join("bin")
    })
}

/// The real plane: its kubeconfig and the tools built beside it.
pub struct Plane {
    /// Contexts `active` and `standby` (and `NAME-token` on our own pair).
    pub kubeconfig: PathBuf,
    /// kubectl 1.36, helm, kwokctl, ... as tests/kube/build-tools.sh built them.
    pub tools: PathBuf,
    /// How each context reaches its API server as the admin, in [`CONTEXTS`] order.
    upstreams: Vec<Upstream>,
    /// The bearer token of each `NAME-token` context (empty on your own pair).
    tokens: Vec<String>,
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

/// The pair, started on first use (once per test binary). Blocking: call
/// it from a blocking context ([`World::start`] does).
pub fn plane() -> &'static Plane {
    static PLANE: OnceLock<Plane> = OnceLock::new();
    PLANE.get_or_init(|| {
        let root = workspace_root();
        let tools = mp_sandbox::tools::kube_tools_dir().unwrap_or_else(|error| panic!("{error}"));
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
        let mut plane = Plane {
            kubeconfig,
            tools,
            upstreams: Vec::new(),
            tokens: Vec::new(),
        };
        for context in CONTEXTS {
            plane.upstreams.push(plane.upstream(context));
            let token = plane.run(
                Path::new("."),
                Path::new("."),
                "kubectl",
                &[
                    "config",
                    "view",
                    "--raw",
                    "--minify",
                    "--context",
                    &format!("{context}-token"),
                    "-o",
                    "jsonpath={.users[0].user.token}",
                ],
            );
            plane.tokens.push(token.stdout.trim().to_string());
        }
        plane
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

    /// Panics with the command's stderr unless it exited 0.
    pub fn ok(self, what: &str) -> Out {
        assert_eq!(self.code, Some(0), "{what}: {}", self.stderr);
        self
    }
}

impl Plane {
    /// Runs `program ARGS` in `dir` with the pair's kubeconfig and, first on
    /// PATH, `extra_path` (the installed plugins) and the built tools.
    pub fn run(&self, dir: &Path, extra_path: &Path, program: &str, args: &[&str]) -> Out {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("PATH", self.path_with(extra_path))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .env_remove("KUBECTL_MP_LAYOUT")
            .envs(PROXY_VARIABLES.map(|name| (name, "")))
            .output()
            .unwrap_or_else(|error| panic!("{program} {args:?}: {error}"));
        Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `extra` and the built tools ahead of the inherited PATH.
    pub fn path_with(&self, extra: &Path) -> String {
        format!(
            "{}:{}:{}",
            extra.display(),
            self.tools.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// The bearer token of `context`'s `NAME-token` context (empty on your own pair).
    pub fn token_of(&self, context: &str) -> &str {
        &self.tokens[Plane::index(context)]
    }

    /// `kubectl delete namespace NAME...` (one command) without waiting;
    /// absent ones are fine.
    pub fn delete_namespaces(&self, context: &str, names: &[&str]) {
        let mut args = vec!["--context", context, "delete", "namespace"];
        args.extend_from_slice(names);
        args.extend(["--wait=false", "--ignore-not-found"]);
        let _ = self.run(Path::new("."), Path::new("."), "kubectl", &args);
    }

    /// The local stand-in of Tetrate's managementplane chart.
    pub fn chart(&self) -> PathBuf {
        workspace_root().join("tests/kube/charts/managementplane")
    }

    fn index(context: &str) -> usize {
        CONTEXTS
            .iter()
            .position(|known| *known == context)
            .unwrap_or_else(|| panic!("the real plane has contexts {CONTEXTS:?}, not {context:?}"))
    }

    /// How `context` reaches its API server as the admin: what a proxy in
    /// front of it needs.
    pub fn upstream_of(&self, context: &str) -> &Upstream {
        &self.upstreams[Plane::index(context)]
    }

    fn upstream(&self, context: &str) -> Upstream {
        Upstream::from_kubectl(&self.tools.join("kubectl"), &self.kubeconfig, context)
            .unwrap_or_else(|error| panic!("{error}"))
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
            self.plane.delete_namespaces(context, &[name]);
        }
    }
}

/// Seeds a TSB Management Plane into `namespace` of `context` on the real
/// plane, with the built kubectl (see [`mp_sandbox::live::apply_seed`]).
pub fn seed(plane: &Plane, dir: &Path, context: &str, seed: &SeedContext) {
    mp_sandbox::live::apply_seed(
        &plane.tools.join("kubectl"),
        &plane.kubeconfig,
        context,
        seed,
        dir,
    )
    .unwrap_or_else(|error| panic!("seeding {context}: {error}"));
}

/// One cluster of a [`World`]: its proxy, its namespace as the admin sees
/// it (outside the proxy, so never counted), and for a seeded MP the
/// operator and front door played against it.
pub struct WorldCluster {
    name: String,
    proxy: ApiProxy,
    live: LiveNamespace,
    front: Option<LiveFront>,
    _operator: Option<mp_sandbox::live::Follower>,
    token: String,
}

impl WorldCluster {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The proxy's `https://127.0.0.1:PORT`, the kubeconfig's `server`.
    pub fn server_url(&self) -> String {
        self.proxy.url()
    }

    /// Where the seeded MP's front door serves TLS (the `envoy` Service's
    /// LoadBalancer address). Panics for a cluster seeded empty.
    pub fn front_address(&self) -> IpAddr {
        self.front
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no MP seeded, so no front door", self.name))
            .door
            .address()
            .ip()
    }

    /// The bearer token of the `NAME-token` context.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The object as the API server holds it now (`group` "" for core), read
    /// as the admin outside the proxy. Blocks: call from a multi-thread runtime.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let live = self.live.clone();
        let (group, plural, name) = (group.to_string(), plural.to_string(), name.to_string());
        let namespace = namespace.map(str::to_string);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                live.object(&group, &plural, namespace.as_deref(), &name)
                    .await
                    .unwrap_or_else(|error| panic!("reading {plural}/{name}: {error}"))
            })
        })
    }

    /// Request counts through the proxy by "VERB PATH".
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.proxy.faults().counters()
    }
    /// LISTs and watches through the proxy by "PATH?labelSelector=…", or
    /// "PATH" when unfiltered.
    pub fn lists(&self) -> std::collections::BTreeMap<String, u64> {
        self.proxy.faults().lists()
    }
    /// Reads through the proxy served from the watch cache
    /// (`resourceVersion=0`), by "VERB PATH".
    pub fn watch_cache_reads(&self) -> std::collections::BTreeMap<String, u64> {
        self.proxy.faults().watch_cache_reads()
    }
    /// Requests by `User-Agent` through the proxy ("" for none).
    pub fn user_agents(&self) -> std::collections::BTreeMap<String, u64> {
        self.proxy.faults().user_agents()
    }
    pub fn reset_counters(&self) {
        self.proxy.faults().reset_counters()
    }
    pub fn set_latency(&self, latency: Duration) {
        self.proxy.faults().set_latency(latency)
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.proxy.faults().add_rule(rule)
    }
    /// Clears the fault rules and the latency.
    pub fn clear_faults(&self) {
        self.proxy.faults().clear()
    }
    /// Closes (true) or reopens (false) the proxy, keeping its port.
    pub async fn set_down(&self, down: bool) -> std::io::Result<()> {
        self.proxy.set_down(down).await
    }
}

/// One permission taken out of a shipped Role by [`World::bound_context`]:
/// `verb` on `resource` from the first rule of Role `role` granting it.
pub struct Removed<'a> {
    pub role: &'a str,
    pub resource: &'a str,
    pub verb: &'a str,
}

impl Removed<'_> {
    /// The kustomize JSON patch taking this permission out of the Role in
    /// `rbac` (the shipped YAML): the verb, or the rule when it is the
    /// rule's only verb (a rule needs one), after a test op that makes the
    /// overlay fail, not the test pass, should the Role change under it.
    fn patch(&self, rbac: &str) -> String {
        let documents: Vec<Value> = serde_saphyr::from_multiple(rbac).expect("shipped YAML");
        let role = documents
            .iter()
            .find(|document| {
                document["kind"] == "Role" && document["metadata"]["name"] == self.role
            })
            .unwrap_or_else(|| panic!("no Role {}", self.role));
        let listed = |rule: &Value, field: &str, value: &str| {
            rule[field]
                .as_array()
                .and_then(|values| values.iter().position(|item| item == value))
        };
        let (index, rule) = role["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .enumerate()
            .find(|(_, rule)| {
                listed(rule, "resources", self.resource).is_some()
                    && listed(rule, "verbs", self.verb).is_some()
            })
            .unwrap_or_else(|| {
                panic!(
                    "Role {} grants no {} {}",
                    self.role, self.verb, self.resource
                )
            });
        let verb = listed(rule, "verbs", self.verb).expect("found above");
        let removed = if rule["verbs"].as_array().expect("verbs").len() == 1 {
            format!("/rules/{index}")
        } else {
            format!("/rules/{index}/verbs/{verb}")
        };
        format!(
            "- op: test\n  path: /rules/{index}/verbs/{verb}\n  value: {}\n- op: remove\n  path: {removed}\n",
            self.verb
        )
    }
}

/// Clusters `active` and `standby` of the real plane as one test sees them:
/// a namespace of its own ([`World::ns`]) holding what it seeded, a
/// kubeconfig through proxies, a working directory, and a runner for kubectl
/// with the plugins on PATH.
pub struct World {
    /// The test's namespace, the same name on both clusters: plugin commands
    /// get `-n NS` unless the test passes one, shells see it as `$NS`, and
    /// the kubeconfig's contexts default to it.
    pub ns: String,
    clusters: Vec<WorldCluster>,
    kubeconfig: PathBuf,
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
    /// Seeded MPs are Available (every Deployment) when this returns.
    pub async fn start_for(dns_name: &str, clusters: &[(&str, SeedKind, CertVariant)]) -> World {
        let plane = tokio::task::spawn_blocking(plane).await.expect("plane");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let ns = unique_namespace("tsb");
        let root = std::sync::Arc::new(mp_sandbox::pki::CertAuthority::new_root(
            "mp-sandbox shared root CA",
        ));
        let listeners = mp_sandbox::front::reserve_front_listeners(clusters.len())
            .await
            .expect("front addresses");
        let mut seeding = Vec::new();
        for ((name, kind, certs), listener) in clusters.iter().zip(&listeners) {
            let (name, kind, certs) = (name.to_string(), *kind, *certs);
            let (ns, dns_name, work) = (ns.clone(), dns_name.to_string(), dir.path().to_owned());
            let root = std::sync::Arc::clone(&root);
            let front_address = listener.local_addr().expect("front address").ip();
            seeding.push(tokio::task::spawn_blocking(move || {
                if kind == SeedKind::Empty {
                    return;
                }
                seed(
                    plane,
                    &work,
                    &name,
                    &SeedContext {
                        cluster_name: &name,
                        namespace: &ns,
                        kind,
                        certs,
                        shared_root: &root,
                        floating_dns_name: &dns_name,
                        front_address,
                    },
                );
            }));
        }
        for seeding in seeding {
            seeding.await.expect("seeding");
        }

        let mut world_clusters = Vec::new();
        let mut waits = Vec::new();
        for ((name, kind, _), listener) in clusters.iter().zip(listeners) {
            let live = LiveNamespace::connect(&plane.kubeconfig, name, &ns)
                .await
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            let proxy = ApiProxy::start(plane.upstream_of(name))
                .await
                .expect("proxy starts");
            let (front, operator) = if *kind == SeedKind::Empty {
                (None, None)
            } else {
                let front = live.run_front(listener).expect("front door");
                waits.push(live.clone());
                (Some(front), Some(live.run_operator()))
            };
            world_clusters.push(WorldCluster {
                name: name.to_string(),
                proxy,
                live,
                front,
                _operator: operator,
                token: plane.token_of(name).to_string(),
            });
        }
        let available = waits.iter().map(|live| async move {
            live.wait_available(Duration::from_secs(90))
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", live.cluster_name));
        });
        futures::future::join_all(available).await;
        // The front doors follow envoy within a poll: wait until they listen.
        for cluster in world_clusters
            .iter()
            .filter(|cluster| cluster.front.is_some())
        {
            let address = (cluster.front_address(), mp_sandbox::front::FRONT_PORT);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::net::TcpStream::connect(address).await.is_err() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}: the front door did not open",
                    cluster.name
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        let kubeconfig = dir.path().join("kubeconfig");
        let entries: Vec<(String, String, String, String)> = world_clusters
            .iter()
            .map(|cluster| {
                let (cert, key) = cluster.proxy.admin_client();
                (
                    cluster.proxy.url(),
                    cluster.proxy.ca_pem().to_string(),
                    cert.to_string(),
                    key.to_string(),
                )
            })
            .collect();
        let kubeconfig_clusters: Vec<mp_sandbox::kubeconfig::KubeconfigCluster> = world_clusters
            .iter()
            .zip(&entries)
            .map(
                |(cluster, (server, ca, cert, key))| mp_sandbox::kubeconfig::KubeconfigCluster {
                    name: &cluster.name,
                    server,
                    ca_pem: ca,
                    client_cert_pem: cert,
                    client_key_pem: key,
                    token: &cluster.token,
                    namespace: &ns,
                },
            )
            .collect();
        mp_sandbox::kubeconfig::write_kubeconfig(&kubeconfig, &kubeconfig_clusters)
            .expect("kubeconfig");
        World {
            ns,
            clusters: world_clusters,
            kubeconfig,
            dir,
        }
    }

    pub fn cluster(&self, name: &str) -> &WorldCluster {
        self.clusters
            .iter()
            .find(|cluster| cluster.name == name)
            .unwrap_or_else(|| panic!("no cluster {name} in this world"))
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A path in the test's working directory (where commands run).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(
        &self,
        program: &str,
        args: &[String],
        kubeconfig: &std::ffi::OsStr,
    ) -> tokio::process::Command {
        let plane = plane();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", plane.path_with(bin_dir()))
            .env("HOME", self.dir.path().join("home"))
            .env("KUBECONFIG", kubeconfig)
            .env("NS", &self.ns)
            .env("NO_COLOR", "1")
            .env_remove("KUBECTL_MP_LAYOUT")
            .envs(PROXY_VARIABLES.map(|name| (name, "")))
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

    /// `kubectl ARGS` (plugins included) with the world's kubeconfig; a
    /// plugin command (`mp-…`) gets `-n NS` unless it has `-n`/`--namespace`.
    pub async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_with_stdin(args, b"").await
    }

    /// Adds `count` Secrets that are not the MP's (`unrelated-0000`, …) to
    /// the namespace in `cluster`: what its cost must not follow.
    pub async fn add_unrelated_secrets(&self, cluster: &str, count: usize) {
        let items: Vec<Value> = (0..count)
            .map(|index| {
                serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("unrelated-{index:04}")},
                    "stringData": {"note": "not the MP's"},
                })
            })
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.kubectl_with_stdin(
            &["apply", "--context", cluster, "-n", &self.ns, "-f", "-"],
            &serde_json::to_vec(&list).unwrap(),
        )
        .await
        .ok("kubectl apply the unrelated Secrets");
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
        self.kubectl_with_env(args, stdin, kubeconfig, &[]).await
    }

    /// [`World::kubectl_with_kubeconfig`] with environment variables `env`
    /// (e.g. HTTPS_PROXY; the test process's own proxy variables are never
    /// passed on).
    pub async fn kubectl_with_env(
        &self,
        args: &[&str],
        stdin: &[u8],
        kubeconfig: &std::ffi::OsStr,
        env: &[(&str, &str)],
    ) -> Out {
        let mut full: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let plugin = args.first().is_some_and(|first| first.starts_with("mp-"));
        let has_namespace = args
            .iter()
            .any(|arg| *arg == "-n" || *arg == "--namespace" || arg.starts_with("--namespace="));
        if plugin && !has_namespace {
            full.splice(1..1, ["-n".to_string(), self.ns.clone()]);
        }
        let child = self
            .command("kubectl", &full, kubeconfig)
            .envs(env.iter().copied())
            .spawn()
            .unwrap_or_else(|error| panic!("kubectl not runnable ({error})"));
        World::finish(child, stdin, &format!("kubectl {args:?}")).await
    }

    /// A bash pipeline, for `mp-export -f - | mp-import -f -`; the world's
    /// namespace is `$NS`.
    pub async fn shell(&self, script: &str) -> Out {
        let args = ["-o", "pipefail", "-c", script].map(str::to_string);
        let child = self
            .command("bash", &args, self.kubeconfig().as_os_str())
            .spawn()
            .expect("bash");
        World::finish(child, b"", script).await
    }

    /// A real `helm install RELEASE` of the managementplane stand-in chart
    /// ([`Plane::chart`]) into the world's namespace of `context` (created
    /// if missing), through the world's proxy, with `values` (YAML) as the
    /// user's values file (`CONTEXT-RELEASE-values.yaml` in the working
    /// directory); waits until it is deployed.
    pub async fn helm_install(&self, context: &str, release: &str, values: &str) -> Out {
        let file = format!("{context}-{release}-values.yaml");
        std::fs::write(self.path(&file), values).expect("values file");
        let args = [
            "--kube-context",
            context,
            "install",
            release,
            &plane().chart().display().to_string(),
            "-n",
            &self.ns,
            "--create-namespace",
            "--values",
            &file,
            "--wait",
            "--timeout",
            "90s",
        ]
        .map(str::to_string);
        let child = self
            .command("helm", &args, self.kubeconfig().as_os_str())
            .spawn()
            .expect("helm");
        World::finish(child, b"", &format!("helm install {release}")).await
    }

    /// Requests to `cluster` that change something, from the proxy's counters.
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

    /// Adds context `CLUSTER-denied` to the world's kubeconfig and returns
    /// its name: `cluster` through its proxy as ServiceAccount `mp-denied` of
    /// the world's namespace, whom RBAC allows nothing, so every request
    /// gets the API server's own 403. The namespace must exist (a seeded MP).
    pub async fn denied_context(&self, cluster: &str) -> String {
        self.kubectl(&[
            "--context",
            cluster,
            "-n",
            &self.ns,
            "create",
            "serviceaccount",
            "mp-denied",
        ])
        .await
        .ok("kubectl create serviceaccount");
        let context = format!("{cluster}-denied");
        self.account_context(cluster, &self.ns, "mp-denied", &context)
            .await;
        context
    }

    /// Applies shipped RBAC, the kustomization in `folder` of the repository
    /// (`deploy/rbac/export`), as users do (`kubectl apply -k`), into
    /// `namespace` of `cluster` (the folder's own namespace replaced by a
    /// kustomize overlay), with `removed`'s permission taken out of its Role
    /// when given (applied again, that takes it out of the live Role), and
    /// returns a context of the world's kubeconfig acting as its
    /// ServiceAccount `account`, bound to nothing else:
    /// `CLUSTER-NAMESPACE-ACCOUNT`.
    pub async fn bound_context(
        &self,
        cluster: &str,
        folder: &str,
        namespace: &str,
        account: &str,
        removed: Option<&Removed<'_>>,
    ) -> String {
        let overlay = self.path(&format!(
            "rbac-{cluster}-{namespace}-{}",
            folder.replace('/', "-")
        ));
        std::fs::create_dir_all(&overlay).expect("overlay dir");
        let shipped = workspace_root().join(folder);
        // kustomize takes a base by a relative path only.
        let up = "../".repeat(overlay.components().count() - 1);
        let base = format!(
            "{up}{}",
            shipped.display().to_string().trim_start_matches('/')
        );
        let mut kustomization = format!("namespace: {namespace}\nresources:\n  - {base}\n");
        if let Some(removed) = removed {
            let rbac = std::fs::read_to_string(shipped.join("rbac.yaml")).expect("rbac.yaml");
            let patch = removed.patch(&rbac).replace('\n', "\n      ");
            kustomization.push_str(&format!(
                "patches:\n  - target: {{kind: Role, name: {}}}\n    patch: |-\n      {patch}\n",
                removed.role
            ));
        }
        std::fs::write(overlay.join("kustomization.yaml"), kustomization).expect("overlay");
        self.kubectl(&[
            "--context",
            cluster,
            "apply",
            "-k",
            &overlay.display().to_string(),
        ])
        .await
        .ok("kubectl apply -k the shipped Role");
        let context = format!("{cluster}-{namespace}-{account}");
        self.account_context(cluster, namespace, account, &context)
            .await;
        context
    }

    /// Adds `context` to the world's kubeconfig: `cluster` through its
    /// proxy as ServiceAccount `account` of `namespace`, with a token
    /// `kubectl create token` mints (valid for an hour).
    async fn account_context(&self, cluster: &str, namespace: &str, account: &str, context: &str) {
        let token = self
            .kubectl(&[
                "--context",
                cluster,
                "-n",
                namespace,
                "create",
                "token",
                account,
                "--duration=1h",
            ])
            .await
            .ok("kubectl create token")
            .stdout;
        let token = format!("--token={}", token.trim());
        self.kubectl(&["config", "set-credentials", context, &token])
            .await
            .ok("kubectl config set-credentials");
        let (cluster_flag, user_flag) =
            (format!("--cluster={cluster}"), format!("--user={context}"));
        self.kubectl(&["config", "set-context", context, &cluster_flag, &user_flag])
            .await
            .ok("kubectl config set-context");
    }

    /// `NS-dr`: the other namespace a test may import into (e.g. with
    /// `--namespace-remap`); deleted with the world's own.
    pub fn remap_namespace(&self) -> String {
        format!("{}-dr", self.ns)
    }

    /// Every request `cluster` has counted.
    pub fn requests(&self, cluster: &str) -> u64 {
        self.cluster(cluster).counters().values().sum()
    }

    /// Secret `name` in the world's namespace of `cluster`, as stored now.
    pub fn secret(&self, cluster: &str, name: &str) -> Option<Value> {
        self.cluster(cluster)
            .object("", "secrets", Some(&self.ns), name)
    }
}

impl Drop for World {
    /// Deletes the world's namespaces on both clusters without waiting for
    /// their objects to go (the namespace controller finishes that).
    fn drop(&mut self) {
        for context in CONTEXTS {
            plane().delete_namespaces(context, &[&self.ns, &self.remap_namespace()]);
        }
    }
}
