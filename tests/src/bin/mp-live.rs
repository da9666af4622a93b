//! Seeds TSB Management Planes into real clusters and plays, against their
//! real API, what those clusters do not run: the TSB operator and the MP's
//! front door. With `--proxy-kubeconfig-out`, it also puts a counting,
//! latency and fault proxy in front of each cluster and serves their knobs
//! over HTTP (`make bench`). For `make demo`, the bench and manual poking on
//! `make clusters`' pair; runs until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mp_sandbox::front::{FRONT_PORT, reserve_front_listeners};
use mp_sandbox::kubeconfig::{KubeconfigCluster, write_kubeconfig};
use mp_sandbox::live::{LiveNamespace, apply_seed};
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::proxy::{ApiProxy, Upstream, serve_admin};
use mp_sandbox::seed::SeedContext;
use mp_sandbox::{CertVariant, SeedKind};
use serde_json::json;
use std::sync::Arc;

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
    /// A cluster to seed: CONTEXT=SEED[:CERTS] (SEED: tsb-generic or
    /// empty; CERTS: shared-root, own-root, ...; see tests/README.md).
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
    /// Also start a proxy in front of each cluster (see tests/README.md) and
    /// write here a kubeconfig whose contexts, named as --cluster, go
    /// through them; the state JSON then names the proxies' admin URL.
    #[arg(long, value_name = "PATH")]
    proxy_kubeconfig_out: Option<PathBuf>,
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
    let mut running_admin = None;
    let mut state = serde_json::Map::new();
    for ((context, kind, certs), listener) in args.clusters.iter().zip(listeners) {
        if *kind == SeedKind::Empty {
            state.insert(context.clone(), json!({}));
            continue;
        }
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
    let mut state = json!({"namespace": args.namespace, "clusters": state});
    let mut proxies = Vec::new();
    if let Some(path) = &args.proxy_kubeconfig_out {
        for (context, _, _) in &args.clusters {
            let upstream = Upstream::from_kubectl("kubectl".as_ref(), &args.kubeconfig, context)?;
            proxies.push((context.clone(), Arc::new(ApiProxy::start(&upstream).await?)));
        }
        write_proxy_kubeconfig(path, &args.namespace, &proxies)?;
        let (admin, task) = serve_admin(proxies.clone()).await?;
        running_admin = Some(task);
        state["admin"] = json!(admin);
        state["kubeconfig"] = json!(path);
    }
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
    if let Some(task) = running_admin {
        task.abort();
    }
    drop(proxies);
    let _ = std::fs::remove_file(&args.state_file);
    Ok(())
}

/// A kubeconfig (0600) with one context per proxy, named as its cluster,
/// defaulting to `namespace`.
fn write_proxy_kubeconfig(
    path: &std::path::Path,
    namespace: &str,
    proxies: &[(String, Arc<ApiProxy>)],
) -> std::io::Result<()> {
    let urls: Vec<String> = proxies.iter().map(|(_, proxy)| proxy.url()).collect();
    let clusters: Vec<KubeconfigCluster> = proxies
        .iter()
        .zip(&urls)
        .map(|((name, proxy), url)| {
            let (cert, key) = proxy.admin_client();
            KubeconfigCluster {
                name,
                server: url,
                ca_pem: proxy.ca_pem(),
                client_cert_pem: cert,
                client_key_pem: key,
                // Requests without a token go upstream as the admin.
                token: "",
                namespace,
            }
        })
        .collect();
    write_kubeconfig(path, &clusters)
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
