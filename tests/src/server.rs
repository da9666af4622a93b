//! The HTTPS API servers and the public handle tests and the binary use.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::controller::{self, OperatorConfig};
use crate::faults::{FaultAction, FaultRule, Faults};
use crate::front::{self, FrontDoor, FrontSource};
use crate::kubeconfig::{self, KubeconfigCluster};
use crate::pki::CertAuthority;
use crate::registry::{Registry, ResourceType};
use crate::seed::{self, CertVariant, SeedContext, SeedKind};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{
    self, EventType, ObjectKey, ResourceId, Store, StoreError, Subscription, WatchEvent,
    WriteOptions, name_of, namespace_of, now_timestamp,
};
use crate::table::{self, IncludeObject};
use crate::{apply, patch, protobuf};

/// The Kubernetes version the sandbox claims to be.
pub const GIT_VERSION: &str = "v1.33.4";
/// How often the controllers look at the Deployments.
const CONTROLLER_PERIOD: Duration = Duration::from_millis(50);
/// How often a quiet watch that asked for bookmarks gets one.
const BOOKMARK_PERIOD: Duration = Duration::from_secs(10);
/// How long a watch without `timeoutSeconds` lasts.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    pub seed: SeedKind,
    pub certs: CertVariant,
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub clusters: Vec<ClusterOptions>,
    /// Where the kubeconfig is written.
    pub kubeconfig_path: PathBuf,
    /// The MP namespace the seeds use.
    pub namespace: String,
    /// How long a Deployment takes to report ready replicas.
    pub ready_delay: Duration,
    /// The MP's floating DNS name, in the seeded certificates' SANs.
    pub floating_dns_name: String,
}

/// Running sandbox: the servers stop when it is dropped.
pub struct Sandbox {
    clusters: Vec<ClusterHandle>,
    kubeconfig_path: PathBuf,
    admin: Mutex<Option<JoinHandle<()>>>,
}

impl Sandbox {
    /// Starts every cluster, seeds it and writes the kubeconfig. The servers
    /// are tasks on the caller's tokio runtime: a test that blocks its thread
    /// (e.g. `std::process::Command::output`) needs a multi-thread runtime or
    /// `tokio::task::block_in_place`.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        for (index, cluster) in options.clusters.iter().enumerate() {
            if options.clusters[..index]
                .iter()
                .any(|earlier| earlier.name == cluster.name)
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("cluster name {:?} is given twice", cluster.name),
                ));
            }
        }
        // Several sandboxes in one process race to install it; any winner is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared_root = CertAuthority::new_root("mp-sandbox shared root CA");
        let serving_ca = CertAuthority::new_root("mp-sandbox API CA");
        let mut clusters = Vec::with_capacity(options.clusters.len());
        let mut client_certs = Vec::with_capacity(options.clusters.len());
        let front_listeners = front::reserve_front_listeners(options.clusters.len()).await?;
        for (cluster_options, front_listener) in options.clusters.iter().zip(front_listeners) {
            let front_address = front_listener.local_addr()?.ip();
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let address = listener.local_addr()?;
            let serving = serving_ca.issue_server(
                "mp-sandbox",
                &["localhost"],
                &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
                Duration::from_secs(365 * 24 * 3600),
            );
            let tls = Arc::new(tls_config(
                &serving.cert_pem,
                &serving.key_pem,
                serving_ca.cert_pem(),
            )?);
            let cluster = Arc::new(Cluster {
                name: cluster_options.name.clone(),
                store: Store::new(),
                registry: Registry::new(),
                faults: Faults::default(),
                token: store::random_bytes::<24>()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect(),
                server_address: address.to_string(),
                ready_delay: options.ready_delay,
            });
            let context = SeedContext {
                cluster_name: &cluster_options.name,
                namespace: &options.namespace,
                kind: cluster_options.seed,
                certs: cluster_options.certs,
                shared_root: &shared_root,
                floating_dns_name: &options.floating_dns_name,
                front_address,
            };
            for object in seed::seed_objects(&context) {
                cluster.seed(object).map_err(|error| {
                    std::io::Error::other(format!(
                        "seeding cluster {}: {}",
                        cluster.name, error.message
                    ))
                })?;
            }
            client_certs.push(serving_ca.issue_client(
                &format!("{}-admin", cluster_options.name),
                &["system:masters"],
            ));
            let listener_task =
                tokio::spawn(serve_api(listener, Arc::clone(&tls), Arc::clone(&cluster)));
            let controller_task = tokio::spawn(run_controllers(Arc::clone(&cluster)));
            let front = FrontDoor::start(
                front_listener,
                Arc::new(FrontSource {
                    cluster: Arc::clone(&cluster),
                    cluster_name: cluster_options.name.clone(),
                    namespace: options.namespace.clone(),
                }),
            )?;
            clusters.push(ClusterHandle {
                front,
                url: format!("https://{address}"),
                address,
                tls,
                cluster,
                listener_task: Arc::new(Mutex::new(Some(listener_task))),
                controller_task,
            });
        }
        let entries: Vec<KubeconfigCluster> = clusters
            .iter()
            .zip(&client_certs)
            .map(|(handle, client)| KubeconfigCluster {
                name: &handle.cluster.name,
                server: &handle.url,
                ca_pem: serving_ca.cert_pem(),
                client_cert_pem: &client.cert_pem,
                client_key_pem: &client.key_pem,
                token: &handle.cluster.token,
                namespace: &options.namespace,
            })
            .collect();
        kubeconfig::write_kubeconfig(&options.kubeconfig_path, &entries)?;
        Ok(Sandbox {
            clusters,
            kubeconfig_path: options.kubeconfig_path,
            admin: Mutex::new(None),
        })
    }
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig_path
    }
    /// Panics on an unknown name (a test bug).
    pub fn cluster(&self, name: &str) -> &ClusterHandle {
        self.clusters
            .iter()
            .find(|handle| handle.cluster.name == name)
            .unwrap_or_else(|| panic!("no sandbox cluster named {name}"))
    }
    pub fn clusters(&self) -> &[ClusterHandle] {
        &self.clusters
    }

    /// Starts the admin API (tests/README.md) on 127.0.0.1 and returns its
    /// URL; it stops with the sandbox.
    pub async fn serve_admin(&self) -> std::io::Result<String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let knobs: Vec<AdminCluster> = self
            .clusters
            .iter()
            .map(|handle| AdminCluster {
                cluster: Arc::clone(&handle.cluster),
                address: handle.address,
                tls: Arc::clone(&handle.tls),
                listener_task: Arc::clone(&handle.listener_task),
            })
            .collect();
        let task = tokio::spawn(serve_admin(listener, Arc::new(knobs)));
        if let Some(previous) = self.lock_admin().replace(task) {
            previous.abort();
        }
        Ok(url)
    }

    fn lock_admin(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.admin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.lock_admin().take() {
            task.abort();
        }
    }
}

/// One running cluster: its URL, its objects and its knobs.
pub struct ClusterHandle {
    cluster: Arc<Cluster>,
    /// Stops with the handle (its Drop aborts the task).
    front: FrontDoor,
    url: String,
    address: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    listener_task: Arc<ListenerSlot>,
    controller_task: JoinHandle<()>,
}

/// The accept loop of a cluster, replaced while it is down. Shared with the
/// admin API so both can take a cluster down.
type ListenerSlot = Mutex<Option<JoinHandle<()>>>;

impl ClusterHandle {
    pub fn name(&self) -> &str {
        &self.cluster.name
    }
    /// `https://127.0.0.1:PORT`
    pub fn server_url(&self) -> &str {
        &self.url
    }
    /// The MP front door's address: what the `envoy` Service reports as its
    /// LoadBalancer ingress, where TLS is served on [`front::FRONT_PORT`]
    /// while the `envoy` Deployment has ready replicas.
    pub fn front_address(&self) -> IpAddr {
        self.front.address().ip()
    }
    /// The bearer token of the `NAME-token` context.
    pub fn token(&self) -> &str {
        &self.cluster.token
    }
    /// The stored object, for assertions. `group` is "" for the core group.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.cluster
            .store
            .get(
                &ResourceId::new(group, plural),
                namespace.unwrap_or(""),
                name,
            )
            .map(|object| (*object).clone())
    }
    /// Request counts by "VERB PATH".
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.cluster.faults.counters()
    }
    pub fn reset_counters(&self) {
        self.cluster.faults.reset_counters()
    }
    pub fn set_latency(&self, latency: Duration) {
        self.cluster.faults.set_latency(latency)
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.cluster.faults.add_rule(rule)
    }
    /// Clears the fault rules and the latency.
    pub fn clear_faults(&self) {
        self.cluster.faults.clear()
    }
    /// Closes (true) or reopens (false) the listener, keeping the port.
    pub async fn set_down(&self, down: bool) -> std::io::Result<()> {
        set_down(
            &self.listener_task,
            down,
            self.address,
            &self.tls,
            &self.cluster,
        )
        .await
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.controller_task.abort();
        if let Some(task) = lock_slot(&self.listener_task).take() {
            task.abort();
        }
    }
}

fn lock_slot(slot: &ListenerSlot) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn set_down(
    slot: &ListenerSlot,
    down: bool,
    address: SocketAddr,
    tls: &Arc<rustls::ServerConfig>,
    cluster: &Arc<Cluster>,
) -> std::io::Result<()> {
    if down {
        let running = lock_slot(slot).take();
        if let Some(task) = running {
            task.abort();
            // Wait until the listener and its connections are really closed.
            let _ = task.await;
        }
        return Ok(());
    }
    if lock_slot(slot).is_some() {
        return Ok(());
    }
    let listener = TcpListener::bind(address).await?;
    let task = tokio::spawn(serve_api(listener, Arc::clone(tls), Arc::clone(cluster)));
    if let Some(raced) = lock_slot(slot).replace(task) {
        raced.abort();
    }
    Ok(())
}

fn tls_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
) -> std::io::Result<rustls::ServerConfig> {
    let invalid = |what: &str, error: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {error}"))
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid("serving certificate", &error))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|error| invalid("serving key", &error))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        let ca = ca.map_err(|error| invalid("client CA", &error))?;
        roots
            .add(ca)
            .map_err(|error| invalid("client CA", &error))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Client certificates are optional (bearer tokens also work) but, when
    // sent, must chain to the sandbox CA.
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|error| invalid("client verifier", &error))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid("TLS versions", &error))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|error| invalid("serving certificate", &error))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl AsRef<Store> for Cluster {
    fn as_ref(&self) -> &Store {
        &self.store
    }
}

/// A cluster's state, shared by its connections, its controllers and its handle.
struct Cluster {
    name: String,
    store: Store,
    registry: Registry,
    faults: Faults,
    token: String,
    server_address: String,
    ready_delay: Duration,
}

