//! X.509 for the Management Plane's secrets: parse PEM certificates, build
//! and verify a chain from a leaf to its root, compare roots by SHA-256
//! fingerprint, check names, expiry, and that a private key belongs to its
//! certificate.
//!
//! Nothing here prints or returns key material: certificates are public, and
//! private keys are only ever compared with a certificate's public key.

use std::net::IpAddr;

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::der_parser::der::parse_der;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

const CERTIFICATE_LABEL: &str = "CERTIFICATE";

/// One parsed certificate: what the checks need, owned, plus its DER for
/// signature verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    raw_subject: Vec<u8>,
    raw_issuer: Vec<u8>,
    /// The subject as `CN=…, O=…`.
    pub subject: String,
    pub issuer: String,
    /// Validity bounds, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    /// May serve TLS: no extendedKeyUsage, or one listing serverAuth or
    /// anyExtendedKeyUsage (Go's rule for a server certificate).
    pub allows_server_auth: bool,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// SHA-256 over the DER, as `openssl x509 -noout -fingerprint -sha256` prints it.
    pub fingerprint: String,
    /// The authorityKeyIdentifier's key id (lowercase hex): which key signed
    /// it, so two issuers of one name but different keys tell apart.
    pub authority_key_id: Option<String>,
}

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(der: Vec<u8>) -> Result<Self, String> {
        let (_, parsed) = X509Certificate::from_der(&der)
            .map_err(|error| format!("not a valid X.509 certificate: {error}"))?;
        let (mut dns_names, mut ip_addresses) = (Vec::new(), Vec::new());
        if let Ok(Some(san)) = parsed.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => dns_names.push(dns.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            ip_addresses.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        let certificate = Certificate {
            raw_subject: parsed.subject().as_raw().to_vec(),
            raw_issuer: parsed.issuer().as_raw().to_vec(),
            subject: parsed.subject().to_string(),
            issuer: parsed.issuer().to_string(),
            not_before: parsed.validity().not_before.timestamp(),
            not_after: parsed.validity().not_after.timestamp(),
            is_ca: parsed.is_ca(),
            allows_server_auth: match parsed.extended_key_usage() {
                Ok(Some(usage)) => usage.value.server_auth || usage.value.any,
                _ => true,
            },
            dns_names,
            ip_addresses,
            fingerprint: fingerprint(&der),
            authority_key_id: authority_key_id(&parsed),
            der: Vec::new(),
        };
        Ok(Certificate { der, ..certificate })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Whether `issuer` names this certificate's issuer and its key made the signature.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        if self.raw_issuer != issuer.raw_subject {
            return false;
        }
        match (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) {
            (Ok((_, child)), Ok((_, parent))) => {
                child.verify_signature(Some(parent.public_key())).is_ok()
            }
            _ => false,
        }
    }

    /// Issued by itself: a root (or a self-signed leaf).
    pub fn is_self_signed(&self) -> bool {
        self.is_signed_by(self)
    }

    /// Whether the SANs cover `name` (a DNS name or an IP address). The
    /// common name does not count: clients stopped reading it years ago.
    pub fn covers_name(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.dns_names
            .iter()
            .any(|pattern| dns_name_matches(&pattern.to_ascii_lowercase(), &name))
    }

    /// The subject's common name, else the whole subject.
    pub fn display_name(&self) -> &str {
        self.subject
            .split(", ")
            .find_map(|part| part.strip_prefix("CN="))
            .unwrap_or(&self.subject)
    }
}

/// `*.example.com` covers exactly one label; anything else must be equal.
fn dns_name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// SHA-256 of `der` as `AB:CD:…`, the way openssl prints fingerprints, so a
/// user can compare ours with `openssl x509 -noout -fingerprint -sha256`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Whether `bytes` holds at least one PEM certificate.
pub fn holds_certificate(bytes: &[u8]) -> bool {
    contains(bytes, b"-----BEGIN CERTIFICATE-----")
}

/// Whether `bytes` holds a PEM private key (any of its encodings).
pub fn holds_private_key(bytes: &[u8]) -> bool {
    contains(bytes, b"PRIVATE KEY-----")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every PEM certificate in `bytes`, in order. Other PEM blocks are skipped;
/// a certificate that does not parse is an error naming its position.
pub fn parse_pem_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, String> {
    let mut certificates = Vec::new();
    for (index, block) in Pem::iter_from_buffer(bytes).enumerate() {
        let block =
            block.map_err(|error| format!("PEM block {} unreadable: {error}", index + 1))?;
        if block.label != CERTIFICATE_LABEL {
            continue;
        }
        let certificate = Certificate::from_der(block.contents)
            .map_err(|error| format!("certificate {}: {error}", certificates.len() + 1))?;
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certificates)
}

/// How a chain from a leaf ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// At a self-signed certificate whose signature verifies: the root.
    Root,
    /// The last certificate's issuer is not among the candidates (the root
    /// lives elsewhere, e.g. in a system trust store).
    IssuerMissing { issuer: String },
    /// A certificate names an issuer that is present, but no such issuer's
    /// key verifies its signature.
    BadSignature { subject: String, issuer: String },
}

