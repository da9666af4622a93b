//! The MP front door as the tests play it on the real plane
//! ([`mp_sandbox::live`]), probed as a failover does
//! (`kubectl_mp::tsb::front::probe`), and driven through the real kubectl.

mod plugin_support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use kubectl_mp::Exit;
use kubectl_mp::tsb::front::{FrontProbe, probe};
use kubectl_mp::tsb::mp::FrontAddress;
use mp_sandbox::front::FRONT_PORT;
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::{CertVariant, SeedKind};
use plugin_support::{World, WorldCluster};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;

const DNS_NAME: &str = "tsb.example.com";
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `active` (shared root) and `standby` (a root of its own), both serving.
async fn start() -> World {
    World::start_with(&[
        ("active", SeedKind::TsbGeneric, CertVariant::SharedRoot),
        ("standby", SeedKind::TsbGeneric, CertVariant::OwnRoot),
    ])
    .await
}

async fn kubectl(world: &World, args: &[&str]) -> String {
    world
        .kubectl(args)
        .await
        .ok(&format!("kubectl {args:?}"))
        .stdout
}

fn secret_value(world: &World, cluster: &str, name: &str, key: &str) -> Vec<u8> {
    let secret = world
        .secret(cluster, name)
        .unwrap_or_else(|| panic!("{cluster} has secret {name}"));
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().unwrap())
        .unwrap()
}