async fn serve_api(listener: TcpListener, tls: Arc<rustls::ServerConfig>, cluster: Arc<Cluster>) {
    let acceptor = TlsAcceptor::from(tls);
    // Owning the connections here means aborting this task drops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(serve_connection(tcp, acceptor.clone(), Arc::clone(&cluster)));
                }
                // Out of file descriptors and the like: back off, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    cluster: Arc<Cluster>,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let client_user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| common_name(leaf));
    let service = service_fn(move |request| {
        let cluster = Arc::clone(&cluster);
        let client_user = client_user.clone();
        async move { Ok::<_, Infallible>(handle(&cluster, client_user, request).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
}

/// Reads one DER element: (tag, content, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte))
    };
    let (content, rest) = rest.split_at_checked(length)?;
    Some((tag, content, rest))
}

/// The subject CN of an X.509 certificate: the user, as the API server sees it.
fn common_name(certificate: &[u8]) -> Option<String> {
    const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];
    let (_, certificate, _) = der_element(certificate)?;
    let (_, tbs, _) = der_element(certificate)?;
    let (tag, _, mut rest) = der_element(tbs)?;
    // [0] version is optional; after it: serial, signature, issuer, validity, subject.
    let skip = if tag == 0xa0 { 4 } else { 3 };
    for _ in 0..skip {
        rest = der_element(rest)?.2;
    }
    let (_, mut subject, _) = der_element(rest)?;
    while !subject.is_empty() {
        let (_, set, after) = der_element(subject)?;
        subject = after;
        let (_, attribute, _) = der_element(set)?;
        let (_, oid, value) = der_element(attribute)?;
        if oid == COMMON_NAME_OID {
            let (_, text, _) = der_element(value)?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Errors

/// A request failure, answered as a `metav1.Status`.
#[derive(Debug, Clone)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason_for(code),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, message)
    }

    fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        )
    }

    fn path_not_found() -> Self {
        ApiError::new(404, "the server could not find the requested resource")
            .with_details(json!({}))
    }

    fn not_found(resource: &ResourceType, name: &str) -> Self {
        ApiError::new(
            404,
            format!("{} \"{name}\" not found", resource.qualified_name()),
        )
        .with_details(object_details(&resource.group, &resource.plural, name))
    }

    fn namespace_not_found(namespace: &str) -> Self {
        ApiError::new(404, format!("namespaces \"{namespace}\" not found"))
            .with_details(object_details("", "namespaces", namespace))
    }

    fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let mut error = ApiError::new(
            409,
            format!("{} \"{name}\" already exists", resource.qualified_name()),
        )
        .with_details(object_details(&resource.group, &resource.plural, name));
        error.reason = "AlreadyExists";
        error
    }

    fn conflict(resource: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                resource.qualified_name()
            ),
        )
        .with_details(object_details(&resource.group, &resource.plural, name))
    }

    fn invalid(
        resource: &ResourceType,
        name: &str,
        field: &str,
        cause: &str,
        detail: &str,
    ) -> Self {
        let mut details = object_details(&resource.group, &resource.kind, name);
        details["causes"] = json!([{"reason": cause, "message": detail, "field": field}]);
        ApiError::new(
            422,
            format!("{} \"{name}\" is invalid: {field}: {detail}", resource.kind),
        )
        .with_details(details)
    }

    fn from_store(error: StoreError, resource: &ResourceType, name: &str) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found(resource, name),
            StoreError::AlreadyExists => ApiError::already_exists(resource, name),
            StoreError::Conflict => ApiError::conflict(resource, name),
            StoreError::Expired { requested, oldest } => ApiError::new(
                410,
                format!("too old resource version: {requested} ({oldest})"),
            ),
        }
    }

    fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    fn response(&self) -> Response<Body> {
        json_response(self.code, &self.status())
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

fn object_details(group: &str, kind: &str, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": kind});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

// ---------------------------------------------------------------------------
// Responses

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes_response(code, "application/json", Bytes::from(bytes))
}

fn bytes_response(code: u16, content_type: &str, bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(bytes).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// A list response, written item by item so a large list is not cloned.
fn list_response(
    resource: &ResourceType,
    items: &[Arc<Value>],
    resource_version: u64,
    continue_token: Option<String>,
    remaining: usize,
) -> Response<Body> {
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining);
    }
    let mut out = Vec::with_capacity(256 + items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    push_json(&mut out, &json!(resource.list_kind));
    out.extend_from_slice(b",\"apiVersion\":");
    push_json(&mut out, &json!(resource.api_version()));
    out.extend_from_slice(b",\"metadata\":");
    push_json(&mut out, &metadata);
    out.extend_from_slice(b",\"items\":[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_json(&mut out, item);
    }
    out.extend_from_slice(b"]}");
    bytes_response(200, "application/json", Bytes::from(out))
}

fn push_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

// ---------------------------------------------------------------------------
// Requests

/// The parts of a request the handlers need.
struct ApiRequest {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    user_agent: String,
    user: String,
    body: Bytes,
}

impl ApiRequest {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("1" | "true" | "True"))
    }

    fn dry_run(&self) -> bool {
        self.param("dryRun").is_some_and(|value| value == "All")
    }

    /// The manager a write is recorded under: `fieldManager`, else the first
    /// part of the user agent (as the real server does).
    fn field_manager(&self) -> String {
        match self.param("fieldManager") {
            Some(manager) if !manager.is_empty() => manager.to_string(),
            _ => self
                .user_agent
                .split('/')
                .next()
                .filter(|first| !first.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        }
    }
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> String {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn handle(
    cluster: &Cluster,
    client_user: Option<String>,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let public = matches!(
        path.as_str(),
        "/healthz" | "/livez" | "/readyz" | "/version"
    );
    let bearer = header(&request, AUTHORIZATION);
    let user = match (client_user, bearer.strip_prefix("Bearer ")) {
        (Some(user), _) => user,
        (None, Some(token)) if token.trim() == cluster.token => format!("{}-token", cluster.name),
        _ if public => "system:anonymous".to_string(),
        _ => return ApiError::new(401, "Unauthorized").response(),
    };
    let query = parse_query(request.uri().query().unwrap_or(""));
    let method = request.method().clone();
    let accept = header(&request, ACCEPT);
    let content_type = header(&request, CONTENT_TYPE);
    let user_agent = header(&request, USER_AGENT);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return ApiError::bad_request(format!("reading the body: {error}")).response();
        }
    };
    let request = ApiRequest {
        method,
        path,
        query,
        accept,
        content_type,
        user_agent,
        user,
        body,
    };
    match route(cluster, &request).await {
        Ok(response) => response,
        Err(error) => error.response(),
    }
}

/// What a resource URL names.
struct Target {
    resource: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

fn verb_of(request: &ApiRequest, target: &Target) -> &'static str {
    crate::faults::kubernetes_verb(
        &request.method,
        target.name.is_some(),
        request.flag("watch"),
    )
}

fn parse_target(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let registry = &cluster.registry;
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(resource) = registry.find(group, version, plural)
        && resource.namespaced
    {
        if tail.len() > 2 {
            return Err(ApiError::path_not_found());
        }
        return Ok(Target {
            resource,
            namespace: Some(namespace.to_string()),
            name: tail.first().map(|name| name.to_string()),
            subresource: tail.get(1).map(|sub| sub.to_string()),
        });
    }
    let [plural, tail @ ..] = rest else {
        return Err(ApiError::path_not_found());
    };
    let resource = registry
        .find(group, version, plural)
        .ok_or_else(ApiError::path_not_found)?;
    if tail.len() > 2 {
        return Err(ApiError::path_not_found());
    }
    Ok(Target {
        resource,
        namespace: None,
        name: tail.first().map(|name| name.to_string()),
        subresource: tail.get(1).map(|sub| sub.to_string()),
    })
}

async fn route(cluster: &Cluster, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = request
        .path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => {
            apply_knobs(cluster, request, "get", None).await?;
            return non_resource(cluster, request, &segments);
        }
    };
    if rest.is_empty() {
        apply_knobs(cluster, request, "get", None).await?;
        return cluster
            .registry
            .resource_list(group, version)
            .map(|list| json_response(200, &list))
            .ok_or_else(ApiError::path_not_found);
    }
    let target = parse_target(cluster, group, version, rest)?;
    let verb = verb_of(request, &target);
    apply_knobs(cluster, request, verb, Some(&target)).await?;
    if target.resource.review {
        return match (verb, &target.name) {
            ("create", None) => review(request, &target.resource),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    if let Some(namespace) = &target.namespace
        && namespace.is_empty()
    {
        return Err(ApiError::path_not_found());
    }
    if target.subresource.as_deref() == Some("status") && !target.resource.status_subresource {
        return Err(ApiError::path_not_found());
    }
    // Across namespaces a namespaced resource can only be listed or watched.
    if target.resource.namespaced && target.namespace.is_none() && !matches!(verb, "list" | "watch")
    {
        return Err(match target.name {
            Some(_) => ApiError::path_not_found(),
            None => ApiError::method_not_allowed(),
        });
    }
    match (verb, target.subresource.as_deref()) {
        ("get", None | Some("status")) => get(cluster, request, &target),
        ("get", Some("scale")) => get_scale(cluster, &target),
        ("list", None) => list(cluster, request, &target),
        ("watch", None) => watch(cluster, request, &target),
        ("create", None) => create(cluster, request, &target),
        ("update", None | Some("status")) => update(cluster, request, &target),
        ("update", Some("scale")) => update_scale(cluster, request, &target, ScaleWrite::Replace),
        ("patch", None | Some("status")) => patch(cluster, request, &target),
        ("patch", Some("scale")) => update_scale(cluster, request, &target, ScaleWrite::Patch),
        ("delete", None) => delete(cluster, request, &target),
        ("deletecollection", None) => delete_collection(cluster, request, &target),
        (_, Some(_)) => Err(ApiError::path_not_found()),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Latency, counters and fault rules, in that order.
async fn apply_knobs(
    cluster: &Cluster,
    request: &ApiRequest,
    verb: &str,
    target: Option<&Target>,
) -> Result<(), ApiError> {
    let latency = cluster.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match cluster.faults.on_request(verb, &request.path) {
        None => Ok(()),
        Some(FaultAction::Timeout) => std::future::pending().await,
        Some(FaultAction::Status(403)) => Err(forbidden(request, verb, target)),
        Some(FaultAction::Status(code)) => Err(ApiError::new(
            code,
            format!("injected fault: {verb} {} answered {code}", request.path),
        )),
    }
}

/// The message RBAC gives when it denies a request.
fn forbidden(request: &ApiRequest, verb: &str, target: Option<&Target>) -> ApiError {
    let user = &request.user;
    let Some(target) = target else {
        return ApiError::new(
            403,
            format!(
                "forbidden: User \"{user}\" cannot {verb} path \"{}\"",
                request.path
            ),
        );
    };
    let resource = &target.resource;
    let subject = match &target.name {
        Some(name) => format!("{} \"{name}\"", resource.qualified_name()),
        None => resource.qualified_name(),
    };
    let plural = match &target.subresource {
        Some(sub) => format!("{}/{sub}", resource.plural),
        None => resource.plural.clone(),
    };
    let scope = match &target.namespace {
        Some(namespace) => format!(" in the namespace \"{namespace}\""),
        None if resource.namespaced => String::new(),
        None => " at the cluster scope".to_string(),
    };
    ApiError::new(
        403,
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{plural}\" in API group \"{}\"{scope}",
            resource.group
        ),
    )
    .with_details(object_details(
        &resource.group,
        &resource.plural,
        target.name.as_deref().unwrap_or(""),
    ))
}

fn non_resource(
    cluster: &Cluster,
    request: &ApiRequest,
    segments: &[&str],
) -> Result<Response<Body>, ApiError> {
    if request.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    match segments {
        ["version"] => Ok(json_response(200, &version_document())),
        ["healthz" | "livez" | "readyz", ..] => {
            Ok(bytes_response(200, "text/plain", Bytes::from_static(b"ok")))
        }
        ["api"] => Ok(json_response(
            200,
            &cluster.registry.core_versions(&cluster.server_address),
        )),
        ["apis"] => Ok(json_response(200, &cluster.registry.group_list())),
        ["apis", group] => cluster
            .registry
            .group(group)
            .map(|found| json_response(200, &found))
            .ok_or_else(ApiError::path_not_found),
        ["openapi", "v2"] => Ok(openapi_v2(&request.accept)),
        ["openapi", "v3"] => Ok(json_response(200, &cluster.registry.openapi_index())),
        ["openapi", "v3", rest @ ..] => cluster
            .registry
            .openapi_document(&rest.join("/"))
            .map(|document| json_response(200, &document))
            .ok_or_else(ApiError::path_not_found),
        _ => Err(ApiError::path_not_found()),
    }
}

/// An OpenAPI v2 document without definitions. kubectl validates on the
/// client side (e.g. a `kind: List` file) with the v2 document and skips
/// kinds it has no schema for; without any v2 document it refuses. It asks
/// for protobuf, where an empty message is a valid empty document.
fn openapi_v2(accept: &str) -> Response<Body> {
    if accept.contains("application/com.github.proto-openapi.spec.v2") {
        // Clients parse the answer's media type, which may not contain '@'.
        return bytes_response(
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Bytes::new(),
        );
    }
    json_response(
        200,
        &json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": {},
            "definitions": {},
        }),
    )
}

