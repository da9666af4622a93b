//! The command's flags ([`Cli`]), what they ask to read (a [`Plan`]: one
//! side, or an active and a standby, each a context or a bundle), and the
//! reading of it.

use clap::Parser;

use super::options::{DEFAULT_DNS_NAME_SECRETS, DEFAULT_EXPIRY_WARNING_DAYS};
use super::snapshot::{MpSnapshot, bundle_snapshot, read_cluster};
use crate::error::{EXIT_CODES_HELP, Error, Result};
use crate::failover::DatabaseMode;
use crate::kube::cluster::{Cluster, ClusterPair};
use crate::secrets::bundle::Bundle;
use crate::tsb::layout::TsbLayout;
use crate::ui::cli::{ConnectionArgs, OutputArgs, PluginCli, VERSION, parse_duration};

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: compare the active and the standby Management Planes
  kubectl mp-cacheck --active-context active --standby-context standby -n tsb

  # Cluster connection: one cluster on its own (e.g. before the standby exists)
  kubectl mp-cacheck --context active --dns-name tsb.example.com

  # Offline: an export bundle against the standby cluster, or against another bundle
  kubectl mp-cacheck --bundle active-secrets.yaml --context standby
  kubectl mp-cacheck --bundle active-secrets.yaml --bundle standby-secrets.yaml

  # Checks: the floating DNS name, and warnings as failures
  kubectl mp-cacheck --active-context active --standby-context standby --dns-name tsb.example.com --strict

  # Output: the check results as JSON for a script
  kubectl mp-cacheck --active-context active --standby-context standby -o json

  # Readiness: would a failover succeed now? (read-only; for a CronJob, -o prometheus)
  kubectl mp-cacheck --readiness --active-context active --standby-context standby --database shared
  kubectl mp-cacheck --readiness --active-context active --standby-context standby --database separate -o prometheus";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-cacheck",
    bin_name = "kubectl mp-cacheck",
    version = VERSION,
    about = "Check that both TSB Management Planes chain to the same root CA (the runbook's CA caution)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the ACTIVE Management Plane cluster
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub active_context: Option<String>,

    /// Context of the STANDBY Management Plane cluster
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub standby_context: Option<String>,

    /// One cluster: alone, or the standby side against --bundle
    #[arg(
        long,
        value_name = "CONTEXT",
        conflicts_with_all = ["active_context", "standby_context"],
        help_heading = "Cluster connection"
    )]
    pub context: Option<String>,

    /// An export bundle (from kubectl mp-export; - for stdin) read instead of a cluster; the first is the active side, a second the standby side
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append, help_heading = "Offline")]
    pub bundle: Vec<String>,

    /// age identity file to open encrypted bundles (from kubectl mp-export --encrypt-to)
    #[arg(long, value_name = "FILE", help_heading = "Offline")]
    pub identity: Option<std::path::PathBuf>,

    /// The floating DNS name clients use for the MP: the leaves of --dns-name-secrets must cover it (skipped when not given)
    #[arg(long, value_name = "NAME", help_heading = "Checks")]
    pub dns_name: Option<String>,

    /// Secrets whose leaf certificate must cover --dns-name
    #[arg(
        long,
        value_name = "SECRET,...",
        value_delimiter = ',',
        default_values_t = DEFAULT_DNS_NAME_SECRETS.map(String::from),
        help_heading = "Checks"
    )]
    pub dns_name_secrets: Vec<String>,

    /// Warn about certificates expiring within this many days
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_EXPIRY_WARNING_DAYS, help_heading = "Checks")]
    pub expiry_warning_days: i64,

    /// Exit 1 on warnings too
    #[arg(long, help_heading = "Checks")]
    pub strict: bool,

    /// Would a failover from --active-context to --standby-context succeed now? Root CA, carried secrets, configuration, standby fenced, restore CronJobs, Postgres reachable; read-only. Also -o prometheus
    #[arg(
        long,
        requires_all = ["active_context", "standby_context", "database"],
        conflicts_with_all = ["bundle", "context", "identity"],
        help_heading = "Readiness"
    )]
    pub readiness: bool,

    /// With --readiness: both MPs use one Postgres (shared) or each its own (separate); decides which secrets and spec fields must match and where a restore CronJob belongs
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        requires = "readiness",
        help_heading = "Readiness"
    )]
    pub database: Option<DatabaseMode>,

    /// With --readiness: warn when the standby's restore CronJob last succeeded longer ago than this (500ms, 30s, 2m, 25h)
    #[arg(long, value_name = "DURATION", default_value = "25h", value_parser = parse_duration, help_heading = "Readiness")]
    pub restore_max_age: std::time::Duration,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl PluginCli for Cli {
    fn output_args(&self) -> &OutputArgs {
        &self.output
    }

    fn accepts_prometheus(&self) -> bool {
        self.readiness
    }
}

/// What the flags ask to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Context(String),
    Bundle(String),
}

/// One side alone, or an (active, standby) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    Single(Source),
    Pair(Source, Source),
}

