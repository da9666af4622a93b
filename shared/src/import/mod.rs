//! `kubectl mp-import`: runbook step 2. Checks a bundle, plans what it would
//! change on the standby, asks, backs up what it replaces, applies
//! concurrently, then reads back and verifies every secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use serde::Serialize;

use crate::error::{EXIT_CODES_HELP, Error, Exit, Result};
use crate::kube::cluster::Cluster;
use crate::kube::named::get_named;
use crate::secrets::bundle::{Bundle, Provenance};
use crate::secrets::files::write_private;
use crate::secrets::redact::{data_digest, describe_value, secret_values};
use crate::ui::cli::{ConnectionArgs, OutputArgs, PluginCli, VERSION};
use crate::ui::output::Ui;

const FIELD_MANAGER: &str = "kubectl-mp-import";

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: import into the standby Management Plane's namespace
  kubectl mp-import --context standby -n tsb -f active-mp.bundle.yaml

  # What to import: see the plan and a redacted diff, try it with the server's dry run
  kubectl mp-import --context standby -f b.yaml --diff --dry-run
  # ... into another namespace than the bundle's
  kubectl mp-import --context standby -f b.yaml --namespace-remap tsb=tsb-dr
  # ... an encrypted bundle
  kubectl mp-import --context standby -f b.age --identity ~/.config/age/key.txt

  # Output: scripts confirm with --yes and read the result as JSON on stdout
  kubectl mp-export --context active -f - | kubectl mp-import --context standby -f - --yes -o json";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-import",
    bin_name = "kubectl mp-import",
    version = VERSION,
    about = "Import an export bundle into the standby TSB Management Plane (runbook step 2)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the STANDBY Management Plane cluster (default: the current context)
    #[arg(long, help_heading = "Cluster connection")]
    pub context: Option<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Bundle written by kubectl mp-export, or - for stdin
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE",
        help_heading = "What to import"
    )]
    pub file: String,

    /// age identity file to open an encrypted bundle
    #[arg(long, value_name = "FILE", help_heading = "What to import")]
    pub identity: Option<PathBuf>,

    /// Import a bundle of namespace FROM into namespace TO
    #[arg(long, value_name = "FROM=TO", value_parser = parse_remap, help_heading = "What to import")]
    pub namespace_remap: Option<(String, String)>,

    /// Only ask the server to validate the changes (its dry run); change nothing
    #[arg(long, help_heading = "What to import")]
    pub dry_run: bool,

    /// Show which keys change, with sizes and sha256 prefixes (never values)
    #[arg(long, help_heading = "What to import")]
    pub diff: bool,

    /// Go ahead without asking (needed when there is no terminal)
    #[arg(short = 'y', long, help_heading = "What to import")]
    pub yes: bool,

    /// Where the backup of replaced secrets is written
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".",
        help_heading = "What to import"
    )]
    pub backup_dir: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl PluginCli for Cli {
    fn output_args(&self) -> &OutputArgs {
        &self.output
    }
}

fn parse_remap(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!("{text:?} is not FROM=TO (e.g. tsb=tsb-dr)")),
    }
}

/// What the import does to one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One secret's plan, as shown and as `-o json` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretPlan {
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_changed: Vec<String>,
    /// Labels or annotations the bundle adds or changes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub metadata_changed: bool,
    #[serde(skip)]
    diff: Vec<String>,
}

/// The import's report (`-o json|yaml`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub context: String,
    pub namespace: String,
    pub bundle_source: Provenance,
    pub namespace_created: bool,
    pub dry_run: bool,
    pub secrets: Vec<SecretPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    pub verified: bool,
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    // Everything about the bundle is checked before any cluster is contacted.
    let mut bundle = Bundle::read_with_identity(&cli.file, cli.identity.as_deref())?;
    let mut connection = cli.connection.clone();
    match &cli.namespace_remap {
        Some((from, to)) => {
            if bundle.provenance.namespace != *from {
                return Err(Error::usage(format!(
                    "bundle {} holds namespace {:?}, not {from:?}",
                    cli.file, bundle.provenance.namespace
                ))
                .with_next_step(format!(
                    "use --namespace-remap {}={to}",
                    bundle.provenance.namespace
                )));
            }
            bundle.remap_namespace(to);
            connection.namespace = to.clone();
        }
        None if bundle.provenance.namespace != connection.namespace => {
            return Err(Error::usage(format!(
                "bundle {} holds namespace {:?}, the target is {:?}",
                cli.file, bundle.provenance.namespace, connection.namespace
            ))
            .with_next_step(format!(
                "pass -n {0}, or --namespace-remap {0}={1} to import it elsewhere",
                bundle.provenance.namespace, connection.namespace
            )));
        }
        None => {}
    }

    let kubeconfig = connection.load_kubeconfig()?;
    let cluster = Cluster::connect(
        &kubeconfig,
        cli.context.as_deref(),
        &connection.client_settings(),
    )
    .await?;
    let options = ImportOptions {
        dry_run: cli.dry_run,
        diff: cli.diff,
        yes: cli.yes,
        backup_dir: cli.backup_dir.clone(),
    };
    // The report as it stands goes into `-o json|yaml`'s document at each
    // stage, so a failed import still shows its plan and its backup.
    import_reporting(&cluster, &bundle, &options, &ui, |report| ui.record(report)).await?;
    Ok(Exit::Ok)
}