/// A path from a leaf towards its root: the leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub path: Vec<Certificate>,
    pub end: ChainEnd,
}

impl Chain {
    /// The root, when the chain reached one.
    pub fn root(&self) -> Option<&Certificate> {
        match self.end {
            ChainEnd::Root => self.path.last(),
            _ => None,
        }
    }

    /// The last certificate reached.
    pub fn top(&self) -> &Certificate {
        self.path
            .last()
            .expect("a chain always holds at least its leaf")
    }
}

/// Builds the chain from `leaf` up through `candidates` (intermediates and
/// roots, in any order), verifying every signature on the way.
pub fn build_chain(leaf: &Certificate, candidates: &[Certificate]) -> Chain {
    let mut path = vec![leaf.clone()];
    loop {
        let current = path.last().expect("path starts with the leaf");
        if current.is_self_signed() {
            return Chain {
                path,
                end: ChainEnd::Root,
            };
        }
        let named: Vec<&Certificate> = candidates
            .iter()
            .filter(|candidate| candidate.raw_subject == current.raw_issuer)
            .filter(|candidate| !path.iter().any(|seen| seen.der == candidate.der))
            .collect();
        if named.is_empty() {
            let issuer = current.issuer.clone();
            return Chain {
                path,
                end: ChainEnd::IssuerMissing { issuer },
            };
        }
        match named
            .into_iter()
            .find(|issuer| current.is_signed_by(issuer))
        {
            Some(issuer) => path.push(issuer.clone()),
            None => {
                let end = ChainEnd::BadSignature {
                    subject: current.subject.clone(),
                    issuer: current.issuer.clone(),
                };
                return Chain { path, end };
            }
        }
    }
}

/// Whether a private key belongs to a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch {
    Matches,
    /// The key is readable and is not the certificate's.
    Mismatch,
    /// The key could not be read (encrypted, or a type we do not know): why.
    Unknown(String),
}

/// Compares the private key in `key_pem` with `certificate`'s public key.
pub fn key_matches(key_pem: &[u8], certificate: &Certificate) -> KeyMatch {
    let Some(key) = Pem::iter_from_buffer(key_pem)
        .filter_map(Result::ok)
        .find(|block| block.label.ends_with("PRIVATE KEY"))
    else {
        return KeyMatch::Unknown("no PEM private key found".into());
    };
    let Ok((_, parsed)) = X509Certificate::from_der(&certificate.der) else {
        return KeyMatch::Unknown("the certificate does not parse".into());
    };
    let spki = parsed.public_key();
    let certificate_key = spki.subject_public_key.data.as_ref();
    match key.label.as_str() {
        "PRIVATE KEY" => pkcs8_matches(&key.contents, certificate_key),
        "RSA PRIVATE KEY" => match RsaKeyPair::from_der(&key.contents) {
            Ok(pair) if pair.public_key().as_ref() == certificate_key => KeyMatch::Matches,
            Ok(_) => KeyMatch::Mismatch,
            Err(error) => KeyMatch::Unknown(format!("an RSA key this tool cannot read ({error})")),
        },
        "EC PRIVATE KEY" => sec1_matches(&key.contents, spki),
        other => KeyMatch::Unknown(format!(
            "a {other:?} PEM block (encrypted keys are not read)"
        )),
    }
}

/// A PKCS#8 key: every reading of it (EC P-256, P-384, RSA, Ed25519) gives
/// its public key; it matches when the certificate's is among them.
fn pkcs8_matches(contents: &[u8], certificate_key: &[u8]) -> KeyMatch {
    let ecdsa = |algorithm: &'static EcdsaSigningAlgorithm| {
        EcdsaKeyPair::from_pkcs8(algorithm, contents, &SystemRandom::new())
            .ok()
            .map(|pair| pair.public_key().as_ref().to_vec())
    };
    let public_keys = [
        ecdsa(&ECDSA_P256_SHA256_ASN1_SIGNING),
        ecdsa(&ECDSA_P384_SHA384_ASN1_SIGNING),
        RsaKeyPair::from_pkcs8(contents)
            .ok()
            .map(|pair| pair.public_key().as_ref().to_vec()),
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(contents)
            .ok()
            .map(|pair| pair.public_key().as_ref().to_vec()),
    ];
    let readable: Vec<Vec<u8>> = public_keys.into_iter().flatten().collect();
    if readable.is_empty() {
        KeyMatch::Unknown("a PKCS#8 key of a type this tool cannot read".into())
    } else if readable.iter().any(|public| public == certificate_key) {
        KeyMatch::Matches
    } else {
        KeyMatch::Mismatch
    }
}

