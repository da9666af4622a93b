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
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
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
        hyper_timeout::TimeoutConnector::new(https.enable_http1().wrap_connector(connector));
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
        .service(http_client);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}

/// The context's exec credential plugin run once (see
/// [`crate::kube::exec_credential`]): a certificate it gives joins the TLS
/// configuration, a token it gives is sent by the returned layer, which runs
/// the plugin again when the token expires. `exec` is then taken out of the
/// config, so kube does not run the plugin again itself.
async fn with_exec_credential(
    config: &kube::Config,
) -> Result<(kube::Config, Option<ExecToken>), Error> {
    // One terminal: two contexts' plugins must not prompt at once.
    static TERMINAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let mut config = config.clone();
    let Some(exec) = config.auth_info.exec.take() else {
        return Ok((config, None));
    };
    let plugin = ExecPlugin::new(&exec)?;
    let _terminal = TERMINAL.lock().await;
    let (plugin, credential) = tokio::task::spawn_blocking(move || {
        let credential = plugin.run();
        (plugin, credential)
    })
    .await
    .map_err(|error| Error::failed(format!("exec plugin {:?}: {error}", exec.command)))?;
    match credential? {
        Credential::Token { token, expires } => {
            Ok((config, Some(ExecToken::new(plugin, token, expires))))
        }
        Credential::Certificate { chain_pem, key_pem } => {
            use base64::Engine;
            let encode = |pem: &[u8]| base64::engine::general_purpose::STANDARD.encode(pem);
            config.auth_info.client_certificate_data = Some(encode(&chain_pem));
            config.auth_info.client_key_data =
                Some(encode(key_pem.expose_secret().as_bytes()).into());
            Ok((config, None))
        }
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
        if seconds < certificate.not_before {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidYet,
            ));
        }
        if seconds > certificate.not_after {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired,
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
