//! client-go credential plugins (a kubeconfig user's `exec`), run as
//! kubectl runs them, not as kube does:
//! - checked first, with client-go's rules: a `command`, an `apiVersion` of
//!   `client.authentication.k8s.io/v1` or `v1beta1`, and for v1 an
//!   `interactiveMode` (v1beta1 defaults to `IfAvailable`);
//! - interactive only when the mode allows it AND standard input is a
//!   terminal (`Always` without one is refused before the plugin runs);
//!   kube treats every mode but `Never` as interactive, so a plugin in a
//!   pipeline would wait on the pipe;
//! - the plugin's standard error goes to ours, always, as with kubectl: it is
//!   the plugin's own explanation. Its standard output, which holds the
//!   credential, is never shown, not even when it cannot be parsed (kube puts
//!   it in the error text);
//! - run once per client, then again only when the token it gave has
//!   expired or the server answered 401 to it (client-go's cache).
//!
//! Source: client-go `plugin/pkg/client/auth/exec/exec.go` and
//! `tools/clientcmd/validation.go`, Kubernetes 1.36, and
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins>.

use std::io::IsTerminal;
use std::sync::Arc;

use kube::config::{ExecConfig, ExecInteractiveMode};
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// One context's credential plugin, checked and ready to run.
#[derive(Debug)]
pub struct ExecPlugin {
    config: ExecConfig,
    api_version: &'static str,
    command: String,
    interactive: bool,
}

/// What a plugin run gave.
pub enum Credential {
    /// A bearer token, valid until `expires` (never, without one).
    Token {
        token: SecretString,
        expires: Option<jiff::Timestamp>,
    },
    /// A client certificate chain and its key, both PEM.
    Certificate {
        chain_pem: Vec<u8>,
        key_pem: SecretString,
    },
}

impl ExecPlugin {
    /// Checks `config` as client-go does before running anything.
    ///
    /// # Errors
    /// A usage error (exit 2) for a missing command or apiVersion, an
    /// apiVersion kubectl does not speak, a v1 plugin without
    /// `interactiveMode`, or `interactiveMode: Always` without a terminal.
    pub fn new(config: &ExecConfig) -> Result<ExecPlugin, Error> {
        let command = config.command.clone().filter(|command| !command.is_empty());
        let Some(command) = command else {
            return Err(Error::usage(
                "exec: command must be specified to use an exec credential plugin",
            )
            .with_next_step("set users[].user.exec.command in the kubeconfig"));
        };
        let api_version = match config.api_version.as_deref() {
            Some(V1) => V1,
            Some(V1BETA1) => V1BETA1,
            None | Some("") => {
                return Err(Error::usage(format!(
                    "exec plugin {command:?}: apiVersion must be specified"
                ))
                .with_next_step(format!("set users[].user.exec.apiVersion to {V1}")));
            }
            Some(other) => {
                return Err(Error::usage(format!(
                    "exec plugin {command:?}: invalid apiVersion {other:?}"
                ))
                .with_next_step(format!("use {V1} or {V1BETA1}")));
            }
        };
        let mode = match (&config.interactive_mode, api_version) {
            (Some(mode), _) => mode.clone(),
            (None, V1BETA1) => ExecInteractiveMode::IfAvailable,
            (None, _) => {
                return Err(Error::usage(format!(
                    "exec plugin {command:?}: interactiveMode must be specified for {V1}"
                ))
                .with_next_step(
                    "set users[].user.exec.interactiveMode to Never, IfAvailable or Always",
                ));
            }
        };
        let terminal = std::io::stdin().is_terminal();
        let interactive = match mode {
            ExecInteractiveMode::Never => false,
            ExecInteractiveMode::IfAvailable => terminal,
            ExecInteractiveMode::Always if terminal => true,
            ExecInteractiveMode::Always => {
                return Err(Error::usage(format!(
                    "exec plugin {command:?} cannot run: its interactiveMode is Always and standard input is not a terminal"
                ))
                .with_next_step("run the command from a terminal, not a pipe or a script"));
            }
        };
        Ok(ExecPlugin {
            config: config.clone(),
            api_version,
            command,
            interactive,
        })
    }

