//! How a client reaches its API server: kube's request layers (base URI,
//! credentials, headers, retries) over a TLS configuration of ours that
//! accepts what kubectl's Go TLS accepts and refuses what it refuses.
//!
//! kube's own TLS set-up (rustls with webpki) refuses two kubeconfigs that
//! kubectl uses:
//! - a client certificate in X.509 **v1** (what `openssl x509 -req` makes
//!   without extensions, and microk8s writes): rustls checks the key against
//!   the certificate by parsing it with webpki, which reads v3 only. Here the
//!   chain goes to rustls unparsed, and the key is checked against it with
//!   x509-parser, which reads v1 ([`crate::secrets::certs::key_matches`]), as Go's
//!   `tls.X509KeyPair` checks it.
//! - a `certificate-authority` holding the server's own certificate: Go
//!   trusts a certificate found in the CA file as it is (crypto/x509
//!   `Verify`: a leaf in the roots is its own chain), webpki needs its
//!   issuer. Here a server certificate found byte for byte in the CA file is
//!   trusted once it is within its validity and names the server; any other
//!   goes through webpki, for which every certificate of the file is an
//!   anchor (an intermediate included, as in Go).
//!
//! As with kubectl, a server certificate naming the server only in its CN
//! is refused (no subjectAltName), and `insecure-skip-tls-verify` together
//! with a CA is an error.

use std::sync::Arc;

use kube::client::{ClientBuilder, ConfigExt};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use secrecy::ExposeSecret;

use crate::error::Error;
use crate::kube::exec_credential::{Credential, ExecPlugin, ExecToken};

/// TCP to the API server (or the proxy) with Nagle's algorithm off, as Go's
/// net package, and so kubectl, has it: requests sent at once are written
/// one after another, and with it on each write after the first waited in
/// the kernel for the server's delayed ACK, ~40 ms (an import's concurrent
/// creates took 45 ms instead of 3 on a loopback API server).
fn tcp_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp
}

/// Builds the client for a resolved kubeconfig context. Makes no request;
/// runs the context's exec credential plugin, if any, once.
///
/// # Errors
/// A usage error (exit 2) saying what is wrong with the context, in one
/// line: an unreadable certificate, key or token file, a key that is not the
/// certificate's, a CA together with `insecure-skip-tls-verify`, a malformed
/// server name, a proxy, an exec plugin that is invalid, missing or fails.
pub async fn client(config: &kube::Config) -> Result<kube::Client, Error> {
    let (config, exec_token) = with_exec_credential(config).await?;
    let config = &with_token_file_read(&config).map_err(usage)?;
    let tcp = tcp_connector();
    let Some(proxy) = proxy_for(config)? else {
        return client_over(tcp, config, exec_token);
    };
    use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
    match proxy.uri().scheme_str() {
        Some("http") => {
            let tunnel = Tunnel::new(proxy.uri().clone(), tcp);
            let tunnel = match proxy.basic_auth() {
                Some(credentials) => tunnel.with_auth(credentials.clone()),
                None => tunnel,
            };
            client_over(tunnel, config, exec_token)
        }
        // socks5h and socks5 alike send the server's name to the proxy, as Go's do.
        Some("socks5" | "socks5h") => {
            let socks = SocksV5::new(proxy.uri().clone(), tcp).local_dns(false);
            let socks = match proxy.raw_auth() {
                Some((user, password)) => socks.with_auth(user.into(), password.into()),
                None => socks,
            };
            client_over(socks, config, exec_token)
        }
        scheme => Err(Error::usage(format!(
            "proxy {}: a {} proxy is not supported",
            proxy.uri(),
            scheme.unwrap_or("schemeless")
        ))
        .with_next_step("use an http:// or socks5:// proxy")),
    }
}

fn usage(error: String) -> Error {
    Error::usage(error)
        .with_next_step("check that context's certificates and credentials in the kubeconfig")
}