fn version_document() -> Value {
    let minor = GIT_VERSION.split('.').nth(1).unwrap_or("33");
    json!({
        "major": "1",
        "minor": minor,
        "emulationMajor": "1",
        "emulationMinor": minor,
        "gitVersion": GIT_VERSION,
        "gitCommit": "mp-sandbox",
        "gitTreeState": "clean",
        "buildDate": "2025-08-01T00:00:00Z",
        "goVersion": "go1.24.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

// ---------------------------------------------------------------------------
// Reads

fn require_name(target: &Target) -> Result<&str, ApiError> {
    target
        .name
        .as_deref()
        .ok_or_else(ApiError::method_not_allowed)
}

fn stored(cluster: &Cluster, target: &Target) -> Result<Arc<Value>, ApiError> {
    let name = require_name(target)?;
    cluster
        .store
        .get(&target.resource.id(), target.namespace(), name)
        .ok_or_else(|| ApiError::not_found(&target.resource, name))
}

/// The object as served at the requested version.
fn served(resource: &ResourceType, object: &Value) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(resource.api_version());
    object["kind"] = json!(resource.kind);
    object
}

fn get(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let object = served(&target.resource, &*stored(cluster, target)?);
    if wants_table(&request.accept) {
        let resource_version = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let include = IncludeObject::parse(request.param("includeObject"));
        return Ok(json_response(
            200,
            &table::table(&target.resource.kind, &[object], include, &resource_version),
        ));
    }
    Ok(json_response(200, &object))
}

/// The label and field selectors of a list or watch.
struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selection {
    fn from_request(request: &ApiRequest) -> Result<Self, ApiError> {
        let labels = match request
            .param("labelSelector")
            .filter(|text| !text.is_empty())
        {
            Some(text) => Some(LabelSelector::parse(text).map_err(|error| {
                ApiError::bad_request(format!("unable to parse requirement: {error}"))
            })?),
            None => None,
        };
        let fields = match request
            .param("fieldSelector")
            .filter(|text| !text.is_empty())
        {
            Some(text) => Some(FieldSelector::parse(text).map_err(ApiError::bad_request)?),
            None => None,
        };
        Ok(Selection { labels, fields })
    }

    fn matches(&self, object: &Value) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|labels| labels.matches(object))
            && self
                .fields
                .as_ref()
                .is_none_or(|fields| fields.matches(object))
    }
}

fn encode_continue(key: &ObjectKey) -> String {
    let token = json!({"namespace": key.0, "name": key.1});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<ObjectKey, ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid continue token: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    match (value["namespace"].as_str(), value["name"].as_str()) {
        (Some(namespace), Some(name)) => Ok((namespace.to_string(), name.to_string())),
        _ => Err(invalid()),
    }
}

fn list(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let selection = Selection::from_request(request)?;
    let after = request
        .param("continue")
        .filter(|token| !token.is_empty())
        .map(decode_continue)
        .transpose()?;
    let limit = request
        .param("limit")
        .and_then(|limit| limit.parse::<usize>().ok())
        .filter(|limit| *limit > 0);
    let page = cluster.store.list(
        &target.resource.id(),
        target.namespace.as_deref(),
        after.as_ref(),
        limit,
        |object| selection.matches(object),
    );
    if wants_table(&request.accept) {
        let objects: Vec<Value> = page.items.iter().map(|object| (**object).clone()).collect();
        let include = IncludeObject::parse(request.param("includeObject"));
        let mut table = table::table(
            &target.resource.kind,
            &objects,
            include,
            &page.resource_version.to_string(),
        );
        if let Some(key) = &page.continue_after {
            table["metadata"]["continue"] = json!(encode_continue(key));
        }
        return Ok(json_response(200, &table));
    }
    Ok(list_response(
        &target.resource,
        &page.items,
        page.resource_version,
        page.continue_after.as_ref().map(encode_continue),
        page.remaining,
    ))
}

/// How watch events are filtered and rendered for one watcher.
struct WatchView {
    resource: ResourceId,
    kind: String,
    api_version: String,
    namespace: Option<String>,
    name: Option<String>,
    selection: Selection,
    table: Option<IncludeObject>,
}

impl WatchView {
    fn selects(&self, object: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|namespace| namespace == namespace_of(object))
            && self
                .name
                .as_deref()
                .is_none_or(|name| name == name_of(object))
            && self.selection.matches(object)
    }

    fn line(&self, event_type: &str, object: &Value) -> Bytes {
        let mut object = object.clone();
        object["apiVersion"] = json!(self.api_version);
        object["kind"] = json!(self.kind);
        let object = match self.table {
            Some(include) => {
                let resource_version = object["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                table::table(&self.kind, &[object], include, &resource_version)
            }
            None => object,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// The line a change produces for this watcher, if any: an object moving
    /// into or out of the selection is ADDED or DELETED, as on a real server.
    fn render(&self, event: &WatchEvent) -> Option<Bytes> {
        if event.resource != self.resource {
            return None;
        }
        let now = self.selects(&event.object);
        let before = event
            .previous
            .as_deref()
            .is_some_and(|previous| self.selects(previous));
        let event_type = match (event.event_type, before, now) {
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) | (EventType::Added, _, true) => "ADDED",
            (EventType::Modified, true, false) | (EventType::Deleted, _, true) => "DELETED",
            _ => return None,
        };
        Some(self.line(event_type, &event.object))
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object =
            json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata});
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

struct WatchStream {
    view: WatchView,
    queued: VecDeque<Bytes>,
    live: broadcast::Receiver<Arc<WatchEvent>>,
    /// The newest resourceVersion this watcher has seen, for bookmarks.
    seen: u64,
    deadline: tokio::time::Instant,
    bookmarks: bool,
}

impl WatchStream {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.queued.pop_front() {
                return Some(line);
            }
            let bookmark_due = tokio::time::sleep(BOOKMARK_PERIOD);
            tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = bookmark_due, if self.bookmarks => {
                    return Some(self.view.bookmark(self.seen, false));
                }
                received = self.live.recv() => match received {
                    Ok(event) => {
                        if event.resource_version <= self.seen {
                            continue;
                        }
                        self.seen = event.resource_version;
                        if let Some(line) = self.view.render(&event) {
                            return Some(line);
                        }
                    }
                    // Fell too far behind (or the cluster stopped): end the
                    // watch; the client resumes from its last resourceVersion.
                    Err(_) => return None,
                },
            }
        }
    }
}

fn watch(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let resource = &target.resource;
    let requested_version = request.param("resourceVersion").unwrap_or("");
    let send_initial = request.flag("sendInitialEvents");
    let since = match requested_version {
        "" | "0" => None,
        _ if send_initial => None,
        text => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}")))?,
        ),
    };
    let subscription = match cluster.store.subscribe(&resource.id(), since) {
        Ok(subscription) => subscription,
        // As the real server does: the watch starts, then says why it ends.
        Err(error) => {
            let status = ApiError::from_store(error, resource, "").status();
            let mut line =
                serde_json::to_vec(&json!({"type": "ERROR", "object": status})).unwrap_or_default();
            line.push(b'\n');
            return Ok(bytes_response(200, "application/json", Bytes::from(line)));
        }
    };
    let Subscription {
        current,
        replay,
        resource_version,
        live,
    } = subscription;
    let view = WatchView {
        resource: resource.id(),
        kind: resource.kind.clone(),
        api_version: resource.api_version(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        selection: Selection::from_request(request)?,
        table: wants_table(&request.accept)
            .then(|| IncludeObject::parse(request.param("includeObject"))),
    };
    let mut queued: VecDeque<Bytes> = current
        .iter()
        .flatten()
        .filter(|object| view.selects(object))
        .map(|object| view.line("ADDED", object))
        .collect();
    queued.extend(replay.iter().filter_map(|event| view.render(event)));
    let bookmarks = request.flag("allowWatchBookmarks");
    if send_initial && bookmarks {
        queued.push_back(view.bookmark(resource_version, true));
    }
    let timeout = request
        .param("timeoutSeconds")
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let stream = WatchStream {
        view,
        queued,
        live,
        seen: resource_version,
        deadline: tokio::time::Instant::now() + timeout,
        bookmarks,
    };
    let lines = futures::stream::unfold(stream, |mut stream| async move {
        let line = stream.next_line().await?;
        Some((Ok::<_, Infallible>(Frame::data(line)), stream))
    });
    let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(lines)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------
// Writes

fn parse_body(request: &ApiRequest) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(&request.content_type) {
        return protobuf::decode(&request.body).map_err(ApiError::bad_request);
    }
    parse_json_or_yaml(&request.body)
}

fn parse_json_or_yaml(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        // YAML 1.2 booleans only: a name like `y` or `on` stays a string.
        Err(json_error) => serde_saphyr::from_slice_with_options::<Value>(
            body,
            serde_saphyr::options! { strict_booleans: true },
        )
        .map_err(|_| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded: {json_error}"
            ))
        }),
    }
}

