//! Kubeconfig resolution the way kubectl does it, and one client per context.
//!
//! Order: `--kubeconfig FILE` alone if given; else every file in `KUBECONFIG`
//! (missing files skipped, first file to define a name wins); else
//! `~/.kube/config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::error::{Error, Result};

/// The merged kubeconfig and the files it came from (for error messages).
#[derive(Debug, Clone)]
pub struct LoadedKubeconfig {
    config: Kubeconfig,
    sources: Vec<PathBuf>,
}

/// Where a client talks to, how long it waits, and who it says it is.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub namespace: String,
    /// `None` waits as long as the server takes (`--request-timeout 0`).
    pub request_timeout: Option<Duration>,
    /// Every request's `User-Agent` (`kubectl-mp-export/0.1.0`,
    /// [`crate::ui::cli::user_agent`]): what the API server's audit log
    /// records as who did it.
    pub user_agent: String,
}

/// A context resolved to a client configuration.
pub struct ResolvedContext {
    pub context: String,
    pub server: String,
    /// The context's own `namespace`, which kubectl uses without `-n` and
    /// the plugins do not (see [`crate::Cluster::namespace_hint`]).
    pub context_namespace: Option<String>,
    pub config: kube::Config,
}

impl LoadedKubeconfig {
    /// Loads the kubeconfig from `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        if let Some(path) = explicit {
            return Ok(LoadedKubeconfig {
                config: read_file(path, "--kubeconfig")?,
                sources: vec![path.into()],
            });
        }
        if let Some(value) = std::env::var_os("KUBECONFIG").filter(|value| !value.is_empty()) {
            return Self::load_list(&std::env::split_paths(&value).collect::<Vec<_>>());
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| {
            Error::usage("no kubeconfig: HOME is not set").with_next_step("pass --kubeconfig FILE")
        })?;
        let path = home.join(".kube").join("config");
        Ok(LoadedKubeconfig {
            config: read_file(&path, "the default kubeconfig")?,
            sources: vec![path],
        })
    }

    /// Merges the files of a `KUBECONFIG` list: missing ones are skipped (as
    /// kubectl does), unreadable or malformed ones are errors naming the file.
    pub fn load_list(paths: &[PathBuf]) -> Result<Self> {
        let mut merged = Kubeconfig::default();
        let mut sources = Vec::new();
        for path in paths.iter().filter(|path| !path.as_os_str().is_empty()) {
            if !path.exists() {
                continue;
            }
            let config = read_file(path, "KUBECONFIG")?;
            merged = merged.merge(config).map_err(|error| {
                Error::usage(format!(
                    "kubeconfig {}: cannot merge with the files before it: {error}",
                    path.display()
                ))
                .with_next_step("fix that file or remove it from KUBECONFIG")
            })?;
            sources.push(path.clone());
        }
        if sources.is_empty() {
            let listed = paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::usage(format!(
                "no kubeconfig found: none of the files in KUBECONFIG exist ({listed})"
            ))
            .with_next_step("set KUBECONFIG to existing files or pass --kubeconfig FILE"));
        }
        Ok(LoadedKubeconfig {
            config: merged,
            sources,
        })
    }

    pub fn context_names(&self) -> Vec<&str> {
        self.config
            .contexts
            .iter()
            .map(|context| context.name.as_str())
            .collect()
    }

    pub fn current_context(&self) -> Option<&str> {
        self.config
            .current_context
            .as_deref()
            .filter(|name| !name.is_empty())
    }

    /// The files read, for messages: `a.yaml, b.yaml`.
    pub fn sources(&self) -> String {
        self.sources
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves `context` (or the current context) to a client configuration.
    pub async fn resolve(
        &self,
        context: Option<&str>,
        settings: &ClientSettings,
    ) -> Result<ResolvedContext> {
        let name = match context.or(self.current_context()) {
            Some(name) => name.to_string(),
            None => {
                return Err(Error::usage(format!(
                    "no context given and no current-context in {}",
                    self.sources()
                ))
                .with_next_step(self.pick_context_hint()));
            }
        };
        if !self.context_names().contains(&name.as_str()) {
            return Err(
                Error::usage(format!("context {name:?} not found in {}", self.sources()))
                    .with_next_step(self.pick_context_hint()),
            );
        }
        self.validate(&name)?;
        let options = KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(self.config.clone(), &options)
            .await
            .map_err(|error| {
                Error::usage(format!("context {name:?} in {}: {error}", self.sources()))
                    .with_next_step("fix that context's cluster and user entries")
            })?;
        // kube folds HTTPS_PROXY into proxy_url; the transport applies the
        // environment by Go's rules itself, so only the kubeconfig's own stays.
        config.proxy_url = self.proxy_url_of(&name).map_err(|error| {
            Error::usage(format!(
                "context {name:?} in {}: proxy-url: {error}",
                self.sources()
            ))
            .with_next_step("use http://HOST:PORT or socks5://HOST:PORT")
        })?;
        let context_namespace = self
            .context_entry(&name)
            .and_then(|context| context.namespace.clone())
            .filter(|namespace| !namespace.is_empty());
        config.default_namespace = settings.namespace.clone();
        let user_agent = http::HeaderValue::from_str(&settings.user_agent).map_err(|_| {
            Error::failed(format!(
                "User-Agent {:?} is not a header value",
                settings.user_agent
            ))
        })?;
        config.headers.push((http::header::USER_AGENT, user_agent));
        if let Some(timeout) = settings.request_timeout {
            config.connect_timeout = Some(
                config
                    .connect_timeout
                    .map_or(timeout, |default| default.min(timeout)),
            );
            config.read_timeout = Some(timeout);
            config.write_timeout = Some(timeout);
            // Count the timeout from when the request is sent, not from when
            // a pooled connection went idle.
            config.reset_reader_on_write = true;
        }
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        Ok(ResolvedContext {
            context: name,
            server,
            context_namespace,
            config,
        })
    }

    /// Refuses what kubectl refuses in context `name`'s cluster and user.
    fn validate(&self, name: &str) -> Result<()> {
        let (Some(cluster), Some(user)) = (self.cluster_entry(name), self.user_entry(name)) else {
            return Ok(());
        };
        let removed = user.auth_provider.as_ref().and_then(|provider| {
            match provider.name.as_str() {
                "gcp" => Some(("gcp", "use the gke-gcloud-auth-plugin credential plugin (users[].user.exec), as kubectl asks")),
                "azure" => Some(("azure", "use the kubelogin credential plugin (users[].user.exec): https://github.com/Azure/kubelogin")),
                _ => None,
            }
        });
        if let Some((provider, instead)) = removed {
            return Err(Error::usage(format!(
                "context {name:?} in {}: the {provider} auth provider was removed from kubectl (1.26) and is not supported",
                self.sources()
            ))
            .with_next_step(instead));
        }
        let errors = invalid_entries(cluster, user);
        if errors.is_empty() {
            return Ok(());
        }
        Err(Error::usage(format!(
            "context {name:?} in {}: invalid configuration: {}",
            self.sources(),
            errors.join("; ")
        ))
        .with_next_step(
            "keep one of each pair in the kubeconfig (kubectl refuses this context too)",
        ))
    }

    /// The `proxy-url` of context `name`'s cluster, if it has one.
    fn proxy_url_of(&self, name: &str) -> Result<Option<http::Uri>, http::uri::InvalidUri> {
        self.cluster_entry(name)
            .and_then(|cluster| cluster.proxy_url.as_deref())
            .filter(|url| !url.is_empty())
            .map(str::parse)
            .transpose()
    }

    fn context_entry(&self, name: &str) -> Option<&kube::config::Context> {
        self.config
            .contexts
            .iter()
            .find(|context| context.name == name)
            .and_then(|context| context.context.as_ref())
    }

    /// The cluster entry context `name` uses.
    fn cluster_entry(&self, name: &str) -> Option<&kube::config::Cluster> {
        let context = self.context_entry(name)?;
        self.config
            .clusters
            .iter()
            .find(|named| named.name == context.cluster)
            .and_then(|named| named.cluster.as_ref())
    }

    /// The user entry context `name` uses.
    fn user_entry(&self, name: &str) -> Option<&kube::config::AuthInfo> {
        let context = self.context_entry(name)?;
        self.config
            .auth_infos
            .iter()
            .find(|named| Some(&named.name) == context.user.as_ref())
            .and_then(|named| named.auth_info.as_ref())
    }

    fn pick_context_hint(&self) -> String {
        let names = self.context_names();
        if names.is_empty() {
            "the kubeconfig has no contexts: add one (kubectl config set-context) or pass another --kubeconfig".into()
        } else {
            format!("pass --context with one of: {}", names.join(", "))
        }
    }
}

