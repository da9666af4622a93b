//! The flags every plugin shares, kubectl's conventions, and the one way a
//! plugin's `main` runs: parse, run on a runtime, print the error, exit.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, Exit, Result};
use crate::kube::kubeconfig::{ClientSettings, LoadedKubeconfig};
use crate::tsb::layout::TsbLayout;
use crate::ui::output::{OutputFormat, Ui};

/// `0.1.0 (commit 0123456789ab)`, for every plugin's `--version`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KUBECTL_MP_COMMIT"),
    ")"
);

/// How to reach the clusters: kubectl's own flags.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster connection")]
pub struct ConnectionArgs {
    /// Kubeconfig file to use (default: KUBECONFIG, which may list several files, else ~/.kube/config)
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the Management Plane. Unlike kubectl, a context's own namespace is not used: TSB installs its MP in tsb
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        default_value = "tsb",
        global = true
    )]
    pub namespace: String,

    /// How long to wait for one API request: 0 waits forever; a number is seconds; or 500ms, 30s, 2m, 1h
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout, global = true)]
    pub request_timeout: RequestTimeout,

    /// YAML file overriding TSB's names (secrets, deployments, resources); see the README
    #[arg(long, value_name = "FILE", env = "KUBECTL_MP_LAYOUT", global = true)]
    pub layout: Option<PathBuf>,
}

impl ConnectionArgs {
    pub fn load_kubeconfig(&self) -> Result<LoadedKubeconfig> {
        LoadedKubeconfig::load(self.kubeconfig.as_deref())
    }

    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            namespace: self.namespace.clone(),
            request_timeout: self.request_timeout.0,
        }
    }

    pub fn layout(&self) -> Result<TsbLayout> {
        TsbLayout::load(self.layout.as_deref())
    }
}

/// How results are shown.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format of the data on stdout (messages always go to stderr)
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub output: OutputFormat,

    /// Say more about each step (never secret values)
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// `--request-timeout`; `None` waits as long as the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// kubectl's `--request-timeout`: `0` (no timeout), a bare number of seconds,
/// or a Go-style duration such as `500ms`, `30s`, `1m30s`.
pub fn parse_timeout(text: &str) -> std::result::Result<RequestTimeout, String> {
    parse_duration(text).map(|duration| RequestTimeout((!duration.is_zero()).then_some(duration)))
}

/// A bare number of seconds, or a Go-style duration: `500ms`, `30s`, `1m30s`, `2h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let invalid = || {
        format!("invalid duration {text:?}: use a number of seconds, or e.g. 500ms, 30s, 2m, 1h")
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let amount: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(invalid()),
        };
        total += unit * u32::try_from(amount).map_err(|_| invalid())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Runs a plugin: a multi-threaded runtime for its concurrent API calls, its
/// error printed as one line on stderr, its exit code per the documented table.
pub fn run_plugin<F>(verbose: bool, plugin: impl FnOnce(Ui) -> F) -> ExitCode
where
    F: Future<Output = Result<Exit>>,
{
    let ui = Ui::new(verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            ui.error(&Error::failed(format!(
                "cannot start the async runtime: {error}"
            )));
            return Exit::Failed.into();
        }
    };
    match runtime.block_on(plugin(ui.clone())) {
        Ok(exit) => exit.into(),
        Err(error) => {
            ui.error(&error);
            error.exit().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timeout_follows_kubectl() {
        let parsed = |text| parse_timeout(text).map(|timeout| timeout.0);
        assert_eq!(parsed("0"), Ok(None));
        assert_eq!(parsed("0s"), Ok(None));
        assert_eq!(parsed("5"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(parsed("500ms"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(parsed("1m30s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parsed("2h"), Ok(Some(Duration::from_secs(7200))));
        assert!(
            parse_timeout("soon")
                .unwrap_err()
                .contains("invalid duration \"soon\"")
        );
        assert!(parse_timeout("10x").is_err());
        assert!(parse_timeout("s").is_err());
    }

    #[test]
    fn version_names_the_crate_version_and_commit() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(VERSION.contains("(commit "));
    }
}