/// A SEC1 (`EC PRIVATE KEY`) key against the certificate's public key.
fn sec1_matches(contents: &[u8], spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> KeyMatch {
    let Some(private_scalar) = sec1_private_scalar(contents) else {
        return KeyMatch::Unknown("an EC key this tool cannot read".into());
    };
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return KeyMatch::Mismatch;
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.as_oid().ok());
    let algorithm = match curve {
        Some(oid) if oid == OID_EC_P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
        Some(oid) if oid == OID_NIST_EC_P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => return KeyMatch::Unknown("the certificate's curve is not P-256 or P-384".into()),
    };
    // ring derives the public key from the private one and refuses the pair
    // when it differs from the certificate's.
    match EcdsaKeyPair::from_private_key_and_public_key(
        algorithm,
        &private_scalar,
        spki.subject_public_key.data.as_ref(),
        &SystemRandom::new(),
    ) {
        Ok(_) => KeyMatch::Matches,
        Err(_) => KeyMatch::Mismatch,
    }
}

/// The private scalar of a SEC1 `ECPrivateKey` (RFC 5915): its second element.
fn sec1_private_scalar(der: &[u8]) -> Option<Vec<u8>> {
    let (_, object) = parse_der(der).ok()?;
    let BerObjectContent::Sequence(items) = &object.content else {
        return None;
    };
    match &items.get(1)?.content {
        BerObjectContent::OctetString(bytes) => Some(bytes.to_vec()),
        _ => None,
    }
}

/// The key algorithm of a certificate, for messages: `ECDSA P-256`, `RSA`, …
pub fn key_algorithm(certificate: &Certificate) -> &'static str {
    let Ok((_, parsed)) = X509Certificate::from_der(&certificate.der) else {
        return "unknown";
    };
    let algorithm = &parsed.public_key().algorithm;
    if algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
        "RSA"
    } else if algorithm.algorithm == OID_SIG_ED25519 {
        "Ed25519"
    } else if algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        "ECDSA"
    } else {
        "unknown"
    }
}

