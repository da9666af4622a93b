//! Errors and exit codes shared by every plugin.
//!
//! Every error is one line that names what failed (a file, a context, an
//! object) and what to do next, and maps to a documented exit code so scripts
//! can tell "fix your flags" from "the cluster is down".

use std::fmt;
use std::process::ExitCode;

/// The exit codes of every kubectl-mp plugin (also in the README and `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done or every check passed.
    Ok = 0,
    /// A check failed, or an operation failed before it changed anything.
    Failed = 1,
    /// Bad flags or bad input: kubeconfig, context, file. Nothing was touched.
    Usage = 2,
    /// A cluster was unreachable, timed out, or denied a request. Nothing was
    /// changed unless the message says so.
    Cluster = 3,
    /// Failed after changing something: the message says what changed and how
    /// to converge (re-run, or `--resume`).
    Partial = 4,
    /// `mp-failover` only: the MP failover is done (the new MP serves and
    /// the name answers it), but some control planes did not follow it;
    /// `--resume` retries only those.
    ControlPlanes = 5,
}

/// Shown under every plugin's `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success: done, or every check passed
  1  a check failed, or an operation failed before changing anything
  2  usage or input error (flags, kubeconfig, context, file); nothing touched
  3  cluster unreachable, timed out, or request denied (RBAC)
  4  failed after changing something; re-run (or --resume) to converge
  5  mp-failover: the MP failover is done, but some control planes did not follow; --resume retries them";

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure the user can act on: what happened, and what to do next.
#[derive(Debug, Clone)]
pub struct Error {
    exit: Exit,
    message: String,
    next_step: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Awaits two independent operations concurrently and, when both fail,
/// returns the FIRST one's error: one fault (a cluster down, a denied token)
/// then gives the same message on every run, whichever answer happened to
/// come back first. Both always run to completion, so a write is never
/// abandoned mid-request because its sibling failed: what the cluster holds
/// afterwards follows from the answers, not from a race. Waiting for the
/// second costs at most its own request timeout.
pub async fn join_in_order<A, B>(
    first: impl Future<Output = Result<A>>,
    second: impl Future<Output = Result<B>>,
) -> Result<(A, B)> {
    let (first, second) = futures::join!(first, second);
    Ok((first?, second?))
}

/// [`join_in_order`] for any number of operations of one kind: all run
/// concurrently to their end; the first error in `operations`' order wins.
pub async fn join_all_in_order<T>(
    operations: impl IntoIterator<Item = impl Future<Output = Result<T>>>,
) -> Result<Vec<T>> {
    futures::future::join_all(operations)
        .await
        .into_iter()
        .collect()
}

impl Error {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Error {
            exit,
            message: message.into(),
            next_step: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Exit::Usage, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(Exit::Failed, message)
    }

    pub fn cluster(message: impl Into<String>) -> Self {
        Error::new(Exit::Cluster, message)
    }

    /// What the user should do about it, shown after the message on the same line.
    pub fn with_next_step(mut self, next_step: impl Into<String>) -> Self {
        self.next_step = Some(next_step.into());
        self
    }

    /// The same failure, told differently (e.g. with what it means here).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn exit(&self) -> Exit {
        self.exit
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn next_step(&self) -> Option<&str> {
        self.next_step.as_deref()
    }

    /// Classifies a Kubernetes API failure while doing `action` (e.g. `list secrets
    /// in tsb`) against `context`'s API server at `server`: denial, timeouts and
    /// unreachable servers are cluster errors (exit 3), a failed TLS
    /// handshake too, naming its reason and fix; anything the server
    /// refused otherwise is a failure. The line names the context and the
    /// server, as kubectl's does, and holds one cause, never a chain of them.
    pub fn from_kube(error: kube::Error, context: &str, server: &str, action: &str) -> Self {
        let at = format!("context {context:?} ({server})");
        // Reachable, but not trusted (or not trusting us): which, and the fix.
        if let Some(tls) = crate::kube::transport::tls_failure(&error, server) {
            return Error::cluster(format!(
                "{at}: TLS handshake failed while trying to {action}: {}",
                tls.reason
            ))
            .with_next_step(tls.fix);
        }
        match &error {
            kube::Error::Api(status) if status.code == 401 => Error::cluster(format!(
                "{at}: unauthorized to {action}: {}",
                status.message
            ))
            .with_next_step("refresh the credentials of that context (kubectl auth whoami tells who you are)"),
            kube::Error::Api(status) if status.code == 403 => Error::cluster(format!(
                "{at}: forbidden to {action}: {}",
                status.message
            ))
            .with_next_step(format!(
                "ask for RBAC that allows it: the Role in {} grants what this plugin needs (check with: kubectl --context {context} auth can-i ...)",
                crate::ui::cli::rbac_dir()
            )),
            kube::Error::Api(status) if status.code == 504 || status.reason == "Timeout" => {
                Error::cluster(format!("{at}: timed out trying to {action}: {}", status.message))
                    .with_next_step("retry, or raise --request-timeout")
            }
            kube::Error::Api(status) => Error::failed(format!(
                "{at}: could not {action}: {} ({} {})",
                status.message, status.code, status.reason
            )),
            _ if is_timeout(&error) => Error::cluster(format!("{at}: timed out trying to {action}"))
                .with_next_step("check the cluster is up, or raise --request-timeout"),

            _ if is_transport(&error) => Error::cluster(format!(
                "{at}: cluster unreachable while trying to {action}: {}",
                root_cause(&error)
            ))
            .with_next_step("check the cluster is up and the context's server address is right"),
            _ => Error::failed(format!("{at}: could not {action}: {}", root_cause(&error))),
        }
    }
}

/// Whether `error` (or one of its causes) is a timeout: the server's, or
/// the client's `--request-timeout`.
pub(crate) fn is_timeout(error: &kube::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        let text = current.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("timeout") || text.contains("elapsed") {
            return true;
        }
        source = current.source();
    }
    false
}