/// How an import behaves.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub diff: bool,
    /// Confirmed already (`--yes`, or a caller that asked).
    pub yes: bool,
    pub backup_dir: PathBuf,
}

/// Imports a checked bundle into `cluster`'s namespace: plan, confirm, back
/// up, apply, verify. Shared by `mp-import` and `mp-failover --sync-secrets`.
pub async fn import_into(
    cluster: &Cluster,
    bundle: &Bundle,
    options: &ImportOptions,
    ui: &Ui,
) -> Result<Report> {
    import_reporting(cluster, bundle, options, ui, |_| {}).await
}

/// [`import_into`], handing the report to `progress` as it grows: once
/// planned, once backed up, once the namespace is created, at the end.
async fn import_reporting(
    cluster: &Cluster,
    bundle: &Bundle,
    options: &ImportOptions,
    ui: &Ui,
    progress: impl Fn(&Report),
) -> Result<Report> {
    let (namespace_exists, current) = read_state(cluster, bundle).await?;
    let plans = plan(bundle, &current)?;

    let mut report = Report {
        context: cluster.context().to_string(),
        namespace: cluster.namespace().to_string(),
        bundle_source: bundle.provenance.clone(),
        namespace_created: false,
        dry_run: options.dry_run,
        secrets: plans,
        backup: None,
        verified: false,
    };
    show_plan(ui, &report, namespace_exists, options.diff);
    progress(&report);
    let changes = report
        .secrets
        .iter()
        .filter(|plan| plan.action != Action::Unchanged)
        .count();
    if changes == 0 && namespace_exists {
        ui.info(&format!(
            "nothing to change: all {} secrets already match",
            report.secrets.len()
        ));
        report.verified = true;
        progress(&report);
        return Ok(report);
    }
    if !options.dry_run {
        report.backup = confirm_and_back_up(cluster, bundle, options, &report, &current, ui)?;
        progress(&report);
    }
    if !namespace_exists {
        create_namespace(cluster, options.dry_run).await?;
        report.namespace_created = !options.dry_run;
        progress(&report);
        let done = if options.dry_run {
            "would create"
        } else {
            "created"
        };
        ui.info(&format!("{done} namespace {}", cluster.namespace()));
        if options.dry_run {
            // The server cannot dry-run creates into a namespace that does not exist yet.
            ui.info("dry run: every secret would be created; nothing was changed");
            return Ok(report);
        }
    }
    let stored = apply(
        cluster,
        bundle,
        &report.secrets,
        &current,
        options.dry_run,
        report.backup.as_deref(),
        ui,
    )
    .await?;
    if options.dry_run {
        ui.info(&format!(
            "dry run: the server accepted all {changes} changes; nothing was changed"
        ));
        return Ok(report);
    }
    verify(bundle, &report.secrets, &stored, report.backup.as_deref())?;
    report.verified = true;
    progress(&report);
    ui.info(&format!(
        "imported: {changes} secret{} changed, all {} verified by data digest",
        if changes == 1 { "" } else { "s" },
        report.secrets.len()
    ));
    Ok(report)
}

