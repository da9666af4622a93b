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
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        // Several sandboxes in one process race to install it; any winner is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared_root = CertAuthority::new_root("mp-sandbox shared root CA");
        let serving_ca = CertAuthority::new_root("mp-sandbox API CA");
        let mut clusters = Vec::with_capacity(options.clusters.len());
        let mut client_certs = Vec::with_capacity(options.clusters.len());
        for (index, cluster_options) in options.clusters.iter().enumerate() {
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
                front_address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + index as u8)),
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
            clusters.push(ClusterHandle {
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
    match (&request.method, target.name.is_some()) {
        (&Method::GET, _) if request.flag("watch") => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
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
    if let Some(namespace) = &target.namespace
        && namespace.is_empty()
    {
        return Err(ApiError::path_not_found());
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
        _ => Err(ApiError::new(
            405,
            format!("the server does not allow this method on the requested resource"),
        )),
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
        return Err(ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        ));
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
        ["openapi", "v3"] => Ok(json_response(200, &cluster.registry.openapi_index())),
        ["openapi", "v3", rest @ ..] => cluster
            .registry
            .openapi_document(&rest.join("/"))
            .map(|document| json_response(200, &document))
            .ok_or_else(ApiError::path_not_found),
        _ => Err(ApiError::path_not_found()),
    }
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
    target.name.as_deref().ok_or_else(|| {
        ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        )
    })
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
    let Subscription {
        current,
        replay,
        resource_version,
        live,
    } = cluster
        .store
        .subscribe(&resource.id(), since)
        .map_err(|error| ApiError::from_store(error, resource, ""))?;
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
        Err(json_error) => serde_saphyr::from_slice::<Value>(body).map_err(|_| {
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
        fold_string_data(resource, &mut object);
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
            fold_string_data(resource, &mut object);
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

/// What the API server does to every written Secret: `stringData` is a
/// write-only convenience, folded into `data`.
fn fold_string_data(resource: &ResourceType, object: &mut Value) {
    if !(resource.group.is_empty() && resource.plural == "secrets") {
        return;
    }
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
        ("apps", "deployments") => {
            if object["spec"]["replicas"].is_null() {
                object["spec"]["replicas"] = json!(1);
            }
        }
        ("", "secrets") => {
            if object["type"].as_str().is_none_or(str::is_empty) {
                object["type"] = json!("Opaque");
            }
        }
        ("", "namespaces") => {
            if object["status"]["phase"].is_null() {
                object["status"] = json!({"phase": "Active"});
            }
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
        return Err(ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        ));
    }
    let object = parse_body(request)?;
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
        _ => ApiError::new(
            405,
            "the server does not allow this method on the requested resource",
        )
        .response(),
    }
}
