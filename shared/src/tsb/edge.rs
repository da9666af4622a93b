//! A workload cluster's control plane after the MP moved: its XCP edge must
//! reconnect to the new XCP central. Tetrate's MP HA guide (tsb-facts.md)
//! gives the remedies in order: restart the edge (`kubectl rollout restart
//! deployment/edge -n istio-system`), read its logs, and on token or auth
//! errors delete the tokens it caches so they are re-issued. [`follow`] does
//! that for one cluster; [`judge`] reads the edge's state from its
//! Deployment and its pods' logs since a given time.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, GetParams, ListParams, LogParams, Patch, PatchParams};
use tokio::time::Instant;

use super::layout::ControlPlaneLayout;
use super::mp::FIELD_MANAGER;
use crate::error::{Error, Result};
use crate::kube::cluster::Cluster;

/// How often a wait looks again: each look is a GET of the Deployment and a
/// LIST of its pods (at once once its selector is known), then a GET of
/// each ready pod's log since the mark.
const POLL: Duration = Duration::from_millis(500);

/// Where a read of the edge's Deployment is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    /// etcd (a quorum read): the preflight's, which decides whether the
    /// failover starts.
    Etcd,
    /// The API server's watch cache (`resourceVersion=0`), which trails
    /// etcd by milliseconds and costs the server a fraction of a quorum
    /// read (measured on kube-apiserver 1.36: ~0.4 ms of CPU against ~0.9,
    /// etcd's share gone): the step's looks, one per cluster every
    /// [`POLL`], whose verdict rests on the pods' logs since the mark,
    /// which the kubelet serves live. A look that trails is followed by
    /// the next.
    WatchCache,
}

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// What the edge shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeState {
    /// Available, and every ready pod's last marker since the mark says
    /// it connected to central.
    Connected,
    /// A ready pod's last marker is a token or auth error: the line.
    TokenErrors(String),
    /// Neither yet: why.
    Waiting(String),
}

/// The marker a log line carries, if any.
fn marker(layout: &ControlPlaneLayout, line: &str) -> Option<bool> {
    let lower = line.to_lowercase();
    let has = |markers: &[String]| {
        markers
            .iter()
            .any(|marker| lower.contains(&marker.to_lowercase()))
    };
    // An error on the line outweighs a "connected" in its text.
    if has(&layout.token_error_markers) {
        Some(false)
    } else if has(&layout.connected_markers) {
        Some(true)
    } else {
        None
    }
}

/// The edge's state from its Deployment's availability and each ready
/// pod's log since the mark: the last marker of each log counts (an edge
/// that failed to authenticate then connected has connected).
pub fn judge(layout: &ControlPlaneLayout, available: bool, pod_logs: &[String]) -> EdgeState {
    let mut connected = 0;
    for log in pod_logs {
        let last = log
            .lines()
            .rev()
            .find_map(|line| marker(layout, line).map(|connected| (connected, line)));
        match last {
            Some((false, line)) => return EdgeState::TokenErrors(line.trim().to_string()),
            Some((true, _)) => connected += 1,
            None => {}
        }
    }
    if !available {
        return EdgeState::Waiting("its Deployment is not Available".into());
    }
    if pod_logs.is_empty() {
        return EdgeState::Waiting("no ready pod".into());
    }
    if connected == pod_logs.len() {
        return EdgeState::Connected;
    }
    let markers = layout.connected_markers.join("\" or \"");
    EdgeState::Waiting(format!("no \"{markers}\" in its log since the mark"))
}

/// What was done to a control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Restarted,
    TokensReissued,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Restarted => "restarted",
            Action::TokensReissued => "tokens re-issued",
        }
    }
}

/// How one control plane ended: its edge's replicas as last seen
/// (`1/1 ready`), what was done, and whether it followed (the summary) or
/// not (why).
pub struct Followed {
    pub edge: String,
    pub action: Action,
    pub result: Result<String>,
}

/// The control plane's side of a failover, for one workload cluster: waits
/// up to `timeout` for the edge to show it connected since `since` (the DNS
/// switch); else restarts it and waits again; if it then reports token
/// errors, deletes the cached tokens, waits for them to be re-created and
/// for the edge to connect. Every wait is `timeout` long.
pub async fn follow(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    found: Option<&FoundEdge>,
    since: Timestamp,
    timeout: Duration,
) -> Followed {
    let mut look = Look {
        cluster,
        layout,
        pod_selector: found.map(|found| found.pod_selector.clone()),
        replicas: found.map_or_else(|| "?".into(), |found| found.replicas.clone()),
    };
    let mut action = Action::None;
    let result = follow_steps(&mut look, since, timeout, &mut action).await;
    let edge = look.replicas;
    Followed {
        edge,
        action,
        result,
    }
}

