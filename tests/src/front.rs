//! The MP's front door (Service `envoy`, port `https-ingress` 8443): a TLS
//! listener per cluster on the address the Service reports as its
//! LoadBalancer ingress, so a failover can check that the standby serves.
//!
//! It follows the cluster's objects the way the real envoy would: it listens
//! only while the `envoy` Deployment of the MP namespace has ready replicas
//! (otherwise connections are refused), and every handshake serves the
//! `tsb-certs` Secret as last read from the cluster ([`FrontState`];
//! [`crate::live`] reads a real cluster).

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// The port of the `envoy` Service's `https-ingress` (what the seeds declare).
pub const FRONT_PORT: u16 = 8443;
/// The Deployment whose readiness decides whether the front door serves.
pub const ENVOY_DEPLOYMENT: &str = "envoy";
/// The Secret whose `tls.crt`/`tls.key` the front door serves.
pub const FRONT_CERT_SECRET: &str = "tsb-certs";
/// How often the front door looks at the envoy Deployment.
const FOLLOW_PERIOD: Duration = Duration::from_millis(50);
/// Address blocks a process tries before giving up on a taken front port.
/// A block is taken when another user of front doors, in this process or another, has
/// claimed it (see [`claim_block`]) or something else listens there.
const BLOCK_ATTEMPTS: u32 = 16;
/// Front addresses are 127.HI.LO.N with HI in 1..=255: 127.0.0.0/24 is left
/// alone (127.0.0.1, systemd-resolved's 127.0.0.53, ...).
const BLOCKS: u32 = 255 * 256;
/// Front doors one reservation may have: N runs 1..=254 within a block.
pub const MAX_CLUSTERS: usize = 254;

/// The next address block of this process: starts at a random block, so
/// concurrently running processes rarely meet, and counts up, so
/// reservations within a process never share one.
fn next_block() -> u32 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(random_u32() % BLOCKS));
    next.fetch_add(1, Ordering::Relaxed) % BLOCKS
}

/// Four random bytes from the OS, or, without /dev/urandom, the clock's
/// nanoseconds and the pid: unique enough to spread processes over blocks.
fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes));
    if from_os.is_ok() {
        return u32::from_be_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    nanos ^ std::process::id().rotate_left(16)
}

/// The front address of cluster `index` in address block `block`.
fn front_address(block: u32, index: usize) -> Option<IpAddr> {
    if index >= MAX_CLUSTERS {
        return None;
    }
    let high = u8::try_from(1 + block / 256).ok()?;
    let low = u8::try_from(block % 256).ok()?;
    let host = u8::try_from(index + 1).ok()?;
    Some(IpAddr::V4(Ipv4Addr::new(127, high, low, host)))
}

/// A listening socket on one cluster's front address, and the claim on its
/// address block that keeps every other process off that block for as long as
/// the front door lives, including while it refuses connections.
#[derive(Debug)]
pub struct FrontListener {
    listener: TcpListener,
    claim: Arc<BlockClaim>,
}

impl FrontListener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An address block held by this process: a bound Unix socket in Linux's
/// abstract namespace, named after the block. Binding that name is exclusive
/// machine-wide and the kernel releases it when the socket closes (or the
/// process dies), so no lock file is ever left behind.
#[derive(Debug)]
struct BlockClaim {
    _socket: std::os::unix::net::UnixListener,
}

/// Claims `block` for this reservation; `None` when another holds it.
fn claim_block(block: u32) -> std::io::Result<Option<BlockClaim>> {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("kubectl-mp-sandbox-front-block-{block}");
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    match std::os::unix::net::UnixListener::bind_addr(&address) {
        Ok(socket) => Ok(Some(BlockClaim { _socket: socket })),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
        Err(error) => Err(error),
    }
}

/// Listening sockets reserved for `count` clusters' front doors on
/// (127.x.y.N, [`FRONT_PORT`]), one per cluster, all in one fresh address
/// block that this reservation claims. A block claimed by another, or
/// where another process holds the port on one of its addresses, makes it
/// try the next block; the Service is seeded afterwards with whatever
/// address won, so it never disagrees with the listener.
pub async fn reserve_front_listeners(count: usize) -> std::io::Result<Vec<FrontListener>> {
    if count > MAX_CLUSTERS {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "at most {MAX_CLUSTERS} clusters per reservation (one front address each), got {count}"
            ),
        ));
    }
    reserve_in_blocks(count, (0..BLOCK_ATTEMPTS).map(|_| next_block())).await
}

