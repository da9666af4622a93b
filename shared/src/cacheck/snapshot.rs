//! One Management Plane's certificate material, however it was read: from a
//! cluster ([`read_cluster`], one request) or from an export bundle
//! ([`bundle_snapshot`]). The checks judge snapshots and read nothing.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use serde::Serialize;

use crate::error::Result;
use crate::kube::cluster::Cluster;
use crate::secrets::bundle::Bundle;

/// Where a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Origin {
    #[serde(rename_all = "camelCase")]
    Context {
        context: String,
        server: String,
        namespace: String,
    },
    #[serde(rename_all = "camelCase")]
    Bundle {
        path: String,
        /// The context and namespace it was exported from.
        context: String,
        namespace: String,
        exported_at: String,
    },
}

impl Origin {
    pub(super) fn is_bundle(&self) -> bool {
        matches!(self, Origin::Bundle { .. })
    }
}

/// One Management Plane's certificate material, however it was read.
#[derive(Debug, Clone)]
pub struct MpSnapshot {
    /// `active`, `standby`, or `cluster`/`bundle` when checking one alone.
    pub role: String,
    pub origin: Origin,
    pub secrets: Vec<Secret>,
}

impl MpSnapshot {
    /// The Secret called `name`, if the snapshot has it.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|secret| secret.metadata.name.as_deref() == Some(name))
    }
}

/// Reads one cluster: the Secrets of the MP namespace, in one list (every
/// check judges the whole list).
pub async fn read_cluster(cluster: &Cluster, role: &str) -> Result<MpSnapshot> {
    let namespace = cluster.namespace();
    let secrets = cluster
        .namespaced::<Secret>()
        .list(&ListParams::default())
        .await
        .map_err(|error| cluster.error(error, &format!("list secrets in namespace {namespace}")))?
        .items;
    Ok(MpSnapshot {
        role: role.into(),
        origin: Origin::Context {
            context: cluster.context().into(),
            server: cluster.server().into(),
            namespace: namespace.into(),
        },
        secrets,
    })
}

/// A bundle as a snapshot: its Secrets, with the annotations the export keeps.
pub fn bundle_snapshot(bundle: Bundle, path: &str, role: &str) -> MpSnapshot {
    MpSnapshot {
        role: role.into(),
        origin: Origin::Bundle {
            path: path.into(),
            context: bundle.provenance.context,
            namespace: bundle.provenance.namespace,
            exported_at: bundle.provenance.exported_at,
        },
        secrets: bundle.secrets,
    }
}