/// The proxy kubectl would use for the context's server, as Go's net/http
/// picks it: the cluster's `proxy-url` always; else `HTTPS_PROXY` (or
/// `HTTP_PROXY` for an http:// server), upper case first, unless `NO_PROXY`
/// names the server or the server is localhost or a loopback address, which
/// Go never proxies. `ALL_PROXY` is not read, as Go does not read it.
fn proxy_for(
    config: &kube::Config,
) -> Result<Option<hyper_util::client::proxy::matcher::Intercept>, Error> {
    use hyper_util::client::proxy::matcher::Matcher;
    let server = &config.cluster_url;
    if let Some(proxy_url) = &config.proxy_url {
        let proxy = Matcher::builder()
            .all(proxy_url.to_string())
            .build()
            .intercept(server);
        return match proxy {
            Some(proxy) => Ok(Some(proxy)),
            None => Err(
                Error::usage(format!("proxy-url {proxy_url} is not a proxy URL"))
                    .with_next_step("use http://HOST:PORT or socks5://HOST:PORT"),
            ),
        };
    }
    let host = server.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map_or(host.eq_ignore_ascii_case("localhost"), |ip| {
            ip.is_loopback()
        });
    if loopback {
        return Ok(None);
    }
    let variable = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
            .unwrap_or_default()
    };
    Ok(Matcher::builder()
        .https(variable(["HTTPS_PROXY", "https_proxy"]))
        .http(variable(["HTTP_PROXY", "http_proxy"]))
        .no(variable(["NO_PROXY", "no_proxy"]))
        .build()
        .intercept(server))
}

/// The client over `connector` (a TCP connector, or a proxy's over one):
/// our TLS, kube's timeouts and request layers.
fn client_over<C>(
    connector: C,
    config: &kube::Config,
    exec_token: Option<ExecToken>,
) -> Result<kube::Client, Error>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper_util::client::legacy::connect::Connection
        + hyper::rt::Read
        + hyper::rt::Write
        + Send
        + Unpin
        + 'static,
    C::Future: Send + 'static,
    C::Error: Into<tower::BoxError>,
{
    let tls = tls_config(config).map_err(usage)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = match &config.tls_server_name {
        Some(name) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|error| usage(format!("tls-server-name {name:?}: {error}")))?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let mut connector =
        hyper_timeout::TimeoutConnector::new(https.enable_all_versions().wrap_connector(connector));
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http_client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, kube::client::Body>(connector);
    let auth = config
        .auth_layer()
        .map_err(|error| usage(error.to_string()))?;
    let headers = config
        .extra_headers_layer()
        .map_err(|error| usage(error.to_string()))?;
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        }))
        .option_layer(auth)
        .option_layer(exec_token)
        .layer(headers)
        .map_err(tower::BoxError::from)
        .layer(refused_read_retry())
        .service(FirstRequestFirst::new(http_client));
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}

/// Sends a read (GET, HEAD) once more, on a new connection, when the API
/// server's HTTP/2 GOAWAY (or a REFUSED_STREAM reset) refused it: the
/// server never processed it, as RFC 9113 section 8.7 says of such
/// streams, and Go's client (kubectl) retries those too. kube-apiserver
/// closes an unauthenticated client's HTTP/2 connection after its answer
/// (feature gate UnauthenticatedHTTP2DOSMitigation, on by default): with an
/// expired client certificate the first request gets the 401, and reads
/// sent alongside it on that connection were refused, which would read as
/// "cluster unreachable" instead of the 401's fix. A graceful API server
/// restart refuses streams the same way. Writes are not resent.
fn refused_read_retry() -> tower::retry::RetryLayer<RefusedReadRetry> {
    tower::retry::RetryLayer::new(RefusedReadRetry { resent: false })
}

#[derive(Clone)]
struct RefusedReadRetry {
    resent: bool,
}

impl<Response, E> tower::retry::Policy<http::Request<kube::client::Body>, Response, E>
    for RefusedReadRetry
