//! Certificate authorities and certificates, made with rcgen at start.
//!
//! Keys are ECDSA P-256: generating them takes microseconds, and a seed
//! makes a handful of CAs and leaves.
//!
//! The issuing methods return plain values, not `Result`: every input comes
//! from the tests' own configuration, and the only way rcgen can refuse
//! one is a DNS name that is not ASCII (an IA5String in X.509), which is a
//! bug in the caller. They panic on it, saying which name was refused.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::OffsetDateTime;

/// How far back certificates' notBefore is set, so that a client whose clock
/// is slightly behind ours still accepts a certificate made a moment ago.
const CLOCK_SKEW_ALLOWANCE: time::Duration = time::Duration::minutes(5);

/// How long the CAs are valid: longer than any test run.
pub const CA_VALIDITY: time::Duration = time::Duration::days(3650);

/// How long client certificates are valid.
const CLIENT_VALIDITY: time::Duration = time::Duration::days(365);

/// A certificate and its private key, PEM encoded.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate followed by the intermediates between it and the root
    /// (the root itself is not included, as in a `tls.crt`).
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA that can issue server, client and intermediate certificates.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    /// This CA's certificate and the intermediates above it, without the
    /// root: what follows a leaf in its `tls.crt`. Empty for a root.
    intermediates_pem: String,
    root_pem: String,
}

