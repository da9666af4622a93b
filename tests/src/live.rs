//! The parts of a TSB Management Plane a real test cluster does not run,
//! played against its real API: the TSB operator (it scales the MP's
//! workloads back up while its own Deployment is ready) and the MP's front
//! door (TLS with `tsb-certs`, open while `envoy` is ready). Both follow the
//! cluster by polling the API server directly, not through a test proxy, so
//! they never show in a test's request counts.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::controller::{OperatorConfig, operator_corrections};
use crate::front::{
    ENVOY_DEPLOYMENT, FRONT_CERT_SECRET, FrontDoor, FrontListener, FrontState, deployment_ready,
};

/// How often the operator and the front door look at the cluster.
const FOLLOW_PERIOD: Duration = Duration::from_millis(50);

/// One namespace of a real cluster, as the admin sees it.
#[derive(Clone)]
pub struct LiveNamespace {
    pub cluster_name: String,
    pub namespace: String,
    client: kube::Client,
}

/// A task that stops when this is dropped.
pub struct Follower(JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The front door of a live cluster and what keeps its state current.
pub struct LiveFront {
    pub door: FrontDoor,
    _follower: Follower,
}

fn io_error(what: &str, error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {error}"))
}

impl LiveNamespace {
    /// `namespace` of the cluster `context` of `kubeconfig` names.
    pub async fn connect(
        kubeconfig: &Path,
        context: &str,
        namespace: &str,
    ) -> std::io::Result<LiveNamespace> {
        let kubeconfig =
            Kubeconfig::read_from(kubeconfig).map_err(|error| io_error("kubeconfig", error))?;
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|error| io_error(context, error))?;
        let client = kube::Client::try_from(config).map_err(|error| io_error(context, error))?;
        Ok(LiveNamespace {
            cluster_name: context.to_string(),
            namespace: namespace.to_string(),
            client,
        })
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The object as the API server holds it now, or `None` when it does
    /// not exist. `group` is "" for the core group; a named group is read
    /// at its preferred version (one more GET). `namespace` `None` is a
    /// cluster-scoped object.
    ///
    /// # Errors
    /// The API server's answer other than 404, or an unreachable server.
    pub async fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> kube::Result<Option<Value>> {
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            let discovered: Value = self.get(format!("/apis/{group}")).await?;
            let version = discovered["preferredVersion"]["version"]
                .as_str()
                .unwrap_or("v1")
                .to_string();
            format!("/apis/{group}/{version}")
        };
        let path = match namespace {
            Some(namespace) => format!("{prefix}/namespaces/{namespace}/{plural}/{name}"),
            None => format!("{prefix}/{plural}/{name}"),
        };
        match self.get(path).await {
            Ok(object) => Ok(Some(object)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn get(&self, path: String) -> kube::Result<Value> {
        let request = hyper::Request::get(path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        self.client.request(request).await
    }

    /// Returns once every Deployment of the namespace reports the
    /// `Available` condition True (polled every 50 ms).
    ///
    /// # Errors
    /// The Deployments still unavailable after `timeout`.
    pub async fn wait_available(&self, timeout: Duration) -> std::io::Result<()> {
        let api = self.deployments();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let unavailable: Vec<String> = match api.list(&ListParams::default()).await {
                Ok(list) => list
                    .items
                    .iter()
                    .filter(|deployment| {
                        !deployment
                            .status
                            .as_ref()
                            .and_then(|status| status.conditions.as_ref())
                            .is_some_and(|conditions| {
                                conditions.iter().any(|condition| {
                                    condition.type_ == "Available" && condition.status == "True"
                                })
                            })
                    })
                    .map(|deployment| deployment.metadata.name.clone().unwrap_or_default())
                    .collect(),
                Err(error) => vec![error.to_string()],
            };
            if unavailable.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(io_error(
                    &format!("namespace {}", self.namespace),
                    format!(
                        "not Available after {timeout:?}: {}",
                        unavailable.join(", ")
                    ),
                ));
            }
            tokio::time::sleep(FOLLOW_PERIOD).await;
        }
    }

    /// The TSB operator's emulation: every 50 ms, while the operator's own
    /// Deployment has a ready replica, every managed Deployment scaled below
    /// its desired count is scaled back to it (see [`operator_corrections`]).
    pub fn run_operator(&self) -> Follower {
        let live = self.clone();
        Follower(tokio::spawn(async move {
            let config = OperatorConfig::default();
            let api = live.deployments();
            loop {
                if let Ok(list) = api.list(&ListParams::default()).await {
                    let deployments: Vec<Value> = list
                        .items
                        .iter()
                        .filter_map(|deployment| serde_json::to_value(deployment).ok())
                        .collect();
                    for (name, replicas) in operator_corrections(&deployments, &config) {
                        let scale = json!({"spec": {"replicas": replicas}});
                        let _ = api
                            .patch_scale(&name, &PatchParams::default(), &Patch::Merge(&scale))
                            .await;
                    }
                }
                tokio::time::sleep(FOLLOW_PERIOD).await;
            }
        }))
    }

    /// The MP's front door on `listener`, open while `envoy` is ready and
    /// serving `tsb-certs` as the cluster holds it (read every 50 ms).
    pub fn run_front(&self, listener: FrontListener) -> std::io::Result<LiveFront> {
        let state = Arc::new(LiveFrontState {
            cluster_name: self.cluster_name.clone(),
            seen: RwLock::new(Seen::default()),
        });
        let live = self.clone();
        let watched = Arc::clone(&state);
        let follower = Follower(tokio::spawn(async move {
            let deployments = live.deployments();
            let secrets: Api<Secret> = Api::namespaced(live.client.clone(), &live.namespace);
            loop {
                let (envoy, certs) = futures::join!(
                    deployments.get_opt(ENVOY_DEPLOYMENT),
                    secrets.get_opt(FRONT_CERT_SECRET)
                );
                let seen = Seen {
                    envoy_ready: envoy.ok().flatten().is_some_and(|deployment| {
                        serde_json::to_value(deployment).is_ok_and(|value| deployment_ready(&value))
                    }),
                    certificate: certs
                        .ok()
                        .flatten()
                        .and_then(|secret| serde_json::to_value(secret).ok())
                        .map(Arc::new),
                };
                *watched
                    .seen
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = seen;
                tokio::time::sleep(FOLLOW_PERIOD).await;
            }
        }));
        Ok(LiveFront {
            door: FrontDoor::start(listener, state)?,
            _follower: follower,
        })
    }
}

#[derive(Default)]
struct Seen {
    envoy_ready: bool,
    certificate: Option<Arc<Value>>,
}

/// The front door's view of a live cluster, as last read.
struct LiveFrontState {
    cluster_name: String,
    seen: RwLock<Seen>,
}

impl FrontState for LiveFrontState {
    fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    fn envoy_ready(&self) -> bool {
        self.seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .envoy_ready
    }

    fn certificate_secret(&self) -> Option<Arc<Value>> {
        self.seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .certificate
            .clone()
    }
}

/// Objects as a `v1 List` a real API server accepts from server-side apply:
/// no status (the controllers' to write), no server-assigned metadata, and
/// Services without addresses or node ports (the API server allocates them).
fn apply_list(items: Vec<Value>) -> String {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut object| {
            if let Some(fields) = object.as_object_mut() {
                fields.remove("status");
            }
            if object["kind"] == "Service"
                && let Some(spec) = object["spec"].as_object_mut()
            {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
                for port in spec
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(port) = port.as_object_mut() {
                        port.remove("nodePort");
                    }
                }
            }
            if let Some(metadata) = object["metadata"].as_object_mut() {
                for server_field in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
                    metadata.remove(server_field);
                }
            }
            object
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// Seeds a TSB Management Plane ([`crate::seed`]: real X.509 chains,
/// the MP's Secrets, Deployments, Services and custom resources) into
/// `seed.namespace` of `context` with `kubectl apply --server-side`. The CRDs
/// go first and must be Established before their resources; the Deployments
/// become Ready through the cluster's own controllers (kwok); the `envoy`
/// Service's LoadBalancer address, which nothing assigns without a cloud,
/// is set on its status. `work_dir` receives the applied files.
///
/// # Errors
/// kubectl's own message when a step fails.
pub fn apply_seed(
    kubectl: &Path,
    kubeconfig: &Path,
    context: &str,
    seed: &crate::seed::SeedContext,
    work_dir: &Path,
) -> std::io::Result<()> {
    let run = |what: &str, args: &[&str]| -> std::io::Result<()> {
        let output = std::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", context])
            .args(args)
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "{what}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    };
    let (definitions, resources): (Vec<_>, Vec<_>) = crate::seed::seed_objects(seed)
        .into_iter()
        .partition(|object| object["kind"] == "CustomResourceDefinition");
    let has_front = resources
        .iter()
        .any(|object| object["kind"] == "Service" && object["metadata"]["name"] == "envoy");
    let names: Vec<String> = definitions
        .iter()
        .map(|definition| {
            format!(
                "crd/{}",
                definition["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    let file = work_dir.join(format!("{context}-{}-definitions.json", seed.namespace));
    std::fs::write(&file, apply_list(definitions))?;
    let file = file.display().to_string();
    run(
        "applying the seed's CRDs",
        &["apply", "--server-side", "--force-conflicts", "-f", &file],
    )?;
    let mut wait = vec!["wait", "--for", "condition=Established", "--timeout", "60s"];
    wait.extend(names.iter().map(String::as_str));
    run("waiting for the seed's CRDs", &wait)?;

    let file = work_dir.join(format!("{context}-{}.json", seed.namespace));
    std::fs::write(&file, apply_list(resources))?;
    let file = file.display().to_string();
    run(
        "applying the seed",
        &["apply", "--server-side", "-f", &file],
    )?;
    if !has_front {
        return Ok(());
    }
    let ingress =
        json!({"status": {"loadBalancer": {"ingress": [{"ip": seed.front_address.to_string()}]}}});
    run(
        "setting envoy's LoadBalancer address",
        &[
            "-n",
            seed.namespace,
            "patch",
            "service",
            "envoy",
            "--subresource=status",
            "--type=merge",
            "-p",
            &ingress.to_string(),
        ],
    )
}