async fn follow_steps(
    look: &mut Look<'_>,
    since: Timestamp,
    timeout: Duration,
    action: &mut Action,
) -> Result<String> {
    let (cluster, layout) = (look.cluster, look.layout);
    let seconds = timeout.as_secs_f64();
    let state = look.wait_for(since, timeout, false).await?;
    if state == EdgeState::Connected {
        return Ok("its edge reconnected by itself".into());
    }
    let restarted = restart(cluster, layout, false).await?;
    *action = Action::Restarted;
    wait_rollout(cluster, layout, timeout).await?;
    let state = match look.wait_for(restarted, timeout, true).await? {
        EdgeState::Connected => return Ok("its edge reconnected after a restart".into()),
        EdgeState::Waiting(why) => {
            return Err(Error::failed(format!(
                "its edge did not reconnect within {seconds:.0}s of a restart: {why}"
            )));
        }
        EdgeState::TokenErrors(line) => line,
    };
    let deleted_at = Timestamp::now();
    let deleted = delete_tokens(cluster, layout).await?;
    *action = Action::TokensReissued;
    wait_tokens(cluster, layout, &deleted, timeout)
        .await
        .map_err(|error| {
            let message = format!(
                "after token errors ({state}) its tokens were deleted: {}",
                error.message()
            );
            error.with_message(message)
        })?;
    match look.wait_for(deleted_at, timeout, false).await? {
        EdgeState::Connected => Ok(format!(
            "its edge reconnected once {} were re-issued",
            plural(deleted.len(), "token")
        )),
        EdgeState::TokenErrors(line) | EdgeState::Waiting(line) => Err(Error::failed(format!(
            "its tokens were re-issued but its edge did not reconnect within {seconds:.0}s: {line}"
        ))),
    }
}

fn plural(count: usize, what: &str) -> String {
    format!("{count} {what}{}", if count == 1 { "" } else { "s" })
}

/// One control plane's edge as the control-planes step looks at it: what
/// it learned stays for the next look.
struct Look<'a> {
    cluster: &'a Cluster,
    layout: &'a ControlPlaneLayout,
    /// The edge's pod selector, once known (from the preflight's read or
    /// the first look): then its pods are listed alongside the Deployment's
    /// GET, one round trip instead of two.
    pod_selector: Option<String>,
    /// Its replicas as last seen (`1/1 ready`), for the step's table.
    replicas: String,
}

impl Look<'_> {
    /// Looks at the edge until it is connected (or reports token errors,
    /// when `stop_on_token_errors`), for up to `timeout`; returns what it
    /// showed last.
    async fn wait_for(
        &mut self,
        since: Timestamp,
        timeout: Duration,
        stop_on_token_errors: bool,
    ) -> Result<EdgeState> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.observe(since).await?;
            let stop = match &state {
                EdgeState::Connected => true,
                EdgeState::TokenErrors(_) => stop_on_token_errors,
                EdgeState::Waiting(_) => false,
            };
            if stop || Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
        }
    }

    /// The edge's state: its Deployment by name and its pods by its
    /// selector (at once when the selector is known), then each ready
    /// pod's log since `since`, the logs read concurrently.
    ///
    /// # Errors
    /// The Deployment is missing (exit 1), or the cluster's error.
    async fn observe(&mut self, since: Timestamp) -> Result<EdgeState> {
        let (cluster, layout) = (self.cluster, self.layout);
        let (deployment, mut listed) = match &self.pod_selector {
            Some(selector) => {
                let (deployment, listed) = futures::try_join!(
                    get_edge(cluster, layout, ReadFrom::WatchCache),
                    list_pods(cluster, layout, selector)
                )?;
                (deployment, Some((selector.clone(), listed)))
            }
            None => (get_edge(cluster, layout, ReadFrom::WatchCache).await?, None),
        };
        // A Deployment's selector cannot change (apps/v1), but the edge may
        // have been deleted and created again with another one since it
        // was last seen: its pods are then listed again by its own.
        let selector = pod_selector(&deployment);
        let pods = match listed.take() {
            Some((listed_by, pods)) if listed_by == selector => pods,
            _ => list_pods(cluster, layout, &selector).await?,
        };
        self.pod_selector = Some(selector);
        self.replicas = replicas(&deployment);
        let available = deployment
            .status
            .and_then(|status| status.conditions)
            .unwrap_or_default()
            .iter()
            .any(|condition| condition.type_ == "Available" && condition.status == "True");
        let api: Api<Pod> = api(cluster, layout);
        let ready: Vec<&Pod> = pods.iter().filter(|pod| is_ready(pod)).collect();
        let logs = join_all(
            ready
                .iter()
                .map(|pod| pod_log(cluster, &api, pod, &layout.edge_deployment, since)),
        )
        .await;
        // A pod gone since it was listed is no longer one of the edge's.
        let logs: Vec<String> = logs
            .into_iter()
            .filter_map(Result::transpose)
            .collect::<Result<_>>()?;
        Ok(judge(layout, available, &logs))
    }
}