/// Checks the body's apiVersion and kind against the URL's resource and
/// puts the namespace in.
fn check_identity(
    resource: &ResourceType,
    namespace: Option<&str>,
    object: &mut Value,
) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    let expected_version = resource.api_version();
    match object["apiVersion"].as_str() {
        None | Some("") => object["apiVersion"] = json!(expected_version),
        Some(version) if version == expected_version => {}
        Some(version) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({version}) does not match the expected API version ({expected_version})"
            )));
        }
    }
    match object["kind"].as_str() {
        None | Some("") => object["kind"] = json!(resource.kind),
        Some(kind) if kind == resource.kind => {}
        Some(kind) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if !resource.namespaced {
        if let Some(metadata) = object["metadata"].as_object_mut() {
            metadata.remove("namespace");
        }
        return Ok(());
    }
    let url_namespace = namespace.unwrap_or("");
    match object["metadata"]["namespace"].as_str() {
        None | Some("") => object["metadata"]["namespace"] = json!(url_namespace),
        Some(body_namespace) if body_namespace == url_namespace => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

impl Cluster {
    fn write_options(&self, resource: &ResourceType, dry_run: bool) -> WriteOptions {
        WriteOptions {
            dry_run,
            tracks_generation: resource.tracks_generation,
        }
    }

    fn namespaces(&self) -> ResourceId {
        ResourceId::new("", "namespaces")
    }

    fn resource_for(&self, object: &Value) -> Option<Arc<ResourceType>> {
        let api_version = object["apiVersion"].as_str()?;
        let kind = object["kind"].as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.registry.find_kind(group, version, kind)
    }

    /// Creates a seed object: like an API create, but keeping its status.
    fn seed(&self, object: Value) -> Result<Arc<Value>, ApiError> {
        let resource = self.resource_for(&object).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no resource for {} {}",
                object["apiVersion"], object["kind"]
            ))
        })?;
        let namespace = namespace_of(&object).to_string();
        self.create_object(
            &resource,
            Some(&namespace),
            object,
            Some("mp-sandbox-seed"),
            false,
            true,
        )
    }

    /// The shared create path: validation, defaults, managedFields (unless
    /// `manager` is None: server-side apply recorded them already), store,
    /// and the CRD side effects.
    fn create_object(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        mut object: Value,
        manager: Option<&str>,
        dry_run: bool,
        keep_status: bool,
    ) -> Result<Arc<Value>, ApiError> {
        check_identity(resource, namespace, &mut object)?;
        let name = name_of(&object).to_string();
        if name.is_empty()
            && object["metadata"]["generateName"]
                .as_str()
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::invalid(
                resource,
                "",
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            ));
        }
        if resource.namespaced {
            let namespace = namespace_of(&object).to_string();
            if self.store.get(&self.namespaces(), "", &namespace).is_none() {
                return Err(ApiError::namespace_not_found(&namespace));
            }
        }
        if !keep_status
            && resource.status_subresource
            && let Some(fields) = object.as_object_mut()
        {
            fields.remove("status");
        }
        apply_defaults(resource, &mut object);
        normalize(resource, &mut object);
        if resource.plural == "customresourcedefinitions"
            && resource.group == "apiextensions.k8s.io"
        {
            crd_accepted(resource, &name, &mut object)?;
        }
        if let Some(manager) = manager {
            apply::track_update(None, &mut object, manager, None, &now_timestamp());
        }
        let created = self
            .store
            .create(
                &resource.id(),
                object,
                self.write_options(resource, dry_run),
            )
            .map_err(|error| ApiError::from_store(error, resource, &name))?;
        if !dry_run {
            self.after_write(resource, &created)?;
        }
        Ok(created)
    }

    /// Side effects of a stored write: CRDs (re)register their types.
    fn after_write(&self, resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
        if resource.group == "apiextensions.k8s.io"
            && resource.plural == "customresourcedefinitions"
        {
            self.registry.register_crd(object).map_err(|error| {
                ApiError::invalid(
                    resource,
                    name_of(object),
                    "spec",
                    "FieldValueInvalid",
                    &error,
                )
            })?;
        }
        Ok(())
    }

    /// Side effects of a deletion: a namespace's contents and a CRD's custom
    /// resources go with it.
    fn after_delete(&self, resource: &ResourceType, name: &str) {
        if resource.group.is_empty() && resource.plural == "namespaces" {
            self.store.delete_where(|_, namespace| namespace == name);
        }
        if resource.group == "apiextensions.k8s.io"
            && resource.plural == "customresourcedefinitions"
            && let Some(custom) = self.registry.unregister_crd(name)
        {
            self.store.delete_where(|stored, _| *stored == custom);
        }
    }

    /// Read-modify-write of one object, retried when another writer got in
    /// between (as the real server does for patches). `change` gets the live
    /// object and returns the new one.
    fn modify(
        &self,
        target: &Target,
        dry_run: bool,
        mut change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let resource = &target.resource;
        let name = require_name(target)?;
        for _ in 0..8 {
            let live = stored(self, target)?;
            let mut object = change(&live)?;
            check_identity(resource, target.namespace.as_deref(), &mut object)?;
            normalize(resource, &mut object);
            if name_of(&object) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    name_of(&object)
                )));
            }
            let explicit_version =
                object["metadata"]["resourceVersion"]
                    .as_str()
                    .is_some_and(|version| {
                        !version.is_empty()
                            && Some(version) != live["metadata"]["resourceVersion"].as_str()
                    });
            if !explicit_version {
                object["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
            }
            match self.store.update(
                &resource.id(),
                object,
                self.write_options(resource, dry_run),
            ) {
                Ok(updated) => {
                    if !dry_run {
                        self.after_write(resource, &updated)?;
                    }
                    return Ok(updated);
                }
                Err(StoreError::Conflict) if !explicit_version => continue,
                Err(error) => return Err(ApiError::from_store(error, resource, name)),
            }
        }
        Err(ApiError::conflict(resource, name))
    }
}

/// What every write goes through, as the real server's typed objects do:
/// empty label and annotation maps vanish, Secrets fold `stringData`.
fn normalize(resource: &ResourceType, object: &mut Value) {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in ["labels", "annotations"] {
            if metadata.get(key).is_some_and(|map| {
                map.is_null() || map.as_object().is_some_and(|map| map.is_empty())
            }) {
                metadata.remove(key);
            }
        }
    }
    if resource.group.is_empty() && resource.plural == "secrets" {
        fold_string_data(object);
    }
}

/// A Secret's `stringData` is a write-only convenience, folded into `data`.
fn fold_string_data(object: &mut Value) {
    let Some(string_data) = object
        .as_object_mut()
        .and_then(|fields| fields.remove("stringData"))
    else {
        return;
    };
    if !object["data"].is_object() {
        object["data"] = json!({});
    }
    for (key, value) in string_data.as_object().into_iter().flatten() {
        let text = value.as_str().unwrap_or_default();
        object["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

fn apply_defaults(resource: &ResourceType, object: &mut Value) {
    match (resource.group.as_str(), resource.plural.as_str()) {
        ("apps", "deployments") if object["spec"]["replicas"].is_null() => {
            object["spec"]["replicas"] = json!(1);
        }
        ("", "secrets") if object["type"].as_str().is_none_or(str::is_empty) => {
            object["type"] = json!("Opaque");
        }
        ("", "namespaces") if object["status"]["phase"].is_null() => {
            object["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
}

/// What the apiextensions controller reports on an accepted CRD.
fn crd_accepted(resource: &ResourceType, name: &str, crd: &mut Value) -> Result<(), ApiError> {
    crate::registry::types_from_crd(crd)
        .map_err(|error| ApiError::invalid(resource, name, "spec", "FieldValueInvalid", &error))?;
    let now = now_timestamp();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let stored_versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|version| version["storage"].as_bool().unwrap_or(false))
        .map(|version| version["name"].clone())
        .collect();
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd["spec"]["names"].clone(),
        "storedVersions": stored_versions,
    });
    Ok(())
}

fn create(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    if target.name.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let object = parse_body(request)?;
    if object["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|version| !version.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let created = cluster.create_object(
        &target.resource,
        target.namespace.as_deref(),
        object,
        Some(&request.field_manager()),
        request.dry_run(),
        false,
    )?;
    Ok(json_response(201, &created))
}

/// The object after a write to the main resource or to `/status`: the main
/// resource cannot change status where a status subresource exists, and
/// `/status` changes nothing else.
fn merge_subresource(
    resource: &ResourceType,
    subresource: Option<&str>,
    live: &Value,
    mut new: Value,
) -> Value {
    match subresource {
        Some("status") => {
            let mut merged = live.clone();
            merged["status"] = new["status"].take();
            if let Some(version) = new["metadata"]["resourceVersion"].as_str() {
                merged["metadata"]["resourceVersion"] = json!(version);
            }
            merged
        }
        _ if resource.status_subresource && !live["status"].is_null() => {
            new["status"] = live["status"].clone();
            new
        }
        _ => new,
    }
}

fn update(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let body = parse_body(request)?;
    let manager = request.field_manager();
    let subresource = target.subresource.as_deref();
    let updated = cluster.modify(target, request.dry_run(), |live| {
        let mut new = merge_subresource(&target.resource, subresource, live, body.clone());
        if new["metadata"]["managedFields"].is_null() {
            new["metadata"]["managedFields"] = live["metadata"]["managedFields"].clone();
        }
        apply::track_update(
            Some(live),
            &mut new,
            &manager,
            subresource,
            &now_timestamp(),
        );
        Ok(new)
    })?;
    Ok(json_response(200, &updated))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

fn patch_kind(request: &ApiRequest, resource: &ResourceType) -> Result<PatchKind, ApiError> {
    let media_type = request.content_type.split(';').next().unwrap_or("").trim();
    let unsupported = || {
        ApiError::new(
            415,
            format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                if resource.is_custom() {
                    ""
                } else {
                    ", application/strategic-merge-patch+json"
                }
            ),
        )
    };
    match media_type {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/apply-patch+yaml" => Ok(PatchKind::Apply),
        // Custom resources have no strategic merge keys; kubectl then falls back to merge patch.
        "application/strategic-merge-patch+json" if !resource.is_custom() => {
            Ok(PatchKind::Strategic)
        }
        _ => Err(unsupported()),
    }
}

fn apply_conflict_error(
    resource: &ResourceType,
    name: &str,
    conflict: &apply::ApplyConflict,
) -> ApiError {
    let count = conflict.fields.len();
    let listed: Vec<String> = conflict
        .fields
        .iter()
        .map(|(manager, field)| format!("conflict with \"{manager}\": {field}"))
        .collect();
    let message = if count == 1 {
        format!("Apply failed with 1 conflict: {}", listed[0])
    } else {
        format!(
            "Apply failed with {count} conflicts: {}",
            listed.join("\n- ")
        )
    };
    let causes: Vec<Value> = conflict
        .fields
        .iter()
        .map(|(manager, field)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": field})
        })
        .collect();
    let mut details = object_details(&resource.group, &resource.plural, name);
    details["causes"] = json!(causes);
    ApiError::new(409, message).with_details(details)
}

fn patch(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let resource = &target.resource;
    let kind = patch_kind(request, resource)?;
    let name = require_name(target)?.to_string();
    let dry_run = request.dry_run();
    let manager = request.field_manager();
    let subresource = target.subresource.as_deref();
    if kind == PatchKind::Apply {
        if request.param("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                resource,
                &name,
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch",
            ));
        }
        let applied = parse_json_or_yaml(&request.body)?;
        let force = request.flag("force");
        let now = now_timestamp();
        if subresource.is_none()
            && cluster
                .store
                .get(&resource.id(), target.namespace(), &name)
                .is_none()
        {
            let mut object = apply::apply(None, &applied, &manager, force, &now)
                .map_err(|conflict| apply_conflict_error(resource, &name, &conflict))?;
            if name_of(&object).is_empty() {
                object["metadata"]["name"] = json!(name);
            }
            let created = cluster.create_object(
                resource,
                target.namespace.as_deref(),
                object,
                None,
                dry_run,
                false,
            )?;
            return Ok(json_response(201, &created));
        }
        let updated = cluster.modify(target, dry_run, |live| {
            let merged = apply::apply(Some(live), &applied, &manager, force, &now)
                .map_err(|conflict| apply_conflict_error(resource, &name, &conflict))?;
            Ok(merge_subresource(resource, subresource, live, merged))
        })?;
        return Ok(json_response(200, &updated));
    }
    let operations = parse_json_or_yaml(&request.body)?;
    let updated = cluster.modify(target, dry_run, |live| {
        let patched =
            match kind {
                PatchKind::Merge => patch::merge_patch(live, &operations),
                PatchKind::Strategic => patch::strategic_merge_patch(live, &operations)
                    .map_err(ApiError::bad_request)?,
                PatchKind::Json => patch::json_patch(live, &operations)
                    .map_err(|error| ApiError::new(422, error))?,
                PatchKind::Apply => unreachable!("apply handled above"),
            };
        let mut new = merge_subresource(resource, subresource, live, patched);
        apply::track_update(
            Some(live),
            &mut new,
            &manager,
            subresource,
            &now_timestamp(),
        );
        Ok(new)
    })?;
    Ok(json_response(200, &updated))
}