where
    E: std::error::Error + 'static,
{
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut http::Request<kube::client::Body>,
        result: &mut Result<Response, E>,
    ) -> Option<Self::Future> {
        match result {
            Err(error) if !self.resent && refused_unprocessed(error) => {
                self.resent = true;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(
        &mut self,
        request: &http::Request<kube::client::Body>,
    ) -> Option<http::Request<kube::client::Body>> {
        if self.resent || !matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
            return None;
        }
        let mut copy = http::Request::new(request.body().try_clone()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

/// Whether the server refused the request unprocessed: its GOAWAY without an
/// error (the stream was past its last one) or a REFUSED_STREAM reset.
fn refused_unprocessed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(h2) = current.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && match h2.reason() {
                    Some(h2::Reason::NO_ERROR) => h2.is_go_away(),
                    Some(h2::Reason::REFUSED_STREAM) => h2.is_reset(),
                    _ => false,
                };
        }
        source = current.source();
    }
    false
}

/// Holds a client's other requests while its first is in flight, so that
/// they share the connection it opens. hyper's pool hands an HTTP/2
/// connection (ALPN h2, which API servers offer) to every request only
/// once it exists: a dozen GETs started together on a new client would
/// each open a TCP and TLS connection, and all but one be dropped, a
/// handshake each for both sides' CPUs (measured: thirteen at an import's
/// start, about 30 ms on the test machine). Once the first has its answer
/// (or has failed: the others then fail or succeed on their own, at once),
/// requests go straight through; over HTTP/1.1 each then opens its own
/// connection, as before. Costs the others one round trip, once per client.
#[derive(Clone)]
struct FirstRequestFirst<S> {
    inner: S,
    first: Arc<FirstRequest>,
}

#[derive(Default)]
struct FirstRequest {
    answered: std::sync::atomic::AtomicBool,
    in_flight: tokio::sync::Mutex<()>,
}

impl<S> FirstRequestFirst<S> {
    fn new(inner: S) -> Self {
        FirstRequestFirst {
            inner,
            first: Arc::default(),
        }
    }
}

impl<S, R> tower::Service<R> for FirstRequestFirst<S>
where
    S: tower::Service<R> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's, checked when the request goes.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        use std::sync::atomic::Ordering;
        use tower::ServiceExt;
        let inner = self.inner.clone();
        let first = self.first.clone();
        Box::pin(async move {
            if first.answered.load(Ordering::Acquire) {
                return inner.oneshot(request).await;
            }
            let _turn = first.in_flight.lock().await;
            if first.answered.load(Ordering::Acquire) {
                drop(_turn);
                return inner.oneshot(request).await;
            }
            let response = inner.oneshot(request).await;
            first.answered.store(true, Ordering::Release);
            response
        })
    }
}

/// The context's exec credential plugin (see
/// [`crate::kube::exec_credential`]), run once per process for each
/// credential it can give: a certificate it gives joins the TLS
/// configuration, a token it gives is sent by the returned layer, which runs
/// the plugin again when the token expires or is refused. `exec` is then
/// taken out of the config, so kube does not run the plugin again itself.
///
/// Two contexts sharing a kubeconfig user (a failover's `--from` and
/// `--to`, cacheck's pair) share its one run, its token and its renewals:
/// one MFA prompt, not two. As client-go's cache, the key is the exec
/// configuration, and the cluster only when the plugin is given it
/// (`provideClusterInfo`), since its credential may then differ per
/// cluster. A failed run is kept as well: its message was shown once.
async fn with_exec_credential(
    config: &kube::Config,
) -> Result<(kube::Config, Option<ExecToken>), Error> {
    // One terminal: two contexts' plugins must not prompt at once, and the
    // second waits for the first's credential.
    static RUNS: tokio::sync::Mutex<Vec<(String, Result<Shared, Error>)>> =
        tokio::sync::Mutex::const_new(Vec::new());
    let mut config = config.clone();
    let Some(exec) = config.auth_info.exec.take() else {
        return Ok((config, None));
    };
    let key = cache_key(&exec);
    let mut runs = RUNS.lock().await;
    let cached = runs
        .iter()
        .find(|(known, _)| *known == key)
        .map(|(_, run)| run.clone());
    let shared = match cached {
        Some(run) => run?,
        None => {
            let run = run_plugin(&exec).await;
            runs.push((key, run.clone()));
            run?
        }
    };
    drop(runs);
    match shared {
        Shared::Token(token) => Ok((config, Some(token))),
        Shared::Certificate { chain_pem, key_pem } => {
            use base64::Engine;
            let encode = |pem: &[u8]| base64::engine::general_purpose::STANDARD.encode(pem);
            config.auth_info.client_certificate_data = Some(encode(&chain_pem));
            config.auth_info.client_key_data =
                Some(encode(key_pem.expose_secret().as_bytes()).into());
            Ok((config, None))
        }
    }
}

/// A credential plugin's run, as the contexts that use it share it.
#[derive(Clone)]
enum Shared {
    /// Its token, renewed for all of them at once.
    Token(ExecToken),
    Certificate {
        chain_pem: Vec<u8>,
        key_pem: secrecy::SecretString,
    },
}

/// Runs `exec`'s plugin once.
async fn run_plugin(exec: &kube::config::ExecConfig) -> Result<Shared, Error> {
    let plugin = ExecPlugin::new(exec)?;
    let (plugin, credential) = tokio::task::spawn_blocking(move || {
        let credential = plugin.run();
        (plugin, credential)
    })
    .await
    .map_err(|error| Error::failed(format!("exec plugin {:?}: {error}", exec.command)))?;
    Ok(match credential? {
        Credential::Token { token, expires } => {
            Shared::Token(ExecToken::new(plugin, token, expires))
        }
        Credential::Certificate { chain_pem, key_pem } => {
            Shared::Certificate { chain_pem, key_pem }
        }
    })
}

