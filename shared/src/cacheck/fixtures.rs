//! What the unit tests check: CAs and leaves made with rcgen, and secrets as
//! the MP and cert-manager leave them.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::check;
use super::options::CheckOptions;
use super::report::{CheckResult, Report};
use super::secret_certs::{
    CERTIFICATE_NAME_ANNOTATION, ISSUER_KIND_ANNOTATION, ISSUER_NAME_ANNOTATION, MANAGED_LABEL,
};
use super::snapshot::{MpSnapshot, Origin};
use crate::tsb::layout::TsbLayout;

pub(super) const FLOATING: &str = "tsb.example.com";

pub(super) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(super) pem: String,
    /// What follows a leaf it issues in `tls.crt` (intermediates only).
    chain_pem: String,
    pub(super) root_pem: String,
    /// Whether what it issues names its key (authorityKeyIdentifier).
    key_ids: bool,
}

impl Ca {
    pub(super) fn root(name: &str) -> Ca {
        let params = ca_params(name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            chain_pem: String::new(),
            root_pem: pem.clone(),
            pem,
            key_ids: false,
        }
    }

    /// [`Ca::root`] whose certificates, and its intermediates', carry an
    /// authorityKeyIdentifier, as real CAs' do.
    pub(super) fn root_with_key_ids(name: &str) -> Ca {
        Ca {
            key_ids: true,
            ..Ca::root(name)
        }
    }

    pub(super) fn intermediate(&self, name: &str) -> Ca {
        let mut params = ca_params(name);
        params.use_authority_key_identifier_extension = self.key_ids;
        let key = KeyPair::generate().unwrap();
        let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            chain_pem: format!("{pem}{}", self.chain_pem),
            root_pem: self.root_pem.clone(),
            pem,
            key_ids: self.key_ids,
        }
    }

    /// (tls.crt with intermediates, tls.key)
    pub(super) fn leaf(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        params.use_authority_key_identifier_extension = self.key_ids;
        // Sooner than the CAs (rcgen's default runs to 4096), as leaves are.
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let key = KeyPair::generate().unwrap();
        let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        (format!("{pem}{}", self.chain_pem), key.serialize_pem())
    }

    /// The CA's own secret, as cert-manager writes one for an isCA
    /// Certificate (and as a CA Issuer reads it): tls.crt with what is
    /// above it, its key, the root in ca.crt.
    pub(super) fn ca_secret(&self, name: &str) -> Secret {
        let crt = if self.chain_pem.is_empty() {
            &self.pem
        } else {
            &self.chain_pem
        };
        secret(
            name,
            &[
                ("tls.crt", crt),
                ("tls.key", &self.issuer.key().serialize_pem()),
                ("ca.crt", &self.root_pem),
            ],
        )
    }

    pub(super) fn tls_secret(&self, name: &str, names: &[&str]) -> Secret {
        let (crt, key) = self.leaf(names);
        secret(
            name,
            &[
                ("tls.crt", &crt),
                ("tls.key", &key),
                ("ca.crt", &self.root_pem),
            ],
        )
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

pub(super) fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.data = Some(
        data.iter()
            .map(|(key, value)| (key.to_string(), ByteString(value.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

/// The MP's secrets, all from `ca`: tsb-certs and xcp-central-cert with
/// the floating name, es-certs with the root only.
pub(super) fn mp_secrets(ca: &Ca) -> Vec<Secret> {
    vec![
        ca.tls_secret("tsb-certs", &[FLOATING, "active.example.com"]),
        ca.tls_secret("xcp-central-cert", &[FLOATING, "central.xcp.tetrate.io"]),
        secret("es-certs", &[("ca.crt", &ca.root_pem)]),
        secret("admin-credentials", &[("admin", "not-a-certificate")]),
    ]
}

/// `secret` with the label and annotations cert-manager (1.12 and later)
/// writes for a Certificate of the same name issued by `issuer` (`Issuer x`
/// or `ClusterIssuer x`).
pub(super) fn written(mut secret: Secret, issuer: &str) -> Secret {
    let (kind, issuer_name) = issuer.split_once(' ').unwrap();
    let certificate = secret.metadata.name.clone().unwrap();
    secret.metadata.annotations = Some(BTreeMap::from(
        [
            (CERTIFICATE_NAME_ANNOTATION, certificate.as_str()),
            (ISSUER_NAME_ANNOTATION, issuer_name),
            (ISSUER_KIND_ANNOTATION, kind),
            ("cert-manager.io/issuer-group", "cert-manager.io"),
        ]
        .map(|(key, value)| (key.to_string(), value.to_string())),
    ));
    secret.metadata.labels = Some(BTreeMap::from([(
        MANAGED_LABEL.to_string(),
        "true".to_string(),
    )]));
    secret
}

pub(super) fn cluster(role: &str, secrets: Vec<Secret>) -> MpSnapshot {
    MpSnapshot {
        role: role.into(),
        origin: Origin::Context {
            context: role.into(),
            server: format!("https://{role}.example:6443"),
            namespace: "tsb".into(),
        },
        secrets,
    }
}

pub(super) fn options() -> CheckOptions {
    CheckOptions {
        dns_name: Some(FLOATING.into()),
        ..CheckOptions::default()
    }
}

pub(super) fn run(snapshots: &[MpSnapshot], options: &CheckOptions) -> Report {
    check(&TsbLayout::default(), options, snapshots)
}

pub(super) fn find<'a>(
    report: &'a Report,
    id: &str,
    secret: Option<&str>,
    cluster: Option<&str>,
) -> Vec<&'a CheckResult> {
    report
        .checks
        .iter()
        .filter(|result| result.id == id)
        .filter(|result| secret.is_none() || result.secret.as_deref() == secret)
        .filter(|result| cluster.is_none() || result.cluster.as_deref() == cluster)
        .collect()
}

pub(super) fn failures(report: &Report) -> Vec<String> {
    report
        .problems()
        .map(|result| format!("{:?} {}", result.check.status, result.check.title))
        .collect()
}