fn api<K>(cluster: &Cluster, layout: &ControlPlaneLayout) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    Api::namespaced(cluster.client().clone(), &layout.namespace)
}

/// `deployment/edge in istio-system`, for messages.
pub fn edge_name(layout: &ControlPlaneLayout) -> String {
    format!(
        "deployment/{} in {}",
        layout.edge_deployment, layout.namespace
    )
}

/// The label selector of the Deployment's pods (`app=edge`), from its
/// `matchLabels`.
fn pod_selector(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.match_labels.as_ref())
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The edge's pods by `selector`, from the watch cache as the step's looks
/// read ([`ReadFrom::WatchCache`]).
async fn list_pods(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    selector: &str,
) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = api(cluster, layout);
    Ok(pods
        .list(&ListParams::default().labels(selector).match_any())
        .await
        .map_err(|error| cluster.error(error, &format!("list the pods of {}", edge_name(layout))))?
        .items)
}

/// A control plane's edge as the failover's preflight found it.
#[derive(Debug, Clone)]
pub struct FoundEdge {
    /// `1/1 ready`: its ready replicas of those it wants.
    pub replicas: String,
    /// Its pods' label selector (`app=edge`), which the control-planes
    /// step lists them by.
    pub pod_selector: String,
}

/// The control plane before the failover: its edge Deployment exists, its
/// replicas and its pods' selector. One GET, which the failover's preflight
/// makes for every control plane at once: an unreachable cluster is known
/// before anything changes, each connection is open when the
/// control-planes step starts, and that step's first look needs one round
/// trip less.
///
/// # Errors
/// The Deployment is missing (exit 1), or the cluster's error.
pub async fn find_edge(cluster: &Cluster, layout: &ControlPlaneLayout) -> Result<FoundEdge> {
    let deployment = get_edge(cluster, layout, ReadFrom::Etcd).await?;
    Ok(FoundEdge {
        replicas: replicas(&deployment),
        pod_selector: pod_selector(&deployment),
    })
}

async fn get_edge(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    read_from: ReadFrom,
) -> Result<Deployment> {
    let deployments: Api<Deployment> = api(cluster, layout);
    let params = match read_from {
        ReadFrom::Etcd => GetParams::default(),
        ReadFrom::WatchCache => GetParams::any(),
    };
    match deployments.get_with(&layout.edge_deployment, &params).await {
        Ok(deployment) => Ok(deployment),
        Err(kube::Error::Api(status)) if status.is_not_found() => {
            Err(Error::failed(format!("{} not found", edge_name(layout))))
        }
        Err(error) => Err(cluster.error(error, &format!("get {}", edge_name(layout)))),
    }
}

/// `1/1 ready`: the Deployment's ready replicas of those it wants.
fn replicas(deployment: &Deployment) -> String {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let ready = deployment
        .status
        .as_ref()
        .and_then(|status| status.ready_replicas)
        .unwrap_or(0);
    format!("{ready}/{desired} ready")
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|condition| condition.type_ == "Ready" && condition.status == "True")
            })
}

/// The log of `pod`'s container named `container` (else its first) since
/// `since`; `None` when the pod is gone (deleted since it was listed, as
/// in a rollout).
async fn pod_log(
    cluster: &Cluster,
    pods: &Api<Pod>,
    pod: &Pod,
    container: &str,
    since: Timestamp,
) -> Result<Option<String>> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let containers = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default();
    let container = containers
        .iter()
        .find(|candidate| candidate.name == container)
        .or(containers.first())
        .map(|found| found.name.clone());
    // The API takes whole seconds (kube rounds to the nearest): from the
    // second `since` falls in, so that no line after it is missed.
    let since = Timestamp::from_second(since.as_second()).unwrap_or(since);
    let params = LogParams {
        container,
        since_time: Some(since),
        ..LogParams::default()
    };
    match pods.logs(&pod_name, &params).await {
        Ok(log) => Ok(Some(log)),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(error) => Err(cluster.error(error, &format!("read the log of pod {pod_name}"))),
    }
}