/// What makes two exec configurations one credential: everything that
/// reaches the plugin (the cluster only with `provideClusterInfo`), as
/// client-go's cache key. The environment is sorted: kube reads each entry
/// into a map whose order changes from one read to the next.
fn cache_key(exec: &kube::config::ExecConfig) -> String {
    let env: Vec<Vec<(&String, &String)>> = exec
        .env
        .iter()
        .flatten()
        .map(|entry| {
            let mut entry: Vec<_> = entry.iter().collect();
            entry.sort();
            entry
        })
        .collect();
    let cluster = exec
        .cluster
        .as_ref()
        .filter(|_| exec.provide_cluster_info)
        .and_then(|cluster| serde_json::to_string(cluster).ok());
    serde_json::json!({
        "apiVersion": exec.api_version,
        "command": exec.command,
        "args": exec.args,
        "env": env,
        "interactiveMode": exec.interactive_mode.as_ref().map(|mode| format!("{mode:?}")),
        "installHint": exec.install_hint,
        "cluster": cluster,
    })
    .to_string()
}

/// Why a TLS handshake with an API server failed, and what fixes it, as
/// one line's two halves: the reason (kubectl's words in parentheses, so
/// what one searches for matches), and the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
    pub reason: String,
    pub fix: String,
}

/// The TLS failure behind `error` (any depth of its sources, I/O errors
/// included), explained; `None` when it is not one. `server` is the
/// context's `https://HOST:PORT`, for the commands the fix names.
pub fn tls_failure(error: &(dyn std::error::Error + 'static), server: &str) -> Option<TlsFailure> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(explain_tls(tls, server));
        }
        // An I/O error's source() is its inner error's source, skipping the
        // inner error itself (where TLS puts its rustls::Error): go in.
        current = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// [`tls_failure`] of one rustls error.
fn explain_tls(error: &rustls::Error, server: &str) -> TlsFailure {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let address = server
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or(server);
    let failure = |reason: String, fix: &str| TlsFailure {
        reason,
        fix: fix.to_string(),
    };
    let date = |time: &UnixTime| {
        i64::try_from(time.as_secs())
            .ok()
            .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
            .map_or_else(|| "?".to_string(), |time| time.to_string())
    };
    let untrusted = || {
        TlsFailure {
        reason: "the server's certificate is not trusted: it is not signed by the context's certificate-authority (x509: certificate signed by unknown authority)".into(),
        fix: format!(
            "set the cluster's certificate-authority-data to the CA that signed the API server's certificate (see the chain it serves: openssl s_client -connect {address} -showcerts), or check the server address is that cluster's"
        ),
    }
    };
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            Cert::UnknownIssuer | Cert::BadSignature => untrusted(),
            Cert::ExpiredContext { time, not_after } => failure(
                format!(
                    "the server's certificate expired at {} (now {}; x509: certificate has expired or is not yet valid)",
                    date(not_after),
                    date(time)
                ),
                "renew the API server's certificate (kubeadm: kubeadm certs renew apiserver), or set this machine's clock right if it is wrong",
            ),
            Cert::Expired => failure(
                "the server's certificate has expired (x509: certificate has expired or is not yet valid)".into(),
                "renew the API server's certificate (kubeadm: kubeadm certs renew apiserver), or set this machine's clock right if it is wrong",
            ),
            Cert::NotValidYetContext { time, not_before } => failure(
                format!(
                    "the server's certificate is not valid before {} (now {}; x509: certificate has expired or is not yet valid)",
                    date(not_before),
                    date(time)
                ),
                "check this machine's clock (and the server's): the certificate is from its future",
            ),
            Cert::NotValidYet => failure(
                "the server's certificate is not valid yet (x509: certificate has expired or is not yet valid)".into(),
                "check this machine's clock (and the server's): the certificate is from its future",
            ),
            Cert::NotValidForNameContext {
                expected,
                presented,
            } => {
                let expected = expected.to_str();
                // webpki's Debug forms: DnsName("x"), IpAddress(1.2.3.4).
                let presented: Vec<&str> = presented
                    .iter()
                    .map(|name| {
                        name.strip_prefix("DnsName(\"")
                            .and_then(|name| name.strip_suffix("\")"))
                            .or_else(|| {
                                name.strip_prefix("IpAddress(")
                                    .and_then(|name| name.strip_suffix(')'))
                            })
                            .unwrap_or(name)
                    })
                    .collect();
                let names = if presented.is_empty() {
                    "it names none in subjectAltName (a name only in its CN is not used, as by kubectl)".to_string()
                } else {
                    format!("it is valid for {}", presented.join(", "))
                };
                // Go's words, as kubectl prints them.
                let is_ip = |name: &str| name.parse::<std::net::IpAddr>().is_ok();
                let go = if is_ip(&expected) && !presented.iter().any(|name| is_ip(name)) {
                    format!(
                        "x509: cannot validate certificate for {expected} because it doesn't contain any IP SANs"
                    )
                } else {
                    format!(
                        "x509: certificate is valid for {}, not {expected}",
                        presented.join(", ")
                    )
                };
                failure(
                    format!("the server's certificate is not valid for {expected}: {names} ({go})"),
                    "use a server address the certificate names, or set the cluster's tls-server-name to one of its names",
                )
            }
            Cert::NotValidForName => failure(
                "the server's certificate does not name the server's address (x509: certificate is not valid for this name)".into(),
                "use a server address the certificate names, or set the cluster's tls-server-name to one of its names",
            ),
            Cert::InvalidPurpose | Cert::InvalidPurposeContext { .. } => failure(
                "the server's certificate is not for TLS servers (its extended key usage lacks serverAuth)".into(),
                "reissue the API server's certificate for server authentication",
            ),
            Cert::Revoked => failure(
                "the server's certificate is revoked".into(),
                "reissue the API server's certificate",
            ),
            other => TlsFailure {
                reason: format!("the server's certificate is not trusted: {other:?}"),
                ..untrusted()
            },
        },
        rustls::Error::AlertReceived(alert) => match alert {
            Alert::CertificateExpired => failure(
                "the server refused the client certificate: it has expired (remote error: tls: expired certificate)".into(),
                "renew the context's user client certificate (kubeadm: kubeadm certs renew admin.conf, or your provider's credentials command)",
            ),
            Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::AccessDenied => failure(
                format!(
                    "the server refused the client certificate (remote error: tls: {})",
                    alert_words(*alert)
                ),
                "use a client certificate that cluster's client CA signed and that is still valid (kubectl config view --minify shows the context's user); a certificate of another cluster is refused",
            ),
            Alert::CertificateRequired => failure(
                "the server requires a client certificate and the context's user has none".into(),
                "give the context's user a client-certificate and client-key, or a token",
            ),
            other => failure(
                format!("the server ended the TLS handshake (remote error: tls: {other:?})"),
                "check the server address is that cluster's API server",
            ),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => failure(
            "the server does not speak TLS (is it the API server's HTTPS port?)".into(),
            "check the server address and port are the cluster's API server",
        ),
        other => failure(
            format!("the TLS handshake failed: {other}"),
            "check the server address is that cluster's API server and the context's certificates are right",
        ),
    }
}