fn read_file(path: &Path, origin: &str) -> Result<Kubeconfig> {
    let config = Kubeconfig::read_from(path).map_err(|error| {
        // A parse error is shown by where and why only: the lines around it
        // hold tokens and keys.
        let cause = match &error {
            KubeconfigError::Parse(parse) => {
                format!("not valid YAML: {}", crate::yaml::describe_error(parse))
            }
            KubeconfigError::ReadConfig(io, _) => io.to_string(),
            other => other.to_string(),
        };
        Error::usage(format!(
            "cannot read kubeconfig {} (from {origin}): {cause}",
            path.display()
        ))
        .with_next_step("check the file exists, is readable and is valid YAML")
    })?;
    if let Some((kind, name)) = duplicate_name(&config) {
        // kube would take the first; kubectl refuses the file, and a second
        // entry of one name is a mistake that could mean another identity.
        return Err(Error::usage(format!(
            "kubeconfig {}: two {kind} named {name:?}",
            path.display()
        ))
        .with_next_step("rename or remove one of them (kubectl refuses this file too)"));
    }
    Ok(config)
}

/// The first name used twice in one file, and its kind (`clusters`,
/// `users`, `contexts`).
fn duplicate_name(config: &Kubeconfig) -> Option<(&'static str, String)> {
    fn first_repeat<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        names
            .into_iter()
            .find(|name| !seen.insert(*name))
            .map(str::to_string)
    }
    first_repeat(config.clusters.iter().map(|named| named.name.as_str()))
        .map(|name| ("clusters", name))
        .or_else(|| {
            first_repeat(config.auth_infos.iter().map(|named| named.name.as_str()))
                .map(|name| ("users", name))
        })
        .or_else(|| {
            first_repeat(config.contexts.iter().map(|named| named.name.as_str()))
                .map(|name| ("contexts", name))
        })
}