/// `DeleteOptions` may also come in the body (kubectl sends them there).
fn delete_dry_run(request: &ApiRequest) -> bool {
    if request.dry_run() {
        return true;
    }
    serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|options| options["dryRun"].as_array().cloned())
        .is_some_and(|modes| modes.iter().any(|mode| mode == "All"))
}

fn delete(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let resource = &target.resource;
    let name = require_name(target)?;
    let dry_run = delete_dry_run(request);
    let deleted = cluster
        .store
        .delete(&resource.id(), target.namespace(), name, dry_run)
        .map_err(|error| ApiError::from_store(error, resource, name))?;
    if !dry_run {
        cluster.after_delete(resource, name);
    }
    Ok(json_response(200, &deleted))
}

fn delete_collection(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let resource = &target.resource;
    let selection = Selection::from_request(request)?;
    let dry_run = delete_dry_run(request);
    let doomed = cluster.store.list(
        &resource.id(),
        target.namespace.as_deref(),
        None,
        None,
        |object| selection.matches(object),
    );
    let mut deleted = Vec::with_capacity(doomed.items.len());
    for object in &doomed.items {
        let name = name_of(object);
        // Someone else deleting it first is fine.
        if let Ok(gone) = cluster
            .store
            .delete(&resource.id(), namespace_of(object), name, dry_run)
        {
            if !dry_run {
                cluster.after_delete(resource, name);
            }
            deleted.push(gone);
        }
    }
    Ok(list_response(
        resource,
        &deleted,
        cluster.store.resource_version(),
        None,
        0,
    ))
}

/// Answers a SelfSubjectReview (`kubectl auth whoami`) with the caller's
/// identity, or a SelfSubjectAccessReview (`kubectl auth can-i`) with yes:
/// everyone is an administrator here; denials come from fault rules.
fn review(request: &ApiRequest, resource: &ResourceType) -> Result<Response<Body>, ApiError> {
    // kubectl sends reviews as protobuf, which only the three kinds in
    // `protobuf` decode; the answer does not depend on the body anyway.
    let mut review = if protobuf::is_protobuf(&request.content_type) {
        json!({})
    } else {
        parse_json_or_yaml(&request.body)?
    };
    check_identity(resource, None, &mut review)?;
    review["status"] = if resource.kind == "SelfSubjectReview" {
        json!({"userInfo": {"username": request.user, "groups": ["system:masters", "system:authenticated"]}})
    } else {
        json!({"allowed": true, "reason": "mp-sandbox allows every request"})
    };
    Ok(json_response(201, &review))
}

// ---------------------------------------------------------------------------
// The scale subresource

