//! The sandbox's MP front door, probed as a failover does
//! (`kubectl_mp::front::probe`), and driven through the real kubectl.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use kubectl_mp::Exit;
use kubectl_mp::front::{FrontProbe, probe};
use mp_sandbox::front::FRONT_PORT;
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::{CertVariant, ClusterHandle, ClusterOptions, Sandbox, SandboxOptions, SeedKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;

const DNS_NAME: &str = "tsb.example.com";
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

struct Env {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

/// `active` (shared root), `standby` (a root of its own) and `spare` (no MP).
async fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cluster = |name: &str, seed, certs| ClusterOptions {
        name: name.into(),
        seed,
        certs,
    };
    let sandbox = Sandbox::start(SandboxOptions {
        clusters: vec![
            cluster("active", SeedKind::TsbGeneric, CertVariant::SharedRoot),
            cluster("standby", SeedKind::TsbGeneric, CertVariant::OwnRoot),
            cluster("spare", SeedKind::Empty, CertVariant::SharedRoot),
        ],
        kubeconfig_path: dir.path().join("kubeconfig"),
        namespace: "tsb".into(),
        ready_delay: Duration::from_millis(100),
        floating_dns_name: DNS_NAME.into(),
    })
    .await
    .expect("sandbox starts");
    Env { sandbox, dir }
}

impl Env {
    async fn kubectl(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.sandbox.kubeconfig())
            .env("HOME", self.dir.path().join("home"))
            .output()
            .await
            .expect("kubectl runs; .ci/run installs it");
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

fn secret_value(cluster: &ClusterHandle, name: &str, key: &str) -> Vec<u8> {
    let secret = cluster
        .object("", "secrets", Some("tsb"), name)
        .unwrap_or_else(|| panic!("{} has secret {name}", cluster.name()));
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().unwrap())
        .unwrap()
}

/// Where the `envoy` Service says the front door is, as a failover reads it.
fn service_front(cluster: &ClusterHandle) -> (IpAddr, u16) {
    let service = cluster
        .object("", "services", Some("tsb"), "envoy")
        .expect("envoy Service");
    let address = service["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let port = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|port| port["name"] == "https-ingress")
        .and_then(|port| port["port"].as_u64())
        .unwrap();
    (address, u16::try_from(port).unwrap())
}

fn leaf_sha256(chain_pem: &[u8]) -> String {
    let leaf = CertificateDer::pem_slice_iter(chain_pem)
        .next()
        .unwrap()
        .unwrap();
    Sha256::digest(&leaf)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn probe_cluster(cluster: &ClusterHandle, ca_pem: &[u8]) -> kubectl_mp::Result<FrontProbe> {
    probe(
        cluster.front_address(),
        FRONT_PORT,
        DNS_NAME,
        ca_pem,
        PROBE_TIMEOUT,
    )
    .await
}

/// Probes until `done` accepts the outcome (the front door follows envoy
/// within a controller period or two).
async fn probe_until(
    cluster: &ClusterHandle,
    ca_pem: &[u8],
    done: impl Fn(&kubectl_mp::Result<FrontProbe>) -> bool,
) -> kubectl_mp::Result<FrontProbe> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = probe_cluster(cluster, ca_pem).await;
        if done(&outcome) || tokio::time::Instant::now() > deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mp_ca_and_the_floating_name_get_200_from_the_service_address() {
    let env = start().await;
    let active = env.sandbox.cluster("active");
    let (address, port) = service_front(active);
    assert_eq!(address, active.front_address());
    assert_eq!(port, FRONT_PORT);
    assert!(address.is_loopback() && address != IpAddr::from([127, 0, 0, 1]));
    let addresses: Vec<IpAddr> = env
        .sandbox
        .clusters()
        .iter()
        .map(ClusterHandle::front_address)
        .collect();
    assert!(addresses[0] != addresses[1] && addresses[1] != addresses[2]);

    let ca = secret_value(active, "tsb-certs", "ca.crt");
    let served = probe(address, port, DNS_NAME, &ca, PROBE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(served.status, 200);
    assert_eq!(
        served.leaf_sha256,
        leaf_sha256(&secret_value(active, "tsb-certs", "tls.crt"))
    );
    assert_eq!(
        hex_sha256(&served.leaf_der),
        served.leaf_sha256,
        "the fingerprint is of the DER leaf"
    );
    // The standby serves its own front door, on its own address.
    let standby = env.sandbox.cluster("standby");
    let standby_ca = secret_value(standby, "tsb-certs", "ca.crt");
    assert_eq!(
        probe_cluster(standby, &standby_ca).await.unwrap().status,
        200
    );
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_root_or_another_name_fails_the_handshake_clearly() {
    let env = start().await;
    let active = env.sandbox.cluster("active");
    let own_root_ca = secret_value(env.sandbox.cluster("standby"), "tsb-certs", "ca.crt");
    let error = probe_cluster(active, &own_root_ca).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Failed);
    let expected = format!(
        "front door {}:{FRONT_PORT}: its certificate does not chain to the expected CA",
        active.front_address()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(error.to_string().contains("mp-cacheck"), "{error}");

    let ca = secret_value(active, "tsb-certs", "ca.crt");
    let wrong_name = probe(
        active.front_address(),
        FRONT_PORT,
        "elsewhere.example.org",
        &ca,
        PROBE_TIMEOUT,
    )
    .await
    .unwrap_err();
    assert_eq!(wrong_name.exit(), Exit::Failed);
    assert!(
        wrong_name
            .to_string()
            .contains("not valid for elsewhere.example.org"),
        "{wrong_name}"
    );
}

/// A probe that met a closed port (not a connection reset while closing).
fn is_refused(outcome: &kubectl_mp::Result<FrontProbe>) -> bool {
    outcome
        .as_ref()
        .is_err_and(|error| error.to_string().contains("refused the connection"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_envoy_refuses_connections_and_scaling_it_up_serves_again() {
    let env = start().await;
    let active = env.sandbox.cluster("active");
    let ca = secret_value(active, "tsb-certs", "ca.crt");
    assert_eq!(probe_cluster(active, &ca).await.unwrap().status, 200);

    // The operator first, or it would scale envoy straight back up.
    for deployment in ["tsb-operator-management-plane", "envoy"] {
        env.kubectl(&[
            "--context",
            "active",
            "-n",
            "tsb",
            "scale",
            "deployment",
            deployment,
            "--replicas=0",
        ])
        .await;
    }
    let refused = probe_until(active, &ca, is_refused).await;
    let error = refused.unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster);
    assert!(
        error.to_string().starts_with(&format!(
            "front door {}:{FRONT_PORT} refused the connection (is envoy running?)",
            active.front_address()
        )),
        "{error}"
    );
    // The other cluster's front door is unaffected.
    let standby = env.sandbox.cluster("standby");
    let standby_ca = secret_value(standby, "tsb-certs", "ca.crt");
    assert_eq!(
        probe_cluster(standby, &standby_ca).await.unwrap().status,
        200
    );

    env.kubectl(&[
        "--context",
        "active",
        "-n",
        "tsb",
        "scale",
        "deployment",
        "envoy",
        "--replicas=2",
    ])
    .await;
    let served = probe_until(active, &ca, Result::is_ok).await.unwrap();
    assert_eq!(served.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_envoy_has_no_front_door() {
    let env = start().await;
    let spare = env.sandbox.cluster("spare");
    let ca = secret_value(env.sandbox.cluster("active"), "tsb-certs", "ca.crt");
    // Refused at once: the front door never listened for it.
    let error = probe_cluster(spare, &ca).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster);
    assert!(
        error.to_string().contains("refused the connection"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tsb_certs_secret_is_served_at_the_next_handshake() {
    let env = start().await;
    let active = env.sandbox.cluster("active");
    let old_ca = secret_value(active, "tsb-certs", "ca.crt");
    let before = probe_cluster(active, &old_ca).await.unwrap();

    let new_root = CertAuthority::new_root("rotated front root");
    let leaf = new_root.issue_server("tsb", &[DNS_NAME], &[], Duration::from_secs(3600));
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let patch = json!({"data": {
        "tls.crt": encode(&leaf.cert_pem),
        "tls.key": encode(&leaf.key_pem),
        "ca.crt": encode(new_root.cert_pem()),
    }})
    .to_string();
    env.kubectl(&[
        "--context",
        "active",
        "-n",
        "tsb",
        "patch",
        "secret",
        "tsb-certs",
        "--type=merge",
        "-p",
        &patch,
    ])
    .await;

    let after = probe_cluster(active, new_root.cert_pem().as_bytes())
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    assert_ne!(after.leaf_sha256, before.leaf_sha256);
    assert_eq!(after.leaf_sha256, leaf_sha256(leaf.cert_pem.as_bytes()));
    // Clients holding only the old root now fail, as they would for real.
    let stale = probe_cluster(active, &old_ca).await.unwrap_err();
    assert!(stale.to_string().contains("does not chain"), "{stale}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_each_front_address_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp-sandbox"))
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .arg("--state-file")
        .arg(&state_path)
        .args(["--cluster", "east=tsb-generic", "--cluster", "west=empty"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mp-sandbox runs");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.ends_with("\n}\n") {
        let read = tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut printed))
            .await
            .expect("state printed in time")
            .unwrap();
        assert!(read > 0, "mp-sandbox exited early: {printed}");
    }
    let state: Value = serde_json::from_str(&printed).unwrap();
    let front = |name: &str| -> (IpAddr, u64) {
        let cluster = &state["clusters"][name];
        (
            cluster["front_address"].as_str().unwrap().parse().unwrap(),
            cluster["front_port"].as_u64().unwrap(),
        )
    };
    let (east, port) = front("east");
    let (west, _) = front("west");
    assert_eq!(port, u64::from(FRONT_PORT));
    assert_ne!(east, west);

    let service_ip = run_kubectl(
        &kubeconfig,
        dir.path(),
        &[
            "--context",
            "east",
            "-n",
            "tsb",
            "get",
            "service",
            "envoy",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ],
    )
    .await;
    assert_eq!(service_ip, east.to_string());
    let ca = run_kubectl(
        &kubeconfig,
        dir.path(),
        &[
            "--context",
            "east",
            "-n",
            "tsb",
            "get",
            "secret",
            "tsb-certs",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
    )
    .await;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca.trim())
        .unwrap();
    let served = probe(east, FRONT_PORT, DNS_NAME, &ca, PROBE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(served.status, 200);
    child.kill().await.unwrap();
}

async fn run_kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> String {
    let output = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home.join("home"))
        .output()
        .await
        .expect("kubectl runs; .ci/run installs it");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_nameless_certificates_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = |name: &str, certs| ClusterOptions {
        name: name.into(),
        seed: SeedKind::TsbGeneric,
        certs,
    };
    let sandbox = Sandbox::start(SandboxOptions {
        clusters: vec![
            cluster("expired", CertVariant::ExpiredLeaf),
            cluster("nameless", CertVariant::MissingSan),
        ],
        kubeconfig_path: dir.path().join("kubeconfig"),
        namespace: "tsb".into(),
        ready_delay: Duration::from_millis(100),
        floating_dns_name: DNS_NAME.into(),
    })
    .await
    .expect("sandbox starts");
    for (name, finding) in [
        ("expired", "outside its validity period"),
        ("nameless", "not valid for tsb.example.com"),
    ] {
        let cluster = sandbox.cluster(name);
        let ca = secret_value(cluster, "tsb-certs", "ca.crt");
        let error = probe_cluster(cluster, &ca).await.unwrap_err();
        assert_eq!(error.exit(), Exit::Failed, "{error}");
        assert!(error.to_string().contains(finding), "{name}: {error}");
    }
}
