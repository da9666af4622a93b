//! What each sandbox cluster holds at start: a realistic TSB Management Plane.

use std::net::IpAddr;

use serde_json::Value;

use crate::pki::CertAuthority;

/// What a cluster is seeded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    /// Only the built-in namespaces and the CRDs.
    Empty,
    /// A helm-installed MP: helm release secret `sh.helm.release.v1.mp.v1`.
    TsbHelm,
    /// A tctl-installed MP: ManagementPlane CR and the generic secret list.
    TsbGeneric,
}

/// How the seeded MP's certificates relate to the other clusters'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertVariant {
    #[default]
    SharedRoot,
    OwnRoot,
    ExpiredLeaf,
    MissingSan,
    CertManagerSelfSigned,
}

impl std::str::FromStr for SeedKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        todo!("{text}")
    }
}

impl std::str::FromStr for CertVariant {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        todo!("{text}")
    }
}

/// Everything a seed needs to know about its cluster.
pub struct SeedContext<'a> {
    pub cluster_name: &'a str,
    pub namespace: &'a str,
    pub kind: SeedKind,
    pub certs: CertVariant,
    /// The root shared by every cluster using `CertVariant::SharedRoot`.
    pub shared_root: &'a CertAuthority,
    /// The DNS name clients use for the MP, whichever cluster serves it.
    pub floating_dns_name: &'a str,
    /// The address the MP's front Service (`envoy`) reports as its LoadBalancer ingress.
    pub front_address: IpAddr,
}

/// The objects to create, in order: namespaces, CRDs, then namespaced objects.
/// Objects carry apiVersion, kind, metadata.name (and namespace); the store
/// assigns uid, resourceVersion and timestamps.
pub fn seed_objects(context: &SeedContext) -> Vec<Value> {
    todo!("{}", context.cluster_name)
}
