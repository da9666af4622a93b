//! Writes the kubeconfig that points kubectl and the plugins at the sandbox.

use std::path::Path;

/// One cluster's entry: contexts `name` (client cert) and `name-token` (bearer token).
pub struct KubeconfigCluster<'a> {
    pub name: &'a str,
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
    pub token: &'a str,
    pub namespace: &'a str,
}

/// Writes the kubeconfig (mode 0600, atomically); current-context is the first cluster.
pub fn write_kubeconfig(path: &Path, clusters: &[KubeconfigCluster]) -> std::io::Result<()> {
    todo!("{}{}", path.display(), clusters.len())
}