/// What client-go's validation refuses in the entries a context uses, in
/// its words (clientcmd `validateClusterInfo`, `validateAuthInfo`): a CA,
/// certificate or key given both as data and as a file; a token together
/// with a username and password; exec together with an auth-provider.
fn invalid_entries(cluster: &kube::config::Cluster, user: &kube::config::AuthInfo) -> Vec<String> {
    let mut errors = Vec::new();
    let both = |data: bool, file: &Option<String>| {
        data && file.as_deref().is_some_and(|file| !file.is_empty())
    };
    if both(
        cluster
            .certificate_authority_data
            .as_deref()
            .is_some_and(|data| !data.is_empty()),
        &cluster.certificate_authority,
    ) {
        errors.push(
            "certificate-authority-data and certificate-authority are both specified".to_string(),
        );
    }
    if both(
        user.client_certificate_data
            .as_deref()
            .is_some_and(|data| !data.is_empty()),
        &user.client_certificate,
    ) {
        errors.push("client-certificate-data and client-certificate are both specified".into());
    }
    if both(user.client_key_data.is_some(), &user.client_key) {
        errors.push("client-key-data and client-key are both specified".into());
    }
    let token = user.token.is_some()
        || user
            .token_file
            .as_deref()
            .is_some_and(|file| !file.is_empty());
    let basic = user
        .username
        .as_deref()
        .is_some_and(|name| !name.is_empty())
        || user.password.is_some();
    if token && basic {
        errors.push(
            "more than one authentication method found (token and basicAuth), only one is allowed"
                .into(),
        );
    }
    if user.exec.is_some() && user.auth_provider.is_some() {
        errors.push("authProvider cannot be provided in combination with an exec plugin".into());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    fn kubeconfig(current: &str, contexts: &[(&str, &str)]) -> String {
        let mut text =
            format!("apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n");
        for (name, server) in contexts {
            text += &format!("- name: {name}\n  cluster:\n    server: {server}\n");
        }
        text += "users:\n";
        for (name, _) in contexts {
            text += &format!("- name: {name}\n  user:\n    token: t-{name}\n");
        }
        text += "contexts:\n";
        for (name, _) in contexts {
            text += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n");
        }
        text
    }

    fn settings() -> ClientSettings {
        ClientSettings {
            namespace: "tsb".into(),
            request_timeout: Some(Duration::from_secs(7)),
            user_agent: "kubectl-mp-test/0.1.0".into(),
        }
    }

    #[tokio::test]
    async fn kubeconfig_list_skips_missing_files_and_first_file_wins() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let first = dir.join("first.yaml");
        let second = dir.join("second.yaml");
        std::fs::write(
            &first,
            kubeconfig("active", &[("active", "https://10.0.0.1:6443")]),
        )
        .unwrap();
        std::fs::write(
            &second,
            kubeconfig(
                "standby",
                &[
                    ("active", "https://10.9.9.9:6443"),
                    ("standby", "https://10.0.0.2:6443"),
                ],
            ),
        )
        .unwrap();
        let loaded =
            LoadedKubeconfig::load_list(&[dir.join("missing.yaml"), first.clone(), second.clone()])
                .unwrap();
        assert_eq!(loaded.context_names(), vec!["active", "standby"]);
        assert_eq!(loaded.current_context(), Some("active"));
        assert_eq!(
            loaded.sources(),
            format!("{}, {}", first.display(), second.display())
        );

        let active = loaded.resolve(None, &settings()).await.unwrap();
        assert_eq!(active.context, "active");
        assert_eq!(
            active.server, "https://10.0.0.1:6443",
            "the first file's cluster must win"
        );
        assert_eq!(active.config.default_namespace, "tsb");
        assert_eq!(active.config.read_timeout, Some(Duration::from_secs(7)));
        assert_eq!(
            active.config.headers,
            [(
                http::header::USER_AGENT,
                http::HeaderValue::from_static("kubectl-mp-test/0.1.0")
            )],
            "every request says which plugin sends it"
        );
        let standby = loaded.resolve(Some("standby"), &settings()).await.unwrap();
        assert_eq!(standby.server, "https://10.0.0.2:6443");
    }

    #[tokio::test]
    async fn unknown_context_names_the_files_and_the_choices() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let path = dir.join("config");
        std::fs::write(
            &path,
            kubeconfig("active", &[("active", "https://10.0.0.1:6443")]),
        )
        .unwrap();
        let loaded = LoadedKubeconfig::load(Some(&path)).unwrap();
        let error = loaded
            .resolve(Some("nope"), &settings())
            .await
            .err()
            .unwrap();
        assert_eq!(error.exit(), Exit::Usage);
        let text = error.to_string();
        assert!(text.contains("context \"nope\" not found in"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("one of: active"), "{text}");
    }

    #[test]
    fn unreadable_or_malformed_kubeconfig_is_a_usage_error_naming_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let missing = dir.join("absent");
        let error = LoadedKubeconfig::load(Some(&missing)).err().unwrap();
        assert_eq!(error.exit(), Exit::Usage);
        assert!(error.to_string().contains(&missing.display().to_string()));

        let malformed = dir.join("bad.yaml");
        std::fs::write(&malformed, "clusters: [unclosed").unwrap();
        let error = LoadedKubeconfig::load_list(std::slice::from_ref(&malformed))
            .err()
            .unwrap();
        assert!(error.to_string().contains("bad.yaml"), "{error}");

        let error = LoadedKubeconfig::load_list(std::slice::from_ref(&missing))
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("none of the files in KUBECONFIG exist"),
            "{error}"
        );
    }
}