    /// The `KUBERNETES_EXEC_INFO` the plugin reads: client-go's
    /// ExecCredential request, with the cluster when `provideClusterInfo`.
    fn exec_info(&self) -> String {
        let mut spec = serde_json::json!({ "interactive": self.interactive });
        if self.config.provide_cluster_info
            && let Some(cluster) = &self.config.cluster
        {
            spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
        }
        serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": self.api_version,
            "spec": spec,
        })
        .to_string()
    }

    /// Runs the plugin and reads its credential. Blocks until it exits.
    ///
    /// # Errors
    /// A usage error (exit 2): the command is not found (with the
    /// kubeconfig's `installHint`), it failed (its exit code; its own message
    /// went to standard error), or it printed no valid ExecCredential of the
    /// configured apiVersion with a token or a certificate and key.
    pub fn run(&self) -> Result<Credential, Error> {
        let command = &self.command;
        let mut process = std::process::Command::new(command);
        process
            .args(self.config.args.iter().flatten())
            .envs(
                self.config
                    .env
                    .iter()
                    .flatten()
                    .filter_map(|variable| Some((variable.get("name")?, variable.get("value")?))),
            )
            .env("KUBERNETES_EXEC_INFO", self.exec_info())
            .stdin(if self.interactive {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let output = process.output().map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                let hint = self
                    .config
                    .install_hint
                    .as_deref()
                    .map(|hint| hint.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|hint| !hint.is_empty())
                    .unwrap_or_else(|| {
                        format!("install {command} or fix users[].user.exec.command")
                    });
                Error::usage(format!("exec plugin {command:?} not found")).with_next_step(hint)
            } else {
                Error::usage(format!("exec plugin {command:?} cannot run: {error}"))
                    .with_next_step("check the command is executable")
            }
        })?;
        if !output.status.success() {
            let status = output.status.code().map_or_else(
                || output.status.to_string(),
                |code| format!("exit code {code}"),
            );
            return Err(
                Error::usage(format!("exec plugin {command:?} failed with {status}"))
                    .with_next_step(
                        "see its own message above; kubectl with this context fails alike",
                    ),
            );
        }
        self.credential(&output.stdout)
    }

    /// Reads the plugin's ExecCredential. Errors never quote it: it holds secrets.
    fn credential(&self, stdout: &[u8]) -> Result<Credential, Error> {
        #[derive(serde::Deserialize)]
        struct Response {
            #[serde(rename = "apiVersion")]
            api_version: Option<String>,
            kind: Option<String>,
            status: Option<Status>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Status {
            expiration_timestamp: Option<String>,
            token: Option<String>,
            client_certificate_data: Option<String>,
            client_key_data: Option<String>,
        }
        let command = &self.command;
        let invalid = |what: String| {
            Error::usage(format!("exec plugin {command:?}: {what}")).with_next_step(
                "fix the plugin or its arguments; kubectl with this context fails alike",
            )
        };
        let response: Response = serde_saphyr::from_slice(stdout).map_err(|_| {
            invalid(format!(
                "its output ({} bytes) is not an ExecCredential",
                stdout.len()
            ))
        })?;
        if response.kind.as_deref() != Some("ExecCredential") {
            return Err(invalid("its output is not of kind ExecCredential".into()));
        }
        if response.api_version.as_deref() != Some(self.api_version) {
            return Err(invalid(format!(
                "configured for API version {}, it returned {}",
                self.api_version,
                response.api_version.as_deref().unwrap_or("none")
            )));
        }
        let status = response
            .status
            .ok_or_else(|| invalid("it returned no status".into()))?;
        let non_empty = |value: Option<String>| value.filter(|value| !value.is_empty());
        match (
            non_empty(status.token),
            non_empty(status.client_certificate_data),
            non_empty(status.client_key_data),
        ) {
            (_, Some(chain), Some(key)) => Ok(Credential::Certificate {
                chain_pem: chain.into_bytes(),
                key_pem: SecretString::from(key),
            }),
            (_, Some(_), None) | (_, None, Some(_)) => Err(invalid(
                "it returned a client certificate or key, not both".into(),
            )),
            (Some(token), None, None) => {
                let expires = non_empty(status.expiration_timestamp)
                    .map(|timestamp| {
                        timestamp.parse::<jiff::Timestamp>().map_err(|_| {
                            invalid(format!("expirationTimestamp {timestamp:?} is not RFC 3339"))
                        })
                    })
                    .transpose()?;
                Ok(Credential::Token {
                    token: SecretString::from(token),
                    expires,
                })
            }
            (None, None, None) => Err(invalid(
                "it returned neither a token nor a client certificate and key".into(),
            )),
        }
    }
}

