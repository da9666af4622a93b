use clap::Parser;
use kubectl_mp::import::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    kubectl_mp::ui::cli::run_plugin(cli.output.verbose, |ui| run(cli, ui))
}