/// Asks to change the secrets `report` plans to change (unless `--yes`),
/// then writes the backup of those it replaces; returns the backup's path.
fn confirm_and_back_up(
    cluster: &Cluster,
    bundle: &Bundle,
    options: &ImportOptions,
    report: &Report,
    current: &BTreeMap<String, Secret>,
    ui: &Ui,
) -> Result<Option<String>> {
    let changes = report
        .secrets
        .iter()
        .filter(|plan| plan.action != Action::Unchanged)
        .count();
    let action = format!(
        "change {changes} secret{} in namespace {} of context {:?}",
        if changes == 1 { "" } else { "s" },
        cluster.namespace(),
        cluster.context()
    );
    let yes_does = format!(
        "back up the secrets it replaces into {}, then write the bundle's; anything else stops here with nothing changed",
        options.backup_dir.display()
    );
    if !crate::ui::prompt::confirm(ui, &action, &yes_does, options.yes)? {
        return Err(Error::failed("not confirmed: nothing was changed"));
    }
    backup_replaced(
        &options.backup_dir,
        cluster,
        bundle,
        &report.secrets,
        current,
        ui,
    )
}

/// Whether the namespace exists, and the bundle's secrets as the cluster
/// holds them, by name: all read at once, by name ([`get_named`]), so the
/// cost follows the bundle, not the namespace, and a Role granting `get`
/// on those names is enough.
async fn read_state(
    cluster: &Cluster,
    bundle: &Bundle,
) -> Result<(bool, BTreeMap<String, Secret>)> {
    let namespace = cluster.namespace();
    let namespaces: Api<Namespace> = Api::all(cluster.client().clone());
    let names: Vec<String> = bundle
        .secrets
        .iter()
        .filter_map(|secret| secret.metadata.name.clone())
        .collect();
    let (found, current) = futures::join!(
        namespaces.get_opt(namespace),
        get_named::<Secret>(cluster, &names)
    );
    let found =
        found.map_err(|error| cluster.error(error, &format!("get namespace {namespace}")))?;
    let current = current?
        .present
        .into_iter()
        .filter_map(|secret| Some((secret.metadata.name.clone()?, secret)))
        .collect();
    Ok((found.is_some(), current))
}

/// Compares each bundled secret with the cluster's. Refuses, before any
/// change, what Kubernetes would refuse midway (type changes, immutable data).
fn plan(bundle: &Bundle, current: &BTreeMap<String, Secret>) -> Result<Vec<SecretPlan>> {
    bundle
        .secrets
        .iter()
        .map(|wanted| {
            let name = wanted.metadata.name.clone().unwrap_or_default();
            let Some(existing) = current.get(&name) else {
                let keys_added: Vec<String> = secret_values(wanted).into_keys().collect();
                let diff = keys_added.iter().map(|key| format!("+ {key}")).collect();
                return Ok(SecretPlan { name, action: Action::Create, keys_added, keys_removed: vec![], keys_changed: vec![], metadata_changed: false, diff });
            };
            let (old, new) = (secret_values(existing), secret_values(wanted));
            let mut plan = SecretPlan {
                name: name.clone(),
                action: Action::Unchanged,
                keys_added: vec![],
                keys_removed: vec![],
                keys_changed: vec![],
                metadata_changed: !is_subset(&wanted.metadata.labels, &existing.metadata.labels)
                    || !is_subset(&wanted.metadata.annotations, &existing.metadata.annotations),
                diff: vec![],
            };
            for (key, value) in &new {
                match old.get(key) {
                    None => {
                        plan.keys_added.push(key.clone());
                        plan.diff.push(format!("+ {key} {}", describe_value(value)));
                    }
                    Some(previous) if previous != value => {
                        plan.keys_changed.push(key.clone());
                        plan.diff.push(format!(
                            "~ {key} {} -> {}",
                            describe_value(previous),
                            describe_value(value)
                        ));
                    }
                    Some(_) => {}
                }
            }
            for (key, previous) in &old {
                if !new.contains_key(key) {
                    plan.keys_removed.push(key.clone());
                    plan.diff.push(format!("- {key} {}", describe_value(previous)));
                }
            }
            let data_changes = !(plan.keys_added.is_empty() && plan.keys_removed.is_empty() && plan.keys_changed.is_empty());
            let wanted_type = wanted.type_.as_deref().unwrap_or("Opaque");
            let existing_type = existing.type_.as_deref().unwrap_or("Opaque");
            if wanted_type != existing_type {
                return Err(Error::failed(format!(
                    "secret {name:?} is of type {existing_type} on the cluster and {wanted_type} in the bundle; Kubernetes cannot change a Secret's type; nothing was changed"
                ))
                .with_next_step(format!("delete it first if the bundle is right (kubectl delete secret {name}), then import again")));
            }
            if data_changes && existing.immutable == Some(true) {
                return Err(Error::failed(format!("secret {name:?} is immutable on the cluster and its data differs; nothing was changed"))
                    .with_next_step(format!("delete it first if the bundle is right (kubectl delete secret {name}), then import again")));
            }
            if data_changes || plan.metadata_changed {
                plan.action = Action::Update;
            }
            Ok(plan)
        })
        .collect()
}

