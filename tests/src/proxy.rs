//! A proxy in front of a real kube-apiserver for the failure tests and the
//! bench: what a real API server cannot be asked to do. It counts requests
//! by verb and path (and by User-Agent), adds latency, answers the Nth matching request with a
//! Status or never, and goes down and up on the same address (the knobs are
//! [`Faults`]), with an admin API for scripts ([`serve_admin`]).
//!
//! Identity: a request carrying `Authorization` (a bearer token) is
//! forwarded with it, so the API server authenticates and authorises that
//! user for real (RBAC denials are real); any other request is forwarded
//! with the cluster admin's client certificate.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HOST};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::faults::{FaultAction, Faults};
use crate::pki::CertAuthority;

/// The API server behind a proxy, and how to reach it as the admin.
pub struct Upstream {
    /// `host:port` of its HTTPS endpoint.
    pub address: SocketAddr,
    /// The name its serving certificate carries for `address` (e.g. `localhost`).
    pub server_name: String,
    /// PEM of the CA its serving certificate chains to.
    pub ca_pem: String,
    /// PEM of the admin's client certificate and key.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Upstream {
    /// How `context` of `kubeconfig` reaches its API server, as `kubectl
    /// config view --raw --flatten --minify` shows it (files inlined): an
    /// `https://IP:PORT` (or `localhost`) server and an admin client
    /// certificate, as the real plane's contexts have.
    ///
    /// # Errors
    /// kubectl's message, or what the context lacks.
    pub fn from_kubectl(
        kubectl: &std::path::Path,
        kubeconfig: &std::path::Path,
        context: &str,
    ) -> std::io::Result<Upstream> {
        use base64::Engine;
        let output = std::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "config",
                "view",
                "--raw",
                "--flatten",
                "--minify",
                "--context",
                context,
                "-o",
                "json",
            ])
            .output()?;
        if !output.status.success() {
            return Err(invalid(
                context,
                String::from_utf8_lossy(&output.stderr).trim(),
            ));
        }
        let view: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|error| invalid(context, error))?;
        let decode = |value: &serde_json::Value, what: &str| -> std::io::Result<String> {
            let text = value
                .as_str()
                .ok_or_else(|| invalid(context, format!("no {what}")))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|error| invalid(what, error))?;
            String::from_utf8(bytes).map_err(|error| invalid(what, error))
        };
        let cluster = &view["clusters"][0]["cluster"];
        let user = &view["users"][0]["user"];
        let server = cluster["server"].as_str().unwrap_or("");
        let host_port = server.trim_start_matches("https://").trim_end_matches('/');
        let address: SocketAddr = host_port
            .replace("localhost", "127.0.0.1")
            .parse()
            .map_err(|_| invalid(context, format!("server {server:?} is not https://IP:PORT")))?;
        Ok(Upstream {
            address,
            server_name: address.ip().to_string(),
            ca_pem: decode(
                &cluster["certificate-authority-data"],
                "certificate-authority-data",
            )?,
            client_cert_pem: decode(&user["client-certificate-data"], "client-certificate-data")?,
            client_key_pem: decode(&user["client-key-data"], "client-key-data")?,
        })
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// How requests reach the upstream: with the admin's certificate, or
/// (for requests that bring their own token) without a certificate.
struct Forwarder {
    address: SocketAddr,
    server_name: ServerName<'static>,
    host: String,
    as_admin: TlsConnector,
    as_caller: TlsConnector,
    /// Upstream connections of each identity, kept for the next request.
    admin_connections: Pool,
    caller_connections: Pool,
    /// Served under this path only (e.g. Rancher's `/k8s/clusters/c-abc`).
    path_prefix: std::sync::OnceLock<String>,
}

/// A running proxy; dropping it stops it.
pub struct ApiProxy {
    address: SocketAddr,
    ca_pem: String,
    admin: crate::pki::IssuedCert,
    faults: Arc<Faults>,
    forwarder: Arc<Forwarder>,
    tls: Arc<rustls::ServerConfig>,
    accept_loop: Mutex<Option<JoinHandle<()>>>,
}

fn invalid(what: &str, error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {error}"))
}

fn certificates(pem: &str, what: &str) -> std::io::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(what, error))
}

