//! Probes a Management Plane's front door (Service `envoy`, port
//! `https-ingress`): a TLS handshake trusting only the MP's CA, then one
//! HTTPS request, as the clients that reach the MP by its DNS name would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Result};
use crate::tsb::mp::FrontAddress;

/// The longest status line accepted from the front door.
const MAX_STATUS_LINE: u64 = 8 * 1024;

/// What the front door served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontProbe {
    /// The leaf certificate (DER), for callers that look inside it.
    pub leaf_der: Vec<u8>,
    /// SHA-256 of `leaf_der`, lowercase hex.
    pub leaf_sha256: String,
    /// The HTTP status of `GET /`.
    pub status: u16,
}

/// TLS handshake with the front door at `address` (an IP, or a hostname
/// resolved by the system's resolver, its addresses tried in turn as
/// clients do) and `port`, SNI `server_name`, trusting only the PEM roots in
/// `ca_pem` (the MP's CA: `tsb-certs`' `ca.crt`); returns the leaf and its
/// SHA-256 fingerprint, then the status of one HTTPS `GET /`. The whole
/// probe is bounded by `timeout`.
///
/// Errors: a hostname that does not resolve, connection refused or timeout
/// is exit 3 (the front door is not serving yet); a certificate that does
/// not chain to `ca_pem`, lacks `server_name` or has expired is exit 1.
pub async fn probe(
    address: &FrontAddress,
    port: u16,
    server_name: &str,
    ca_pem: &[u8],
    timeout: Duration,
) -> Result<FrontProbe> {
    let shown = match address {
        FrontAddress::Ip(ip) => SocketAddr::new(*ip, port).to_string(),
        FrontAddress::Hostname(name) => format!("{name}:{port}"),
    };
    let connector = connector(ca_pem)?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
        Error::usage(format!(
            "{server_name:?} is not a DNS name or IP address to check the front door's certificate against"
        ))
    })?;
    let attempt = async {
        let tcp = connect(address, port, &shown).await?;
        handshake_and_get(tcp, &shown, connector, name, server_name).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(Error::cluster(format!(
            "front door {shown} did not answer within {}s",
            timeout.as_secs_f64()
        ))
        .with_next_step("check the envoy Service's address and that envoy is ready")),
    }
}

/// A connection to the first of `address`'s IPs that accepts one.
async fn connect(address: &FrontAddress, port: u16, shown: &str) -> Result<TcpStream> {
    let targets: Vec<SocketAddr> = match address {
        FrontAddress::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        FrontAddress::Hostname(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|error| {
                Error::cluster(format!(
                    "front door {shown}: the load balancer's hostname does not resolve: {error}"
                ))
                .with_next_step("wait for the load balancer's DNS name to be published, or check the resolver of this machine")
            })?
            .collect(),
    };
    let mut last_error = None;
    for target in targets {
        match TcpStream::connect(target).await {
            Ok(tcp) => return Ok(tcp),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) => connect_error(shown, &error),
        None => Error::cluster(format!(
            "front door {shown}: the load balancer's hostname resolves to no address"
        )),
    })
}