/// `kubectl rollout restart`: sets the pod template's restartedAt
/// annotation to now (with the server's dry run when asked). Returns when
/// it was set.
pub async fn restart(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    dry_run: bool,
) -> Result<Timestamp> {
    let now = Timestamp::now();
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }}}}});
    let params = PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api::<Deployment>(cluster, layout)
        .patch(&layout.edge_deployment, &params, &Patch::Merge(patch))
        .await
        .map_err(|error| cluster.error(error, &format!("restart {}", edge_name(layout))))?;
    Ok(now)
}

/// Waits, as `kubectl rollout status` does, until the restarted edge's
/// pods replaced the old ones and are available.
async fn wait_rollout(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    timeout: Duration,
) -> Result<()> {
    let deployments: Api<Deployment> = api(cluster, layout);
    let deadline = Instant::now() + timeout;
    loop {
        let deployment = deployments
            .get(&layout.edge_deployment)
            .await
            .map_err(|error| cluster.error(error, &format!("get {}", edge_name(layout))))?;
        if rolled_out(&deployment) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::failed(format!(
                "its edge's restart did not finish within {}s ({} not rolled out)",
                timeout.as_secs(),
                edge_name(layout)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn rolled_out(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    status.observed_generation >= deployment.metadata.generation
        && updated >= desired
        && status.replicas.unwrap_or(0) == updated
        && status.available_replicas.unwrap_or(0) >= updated
}

/// A key id (`kid`) a cached token of a control plane names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTokenKid {
    /// The token secret holding it (`otel-token`).
    pub secret: String,
    pub kid: String,
}

/// The key ids (`kid`) the control plane's cached tokens were signed with:
/// one for each JWT found among the values of the layout's
/// token secrets, fetched by name at once. Under `--disaster` they are the
/// only witness of the key the lost active signed with (Tetrate MP HA
/// guide, "Troubleshooting Failover Operations"). Token values are never
/// returned nor shown; a secret that is absent or holds no JWT is left out.
///
/// # Errors
/// A read the API server refuses (exit 3), naming the secret.
pub async fn cached_token_key_ids(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
) -> Result<Vec<CachedTokenKid>> {
    let secrets: Api<Secret> = api(cluster, layout);
    let found = join_all(layout.token_secrets.iter().map(|name| {
        let secrets = secrets.clone();
        async move {
            secrets.get_opt(name).await.map_err(|error| {
                cluster.error(error, &format!("get secret {name} in {}", layout.namespace))
            })
        }
    }))
    .await;
    let mut kids = Vec::new();
    for secret in found {
        let Some(secret) = secret? else { continue };
        let name = secret.metadata.name.clone().unwrap_or_default();
        let values = crate::secrets::redact::secret_values(&secret);
        for kid in values
            .values()
            .filter_map(|value| super::signing::jwt_key_id(value))
        {
            kids.push(CachedTokenKid {
                secret: name.clone(),
                kid,
            });
        }
    }
    Ok(kids)
}

/// Deletes those of the cached tokens that exist; returns each deleted
/// one's uid, to tell its re-issued successor from it.
async fn delete_tokens(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
) -> Result<BTreeMap<String, String>> {
    let secrets: Api<Secret> = api(cluster, layout);
    let found = join_all(layout.token_secrets.iter().map(|name| {
        let secrets = secrets.clone();
        async move {
            let found = secrets.get_metadata_opt(name).await.map_err(|error| {
                cluster.error(error, &format!("get secret {name} in {}", layout.namespace))
            })?;
            Ok((name.clone(), found.and_then(|found| found.metadata.uid)))
        }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let present: BTreeMap<String, String> = found
        .into_iter()
        .filter_map(|(name, uid)| Some((name, uid?)))
        .collect();
    let deletes = join_all(present.keys().map(|name| {
        let secrets = secrets.clone();
        async move {
            match secrets.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(error) => Err(cluster.error(
                    error,
                    &format!("delete secret {name} in {}", layout.namespace),
                )),
            }
        }
    }))
    .await;
    deletes.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(present)
}

/// Waits until every deleted token exists again, as a new object.
async fn wait_tokens(
    cluster: &Cluster,
    layout: &ControlPlaneLayout,
    deleted: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<()> {
    let secrets: Api<Secret> = api(cluster, layout);
    let deadline = Instant::now() + timeout;
    loop {
        let looks = join_all(deleted.iter().map(|(name, old_uid)| {
            let secrets = secrets.clone();
            async move {
                let found = secrets.get_metadata_opt(name).await.map_err(|error| {
                    cluster.error(error, &format!("get secret {name} in {}", layout.namespace))
                })?;
                let back = found
                    .and_then(|found| found.metadata.uid)
                    .is_some_and(|uid| uid != *old_uid);
                Ok((!back).then(|| name.clone()))
            }
        }))
        .await;
        let missing: Vec<String> = looks
            .into_iter()
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::failed(format!(
                "not re-created within {}s: {}",
                timeout.as_secs(),
                missing.join(", ")
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The commands to try by hand on a control plane that did not follow.
pub fn manual_commands(context: &str, layout: &ControlPlaneLayout) -> String {
    let at = format!("kubectl --context {context} -n {}", layout.namespace);
    format!(
        "{at} rollout restart deployment/{edge}; {at} logs deployment/{edge}; on token errors: {at} delete secret {}",
        layout.token_secrets.join(" "),
        edge = layout.edge_deployment
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(lines: &[&str]) -> String {
        lines.join("\n")
    }

    #[test]
    fn the_edge_is_judged_by_each_ready_pods_last_marker() {
        let layout = ControlPlaneLayout::default();
        let connected = logs(&["starting", "Connected to central tsb.example.com:9443"]);
        let recovered = logs(&["rpc error: code = Unauthenticated", "connected to central"]);
        let failing = logs(&[
            "connected to central",
            "rpc error: code = Unauthenticated desc = invalid token",
        ]);
        let silent = logs(&["starting"]);
        #[rustfmt::skip]
        let cases: Vec<(&str, bool, Vec<String>, EdgeState)> = vec![
            ("connected", true, vec![connected.clone()], EdgeState::Connected),
            ("an error then connected", true, vec![recovered.clone(), connected.clone()], EdgeState::Connected),
            ("connected then an error", true, vec![connected.clone(), failing.clone()],
                EdgeState::TokenErrors("rpc error: code = Unauthenticated desc = invalid token".into())),
            ("a pod with no marker yet", true, vec![connected.clone(), silent.clone()],
                EdgeState::Waiting("no \"connected to central\" in its log since the mark".into())),
            ("not available", false, vec![connected.clone()], EdgeState::Waiting("its Deployment is not Available".into())),
            ("no ready pod", true, vec![], EdgeState::Waiting("no ready pod".into())),
        ];
        for (case, available, pod_logs, expected) in cases {
            assert_eq!(judge(&layout, available, &pod_logs), expected, "{case}");
        }
    }

    #[test]
    fn markers_come_from_the_layout() {
        let layout = ControlPlaneLayout {
            connected_markers: vec!["stream established".into()],
            token_error_markers: vec!["jwt rejected".into()],
            ..ControlPlaneLayout::default()
        };
        let established = vec!["Stream Established with central".to_string()];
        assert_eq!(judge(&layout, true, &established), EdgeState::Connected);
        let default_marker = vec!["connected to central".to_string()];
        assert!(matches!(
            judge(&layout, true, &default_marker),
            EdgeState::Waiting(_)
        ));
        let rejected = vec!["JWT rejected by central".to_string()];
        assert!(matches!(
            judge(&layout, true, &rejected),
            EdgeState::TokenErrors(_)
        ));
    }

    #[test]
    fn a_rollout_is_done_when_only_new_available_pods_remain() {
        let deployment =
            |generation: i64, observed: i64, replicas: i32, updated: i32, available: i32| {
                serde_json::from_value::<Deployment>(serde_json::json!({
                    "metadata": {"name": "edge", "generation": generation},
                    "spec": {"replicas": 1, "selector": {}, "template": {}},
                    "status": {"observedGeneration": observed, "replicas": replicas,
                               "updatedReplicas": updated, "availableReplicas": available}
                }))
                .unwrap()
            };
        assert!(rolled_out(&deployment(2, 2, 1, 1, 1)));
        assert!(!rolled_out(&deployment(2, 1, 1, 1, 1)), "not yet observed");
        assert!(
            !rolled_out(&deployment(2, 2, 2, 1, 1)),
            "an old pod remains"
        );
        assert!(!rolled_out(&deployment(2, 2, 1, 1, 0)), "not available");
    }
}