/// How Go names a TLS alert (what kubectl shows after `remote error: tls:`).
fn alert_words(alert: rustls::AlertDescription) -> &'static str {
    use rustls::AlertDescription as Alert;
    match alert {
        Alert::BadCertificate => "bad certificate",
        Alert::UnknownCA => "unknown certificate authority",
        Alert::CertificateUnknown => "unknown certificate",
        Alert::UnsupportedCertificate => "unsupported certificate",
        Alert::CertificateRevoked => "revoked certificate",
        Alert::AccessDenied => "access denied",
        _ => "alert",
    }
}

/// `tokenFile` read once and trimmed, as client-go reads it: kube sends the
/// file as it is, and the newline most files end with makes the header
/// invalid. The file wins over an inline `token`, as in client-go. Read once:
/// a run lasts minutes, a projected token an hour.
fn with_token_file_read(config: &kube::Config) -> Result<kube::Config, String> {
    let mut config = config.clone();
    if let Some(path) = config.auth_info.token_file.take() {
        let token = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read tokenFile {path}: {error}"))?;
        let token = token.trim();
        if token.is_empty() {
            return Err(format!("tokenFile {path} is empty"));
        }
        config.auth_info.token = Some(secrecy::SecretString::from(token.to_string()));
    }
    Ok(config)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration of `config`'s context: its trust (CA, system
/// roots or none) and its client certificate, if any.
fn tls_config(config: &kube::Config) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let builder = match (&config.root_cert, config.accept_invalid_certs) {
        // client-go's own words (transport.TLSConfigFor).
        (Some(_), true) => {
            return Err(
                "specifying a root certificates file with the insecure flag is not allowed".into(),
            );
        }
        (None, true) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone()))),
        (Some(roots), false) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(GoVerifier::new(roots, &provider)?)),
        (None, false) => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|error| format!("the system's trusted CAs: {error}"))?
        }
    };
    match identity(&config.auth_info)? {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => {
            let signing_key = provider
                .key_provider
                .load_private_key(key)
                .map_err(|error| format!("client key: {error}"))?;
            let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
            Ok(
                builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                    certified,
                ))),
            )
        }
    }
}

