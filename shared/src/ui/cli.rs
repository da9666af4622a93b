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
            user_agent: user_agent(),
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
    /// Output format of the result on stdout: one JSON or YAML document, failures included (messages always go to stderr)
    #[arg(short = 'o', long, value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text, global = true)]
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

/// What [`run_plugin`] needs of a plugin's flags.
pub trait PluginCli: clap::Parser {
    /// Its `-o` and `-v`.
    fn output_args(&self) -> &OutputArgs;

    /// What to do about `-o VALUE` when VALUE is no output format
    /// (mp-export says where its bundle file goes now).
    fn output_value_hint(_value: &str) -> String {
        "pass -o text, -o json or -o yaml".into()
    }

    /// Whether these flags take `-o prometheus` (only `mp-cacheck --readiness`).
    fn accepts_prometheus(&self) -> bool {
        false
    }
}

/// The plugin this process is (`kubectl-mp-export`), set once by
/// [`run_plugin`]; `kubectl-mp` for the library used on its own.
static PLUGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `kubectl-mp-export/0.1.0`: the User-Agent of every API request, so the
/// API server's audit log tells which plugin, and which version, did what.
pub fn user_agent() -> String {
    let plugin = PLUGIN.get().map_or("kubectl-mp", String::as_str);
    format!("{plugin}/{}", env!("CARGO_PKG_VERSION"))
}

/// The folder of `plugin`'s least-privilege Role, relative to the
/// repository (`deploy/rbac/export` for `kubectl-mp-export`): what its
/// `--help`, its man page and an RBAC denial's hint name (README
/// "Permissions").
pub fn rbac_dir_of(plugin: &str) -> String {
    match plugin.strip_prefix("kubectl-mp-") {
        Some(name) => format!("deploy/rbac/{name}"),
        None => "deploy/rbac".into(),
    }
}

/// [`rbac_dir_of`] this process's plugin.
pub fn rbac_dir() -> String {
    rbac_dir_of(PLUGIN.get().map_or("kubectl-mp", String::as_str))
}

/// `command` (a plugin's) whose help, and so man page, ends with the Role
/// it needs ([`rbac_dir_of`]): the one way all four name it.
pub fn with_permissions_help(command: clap::Command) -> clap::Command {
    let dir = rbac_dir_of(command.get_name());
    let permissions = format!(
        "Permissions:\n  least privilege is the Role in {dir} (kubectl --context CONTEXT apply -k {dir}); README \"Permissions\" lists each plugin's rules and why"
    );
    let after_help = match command.get_after_help() {
        Some(help) => format!("{help}\n\n{permissions}"),
        None => permissions,
    };
    command.after_help(after_help)
}

/// Runs a plugin, the one way all four run: its flags parsed (an `-o` that
/// is no format is one line saying what to pass), its `--help` ending with
/// the Role it needs ([`with_permissions_help`]), a multi-threaded runtime
/// for its concurrent API calls, its error printed as one line on stderr,
/// with `-o json|yaml` one document on stdout whatever the outcome
/// ([`Ui::finish`]), and its exit code per the documented table.
pub fn run_plugin<C, F>(plugin: impl FnOnce(C, Ui) -> F) -> ExitCode
where
    C: PluginCli,
    F: Future<Output = Result<Exit>>,
{
    let command = C::command();
    let _ = PLUGIN.set(command.get_name().to_string());
    let parsed = with_permissions_help(command)
        .try_get_matches()
        .and_then(|matches| C::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => return refuse_flags::<C>(error),
    };
    let output = cli.output_args().clone();
    if output.output == OutputFormat::Prometheus && !cli.accepts_prometheus() {
        let refused = Error::usage("-o prometheus is the readiness check's output").with_next_step(
            "use it with kubectl mp-cacheck --readiness; here pass -o text, -o json or -o yaml",
        );
        return Ui::new(output.verbose).finish(Err(refused)).into();
    }
    let ui = Ui::new(output.verbose).with_format(output.output);
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(plugin(cli, ui.clone())),
        Err(error) => Err(Error::failed(format!(
            "cannot start the async runtime: {error}"
        ))),
    };
    ui.finish(result).into()
}

/// Flags clap refused (help and version are clap's, as they were): an `-o`
/// that is no output format is our one line; any other error is clap's, with
/// its usage. Either way exit 2 and, for `-o json|yaml`, the document.
fn refuse_flags<C: PluginCli>(error: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    let format = format_in_args(
        std::env::args_os()
            .skip(1)
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    let ui = Ui::new(false).with_format(format);
    let invalid_output = match (
        error.kind(),
        error.get(ContextKind::InvalidArg),
        error.get(ContextKind::InvalidValue),
    ) {
        (
            ErrorKind::InvalidValue,
            Some(ContextValue::String(arg)),
            Some(ContextValue::String(value)),
        ) if arg.starts_with("--output") => Some(value.clone()),
        _ => None,
    };
    let refused = match invalid_output {
        Some(value) => Error::usage(format!(
            "-o {value}: -o/--output is the output format (text, json or yaml)"
        ))
        .with_next_step(C::output_value_hint(&value)),
        None => {
            // clap's own message, with its usage, on stderr; its first line in the document.
            let _ = error.print();
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
            let name = C::command().get_bin_name().unwrap_or_default().to_string();
            let refused = Error::usage(message).with_next_step(format!("see {name} --help"));
            ui.finish_quietly(&refused);
            return Exit::Usage.into();
        }
    };
    ui.finish(Err(refused)).into()
}

/// The `-o` of arguments clap refused, as far as it can be told: the last
/// `-o FORMAT`, `-oFORMAT`, `--output FORMAT` or `--output=FORMAT`.
fn format_in_args(args: impl Iterator<Item = String>) -> OutputFormat {
    let mut format = OutputFormat::Text;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-o" | "--output" => args.peek().cloned(),
            "--" => break,
            _ => arg
                .strip_prefix("--output=")
                .or_else(|| arg.strip_prefix("-o").filter(|_| !arg.starts_with("--")))
                .map(str::to_string),
        };
        match value.as_deref() {
            Some("json") => format = OutputFormat::Json,
            Some("yaml") => format = OutputFormat::Yaml,
            Some("text") => format = OutputFormat::Text,
            _ => {}
        }
    }
    format
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
    fn the_format_of_refused_flags_is_read_as_clap_would() {
        let format = |args: &[&str]| format_in_args(args.iter().map(|arg| arg.to_string()));
        assert_eq!(
            format(&["--context", "x", "-o", "json"]),
            OutputFormat::Json
        );
        assert_eq!(format(&["-oyaml", "--bogus"]), OutputFormat::Yaml);
        assert_eq!(format(&["--output=json"]), OutputFormat::Json);
        assert_eq!(
            format(&["--output", "yaml", "-o", "text"]),
            OutputFormat::Text
        );
        assert_eq!(format(&["-o", "b.yaml"]), OutputFormat::Text);
        assert_eq!(format(&["--", "-o", "json"]), OutputFormat::Text);
    }

    #[test]
    fn the_user_agent_is_the_plugin_and_its_version() {
        let agent = user_agent();
        assert!(
            agent == format!("kubectl-mp/{}", env!("CARGO_PKG_VERSION"))
                || agent.starts_with("kubectl-mp-"),
            "{agent}"
        );
    }

    #[test]
    fn version_names_the_crate_version_and_commit() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(VERSION.contains("(commit "));
    }
}
