//! The sandbox's controllers, as pure functions the server's loop calls:
//! Deployment status follows spec.replicas after a delay, and the TSB operator
//! scales the MP deployments back up while it runs itself.

use std::time::Duration;

use serde_json::Value;

/// What the TSB operator emulation watches.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// The operator's own deployment (`tsb-operator-management-plane`).
    pub operator_deployment: String,
    /// Label selecting the deployments it manages (key, value).
    pub managed_label: (String, String),
}

impl Default for OperatorConfig {
    fn default() -> Self {
        todo!()
    }
}

/// The status `deployment` should report now, `since_spec_change` after its
/// spec last changed: ready replicas catch up with spec.replicas once
/// `ready_delay` has passed. Returns None when the current status is already right.
pub fn next_deployment_status(
    deployment: &Value,
    since_spec_change: Duration,
    ready_delay: Duration,
) -> Option<Value> {
    todo!("{deployment}{since_spec_change:?}{ready_delay:?}")
}

/// The (deployment name, replicas) corrections the operator makes among the
/// `deployments` of one namespace; empty unless the operator itself has ready replicas.
pub fn operator_corrections(deployments: &[Value], config: &OperatorConfig) -> Vec<(String, i64)> {
    todo!("{}{config:?}", deployments.len())
}