/// The first of `blocks` that no one else has claimed and where the
/// front port is free on all `count` addresses; the error names the last
/// address found taken.
async fn reserve_in_blocks(
    count: usize,
    blocks: impl Iterator<Item = u32>,
) -> std::io::Result<Vec<FrontListener>> {
    let mut attempts = 0;
    let mut last_taken = None;
    for block in blocks {
        attempts += 1;
        let Some(address) = front_address(block, 0) else {
            return Err(std::io::Error::other(format!(
                "no front address block {block}"
            )));
        };
        let Some(claim) = claim_block(block)? else {
            last_taken = Some(SocketAddr::new(address, FRONT_PORT));
            continue;
        };
        let claim = Arc::new(claim);
        let mut listeners = Vec::with_capacity(count);
        let mut taken = None;
        for index in 0..count {
            let Some(address) = front_address(block, index) else {
                return Err(std::io::Error::other(format!(
                    "no front address for cluster {index}"
                )));
            };
            match TcpListener::bind((address, FRONT_PORT)).await {
                Ok(listener) => listeners.push(FrontListener {
                    listener,
                    claim: Arc::clone(&claim),
                }),
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                    taken = Some(SocketAddr::new(address, FRONT_PORT));
                    break;
                }
                Err(error) => {
                    return Err(std::io::Error::new(
                        error.kind(),
                        format!(
                            "binding the MP front door on {address}:{FRONT_PORT}: {error} \
                             (front doors need the whole 127.0.0.0/8 on loopback, as Linux has)"
                        ),
                    ));
                }
            }
        }
        match taken {
            None => return Ok(listeners),
            Some(address) => last_taken = Some(address),
        }
    }
    let address = last_taken.map_or_else(String::new, |address| address.to_string());
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "the MP front door port {FRONT_PORT} is taken on {attempts} loopback address \
             blocks in a row (last {address}): stop whatever listens there (ss -ltnp)"
        ),
    ))
}

/// What the front door follows: the `envoy` Deployment's readiness and the
/// `tsb-certs` Secret of one cluster's MP namespace.
pub trait FrontState: Send + Sync + 'static {
    /// The cluster's name, in the body the front door answers.
    fn cluster_name(&self) -> &str;
    /// Whether the `envoy` Deployment reports a ready replica.
    fn envoy_ready(&self) -> bool;
    /// The `tsb-certs` Secret as the cluster holds it now (its JSON, data in base64).
    fn certificate_secret(&self) -> Option<Arc<Value>>;
}

/// Whether a Deployment object reports a ready replica.
pub fn deployment_ready(deployment: &Value) -> bool {
    deployment
        .pointer("/status/readyReplicas")
        .and_then(Value::as_i64)
        .is_some_and(|ready| ready > 0)
}

/// Serves the `tsb-certs` Secret's key pair as the cluster holds it at each
/// handshake (parsed again only when the Secret's resourceVersion changes).
/// A missing or unusable Secret fails the handshake, as envoy would.
struct SecretCertResolver<F> {
    source: Arc<F>,
    /// (uid/resourceVersion of the Secret, the key pair parsed from it)
    parsed: Mutex<Option<(String, Arc<CertifiedKey>)>>,
}

impl<F: FrontState> fmt::Debug for SecretCertResolver<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCertResolver")
            .field("cluster", &self.source.cluster_name())
            .finish()
    }
}

impl<F: FrontState> ResolvesServerCert for SecretCertResolver<F> {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let secret = self.source.certificate_secret()?;
        let version = format!(
            "{}/{}",
            secret["metadata"]["uid"].as_str().unwrap_or(""),
            secret["metadata"]["resourceVersion"].as_str().unwrap_or("")
        );
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((seen, key)) = parsed.as_ref()
            && *seen == version
        {
            return Some(Arc::clone(key));
        }
        let key = Arc::new(certified_key(&secret)?);
        *parsed = Some((version, Arc::clone(&key)));
        Some(key)
    }
}