fn is_subset(
    wanted: &Option<BTreeMap<String, String>>,
    existing: &Option<BTreeMap<String, String>>,
) -> bool {
    wanted
        .iter()
        .flatten()
        .all(|(key, value)| existing.as_ref().and_then(|map| map.get(key)) == Some(value))
}

fn show_plan(ui: &Ui, report: &Report, namespace_exists: bool, diff: bool) {
    let source = &report.bundle_source;
    ui.info(&format!(
        "plan for context {:?}, namespace {}{} (bundle from context {:?}, {} model, exported {}):",
        report.context,
        report.namespace,
        if namespace_exists {
            ""
        } else {
            " (to be created)"
        },
        source.context,
        source.model,
        source.exported_at
    ));
    for plan in &report.secrets {
        let detail = match plan.action {
            Action::Create => format!("create ({} keys)", plan.keys_added.len()),
            Action::Unchanged => "unchanged".to_string(),
            Action::Update => {
                let mut parts = Vec::new();
                for (label, keys) in [
                    ("changed", &plan.keys_changed),
                    ("added", &plan.keys_added),
                    ("removed", &plan.keys_removed),
                ] {
                    if !keys.is_empty() {
                        parts.push(format!("{label}: {}", keys.join(", ")));
                    }
                }
                if plan.metadata_changed {
                    parts.push("labels/annotations".into());
                }
                format!("update ({})", parts.join("; "))
            }
        };
        ui.info(&format!("  {:<28} {detail}", plan.name));
        if diff {
            for line in &plan.diff {
                ui.info(&format!("      {line}"));
            }
        }
    }
}

/// Saves the cluster's current version of every secret the import replaces,
/// as a bundle `mp-import` can restore from.
fn backup_replaced(
    backup_dir: &std::path::Path,
    cluster: &Cluster,
    bundle: &Bundle,
    plans: &[SecretPlan],
    current: &BTreeMap<String, Secret>,
    ui: &Ui,
) -> Result<Option<String>> {
    let replaced: Vec<Secret> = plans
        .iter()
        .filter(|plan| plan.action == Action::Update)
        .filter_map(|plan| current.get(&plan.name))
        .map(crate::export::clean_secret)
        .collect();
    if replaced.is_empty() {
        return Ok(None);
    }
    let now = jiff::Timestamp::now();
    let provenance = Provenance {
        context: cluster.context().to_string(),
        server: cluster.server().to_string(),
        namespace: cluster.namespace().to_string(),
        model: bundle.provenance.model,
        exported_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        tool: format!("kubectl-mp-import {VERSION} (backup before import)"),
    };
    let count = replaced.len();
    let text = Bundle::new(provenance, replaced).render()?;
    let path = backup_dir.join(format!(
        "mp-import-backup-{}-{}-{}.yaml",
        file_safe(cluster.context()),
        cluster.namespace(),
        now.strftime("%Y%m%dT%H%M%S%.3fZ")
    ));
    write_private(&path, text.as_bytes(), false)?;
    let path = path.display().to_string();
    ui.info(&format!(
        "backup of the {count} secret{} it replaces: {path} (restore: kubectl mp-import --context {} -n {} -f {path} --yes)",
        if count == 1 { "" } else { "s" },
        cluster.context(),
        cluster.namespace()
    ));
    Ok(Some(path))
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn create_namespace(cluster: &Cluster, dry_run: bool) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(cluster.client().clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(cluster.namespace().to_string());
    match namespaces.create(&post_params(dry_run), &namespace).await {
        Ok(_) => Ok(()),
        // Created meanwhile by someone else: what we wanted.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => {
            Err(cluster.error(error, &format!("create namespace {}", cluster.namespace())))
        }
    }
}

fn post_params(dry_run: bool) -> PostParams {
    PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    }
}