/// A token and when it expires (never, without a time).
type IssuedToken = (SecretString, Option<jiff::Timestamp>);

/// The bearer token of a plugin, kept between requests as client-go keeps
/// it: run again once expired, or after the server answered 401 to it.
#[derive(Clone)]
pub struct ExecToken {
    plugin: Arc<ExecPlugin>,
    current: Arc<tokio::sync::Mutex<Option<IssuedToken>>>,
}

impl ExecToken {
    /// `first` is the token of the run made when the client was built.
    pub fn new(plugin: ExecPlugin, first: SecretString, expires: Option<jiff::Timestamp>) -> Self {
        ExecToken {
            plugin: Arc::new(plugin),
            current: Arc::new(tokio::sync::Mutex::new(Some((first, expires)))),
        }
    }

    /// The `Authorization` header value, running the plugin again if needed.
    async fn header(&self) -> Result<http::HeaderValue, tower::BoxError> {
        let mut current = self.current.lock().await;
        let fresh = |expires: &Option<jiff::Timestamp>| {
            expires.is_none_or(|expires| jiff::Timestamp::now() < expires)
        };
        let token = match current.as_ref() {
            Some((token, expires)) if fresh(expires) => token.clone(),
            _ => {
                let plugin = Arc::clone(&self.plugin);
                let credential = tokio::task::spawn_blocking(move || plugin.run()).await??;
                let Credential::Token { token, expires } = credential else {
                    return Err(format!(
                        "exec plugin {:?} returned a client certificate where it gave a token before",
                        self.plugin.command
                    )
                    .into());
                };
                *current = Some((token.clone(), expires));
                token
            }
        };
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                format!(
                    "exec plugin {:?} returned a token that cannot be sent",
                    self.plugin.command
                )
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Forgets `rejected` (the server said 401 to it) unless another request
    /// has already replaced it.
    async fn forget(&self, rejected: &http::HeaderValue) {
        let mut current = self.current.lock().await;
        let same = current.as_ref().is_some_and(|(token, _)| {
            rejected.as_bytes().strip_prefix(b"Bearer ") == Some(token.expose_secret().as_bytes())
        });
        if same {
            *current = None;
        }
    }
}

impl<S> tower::Layer<S> for ExecToken {
    type Service = ExecTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExecTokenService {
            token: self.clone(),
            inner,
        }
    }
}

