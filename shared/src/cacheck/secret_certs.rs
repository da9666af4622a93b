//! What one secret holds, parsed: its certificate keys, the roots they lead
//! to, and what cert-manager's annotations say about it. The checks of a
//! side fill it (checks/); the self-signed issuer check and the pair
//! comparison read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use crate::secrets::certs::Certificate;

/// The annotations cert-manager puts on every Secret a Certificate fills.
pub(super) const CERTIFICATE_NAME_ANNOTATION: &str = "cert-manager.io/certificate-name";
pub(super) const ISSUER_NAME_ANNOTATION: &str = "cert-manager.io/issuer-name";
pub(super) const ISSUER_KIND_ANNOTATION: &str = "cert-manager.io/issuer-kind";
/// The label cert-manager puts on every Secret it manages, since v1.12
/// (its release notes: "certificate.spec.secretName Secrets will now be
/// labelled with the controller.cert-manager.io/fao label", #5703): how
/// its Secrets are found without reading the whole namespace.
pub(super) const MANAGED_LABEL: &str = "controller.cert-manager.io/fao";

/// The root a secret's certificates lead to, as compared between MPs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum RootId {
    /// A self-signed root in the secret: its fingerprint.
    Certificate { fingerprint: String },
    /// The chain's top issuer is not in the secret: compared by its name
    /// and the key that signed (the top certificate's authority key id).
    /// Without a key id only the name is known, which proves nothing.
    IssuerName {
        issuer: String,
        key_id: Option<String>,
    },
}

impl RootId {
    /// A root known by name alone: two of them cannot be told apart.
    pub(super) fn by_name_only(&self) -> bool {
        matches!(self, RootId::IssuerName { key_id: None, .. })
    }

    pub(super) fn shown(&self) -> String {
        match self {
            RootId::Certificate { fingerprint } => format!("sha256 {fingerprint}"),
            RootId::IssuerName {
                issuer,
                key_id: Some(key_id),
            } => format!("issuer {issuer}, key id {key_id} (not in the secret)"),
            RootId::IssuerName {
                issuer,
                key_id: None,
            } => {
                format!("issuer {issuer} (not in the secret, no key id)")
            }
        }
    }
}

/// One certificate-bearing key of a secret.
pub(super) struct CertKey {
    pub(super) key: String,
    pub(super) certificates: Vec<Certificate>,
}

impl CertKey {
    /// A key whose first certificate is not a CA holds a leaf and its chain.
    pub(super) fn leaf(&self) -> Option<&Certificate> {
        self.certificates.first().filter(|first| !first.is_ca)
    }
}

/// What one secret holds, parsed.
pub(super) struct SecretCerts {
    pub(super) name: String,
    pub(super) keys: Vec<CertKey>,
    /// Each root, with its name as shown (`"Root CA"`).
    pub(super) roots: BTreeMap<RootId, String>,
    /// What cert-manager's annotations say, when it wrote the secret.
    pub(super) written: Option<Written>,
}

/// A secret cert-manager wrote, as its annotations describe it.
pub(super) struct Written {
    /// The Certificate that filled it.
    pub(super) certificate: String,
    /// The issuer that signed it, as `Issuer xcp-identity-issuer`.
    pub(super) issuer: String,
}

pub(super) fn written_by_cert_manager(secret: &Secret) -> Option<Written> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let certificate = annotations.get(CERTIFICATE_NAME_ANNOTATION)?.clone();
    // cert-manager's own default for an issuerRef without a kind.
    let kind = annotations
        .get(ISSUER_KIND_ANNOTATION)
        .map_or("Issuer", String::as_str);
    let name = annotations
        .get(ISSUER_NAME_ANNOTATION)
        .map_or("(unnamed)", String::as_str);
    Some(Written {
        certificate,
        issuer: format!("{kind} {name}"),
    })
}
