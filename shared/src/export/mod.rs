//! `kubectl mp-export`: runbook step 1. Reads what names the active MP's
//! secrets (its ManagementPlane, or its helm release's deployed revision by
//! helm's labels), then those secrets by name, all at once; cleans them and
//! writes a bundle. What it reads follows the MP, not the namespace.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

use crate::error::{EXIT_CODES_HELP, Error, Exit, Result};
use crate::kube::cluster::Cluster;
use crate::kube::named::get_named;
use crate::secrets::bundle::{Bundle, Model, Provenance};
use crate::secrets::files::write_private;
use crate::secrets::redact::{SecretSummary, secret_values};
use crate::tsb::helm::RenderedSecret;
use crate::tsb::layout::{Requirement, TsbLayout};
use crate::tsb::signing::SigningKeys;
use crate::ui::cli::{ConnectionArgs, OutputArgs, PluginCli, VERSION};
use crate::ui::output::{OutputFormat, Ui};

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: the active Management Plane's context, in namespace tsb
  kubectl mp-export --context active -n tsb -f active-mp.bundle.yaml

  # Kubeconfig from several files, a longer timeout for a slow API server
  KUBECONFIG=~/.kube/active:~/.kube/standby kubectl mp-export --context active --request-timeout 1m -f b.yaml

  # What to export: force the model, add a site-specific secret, leave one out
  kubectl mp-export --context active --model generic --include my-extra-ca --exclude ldap-credentials -f b.yaml

  # Output: the standby's install values too, or the bundle straight into an import
  kubectl mp-export --context active -f b.yaml --values-out dr_mp_values.yaml
  kubectl mp-export --context active -f - | kubectl mp-import --context standby -f - --yes
  kubectl mp-export --context active -f b.age --encrypt-to age1...

  # Output: what was exported (secrets' key names, sizes, digests) as JSON for a script
  kubectl mp-export --context active -f b.yaml -o json";

/// `--model`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// helm release secret present: helm; else a ManagementPlane resource: generic
    Auto,
    Helm,
    Generic,
}

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-export",
    bin_name = "kubectl mp-export",
    version = VERSION,
    about = "Export what a standby TSB Management Plane needs from the active one (runbook step 1)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the ACTIVE Management Plane cluster (default: the current context)
    #[arg(long, help_heading = "Cluster connection")]
    pub context: Option<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Install model of the active MP
    #[arg(long, value_enum, default_value_t = ModelChoice::Auto, help_heading = "What to export")]
    pub model: ModelChoice,

    /// The MP's helm release (default: the layout's helmRelease, mp, else the one release of the managementplane chart)
    #[arg(long, value_name = "NAME", help_heading = "What to export")]
    pub release: Option<String>,

    /// Also export this secret (must exist); repeatable
    #[arg(long, value_name = "NAME", help_heading = "What to export")]
    pub include: Vec<String>,

    /// Leave this secret out; repeatable
    #[arg(long, value_name = "NAME", help_heading = "What to export")]
    pub exclude: Vec<String>,

    /// Bundle file to write (mode 0600), or - for stdout (the default when stdout is not a terminal)
    #[arg(
        short = 'f',
        long = "file",
        visible_alias = "filename",
        value_name = "FILE",
        help_heading = "Output"
    )]
    pub file: Option<String>,

    /// Also write the standby's install values (spec, without secrets) here
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub values_out: Option<PathBuf>,

    /// Encrypt the bundle with age to this recipient (age1…); repeatable
    #[arg(long, value_name = "RECIPIENT", help_heading = "Output")]
    pub encrypt_to: Vec<String>,

    /// Replace existing output files
    #[arg(long, help_heading = "Output")]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

impl PluginCli for Cli {
    fn output_args(&self) -> &OutputArgs {
        &self.output
    }

    /// `-o FILE` was the bundle file before `-o` meant the output format
    /// in every plugin, as in kubectl.
    fn output_value_hint(value: &str) -> String {
        match value {
            "-" => "write the bundle to stdout with -f -".into(),
            file => format!("write the bundle to a file with -f {file}"),
        }
    }
}

/// Where the bundle goes.
enum Destination {
    Stdout,
    File(PathBuf),
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    // Decide where the bundle goes before touching the cluster.
    let format = cli.output.output;
    let destination = match cli.file.as_deref() {
        Some("-") if format != OutputFormat::Text => {
            return Err(Error::usage(format!(
                "-f - and -o {} both write to stdout",
                format.name()
            ))
            .with_next_step("write the bundle to a file with -f FILE, or drop -o"));
        }
        Some("-") => Destination::Stdout,
        Some(path) => Destination::File(PathBuf::from(path)),
        None if format != OutputFormat::Text => {
            return Err(Error::usage(format!(
                "-o {} writes the result to stdout, so the bundle needs a file",
                format.name()
            ))
            .with_next_step("pass -f FILE"));
        }
        None if std::io::stdout().is_terminal() => {
            return Err(Error::usage("refusing to print secrets to a terminal")
                .with_next_step("pass -f FILE, or -f - to print them anyway"));
        }
        None => Destination::Stdout,
    };
    let layout = cli.connection.layout()?;
    let kubeconfig = cli.connection.load_kubeconfig()?;
    let cluster = Cluster::connect(
        &kubeconfig,
        cli.context.as_deref(),
        &cli.connection.client_settings(),
    )
    .await?;
    ui.record_field("context", &cluster.context());
    ui.record_field("server", &cluster.server());
    ui.record_field("namespace", &cluster.namespace());