/// The key id of `certificate`'s authorityKeyIdentifier, lowercase hex.
fn authority_key_id(certificate: &X509Certificate<'_>) -> Option<String> {
    certificate
        .extensions()
        .iter()
        .find_map(|extension| match extension.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => aki
                .key_identifier
                .as_ref()
                .map(|id| id.0.iter().map(|byte| format!("{byte:02x}")).collect()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair as RcgenKeyPair};

    struct Ca {
        issuer: Issuer<'static, RcgenKeyPair>,
        pem: String,
    }

    fn root(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = RcgenKeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    fn intermediate(parent: &Ca, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = RcgenKeyPair::generate().unwrap();
        let pem = params.signed_by(&key, &parent.issuer).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    fn leaf(ca: &Ca, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = RcgenKeyPair::generate().unwrap();
        let pem = params.signed_by(&key, &ca.issuer).unwrap().pem();
        (pem, key.serialize_pem())
    }

    fn one(pem: &str) -> Certificate {
        parse_pem_certificates(pem.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn parses_every_certificate_and_skips_other_blocks() {
        let ca = root("Root CA");
        let (leaf_pem, key_pem) = leaf(&ca, &["tsb.example.com"]);
        let text = format!("{leaf_pem}{key_pem}{}", ca.pem);
        let certificates = parse_pem_certificates(text.as_bytes()).unwrap();
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates[1].display_name(), "Root CA");
        assert!(certificates[1].is_ca && !certificates[0].is_ca);
        assert_eq!(certificates[0].dns_names, ["tsb.example.com"]);
        assert!(parse_pem_certificates(key_pem.as_bytes()).is_err());
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            parse_pem_certificates(broken.as_bytes())
                .unwrap_err()
                .contains("certificate 1")
        );
        assert!(holds_certificate(text.as_bytes()) && holds_private_key(text.as_bytes()));
        assert!(!holds_private_key(ca.pem.as_bytes()));
    }

    #[test]
    fn fingerprint_is_openssl_style_sha256_of_the_der() {
        let certificate = one(&root("Root CA").pem);
        assert_eq!(certificate.fingerprint, fingerprint(certificate.der()));
        assert_eq!(certificate.fingerprint.len(), 32 * 3 - 1);
        assert!(
            certificate
                .fingerprint
                .chars()
                .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
    }

    #[test]
    fn chain_verifies_through_intermediates_to_the_root() {
        let ca = root("Root CA");
        let middle = intermediate(&ca, "Intermediate CA");
        let (leaf_pem, _) = leaf(&middle, &["tsb.example.com"]);
        let candidates = [one(&middle.pem), one(&ca.pem)];
        let chain = build_chain(&one(&leaf_pem), &candidates);
        assert_eq!(chain.end, ChainEnd::Root);
        assert_eq!(chain.path.len(), 3);
        assert_eq!(chain.root().unwrap().fingerprint, one(&ca.pem).fingerprint);
    }

    #[test]
    fn chain_without_its_root_ends_at_the_missing_issuer() {
        let ca = root("Root CA");
        let middle = intermediate(&ca, "Intermediate CA");
        let (leaf_pem, _) = leaf(&middle, &["x"]);
        let chain = build_chain(&one(&leaf_pem), &[one(&middle.pem)]);
        assert_eq!(
            chain.end,
            ChainEnd::IssuerMissing {
                issuer: "CN=Root CA".into()
            }
        );
        assert!(chain.root().is_none());
        assert_eq!(chain.top().display_name(), "Intermediate CA");
    }

    #[test]
    fn an_impostor_issuer_with_the_same_name_fails_the_signature() {
        let real = root("Root CA");
        let impostor = root("Root CA");
        let (leaf_pem, _) = leaf(&real, &["x"]);
        let chain = build_chain(&one(&leaf_pem), &[one(&impostor.pem)]);
        assert!(
            matches!(chain.end, ChainEnd::BadSignature { ref issuer, .. } if issuer == "CN=Root CA"),
            "{chain:?}"
        );
        assert!(!one(&leaf_pem).is_signed_by(&one(&impostor.pem)));
        assert!(one(&leaf_pem).is_signed_by(&one(&real.pem)));
    }

    #[test]
    fn san_matching_follows_tls_rules() {
        let ca = root("Root CA");
        let (leaf_pem, _) = leaf(&ca, &["tsb.example.com", "*.mp.example.com", "10.0.0.7"]);
        let certificate = one(&leaf_pem);
        assert!(certificate.covers_name("tsb.example.com"));
        assert!(certificate.covers_name("TSB.Example.com."));
        assert!(certificate.covers_name("active.mp.example.com"));
        assert!(!certificate.covers_name("a.b.mp.example.com"));
        assert!(!certificate.covers_name("mp.example.com"));
        assert!(!certificate.covers_name("other.example.com"));
        assert!(certificate.covers_name("10.0.0.7"));
        assert!(!certificate.covers_name("10.0.0.8"));
    }

    #[test]
    fn a_private_key_matches_only_its_own_certificate() {
        let ca = root("Root CA");
        let (leaf_pem, key_pem) = leaf(&ca, &["x"]);
        let (_, other_key) = leaf(&ca, &["y"]);
        let certificate = one(&leaf_pem);
        assert_eq!(
            key_matches(key_pem.as_bytes(), &certificate),
            KeyMatch::Matches
        );
        assert_eq!(
            key_matches(other_key.as_bytes(), &certificate),
            KeyMatch::Mismatch
        );
        assert!(matches!(
            key_matches(b"not a key", &certificate),
            KeyMatch::Unknown(_)
        ));
        assert_eq!(key_algorithm(&certificate), "ECDSA");
    }

    /// Rewraps a PKCS#8 P-256 key as SEC1 (`EC PRIVATE KEY`), the form
    /// `openssl ec` and many older tools write.
    fn sec1_pem(pkcs8_pem: &str) -> String {
        use base64::Engine;
        let block = Pem::iter_from_buffer(pkcs8_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        // PKCS#8: SEQUENCE { version, algorithm, OCTET STRING { ECPrivateKey } }
        let (_, object) = parse_der(&block.contents).unwrap();
        let BerObjectContent::Sequence(items) = object.content else {
            panic!("PKCS#8 is a sequence")
        };
        let BerObjectContent::OctetString(inner) = items[2].content else {
            panic!("third element is the key")
        };
        let body = base64::engine::general_purpose::STANDARD.encode(inner);
        format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n")
    }

    #[test]
    fn sec1_keys_are_matched_too() {
        let ca = root("Root CA");
        let (leaf_pem, key_pem) = leaf(&ca, &["x"]);
        let (_, other_key) = leaf(&ca, &["y"]);
        let certificate = one(&leaf_pem);
        assert_eq!(
            key_matches(sec1_pem(&key_pem).as_bytes(), &certificate),
            KeyMatch::Matches
        );
        assert_eq!(
            key_matches(sec1_pem(&other_key).as_bytes(), &certificate),
            KeyMatch::Mismatch
        );
    }

    #[test]
    fn validity_bounds_are_unix_seconds() {
        let ca = root("Root CA");
        let certificate = one(&ca.pem);
        let now = jiff::Timestamp::now().as_second();
        assert!(certificate.not_before <= now && now < certificate.not_after);
    }
}