/// What the flags ask for, or a usage error (exit 2) saying what to pass.
pub(super) fn plan(cli: &Cli) -> Result<Plan> {
    let usage = || {
        Error::usage("say what to check").with_next_step(
            "pass --active-context A --standby-context B, --context A, or --bundle FILE (optionally with --context B or a second --bundle)",
        )
    };
    if cli.bundle.len() > 2 {
        return Err(Error::usage("--bundle given more than twice")
            .with_next_step("compare at most two bundles (active first, then standby)"));
    }
    let mut bundles = cli.bundle.iter().cloned().map(Source::Bundle);
    if let Some(context) = &cli.context {
        return match (bundles.next(), bundles.next()) {
            (None, _) => Ok(Plan::Single(Source::Context(context.clone()))),
            (Some(bundle), None) => Ok(Plan::Pair(bundle, Source::Context(context.clone()))),
            (Some(_), Some(_)) => Err(Error::usage("--context with two --bundle files")
                .with_next_step("compare a bundle with a cluster, or two bundles, not both")),
        };
    }
    let active = cli
        .active_context
        .clone()
        .map(Source::Context)
        .or_else(|| bundles.next());
    let standby = cli
        .standby_context
        .clone()
        .map(Source::Context)
        .or_else(|| bundles.next());
    if bundles.next().is_some() {
        return Err(
            Error::usage("too many sides: more than one active and one standby")
                .with_next_step("give two of --active-context, --standby-context and --bundle"),
        );
    }
    match (active, standby) {
        (Some(active), Some(standby)) => Ok(Plan::Pair(active, standby)),
        (Some(Source::Bundle(bundle)), None) => Ok(Plan::Single(Source::Bundle(bundle))),
        (Some(Source::Context(_)), None) => Err(Error::usage("--active-context needs a standby")
            .with_next_step(
                "add --standby-context (or --bundle), or use --context to check one cluster alone",
            )),
        (None, Some(_)) => Err(Error::usage("--standby-context needs an active side")
            .with_next_step("add --active-context or --bundle")),
        (None, None) => Err(usage()),
    }
}

async fn read_source(
    cli: &Cli,
    layout: &TsbLayout,
    source: &Source,
    role: &str,
) -> Result<MpSnapshot> {
    let connection = &cli.connection;
    match source {
        Source::Bundle(path) => Bundle::read_with_identity(path, cli.identity.as_deref())
            .map(|bundle| bundle_snapshot(bundle, path, role)),
        Source::Context(context) => {
            let kubeconfig = connection.load_kubeconfig()?;
            let cluster =
                Cluster::connect(&kubeconfig, Some(context), &connection.client_settings()).await?;
            read_cluster(&cluster, layout, role).await
        }
    }
}

/// Reads every side of the plan; a pair of contexts from one kubeconfig.
pub(super) async fn read_plan(
    cli: &Cli,
    layout: &TsbLayout,
    plan: &Plan,
) -> Result<Vec<MpSnapshot>> {
    let connection = &cli.connection;
    match plan {
        Plan::Single(source) => {
            // Alone, a cluster is named by its context.
            let role = match source {
                Source::Context(context) => context.as_str(),
                Source::Bundle(_) => "bundle",
            };
            Ok(vec![read_source(cli, layout, source, role).await?])
        }
        Plan::Pair(Source::Context(active), Source::Context(standby)) => {
            let kubeconfig = connection.load_kubeconfig()?;
            let pair =
                ClusterPair::connect(&kubeconfig, active, standby, &connection.client_settings())
                    .await?;
            let (active, standby) = crate::error::join_in_order(
                read_cluster(&pair.active, layout, "active"),
                read_cluster(&pair.standby, layout, "standby"),
            )
            .await?;
            Ok(vec![active, standby])
        }
        Plan::Pair(active, standby) => {
            let (active, standby) = crate::error::join_in_order(
                read_source(cli, layout, active, "active"),
                read_source(cli, layout, standby, "standby"),
            )
            .await?;
            Ok(vec![active, standby])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("kubectl-mp-cacheck").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn the_flags_choose_one_side_or_a_pair() {
        let context = |name: &str| Source::Context(name.into());
        let bundle = |path: &str| Source::Bundle(path.into());
        assert_eq!(
            plan(&cli(&["--active-context", "a", "--standby-context", "b"])).unwrap(),
            Plan::Pair(context("a"), context("b"))
        );
        assert_eq!(
            plan(&cli(&["--context", "a"])).unwrap(),
            Plan::Single(context("a"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f"])).unwrap(),
            Plan::Single(bundle("f"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--context", "b"])).unwrap(),
            Plan::Pair(bundle("f"), context("b"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--bundle", "g"])).unwrap(),
            Plan::Pair(bundle("f"), bundle("g"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--standby-context", "b"])).unwrap(),
            Plan::Pair(bundle("f"), context("b"))
        );
        for args in [
            &[][..],
            &["--active-context", "a"][..],
            &["--bundle", "f", "--bundle", "g", "--context", "c"][..],
        ] {
            assert_eq!(
                plan(&cli(args)).unwrap_err().exit(),
                Exit::Usage,
                "{args:?}"
            );
        }
        assert!(Cli::try_parse_from(["x", "--context", "a", "--active-context", "b"]).is_err());
        assert_eq!(
            cli(&["--context", "a"]).dns_name_secrets,
            ["tsb-certs", "xcp-central-cert"]
        );
    }
}
