//! `kubectl mp-cacheck`: both Management Planes must chain to one root CA.

use clap::Parser;

use crate::cli::{ConnectionArgs, OutputArgs, VERSION};
use crate::error::{EXIT_CODES_HELP, Exit, Result};
use crate::output::Ui;
use crate::pending;

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: compare the active and the standby Management Planes
  kubectl mp-cacheck --active-context active --standby-context standby -n tsb

  # Output: the check results as JSON for a script
  kubectl mp-cacheck --active-context active --standby-context standby -o json";

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
    pub active_context: String,

    /// Context of the STANDBY Management Plane cluster
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub standby_context: String,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    pending::check_pair(
        &ui,
        &cli.connection,
        &cli.active_context,
        &cli.standby_context,
    )
    .await?;
    pending::not_built("mp-cacheck", 4)
}
