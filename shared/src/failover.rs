//! `kubectl mp-failover`: the cut-over from the active to the standby MP.

use clap::Parser;

use crate::cli::{ConnectionArgs, OutputArgs, VERSION};
use crate::error::{EXIT_CODES_HELP, Exit, Result};
use crate::output::Ui;
use crate::pending;

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: fail over from the active to the standby context
  kubectl mp-failover --from active --to standby -n tsb

  # Output: step results as JSON for a script
  kubectl mp-failover --from active --to standby -o json";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-failover",
    bin_name = "kubectl mp-failover",
    version = VERSION,
    about = "Fail the TSB Management Plane over from the active cluster to the standby",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the cluster serving the MP now
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub from: String,

    /// Context of the cluster that takes over
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub to: String,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    pending::check_pair(&ui, &cli.connection, &cli.from, &cli.to).await?;
    pending::not_built("mp-failover", 5)
}
