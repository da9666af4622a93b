use clap::Parser;
use kubectl_mp::export::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    kubectl_mp::ui::cli::run_plugin(cli.verbose, |ui| run(cli, ui))
}
