//! The HTTPS API servers and the public handle tests and the binary use.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::faults::FaultRule;
use crate::seed::{CertVariant, SeedKind};

/// One cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    pub seed: SeedKind,
    pub certs: CertVariant,
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub clusters: Vec<ClusterOptions>,
    /// Where the kubeconfig is written.
    pub kubeconfig_path: PathBuf,
    /// The MP namespace the seeds use.
    pub namespace: String,
    /// How long a Deployment takes to report ready replicas.
    pub ready_delay: Duration,
    /// The MP's floating DNS name, in the seeded certificates' SANs.
    pub floating_dns_name: String,
}

/// Running sandbox: the servers stop when it is dropped.
pub struct Sandbox {}

impl Sandbox {
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        todo!("{options:?}")
    }
    pub fn kubeconfig(&self) -> &Path {
        todo!()
    }
    /// Panics on an unknown name (a test bug).
    pub fn cluster(&self, name: &str) -> &ClusterHandle {
        todo!("{name}")
    }
    pub fn clusters(&self) -> &[ClusterHandle] {
        todo!()
    }
}

/// One running cluster: its URL, its objects and its knobs.
pub struct ClusterHandle {}

impl ClusterHandle {
    pub fn name(&self) -> &str {
        todo!()
    }
    /// `https://127.0.0.1:PORT`
    pub fn server_url(&self) -> &str {
        todo!()
    }
    /// The stored object, for assertions. `group` is "" for the core group.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        todo!("{group}{plural}{namespace:?}{name}")
    }
    /// Request counts by "VERB PATH".
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        todo!()
    }
    pub fn reset_counters(&self) {
        todo!()
    }
    pub fn set_latency(&self, latency: Duration) {
        todo!("{latency:?}")
    }
    pub fn add_fault(&self, rule: FaultRule) {
        todo!("{rule:?}")
    }
    /// Clears the fault rules and the latency.
    pub fn clear_faults(&self) {
        todo!()
    }
    /// Closes (true) or reopens (false) the listener, keeping the port.
    pub async fn set_down(&self, down: bool) -> std::io::Result<()> {
        todo!("{down}")
    }
}