    let export = read_and_select(&cluster, &layout, &cli).await?;
    ui.record(&export.recorded(cli.encrypt_to.len()));
    let mut bundle_bytes = export.bundle.render()?.into_bytes();
    if !cli.encrypt_to.is_empty() {
        bundle_bytes = crate::secrets::seal::encrypt(&bundle_bytes, &cli.encrypt_to)?;
    }
    let values_text = match &cli.values_out {
        Some(_) => Some(
            crate::yaml::to_string(&export.values()?)
                .map_err(|error| Error::failed(format!("cannot encode the values: {error}")))?,
        ),
        None => None,
    };

    // Write the values first: the bundle on stdout may already be feeding an import.
    if let (Some(path), Some(text)) = (&cli.values_out, &values_text) {
        write_private(path, text.as_bytes(), cli.force)?;
        ui.record_field("valuesFile", &path.display().to_string());
    }
    let written_to = match &destination {
        Destination::File(path) => {
            write_private(path, &bundle_bytes, cli.force)?;
            path.display().to_string()
        }
        Destination::Stdout => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bundle_bytes)
                .and_then(|()| stdout.flush())
                .map_err(|error| {
                    Error::failed(format!("cannot write the bundle to stdout: {error}"))
                })?;
            "stdout".to_string()
        }
    };
    ui.record_field("file", &written_to);
    export.report(&ui, &written_to, cli.values_out.as_ref());
    if !cli.encrypt_to.is_empty() {
        ui.info(&format!(
            "the bundle is encrypted with age to {} recipient(s); import it with --identity",
            cli.encrypt_to.len()
        ));
    }
    Ok(Exit::Ok)
}

/// What one export found and chose.
struct Export {
    bundle: Bundle,
    absent_optional: Vec<String>,
    skipped_tokens: Vec<String>,
    /// What the helm release's values rendered (helm model).
    rendered: Vec<RenderedSecret>,
    /// The Secret IAM signs tokens with, as the spec names it.
    signing: SigningKeys,
    /// The helm release's user values (helm model), for `--values-out`.
    helm_values: Option<Value>,
    management_plane: Option<DynamicObject>,
}

async fn read_and_select(cluster: &Cluster, layout: &TsbLayout, cli: &Cli) -> Result<Export> {
    let namespace = cluster.namespace();
    // The release's records are only needed to detect or serve the helm model.
    let read_release_records = async {
        if cli.model == ModelChoice::Generic {
            return Ok(Vec::new());
        }
        crate::tsb::helm::read_release_records(cluster, layout, cli.release.as_deref()).await
    };
    // The ManagementPlane is only needed to detect or serve the generic model.
    let get_management_plane = async {
        if cli.model == ModelChoice::Helm {
            return Ok(None);
        }
        crate::tsb::mp::get_management_plane(cluster, layout).await
    };
    let (release_records, management_plane) =
        crate::error::join_in_order(read_release_records, get_management_plane).await?;

    let release = match cli.model {
        ModelChoice::Generic => None,
        _ => crate::tsb::helm::mp_release(&release_records, layout, cli.release.as_deref())
            .map_err(|problem| {
                Error::usage(format!(
                    "context {:?}: {problem} in namespace {namespace}",
                    cluster.context()
                ))
                .with_next_step("name the MP's release with --release")
            })?,
    };
    let model = choose_model(
        cluster,
        layout,
        cli.model,
        release.is_some(),
        management_plane.is_some(),
    )?;
    let release = release.unwrap_or_else(|| layout.helm_release.clone());
    let management_plane_spec = management_plane
        .as_ref()
        .and_then(|object| object.data.get("spec"));
    let wanted = Wanted::by_model(
        &release_records,
        layout,
        model,
        &release,
        management_plane_spec,
        &cli.include,
        &cli.exclude,
    )
    .map_err(|problem| {
        Error::failed(format!(
            "context {:?}: {problem} in namespace {namespace}: its values say which secrets the chart rendered; nothing was written",
            cluster.context()
        ))
        .with_next_step(
            "wait for helm to finish (helm status), name the MP's release with --release, or use --model generic",
        )
    })?;
    // Every wanted name is known now: read them by name, all at once.
    let secrets = get_named::<Secret>(cluster, &wanted.names()).await?.present;
    let selection = wanted.pick(&secrets);
    if !selection.missing_keys.is_empty() && selection.missing.is_empty() {
        return Err(Error::failed(format!(
            "context {:?}: in namespace {namespace}, {}; nothing was written",
            cluster.context(),
            selection.missing_keys.join("; ")
        ))
        .with_next_step(format!(
            "put the keys the issuers name into secret {}, or correct spec.tokenIssuer.jwt.issuers",
            selection.signing.secret
        )));
    }
    if !selection.missing.is_empty() {
        return Err(Error::failed(format!(
            "context {:?}: required secret{} missing in namespace {namespace}: {}{}; nothing was written",
            cluster.context(),
            if selection.missing.len() == 1 { "" } else { "s" },
            selection.describe(&selection.missing),
            selection
                .missing_keys
                .iter()
                .map(|problem| format!("; {problem}"))
                .collect::<String>()
        ))
        .with_next_step(if selection.missing.contains(&selection.signing.secret) {
            format!(
                "IAM signs tokens with it ({}): restore it on the active, or correct the spec",
                selection.signing.source()
            )
        } else if selection.rendered.is_empty() {
            format!(
                "check the {model} model is right (--model), or leave a secret out knowingly with --exclude"
            )
        } else {
            format!(
                "the release's values render them, so the chart should have: check the release (helm status {release}), or leave a secret out knowingly with --exclude"
            )
        }));
    }
    let helm_values = match model {
        Model::Helm => {
            Some(crate::tsb::helm::user_values(&release_records, &release).map_err(Error::failed)?)
        }
        Model::Generic => None,
    };
    let provenance = Provenance {
        context: cluster.context().to_string(),
        server: cluster.server().to_string(),
        namespace: namespace.to_string(),
        model,
        exported_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        tool: format!("kubectl-mp-export {VERSION}"),
    };
    Ok(Export {
        bundle: Bundle::new(provenance, selection.chosen),
        absent_optional: selection.absent_optional,
        skipped_tokens: selection.skipped_tokens,
        rendered: selection.rendered,
        signing: selection.signing,
        helm_values,
        management_plane,
    })
}