/// The first certificate of the user's `client-certificate(-data)`,
/// parsed; `None` without one or when it does not read (the client's
/// construction reports that).
pub fn client_certificate(
    auth: &kube::config::AuthInfo,
) -> Option<crate::secrets::certs::Certificate> {
    use base64::Engine;
    let pem = match (&auth.client_certificate_data, &auth.client_certificate) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()?,
        (None, Some(path)) => std::fs::read(path).ok()?,
        (None, None) => return None,
    };
    let leaf = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    crate::secrets::certs::Certificate::from_der(leaf.to_vec()).ok()
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The context's client certificate chain and key, or `None` without one.
/// A certificate without a key (or the reverse) is an error, as a key that
/// is not the certificate's.
fn identity(auth: &kube::config::AuthInfo) -> Result<Option<Identity>, String> {
    use base64::Engine;
    let decode = |data: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|error| format!("{what}-data is not base64: {error}"))
    };
    let read = |path: &str, what: &str| {
        std::fs::read(path).map_err(|error| format!("cannot read {what} {path}: {error}"))
    };
    let certificate = match (&auth.client_certificate_data, &auth.client_certificate) {
        (Some(data), _) => Some(decode(data, "client-certificate")?),
        (None, Some(path)) => Some(read(path, "client-certificate")?),
        (None, None) => None,
    };
    let key = match (&auth.client_key_data, &auth.client_key) {
        (Some(data), _) => Some(decode(data.expose_secret(), "client-key")?),
        (None, Some(path)) => Some(read(path, "client-key")?),
        (None, None) => None,
    };
    let (certificate, key) = match (certificate, key) {
        (None, None) => return Ok(None),
        (Some(certificate), Some(key)) => (certificate, key),
        (Some(_), None) => return Err("a client certificate without its client-key".into()),
        (None, Some(_)) => return Err("a client-key without its client-certificate".into()),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certificate)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("client-certificate: {error}"))?;
    let leaf = chain
        .first()
        .ok_or("client-certificate holds no PEM certificate")?;
    let private_key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|error| format!("client-key holds no PEM private key ({error})"))?;
    let parsed = crate::secrets::certs::Certificate::from_der(leaf.to_vec())
        .map_err(|error| format!("client-certificate: {error}"))?;
    match crate::secrets::certs::key_matches(&key, &parsed) {
        crate::secrets::certs::KeyMatch::Mismatch => {
            Err("client-key is not the key of client-certificate".into())
        }
        // A key type x509-parser and ring cannot compare: rustls's signing
        // decides, as the server's check of the handshake does.
        crate::secrets::certs::KeyMatch::Matches | crate::secrets::certs::KeyMatch::Unknown(_) => {
            Ok(Some((chain, private_key)))
        }
    }
}

/// Server certificate checks as Go's crypto/x509 makes them for kubectl,
/// see the module documentation.
#[derive(Debug)]
struct GoVerifier {
    trusted: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl GoVerifier {
    fn new(roots: &[Vec<u8>], provider: &Arc<CryptoProvider>) -> Result<GoVerifier, String> {
        let trusted: Vec<CertificateDer<'static>> = roots
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let mut store = rustls::RootCertStore::empty();
        // As Go's AppendCertsFromPEM: a certificate that cannot be an anchor is skipped.
        store.add_parsable_certificates(trusted.iter().cloned());
        if trusted.is_empty() {
            return Err("certificate-authority holds no certificate".into());
        }
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(provider))
                .build()
                .map_err(|error| format!("certificate-authority: {error}"))?;
        Ok(GoVerifier {
            trusted,
            webpki,
            provider: Arc::clone(provider),
        })
    }
}