/// What a leaf certificate is for: its names, usages and validity.
struct LeafSpec<'a> {
    common_name: &'a str,
    organizations: &'a [&'a str],
    dns_names: &'a [&'a str],
    ips: &'a [IpAddr],
    usages: &'a [ExtendedKeyUsagePurpose],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl CertAuthority {
    /// A new self-signed root CA.
    pub fn new_root(common_name: &str) -> Self {
        let params = ca_params(common_name);
        let key = new_key();
        let cert_pem = params
            .self_signed(&key)
            .expect("a CA with an ECDSA key and a common name always signs")
            .pem();
        CertAuthority {
            issuer: Issuer::new(params, key),
            root_pem: cert_pem.clone(),
            cert_pem,
            intermediates_pem: String::new(),
        }
    }

    /// This CA's own certificate.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root this CA chains to (itself for a root): what a `ca.crt` holds.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// This CA's private key (PKCS#8 PEM), as a CA secret (`tls.key`) holds it.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A CA signed by this one. Leaves it issues carry it (and any
    /// intermediates above it) after their own certificate.
    pub fn issue_intermediate(&self, common_name: &str) -> CertAuthority {
        let params = ca_params(common_name);
        let key = new_key();
        let cert_pem = params
            .signed_by(&key, &self.issuer)
            .expect("a CA with an ECDSA key and a common name always signs")
            .pem();
        CertAuthority {
            issuer: Issuer::new(params, key),
            intermediates_pem: format!("{cert_pem}{}", self.intermediates_pem),
            cert_pem,
            root_pem: self.root_pem.clone(),
        }
    }

    /// A serving certificate for these DNS names and IPs, valid from now for `valid_for`.
    pub fn issue_server(
        &self,
        common_name: &str,
        dns_names: &[&str],
        ips: &[IpAddr],
        valid_for: Duration,
    ) -> IssuedCert {
        let now = OffsetDateTime::now_utc();
        self.issue_leaf(&LeafSpec {
            common_name,
            organizations: &[],
            dns_names,
            ips,
            usages: &[ExtendedKeyUsagePurpose::ServerAuth],
            not_before: now - CLOCK_SKEW_ALLOWANCE,
            not_after: now + valid_for,
        })
    }

    /// A client certificate (CN = user, O = groups), as the API server authenticates it.
    ///
    /// # Panics
    /// On more than two groups (see `push_organizations`).
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> IssuedCert {
        let now = OffsetDateTime::now_utc();
        self.issue_leaf(&LeafSpec {
            common_name: user,
            organizations: groups,
            dns_names: &[],
            ips: &[],
            usages: &[ExtendedKeyUsagePurpose::ClientAuth],
            not_before: now - CLOCK_SKEW_ALLOWANCE,
            not_after: now + CLIENT_VALIDITY,
        })
    }

    /// A certificate for both ends of mTLS (serverAuth and clientAuth, as XCP
    /// and the MP front use theirs) with an explicit validity, which may lie
    /// entirely in the past to make an expired certificate.
    pub fn issue_leaf_with_validity(
        &self,
        common_name: &str,
        dns_names: &[&str],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> IssuedCert {
        self.issue_leaf(&LeafSpec {
            common_name,
            organizations: &[],
            dns_names,
            ips: &[],
            usages: &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            not_before,
            not_after,
        })
    }

    fn issue_leaf(&self, spec: &LeafSpec) -> IssuedCert {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name);
        push_organizations(&mut params.distinguished_name, spec.organizations);
        params.subject_alt_names = spec
            .dns_names
            .iter()
            .map(|name| dns_san(name))
            .chain(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        // ECDSA keys sign (the TLS handshake) and never encipher.
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = spec.usages.to_vec();
        params.use_authority_key_identifier_extension = true;
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        let key = new_key();
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a leaf with an ECDSA key and valid names always signs");
        IssuedCert {
            cert_pem: format!("{}{}", cert.pem(), self.intermediates_pem),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A fresh private key (ECDSA P-256, PKCS#8 PEM) for a secret that holds a
/// bare key, such as a token signing key.
pub fn new_private_key_pem() -> String {
    new_key().serialize_pem()
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("ECDSA P-256 key generation fails only when the system RNG does")
}

fn ca_params(common_name: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - CLOCK_SKEW_ALLOWANCE;
    params.not_after = now + CA_VALIDITY;
    params
}

/// The OID of the organizationName attribute (2.5.4.10).
const ORGANIZATION_NAME_OID: [u64; 4] = [2, 5, 4, 10];

/// Adds one O attribute per organization. rcgen keeps one value per attribute
/// type, so the second organization goes in as a custom type with the same
/// OID: the encoded name is the same as two O attributes. Kubernetes reads
/// client certificate groups from the O attributes.
///
/// # Panics
/// On more than two organizations, which rcgen cannot encode.
fn push_organizations(name: &mut rcgen::DistinguishedName, organizations: &[&str]) {
    match organizations {
        [] => {}
        [first] => name.push(DnType::OrganizationName, *first),
        [first, second] => {
            name.push(DnType::OrganizationName, *first);
            name.push(
                DnType::CustomDnType(ORGANIZATION_NAME_OID.to_vec()),
                *second,
            );
        }
        _ => panic!(
            "a client certificate holds at most two groups here, got {}",
            organizations.len()
        ),
    }
}

fn dns_san(name: &str) -> SanType {
    match name.to_string().try_into() {
        Ok(ia5) => SanType::DnsName(ia5),
        Err(_) => panic!("DNS name {name:?} is not ASCII and cannot go in a certificate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::Pem;

    fn pems(text: &str) -> Vec<Pem> {
        Pem::iter_from_buffer(text.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    fn common_name(cert: &X509Certificate) -> String {
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    fn dns_names(cert: &X509Certificate) -> Vec<String> {
        cert.subject_alternative_name()
            .unwrap()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::DNSName(dns) => Some(dns.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn root_is_self_signed_ca() {
        let root = CertAuthority::new_root("sandbox-root");
        let pem = &pems(root.cert_pem())[0];
        let cert = pem.parse_x509().unwrap();
        assert_eq!(common_name(&cert), "sandbox-root");
        assert_eq!(cert.subject(), cert.issuer());
        assert!(cert.is_ca());
        cert.verify_signature(None).unwrap();
        assert!(cert.validity().is_valid());
        assert_eq!(root.root_pem(), root.cert_pem());
    }

    #[test]
    fn server_cert_has_sans_eku_validity_and_verifies_against_ca() {
        let root = CertAuthority::new_root("sandbox-root");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let issued = root.issue_server(
            "api",
            &["localhost", "api.sandbox"],
            &[ip],
            Duration::from_secs(3600),
        );
        let chain = pems(&issued.cert_pem);
        assert_eq!(chain.len(), 1, "a root's leaf carries no intermediates");
        let leaf = chain[0].parse_x509().unwrap();
        let root_pem = &pems(root.cert_pem())[0];
        let root_cert = root_pem.parse_x509().unwrap();

        assert_eq!(common_name(&leaf), "api");
        assert_eq!(leaf.issuer(), root_cert.subject());
        assert!(!leaf.is_ca());
        assert_eq!(dns_names(&leaf), ["localhost", "api.sandbox"]);
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        assert!(
            san.value
                .general_names
                .contains(&GeneralName::IPAddress(&[127, 0, 0, 1]))
        );
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);

        let validity = leaf.validity();
        assert!(validity.is_valid());
        let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
        let expected = 3600 + CLOCK_SKEW_ALLOWANCE.whole_seconds();
        assert!((lifetime - expected).abs() <= 2, "lifetime {lifetime}s");

        leaf.verify_signature(Some(root_cert.public_key())).unwrap();
        let key = KeyPair::from_pem(&issued.key_pem).unwrap();
        assert_eq!(
            key.public_key_raw(),
            leaf.public_key().subject_public_key.data.as_ref()
        );
    }

    #[test]
    fn client_cert_carries_user_and_groups() {
        let root = CertAuthority::new_root("sandbox-root");
        let issued = root.issue_client("admin", &["system:masters", "tsb-admins"]);
        let leaf_pem = &pems(&issued.cert_pem)[0];
        let leaf = leaf_pem.parse_x509().unwrap();
        assert_eq!(common_name(&leaf), "admin");
        let groups: Vec<&str> = leaf
            .subject()
            .iter_organization()
            .map(|attribute| attribute.as_str().unwrap())
            .collect();
        assert_eq!(groups, ["system:masters", "tsb-admins"]);
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let root_pem = &pems(root.cert_pem())[0];
        leaf.verify_signature(Some(root_pem.parse_x509().unwrap().public_key()))
            .unwrap();
    }

    #[test]
    fn intermediate_chains_to_root_and_leaves_carry_it() {
        let root = CertAuthority::new_root("root");
        let intermediate = root.issue_intermediate("intermediate");
        assert_eq!(intermediate.root_pem(), root.cert_pem());

        let intermediate_pem = &pems(intermediate.cert_pem())[0];
        let intermediate_cert = intermediate_pem.parse_x509().unwrap();
        let root_pem = &pems(root.cert_pem())[0];
        let root_cert = root_pem.parse_x509().unwrap();
        assert!(intermediate_cert.is_ca());
        assert_eq!(intermediate_cert.issuer(), root_cert.subject());
        intermediate_cert
            .verify_signature(Some(root_cert.public_key()))
            .unwrap();

        let issued =
            intermediate.issue_server("leaf", &["leaf.example"], &[], Duration::from_secs(60));
        let chain = pems(&issued.cert_pem);
        assert_eq!(chain.len(), 2, "leaf then intermediate");
        let leaf = chain[0].parse_x509().unwrap();
        assert_eq!(chain[1].contents, intermediate_pem.contents);
        assert_eq!(leaf.issuer(), intermediate_cert.subject());
        leaf.verify_signature(Some(intermediate_cert.public_key()))
            .unwrap();

        // A second level keeps the whole chain below the root, nearest first.
        let second = intermediate.issue_intermediate("second");
        let deep_leaf =
            second.issue_server("deep", &["deep.example"], &[], Duration::from_secs(60));
        let deep_chain = pems(&deep_leaf.cert_pem);
        assert_eq!(deep_chain.len(), 3);
        assert_eq!(deep_chain[2].contents, intermediate_pem.contents);
        assert_eq!(second.root_pem(), root.cert_pem());
    }

    #[test]
    fn ca_key_pem_is_the_ca_certificates_key() {
        let root = CertAuthority::new_root("root");
        let key = KeyPair::from_pem(&root.key_pem()).unwrap();
        let cert_pem = &pems(root.cert_pem())[0];
        let cert = cert_pem.parse_x509().unwrap();
        assert_eq!(
            key.public_key_raw(),
            cert.public_key().subject_public_key.data.as_ref()
        );
    }

    #[test]
    fn private_keys_are_fresh_p256_pkcs8() {
        let first = new_private_key_pem();
        assert!(first.starts_with("-----BEGIN PRIVATE KEY-----"));
        let key = KeyPair::from_pem(&first).unwrap();
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        assert_ne!(first, new_private_key_pem());
    }

    #[test]
    fn leaf_with_validity_in_the_past_is_expired() {
        let root = CertAuthority::new_root("root");
        let now = OffsetDateTime::now_utc();
        let issued = root.issue_leaf_with_validity(
            "old",
            &["old.example"],
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        );
        let leaf_pem = &pems(&issued.cert_pem)[0];
        let leaf = leaf_pem.parse_x509().unwrap();
        assert!(!leaf.validity().is_valid());
        assert!(leaf.validity().not_after.timestamp() < now.unix_timestamp());
        assert_eq!(dns_names(&leaf), ["old.example"]);
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && eku.server_auth);
    }

    #[test]
    #[should_panic(expected = "at most two groups")]
    fn three_groups_are_refused_rather_than_dropped() {
        let root = CertAuthority::new_root("root");
        root.issue_client("user", &["a", "b", "c"]);
    }

    #[test]
    #[should_panic(expected = "not ASCII")]
    fn non_ascii_dns_name_is_refused_by_name() {
        let root = CertAuthority::new_root("root");
        root.issue_server("x", &["bücher.example"], &[], Duration::from_secs(60));
    }
}
