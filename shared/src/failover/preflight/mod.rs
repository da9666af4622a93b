//! Step 1, read-only: everything that can be checked before anything
//! changes. All reads go out at once ([`read`]); then each finding is judged
//! and printed as a check ([`judge`]); any failure stops the failover with
//! nothing changed.

mod checks;
mod database;
mod keys;

use checks::Checks;
pub use checks::Sides;
pub use keys::KeyPolicy;
use keys::{judge_keys, judge_keys_without_the_active, standby_signing_keys};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::cli::DatabaseMode;
use super::describe;
use super::journal;
use crate::cacheck::{self, CheckOptions, MpSnapshot};
use crate::database::{PgEndpoint, PgTools};
use crate::dns::{self, DnsAnswer, DnsRecord, DnsTarget};
use crate::error::{Error, Result};
use crate::kube::cluster::Cluster;
use crate::secrets::bundle::{Bundle, Model, Provenance};
use crate::secrets::redact::data_digest;
use crate::tsb::edge::FoundEdge;
use crate::tsb::layout::TsbLayout;
use crate::tsb::mp::{self, FrontAddress, MpState};
use crate::tsb::signing::SigningKeys;
use crate::ui::check::Check;
use crate::ui::cli::VERSION;

/// What preflight learned, for the steps after it.
pub struct Preflight {
    /// None with --disaster.
    pub from_state: Option<MpState>,
    pub to_state: MpState,
    pub to_snapshot: MpSnapshot,
    pub from_endpoint: Option<PgEndpoint>,
    pub to_endpoint: Option<PgEndpoint>,
    pub tools: Option<PgTools>,
    /// Secrets to copy first (`--sync-secrets`).
    pub sync: Option<Bundle>,
    /// What the MP's DNS name answered, read with the rest.
    pub dns_answer: Option<DnsAnswer>,
    /// Each reachable control plane's edge, by context.
    pub control_plane_edges: BTreeMap<String, FoundEdge>,
}

/// What the preflight reads from a cluster: its MP's Secrets
/// ([`cacheck::read_management_plane`]), its MP's state and its
/// ManagementPlane spec.
pub type ClusterRead = (MpSnapshot, MpState, Option<serde_json::Value>);

/// Everything the preflight reads, before it judges it.
pub struct Reads {
    /// None with --disaster.
    pub from: Result<Option<ClusterRead>>,
    pub to: Result<ClusterRead>,
    /// What the MP's DNS name answers.
    pub dns: Result<Option<DnsAnswer>>,
    /// What `--dns-target` answers, when given.
    pub dns_target: Option<Result<Option<DnsAnswer>>>,
    /// Under `--disaster`, what each control plane's cached tokens name.
    pub control_plane_kids: Vec<ControlPlaneKids>,
    /// Otherwise, each control plane's edge ([`crate::tsb::edge::find_edge`]),
    /// by context.
    pub control_plane_edges: Vec<(String, Result<FoundEdge>)>,
}

/// The key ids a control plane's cached tokens name
/// ([`crate::tsb::edge::cached_token_key_ids`]), or why they could not be read.
pub struct ControlPlaneKids {
    pub context: String,
    pub kids: Result<Vec<crate::tsb::edge::CachedTokenKid>>,
}

/// Reads both clusters and asks the DNS server, all at once.
pub async fn read(sides: &Sides<'_>) -> Reads {
    let settings = sides.settings;
    let dns = &settings.dns;
    let (from, to, answer, target, control_plane_kids, control_plane_edges) = futures::join!(
        async {
            if settings.disaster {
                return Ok(None);
            }
            read_cluster(sides, sides.from, "active").await.map(Some)
        },
        read_cluster(sides, sides.to, "standby"),
        dns::lookup(dns.server, &dns.name),
        async {
            match &dns.target {
                Some(target) => Some(dns::lookup(dns.server, &target.to_string()).await),
                None => None,
            }
        },
        async {
            if !settings.disaster {
                return Vec::new();
            }
            futures::future::join_all(sides.control_planes.iter().map(|cluster| async {
                let kids =
                    crate::tsb::edge::cached_token_key_ids(cluster, &sides.layout.control_plane)
                        .await;
                ControlPlaneKids {
                    context: cluster.context().to_string(),
                    kids,
                }
            }))
            .await
        },
        async {
            if settings.disaster {
                return Vec::new();
            }
            futures::future::join_all(sides.control_planes.iter().map(|cluster| async {
                let edge = crate::tsb::edge::find_edge(cluster, &sides.layout.control_plane).await;
                (cluster.context().to_string(), edge)
            }))
            .await
        },
    );
    Reads {
        from,
        to,
        dns: answer,
        dns_target: target,
        control_plane_kids,
        control_plane_edges,
    }
}