/// The key pair of a `kubernetes.io/tls` Secret object (base64 `data`).
fn certified_key(secret: &Value) -> Option<CertifiedKey> {
    let field = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][name].as_str()?)
            .ok()
    };
    let chain = CertificateDer::pem_slice_iter(&field("tls.crt")?)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())?;
    let key = PrivateKeyDer::from_pem_slice(&field("tls.key")?).ok()?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).ok()
}

/// A cluster's front door: follows the envoy Deployment until dropped.
pub struct FrontDoor {
    address: SocketAddr,
    task: JoinHandle<()>,
    /// Released with the front door, never while it merely refuses.
    _claim: Arc<BlockClaim>,
}

impl FrontDoor {
    /// Starts following `source` with `listener` (from
    /// [`reserve_front_listeners`]): kept while envoy is ready, closed (and
    /// bound again on the same address) as envoy's readiness comes and goes.
    pub fn start<F: FrontState>(
        listener: FrontListener,
        source: Arc<F>,
    ) -> std::io::Result<FrontDoor> {
        let FrontListener { listener, claim } = listener;
        let address = listener.local_addr()?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SecretCertResolver {
            source: Arc::clone(&source),
            parsed: Mutex::new(None),
        }));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Decided now rather than at the first tick, so a cluster without
        // envoy refuses connections as soon as the front door has started.
        let reserved = source.envoy_ready().then_some(listener);
        let task = tokio::spawn(follow_envoy(
            address,
            reserved,
            TlsAcceptor::from(Arc::new(config)),
            source,
        ));
        Ok(FrontDoor {
            address,
            task,
            _claim: claim,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens while envoy is ready. Closing means dropping the listener (new
/// connections are refused) and every open connection, as a fenced MP's
/// load balancer has no endpoints left.
async fn follow_envoy<F: FrontState>(
    address: SocketAddr,
    mut reserved: Option<TcpListener>,
    acceptor: TlsAcceptor,
    source: Arc<F>,
) {
    // At most one accept loop; a JoinSet aborts it when this task is aborted.
    let mut serving = JoinSet::new();
    let body =
        Bytes::from(json!({"cluster": source.cluster_name(), "service": "tsb-front"}).to_string());
    let mut ticker = tokio::time::interval(FOLLOW_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ready = source.envoy_ready();
        if ready && serving.is_empty() {
            let listener = match reserved.take() {
                Some(listener) => listener,
                // Bound again on the address the Service reports; if someone
                // took it meanwhile, keep trying (clients see the front door
                // down, which is what it is).
                None => match TcpListener::bind(address).await {
                    Ok(listener) => listener,
                    Err(_) => continue,
                },
            };
            serving.spawn(serve(listener, acceptor.clone(), body.clone()));
        } else if !ready {
            // Not ready any more before serving: release the reservation
            // too, so connections are refused rather than left hanging.
            reserved = None;
            // Only once the listener is really closed is the front door down.
            serving.shutdown().await;
        }
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, body: Bytes) {
    // Owning the connections here means aborting this task drops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true); // no ~40 ms Nagle stalls on small answers
                    connections.spawn(serve_connection(tcp, acceptor.clone(), body.clone()));
                }
                // Out of file descriptors and the like: back off, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, body: Bytes) {
    // A failed handshake (no certificate, client gave up) just ends the connection.
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let service = service_fn(move |_request: Request<Incoming>| {
        let body = body.clone();
        async move {
            let response = Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Full::new(body));
            Ok::<_, Infallible>(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertAuthority;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// A cluster as the front door sees it, changed by the tests.
    #[derive(Default)]
    struct Objects {
        envoy_ready: AtomicBool,
        secret: Mutex<Option<Arc<Value>>>,
        resource_version: AtomicU64,
    }

    impl FrontState for Objects {
        fn cluster_name(&self) -> &str {
            "east"
        }
        fn envoy_ready(&self) -> bool {
            self.envoy_ready.load(Ordering::SeqCst)
        }
        fn certificate_secret(&self) -> Option<Arc<Value>> {
            self.secret.lock().unwrap().clone()
        }
    }

    impl Objects {
        /// Stores `secret` as the API server would: a new resourceVersion.
        fn put_secret(&self, mut secret: Value) {
            let version = self.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
            secret["metadata"]["uid"] = json!("front-test-uid");
            secret["metadata"]["resourceVersion"] = json!(version.to_string());
            *self.secret.lock().unwrap() = Some(Arc::new(secret));
        }
    }

    fn source() -> Arc<Objects> {
        Arc::new(Objects::default())
    }

    fn put_envoy(source: &Objects, ready: Option<i64>) {
        let deployment = json!({"status": {"readyReplicas": ready}});
        source
            .envoy_ready
            .store(deployment_ready(&deployment), Ordering::SeqCst);
    }

    fn put_certs(source: &Objects, authority: &CertAuthority) -> String {
        let leaf = authority.issue_server(
            "front",
            &["tsb.example.com"],
            &[],
            Duration::from_secs(3600),
        );
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        source.put_secret(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "tsb-certs", "namespace": "tsb"},
            "data": {"tls.crt": encode(&leaf.cert_pem), "tls.key": encode(&leaf.key_pem)},
        }));
        leaf.cert_pem
    }

    fn leaf_der(cert_pem: &str) -> Vec<u8> {
        CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn front_addresses_are_loopback_distinct_and_outside_127_0_0() {
        let first = front_address(0, 0).unwrap();
        assert_eq!(first, IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        let last = front_address(BLOCKS - 1, MAX_CLUSTERS - 1).unwrap();
        assert_eq!(last, IpAddr::V4(Ipv4Addr::new(127, 255, 255, 254)));
        assert!(front_address(0, MAX_CLUSTERS).is_none());
        let mut seen = std::collections::BTreeSet::new();
        for block in [0, 1, 255, 256, BLOCKS - 1] {
            for index in 0..3 {
                let address = front_address(block, index).unwrap();
                assert!(address.is_loopback());
                assert!(seen.insert(address), "{address} twice");
            }
        }
    }

    #[test]
    fn blocks_differ_between_calls() {
        let blocks: std::collections::BTreeSet<u32> = (0..50).map(|_| next_block()).collect();
        assert_eq!(blocks.len(), 50);
        assert!(blocks.iter().all(|block| *block < BLOCKS));
    }

    #[tokio::test]
    async fn reserved_listeners_are_on_port_8443_of_distinct_addresses() {
        let first = reserve_front_listeners(2).await.unwrap();
        let second = reserve_front_listeners(1).await.unwrap();
        let addresses: Vec<SocketAddr> = first
            .iter()
            .chain(&second)
            .map(|listener| listener.local_addr().unwrap())
            .collect();
        assert!(addresses.iter().all(|address| address.port() == FRONT_PORT));
        assert_ne!(addresses[0], addresses[1]);
        assert_ne!(addresses[0].ip(), addresses[2].ip());
        assert!(
            reserve_front_listeners(MAX_CLUSTERS + 1)
                .await
                .unwrap_err()
                .to_string()
                .contains("at most 254 clusters")
        );
    }

    /// The block of a front address 127.HI.LO.N.
    fn block_of(address: SocketAddr) -> u32 {
        let IpAddr::V4(ip) = address.ip() else {
            panic!("IPv4 front addresses")
        };
        let [_, high, low, _] = ip.octets();
        (u32::from(high) - 1) * 256 + u32::from(low)
    }

    #[tokio::test]
    async fn a_claimed_block_or_a_taken_port_moves_to_the_next_block_or_fails_naming_it() {
        // Another process's block: skipped by its claim.
        let held = reserve_front_listeners(2).await.unwrap();
        let taken = held[0].local_addr().unwrap();
        let taken_block = block_of(taken);
        let free_block = next_block();
        let moved = reserve_in_blocks(2, [taken_block, free_block].into_iter())
            .await
            .unwrap();
        let moved_to = moved[0].local_addr().unwrap();
        assert_eq!(moved_to.ip(), front_address(free_block, 0).unwrap());
        assert_eq!(moved_to.port(), FRONT_PORT, "never another port");

        let error = reserve_in_blocks(2, [taken_block, taken_block].into_iter())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "port 8443 is taken on 2 loopback address blocks in a row (last {taken})"
            )),
            "{message}"
        );

        // Something that is no front door listening on the second address of
        // an unclaimed block: skipped by the port.
        let foreign_block = next_block();
        let foreign = SocketAddr::new(front_address(foreign_block, 1).unwrap(), FRONT_PORT);
        let _foreign = TcpListener::bind(foreign).await.unwrap();
        let elsewhere = next_block();
        let moved = reserve_in_blocks(2, [foreign_block, elsewhere].into_iter())
            .await
            .unwrap();
        assert_eq!(block_of(moved[1].local_addr().unwrap()), elsewhere);
        let error = reserve_in_blocks(2, [foreign_block].into_iter())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains(&format!("(last {foreign})")),
            "{error}"
        );
    }

    /// A fenced MP's front door refuses connections, and its address must
    /// stay its own meanwhile: another process that took it would answer for
    /// the fenced cluster (and a test expecting a refusal would be served).
    #[tokio::test]
    async fn a_refusing_front_door_keeps_its_block_until_dropped() {
        let source = source();
        let listener = reserve_front_listeners(1).await.unwrap().remove(0);
        let front = FrontDoor::start(listener, source).unwrap();
        let address = front.address();
        eventually_refused(address).await;

        let other = next_block();
        let reserved = reserve_in_blocks(1, [block_of(address), other].into_iter())
            .await
            .unwrap();
        assert_eq!(block_of(reserved[0].local_addr().unwrap()), other);
        drop(reserved);

        drop(front);
        let again = reserve_in_blocks(1, [block_of(address)].into_iter())
            .await
            .unwrap();
        assert_eq!(again[0].local_addr().unwrap(), address);
    }

    #[test]
    fn envoy_is_ready_only_with_ready_replicas() {
        let source = source();
        assert!(!source.envoy_ready(), "no deployment");
        put_envoy(&source, None);
        assert!(!source.envoy_ready(), "no ready replicas");
        put_envoy(&source, Some(1));
        assert!(source.envoy_ready());
        put_envoy(&source, Some(0));
        assert!(!source.envoy_ready());
    }

    /// Handshakes with `address` trusting `authority`; returns the served
    /// leaf and the body of `GET /`.
    async fn fetch(
        address: SocketAddr,
        authority: &CertAuthority,
    ) -> std::io::Result<(Vec<u8>, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(authority.cert_pem().as_bytes()) {
            roots.add(ca.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(address).await?;
        let name = rustls::pki_types::ServerName::try_from("tsb.example.com").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: tsb.example.com\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        tls.read_to_string(&mut response).await?;
        Ok((leaf, response))
    }

    async fn eventually_refused(address: SocketAddr) {
        for _ in 0..100 {
            // A reset can come while the listener closes; refused is the end state.
            if let Err(error) = tokio::net::TcpStream::connect(address).await
                && error.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{address} still accepts connections");
    }

    async fn eventually_serving(
        address: SocketAddr,
        authority: &CertAuthority,
    ) -> (Vec<u8>, String) {
        for _ in 0..100 {
            if let Ok(served) = fetch(address, authority).await {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{address} does not serve");
    }

    #[tokio::test]
    async fn serves_the_stored_secret_only_while_envoy_is_ready() {
        let source = source();
        let authority = CertAuthority::new_root("front test root");
        let first = put_certs(&source, &authority);
        let listener = reserve_front_listeners(1).await.unwrap().remove(0);
        let front = FrontDoor::start(listener, Arc::clone(&source)).unwrap();
        let address = front.address();
        // No envoy Deployment: refused from the start.
        assert_eq!(
            tokio::net::TcpStream::connect(address)
                .await
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::ConnectionRefused
        );

        put_envoy(&source, Some(2));
        let (leaf, response) = eventually_serving(address, &authority).await;
        assert_eq!(leaf, leaf_der(&first));
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(r#"{"cluster":"east","service":"tsb-front"}"#),
            "{response}"
        );

        // A rotated Secret is served at the next handshake.
        let second = put_certs(&source, &authority);
        let (leaf, _) = fetch(address, &authority).await.unwrap();
        assert_eq!(leaf, leaf_der(&second));

        // An unusable Secret fails the handshake instead of serving a stale one.
        let mut broken = (*source.certificate_secret().unwrap()).clone();
        broken["data"]["tls.key"] = json!("bm90IGEga2V5");
        source.put_secret(broken);
        assert!(fetch(address, &authority).await.is_err());
        put_certs(&source, &authority);

        put_envoy(&source, Some(0));
        eventually_refused(address).await;
        put_envoy(&source, Some(1));
        eventually_serving(address, &authority).await;
        drop(front);
        eventually_refused(address).await;
    }
}