/// Writes every planned change at once and returns what the server stored,
/// by name. A failure midway leaves the cluster in a state the same import
/// converges from.
async fn apply(
    cluster: &Cluster,
    bundle: &Bundle,
    plans: &[SecretPlan],
    current: &BTreeMap<String, Secret>,
    dry_run: bool,
    backup: Option<&str>,
    ui: &Ui,
) -> Result<BTreeMap<String, Secret>> {
    let api: Api<Secret> = cluster.namespaced();
    let params = post_params(dry_run);
    let writes = plans
        .iter()
        .zip(&bundle.secrets)
        .filter(|(plan, _)| plan.action != Action::Unchanged)
        .map(|(plan, wanted)| {
            let (api, params) = (&api, &params);
            async move {
                let result = match plan.action {
                    Action::Create => api.create(params, wanted).await,
                    _ => {
                        let body = updated(
                            current.get(&plan.name).expect("planned updates exist"),
                            wanted,
                        );
                        api.replace(&plan.name, params, &body).await
                    }
                };
                (plan, result)
            }
        });
    let results = futures::future::join_all(writes).await;
    let mut stored = BTreeMap::new();
    let mut failed = Vec::new();
    for (plan, result) in results {
        match result {
            Ok(secret) => {
                stored.insert(plan.name.clone(), secret);
            }
            Err(error) => {
                let verb = if plan.action == Action::Create {
                    "create"
                } else {
                    "update"
                };
                failed.push(cluster.error(error, &format!("{verb} secret {}", plan.name)));
            }
        }
    }
    if failed.is_empty() {
        for name in stored.keys() {
            ui.detail(&format!(
                "{} secret {name}",
                if dry_run { "dry-run wrote" } else { "wrote" }
            ));
        }
        return Ok(stored);
    }
    Err(write_failure(failed, &stored, dry_run, backup))
}

