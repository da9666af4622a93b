//! The Management Plane's workloads on one cluster: read them in one pass,
//! scale them, suspend the restore CronJob, and wait (by watching) until the
//! deployments report what we asked for.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Service;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::watcher::{self, watcher};
use serde::{Deserialize, Serialize};

use crate::dns::DnsTarget;
use crate::error::{Error, Result};
use crate::kube::cluster::Cluster;
use crate::kube::named::get_named;
use crate::tsb::layout::TsbLayout;

pub const FIELD_MANAGER: &str = "kubectl-mp-failover";

/// A deployment as the failover sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replicas {
    pub desired: i32,
    pub ready: i32,
}

impl Replicas {
    /// Whether the deployment is where a step aimed it: stopped (0 asked
    /// for, none left), or at least `want` asked for and all of them ready.
    /// Above `want` counts: once started, the MP's operator scales its
    /// deployments to its own spec, and that is its call.
    pub fn meets(&self, want: i32) -> bool {
        if want == 0 {
            self.desired == 0 && self.ready == 0
        } else {
            self.desired >= want && self.ready == self.desired
        }
    }
}

/// What the MP looks like on one cluster right now.
#[derive(Debug, Clone, Default)]
pub struct MpState {
    /// The operator and the MP deployments that exist, by name.
    pub deployments: BTreeMap<String, Replicas>,
    /// The restore CronJob's `suspend`, when the CronJob exists.
    pub restore_cronjob_suspended: Option<bool>,
    /// When the restore CronJob last completed a Job successfully
    /// (`status.lastSuccessfulTime`), when it exists and ever did.
    pub restore_cronjob_last_success: Option<jiff::Timestamp>,
    /// The front Service's LoadBalancer address, when it has one.
    pub front_address: Option<FrontAddress>,
}

/// Where a LoadBalancer Service is reached: an IP, or a DNS name, which is
/// all an AWS load balancer reports (`status.loadBalancer.ingress[].hostname`;
/// tsb-facts.md, "From Tetrate's wider MP HA guide").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontAddress {
    Ip(IpAddr),
    Hostname(String),
}

impl FrontAddress {
    /// What the MP's DNS name must answer to lead clients here: the
    /// address, or an alias (CNAME) of the hostname.
    pub fn dns_target(&self) -> DnsTarget {
        match self {
            FrontAddress::Ip(address) => DnsTarget::Address(*address),
            FrontAddress::Hostname(name) => DnsTarget::alias(name)
                .unwrap_or_else(|_| DnsTarget::Alias(name.to_ascii_lowercase())),
        }
    }
}

impl std::fmt::Display for FrontAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrontAddress::Ip(address) => address.fmt(f),
            FrontAddress::Hostname(name) => f.write_str(name),
        }
    }
}

impl MpState {
    /// The layout's MP deployments (operator excluded) missing on this cluster.
    pub fn missing(&self, layout: &TsbLayout) -> Vec<String> {
        std::iter::once(&layout.operator_deployment)
            .chain(&layout.mp_deployments)
            .filter(|name| !self.deployments.contains_key(*name))
            .cloned()
            .collect()
    }
}

fn replicas_of(deployment: &Deployment) -> Replicas {
    Replicas {
        desired: deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.replicas)
            .unwrap_or(1),
        ready: deployment
            .status
            .as_ref()
            .and_then(|status| status.ready_replicas)
            .unwrap_or(0),
    }
}