/// The install model to export: as asked, or (auto) helm when the MP's helm
/// release exists ([`crate::tsb::helm::mp_release`]), else generic when the
/// ManagementPlane does.
///
/// # Errors
/// A failure (exit 1) when auto finds neither: no MP in the namespace.
fn choose_model(
    cluster: &Cluster,
    layout: &TsbLayout,
    choice: ModelChoice,
    has_helm_release: bool,
    has_management_plane: bool,
) -> Result<Model> {
    match choice {
        ModelChoice::Helm => Ok(Model::Helm),
        ModelChoice::Generic => Ok(Model::Generic),
        ModelChoice::Auto if has_helm_release => Ok(Model::Helm),
        ModelChoice::Auto if has_management_plane => Ok(Model::Generic),
        ModelChoice::Auto => Err(Error::failed(format!(
            "context {:?}: no TSB Management Plane in namespace {}: no helm release secret {}* nor release of chart {}, and no {} {}",
            cluster.context(),
            cluster.namespace(),
            layout.helm_release_secret_prefix(),
            layout.helm_chart,
            layout.management_plane.kind,
            layout.management_plane_name
        ))
        .with_next_step(format!(
            "{}, or name the model with --model (names can be changed with --layout)",
            cluster.namespace_hint()
        ))),
    }
}

/// The secrets an export takes from a namespace's Secrets, and what it missed.
#[derive(Debug, Default)]
pub struct Selection {
    /// Cleaned, ready for a bundle.
    pub chosen: Vec<Secret>,
    /// Required ones that do not exist.
    pub missing: Vec<String>,
    pub absent_optional: Vec<String>,
    /// Service-account token secrets, never exported.
    pub skipped_tokens: Vec<String>,
    /// Helm model: the Secrets the release's values rendered (wanted, so
    /// among `chosen`, `missing` or `absent_optional`, unless excluded).
    pub rendered: Vec<RenderedSecret>,
    /// The Secret IAM signs tokens with, as the spec names it (wanted, so
    /// among `chosen` or `missing`, unless excluded).
    pub signing: SigningKeys,
    /// The data keys the spec's issuers name that the signing keys'
    /// Secret lacks, each described with its spec field:
    /// `iam-signing-keys lacks data key old.key (named by spec.tokenIssuer.jwt.issuers[1].signingKey)`.
    pub missing_keys: Vec<String>,
}