impl ServerCertVerifier for GoVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self
            .trusted
            .iter()
            .any(|trusted| trusted.as_ref() == end_entity.as_ref())
        {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        // The CA file holds this very certificate: trusted as it is, if it is
        // valid now, may serve TLS, and names the server.
        let certificate = crate::secrets::certs::Certificate::from_der(end_entity.to_vec())
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
        let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let time = |seconds: i64| {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::try_from(seconds).unwrap_or(0),
            ))
        };
        if seconds < certificate.not_before {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidYetContext {
                    time: now,
                    not_before: time(certificate.not_before),
                },
            ));
        }
        if seconds > certificate.not_after {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ExpiredContext {
                    time: now,
                    not_after: time(certificate.not_after),
                },
            ));
        }
        if !certificate.allows_server_auth {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose,
            ));
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `insecure-skip-tls-verify: true`: any server certificate, as kubectl.
/// The handshake's signatures are not checked either: checking them parses
/// the server certificate with webpki, which refuses a v1 one kubectl takes.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_have_nagles_algorithm_off() {
        use tower::Service;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stream = tcp_connector()
            .call(format!("http://{address}").parse().unwrap())
            .await
            .expect("connect");
        assert!(stream.inner().nodelay().unwrap());
    }
    use rustls::{AlertDescription, CertificateError};

    /// Ten requests at once on a new client: the first goes alone; once it
    /// is answered (here: failed) the nine others go together.
    #[tokio::test]
    async fn the_first_request_goes_alone_then_the_others_together() {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tower::ServiceExt;
        #[derive(Default)]
        struct Seen {
            in_flight: AtomicUsize,
            /// How many were in flight as each request arrived, in order.
            arrivals: Mutex<Vec<usize>>,
        }
        let seen = Arc::new(Seen::default());
        let inner = tower::service_fn({
            let seen = seen.clone();
            move |index: usize| {
                let seen = seen.clone();
                async move {
                    let before = seen.in_flight.fetch_add(1, Ordering::SeqCst);
                    seen.arrivals.lock().unwrap().push(before);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    if index == 0 {
                        Err("refused")
                    } else {
                        Ok(index)
                    }
                }
            }
        });
        let client = FirstRequestFirst::new(inner);
        let answers =
            futures::future::join_all((0..10).map(|index| client.clone().oneshot(index))).await;
        assert_eq!(answers[0], Err("refused"));
        assert_eq!(answers[1..], (1..10).map(Ok).collect::<Vec<_>>());
        let arrivals = seen.arrivals.lock().unwrap().clone();
        assert_eq!(arrivals[0], 0, "the first alone: {arrivals:?}");
        assert_eq!(arrivals[1], 0, "then the first answered: {arrivals:?}");
        assert!(
            arrivals[2..].iter().all(|in_flight| *in_flight > 0),
            "the others together: {arrivals:?}"
        );
    }

    /// An HTTP/2 server on loopback whose first connection is refused as
    /// kube-apiserver refuses an unauthenticated client's further requests:
    /// once the client's request is on the wire (its HEADERS frame read
    /// with `peek`, unprocessed), the server says GOAWAY with last stream
    /// 0 and NO_ERROR. Later connections answer 200. Returns the address
    /// and the count of connections accepted.
    async fn refusing_first_connection()
    -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let first = count.fetch_add(1, Ordering::SeqCst) == 0;
                tokio::spawn(async move {
                    if first {
                        wait_for_headers_frame(&tcp).await;
                    }
                    let mut connection = h2::server::handshake(tcp).await.unwrap();
                    if first {
                        connection.abrupt_shutdown(h2::Reason::NO_ERROR);
                    }
                    while let Some(Ok((_, mut respond))) = connection.accept().await {
                        respond
                            .send_response(http::Response::new(()), true)
                            .unwrap();
                    }
                });
            }
        });
        (address, accepted)
    }

    /// Peeks at the client's bytes until they hold a HEADERS frame: after
    /// the 24-byte preface, frames of a 9-byte header (length, type, ...).
    async fn wait_for_headers_frame(tcp: &tokio::net::TcpStream) {
        const PREFACE: usize = 24;
        const HEADERS: u8 = 1;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = tcp.peek(&mut buffer).await.unwrap();
            let mut at = PREFACE;
            while at + 9 <= read {
                let length =
                    u32::from_be_bytes([0, buffer[at], buffer[at + 1], buffer[at + 2]]) as usize;
                if buffer[at + 3] == HEADERS {
                    return;
                }
                at += 9 + length;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    async fn send_through_retry(
        address: std::net::SocketAddr,
        method: http::Method,
    ) -> Result<http::StatusCode, String> {
        use tower::ServiceExt;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http::<kube::client::Body>();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{address}/api/v1/namespaces/tsb/secrets"))
            .body(kube::client::Body::from(b"{}".to_vec()))
            .unwrap();
        tower::ServiceBuilder::new()
            .layer(refused_read_retry())
            .service(client)
            .oneshot(request)
            .await
            .map(|response| response.status())
            .map_err(|error| format!("{:?}", error))
    }

    #[tokio::test]
    async fn a_read_refused_by_goaway_is_sent_again_on_a_new_connection() {
        use std::sync::atomic::Ordering;
        let (address, accepted) = refusing_first_connection().await;
        assert_eq!(
            send_through_retry(address, http::Method::GET).await,
            Ok(http::StatusCode::OK)
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "refused, then sent on a new connection"
        );
    }

    #[tokio::test]
    async fn a_write_refused_by_goaway_is_not_sent_again() {
        use std::sync::atomic::Ordering;
        let (address, accepted) = refusing_first_connection().await;
        let refused = send_through_retry(address, http::Method::POST)
            .await
            .unwrap_err();
        assert!(
            refused.contains("GoAway") && refused.contains("NO_ERROR"),
            "{refused}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "not sent again");
    }

    const SERVER: &str = "https://10.0.0.1:6443";

    /// A rustls error as kube hands it over: inside an I/O error inside
    /// the client's own error.
    fn wrapped(error: rustls::Error) -> Box<dyn std::error::Error + Send + Sync> {
        #[derive(Debug)]
        struct Client(std::io::Error);
        impl std::fmt::Display for Client {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Client {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        // hyper-rustls' I/O error, inside the connector's own.
        Box::new(Client(std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            error,
        ))))
    }

    fn explained(error: rustls::Error) -> TlsFailure {
        tls_failure(&*wrapped(error), SERVER).expect("a TLS failure")
    }

    #[test]
    fn each_tls_failure_is_named_with_its_fix() {
        let untrusted = explained(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(
            untrusted
                .reason
                .contains("certificate signed by unknown authority"),
            "{untrusted:?}"
        );
        assert!(untrusted.fix.contains("certificate-authority-data"));
        assert!(
            untrusted
                .fix
                .contains("openssl s_client -connect 10.0.0.1:6443")
        );

        let at = |seconds| UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
        let expired = explained(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext {
                time: at(1_800_000_000),
                not_after: at(1_700_000_000),
            },
        ));
        assert!(
            expired
                .reason
                .contains("expired at 2023-11-14T22:13:20Z (now 2027-01-15T08:00:00Z"),
            "{expired:?}"
        );
        assert!(expired.fix.contains("renew the API server's certificate"));
        let early = explained(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext {
                time: at(1_700_000_000),
                not_before: at(1_800_000_000),
            },
        ));
        assert!(early.reason.contains("not valid before"), "{early:?}");
        assert!(early.fix.contains("clock"));

        let name = explained(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.2").unwrap(),
                presented: vec![
                    "DnsName(\"localhost\")".into(),
                    "IpAddress(127.0.0.1)".into(),
                ],
            },
        ));
        assert!(
            name.reason.contains(
                "not valid for 127.0.0.2: it is valid for localhost, 127.0.0.1 (x509: certificate is valid for localhost, 127.0.0.1, not 127.0.0.2)"
            ),
            "{name:?}"
        );
        assert!(name.fix.contains("tls-server-name"));
        let cn_only = explained(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.2").unwrap(),
                presented: vec![],
            },
        ));
        assert!(cn_only.reason.contains("only in its CN"), "{cn_only:?}");

        for alert in [
            AlertDescription::BadCertificate,
            AlertDescription::UnknownCA,
        ] {
            let refused = explained(rustls::Error::AlertReceived(alert));
            assert!(
                refused.reason.contains("refused the client certificate"),
                "{refused:?}"
            );
            assert!(refused.fix.contains("client CA"), "{refused:?}");
        }
        let stale = explained(rustls::Error::AlertReceived(
            AlertDescription::CertificateExpired,
        ));
        assert!(stale.reason.contains("it has expired"), "{stale:?}");
        assert!(stale.fix.contains("renew"), "{stale:?}");
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(tls_failure(&refused, SERVER), None);
    }

    fn exec(yaml: &str) -> kube::config::ExecConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// One run for one user entry, whatever order kube read its env in;
    /// per cluster only when the plugin is told the cluster.
    #[test]
    fn contexts_sharing_a_user_share_its_credential() {
        let base = "apiVersion: client.authentication.k8s.io/v1\ncommand: mfa\ninteractiveMode: IfAvailable\nenv:\n- {name: A, value: '1'}\n";
        let cluster = |server: &str| kube::config::ExecAuthCluster {
            server: Some(server.into()),
            ..Default::default()
        };
        let mut first = exec(base);
        first.cluster = Some(cluster("https://a"));
        let mut second = exec(base);
        second.cluster = Some(cluster("https://b"));
        assert_eq!(cache_key(&first), cache_key(&second));
        assert_ne!(
            cache_key(&first),
            cache_key(&exec(&base.replace("'1'", "'2'")))
        );
        first.provide_cluster_info = true;
        second.provide_cluster_info = true;
        assert_ne!(cache_key(&first), cache_key(&second));
    }
}