/// Reads the MP's deployments (the layout's operator and `mpDeployments`,
/// by name), the restore CronJob and the front Service, all at once.
pub async fn read_state(cluster: &Cluster, layout: &TsbLayout) -> Result<MpState> {
    let namespace = cluster.namespace();
    let cronjobs: Api<CronJob> = cluster.namespaced();
    let services: Api<Service> = cluster.namespaced();
    let names: Vec<String> = std::iter::once(&layout.operator_deployment)
        .chain(&layout.mp_deployments)
        .cloned()
        .collect();
    let (deployments, cronjob, service) = futures::join!(
        get_named::<Deployment>(cluster, &names),
        cronjobs.get_opt(&layout.restore_cronjob),
        services.get_opt(&layout.front_service.name),
    );
    let deployments = deployments?.present;
    let cronjob = cronjob.map_err(|error| {
        cluster.error(
            error,
            &format!(
                "get cronjob {} in namespace {namespace}",
                layout.restore_cronjob
            ),
        )
    })?;
    let service = service.map_err(|error| {
        cluster.error(
            error,
            &format!(
                "get service {} in namespace {namespace}",
                layout.front_service.name
            ),
        )
    })?;
    Ok(MpState {
        deployments: deployments
            .iter()
            .filter_map(|deployment| {
                Some((deployment.metadata.name.clone()?, replicas_of(deployment)))
            })
            .collect(),
        restore_cronjob_last_success: cronjob
            .as_ref()
            .and_then(|cronjob| cronjob.status.as_ref()?.last_successful_time.as_ref())
            .map(|time| time.0),
        restore_cronjob_suspended: cronjob
            .map(|cronjob| cronjob.spec.and_then(|spec| spec.suspend).unwrap_or(false)),
        front_address: service.as_ref().and_then(front_address),
    })
}

/// The front address of a Service: its first LoadBalancer ingress IP, else
/// its first ingress hostname.
pub fn front_address(service: &Service) -> Option<FrontAddress> {
    let ingress = service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?;
    let ip = ingress
        .iter()
        .find_map(|ingress| ingress.ip.as_deref()?.parse().ok())
        .map(FrontAddress::Ip);
    ip.or_else(|| {
        ingress
            .iter()
            .find_map(|ingress| ingress.hostname.clone().filter(|name| !name.is_empty()))
            .map(FrontAddress::Hostname)
    })
}