async fn read_cluster(sides: &Sides<'_>, cluster: &Cluster, role: &str) -> Result<ClusterRead> {
    let (management_plane, state) = futures::try_join!(
        cacheck::read_management_plane(cluster, sides.layout, role),
        mp::read_state(cluster, sides.layout),
    )?;
    Ok((management_plane.snapshot, state, management_plane.spec))
}

/// Judges what [`read`] found, printing a check per finding.
/// `held_by_other`: other runs' live leases on the pair's lock, as
/// (context, holder).
/// Every check shown is kept in `shown`, passed or not, for `-o json|yaml`.
///
/// # Errors
/// One failure (exit 1) listing every failed check, "nothing was changed";
/// a cluster that could not be read is its own error (exit 3).
pub async fn judge(
    sides: &Sides<'_>,
    reads: Reads,
    held_by_other: &[(String, String)],
    shown: &mut Vec<Check>,
) -> Result<Preflight> {
    let from_read = reads.from?;
    let (to_snapshot, to_state, to_spec) = reads.to?;
    let mut checks = Checks {
        ui: sides.ui,
        shown,
    };
    judge_lock(sides, &mut checks, held_by_other);
    judge_standby(sides, &mut checks, &to_state);
    judge_dns(
        sides,
        &mut checks,
        (&reads.dns, reads.dns_target.as_ref()),
        to_state.front_address.as_ref(),
    )
    .await;
    let sync = judge_active(
        sides,
        &mut checks,
        from_read.as_ref(),
        (&to_snapshot, to_spec.as_ref()),
    );
    if from_read.is_none() {
        let to_signing = standby_signing_keys(sides.layout, &to_snapshot.secrets, to_spec.as_ref());
        checks.add(judge_keys_without_the_active(
            sides,
            &to_signing,
            &to_snapshot.secrets,
            &reads.control_plane_kids,
        ));
    }
    judge_certificates(sides, &mut checks, from_read.as_ref(), &to_snapshot);
    judge_control_planes(sides, &mut checks, &reads.control_plane_edges);
    let (from_endpoint, to_endpoint, tools) =
        if sides.settings.database.mode == DatabaseMode::Separate {
            let from = from_read
                .as_ref()
                .map(|(snapshot, _, spec)| (snapshot, spec.as_ref()));
            database::judge(sides, &mut checks, from, (&to_snapshot, to_spec.as_ref())).await
        } else {
            (None, None, None)
        };
    let problems = checks.problems();
    if !problems.is_empty() {
        let count = problems.len();
        return Err(Error::failed(format!(
            "preflight failed ({count} problem{}): {}; nothing was changed",
            if count == 1 { "" } else { "s" },
            problems.join("; ")
        ))
        .with_next_step("fix them (hints above), then run the same command again"));
    }
    Ok(Preflight {
        from_state: from_read.map(|(_, state, _)| state),
        to_state,
        to_snapshot,
        from_endpoint,
        to_endpoint,
        tools,
        sync,
        dns_answer: reads.dns.ok().flatten(),
        control_plane_edges: reads
            .control_plane_edges
            .into_iter()
            .filter_map(|(context, found)| Some((context, found.ok()?)))
            .collect(),
    })
}

/// No other run holds the pair's lock, in either cluster; with
/// `--force-unlock` a holder is named and taken over, with a warning.
fn judge_lock(sides: &Sides<'_>, checks: &mut Checks<'_>, held_by_other: &[(String, String)]) {
    if held_by_other.is_empty() {
        return checks.add(Check::pass("no other failover holds the pair's lock"));
    }
    for (context, holder) in held_by_other {
        checks.add(if sides.settings.force_unlock {
            Check::warn(format!(
                "the lock in context {context:?} is taken from its holder (--force-unlock)"
            ))
            .hint(format!(
                "held by {holder}: if that run still works, two failovers now run at once"
            ))
        } else {
            Check::fail(format!(
                "no other failover holds the pair's lock (context {context:?})"
            ))
            .hint(format!(
                "held by {holder}; wait for it to finish (a lease lapses {}s after its last renewal), or pass --force-unlock if that run died",
                super::lock::LEASE_SECONDS
            ))
        });
    }
}