fn connector(ca_pem: &[u8]) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        let ca = ca.map_err(|error| {
            Error::failed(format!("the expected CA (PEM) cannot be read: {error}"))
        })?;
        roots.add(ca).map_err(|error| {
            Error::failed(format!(
                "the expected CA is not a usable root certificate: {error}"
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::failed(
            "the expected CA (PEM) holds no certificate: check tsb-certs' ca.crt",
        ));
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| Error::failed(format!("TLS setup: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    // One plain HTTP/1.1 request follows: no need for h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn handshake_and_get(
    tcp: TcpStream,
    target: &str,
    connector: TlsConnector,
    name: ServerName<'static>,
    server_name: &str,
) -> Result<FrontProbe> {
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|error| handshake_error(target, server_name, &error))?;
    let leaf_der = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .ok_or_else(|| Error::failed(format!("front door {target} presented no certificate")))?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: kubectl-mp\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    let io_failed = |error: std::io::Error| {
        Error::cluster(format!(
            "front door {target}: the HTTPS request failed after the TLS handshake: {error}"
        ))
    };
    tls.write_all(request.as_bytes()).await.map_err(io_failed)?;
    let mut status_line = String::new();
    BufReader::new(tls.take(MAX_STATUS_LINE))
        .read_line(&mut status_line)
        .await
        .map_err(io_failed)?;
    let status = parse_status_line(&status_line).ok_or_else(|| {
        Error::failed(format!(
            "front door {target} did not answer with HTTP (first line {:?})",
            status_line.trim_end()
        ))
    })?;
    let leaf_sha256 = Sha256::digest(&leaf_der)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(FrontProbe {
        leaf_der,
        leaf_sha256,
        status,
    })
}

/// The code of an `HTTP/1.x NNN reason` status line.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then_some(())?;
    code.parse().ok()
}

fn connect_error(target: &str, error: &std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::ConnectionRefused {
        Error::cluster(format!(
            "front door {target} refused the connection (is envoy running?)"
        ))
        .with_next_step("check the envoy Deployment is ready and the envoy Service's address")
    } else {
        Error::cluster(format!("front door {target} is unreachable: {error}"))
            .with_next_step("check the envoy Service's address and the network to it")
    }
}

/// Names what was wrong with the front door's certificate, when that is why
/// the handshake failed: these are the findings a failover must stop on.
fn handshake_error(target: &str, server_name: &str, error: &std::io::Error) -> Error {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let Some(rustls::Error::InvalidCertificate(certificate)) = rustls_error else {
        return Error::cluster(format!(
            "front door {target}: the TLS handshake failed: {error}"
        ))
        .with_next_step("check envoy is ready and serves the tsb-certs secret");
    };
    match certificate {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => Error::failed(format!(
            "front door {target}: its certificate does not chain to the expected CA (tsb-certs' ca.crt)"
        ))
        .with_next_step(
            "the MPs must share one root CA: run kubectl mp-cacheck, and re-import the active's certificates into this MP",
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Error::failed(format!(
                "front door {target}: its certificate is not valid for {server_name} ({certificate})"
            ))
            .with_next_step("issue tsb-certs with the MP's DNS name among its SANs")
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => Error::failed(format!(
            "front door {target}: its certificate is outside its validity period ({certificate})"
        ))
        .with_next_step("renew tsb-certs"),
        other => Error::failed(format!(
            "front door {target}: its certificate was rejected: {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    const NOT_A_CERTIFICATE: &[u8] =
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";

    fn some_root_pem() -> Vec<u8> {
        let root = rcgen::generate_simple_self_signed(vec!["probe-test-root".to_string()]).unwrap();
        root.cert.pem().into_bytes()
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line("HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_with_exit_3() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        // Any parseable root will do: the connection fails before TLS.
        let ca = some_root_pem();
        let error = probe(
            &FrontAddress::Ip(address.ip()),
            address.port(),
            "tsb.example.com",
            &ca,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(error.exit(), Exit::Cluster);
        assert!(
            error.to_string().starts_with(&format!(
                "front door {address} refused the connection (is envoy running?)"
            )),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out_with_exit_3() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let ca = some_root_pem();
        // Accepted by the kernel, never answered: the handshake waits.
        let error = probe(
            &FrontAddress::Ip(address.ip()),
            address.port(),
            "tsb.example.com",
            &ca,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert_eq!(error.exit(), Exit::Cluster);
        assert!(
            error.to_string().contains("did not answer within 0.3s"),
            "{error}"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn an_unusable_ca_fails_before_connecting() {
        let unreachable = FrontAddress::Ip("127.0.0.1".parse().unwrap());
        let empty = probe(
            &unreachable,
            1,
            "tsb.example.com",
            b"",
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(empty.exit(), Exit::Failed);
        assert!(
            empty.to_string().contains("holds no certificate"),
            "{empty}"
        );
        let garbage = probe(
            &unreachable,
            1,
            "tsb.example.com",
            NOT_A_CERTIFICATE,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(garbage.exit(), Exit::Failed);
        assert!(garbage.to_string().contains("expected CA"), "{garbage}");
    }
}
