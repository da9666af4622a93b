//! Certificate authorities and certificates, made with rcgen at start.

use std::net::IpAddr;
use std::time::Duration;

/// A certificate and its private key, PEM encoded.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA that can issue server, client and intermediate certificates.
pub struct CertAuthority {}

impl CertAuthority {
    /// A new self-signed root CA.
    pub fn new_root(common_name: &str) -> Self {
        todo!("{common_name}")
    }
    pub fn cert_pem(&self) -> &str {
        todo!()
    }
    /// A serving certificate for these DNS names and IPs, valid from now for `valid_for`.
    pub fn issue_server(
        &self,
        common_name: &str,
        dns_names: &[&str],
        ips: &[IpAddr],
        valid_for: Duration,
    ) -> IssuedCert {
        todo!("{common_name}{dns_names:?}{ips:?}{valid_for:?}")
    }
    /// A client certificate (CN = user, O = groups), as the API server authenticates it.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> IssuedCert {
        todo!("{user}{groups:?}")
    }
}
