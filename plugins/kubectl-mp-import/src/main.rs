fn main() -> std::process::ExitCode {
    kubectl_mp::ui::cli::run_plugin(kubectl_mp::import::run)
}
