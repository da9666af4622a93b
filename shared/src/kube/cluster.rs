//! One Kubernetes client per context, and the active/standby pair.

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Client, Resource};

use crate::error::{Error, Result};
use crate::kube::kubeconfig::{ClientSettings, LoadedKubeconfig};

/// A connected context: its client, built once, and the MP namespace.
#[derive(Clone)]
pub struct Cluster {
    context: String,
    server: String,
    namespace: String,
    context_namespace: Option<String>,
    client: Client,
}

impl Cluster {
    /// Builds the client for `context` (None: the current context). Makes no request.
    pub async fn connect(
        kubeconfig: &LoadedKubeconfig,
        context: Option<&str>,
        settings: &ClientSettings,
    ) -> Result<Self> {
        let resolved = kubeconfig.resolve(context, settings).await?;
        let client = crate::kube::transport::client(&resolved.config)
            .await
            .map_err(|error| {
                let message = format!(
                    "context {:?} in {}: {}",
                    resolved.context,
                    kubeconfig.sources(),
                    error.message()
                );
                error.with_message(message)
            })?;
        Ok(Cluster {
            context: resolved.context,
            server: resolved.server,
            namespace: settings.namespace.clone(),
            context_namespace: resolved.context_namespace,
            client,
        })
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// What to check when no MP is found in the namespace: `-n`, and the
    /// context's own namespace when it names another one. kubectl uses a
    /// context's namespace when `-n` is absent; the plugins do not, because
    /// that is the namespace one works in, and TSB installs its MP in `tsb`
    /// (tsb-facts.md): at 3 a.m. the MP is not looked for where an
    /// application happened to be debugged last.
    pub fn namespace_hint(&self) -> String {
        match &self.context_namespace {
            Some(theirs) if *theirs != self.namespace => format!(
                "check -n/--namespace (context {:?} sets namespace {theirs:?}, which kubectl would use; the plugins use -n, else tsb: pass -n {theirs} if the MP is there)",
                self.context
            ),
            _ => "check -n/--namespace".into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A typed API for a namespaced kind in the MP namespace.
    pub fn namespaced<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Asks the server for its version: proves it is reachable and that our
    /// credentials are accepted. Returns the server's gitVersion.
    pub async fn check_reachable(&self) -> Result<String> {
        self.client
            .apiserver_version()
            .await
            .map(|info| info.git_version)
            .map_err(|error| {
                Error::from_kube(error, &self.context, &self.server, "reach the API server")
            })
    }

    /// Maps a kube error from `action` on this cluster to a user-facing error.
    pub fn error(&self, error: kube::Error, action: &str) -> Error {
        Error::from_kube(error, &self.context, &self.server, action)
    }
}

/// The two Management Plane clusters a failover moves between.
#[derive(Clone)]
pub struct ClusterPair {
    pub active: Cluster,
    pub standby: Cluster,
}

impl ClusterPair {
    /// Connects both contexts; refuses one context for both roles, which would
    /// make a failover fence the only MP there is.
    pub async fn connect(
        kubeconfig: &LoadedKubeconfig,
        active_context: &str,
        standby_context: &str,
        settings: &ClientSettings,
    ) -> Result<Self> {
        if active_context == standby_context {
            return Err(Error::usage(format!(
                "the active and standby contexts are both {active_context:?}"
            ))
            .with_next_step("name two different contexts, one per Management Plane cluster"));
        }
        let (active, standby) = crate::error::join_in_order(
            Cluster::connect(kubeconfig, Some(active_context), settings),
            Cluster::connect(kubeconfig, Some(standby_context), settings),
        )
        .await?;
        if active.server == standby.server {
            return Err(Error::usage(format!(
                "contexts {active_context:?} and {standby_context:?} point at the same server {}",
                active.server
            ))
            .with_next_step("the standby must be a different cluster from the active"));
        }
        Ok(ClusterPair { active, standby })
    }

    /// Checks both clusters at once; returns their versions (active, standby).
    pub async fn check_reachable(&self) -> Result<(String, String)> {
        crate::error::join_in_order(
            self.active.check_reachable(),
            self.standby.check_reachable(),
        )
        .await
    }
}
