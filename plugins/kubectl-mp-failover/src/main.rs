use clap::Parser;
use kubectl_mp::failover::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    kubectl_mp::cli::run_plugin(cli.output.verbose, |ui| run(cli, ui))
}