impl Selection {
    /// `names`, joined, each rendered one followed by the value that
    /// renders it: `admin-credentials (from values secrets.tsb.adminPassword)`.
    /// The signing keys' Secret, when the spec names it, is followed by
    /// the field: `iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret)`.
    pub fn describe(&self, names: &[String]) -> String {
        names
            .iter()
            .map(
                |name| match self.rendered.iter().find(|rendered| rendered.name == *name) {
                    Some(rendered) => format!("{name} (from values {})", rendered.value),
                    None if *name == self.signing.secret && self.signing.named_by_spec => {
                        format!("{name} (from {})", self.signing.source())
                    }
                    None => name.clone(),
                },
            )
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Picks the model's secrets (plus `include`, minus `exclude`) out of
/// `secrets`, a namespace's Secrets as listed. The one place that decides
/// what an install model carries: the export bundles it, the failover's
/// preflight compares it (and `--sync-secrets` copies it).
///
/// Either model takes the Secret IAM signs tokens with, as the spec names
/// it ([`SigningKeys`]: the ManagementPlane's `management_plane_spec` for
/// the generic model, the release values' `spec` for helm; Tetrate MP HA
/// guide, "Configure multiple IAM token validation keys"), checking it
/// holds every key the issuers name (`missing_keys`), and `tsb-iam-jwks`
/// when present. The helm model takes the layout's `helmSecrets` and the
/// Secrets the chart rendered from the `secrets:` values of `release`'s
/// deployed revision (`helmValueSecrets`, [`crate::tsb::helm::rendered_secrets`]);
/// `release` is not read for the generic model. Either model adds the
/// layout's `carriedWhenPresent`.
///
/// # Errors
/// Helm model only: `release` has no deployed revision, or it does not
/// decode, so which Secrets its values rendered is unknown (the message
/// names the release or its Secret, never a value).
pub fn select_secrets(
    secrets: &[Secret],
    layout: &TsbLayout,
    model: Model,
    release: &str,
    management_plane_spec: Option<&Value>,
    include: &[String],
    exclude: &[String],
) -> std::result::Result<Selection, String> {
    let wanted = Wanted::by_model(
        secrets,
        layout,
        model,
        release,
        management_plane_spec,
        include,
        exclude,
    )?;
    Ok(wanted.pick(secrets))
}

/// Which Secrets an install model takes, by name, before any is read:
/// what [`select_secrets`] looks for.
#[derive(Debug)]
pub struct Wanted {
    /// In order, each once, with whether it must exist.
    names: Vec<(String, Requirement)>,
    rendered: Vec<RenderedSecret>,
    signing: SigningKeys,
}

impl Wanted {
    /// The names [`select_secrets`] looks for; `release_records` need hold
    /// only `release`'s records (helm model), as
    /// [`crate::tsb::helm::read_release_records`] reads them.
    ///
    /// # Errors
    /// As [`select_secrets`]: helm model, no deployed revision of `release`
    /// or one that does not decode.
    pub fn by_model(
        release_records: &[Secret],
        layout: &TsbLayout,
        model: Model,
        release: &str,
        management_plane_spec: Option<&Value>,
        include: &[String],
        exclude: &[String],
    ) -> std::result::Result<Wanted, String> {
        let (rendered, signing) = match model {
            Model::Helm => {
                let values = crate::tsb::helm::user_values(release_records, release)?;
                (
                    crate::tsb::helm::rendered_secrets(layout, &values),
                    SigningKeys::from_spec(values.get("spec"), &layout.signing_keys_secret),
                )
            }
            Model::Generic => (
                Vec::new(),
                SigningKeys::from_spec(management_plane_spec, &layout.signing_keys_secret),
            ),
        };
        Ok(Wanted {
            names: wanted_secrets(layout, model, &signing, &rendered, include, exclude),
            rendered,
            signing,
        })
    }

    /// Just the names, for reading them.
    pub fn names(&self) -> Vec<String> {
        self.names.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Picks the wanted Secrets out of `secrets` (any superset of them).
    pub fn pick(self, secrets: &[Secret]) -> Selection {
        let mut selection = Selection::default();
        for (name, requirement) in self.names {
            match secrets
                .iter()
                .find(|secret| secret.metadata.name.as_deref() == Some(name.as_str()))
            {
                Some(secret)
                    if secret.type_.as_deref() == Some("kubernetes.io/service-account-token") =>
                {
                    // Tokens belong to their cluster's service accounts; a copy would
                    // be a credential for the wrong cluster.
                    selection.skipped_tokens.push(name);
                }
                Some(secret) => {
                    if name == self.signing.secret {
                        selection.missing_keys = self
                            .signing
                            .missing_keys(secret)
                            .into_iter()
                            .map(|issuer| {
                                format!(
                                    "{name} lacks data key {} (named by {})",
                                    issuer.key, issuer.field
                                )
                            })
                            .collect();
                    }
                    selection.chosen.push(clean_secret(secret));
                }
                None if requirement == Requirement::Required => selection.missing.push(name),
                None => selection.absent_optional.push(name),
            }
        }
        selection.rendered = self.rendered;
        selection.signing = self.signing;
        selection
    }
}

/// The secrets to look for, in order, with whether each must exist: the
/// model's list, the `signing` keys' Secret (required) and the layout's
/// `jwksSecret` (optional: not every version has it), then (helm) what the
/// values `rendered`, then the ones carried when present. `--include`
/// names are required (the user asked for them by name). A name wanted
/// twice (the signing keys in `tsb-certs`) is carried once.
fn wanted_secrets(
    layout: &TsbLayout,
    model: Model,
    signing: &SigningKeys,
    rendered: &[RenderedSecret],
    include: &[String],
    exclude: &[String],
) -> Vec<(String, Requirement)> {
    let model_list = match model {
        Model::Helm => &layout.helm_secrets,
        Model::Generic => &layout.generic_secrets,
    };
    let mut wanted: Vec<(String, Requirement)> = Vec::new();
    let candidates = model_list
        .iter()
        .map(|spec| (spec.name.clone(), spec.requirement))
        .chain([
            (signing.secret.clone(), Requirement::Required),
            (layout.jwks_secret.clone(), Requirement::Optional),
        ])
        .chain(
            rendered
                .iter()
                .map(|rendered| (rendered.name.clone(), rendered.requirement)),
        )
        .chain(
            layout
                .carried_when_present
                .iter()
                .map(|name| (name.clone(), Requirement::Optional)),
        )
        .chain(
            include
                .iter()
                .map(|name| (name.clone(), Requirement::Required)),
        );
    for (name, requirement) in candidates {
        if exclude.contains(&name) {
            continue;
        }
        match wanted.iter_mut().find(|(existing, _)| *existing == name) {
            // Asked for twice (e.g. --include of an optional one): the stricter wins.
            Some(entry) if requirement == Requirement::Required => entry.1 = Requirement::Required,
            Some(_) => {}
            None => wanted.push((name, requirement)),
        }
    }
    wanted
}

/// The Secret as another cluster should receive it: no server-assigned fields
/// (uid, resourceVersion, timestamps, managedFields), no owner references
/// (their owners' uids do not exist there), no last-applied annotation.
pub fn clean_secret(secret: &Secret) -> Secret {
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    let annotations = secret
        .metadata
        .annotations
        .clone()
        .map(|mut annotations| {
            annotations.remove(LAST_APPLIED);
            annotations
        })
        .filter(|annotations| !annotations.is_empty());
    let data = secret_values(secret)
        .into_iter()
        .map(|(key, value)| (key, k8s_openapi::ByteString(value)))
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: secret.metadata.name.clone(),
            namespace: secret.metadata.namespace.clone(),
            labels: secret
                .metadata
                .labels
                .clone()
                .filter(|labels| !labels.is_empty()),
            annotations,
            ..ObjectMeta::default()
        },
        type_: secret.type_.clone(),
        immutable: secret.immutable,
        data: Some(data),
        string_data: None,
    }
}

/// What an export took, for `-o json|yaml`: what its text says.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Recorded<'a> {
    model: Model,
    exported_at: &'a str,
    /// age recipients the bundle is encrypted to; 0: not encrypted.
    encrypted_to: usize,
    secrets: Vec<SecretSummary>,
    absent_optional: &'a [String],
    skipped_tokens: &'a [String],
    /// Helm model: each Secret the release's `secrets:` values rendered,
    /// and the value that renders it (its path, never its value).
    rendered_by_values: Vec<RenderedBy<'a>>,
    /// The Secret IAM signs tokens with and the data keys its issuers name.
    signing_keys: &'a SigningKeys,
}