fn is_transport(error: &kube::Error) -> bool {
    matches!(
        error,
        kube::Error::HyperError(_)
            | kube::Error::Service(_)
            | kube::Error::HttpError(_)
            | kube::Error::RustlsTls(_)
    )
}

/// The innermost cause, which is what the user can act on ("connection refused").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.next_step {
            Some(next_step) => write!(f, "{}; {next_step}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn join_in_order_reports_the_first_failure_whichever_ends_first() {
        let slow_failure = async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            Err::<(), _>(Error::new(Exit::Cluster, "first"))
        };
        let quick_failure = async { Err::<(), _>(Error::new(Exit::Cluster, "second")) };
        let error = join_in_order(slow_failure, quick_failure)
            .await
            .unwrap_err();
        assert_eq!(error.message, "first");

        let quick_success = async { Ok::<_, Error>(1) };
        let error = join_in_order(quick_success, async {
            Err::<(), _>(Error::new(Exit::Failed, "second"))
        })
        .await
        .unwrap_err();
        assert_eq!(error.message, "second");
        assert_eq!(
            join_in_order(async { Ok::<_, Error>(1) }, async { Ok::<_, Error>(2) })
                .await
                .unwrap(),
            (1, 2)
        );
    }

    /// A failed write never abandons a sibling mid-request.
    #[tokio::test]
    async fn join_all_in_order_finishes_every_operation_and_reports_the_first_failure() {
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let operation = |index: usize, fails: bool| {
            let finished = &finished;
            async move {
                if !fails {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if fails {
                    Err(Error::new(Exit::Cluster, format!("operation {index}")))
                } else {
                    Ok(index)
                }
            }
        };
        let error = join_all_in_order([
            operation(0, false),
            operation(1, true),
            operation(2, false),
            operation(3, true),
        ])
        .await
        .unwrap_err();
        assert_eq!(error.message, "operation 1");
        assert_eq!(finished.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert_eq!(
            join_all_in_order([operation(5, false), operation(6, false)])
                .await
                .unwrap(),
            [5, 6]
        );
    }

    use super::*;

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        assert_eq!(Exit::Ok as u8, 0);
        assert_eq!(Exit::Failed as u8, 1);
        assert_eq!(Exit::Usage as u8, 2);
        assert_eq!(Exit::Cluster as u8, 3);
        assert_eq!(Exit::Partial as u8, 4);
        assert_eq!(Exit::ControlPlanes as u8, 5);
        for code in 0..=5 {
            assert!(
                EXIT_CODES_HELP.contains(&format!("  {code}  ")),
                "help lacks exit code {code}"
            );
        }
    }

    #[test]
    fn error_renders_as_one_line_with_the_next_step() {
        let error = Error::usage("context \"x\" not found").with_next_step("pass --context");
        assert_eq!(error.to_string(), "context \"x\" not found; pass --context");
        assert!(!error.to_string().contains('\n'));
        assert_eq!(error.exit(), Exit::Usage);
    }

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("secrets is forbidden", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn kube_denials_are_cluster_errors_and_other_api_errors_failures() {
        let denied = Error::from_kube(
            api_error(403, "Forbidden"),
            "active",
            "https://10.0.0.1:6443",
            "list secrets in tsb",
        );
        assert_eq!(denied.exit(), Exit::Cluster);
        assert!(denied.to_string().contains(
            "context \"active\" (https://10.0.0.1:6443): forbidden to list secrets in tsb"
        ));
        assert!(denied.to_string().contains("auth can-i"));
        let conflict = Error::from_kube(
            api_error(409, "Conflict"),
            "active",
            "https://10.0.0.1:6443",
            "update secret x",
        );
        assert_eq!(conflict.exit(), Exit::Failed);
    }
}
