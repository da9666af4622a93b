//! Seeds TSB Management Planes into real clusters and plays, against their
//! real API, what those clusters do not run: the TSB operator and the MP's
//! front door. For `make demo` and manual poking on `make clusters`' pair;
//! runs until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mp_sandbox::front::{FRONT_PORT, reserve_front_listeners};
use mp_sandbox::live::{LiveNamespace, apply_seed};
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::seed::SeedContext;
use mp_sandbox::{CertVariant, SeedKind};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "mp-live",
    version,
    about = "Seeds TSB Management Planes into real clusters and runs their operator and front door"
)]
struct Args {
    /// The kubeconfig holding every context named by --cluster.
    #[arg(long, value_name = "PATH")]
    kubeconfig: PathBuf,
    /// A cluster to seed: CONTEXT=SEED[:CERTS], as mp-sandbox's --cluster
    /// (SEED: tsb-generic or empty; CERTS: shared-root, own-root, ...).
    #[arg(long = "cluster", value_name = "CONTEXT=SEED[:CERTS]", required = true, value_parser = parse_cluster)]
    clusters: Vec<(String, SeedKind, CertVariant)>,
    /// The Management Plane namespace.
    #[arg(short = 'n', long, default_value = "tsb")]
    namespace: String,
    /// The MP's floating DNS name, in the seeded certificates' SANs.
    #[arg(long, default_value = "tsb.example.com")]
    dns_name: String,
    /// Where to write the state JSON (front addresses), once everything runs.
    #[arg(long, value_name = "PATH")]
    state_file: PathBuf,
    /// Where the applied manifests are kept.
    #[arg(long, value_name = "DIR")]
    work_dir: PathBuf,
}

fn parse_cluster(text: &str) -> Result<(String, SeedKind, CertVariant), String> {
    let cluster = mp_sandbox::seed::parse_cluster_spec(text)?;
    if cluster.1 == SeedKind::TsbHelm {
        return Err(
            "tsb-helm: install the chart with helm (tests/kube/charts/managementplane) instead"
                .into(),
        );
    }
    Ok(cluster)
}

async fn run(args: Args) -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&args.work_dir)?;
    let root = CertAuthority::new_root("mp-live shared root CA");
    let listeners = reserve_front_listeners(args.clusters.len()).await?;
    let mut running = Vec::new();
    let mut state = serde_json::Map::new();
    for ((context, kind, certs), listener) in args.clusters.iter().zip(listeners) {
        let front_address = listener.local_addr()?.ip();
        apply_seed(
            "kubectl".as_ref(),
            &args.kubeconfig,
            context,
            &SeedContext {
                cluster_name: context,
                namespace: &args.namespace,
                kind: *kind,
                certs: *certs,
                shared_root: &root,
                floating_dns_name: &args.dns_name,
                front_address,
            },
            &args.work_dir,
        )?;
        let live = LiveNamespace::connect(&args.kubeconfig, context, &args.namespace).await?;
        running.push((live.run_operator(), live.run_front(listener)?));
        state.insert(
            context.clone(),
            json!({"front_address": front_address, "front_port": FRONT_PORT}),
        );
    }
    let state = json!({"namespace": args.namespace, "clusters": state});
    let temporary = args.state_file.with_extension("tmp");
    std::fs::write(&temporary, format!("{state:#}\n"))?;
    std::fs::rename(&temporary, &args.state_file)?;
    println!("{state:#}");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(running);
    let _ = std::fs::remove_file(&args.state_file);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mp-live: {error}");
            ExitCode::FAILURE
        }
    }
}