#[derive(Serialize)]
struct RenderedBy<'a> {
    secret: &'a str,
    value: &'a str,
}

impl Export {
    fn recorded(&self, recipients: usize) -> Recorded<'_> {
        Recorded {
            model: self.bundle.provenance.model,
            exported_at: &self.bundle.provenance.exported_at,
            encrypted_to: recipients,
            secrets: self.bundle.secrets.iter().map(SecretSummary::of).collect(),
            absent_optional: &self.absent_optional,
            skipped_tokens: &self.skipped_tokens,
            rendered_by_values: self
                .rendered
                .iter()
                .map(|rendered| RenderedBy {
                    secret: &rendered.name,
                    value: &rendered.value,
                })
                .collect(),
            signing_keys: &self.signing,
        }
    }

    /// The standby's install values: the helm release's user values, or the
    /// ManagementPlane's spec, never with a `secrets` section.
    fn values(&self) -> Result<Value> {
        match self.bundle.provenance.model {
            Model::Helm => {
                let mut values = self
                    .helm_values
                    .clone()
                    .unwrap_or_else(|| Value::Object(Default::default()));
                if let Some(values) = values.as_object_mut() {
                    values.remove("secrets");
                }
                Ok(values)
            }
            Model::Generic => {
                let management_plane = self.management_plane.as_ref().ok_or_else(|| {
                    Error::failed("no ManagementPlane resource to take the values' spec from")
                        .with_next_step("drop --values-out, or check the resource name (--layout managementPlaneName)")
                })?;
                let spec = management_plane
                    .data
                    .get("spec")
                    .cloned()
                    .unwrap_or(Value::Null);
                Ok(serde_json::json!({ "spec": spec }))
            }
        }
    }

    fn report(&self, ui: &Ui, written_to: &str, values_out: Option<&PathBuf>) {
        let provenance = &self.bundle.provenance;
        ui.info(&format!(
            "exported {} secret{} from context {:?} (namespace {}, {} model) to {written_to}:",
            self.bundle.secrets.len(),
            if self.bundle.secrets.len() == 1 {
                ""
            } else {
                "s"
            },
            provenance.context,
            provenance.namespace,
            provenance.model,
        ));
        for secret in &self.bundle.secrets {
            ui.info(&format!("  {}", SecretSummary::of(secret)));
        }
        let carried =
            self.bundle.secrets.iter().any(|secret| {
                secret.metadata.name.as_deref() == Some(self.signing.secret.as_str())
            });
        if carried {
            ui.info(&format!("token signing keys: {}", self.signing.describe()));
        } else {
            ui.warn(&format!(
                "token signing keys: {} left out (--exclude): a standby signing with other keys rejects every token the active issued",
                self.signing.describe()
            ));
        }
        if !self.absent_optional.is_empty() {
            ui.info(&format!(
                "absent (optional): {}",
                self.absent_optional.join(", ")
            ));
        }
        if !self.skipped_tokens.is_empty() {
            ui.warn(&format!(
                "not exported: service-account token secrets belong to their cluster: {}",
                self.skipped_tokens.join(", ")
            ));
        }
        if !self.rendered.is_empty() {
            let names: Vec<&str> = self.rendered.iter().map(|r| r.name.as_str()).collect();
            ui.info(&format!(
                "rendered by the helm release's secrets: values: {}",
                names.join(", ")
            ));
        }
        if let Some(path) = values_out {
            match provenance.model {
                Model::Helm => ui.info(&format!(
                    "standby install values (no secrets section: the secrets come from the bundle; import it, then helm install with these values): {}",
                    path.display()
                )),
                Model::Generic => ui.info(&format!(
                    "standby install values (no secrets section): {}",
                    path.display()
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn cleaning_keeps_what_the_standby_needs_and_drops_server_state() {
        let mut secret = Secret::default();
        secret.metadata.name = Some("tsb-certs".into());
        secret.metadata.namespace = Some("tsb".into());
        secret.metadata.uid = Some("uid-1".into());
        secret.metadata.resource_version = Some("42".into());
        secret.metadata.creation_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        secret.metadata.managed_fields = Some(vec![Default::default()]);
        secret.metadata.owner_references = Some(vec![Default::default()]);
        secret.metadata.labels = Some(BTreeMap::from([("app".into(), "tsb".into())]));
        secret.metadata.annotations = Some(BTreeMap::from([
            (
                "kubectl.kubernetes.io/last-applied-configuration".into(),
                "{...}".into(),
            ),
            ("team".into(), "platform".into()),
        ]));
        secret.type_ = Some("kubernetes.io/tls".into());
        secret.data = Some(BTreeMap::from([(
            "tls.crt".into(),
            k8s_openapi::ByteString(b"cert".to_vec()),
        )]));
        secret.string_data = Some(BTreeMap::from([("extra".into(), "x".into())]));

        let clean = clean_secret(&secret);
        let json = serde_json::to_value(&clean).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "tsb-certs", "namespace": "tsb", "labels": {"app": "tsb"}, "annotations": {"team": "platform"}},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": "Y2VydA==", "extra": "eA=="}
            })
        );
    }

    #[test]
    fn wanted_secrets_follow_the_model_with_includes_and_excludes() {
        let layout = TsbLayout::default();
        let signing = SigningKeys::from_spec(None, &layout.signing_keys_secret);
        let helm = wanted_secrets(&layout, Model::Helm, &signing, &[], &[], &[]);
        assert_eq!(
            helm,
            vec![
                ("iam-signing-key".to_string(), Requirement::Required),
                ("tsb-iam-jwks".to_string(), Requirement::Optional),
                ("local-user-credentials".to_string(), Requirement::Optional),
                ("mpc-certs".to_string(), Requirement::Optional),
            ]
        );
        let generic = wanted_secrets(
            &layout,
            Model::Generic,
            &signing,
            &[],
            &["ldap-credentials".into(), "site-ca".into()],
            &["azure-credentials".into(), "site-ca".into()],
        );
        let names: Vec<_> = generic.iter().map(|(name, _)| name.as_str()).collect();
        assert!(
            !names.contains(&"azure-credentials") && !names.contains(&"site-ca"),
            "{names:?}"
        );
        assert!(
            generic.contains(&("ldap-credentials".to_string(), Requirement::Required)),
            "an include is required"
        );
        assert_eq!(names.len(), 13, "{names:?}");
    }

    fn named(name: &str, data: &[(&str, &[u8])]) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.type_ = Some("Opaque".into());
        secret.data = Some(
            data.iter()
                .map(|(key, value)| (key.to_string(), k8s_openapi::ByteString(value.to_vec())))
                .collect(),
        );
        secret
    }

    /// The namespace of a helm MP whose release `mp` was installed with
    /// `values`, holding the Secrets `present`.
    fn helm_namespace(values: Value, present: &[&str]) -> Vec<Secret> {
        let release = serde_json::json!({
            "chart": {"metadata": {"name": "managementplane"}},
            "config": values,
        });
        let mut secrets = vec![crate::tsb::helm::tests::release_secret(
            "mp", 1, "deployed", &release,
        )];
        secrets.extend(
            present
                .iter()
                .map(|name| named(name, &[("key", b"s3cret-value")])),
        );
        secrets
    }

    fn names_of(secrets: &[Secret]) -> Vec<&str> {
        secrets
            .iter()
            .filter_map(|secret| secret.metadata.name.as_deref())
            .collect()
    }

    /// Issue 13: the helm model carries what the release's `secrets:`
    /// values rendered, not only iam-signing-key.
    #[test]
    fn the_helm_model_takes_what_the_release_values_rendered() {
        let layout = TsbLayout::default();
        let values = serde_json::json!({
            "spec": {"organization": "tetrate"},
            "secrets": {
                "tsb": {"adminPassword": "s3cret", "cert": "PEM", "key": "PEM"},
                "postgres": {"username": "tsb", "password": "s3cret"},
            },
        });
        let secrets = helm_namespace(
            values,
            &[
                "iam-signing-key",
                "tsb-certs",
                "admin-credentials",
                "postgres-credentials",
                "ldap-credentials",
            ],
        );
        let selection =
            select_secrets(&secrets, &layout, Model::Helm, "mp", None, &[], &[]).unwrap();
        assert_eq!(
            names_of(&selection.chosen),
            [
                "iam-signing-key",
                "tsb-certs",
                "admin-credentials",
                "postgres-credentials"
            ],
            "ldap-credentials is not rendered by these values: not taken"
        );
        assert!(selection.missing.is_empty(), "{:?}", selection.missing);
        let rendered: Vec<_> = selection
            .rendered
            .iter()
            .map(|rendered| (rendered.name.as_str(), rendered.value.as_str()))
            .collect();
        assert_eq!(
            rendered,
            [
                ("tsb-certs", "secrets.tsb.cert"),
                ("admin-credentials", "secrets.tsb.adminPassword"),
                ("postgres-credentials", "secrets.postgres"),
            ]
        );

        // --database separate in the preflight, or a knowing --exclude.
        let excluded = select_secrets(
            &secrets,
            &layout,
            Model::Helm,
            "mp",
            None,
            &[],
            &["postgres-credentials".into()],
        )
        .unwrap();
        assert_eq!(
            names_of(&excluded.chosen),
            ["iam-signing-key", "tsb-certs", "admin-credentials"]
        );
    }

    #[test]
    fn a_secret_the_values_render_but_the_namespace_lacks_is_missing_naming_the_value() {
        let layout = TsbLayout::default();
        let values = serde_json::json!({"secrets": {
            "tsb": {"adminPassword": "s3cret"},
            "elasticsearch": {"username": "elastic", "password": "s3cret", "cacert": "PEM"},
        }});
        let secrets = helm_namespace(values, &["iam-signing-key"]);
        let selection =
            select_secrets(&secrets, &layout, Model::Helm, "mp", None, &[], &[]).unwrap();
        assert_eq!(
            selection.missing,
            ["admin-credentials", "elastic-credentials"]
        );
        assert!(
            selection.absent_optional.contains(&"es-certs".to_string()),
            "an inferred pairing is optional: {:?}",
            selection.absent_optional
        );
        let described = selection.describe(&selection.missing);
        assert_eq!(
            described,
            "admin-credentials (from values secrets.tsb.adminPassword), elastic-credentials (from values secrets.elasticsearch.username)"
        );
        assert!(!described.contains("s3cret"), "never a value: {described}");
    }

    #[test]
    fn without_secrets_values_the_helm_model_is_iam_signing_key_as_before() {
        let layout = TsbLayout::default();
        for values in [
            serde_json::json!({"spec": {}}),
            serde_json::json!({"spec": {}, "secrets": {"keep": true, "xcp": {"autoGenerateCerts": true}}}),
            serde_json::json!({"secrets": {"tsb": {"adminPassword": ""}, "postgres": {"username": null}}}),
            serde_json::Value::Null,
        ] {
            let secrets = helm_namespace(values.clone(), &["iam-signing-key", "admin-credentials"]);
            let selection =
                select_secrets(&secrets, &layout, Model::Helm, "mp", None, &[], &[]).unwrap();
            assert_eq!(names_of(&selection.chosen), ["iam-signing-key"], "{values}");
            assert!(selection.rendered.is_empty(), "{values}");
        }
    }

    /// Which secrets the values rendered is not guessed: no deployed
    /// revision to read them from is an error naming the release.
    #[test]
    fn the_helm_model_without_a_deployed_release_is_an_error_naming_it() {
        let layout = TsbLayout::default();
        let mut secrets = helm_namespace(serde_json::json!({}), &["iam-signing-key"]);
        secrets[0] = crate::tsb::helm::tests::release_secret(
            "mp",
            2,
            "pending-upgrade",
            &serde_json::json!({}),
        );
        let error =
            select_secrets(&secrets, &layout, Model::Helm, "mp", None, &[], &[]).unwrap_err();
        assert_eq!(error, "no deployed revision of helm release \"mp\"");
        // The generic model reads no release.
        assert!(select_secrets(&secrets, &layout, Model::Generic, "", None, &[], &[]).is_ok());
    }

    /// A generic namespace holding `present` (each with data key `key`)
    /// and `signing`, whose ManagementPlane spec is `spec`.
    fn generic_selection(
        spec: &Value,
        signing: Secret,
        present: &[&str],
    ) -> std::result::Result<Selection, String> {
        let mut secrets: Vec<Secret> = present
            .iter()
            .map(|name| named(name, &[("key", b"s3cret-value")]))
            .collect();
        secrets.push(signing);
        select_secrets(
            &secrets,
            &TsbLayout::default(),
            Model::Generic,
            "",
            Some(spec),
            &[],
            &[],
        )
    }

    const GENERIC_PRESENT: [&str; 5] = [
        "admin-credentials",
        "postgres-credentials",
        "tsb-certs",
        "xcp-central-cert",
        "tsb-iam-jwks",
    ];

    /// After a rotation the spec names `iam-signing-keys`: it travels (and
    /// `iam-signing-key`, unused, does not); a key an issuer names that the
    /// secret lacks is a problem naming secret, key and field.
    #[test]
    fn the_signing_keys_secret_the_spec_names_is_carried_with_its_issuers_keys() {
        let spec = serde_json::json!({"tokenIssuer": {"jwt": {
            "signingKeysSecret": "iam-signing-keys",
            "issuers": [
                {"name": "new", "algorithm": "RS256", "signingKey": "new.key"},
                {"name": "old", "algorithm": "RS256", "signingKey": "old.key"},
            ],
        }}});
        let rotated = named(
            "iam-signing-keys",
            &[("new.key", b"pem-new"), ("old.key", b"pem-old")],
        );
        let mut present = GENERIC_PRESENT.to_vec();
        present.push("iam-signing-key");
        let selection = generic_selection(&spec, rotated, &present).unwrap();
        let chosen = names_of(&selection.chosen);
        assert!(chosen.contains(&"iam-signing-keys"), "{chosen:?}");
        assert!(chosen.contains(&"tsb-iam-jwks"), "{chosen:?}");
        assert!(!chosen.contains(&"iam-signing-key"), "{chosen:?}");
        assert!(selection.missing.is_empty() && selection.missing_keys.is_empty());
        assert_eq!(selection.signing.secret, "iam-signing-keys");

        let half = named("iam-signing-keys", &[("new.key", b"pem-new")]);
        let selection = generic_selection(&spec, half, &GENERIC_PRESENT).unwrap();
        assert_eq!(
            selection.missing_keys,
            [
                "iam-signing-keys lacks data key old.key (named by spec.tokenIssuer.jwt.issuers[1].signingKey)"
            ]
        );

        let selection = generic_selection(&spec, named("other", &[]), &GENERIC_PRESENT).unwrap();
        assert_eq!(selection.missing, ["iam-signing-keys"]);
        assert_eq!(
            selection.describe(&selection.missing),
            "iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret)"
        );
    }

    /// Tetrate's example signs with the front door's key: `tsb-certs` is
    /// carried once, and `tsb-iam-jwks` is optional.
    #[test]
    fn signing_keys_in_tsb_certs_are_carried_once() {
        let spec = serde_json::json!({"tokenIssuer": {"jwt": {
            "signingKeysSecret": "tsb-certs",
            "issuers": [{"name": "tsb", "algorithm": "RS256", "signingKey": "tls.key"}],
        }}});
        let certs = named("tsb-certs", &[("tls.key", b"pem"), ("tls.crt", b"pem")]);
        let selection = generic_selection(
            &spec,
            certs,
            &[
                "admin-credentials",
                "postgres-credentials",
                "xcp-central-cert",
            ],
        )
        .unwrap();
        let chosen = names_of(&selection.chosen);
        assert_eq!(
            chosen.iter().filter(|name| **name == "tsb-certs").count(),
            1,
            "{chosen:?}"
        );
        assert!(selection.missing.is_empty() && selection.missing_keys.is_empty());
        assert!(
            selection
                .absent_optional
                .contains(&"tsb-iam-jwks".to_string()),
            "{:?}",
            selection.absent_optional
        );
    }

    /// The helm model follows its release values' `spec`.
    #[test]
    fn the_helm_model_follows_the_values_spec() {
        let layout = TsbLayout::default();
        let values =
            serde_json::json!({"spec": {"tokenIssuer": {"jwt": {"signingKeysSecret": "my-keys"}}}});
        let secrets = helm_namespace(values, &["iam-signing-key", "my-keys"]);
        let selection =
            select_secrets(&secrets, &layout, Model::Helm, "mp", None, &[], &[]).unwrap();
        assert_eq!(names_of(&selection.chosen), ["my-keys"]);
    }
}