fn judge_standby(sides: &Sides<'_>, checks: &mut Checks<'_>, to_state: &MpState) {
    for check in standby_checks(sides.layout, sides.to, to_state) {
        checks.add(check);
    }
}

/// The standby MP is installed (every layout deployment exists) and its
/// front Service has an address: what activating it needs. The failover's
/// preflight and the readiness check (`mp-cacheck --readiness`) judge it so.
pub fn standby_checks(layout: &TsbLayout, standby: &Cluster, state: &MpState) -> [Check; 2] {
    let missing = state.missing(layout);
    let front = &layout.front_service.name;
    [
        Check::required(
            missing.is_empty(),
            format!(
                "standby MP installed in context {:?} (namespace {})",
                standby.context(),
                standby.namespace()
            ),
            format!(
                "missing deployments: {}; install the standby MP first (runbook: helm install with the exported values)",
                missing.join(", ")
            ),
        ),
        Check::required(
            state.front_address.is_some(),
            format!("standby front Service {front} has an address"),
            format!("service {front} has no LoadBalancer ingress address yet"),
        ),
    ]
}

/// The MP's DNS name can be changed to lead to the standby's front door:
/// the server answers for it, the change will be accepted (for RFC 2136 a
/// signed no-op update of the same types, see [`dns::preflight`]), an alias
/// is not silently turned into an address record, and `--dns-target` itself
/// leads to the front door.
/// ✔ every control plane reachable with its edge, or ‼ each that is not:
/// the MP's failover does not depend on them, but each will not follow
/// (its step reports it, exit 5).
fn judge_control_planes(
    sides: &Sides<'_>,
    checks: &mut Checks<'_>,
    edges: &[(String, Result<FoundEdge>)],
) {
    if edges.is_empty() {
        return;
    }
    let layout = &sides.layout.control_plane;
    let edge = crate::tsb::edge::edge_name(layout);
    let mut reached = 0;
    for (context, found) in edges {
        match found {
            Ok(_) => reached += 1,
            Err(error) => checks.add(
                Check::warn(format!(
                    "control plane {context:?} cannot follow the MP: {}",
                    error.message()
                ))
                .hint(format!(
                    "the failover goes on without it and its control-planes step reports it (exit 5): fix access to {context:?} (kubectl --context {context} -n {} get deployment {}), or leave it out",
                    layout.namespace, layout.edge_deployment
                )),
            ),
        }
    }
    if reached > 0 {
        let ready: Vec<String> = edges
            .iter()
            .filter_map(|(context, found)| {
                Some(format!("{context} {}", found.as_ref().ok()?.replicas))
            })
            .collect();
        let shown = if ready.len() <= 5 {
            format!(": {}", ready.join(", "))
        } else {
            String::new()
        };
        checks.add(Check::pass(format!(
            "{reached} of {} control plane{} reached, each with its {edge}{shown}",
            edges.len(),
            if edges.len() == 1 { "" } else { "s" }
        )));
    }
}