fn patch_params(dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Sets a deployment's replicas through its scale subresource (with the
/// server's dry run when asked).
pub async fn scale(cluster: &Cluster, name: &str, replicas: i32, dry_run: bool) -> Result<()> {
    let api: Api<Deployment> = cluster.namespaced();
    let params = patch_params(dry_run);
    api.patch_scale(
        name,
        &params,
        &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
    )
    .await
    .map(|_| ())
    .map_err(|error| cluster.error(error, &format!("scale deployment {name} to {replicas}")))
}

/// Sets the restore CronJob's `suspend`.
pub async fn suspend_cronjob(
    cluster: &Cluster,
    name: &str,
    suspend: bool,
    dry_run: bool,
) -> Result<()> {
    let api: Api<CronJob> = cluster.namespaced();
    let params = patch_params(dry_run);
    api.patch(
        name,
        &params,
        &Patch::Merge(serde_json::json!({"spec": {"suspend": suspend}})),
    )
    .await
    .map(|_| ())
    .map_err(|error| cluster.error(error, &format!("set suspend={suspend} on cronjob {name}")))
}

/// The kubectl command that does what [`suspend_cronjob`] does, for hints.
pub fn suspend_command(cluster: &Cluster, name: &str, suspend: bool) -> String {
    format!(
        "kubectl --context {} -n {} patch cronjob {name} -p '{{\"spec\":{{\"suspend\":{suspend}}}}}'",
        cluster.context(),
        cluster.namespace()
    )
}

/// Waits until every deployment in `targets` reports exactly the replicas it
/// maps to, both asked for and ready (0 means fully stopped). Watches instead
/// of polling: one list and one watch of the namespace's deployments, all of
/// them together. A 410 Gone (the resourceVersion the watch resumes from has
/// expired) starts over from a fresh list; any other error ends the wait at
/// once. Gives up at `deadline` naming the ones still off.
pub async fn wait_for_replicas(
    cluster: &Cluster,
    targets: &BTreeMap<String, i32>,
    deadline: Duration,
) -> Result<()> {
    match tokio::time::timeout(deadline, watch_until_at_targets(cluster, targets)).await {
        Ok(result) => result,
        Err(_) => {
            let state = read_current(cluster, targets).await.unwrap_or_default();
            Err(Error::failed(format!(
                "context {:?}: deployments not at their replicas after {}s: {}",
                cluster.context(),
                deadline.as_secs(),
                lagging(targets, &state).join(", ")
            ))
            .with_next_step(
                "check their pods (kubectl describe deployment), then run again with --resume",
            ))
        }
    }
}

/// How long a wait pauses before it lists again after a 410 Gone: a fresh
/// list's resourceVersion does not expire at once, so this only keeps a
/// server that answers every watch with 410 from being listed in a loop.
const RELIST_PAUSE: Duration = Duration::from_millis(250);

/// Follows the namespace's deployments with kube's watcher until `targets`
/// are met; without a deadline ([`wait_for_replicas`] sets it).
async fn watch_until_at_targets(cluster: &Cluster, targets: &BTreeMap<String, i32>) -> Result<()> {
    let api: Api<Deployment> = cluster.namespaced();
    // The server ends each watch request after 290 s (as the hand-rolled
    // loop asked); the watcher then resumes from the last resourceVersion
    // it saw, without a new list.
    let config = watcher::Config::default().timeout(290);
    loop {
        let mut events = watcher(api.clone(), config.clone()).boxed();
        let mut seen = Seen::default();
        loop {
            match events.try_next().await {
                Ok(Some(event)) => {
                    if seen.apply(event) && lagging(targets, &seen.current).is_empty() {
                        return Ok(());
                    }
                }
                // The watcher never ends; were it to, start over as after a 410.
                Ok(None) => break,
                // A new watcher starts with a fresh list. kube's watcher
                // re-lists by itself after a 410 that arrives as a watch
                // event, but retries the same resourceVersion after a 410
                // answered to the watch request (kube-rs/kube#1042).
                Err(error) if is_gone(&error) => break,
                // --request-timeout bounds each request, not the wait: a
                // watch quiet for longer is watched again; the wait's own
                // deadline (--ready-timeout) is what ends it.
                Err(watcher::Error::WatchFailed(error)) if crate::error::is_timeout(&error) => {
                    break;
                }
                Err(error) => return Err(watch_error(cluster, error)),
            }
        }
        tokio::time::sleep(RELIST_PAUSE).await;
    }
}

/// The deployments as the watcher has shown them so far.
#[derive(Default)]
struct Seen {
    /// After the last complete list, with the watch's changes since.
    current: BTreeMap<String, Replicas>,
    /// A list in progress, replacing `current` once it is complete.
    listing: BTreeMap<String, Replicas>,
}

impl Seen {
    /// Takes in one event; true when `current` may have changed.
    fn apply(&mut self, event: watcher::Event<Deployment>) -> bool {
        let named = |deployment: &Deployment| deployment.metadata.name.clone();
        match event {
            watcher::Event::Init => self.listing.clear(),
            watcher::Event::InitApply(deployment) => {
                if let Some(name) = named(&deployment) {
                    self.listing.insert(name, replicas_of(&deployment));
                }
            }
            watcher::Event::InitDone => {
                self.current = std::mem::take(&mut self.listing);
                return true;
            }
            watcher::Event::Apply(deployment) => {
                if let Some(name) = named(&deployment) {
                    self.current.insert(name, replicas_of(&deployment));
                }
                return true;
            }
            watcher::Event::Delete(deployment) => {
                if let Some(name) = named(&deployment) {
                    self.current.remove(&name);
                }
                return true;
            }
        }
        false
    }
}

/// A 410 Gone, to a request (the watch, or a list's next page) or as a
/// watch event: what was listed has expired, and a fresh list recovers.
fn is_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        watcher::Error::WatchError(status) => status.code == 410,
        _ => false,
    }
}

/// The user-facing error for a failed list or watch of the wait.
fn watch_error(cluster: &Cluster, error: watcher::Error) -> Error {
    let namespace = cluster.namespace();
    let watching = format!("watch deployments in namespace {namespace}");
    match error {
        watcher::Error::InitialListFailed(error) => {
            cluster.error(error, &format!("list deployments in namespace {namespace}"))
        }
        watcher::Error::WatchStartFailed(error) | watcher::Error::WatchFailed(error) => {
            cluster.error(error, &watching)
        }
        watcher::Error::WatchError(status) => cluster.error(kube::Error::Api(status), &watching),
        watcher::Error::NoResourceVersion => Error::failed(format!(
            "context {:?} ({}): could not {watching}: {error}",
            cluster.context(),
            cluster.server()
        )),
    }
}