/// The error of an apply whose writes `failed`: nothing changed (exit as the
/// first failure's) when none was `stored` or all were dry runs, else
/// stopped midway (exit 4), with how to converge.
fn write_failure(
    mut failed: Vec<Error>,
    stored: &BTreeMap<String, Secret>,
    dry_run: bool,
    backup: Option<&str>,
) -> Error {
    let reasons = failed
        .iter()
        .map(|error| error.message().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if stored.is_empty() || dry_run {
        let first = failed.remove(0);
        let next_step = first
            .next_step()
            .unwrap_or("fix the cause and import again")
            .to_string();
        return Error::new(first.exit(), format!("{reasons}; nothing was changed"))
            .with_next_step(next_step);
    }
    Error::new(
        Exit::Partial,
        format!(
            "import stopped midway: wrote {}; failed: {reasons}",
            stored.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    )
    .with_next_step(format!(
        "fix the cause and run the same import again: it converges{}",
        backup
            .map(|path| format!(" (the replaced secrets are saved in {path})"))
            .unwrap_or_default()
    ))
}

/// The cluster's secret with the bundle's data, type kept, labels and
/// annotations merged (the bundle's win): the standby's own metadata
/// survives, and helm's ownership marks stay exactly the standby's (present
/// or absent), so its own helm release keeps or adopts the Secret.
fn updated(existing: &Secret, wanted: &Secret) -> Secret {
    use crate::tsb::helm::{OWNERSHIP_ANNOTATIONS, OWNERSHIP_LABELS};
    let mut body = existing.clone();
    body.data = wanted.data.clone();
    body.string_data = None;
    for (target, source, own, keys) in [
        (
            &mut body.metadata.labels,
            &wanted.metadata.labels,
            &existing.metadata.labels,
            &OWNERSHIP_LABELS[..],
        ),
        (
            &mut body.metadata.annotations,
            &wanted.metadata.annotations,
            &existing.metadata.annotations,
            &OWNERSHIP_ANNOTATIONS[..],
        ),
    ] {
        let Some(source) = source else { continue };
        let merged = target.get_or_insert_with(BTreeMap::new);
        merged.extend(source.clone());
        for key in keys {
            match own.as_ref().and_then(|own| own.get(*key)) {
                Some(value) => merged.insert(key.to_string(), value.clone()),
                None => merged.remove(*key),
            };
        }
    }
    body.metadata.managed_fields = None;
    body
}

/// Compares the data digest of each secret the server stored, as its write
/// answered (after any admission webhook changed it), with the bundle's;
/// the unchanged ones matched when planned. Reading them back again would
/// cost a round trip and prove no more.
fn verify(
    bundle: &Bundle,
    plans: &[SecretPlan],
    stored: &BTreeMap<String, Secret>,
    backup: Option<&str>,
) -> Result<()> {
    let mismatched: Vec<String> = plans
        .iter()
        .zip(&bundle.secrets)
        .filter(|(plan, wanted)| {
            plan.action != Action::Unchanged
                && stored.get(&plan.name).map(data_digest) != Some(data_digest(wanted))
        })
        .map(|(plan, _)| plan.name.clone())
        .collect();
    if mismatched.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        Exit::Partial,
        format!(
            "check failed: the data the cluster stored differs from the bundle for {}",
            mismatched.join(", ")
        ),
    )
    .with_next_step(format!(
        "something changes these secrets as they are written (an admission webhook?); find it, then run the same import again{}",
        backup
            .map(|path| format!(" (backup: {path})"))
            .unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::bundle::tests::{provenance, secret};

    /// The standby's helm release owns its Secret: an import that brings
    /// the active's data (and the active's ownership marks) leaves them.
    #[test]
    fn an_update_keeps_the_standbys_helm_ownership_and_adds_none() {
        let with = |release: Option<&str>, extra: &str| {
            let mut secret = secret("iam-signing-key", "private.key", b"key");
            let annotations = release.map(|release| {
                BTreeMap::from([
                    ("meta.helm.sh/release-name".to_string(), release.to_string()),
                    ("meta.helm.sh/release-namespace".into(), "tsb".into()),
                    (extra.to_string(), "yes".into()),
                ])
            });
            secret.metadata.annotations = annotations;
            secret.metadata.labels = release.map(|_| {
                BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), "Helm".into())])
            });
            secret
        };
        let standby = with(Some("mp-standby"), "standby-note");
        let active = with(Some("mp"), "active-note");
        let body = updated(&standby, &active);
        let annotations = body.metadata.annotations.unwrap();
        assert_eq!(annotations["meta.helm.sh/release-name"], "mp-standby");
        assert_eq!(
            annotations["active-note"], "yes",
            "the bundle's others are taken"
        );
        assert_eq!(
            annotations["standby-note"], "yes",
            "the standby's others stay"
        );
        assert_eq!(
            body.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
            "Helm"
        );

        let unowned = updated(&with(None, ""), &active);
        let annotations = unowned.metadata.annotations.unwrap();
        assert!(
            !annotations.contains_key("meta.helm.sh/release-name"),
            "{annotations:?}"
        );
        assert!(!annotations.contains_key("meta.helm.sh/release-namespace"));
        assert!(
            !unowned
                .metadata
                .labels
                .unwrap()
                .contains_key("app.kubernetes.io/managed-by")
        );
    }

    #[test]
    fn verify_compares_what_the_server_stored_for_each_write() {
        let bundle = Bundle::new(
            provenance(),
            vec![
                secret("admin-credentials", "password", b"one"),
                secret("tsb-certs", "tls.key", b"two"),
                secret("xcp-central-cert", "tls.key", b"three"),
            ],
        );
        // xcp-central-cert already matched, so it is not written.
        let current = BTreeMap::from([(
            "xcp-central-cert".to_string(),
            secret("xcp-central-cert", "tls.key", b"three"),
        )]);
        let plans = plan(&bundle, &current).expect("plan");
        let stored = BTreeMap::from([
            ("admin-credentials".to_string(), bundle.secrets[0].clone()),
            ("tsb-certs".to_string(), bundle.secrets[1].clone()),
        ]);
        verify(&bundle, &plans, &stored, None).expect("what was written is what was stored");

        let mut altered = stored.clone();
        altered.insert(
            "tsb-certs".into(),
            secret("tsb-certs", "tls.key", b"changed by a webhook"),
        );
        let error = verify(&bundle, &plans, &altered, Some("backup.yaml")).unwrap_err();
        assert_eq!(error.exit(), Exit::Partial);
        assert!(
            error
                .message()
                .ends_with("differs from the bundle for tsb-certs"),
            "{}",
            error.message()
        );
        assert!(error.next_step().unwrap().contains("(backup: backup.yaml)"));

        let mut missing = stored;
        missing.remove("admin-credentials");
        let error = verify(&bundle, &plans, &missing, None).unwrap_err();
        assert!(
            error.message().ends_with("for admin-credentials"),
            "{}",
            error.message()
        );
    }
}