async fn judge_dns(
    sides: &Sides<'_>,
    checks: &mut Checks<'_>,
    (answer, target_answer): (
        &Result<Option<DnsAnswer>>,
        Option<&Result<Option<DnsAnswer>>>,
    ),
    front: Option<&FrontAddress>,
) {
    let dns = &sides.settings.dns;
    let not_ready = || Check::fail(format!("DNS server {} ready for the change", dns.server));
    let current = match answer {
        Ok(answer) => answer.as_ref(),
        Err(error) => return checks.add(not_ready().hint(error.to_string())),
    };
    let answers = Check::pass(format!(
        "DNS server {} answers for {} (now {})",
        dns.server,
        dns.name,
        describe::dns_answer(current)
    ));
    // Without a front address the standby check has failed already, and
    // there is nothing to point the name at.
    let Some(front) = front else {
        return checks.add(answers);
    };
    let target = dns.target_for(front);
    if let (Some(current), DnsTarget::Address(_)) = (current, &target)
        && current.is_alias()
    {
        return checks.add(
            Check::fail(format!("{} can be repointed to {front}", dns.name)).hint(format!(
                "{} is an alias ({current}): pass --dns-target with the standby MP's own DNS name, one that answers {front}, or replace the alias with an address record first",
                dns.name
            )),
        );
    }
    let record = DnsRecord {
        name: dns.name.clone(),
        target,
        ttl: dns.ttl,
    };
    checks.add(
        match dns::preflight(&dns.backend, &record, current, sides.settings.yes).await {
            Ok(()) => answers,
            Err(error) => not_ready().hint(error.to_string()),
        },
    );
    if let (Some(alias), Some(answer)) = (&dns.target, target_answer) {
        checks.add(judge_dns_target(dns.server, alias, answer, front));
    }
}

/// `--dns-target` answers the standby's front address (or is an alias of
/// its hostname): the floating name will lead clients there. A server that
/// cannot say (the name is outside its zones) only warns.
fn judge_dns_target(
    server: std::net::SocketAddr,
    alias: &DnsTarget,
    answer: &Result<Option<DnsAnswer>>,
    front: &FrontAddress,
) -> Check {
    let title = format!("{alias} leads to the standby's front door ({front})");
    match answer {
        Err(error) => Check::warn(format!("{title}: not confirmed")).hint(format!(
            "{}; check {alias} answers {front} yourself",
            error.message()
        )),
        Ok(None) => Check::fail(title).hint(format!(
            "DNS server {server} has no record for {alias}: create it (pointing at {front}) first"
        )),
        Ok(Some(answer)) if answer.targets.contains(&front.dns_target()) => Check::pass(title),
        Ok(Some(answer)) => Check::fail(title).hint(format!(
            "{alias} answers {answer}: point it at {front} first, or pass the standby's own name with --dns-target"
        )),
    }
}

/// The active's secrets against the standby's (the token keys apart, see
/// [`keys`]), and the active MP itself; returns what `--sync-secrets`
/// copies first.
fn judge_active(
    sides: &Sides<'_>,
    checks: &mut Checks<'_>,
    from_read: Option<&ClusterRead>,
    (to_snapshot, to_spec): (&MpSnapshot, Option<&serde_json::Value>),
) -> Option<Bundle> {
    let Some((from_snapshot, from_state, from_spec)) = from_read else {
        checks.add(Check::warn(format!(
            "active context {:?} skipped (--disaster): secrets and CA not compared with it",
            sides.from.context()
        )));
        return None;
    };
    let judged = judge_secrets(
        sides.layout,
        sides.from.context(),
        (&from_snapshot.secrets, &to_snapshot.secrets),
        (from_spec.as_ref(), to_spec),
        &own_secrets(sides.settings.database.mode),
        &KeyPolicy {
            standby_namespace: sides.to.namespace(),
            sync: sides.settings.sync_secrets,
            force_key_mismatch: sides.settings.force_key_mismatch,
            failover_flags: true,
        },
    );
    for check in judged.checks {
        checks.add(check);
    }
    let sync = judged.to_sync.map(|(model, chosen)| {
        let provenance = Provenance {
            context: sides.from.context().into(),
            server: sides.from.server().into(),
            namespace: sides.to.namespace().into(),
            model,
            exported_at: journal::now(),
            tool: format!("kubectl-mp-failover {VERSION} (--sync-secrets)"),
        };
        let mut bundle = Bundle::new(provenance, chosen);
        bundle.remap_namespace(sides.to.namespace());
        bundle
    });
    let missing_active = from_state.missing(sides.layout);
    checks.add(Check::required(
        missing_active.is_empty() || sides.settings.resume,
        format!("active MP found in context {:?}", sides.from.context()),
        format!("missing deployments: {}", missing_active.join(", ")),
    ));
    sync
}

/// The secrets each MP keeps its own, never compared nor copied: with a
/// database each, its database credentials.
pub fn own_secrets(mode: DatabaseMode) -> Vec<String> {
    match mode {
        DatabaseMode::Separate => vec![crate::database::CREDENTIALS_SECRET.to_string()],
        DatabaseMode::Shared => Vec::new(),
    }
}

