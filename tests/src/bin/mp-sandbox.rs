//! Starts sandbox clusters and their admin API, for the demo and for manual
//! poking with kubectl. See tests/README.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mp_sandbox::front::FRONT_PORT;
use mp_sandbox::{CertVariant, ClusterOptions, Sandbox, SandboxOptions, SeedKind};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "mp-sandbox",
    version,
    about = "In-memory Kubernetes API servers over HTTPS, seeded with a TSB Management Plane"
)]
struct Args {
    /// Where to write the kubeconfig (contexts NAME and NAME-token per cluster).
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: PathBuf,
    /// Where to write the state JSON (kubeconfig, admin URL, server URLs,
    /// front addresses).
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// A cluster to start: NAME=SEED[:CERTS]; SEED is tsb-helm, tsb-generic or
    /// empty; CERTS is shared-root, own-root, expired-leaf, missing-san or
    /// cert-manager-self-signed. Default: active=tsb-helm and standby=empty.
    #[arg(long = "cluster", value_name = "NAME=SEED[:CERTS]", value_parser = parse_cluster)]
    clusters: Vec<ClusterOptions>,
    /// The Management Plane namespace.
    #[arg(short = 'n', long, default_value = "tsb")]
    namespace: String,
    /// How long a Deployment takes to report ready replicas, in milliseconds.
    #[arg(long, default_value_t = 300)]
    ready_delay_ms: u64,
    /// The MP's floating DNS name, in the seeded certificates' SANs.
    #[arg(long, default_value = "tsb.example.com")]
    dns_name: String,
}

fn parse_cluster(text: &str) -> Result<ClusterOptions, String> {
    let (name, seed, certs) = mp_sandbox::seed::parse_cluster_spec(text)?;
    Ok(ClusterOptions { name, seed, certs })
}

fn default_clusters() -> Vec<ClusterOptions> {
    vec![
        ClusterOptions {
            name: "active".into(),
            seed: SeedKind::TsbHelm,
            certs: CertVariant::SharedRoot,
        },
        ClusterOptions {
            name: "standby".into(),
            seed: SeedKind::Empty,
            certs: CertVariant::SharedRoot,
        },
    ]
}

/// Writes through a temporary file and a rename, so readers never see half a file.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let clusters = if args.clusters.is_empty() {
        default_clusters()
    } else {
        args.clusters
    };
    if let Some(parent) = args
        .kubeconfig_out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    let sandbox = Sandbox::start(SandboxOptions {
        clusters,
        kubeconfig_path: args.kubeconfig_out.clone(),
        namespace: args.namespace,
        ready_delay: Duration::from_millis(args.ready_delay_ms),
        floating_dns_name: args.dns_name,
    })
    .await
    .map_err(|error| format!("starting the sandbox: {error}"))?;
    let admin = sandbox
        .serve_admin()
        .await
        .map_err(|error| format!("starting the admin API: {error}"))?;
    let servers: serde_json::Map<String, serde_json::Value> = sandbox
        .clusters()
        .iter()
        .map(|cluster| {
            (
                cluster.name().to_string(),
                json!({
                    "server": cluster.server_url(),
                    "front_address": cluster.front_address(),
                    "front_port": FRONT_PORT,
                }),
            )
        })
        .collect();
    let kubeconfig = std::path::absolute(sandbox.kubeconfig())
        .unwrap_or_else(|_| sandbox.kubeconfig().to_path_buf());
    let state = json!({
        "kubeconfig": kubeconfig,
        "admin": admin,
        "clusters": servers,
    });
    let state_text = serde_json::to_string_pretty(&state)
        .map_err(|error| format!("encoding the state: {error}"))?;
    if let Some(path) = &args.state_file {
        write_atomically(path, &format!("{state_text}\n"))
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
    }
    println!("{state_text}");
    shutdown_signal()
        .await
        .map_err(|error| format!("waiting for a signal: {error}"))?;
    drop(sandbox);
    if let Some(path) = &args.state_file {
        // A stale state file would point the demo at dead ports.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mp-sandbox: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mp-sandbox: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_specs() {
        let east = parse_cluster("east=tsb-generic:own-root").unwrap();
        assert_eq!(east.name, "east");
        assert_eq!(east.seed, SeedKind::TsbGeneric);
        assert_eq!(east.certs, CertVariant::OwnRoot);
        let west = parse_cluster("west=empty").unwrap();
        assert_eq!(west.seed, SeedKind::Empty);
        assert_eq!(west.certs, CertVariant::SharedRoot);
        assert!(
            parse_cluster("no-equals")
                .unwrap_err()
                .contains("NAME=SEED")
        );
        assert!(parse_cluster("=empty").is_err());
        assert!(parse_cluster("a=nonsense").is_err());
        assert!(parse_cluster("a=empty:nonsense").is_err());
        let args = Args::try_parse_from([
            "mp-sandbox",
            "--kubeconfig-out",
            "/tmp/k",
            "--cluster",
            "one=tsb-helm",
            "--cluster",
            "two=empty",
        ])
        .unwrap();
        let names: Vec<&str> = args
            .clusters
            .iter()
            .map(|cluster| cluster.name.as_str())
            .collect();
        assert_eq!(names, ["one", "two"]);
    }

    #[test]
    fn cli_defaults_match_the_readme() {
        let args = Args::try_parse_from(["mp-sandbox", "--kubeconfig-out", "/tmp/k"]).unwrap();
        assert_eq!(args.namespace, "tsb");
        assert_eq!(args.ready_delay_ms, 300);
        assert_eq!(args.dns_name, "tsb.example.com");
        assert!(args.clusters.is_empty());
        assert!(Args::try_parse_from(["mp-sandbox"]).is_err());
        let names: Vec<String> = default_clusters()
            .into_iter()
            .map(|cluster| cluster.name)
            .collect();
        assert_eq!(names, ["active", "standby"]);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("mp-sandbox-bin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