impl Forwarder {
    fn new(upstream: &Upstream) -> std::io::Result<Forwarder> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates(&upstream.ca_pem, "upstream CA")? {
            roots
                .add(ca)
                .map_err(|error| invalid("upstream CA", error))?;
        }
        let roots = Arc::new(roots);
        let builder = || {
            rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map(|builder| builder.with_root_certificates(Arc::clone(&roots)))
                .map_err(|error| invalid("TLS versions", error))
        };
        let as_admin = builder()?
            .with_client_auth_cert(
                certificates(&upstream.client_cert_pem, "admin certificate")?,
                PrivateKeyDer::from_pem_slice(upstream.client_key_pem.as_bytes())
                    .map_err(|error| invalid("admin key", error))?,
            )
            .map_err(|error| invalid("admin certificate", error))?;
        let as_caller = builder()?.with_no_client_auth();
        Ok(Forwarder {
            address: upstream.address,
            server_name: ServerName::try_from(upstream.server_name.clone())
                .map_err(|error| invalid("upstream server name", error))?,
            host: upstream.address.to_string(),
            as_admin: TlsConnector::from(Arc::new(as_admin)),
            as_caller: TlsConnector::from(Arc::new(as_caller)),
            admin_connections: Pool::default(),
            caller_connections: Pool::default(),
            path_prefix: std::sync::OnceLock::new(),
        })
    }

    /// `path_and_query` without the proxy's path prefix; `None` outside it.
    fn unprefixed<'a>(&self, path_and_query: &'a str) -> Option<&'a str> {
        match self.path_prefix.get() {
            None => Some(path_and_query),
            Some(prefix) => path_and_query
                .strip_prefix(prefix.as_str())
                .filter(|rest| rest.starts_with('/')),
        }
    }

    /// Sends `request` upstream (HTTP/1.1) and streams the answer back,
    /// watches included: on an idle connection of its identity when there
    /// is one, else on a new one, kept for later requests once answered.
    async fn forward(&self, mut request: Request<Incoming>) -> std::io::Result<Response<Body>> {
        let (connector, pool) = if request.headers().contains_key(AUTHORIZATION) {
            (&self.as_caller, &self.caller_connections)
        } else {
            (&self.as_admin, &self.admin_connections)
        };
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let path = self.unprefixed(path).unwrap_or(path).to_string();
        *request.uri_mut() = path
            .parse()
            .map_err(|error| invalid("request path", error))?;
        *request.version_mut() = hyper::Version::HTTP_11;
        let host = self.host.parse().map_err(|error| invalid("host", error))?;
        request.headers_mut().insert(HOST, host);
        if let Some(mut sender) = pool.take() {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    pool.give_back(sender);
                    return Ok(response.map(BodyExt::boxed));
                }
                // The API server closed the idle connection: unsent, the
                // request goes on a new one.
                Err(mut error) => match error.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(std::io::Error::other(error.into_error())),
                },
            }
        }
        let tcp = TcpStream::connect(self.address).await?;
        // Without it, Nagle's algorithm and delayed ACKs hold a request's
        // second write (hyper sends headers and body apart) for ~40 ms.
        tcp.set_nodelay(true)?;
        let tls = connector.connect(self.server_name.clone(), tcp).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        pool.give_back(sender);
        Ok(response.map(BodyExt::boxed))
    }
}

/// Upstream HTTP/1.1 connections kept between requests, as kubectl's and
/// the plugins' own clients keep theirs: without them every request paid
/// a TLS handshake with the API server (~1.5 ms of its CPU with the test
/// clusters' RSA keys), which at 50 requests at once cost more than the
/// requests.
#[derive(Default)]
struct Pool(Mutex<Vec<hyper::client::conn::http1::SendRequest<Incoming>>>);

impl Pool {
    /// A connection that can take a request now (its last answer read to
    /// the end), if any.
    fn take(&self) -> Option<hyper::client::conn::http1::SendRequest<Incoming>> {
        let mut idle = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.retain(|sender| !sender.is_closed());
        let ready = idle.iter().position(|sender| sender.is_ready())?;
        Some(idle.swap_remove(ready))
    }

    /// Keeps `sender` for a later request, once its answer has been read.
    fn give_back(&self, sender: hyper::client::conn::http1::SendRequest<Incoming>) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(sender);
    }
}

/// The Kubernetes verb of a request, from its method and path (a named
/// object or a collection), as the API server's audit log names it.
pub fn verb_of(method: &Method, path: &str, query: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[][..],
    };
    let named = match rest {
        // A namespaced resource: /namespaces/NS/PLURAL[/NAME[/SUBRESOURCE]].
        ["namespaces", _namespace, _plural, tail @ ..] => {
            tail.first().is_some_and(|name| !name.is_empty())
        }
        // A cluster-scoped one, namespaces themselves included: /PLURAL[/NAME].
        [_plural, name, ..] => !name.is_empty(),
        _ => false,
    };
    let watch = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    crate::faults::kubernetes_verb(method, named, watch)
}

fn status_response(code: u16) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "code": code,
        "reason": status.canonical_reason().unwrap_or("Unknown").replace(' ', ""),
        "message": format!("injected by the test proxy: {code}"),
    });
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    response
}

