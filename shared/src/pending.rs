//! What a plugin does until its own issue lands: connect to the contexts it
//! will work on and prove they are reachable, then say plainly that the
//! operation itself is not built yet. No plugin pretends to do its job.

use crate::cli::ConnectionArgs;
use crate::cluster::{Cluster, ClusterPair};
use crate::error::{Error, Exit, Result};
use crate::output::{CheckStatus, Ui};

/// Connects to one context (None: the current one) and checks it answers.
pub async fn check_one(
    ui: &Ui,
    connection: &ConnectionArgs,
    context: Option<&str>,
) -> Result<Cluster> {
    let kubeconfig = connection.load_kubeconfig()?;
    connection.layout()?;
    let cluster = Cluster::connect(&kubeconfig, context, &connection.client_settings()).await?;
    let version = cluster.check_reachable().await?;
    ui.check(CheckStatus::Pass, &reachable_line(&cluster, &version), None);
    Ok(cluster)
}

/// Connects to both contexts and checks them concurrently.
pub async fn check_pair(
    ui: &Ui,
    connection: &ConnectionArgs,
    active: &str,
    standby: &str,
) -> Result<ClusterPair> {
    let kubeconfig = connection.load_kubeconfig()?;
    connection.layout()?;
    let pair =
        ClusterPair::connect(&kubeconfig, active, standby, &connection.client_settings()).await?;
    let (active_version, standby_version) = pair.check_reachable().await?;
    ui.check(
        CheckStatus::Pass,
        &format!("active {}", reachable_line(&pair.active, &active_version)),
        None,
    );
    ui.check(
        CheckStatus::Pass,
        &format!(
            "standby {}",
            reachable_line(&pair.standby, &standby_version)
        ),
        None,
    );
    Ok(pair)
}

fn reachable_line(cluster: &Cluster, version: &str) -> String {
    format!(
        "context {:?} reachable: {} (Kubernetes {version}), namespace {}",
        cluster.context(),
        cluster.server(),
        cluster.namespace()
    )
}

/// The error every unbuilt operation ends with.
pub fn not_built(operation: &str, issue: u32) -> Result<Exit> {
    Err(Error::failed(format!(
        "{operation} is not built yet (issue #{issue}); this version only checks the connection"
    ))
    .with_next_step("use the runbook's manual steps for now"))
}