/// Where the `envoy` Service says the front door is, as a failover reads it.
fn service_front(world: &World, cluster: &str) -> (IpAddr, u16) {
    let service = world
        .cluster(cluster)
        .object("", "services", Some(&world.ns), "envoy")
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

async fn probe_cluster(cluster: &WorldCluster, ca_pem: &[u8]) -> kubectl_mp::Result<FrontProbe> {
    probe(
        &FrontAddress::Ip(cluster.front_address()),
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
    cluster: &WorldCluster,
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
    let world = start().await;
    let active = world.cluster("active");
    let (address, port) = service_front(&world, "active");
    assert_eq!(address, active.front_address());
    assert_eq!(port, FRONT_PORT);
    assert!(address.is_loopback() && address != IpAddr::from([127, 0, 0, 1]));
    assert_ne!(address, world.cluster("standby").front_address());

    let ca = secret_value(&world, "active", "tsb-certs", "ca.crt");
    let served = probe(
        &FrontAddress::Ip(address),
        port,
        DNS_NAME,
        &ca,
        PROBE_TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(served.status, 200);
    assert_eq!(
        served.leaf_sha256,
        leaf_sha256(&secret_value(&world, "active", "tsb-certs", "tls.crt"))
    );
    assert_eq!(
        hex_sha256(&served.leaf_der),
        served.leaf_sha256,
        "the fingerprint is of the DER leaf"
    );
    // The standby serves its own front door, on its own address.
    let standby = world.cluster("standby");
    let standby_ca = secret_value(&world, "standby", "tsb-certs", "ca.crt");
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
    let world = start().await;
    let active = world.cluster("active");
    let own_root_ca = secret_value(&world, "standby", "tsb-certs", "ca.crt");
    let error = probe_cluster(active, &own_root_ca).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Failed);
    let expected = format!(
        "front door {}:{FRONT_PORT}: its certificate does not chain to the expected CA",
        active.front_address()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(error.to_string().contains("mp-cacheck"), "{error}");

    let ca = secret_value(&world, "active", "tsb-certs", "ca.crt");
    let wrong_name = probe(
        &FrontAddress::Ip(active.front_address()),
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
    let world = start().await;
    let active = world.cluster("active");
    let ca = secret_value(&world, "active", "tsb-certs", "ca.crt");
    assert_eq!(probe_cluster(active, &ca).await.unwrap().status, 200);

    // The operator first, or it would scale envoy straight back up.
    for deployment in ["tsb-operator-management-plane", "envoy"] {
        kubectl(
            &world,
            &[
                "--context",
                "active",
                "scale",
                "deployment",
                deployment,
                "--replicas=0",
            ],
        )
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
    let standby = world.cluster("standby");
    let standby_ca = secret_value(&world, "standby", "tsb-certs", "ca.crt");
    assert_eq!(
        probe_cluster(standby, &standby_ca).await.unwrap().status,
        200
    );

    kubectl(
        &world,
        &[
            "--context",
            "active",
            "scale",
            "deployment",
            "envoy",
            "--replicas=2",
        ],
    )
    .await;
    let served = probe_until(active, &ca, Result::is_ok).await.unwrap();
    assert_eq!(served.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_envoy_is_gone_has_no_front_door() {
    let world = start().await;
    let active = world.cluster("active");
    let ca = secret_value(&world, "active", "tsb-certs", "ca.crt");
    assert_eq!(probe_cluster(active, &ca).await.unwrap().status, 200);
    for deployment in ["tsb-operator-management-plane", "envoy"] {
        kubectl(
            &world,
            &["--context", "active", "delete", "deployment", deployment],
        )
        .await;
    }
    let error = probe_until(active, &ca, is_refused).await.unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tsb_certs_secret_is_served_at_the_next_handshake() {
    let world = start().await;
    let active = world.cluster("active");
    let old_ca = secret_value(&world, "active", "tsb-certs", "ca.crt");
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
    kubectl(
        &world,
        &[
            "--context",
            "active",
            "patch",
            "secret",
            "tsb-certs",
            "--type=merge",
            "-p",
            &patch,
        ],
    )
    .await;

    // The front door reads tsb-certs every 50 ms: the next handshakes
    // after that serve the new chain.
    let after = probe_until(active, new_root.cert_pem().as_bytes(), Result::is_ok)
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    assert_ne!(after.leaf_sha256, before.leaf_sha256);
    assert_eq!(after.leaf_sha256, leaf_sha256(leaf.cert_pem.as_bytes()));
    // Clients holding only the old root now fail, as they would for real.
    let stale = probe_cluster(active, &old_ca).await.unwrap_err();
    assert!(stale.to_string().contains("does not chain"), "{stale}");
}

/// `mp-live`, which `make demo` runs: it seeds each context, prints where
/// each front door is, serves it, and removes its state file on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp_live_reports_each_front_address_and_serves_it() {
    let plane = tokio::task::spawn_blocking(plugin_support::plane)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let namespace = plugin_support::unique_namespace("mp-live");
    let mut namespaces = plugin_support::Namespaces::new(plane);
    namespaces.adopt("active", &namespace);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp-live"))
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .args(["-n", &namespace, "--dns-name", DNS_NAME])
        .arg("--state-file")
        .arg(&state_path)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .args(["--cluster", "active=tsb-generic"])
        .env("PATH", plane.path_with(Path::new(".")))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mp-live runs");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.ends_with("\n}\n") {
        let read = tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut printed))
            .await
            .expect("state printed in time")
            .unwrap();
        assert!(read > 0, "mp-live exited early: {printed}");
    }
    let state: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        state,
        serde_json::from_str::<Value>(&std::fs::read_to_string(&state_path).unwrap()).unwrap()
    );
    let cluster = &state["clusters"]["active"];
    let front: IpAddr = cluster["front_address"].as_str().unwrap().parse().unwrap();
    assert_eq!(cluster["front_port"].as_u64(), Some(u64::from(FRONT_PORT)));

    let kubectl = |args: &[&str]| {
        plane
            .run(dir.path(), Path::new("."), "kubectl", args)
            .ok("kubectl")
            .stdout
    };
    mp_sandbox::live::LiveNamespace::connect(&plane.kubeconfig, "active", &namespace)
        .await
        .unwrap()
        .wait_available(Duration::from_secs(90))
        .await
        .unwrap();
    let service_ip = kubectl(&[
        "--context",
        "active",
        "-n",
        &namespace,
        "get",
        "service",
        "envoy",
        "-o",
        "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ]);
    assert_eq!(service_ip, front.to_string());
    let ca = kubectl(&[
        "--context",
        "active",
        "-n",
        &namespace,
        "get",
        "secret",
        "tsb-certs",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca.trim())
        .unwrap();
    let served = probe(
        &FrontAddress::Ip(front),
        FRONT_PORT,
        DNS_NAME,
        &ca,
        PROBE_TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(served.status, 200);

    let pid = child.id().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("mp-live stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!state_path.exists(), "the state file goes with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_nameless_certificates_are_named_as_such() {
    let world = World::start_with(&[
        ("active", SeedKind::TsbGeneric, CertVariant::ExpiredLeaf),
        ("standby", SeedKind::TsbGeneric, CertVariant::MissingSan),
    ])
    .await;
    for (name, finding) in [
        ("active", "outside its validity period"),
        ("standby", "not valid for tsb.example.com"),
    ] {
        let ca = secret_value(&world, name, "tsb-certs", "ca.crt");
        let error = probe_cluster(world.cluster(name), &ca).await.unwrap_err();
        assert_eq!(error.exit(), Exit::Failed, "{error}");
        assert!(error.to_string().contains(finding), "{name}: {error}");
    }
}
