//! `kubectl mp-export`: runbook step 1, the secrets and values the standby needs.

use clap::Parser;

use crate::cli::{ConnectionArgs, VERSION};
use crate::error::{EXIT_CODES_HELP, Exit, Result};
use crate::output::Ui;
use crate::pending;

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: the active Management Plane's context, in namespace tsb
  kubectl mp-export --context active -n tsb

  # Kubeconfig from several files, a longer timeout for a slow API server
  KUBECONFIG=~/.kube/active:~/.kube/standby kubectl mp-export --context active --request-timeout 1m

  # Site-specific names (helm release, secret lists) from a layout file
  kubectl mp-export --context active --layout ./tsb-layout.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-export",
    bin_name = "kubectl mp-export",
    version = VERSION,
    about = "Export what a standby TSB Management Plane needs from the active one (runbook step 1)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the ACTIVE Management Plane cluster (default: the current context)
    #[arg(long, help_heading = "Cluster connection")]
    pub context: Option<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Say more about each step (never secret values)
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    pending::check_one(&ui, &cli.connection, cli.context.as_deref()).await?;
    pending::not_built("mp-export", 3)
}
