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
    /// The client certificate the context's user authenticates with alone
    /// (no token): what a 401 is about, told apart by its dates.
    client_certificate: Option<ClientCertificate>,
}

/// A client certificate's issuer and validity, never its key.
#[derive(Clone, Debug)]
struct ClientCertificate {
    issuer: String,
    not_before: i64,
    not_after: i64,
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
        let auth = &resolved.config.auth_info;
        let by_certificate_alone = auth.token.is_none()
            && auth.token_file.is_none()
            && auth.exec.is_none()
            && auth.auth_provider.is_none()
            && auth.username.is_none();
        let client_certificate = by_certificate_alone
            .then(|| crate::kube::transport::client_certificate(auth))
            .flatten()
            .map(|certificate| ClientCertificate {
                issuer: certificate.issuer,
                not_before: certificate.not_before,
                not_after: certificate.not_after,
            });
        Ok(Cluster {
            context: resolved.context,
            server: resolved.server,
            namespace: settings.namespace.clone(),
            context_namespace: resolved.context_namespace,
            client,
            client_certificate,
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
            .map_err(|error| self.error(error, "reach the API server"))
    }

    /// Maps a kube error from `action` on this cluster to a user-facing
    /// error. A 401 to a user known by its client certificate alone is that
    /// certificate refused: kube-apiserver checks client certificates after
    /// the handshake and answers 401, so the line says why, from its dates.
    pub fn error(&self, error: kube::Error, action: &str) -> Error {
        if let (kube::Error::Api(status), Some(certificate)) = (&error, &self.client_certificate)
            && status.code == 401
        {
            return certificate.refused(&self.context, &self.server, action);
        }
        Error::from_kube(error, &self.context, &self.server, action)
    }
}

impl ClientCertificate {
    /// The 401 of `action` on `context`, told from the certificate's dates now.
    fn refused(&self, context: &str, server: &str, action: &str) -> Error {
        let date = |seconds: i64| {
            jiff::Timestamp::from_second(seconds)
                .map_or_else(|_| seconds.to_string(), |time| time.to_string())
        };
        let now = jiff::Timestamp::now().as_second();
        let at = format!(
            "context {context:?} ({server}): the API server refused the user's client certificate while trying to {action}"
        );
        if now > self.not_after {
            return Error::cluster(format!(
                "{at}: it expired at {} (x509: certificate has expired or is not yet valid)",
                date(self.not_after)
            ))
            .with_next_step(
                "renew that user's client certificate (kubeadm: kubeadm certs renew admin.conf; else your provider's credentials command), or set this machine's clock right if it is wrong",
            );
        }
        if now < self.not_before {
            return Error::cluster(format!(
                "{at}: it is not valid before {} (x509: certificate has expired or is not yet valid)",
                date(self.not_before)
            ))
            .with_next_step("check this machine's clock (and the server's): the certificate is from its future");
        }
        Error::cluster(format!(
            "{at}: Unauthorized; it is valid until {} and issued by {:?}, a CA the cluster does not trust for clients (or a user it no longer knows)",
            date(self.not_after),
            self.issuer
        ))
        .with_next_step(
            "use a client certificate that cluster's client CA signed: each cluster has its own, is it another cluster's user? (kubectl config view --minify shows the context's user)",
        )
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
