//! One Management Plane's Secrets, however they were read: from a cluster,
//! its certificate material ([`read_cluster`]) or the whole MP
//! ([`read_management_plane`]), or from an export bundle
//! ([`bundle_snapshot`]). The checks judge snapshots and read nothing.
//!
//! A cluster is read by name, never by listing its namespace: what it costs
//! follows the MP's own Secrets, not helm's history or other tenants'
//! Secrets beside them. The one discovery, cert-manager's Secrets, is a
//! list filtered by the label cert-manager puts on them.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use serde::Serialize;
use serde_json::Value;

use super::secret_certs::MANAGED_LABEL;
use crate::error::{Result, join_in_order};
use crate::kube::cluster::Cluster;
use crate::kube::named::get_named;
use crate::secrets::bundle::Bundle;
use crate::tsb::layout::TsbLayout;
use crate::tsb::signing::SigningKeys;

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

/// Reads one cluster's certificate material, in one round trip: the
/// layout's certificate secrets by name and every Secret cert-manager
/// manages, by its label ([`MANAGED_LABEL`]).
///
/// # Errors
/// The cluster's error (exit 3 when denied or unreachable), naming the GET
/// or the LIST that failed.
pub async fn read_cluster(cluster: &Cluster, layout: &TsbLayout, role: &str) -> Result<MpSnapshot> {
    let (named, labelled) = join_in_order(
        get_named::<Secret>(cluster, &layout.certificate_secrets),
        list_cert_manager_secrets(cluster),
    )
    .await?;
    Ok(snapshot_of(cluster, role, [named.present, labelled]))
}

/// One cluster's MP as the failover's preflight and the readiness check
/// judge it: its Secrets and its ManagementPlane's spec.
pub struct ManagementPlaneRead {
    pub snapshot: MpSnapshot,
    /// The ManagementPlane object's spec, when it exists.
    pub spec: Option<Value>,
}

/// Reads one cluster's whole MP, all at once: every Secret the layout
/// names ([`TsbLayout::known_secret_names`]) and the database credentials
/// by name, cert-manager's by its label, the helm release's records by
/// helm's labels ([`crate::tsb::helm::read_release_records`]) and the
/// ManagementPlane; then, only when the spec (or the deployed release's
/// values) names signing keys' Secret of another name, that Secret.
///
/// # Errors
/// The cluster's error (exit 3 when denied or unreachable), naming the
/// request that failed.
pub async fn read_management_plane(
    cluster: &Cluster,
    layout: &TsbLayout,
    role: &str,
) -> Result<ManagementPlaneRead> {
    let mut names = layout.known_secret_names();
    names.push(crate::database::CREDENTIALS_SECRET.to_string());
    let (named, labelled, release_records, management_plane) = futures::join!(
        get_named::<Secret>(cluster, &names),
        list_cert_manager_secrets(cluster),
        crate::tsb::helm::read_release_records(cluster, layout, None),
        crate::tsb::mp::get_management_plane(cluster, layout),
    );
    let (named, labelled, release_records, management_plane) =
        (named?, labelled?, release_records?, management_plane?);
    let spec = management_plane.and_then(|object| object.data.get("spec").cloned());
    // The helm model's spec is its release's values'; tctl's is the object's.
    let values_spec = crate::tsb::helm::mp_release(&release_records, layout, None)
        .ok()
        .flatten()
        .and_then(|release| crate::tsb::helm::user_values(&release_records, &release).ok())
        .and_then(|values| values.get("spec").cloned());
    let unread: Vec<String> = [spec.as_ref(), values_spec.as_ref()]
        .into_iter()
        .flatten()
        .map(|spec| SigningKeys::from_spec(Some(spec), &layout.signing_keys_secret).secret)
        .filter(|name| !names.contains(name))
        .collect();
    let signing = if unread.is_empty() {
        Vec::new()
    } else {
        get_named::<Secret>(cluster, &unread).await?.present
    };
    Ok(ManagementPlaneRead {
        snapshot: snapshot_of(
            cluster,
            role,
            [named.present, signing, labelled, release_records],
        ),
        spec,
    })
}

/// Every Secret of the namespace carrying cert-manager's [`MANAGED_LABEL`]:
/// one LIST the API server filters.
async fn list_cert_manager_secrets(cluster: &Cluster) -> Result<Vec<Secret>> {
    let selector = format!("{MANAGED_LABEL}=true");
    Ok(cluster
        .namespaced::<Secret>()
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|error| {
            cluster.error(
                error,
                &format!(
                    "list secrets labelled {selector} in namespace {}",
                    cluster.namespace()
                ),
            )
        })?
        .items)
}

/// A cluster's snapshot of the Secrets read, each once (a Secret read by
/// name that cert-manager also labels is kept as first read).
fn snapshot_of<const N: usize>(
    cluster: &Cluster,
    role: &str,
    reads: [Vec<Secret>; N],
) -> MpSnapshot {
    let mut secrets: Vec<Secret> = Vec::new();
    for secret in reads.into_iter().flatten() {
        if !secrets
            .iter()
            .any(|known| known.metadata.name == secret.metadata.name)
        {
            secrets.push(secret);
        }
    }
    MpSnapshot {
        role: role.into(),
        origin: Origin::Context {
            context: cluster.context().into(),
            server: cluster.server().into(),
            namespace: cluster.namespace().into(),
        },
        secrets,
    }
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
