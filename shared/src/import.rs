//! `kubectl mp-import`: runbook step 2, the exported secrets into the standby.

use clap::Parser;

use crate::cli::{ConnectionArgs, OutputArgs, VERSION};
use crate::error::{EXIT_CODES_HELP, Exit, Result};
use crate::output::Ui;
use crate::pending;

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: the standby Management Plane's context
  kubectl mp-import --context standby -n tsb

  # Output: machine-readable results on stdout, messages on stderr
  kubectl mp-import --context standby -o json";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-import",
    bin_name = "kubectl mp-import",
    version = VERSION,
    about = "Import an export bundle into the standby TSB Management Plane (runbook step 2)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the STANDBY Management Plane cluster (default: the current context)
    #[arg(long, help_heading = "Cluster connection")]
    pub context: Option<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    pending::check_one(&ui, &cli.connection, cli.context.as_deref()).await?;
    pending::not_built("mp-import", 3)
}