/// What [`judge_secrets`] found: its checks, and with `sync` the secrets
/// that make the standby's match (every one compared) and their model.
pub struct SecretsJudged {
    pub checks: Vec<Check>,
    pub to_sync: Option<(Model, Vec<Secret>)>,
}

/// The secrets the active's install model carries ([`crate::export::select_secrets`],
/// minus `own`) against the standby's, by data digest: a check for the
/// active's release, for required ones the active lacks, one for each
/// token key ([`keys`]: the signing keys' Secret the active's spec names,
/// `tsb-iam-jwks`), and one for the others matching (a warning with
/// `policy.sync`, which copies them first). `(from, to)` are the two
/// namespaces' Secrets as listed, `specs` their ManagementPlane specs;
/// `from_context` names the active in messages. The failover's preflight
/// and the readiness check judge the secrets so.
pub fn judge_secrets(
    layout: &TsbLayout,
    from_context: &str,
    (from, to): (&[Secret], &[Secret]),
    (from_spec, to_spec): (Option<&serde_json::Value>, Option<&serde_json::Value>),
    own: &[String],
    policy: &KeyPolicy<'_>,
) -> SecretsJudged {
    let sync = policy.sync;
    let mut checks = Vec::new();
    let release_check = || {
        Check::fail(format!(
            "the active MP's helm release in context {from_context:?}"
        ))
    };
    let (model, release) = match crate::tsb::helm::mp_release(from, layout, None) {
        Ok(Some(release)) => (Model::Helm, release),
        Ok(None) => (Model::Generic, String::new()),
        Err(problem) => {
            // Which secrets must match depends on the release: not guessed.
            checks.push(release_check().hint(format!(
                "{problem}: name the MP's with helmRelease in a --layout file"
            )));
            return SecretsJudged {
                checks,
                to_sync: None,
            };
        }
    };
    let mut to_sync = None;
    match compare_secrets(layout, model, &release, (from, to), from_spec, own) {
        Err(problem) => checks.push(release_check().hint(format!(
            "{problem}: its values say which secrets the standby needs; wait for helm to finish (helm status {release})"
        ))),
        Ok(compared) => {
            if !compared.missing.is_empty() {
                checks.push(
                    Check::fail(format!(
                        "the active holds the secrets its {model} model requires (missing: {})",
                        compared.missing.join(", ")
                    ))
                    .hint("nothing to compare the standby's with: recreate them on the active (for helm, the release's values render them), then run again"),
                );
            }
            // The token keys have a check of their own: one line each.
            let key_secrets = [compared.signing.secret.as_str(), layout.jwks_secret.as_str()];
            let to_signing = standby_signing_keys(layout, to, to_spec);
            let keys_copied = judge_keys(
                layout,
                policy,
                &mut checks,
                &compared.signing,
                (from, to),
                &to_signing,
            );
            let differing: Vec<String> = compared
                .differing
                .iter()
                .filter(|name| !key_secrets.contains(&name.as_str()))
                .cloned()
                .collect();
            let names: Vec<&str> = compared
                .chosen
                .iter()
                .filter_map(|secret| secret.metadata.name.as_deref())
                .filter(|name| !key_secrets.contains(name))
                .collect();
            if keys_copied || (!differing.is_empty() && sync) {
                to_sync = Some((model, compared.chosen.clone()));
            }
            if differing.is_empty() {
                checks.push(Check::pass(format!(
                    "standby secrets match the active's ({} compared besides the token keys, {model} model: {})",
                    names.len(),
                    names.join(", ")
                )));
            } else if sync {
                checks.push(Check::warn(format!(
                    "standby secrets differ ({}): copied before the failover (--sync-secrets)",
                    differing.join(", ")
                )));
            } else {
                checks.push(
                    Check::fail(format!(
                        "standby secrets match the active's (differ: {})",
                        differing.join(", ")
                    ))
                    .hint(format!(
                        "run kubectl mp-export | kubectl mp-import{}",
                        policy.sync_offer()
                    )),
                );
            }
        }
    }
    SecretsJudged { checks, to_sync }
}