async fn handle(
    faults: &Faults,
    forwarder: &Forwarder,
    request: Request<Incoming>,
) -> Response<Body> {
    let Some(path) = forwarder.unprefixed(request.uri().path()) else {
        return status_response(404);
    };
    let path = path.to_string();
    let query = request.uri().query().unwrap_or("");
    let verb = verb_of(request.method(), &path, query);
    if verb == "list" || verb == "watch" {
        faults.on_list(&path, query);
    }
    faults.on_read(verb, &path, query);
    let fault = faults.on_request(verb, &path);
    faults.on_user_agent(
        request
            .headers()
            .get(hyper::header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
    );
    let latency = faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(FaultAction::Status(code)) => status_response(code),
        // Never answered: the client's own timeout ends it.
        Some(FaultAction::Timeout) => std::future::pending().await,
        None => match forwarder.forward(request).await {
            Ok(response) => response,
            // The API server itself unreachable: what a gateway says.
            Err(_) => status_response(502),
        },
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    faults: Arc<Faults>,
    forwarder: Arc<Forwarder>,
) {
    let acceptor = TlsAcceptor::from(tls);
    // Owning the connections here means aborting this task drops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true); // as upstream: no ~40 ms Nagle stalls
                    let (acceptor, faults, forwarder) = (acceptor.clone(), Arc::clone(&faults), Arc::clone(&forwarder));
                    connections.spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = service_fn(move |request| {
                            let (faults, forwarder) = (Arc::clone(&faults), Arc::clone(&forwarder));
                            async move { Ok::<_, Infallible>(handle(&faults, &forwarder, request).await) }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
                // Out of file descriptors and the like: back off, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

impl ApiProxy {
    /// Starts a proxy for `upstream` on 127.0.0.1 (a free port), serving TLS
    /// with a certificate of its own CA ([`ApiProxy::ca_pem`]).
    pub async fn start(upstream: &Upstream) -> std::io::Result<ApiProxy> {
        let authority = CertAuthority::new_root("kubectl-mp test proxy CA");
        let serving = authority.issue_server(
            "kubectl-mp test proxy",
            &["localhost"],
            &[Ipv4Addr::LOCALHOST.into()],
            Duration::from_secs(24 * 3600),
        );
        ApiProxy::start_serving(
            upstream,
            &serving,
            authority.cert_pem(),
            Ipv4Addr::LOCALHOST.into(),
        )
        .await
    }

    /// As [`ApiProxy::start`], on a free port of `listen` (e.g. `::1`),
    /// serving `serving` (its chain and key) as it is, for tests of what
    /// clients accept; `ca_pem` is what [`ApiProxy::ca_pem`] then returns.
    pub async fn start_serving(
        upstream: &Upstream,
        serving: &crate::pki::IssuedCert,
        ca_pem: &str,
        listen: std::net::IpAddr,
    ) -> std::io::Result<ApiProxy> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid("TLS versions", error))?
        .with_no_client_auth()
        .with_single_cert(
            certificates(&serving.cert_pem, "proxy certificate")?,
            PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes())
                .map_err(|error| invalid("proxy key", error))?,
        )
        .map_err(|error| invalid("proxy certificate", error))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind((listen, 0)).await?;
        // Not checked by the proxy (requests without a token go upstream as
        // the admin): kubectl only insists that a user has credentials.
        let clients = CertAuthority::new_root("kubectl-mp test proxy client CA");
        let proxy = ApiProxy {
            address: listener.local_addr()?,
            ca_pem: ca_pem.to_string(),
            admin: clients.issue_client("kubectl-mp-test-admin", &["system:masters"]),
            faults: Arc::new(Faults::default()),
            forwarder: Arc::new(Forwarder::new(upstream)?),
            tls: Arc::new(tls),
            accept_loop: Mutex::new(None),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    fn serve(&self, listener: TcpListener) {
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.tls),
            Arc::clone(&self.faults),
            Arc::clone(&self.forwarder),
        ));
        let previous = self
            .accept_loop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(task);
        if let Some(previous) = previous {
            previous.abort();
        }
    }

    /// Serves the API under `prefix` (e.g. `/k8s/clusters/c-abc`, as
    /// Rancher does) and nowhere else (404), from now on. Set once.
    pub fn serve_under(&self, prefix: &str) {
        let _ = self
            .forwarder
            .path_prefix
            .set(prefix.trim_end_matches('/').to_string());
    }

    /// `https://127.0.0.1:PORT` (`https://[::1]:PORT` on IPv6), for a kubeconfig's `server`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The CA of the proxy's serving certificate, for `certificate-authority-data`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client certificate (PEM, then its key) for a kubeconfig user: kubectl
    /// insists on credentials, and requests without a token are forwarded
    /// as the admin anyway, so the proxy does not check it.
    pub fn admin_client(&self) -> (&str, &str) {
        (&self.admin.cert_pem, &self.admin.key_pem)
    }

    /// Counters, latency and fault rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Down: the listener and every open connection close, so clients see
    /// the server refuse. Up: listening again on the same address.
    pub async fn set_down(&self, down: bool) -> std::io::Result<()> {
        if down {
            let task = self
                .accept_loop
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(task) = task {
                task.abort();
                let _ = task.await;
            }
            return Ok(());
        }
        let running = self
            .accept_loop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some();
        if !running {
            self.serve(TcpListener::bind(self.address).await?);
        }
        Ok(())
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        if let Some(task) = self
            .accept_loop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// The proxies' knobs over plain HTTP on 127.0.0.1, for scripts (the bench):
/// `GET|DELETE /clusters/NAME/counters`, `PUT /clusters/NAME/latency` with
/// `{"ms": N}`, `POST|DELETE /clusters/NAME/faults` (a [`crate::faults::FaultRule`]
/// as JSON), `POST /clusters/NAME/down` and `/up`. Answers JSON; stops when
/// the returned task is aborted.
pub async fn serve_admin(
    proxies: Vec<(String, Arc<ApiProxy>)>,
) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let proxies = Arc::new(proxies);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let proxies = Arc::clone(&proxies);
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let proxies = Arc::clone(&proxies);
                            async move { Ok::<_, Infallible>(admin(&proxies, request).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok((url, task))
}

fn json_answer(code: u16, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    response
}

async fn admin(proxies: &[(String, Arc<ApiProxy>)], request: Request<Incoming>) -> Response<Body> {
    use serde_json::json;
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return json_answer(400, &json!({"error": error.to_string()})),
    };
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let ["clusters", name, knob] = segments.as_slice() else {
        return json_answer(404, &json!({"error": format!("no such path {path}")}));
    };
    let Some((_, proxy)) = proxies.iter().find(|(known, _)| known == name) else {
        return json_answer(404, &json!({"error": format!("no cluster named {name}")}));
    };
    let faults = proxy.faults();
    let ok = || json_answer(200, &json!({"ok": true}));
    match (&method, *knob) {
        (&Method::GET, "counters") => json_answer(200, &json!(faults.counters())),
        (&Method::DELETE, "counters") => {
            faults.reset_counters();
            ok()
        }
        (&Method::PUT, "latency") => match serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value["ms"].as_u64())
        {
            Some(ms) => {
                faults.set_latency(Duration::from_millis(ms));
                ok()
            }
            None => json_answer(400, &json!({"error": "expected {\"ms\": N}"})),
        },
        (&Method::POST, "faults") => match serde_json::from_slice(&body) {
            Ok(rule) => {
                faults.add_rule(rule);
                ok()
            }
            Err(error) => json_answer(
                400,
                &json!({"error": format!("invalid fault rule: {error}")}),
            ),
        },
        (&Method::DELETE, "faults") => {
            faults.clear();
            ok()
        }
        (&Method::POST, "down" | "up") => match proxy.set_down(*knob == "down").await {
            Ok(()) => ok(),
            Err(error) => json_answer(500, &json!({"error": error.to_string()})),
        },
        _ => json_answer(
            405,
            &json!({"error": format!("{method} {path} is not supported")}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_path_shape() {
        let cases = [
            (Method::GET, "/api/v1/namespaces/tsb/secrets", "", "list"),
            (Method::GET, "/api/v1/namespaces/tsb/secrets/x", "", "get"),
            (Method::GET, "/api/v1/namespaces/tsb", "", "get"),
            (Method::GET, "/api/v1/namespaces", "", "list"),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/tsb/deployments",
                "watch=true&resourceVersion=1",
                "watch",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/tsb/deployments/tsb/scale",
                "",
                "patch",
            ),
            (Method::POST, "/api/v1/namespaces/tsb/secrets", "", "create"),
            (
                Method::PUT,
                "/api/v1/namespaces/tsb/configmaps/j",
                "",
                "update",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/tsb/secrets/x",
                "",
                "delete",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/tsb/secrets",
                "",
                "deletecollection",
            ),
            (
                Method::GET,
                "/apis/install.tetrate.io/v1alpha1/namespaces/tsb/managementplanes/managementplane",
                "",
                "get",
            ),
            (Method::GET, "/version", "", "list"),
        ];
        for (method, path, query, verb) in cases {
            assert_eq!(
                verb_of(&method, path, query),
                verb,
                "{method} {path}?{query}"
            );
        }
    }
}