async fn read_current(
    cluster: &Cluster,
    targets: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, Replicas>> {
    let api: Api<Deployment> = cluster.namespaced();
    let listed = api
        .list(&ListParams::default())
        .await
        .map_err(|error| cluster.error(error, "list deployments"))?;
    Ok(listed
        .items
        .iter()
        .filter_map(|deployment| {
            let name = deployment.metadata.name.clone()?;
            targets
                .contains_key(&name)
                .then(|| (name, replicas_of(deployment)))
        })
        .collect())
}

/// "name ready/desired (want N)" for each deployment not yet where it should be.
fn lagging(targets: &BTreeMap<String, i32>, seen: &BTreeMap<String, Replicas>) -> Vec<String> {
    targets
        .iter()
        .filter_map(|(name, want)| match seen.get(name) {
            Some(replicas) if replicas.meets(*want) => None,
            Some(replicas) => Some(format!(
                "{name} {}/{} (want {want})",
                replicas.ready, replicas.desired
            )),
            None => Some(format!("{name} (missing)")),
        })
        .collect()
}

/// The ManagementPlane object (`layout.management_plane_name`, of
/// `layout.management_plane`'s kind) in the cluster's namespace: one GET.
/// `None` when it is absent, or its CRD is (the API then answers 404 for
/// the whole resource, which is "absent" too).
///
/// # Errors
/// The cluster's error for any other failure (exit 3 when denied or unreachable).
pub async fn get_management_plane(
    cluster: &Cluster,
    layout: &TsbLayout,
) -> Result<Option<DynamicObject>> {
    let kind = &layout.management_plane;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind),
        &kind.plural,
    );
    let namespace = cluster.namespace();
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client().clone(), namespace, &resource);
    match api.get_opt(&layout.management_plane_name).await {
        Ok(found) => Ok(found),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(cluster.error(
            error,
            &format!(
                "get {} {} in namespace {namespace}",
                kind.kind, layout.management_plane_name
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stopped means none asked and none left; started means at least the
    /// target asked for (the operator may ask more) and every one ready.
    #[test]
    fn a_deployment_meets_its_target() {
        let replicas = |desired, ready| Replicas { desired, ready };
        assert!(replicas(0, 0).meets(0));
        assert!(!replicas(0, 1).meets(0), "a pod still running");
        assert!(replicas(1, 1).meets(1));
        assert!(replicas(2, 2).meets(1), "the operator's own count");
        assert!(!replicas(2, 1).meets(1), "not all ready");
        assert!(!replicas(1, 1).meets(2));
    }

    #[test]
    fn lagging_names_each_deployment_not_at_its_target() {
        let targets = BTreeMap::from([
            ("tsb".to_string(), 0),
            ("iam".to_string(), 0),
            ("web".to_string(), 2),
        ]);
        let seen = BTreeMap::from([
            (
                "tsb".to_string(),
                Replicas {
                    desired: 0,
                    ready: 0,
                },
            ),
            (
                "iam".to_string(),
                Replicas {
                    desired: 0,
                    ready: 1,
                },
            ),
        ]);
        assert_eq!(
            lagging(&targets, &seen),
            vec!["iam 1/0 (want 0)".to_string(), "web (missing)".to_string()]
        );
    }

    #[test]
    fn missing_lists_layout_deployments_absent_from_the_cluster() {
        let layout = TsbLayout::default();
        let mut state = MpState::default();
        for name in std::iter::once(&layout.operator_deployment).chain(&layout.mp_deployments) {
            state.deployments.insert(
                name.clone(),
                Replicas {
                    desired: 1,
                    ready: 1,
                },
            );
        }
        assert!(state.missing(&layout).is_empty());
        state.deployments.remove("iam");
        assert_eq!(state.missing(&layout), vec!["iam".to_string()]);
    }
}