fn judge_certificates(
    sides: &Sides<'_>,
    checks: &mut Checks<'_>,
    from_read: Option<&ClusterRead>,
    to_snapshot: &MpSnapshot,
) {
    let snapshots: Vec<MpSnapshot> = from_read
        .map(|(snapshot, _, _)| snapshot.clone())
        .into_iter()
        .chain(std::iter::once(to_snapshot.clone()))
        .collect();
    let settings = sides.settings;
    for check in certificate_checks(
        sides.layout,
        &snapshots,
        Some(settings.dns.name.clone()),
        settings.allow_cert_manager_root,
    ) {
        checks.add(check);
    }
}

/// mp-cacheck's checks over `snapshots` (the active's, when read, and the
/// standby's), summed up in one line: every certificate chains to the same
/// root CA (and covers `dns_name`, when given). With
/// `allow_cert_manager_root`, each cert-manager self-signed root is a
/// warning first instead of a failure. The failover's preflight and the
/// readiness check judge the certificates so.
pub fn certificate_checks(
    layout: &TsbLayout,
    snapshots: &[MpSnapshot],
    dns_name: Option<String>,
    allow_cert_manager_root: bool,
) -> Vec<Check> {
    let options = CheckOptions {
        dns_name,
        ..CheckOptions::default()
    };
    let report = cacheck::check(layout, &options, snapshots);
    let allowed = |problem: &&cacheck::CheckResult| {
        allow_cert_manager_root && problem.id == cacheck::id::SELF_SIGNED_ISSUER
    };
    let mut checks: Vec<Check> = report
        .problems()
        .filter(|problem| problem.check.failed())
        .filter(allowed)
        .map(|problem| {
            Check::warn(format!(
                "{} (allowed by --allow-cert-manager-root)",
                problem.check.title
            ))
            .hint("the risk: cert-manager may generate that root anew (its Secret deleted, its Certificate renewed), and then clients that trust the old one reject both MPs; provide the root yourself (a CA Issuer over your own Secret) when you can")
        })
        .collect();
    let failing: Vec<&str> = report
        .problems()
        .filter(|problem| problem.check.failed() && !allowed(problem))
        .map(|problem| problem.check.title.as_str())
        .collect();
    checks.push(Check::required(
        failing.is_empty(),
        "certificates chain to the same root CA (mp-cacheck)",
        format!(
            "{}; run kubectl mp-cacheck for the details",
            failing.join("; ")
        ),
    ));
    checks
}

/// What [`compare_secrets`] found.
struct Compared {
    /// The model's secrets whose data differ (or that the standby lacks).
    differing: Vec<String>,
    /// Required by the model, absent on the active, described with the
    /// value that renders them (helm) or the spec field naming them; and
    /// the signing keys the active's spec names but its Secret lacks.
    missing: Vec<String>,
    /// The Secret the active's IAM signs tokens with, as its spec names it.
    signing: SigningKeys,
    /// Every secret compared, as the active holds it (cleaned for a copy).
    chosen: Vec<Secret>,
}

/// `model`'s secrets (as [`crate::export::select_secrets`] decides them for
/// an export: the signing keys' Secret the active's spec names (`from_spec`),
/// `tsb-iam-jwks`, and for helm what the active `release`'s values
/// rendered), minus `own`, whose data differ between the clusters.
///
/// # Errors
/// Helm model: the active's release values cannot be read.
fn compare_secrets(
    layout: &TsbLayout,
    model: Model,
    release: &str,
    (from, to): (&[Secret], &[Secret]),
    from_spec: Option<&serde_json::Value>,
    own: &[String],
) -> std::result::Result<Compared, String> {
    let selection =
        crate::export::select_secrets(from, layout, model, release, from_spec, &[], own)?;
    let differing = selection
        .chosen
        .iter()
        .filter(|wanted| {
            let name = wanted.metadata.name.as_deref();
            to.iter()
                .find(|secret| secret.metadata.name.as_deref() == name)
                .map(data_digest)
                != Some(data_digest(wanted))
        })
        .filter_map(|secret| secret.metadata.name.clone())
        .collect();
    let missing = selection
        .missing
        .iter()
        .map(|name| selection.describe(std::slice::from_ref(name)))
        .chain(selection.missing_keys.iter().cloned())
        .collect();
    Ok(Compared {
        differing,
        missing,
        signing: selection.signing,
        chosen: selection.chosen,
    })
}