#[derive(Debug, Clone, Copy, PartialEq)]
enum ScaleWrite {
    Replace,
    Patch,
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(object: &Value) -> Value {
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let metadata = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

fn get_scale(cluster: &Cluster, target: &Target) -> Result<Response<Body>, ApiError> {
    if !target.resource.scale_subresource {
        return Err(ApiError::path_not_found());
    }
    Ok(json_response(200, &scale_of(&*stored(cluster, target)?)))
}

fn update_scale(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
    write: ScaleWrite,
) -> Result<Response<Body>, ApiError> {
    let resource = &target.resource;
    if !resource.scale_subresource {
        return Err(ApiError::path_not_found());
    }
    let name = require_name(target)?.to_string();
    let body = parse_json_or_yaml(&request.body)?;
    let manager = request.field_manager();
    let kind = match write {
        ScaleWrite::Patch => Some(patch_kind(request, resource)?),
        ScaleWrite::Replace => None,
    };
    let updated = cluster.modify(target, request.dry_run(), |live| {
        let current = scale_of(live);
        let wanted = match kind {
            None => body.clone(),
            Some(PatchKind::Merge | PatchKind::Strategic) => patch::merge_patch(&current, &body),
            Some(PatchKind::Json) => {
                patch::json_patch(&current, &body).map_err(|error| ApiError::new(422, error))?
            }
            Some(PatchKind::Apply) => {
                apply::apply(Some(&current), &body, &manager, true, &now_timestamp())
                    .map_err(|conflict| apply_conflict_error(resource, &name, &conflict))?
            }
        };
        let replicas = wanted["spec"]["replicas"]
            .as_i64()
            .filter(|replicas| *replicas >= 0)
            .ok_or_else(|| {
                ApiError::invalid(
                    resource,
                    &name,
                    "spec.replicas",
                    "FieldValueInvalid",
                    "Invalid value: must be greater than or equal to 0",
                )
            })?;
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(replicas);
        if let Some(version) = wanted["metadata"]["resourceVersion"]
            .as_str()
            .filter(|version| !version.is_empty())
        {
            new["metadata"]["resourceVersion"] = json!(version);
        }
        apply::track_update(
            Some(live),
            &mut new,
            &manager,
            Some("scale"),
            &now_timestamp(),
        );
        Ok(new)
    })?;
    Ok(json_response(200, &scale_of(&updated)))
}

// ---------------------------------------------------------------------------
// Controllers

async fn run_controllers(cluster: Arc<Cluster>) {
    let deployments = ResourceId::new("apps", "deployments");
    let operator = OperatorConfig::default();
    // When each Deployment's generation last changed, by uid.
    let mut generation_seen: HashMap<String, (i64, Instant)> = HashMap::new();
    let mut ticker = tokio::time::interval(CONTROLLER_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let all = cluster
            .store
            .list(&deployments, None, None, None, |_| true)
            .items;
        let now = Instant::now();
        let mut alive = Vec::with_capacity(all.len());
        for deployment in &all {
            let uid = deployment["metadata"]["uid"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
            let since = match generation_seen.get(&uid) {
                Some((seen, changed)) if *seen == generation => now.duration_since(*changed),
                _ => {
                    generation_seen.insert(uid.clone(), (generation, now));
                    Duration::ZERO
                }
            };
            alive.push(uid);
            if let Some(status) =
                controller::next_deployment_status(deployment, since, cluster.ready_delay)
            {
                let mut updated = (**deployment).clone();
                updated["status"] = status;
                apply::track_update(
                    Some(deployment),
                    &mut updated,
                    "kube-controller-manager",
                    Some("status"),
                    &now_timestamp(),
                );
                // A conflict means someone wrote meanwhile: the next tick retries.
                let _ = cluster.store.update(
                    &deployments,
                    updated,
                    WriteOptions {
                        dry_run: false,
                        tracks_generation: true,
                    },
                );
            }
        }
        generation_seen.retain(|uid, _| alive.contains(uid));
        let mut by_namespace: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for deployment in &all {
            by_namespace
                .entry(namespace_of(deployment))
                .or_default()
                .push((**deployment).clone());
        }
        for (namespace, members) in by_namespace {
            for (name, replicas) in controller::operator_corrections(&members, &operator) {
                let Some(live) = cluster.store.get(&deployments, namespace, &name) else {
                    continue;
                };
                let mut scaled = (*live).clone();
                scaled["spec"]["replicas"] = json!(replicas);
                apply::track_update(
                    Some(&live),
                    &mut scaled,
                    "tsb-operator",
                    None,
                    &now_timestamp(),
                );
                let _ = cluster.store.update(
                    &deployments,
                    scaled,
                    WriteOptions {
                        dry_run: false,
                        tracks_generation: true,
                    },
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Admin API

struct AdminCluster {
    cluster: Arc<Cluster>,
    address: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    listener_task: Arc<ListenerSlot>,
}

async fn serve_admin(listener: TcpListener, clusters: Arc<Vec<AdminCluster>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let clusters = Arc::clone(&clusters);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let clusters = Arc::clone(&clusters);
                        async move { Ok::<_, Infallible>(admin(&clusters, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn admin(clusters: &[AdminCluster], request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return ApiError::bad_request(error.to_string()).response(),
    };
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let ["clusters", name, knob] = segments.as_slice() else {
        return ApiError::path_not_found().response();
    };
    let Some(target) = clusters
        .iter()
        .find(|candidate| candidate.cluster.name == *name)
    else {
        return ApiError::new(404, format!("no cluster named {name}")).response();
    };
    let faults = &target.cluster.faults;
    let ok = || json_response(200, &json!({"ok": true}));
    match (&method, *knob) {
        (&Method::GET, "counters") => json_response(200, &json!(faults.counters())),
        (&Method::DELETE, "counters") => {
            faults.reset_counters();
            ok()
        }
        (&Method::PUT, "latency") => match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|value| value["ms"].as_u64())
        {
            Some(ms) => {
                faults.set_latency(Duration::from_millis(ms));
                ok()
            }
            None => ApiError::bad_request("expected {\"ms\": N}").response(),
        },
        (&Method::POST, "faults") => match serde_json::from_slice::<FaultRule>(&body) {
            Ok(rule) => {
                faults.add_rule(rule);
                ok()
            }
            Err(error) => ApiError::bad_request(format!("invalid fault rule: {error}")).response(),
        },
        (&Method::DELETE, "faults") => {
            faults.clear();
            ok()
        }
        (&Method::POST, "down" | "up") => {
            match set_down(
                &target.listener_task,
                *knob == "down",
                target.address,
                &target.tls,
                &target.cluster,
            )
            .await
            {
                Ok(()) => ok(),
                Err(error) => ApiError::new(500, error.to_string()).response(),
            }
        }
        _ => ApiError::method_not_allowed().response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_cluster() -> Cluster {
        let cluster = Cluster {
            name: "test".into(),
            store: Store::new(),
            registry: Registry::new(),
            faults: Faults::default(),
            token: "secret-token".into(),
            server_address: "127.0.0.1:6443".into(),
            ready_delay: Duration::from_millis(50),
        };
        for namespace in ["tsb", "other"] {
            cluster
                .seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}))
                .unwrap();
        }
        cluster
    }

    fn request(method: Method, uri: &str, content_type: &str, body: &str) -> ApiRequest {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        ApiRequest {
            method,
            path: path.into(),
            query: parse_query(query),
            accept: "application/json".into(),
            content_type: content_type.into(),
            user_agent: "unit-test/v1.0 (linux/amd64)".into(),
            user: "tester".into(),
            body: Bytes::from(body.to_string()),
        }
    }

    async fn send_request(cluster: &Cluster, request: ApiRequest) -> (u16, String) {
        let response = match route(cluster, &request).await {
            Ok(response) => response,
            Err(error) => error.response(),
        };
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn send(cluster: &Cluster, method: Method, uri: &str, body: Value) -> (u16, Value) {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) =
            send_request(cluster, request(method, uri, "application/json", &text)).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(cluster: &Cluster, uri: &str) -> (u16, Value) {
        send(cluster, Method::GET, uri, Value::Null).await
    }

    async fn patch_with(
        cluster: &Cluster,
        uri: &str,
        content_type: &str,
        body: Value,
    ) -> (u16, Value) {
        let (status, text) = send_request(
            cluster,
            request(Method::PATCH, uri, content_type, &body.to_string()),
        )
        .await;
        (status, serde_json::from_str(&text).unwrap())
    }

    fn secret(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "tsb"},
               "data": {"k": "dg=="}})
    }

    fn configmap(name: &str, tier: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "tsb", "labels": {"tier": tier}},
               "data": {"k": "v"}})
    }

    fn deployment(name: &str, replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": "tsb"},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name, "tier": "front"}},
                        "template": {"metadata": {"labels": {"app": name, "tier": "front"}},
                                     "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}}})
    }

    fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.com"},
               "spec": {"group": "example.com", "scope": "Namespaced",
                        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                        "versions": [{"name": "v1", "served": true, "storage": true,
                                      "subresources": {"status": {}}}]}})
    }

    const SECRETS: &str = "/api/v1/namespaces/tsb/secrets";

    #[tokio::test]
    async fn create_get_update_delete_round_trip_with_real_messages() {
        let cluster = test_cluster();
        let (status, created) = send(&cluster, Method::POST, SECRETS, secret("a")).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["type"], "Opaque");
        let (status, fetched) = get(&cluster, &format!("{SECRETS}/a")).await;
        assert_eq!(status, 200);
        assert_eq!(fetched["metadata"]["uid"], created["metadata"]["uid"]);

        let mut stale = created.clone();
        stale["data"]["k"] = json!("eA==");
        let (status, _) = send(
            &cluster,
            Method::PUT,
            &format!("{SECRETS}/a"),
            stale.clone(),
        )
        .await;
        assert_eq!(status, 200);
        let (status, conflict) = send(&cluster, Method::PUT, &format!("{SECRETS}/a"), stale).await;
        assert_eq!(status, 409);
        assert_eq!(conflict["reason"], "Conflict");
        assert_eq!(
            conflict["message"],
            "Operation cannot be fulfilled on secrets \"a\": the object has been modified; \
             please apply your changes to the latest version and try again"
        );

        let (status, duplicate) = send(&cluster, Method::POST, SECRETS, secret("a")).await;
        assert_eq!(status, 409);
        assert_eq!(duplicate["reason"], "AlreadyExists");
        assert_eq!(duplicate["message"], "secrets \"a\" already exists");
        assert_eq!(
            duplicate["details"],
            json!({"name": "a", "kind": "secrets"})
        );

        let (status, deleted) = send(
            &cluster,
            Method::DELETE,
            &format!("{SECRETS}/a"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(deleted["metadata"]["name"], "a");
        let (status, missing) = get(&cluster, &format!("{SECRETS}/a")).await;
        assert_eq!(status, 404);
        assert_eq!(missing["kind"], "Status");
        assert_eq!(missing["status"], "Failure");
        assert_eq!(missing["message"], "secrets \"a\" not found");
        let (_, missing_group) = get(&cluster, "/apis/apps/v1/namespaces/tsb/deployments/x").await;
        assert_eq!(missing_group["message"], "deployments.apps \"x\" not found");
        assert_eq!(missing_group["details"]["group"], "apps");
    }

    #[tokio::test]
    async fn create_validates_namespace_identity_and_name() {
        let cluster = test_cluster();
        let mut unscoped = secret("a");
        unscoped["metadata"]["namespace"].take();
        let (status, error) = send(
            &cluster,
            Method::POST,
            "/api/v1/namespaces/nope/secrets",
            unscoped,
        )
        .await;
        assert_eq!(
            (status, error["message"].as_str()),
            (404, Some("namespaces \"nope\" not found"))
        );
        let mut elsewhere = secret("a");
        elsewhere["metadata"]["namespace"] = json!("other");
        let (status, error) = send(&cluster, Method::POST, SECRETS, elsewhere).await;
        assert_eq!(status, 400);
        assert_eq!(error["reason"], "BadRequest");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("does not match the namespace")
        );
        let (status, error) = send(&cluster, Method::POST, SECRETS, configmap("c", "x")).await;
        assert_eq!(status, 400);
        assert!(
            error["message"].as_str().unwrap().contains("kind"),
            "{error}"
        );
        let mut unnamed = secret("");
        unnamed["metadata"] = json!({});
        let (status, error) = send(&cluster, Method::POST, SECRETS, unnamed.clone()).await;
        assert_eq!(status, 422);
        assert_eq!(error["reason"], "Invalid");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("name or generateName is required")
        );
        let mut versioned = secret("versioned");
        versioned["metadata"]["resourceVersion"] = json!("12");
        let (status, error) = send(&cluster, Method::POST, SECRETS, versioned).await;
        assert_eq!(status, 400);
        assert_eq!(
            error["message"],
            "resourceVersion should not be set on objects to be created"
        );
        unnamed["metadata"]["generateName"] = json!("gen-");
        let (status, generated) = send(&cluster, Method::POST, SECRETS, unnamed).await;
        assert_eq!(status, 201);
        assert!(
            generated["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("gen-")
        );
    }

    #[tokio::test]
    async fn yaml_bodies_and_string_data_are_accepted() {
        let cluster = test_cluster();
        let yaml =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: y\nstringData:\n  user: admin\n";
        let (status, body) = send_request(
            &cluster,
            request(Method::POST, SECRETS, "application/yaml", yaml),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let stored = cluster
            .store
            .get(&ResourceId::new("", "secrets"), "tsb", "y")
            .unwrap();
        assert_eq!(stored["data"]["user"], "YWRtaW4=");
        assert!(stored.get("stringData").is_none());
        assert_eq!(stored["metadata"]["namespace"], "tsb");
    }

    #[tokio::test]
    async fn empty_label_and_annotation_maps_are_dropped() {
        let cluster = test_cluster();
        let mut object = secret("bare");
        object["metadata"]["labels"] = json!({});
        object["metadata"]["annotations"] = json!(null);
        let (_, created) = send(&cluster, Method::POST, SECRETS, object).await;
        assert!(created["metadata"].get("labels").is_none(), "{created}");
        assert!(
            created["metadata"].get("annotations").is_none(),
            "{created}"
        );
        let (_, patched) = patch_with(
            &cluster,
            &format!("{SECRETS}/bare"),
            "application/merge-patch+json",
            json!({"metadata": {"annotations": {}}}),
        )
        .await;
        assert!(
            patched["metadata"].get("annotations").is_none(),
            "{patched}"
        );
    }

    #[tokio::test]
    async fn lists_page_with_continue_and_filter_with_selectors() {
        let cluster = test_cluster();
        for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web"), ("d", "web")] {
            send(
                &cluster,
                Method::POST,
                "/api/v1/namespaces/tsb/configmaps",
                configmap(name, tier),
            )
            .await;
        }
        let (_, first) = get(&cluster, "/api/v1/namespaces/tsb/configmaps?limit=3").await;
        assert_eq!(first["kind"], "ConfigMapList");
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        assert_eq!(first["metadata"]["remainingItemCount"], 1);
        let token = first["metadata"]["continue"].as_str().unwrap();
        let (_, second) = get(
            &cluster,
            &format!("/api/v1/namespaces/tsb/configmaps?limit=3&continue={token}"),
        )
        .await;
        assert_eq!(second["items"][0]["metadata"]["name"], "d");
        assert!(second["metadata"].get("continue").is_none());
        let (_, web) = get(
            &cluster,
            "/api/v1/namespaces/tsb/configmaps?labelSelector=tier%3Dweb",
        )
        .await;
        assert_eq!(web["items"].as_array().unwrap().len(), 3);
        let (_, named) = get(
            &cluster,
            "/api/v1/configmaps?fieldSelector=metadata.name%3Db",
        )
        .await;
        assert_eq!(named["items"].as_array().unwrap().len(), 1);
        let (status, _) = get(&cluster, "/api/v1/configmaps?continue=garbage!").await;
        assert_eq!(status, 400);

        let (status, deleted) = send(
            &cluster,
            Method::DELETE,
            "/api/v1/namespaces/tsb/configmaps?labelSelector=tier%3Dweb",
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(deleted["items"].as_array().unwrap().len(), 3);
        let (_, left) = get(&cluster, "/api/v1/namespaces/tsb/configmaps").await;
        assert_eq!(left["items"][0]["metadata"]["name"], "b");
    }

    #[tokio::test]
    async fn tables_are_served_when_asked_for() {
        let cluster = test_cluster();
        send(&cluster, Method::POST, SECRETS, secret("a")).await;
        let mut asking = request(Method::GET, SECRETS, "", "");
        asking.accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".into();
        let (status, text) = send_request(&cluster, asking).await;
        assert_eq!(status, 200);
        let table: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["rows"].as_array().unwrap().len(), 1);
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io"));
        assert!(!wants_table("application/json"));
    }

    fn watch_lines(text: &str) -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn watch_replays_after_a_version_and_sends_current_objects_from_zero() {
        let cluster = test_cluster();
        let (_, first) = send(&cluster, Method::POST, SECRETS, secret("a")).await;
        let since = first["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        send(&cluster, Method::POST, SECRETS, secret("b")).await;
        send(
            &cluster,
            Method::DELETE,
            &format!("{SECRETS}/a"),
            Value::Null,
        )
        .await;

        let (status, text) = send_request(
            &cluster,
            request(
                Method::GET,
                &format!("{SECRETS}?watch=true&resourceVersion={since}&timeoutSeconds=1"),
                "",
                "",
            ),
        )
        .await;
        assert_eq!(status, 200);
        let events = watch_lines(&text);
        let summary: Vec<(&str, &str)> = events
            .iter()
            .map(|event| {
                (
                    event["type"].as_str().unwrap(),
                    event["object"]["metadata"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(summary, [("ADDED", "b"), ("DELETED", "a")]);
        assert_eq!(events[0]["object"]["kind"], "Secret");

        let (_, text) = send_request(
            &cluster,
            request(
                Method::GET,
                &format!("{SECRETS}?watch=1&resourceVersion=0&timeoutSeconds=1"),
                "",
                "",
            ),
        )
        .await;
        let current = watch_lines(&text);
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["type"], "ADDED");
        assert_eq!(current[0]["object"]["metadata"]["name"], "b");

        let (_, text) = send_request(
            &cluster,
            request(
                Method::GET,
                &format!("{SECRETS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=1"),
                "",
                "",
            ),
        )
        .await;
        let initial = watch_lines(&text);
        assert_eq!(initial.last().unwrap()["type"], "BOOKMARK");
        assert_eq!(
            initial.last().unwrap()["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    }

    #[tokio::test]
    async fn watch_delivers_live_events_and_moves_objects_across_selectors() {
        let cluster = Arc::new(test_cluster());
        send(
            &cluster,
            Method::POST,
            "/api/v1/namespaces/tsb/configmaps",
            configmap("m", "web"),
        )
        .await;
        let watcher = {
            let cluster = Arc::clone(&cluster);
            tokio::spawn(async move {
                send_request(
                    &cluster,
                    request(
                        Method::GET,
                        "/api/v1/namespaces/tsb/configmaps?watch=1&labelSelector=tier%3Dweb&resourceVersion=1000000&timeoutSeconds=1",
                        "",
                        "",
                    ),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut moved = configmap("m", "db");
        moved["metadata"]["resourceVersion"] = json!("");
        send(
            &cluster,
            Method::PUT,
            "/api/v1/namespaces/tsb/configmaps/m",
            moved,
        )
        .await;
        send(
            &cluster,
            Method::POST,
            "/api/v1/namespaces/tsb/configmaps",
            configmap("n", "web"),
        )
        .await;
        let (_, text) = watcher.await.unwrap();
        let summary: Vec<(String, String)> = watch_lines(&text)
            .iter()
            .map(|event| {
                (
                    event["type"].to_string(),
                    event["object"]["metadata"]["name"].to_string(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("\"DELETED\"".to_string(), "\"m\"".to_string()),
                ("\"ADDED\"".to_string(), "\"n\"".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn watch_from_a_forgotten_version_is_expired() {
        let cluster = test_cluster();
        for index in 0..20_005 {
            cluster
                .store
                .create(
                    &ResourceId::new("", "secrets"),
                    secret(&format!("s{index}")),
                    WriteOptions::default(),
                )
                .unwrap();
        }
        let (status, text) = send_request(
            &cluster,
            request(
                Method::GET,
                &format!("{SECRETS}?watch=1&resourceVersion=3"),
                "",
                "",
            ),
        )
        .await;
        assert_eq!(status, 200);
        let events = watch_lines(&text);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "ERROR");
        assert_eq!(events[0]["object"]["code"], 410);
        assert_eq!(events[0]["object"]["reason"], "Expired");
        let resource = cluster.registry.find("", "v1", "secrets").unwrap();
        let error = ApiError::from_store(
            StoreError::Expired {
                requested: 3,
                oldest: 9,
            },
            &resource,
            "",
        );
        assert_eq!(error.code, 410);
        assert_eq!(error.reason, "Expired");
        assert_eq!(error.message, "too old resource version: 3 (9)");
        let (status, _) = get(&cluster, &format!("{SECRETS}?watch=1&resourceVersion=abc")).await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn patches_merge_json_and_strategic_with_415_for_custom_resources() {
        let cluster = test_cluster();
        send(
            &cluster,
            Method::POST,
            "/api/v1/namespaces/tsb/configmaps",
            configmap("p", "web"),
        )
        .await;
        let uri = "/api/v1/namespaces/tsb/configmaps/p";
        let (status, merged) = patch_with(
            &cluster,
            uri,
            "application/merge-patch+json",
            json!({"data": {"m": "1"}}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(merged["data"], json!({"k": "v", "m": "1"}));
        let (_, json_patched) = patch_with(
            &cluster,
            uri,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/data/k", "value": "w"}]),
        )
        .await;
        assert_eq!(json_patched["data"]["k"], "w");
        let (status, strategic) = patch_with(
            &cluster,
            uri,
            "application/strategic-merge-patch+json",
            json!({"data": {"s": "2"}}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(strategic["data"]["s"], "2");
        let managers: Vec<&str> = strategic["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|entry| entry["manager"].as_str())
            .collect();
        assert!(managers.contains(&"unit-test"), "{managers:?}");
        let (status, error) = patch_with(&cluster, uri, "text/plain", json!({})).await;
        assert_eq!(
            (status, error["reason"].as_str()),
            (415, Some("UnsupportedMediaType"))
        );

        send(
            &cluster,
            Method::POST,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd(),
        )
        .await;
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w", "namespace": "tsb"}, "spec": {"size": 1}});
        let (status, _) = send(
            &cluster,
            Method::POST,
            "/apis/example.com/v1/namespaces/tsb/widgets",
            widget,
        )
        .await;
        assert_eq!(status, 201);
        let widget_uri = "/apis/example.com/v1/namespaces/tsb/widgets/w";
        let (status, error) = patch_with(
            &cluster,
            widget_uri,
            "application/strategic-merge-patch+json",
            json!({"spec": {"size": 2}}),
        )
        .await;
        assert_eq!(status, 415);
        assert!(!error["message"].as_str().unwrap().contains("strategic"));
        let (_, merged) = patch_with(
            &cluster,
            widget_uri,
            "application/merge-patch+json",
            json!({"spec": {"size": 2}}),
        )
        .await;
        assert_eq!(merged["spec"]["size"], 2);
        assert_eq!(merged["metadata"]["generation"], 2);
        let (status, missing) = patch_with(
            &cluster,
            &format!("{SECRETS}/none"),
            "application/merge-patch+json",
            json!({}),
        )
        .await;
        assert_eq!(
            (status, missing["message"].as_str()),
            (404, Some("secrets \"none\" not found"))
        );
    }

    #[tokio::test]
    async fn server_side_apply_creates_updates_and_requires_a_manager() {
        let cluster = test_cluster();
        let uri = "/api/v1/namespaces/tsb/configmaps/applied";
        let body = configmap("applied", "web").to_string();
        let (status, error) = send_request(
            &cluster,
            request(Method::PATCH, uri, "application/apply-patch+yaml", &body),
        )
        .await;
        assert_eq!(status, 422, "{error}");
        let with_manager = format!("{uri}?fieldManager=tool&force=true");
        let (status, created) = send_request(
            &cluster,
            request(
                Method::PATCH,
                &with_manager,
                "application/apply-patch+yaml",
                &body,
            ),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        let entries = created["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["manager"], "tool");
        assert_eq!(entries[0]["operation"], "Apply");
        let yaml =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: changed\n";
        let (status, updated) = send_request(
            &cluster,
            request(
                Method::PATCH,
                &with_manager,
                "application/apply-patch+yaml",
                yaml,
            ),
        )
        .await;
        assert_eq!(status, 200, "{updated}");
        let updated: Value = serde_json::from_str(&updated).unwrap();
        assert_eq!(updated["data"]["k"], "changed");
    }

    #[test]
    fn apply_conflicts_read_like_the_real_server() {
        let registry = Registry::new();
        let configmaps = registry.find("", "v1", "configmaps").unwrap();
        let one = apply::ApplyConflict {
            fields: vec![("kubectl".into(), ".data.key".into())],
        };
        let error = apply_conflict_error(&configmaps, "c", &one);
        assert_eq!(error.code, 409);
        assert_eq!(error.reason, "Conflict");
        assert_eq!(
            error.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\": .data.key"
        );
        let causes = &error.details.as_ref().unwrap()["causes"];
        assert_eq!(causes[0]["reason"], "FieldManagerConflict");
        assert_eq!(causes[0]["field"], ".data.key");
        let two = apply::ApplyConflict {
            fields: vec![
                ("a".into(), ".data.x".into()),
                ("b".into(), ".data.y".into()),
            ],
        };
        assert!(
            apply_conflict_error(&configmaps, "c", &two)
                .message
                .starts_with("Apply failed with 2 conflicts: conflict with \"a\": .data.x")
        );
    }

    #[tokio::test]
    async fn dry_run_answers_without_persisting() {
        let cluster = test_cluster();
        let (status, answered) = send(
            &cluster,
            Method::POST,
            &format!("{SECRETS}?dryRun=All"),
            secret("dry"),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(answered["metadata"]["name"], "dry");
        assert!(
            cluster
                .store
                .get(&ResourceId::new("", "secrets"), "tsb", "dry")
                .is_none()
        );
        send(&cluster, Method::POST, SECRETS, secret("kept")).await;
        let version = cluster.store.resource_version();
        let (status, _) = send(
            &cluster,
            Method::DELETE,
            &format!("{SECRETS}/kept"),
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = patch_with(
            &cluster,
            &format!("{SECRETS}/kept?dryRun=All"),
            "application/merge-patch+json",
            json!({"data": {"k": null}}),
        )
        .await;
        assert_eq!(status, 200);
        let kept = cluster
            .store
            .get(&ResourceId::new("", "secrets"), "tsb", "kept")
            .unwrap();
        assert_eq!(kept["data"]["k"], "dg==");
        assert_eq!(cluster.store.resource_version(), version);
    }

    #[tokio::test]
    async fn crds_serve_their_resources_until_deleted() {
        let cluster = test_cluster();
        let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        let (status, created) = send(&cluster, Method::POST, crds, crd()).await;
        assert_eq!(status, 201, "{created}");
        let conditions = created["status"]["conditions"].as_array().unwrap();
        assert!(
            conditions.iter().any(
                |condition| condition["type"] == "Established" && condition["status"] == "True"
            )
        );
        assert!(
            conditions
                .iter()
                .any(|condition| condition["type"] == "NamesAccepted")
        );
        assert_eq!(created["status"]["acceptedNames"]["kind"], "Widget");
        let (_, discovery) = get(&cluster, "/apis/example.com/v1").await;
        assert_eq!(discovery["resources"][0]["name"], "widgets");
        assert_eq!(discovery["resources"][1]["name"], "widgets/status");
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w", "namespace": "tsb"}, "spec": {"size": 1},
                            "status": {"ready": true}});
        let (_, stored) = send(
            &cluster,
            Method::POST,
            "/apis/example.com/v1/namespaces/tsb/widgets",
            widget,
        )
        .await;
        assert!(
            stored.get("status").is_none(),
            "status is the subresource's: {stored}"
        );
        let (status, _) = send(&cluster, Method::POST, crds, crd()).await;
        assert_eq!(status, 409);

        let (status, _) = send(
            &cluster,
            Method::DELETE,
            &format!("{crds}/widgets.example.com"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = get(&cluster, "/apis/example.com/v1/namespaces/tsb/widgets/w").await;
        assert_eq!(status, 404);
        assert!(
            cluster
                .store
                .get(&ResourceId::new("example.com", "widgets"), "tsb", "w")
                .is_none()
        );
        let mut invalid = crd();
        invalid["spec"]["scope"] = json!("Everywhere");
        let (status, _) = send(&cluster, Method::POST, crds, invalid).await;
        assert_eq!(status, 422);
    }

    #[tokio::test]
    async fn deleting_a_namespace_deletes_its_contents() {
        let cluster = test_cluster();
        send(&cluster, Method::POST, SECRETS, secret("inside")).await;
        let mut outside = secret("outside");
        outside["metadata"]["namespace"] = json!("other");
        send(
            &cluster,
            Method::POST,
            "/api/v1/namespaces/other/secrets",
            outside,
        )
        .await;
        let (status, _) = send(
            &cluster,
            Method::DELETE,
            "/api/v1/namespaces/tsb",
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        let secrets = ResourceId::new("", "secrets");
        assert!(cluster.store.get(&secrets, "tsb", "inside").is_none());
        assert!(cluster.store.get(&secrets, "other", "outside").is_some());
    }

    #[tokio::test]
    async fn scale_and_status_subresources_touch_only_their_part() {
        let cluster = test_cluster();
        let deployments = "/apis/apps/v1/namespaces/tsb/deployments";
        let (status, created) =
            send(&cluster, Method::POST, deployments, deployment("web", 1)).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["metadata"]["generation"], 1);
        let (_, scale) = get(&cluster, &format!("{deployments}/web/scale")).await;
        assert_eq!(scale["apiVersion"], "autoscaling/v1");
        assert_eq!(scale["spec"]["replicas"], 1);
        assert_eq!(scale["status"]["selector"], "app=web,tier=front");
        let (status, scaled) = patch_with(
            &cluster,
            &format!("{deployments}/web/scale"),
            "application/merge-patch+json",
            json!({"spec": {"replicas": 3}}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(scaled["spec"]["replicas"], 3);
        let mut replaced = scaled.clone();
        replaced["spec"]["replicas"] = json!(4);
        let (status, _) = send(
            &cluster,
            Method::PUT,
            &format!("{deployments}/web/scale"),
            replaced,
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = send(
            &cluster,
            Method::PUT,
            &format!("{deployments}/web/scale"),
            json!({"spec": {"replicas": -1}}),
        )
        .await;
        assert_eq!(status, 422);
        let (_, stored) = get(&cluster, &format!("{deployments}/web")).await;
        assert_eq!(stored["spec"]["replicas"], 4);
        assert_eq!(stored["metadata"]["generation"], 3);

        let mut status_write = stored.clone();
        status_write["status"] = json!({"readyReplicas": 4});
        status_write["spec"]["replicas"] = json!(9);
        let (_, after_status) = send(
            &cluster,
            Method::PUT,
            &format!("{deployments}/web/status"),
            status_write,
        )
        .await;
        assert_eq!(after_status["status"]["readyReplicas"], 4);
        assert_eq!(
            after_status["spec"]["replicas"], 4,
            "/status leaves spec alone"
        );
        assert_eq!(after_status["metadata"]["generation"], 3);

        let mut main_write = after_status.clone();
        main_write["status"] = json!({"readyReplicas": 0});
        let (_, after_main) = send(
            &cluster,
            Method::PUT,
            &format!("{deployments}/web"),
            main_write,
        )
        .await;
        assert_eq!(
            after_main["status"]["readyReplicas"], 4,
            "the main resource leaves status alone"
        );
        let (status, _) = get(&cluster, "/api/v1/namespaces/tsb/secrets/x/scale").await;
        assert_eq!(status, 404);
        send(&cluster, Method::POST, SECRETS, secret("x")).await;
        let (status, _) = get(&cluster, "/api/v1/namespaces/tsb/secrets/x/status").await;
        assert_eq!(status, 404, "Secrets have no status subresource");
        let (status, _) = get(&cluster, "/api/v1/secrets/x").await;
        assert_eq!(status, 404, "a namespaced object needs its namespace");
        let (status, _) = send(&cluster, Method::POST, "/api/v1/secrets", secret("y")).await;
        assert_eq!(status, 405);
    }

    #[tokio::test]
    async fn deployments_get_ready_through_the_controller_loop() {
        let cluster = Arc::new(test_cluster());
        send(
            &cluster,
            Method::POST,
            "/apis/apps/v1/namespaces/tsb/deployments",
            deployment("web", 2),
        )
        .await;
        let controllers = tokio::spawn(run_controllers(Arc::clone(&cluster)));
        let deadline = Instant::now() + Duration::from_secs(5);
        let ready = loop {
            let stored = cluster
                .store
                .get(&ResourceId::new("apps", "deployments"), "tsb", "web")
                .unwrap();
            if stored["status"]["readyReplicas"] == 2 || Instant::now() > deadline {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        controllers.abort();
        assert_eq!(ready["status"]["readyReplicas"], 2, "{ready}");
        assert_eq!(ready["status"]["observedGeneration"], 1);
    }

    #[tokio::test]
    async fn faults_answer_statuses_and_counters_count_api_requests() {
        let cluster = test_cluster();
        cluster.faults.add_rule(FaultRule {
            verb: Some("list".into()),
            path_contains: Some("/secrets".into()),
            nth: None,
            times: Some(1),
            action: FaultAction::Status(403),
        });
        let (status, forbidden) = get(&cluster, SECRETS).await;
        assert_eq!(status, 403);
        assert_eq!(forbidden["reason"], "Forbidden");
        assert_eq!(
            forbidden["message"],
            "secrets is forbidden: User \"tester\" cannot list resource \"secrets\" in API group \"\" in the namespace \"tsb\""
        );
        let (status, _) = get(&cluster, SECRETS).await;
        assert_eq!(status, 200);
        cluster.faults.add_rule(FaultRule {
            verb: None,
            path_contains: Some("/version".into()),
            nth: None,
            times: None,
            action: FaultAction::Status(500),
        });
        let (status, failure) = get(&cluster, "/version").await;
        assert_eq!(
            (status, failure["reason"].as_str()),
            (500, Some("InternalError"))
        );
        let counters = cluster.faults.counters();
        assert_eq!(counters[&format!("list {SECRETS}")], 2);
        assert_eq!(counters["get /version"], 1);
        cluster.faults.clear();
        cluster.faults.add_rule(FaultRule {
            verb: Some("get".into()),
            path_contains: None,
            nth: None,
            times: None,
            action: FaultAction::Timeout,
        });
        let held = tokio::time::timeout(Duration::from_millis(200), get(&cluster, "/api")).await;
        assert!(held.is_err(), "a timeout fault holds the request open");
    }

    #[tokio::test]
    async fn discovery_version_and_openapi_documents() {
        let cluster = test_cluster();
        let (_, version) = get(&cluster, "/version").await;
        assert_eq!(version["gitVersion"], GIT_VERSION);
        assert_eq!(version["minor"], "33");
        let (_, core) = get(&cluster, "/api").await;
        assert_eq!(core["versions"], json!(["v1"]));
        assert_eq!(
            core["serverAddressByClientCIDRs"][0]["serverAddress"],
            "127.0.0.1:6443"
        );
        let (_, groups) = get(&cluster, "/apis").await;
        assert_eq!(groups["kind"], "APIGroupList");
        let (_, apps) = get(&cluster, "/apis/apps/v1").await;
        assert_eq!(apps["groupVersion"], "apps/v1");
        let (_, group) = get(&cluster, "/apis/apps").await;
        assert_eq!(group["kind"], "APIGroup");
        let (status, healthy) =
            send_request(&cluster, request(Method::GET, "/readyz", "", "")).await;
        assert_eq!((status, healthy.as_str()), (200, "ok"));
        let (_, index) = get(&cluster, "/openapi/v3").await;
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        let (status, document) = get(&cluster, url).await;
        assert_eq!(status, 200);
        assert_eq!(document["openapi"], "3.0.0");
        let (status, v2) = get(&cluster, "/openapi/v2").await;
        assert_eq!(status, 200);
        assert_eq!(v2["definitions"], json!({}));
        let mut protobuf = request(Method::GET, "/openapi/v2", "", "");
        protobuf.accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf".into();
        let (status, empty) = send_request(&cluster, protobuf).await;
        assert_eq!((status, empty.as_str()), (200, ""));
        let (status, missing) = get(&cluster, "/apis/nothing.io/v1/things").await;
        assert_eq!(status, 404);
        assert_eq!(
            missing["message"],
            "the server could not find the requested resource"
        );
        let (status, _) = send(&cluster, Method::POST, "/version", Value::Null).await;
        assert_eq!(status, 405);
    }

    #[tokio::test]
    async fn reviews_answer_who_the_caller_is_and_allow_everything() {
        let cluster = test_cluster();
        let (status, whoami) = send(
            &cluster,
            Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(whoami["status"]["userInfo"]["username"], "tester");
        let (status, can_i) = send(
            &cluster,
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": {"verb": "delete", "resource": "secrets"}}}),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(can_i["status"]["allowed"], true);
        assert_eq!(can_i["spec"]["resourceAttributes"]["verb"], "delete");
        let (status, _) = get(
            &cluster,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        )
        .await;
        assert_eq!(status, 405);
    }

    #[test]
    fn targets_tell_namespaced_paths_from_namespace_subresources() {
        let cluster = test_cluster();
        let target =
            parse_target(&cluster, "", "v1", &["namespaces", "tsb", "secrets", "x"]).unwrap();
        assert_eq!(target.resource.plural, "secrets");
        assert_eq!(target.namespace.as_deref(), Some("tsb"));
        assert_eq!(target.name.as_deref(), Some("x"));
        let namespace = parse_target(&cluster, "", "v1", &["namespaces", "tsb", "status"]).unwrap();
        assert_eq!(namespace.resource.plural, "namespaces");
        assert_eq!(namespace.name.as_deref(), Some("tsb"));
        assert_eq!(namespace.subresource.as_deref(), Some("status"));
        let all = parse_target(&cluster, "apps", "v1", &["deployments"]).unwrap();
        assert!(all.namespace.is_none() && all.name.is_none());
        assert!(parse_target(&cluster, "", "v1", &["nothings"]).is_err());
        assert!(
            parse_target(
                &cluster,
                "",
                "v1",
                &["namespaces", "a", "secrets", "b", "c", "d"]
            )
            .is_err()
        );
    }

    #[test]
    fn field_manager_defaults_to_the_user_agent_program() {
        let mut request = request(Method::POST, "/x", "", "");
        request.user_agent =
            "kubectl-client-side-apply/v1.32.4 (linux/amd64) kubernetes/abc".into();
        assert_eq!(request.field_manager(), "kubectl-client-side-apply");
        request.query.insert("fieldManager".into(), "mine".into());
        assert_eq!(request.field_manager(), "mine");
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        let query = parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&bad=%zz&empty");
        assert_eq!(query["labelSelector"], "app=web,tier in (a)");
        assert_eq!(query["watch"], "1");
        assert_eq!(query["bad"], "%zz");
        assert_eq!(query["empty"], "");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("tsb".to_string(), "name-1".to_string());
        assert_eq!(decode_continue(&encode_continue(&key)).unwrap(), key);
        assert_eq!(decode_continue("e30").unwrap_err().code, 400);
    }

    #[test]
    fn reads_the_common_name_of_a_client_certificate() {
        let authority = CertAuthority::new_root("test CA");
        let issued = authority.issue_client("active-admin", &["system:masters"]);
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        assert_eq!(common_name(&der).as_deref(), Some("active-admin"));
        assert_eq!(common_name(&[0x30, 0x03, 0x02]), None);
        assert_eq!(common_name(&[]), None);
    }

    async fn start_sandbox(dir: &Path) -> Sandbox {
        Sandbox::start(SandboxOptions {
            clusters: vec![ClusterOptions {
                name: "solo".into(),
                seed: SeedKind::Empty,
                certs: CertVariant::SharedRoot,
            }],
            kubeconfig_path: dir.join("kubeconfig"),
            namespace: "tsb".into(),
            ready_delay: Duration::from_millis(10),
            floating_dns_name: "tsb.example.com".into(),
        })
        .await
        .unwrap()
    }

    fn address_of(handle: &ClusterHandle) -> String {
        handle
            .server_url()
            .trim_start_matches("https://")
            .to_string()
    }

    #[tokio::test]
    async fn duplicate_cluster_names_are_refused() {
        let cluster = ClusterOptions {
            name: "twin".into(),
            seed: SeedKind::Empty,
            certs: CertVariant::SharedRoot,
        };
        let refused = Sandbox::start(SandboxOptions {
            clusters: vec![cluster.clone(), cluster],
            kubeconfig_path: std::env::temp_dir().join("mp-sandbox-never-written"),
            namespace: "tsb".into(),
            ready_delay: Duration::ZERO,
            floating_dns_name: "tsb.example.com".into(),
        })
        .await;
        let error = refused.err().expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("twin"));
    }

    #[tokio::test]
    async fn set_down_refuses_connections_and_up_reopens_the_same_port() {
        let dir = std::env::temp_dir().join(format!("mp-sandbox-down-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sandbox = start_sandbox(&dir).await;
        assert!(sandbox.kubeconfig().exists());
        let handle = sandbox.cluster("solo");
        assert_eq!(handle.name(), "solo");
        assert!(handle.object("", "namespaces", None, "default").is_some());
        let address = address_of(handle);
        tokio::net::TcpStream::connect(&address).await.unwrap();
        handle.set_down(true).await.unwrap();
        assert!(tokio::net::TcpStream::connect(&address).await.is_err());
        handle.set_down(false).await.unwrap();
        tokio::net::TcpStream::connect(&address).await.unwrap();
        assert_eq!(address_of(handle), address);

        let admin = sandbox.serve_admin().await.unwrap();
        assert!(admin.starts_with("http://127.0.0.1:"));
        drop(sandbox);
        // Aborted tasks release their sockets on the next scheduler turn.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(&address).await.is_err());
        let admin_address = admin.trim_start_matches("http://");
        assert!(tokio::net::TcpStream::connect(admin_address).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_config_offers_h2_and_http1() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let authority = CertAuthority::new_root("test CA");
        let serving = authority.issue_server(
            "server",
            &["localhost"],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            Duration::from_secs(3600),
        );
        let config = tls_config(&serving.cert_pem, &serving.key_pem, authority.cert_pem()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(tls_config("garbage", &serving.key_pem, authority.cert_pem()).is_err());
    }
}