/// [`ExecToken`]'s service: adds the header, watches for 401.
#[derive(Clone)]
pub struct ExecTokenService<S> {
    token: ExecToken,
    inner: S,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>>
    for ExecTokenService<S>
where
    S: tower::Service<
            http::Request<RequestBody>,
            Response = http::Response<ResponseBody>,
            Error = tower::BoxError,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
    RequestBody: Send + 'static,
    ResponseBody: Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = tower::BoxError;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        // The service polled ready is the one to call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let token = self.token.clone();
        Box::pin(async move {
            let header = token.header().await?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, header.clone());
            let response = inner.call(request).await?;
            if response.status() == http::StatusCode::UNAUTHORIZED {
                token.forget(&header).await;
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> ExecConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn plugin(api_version: &str) -> ExecPlugin {
        ExecPlugin::new(&config(&format!(
            "apiVersion: {api_version}\ncommand: plugin\ninteractiveMode: Never\n"
        )))
        .unwrap()
    }

    #[test]
    fn configs_are_checked_as_client_go_checks_them() {
        let refused = |yaml: &str| ExecPlugin::new(&config(yaml)).unwrap_err().to_string();
        assert!(
            refused("apiVersion: client.authentication.k8s.io/v1\n")
                .contains("command must be specified")
        );
        assert!(refused("command: aws\n").contains("apiVersion must be specified"));
        assert!(
            refused("command: aws\napiVersion: client.authentication.k8s.io/v1alpha1\n")
                .contains("invalid apiVersion")
        );
        assert!(
            refused("command: aws\napiVersion: client.authentication.k8s.io/v1\n")
                .contains("interactiveMode must be specified")
        );
        let v1beta1 = ExecPlugin::new(&config(
            "command: aws\napiVersion: client.authentication.k8s.io/v1beta1\n",
        ))
        .unwrap();
        // Test processes have no terminal on standard input.
        if !std::io::stdin().is_terminal() {
            assert!(!v1beta1.interactive, "IfAvailable without a terminal");
            assert!(
                refused("command: aws\napiVersion: client.authentication.k8s.io/v1\ninteractiveMode: Always\n")
                    .contains("standard input is not a terminal")
            );
        }
    }

    #[test]
    fn credentials_are_read_and_never_quoted() {
        let plugin = plugin(V1);
        let token = plugin
            .credential(br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"s3cret","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#)
            .unwrap();
        let Credential::Token { token, expires } = token else {
            panic!("a token")
        };
        assert_eq!(token.expose_secret(), "s3cret");
        assert_eq!(expires.unwrap().to_string(), "2030-01-01T00:00:00Z");

        let other_version = plugin
            .credential(br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"s3cret"}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            other_version.contains("it returned client.authentication.k8s.io/v1beta1"),
            "{other_version}"
        );
        let half = plugin
            .credential(br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"s3cret"}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(half.contains("not both"), "{half}");
        let garbage = plugin
            .credential(b"token: [s3cret")
            .err()
            .unwrap()
            .to_string();
        for text in [&other_version, &half, &garbage] {
            assert!(!text.contains("s3cret"), "{text}");
        }
        let empty = plugin
            .credential(br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(empty.contains("neither a token nor"), "{empty}");
    }

    /// Expired, the token is asked for again; after a 401 too; otherwise
    /// the plugin is not run again.
    #[tokio::test]
    async fn a_token_is_renewed_once_expired_or_refused_and_not_otherwise() {
        use tower::{Layer, ServiceExt};
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let script = format!(
            "echo run >> {runs}; printf '{{\"kind\":\"ExecCredential\",\"apiVersion\":\"{V1}\",\"status\":{{\"token\":\"t%s\"}}}}' $(wc -l < {runs})",
            runs = runs.display()
        );
        let plugin = ExecPlugin::new(&config(&format!(
            "apiVersion: {V1}\ncommand: sh\nargs: [-c, {}]\ninteractiveMode: Never\n",
            serde_json::to_string(&script).unwrap()
        )))
        .unwrap();
        let expired = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        let token = ExecToken::new(plugin, SecretString::from("t0"), Some(expired));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let server = {
            let seen = Arc::clone(&seen);
            tower::service_fn(move |request: http::Request<()>| {
                let header = request.headers()[http::header::AUTHORIZATION].clone();
                seen.lock()
                    .unwrap()
                    .push(header.to_str().unwrap().to_string());
                let status = if header == "Bearer t1" { 401 } else { 200 };
                async move {
                    Ok::<_, tower::BoxError>(
                        http::Response::builder().status(status).body(()).unwrap(),
                    )
                }
            })
        };
        let service = token.layer(server);
        for _ in 0..3 {
            service
                .clone()
                .oneshot(http::Request::new(()))
                .await
                .unwrap();
        }
        assert_eq!(
            *seen.lock().unwrap(),
            ["Bearer t1", "Bearer t2", "Bearer t2"]
        );
        assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    }
}
