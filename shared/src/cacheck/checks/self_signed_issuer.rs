//! `kubectl mp-cacheck`: both Management Planes must chain to one root CA
//! (the runbook's CA caution), as checks a user can trust before and after
//! a failover, and as a library the other plugins call.
//!
//! Reading is separate from judging: [`read_cluster`] lists what one cluster
//! holds (one request: the Secrets of the MP namespace) and [`check`] judges
//! already-fetched snapshots without any I/O, so the same checks run on
//! clusters, on export bundles, and in unit tests. cert-manager is judged
//! from what it leaves on Secrets (its annotations, and the certificates'
//! signatures), never from its own resources: reading those would cost
//! three more requests per cluster and RBAC on cert-manager's API.

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use serde::Serialize;

use crate::error::{EXIT_CODES_HELP, Error, Exit, Result};
use crate::kube::cluster::{Cluster, ClusterPair};
use crate::secrets::bundle::Bundle;
use crate::secrets::certs::{self, Certificate, ChainEnd, KeyMatch};
use crate::secrets::redact::secret_values;
use crate::tsb::layout::TsbLayout;
use crate::ui::cli::{ConnectionArgs, OutputArgs, VERSION};
use crate::ui::output::{CheckStatus, OutputFormat, Ui, write_data};

/// The version of the `-o json|yaml` document; bumped on any breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// Certificates expiring sooner than this are a warning.
pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 30;

/// The secrets whose leaf must carry the floating DNS name clients use: the
/// MP front (API, UI, tctl) and XCP central (control planes).
pub const DEFAULT_DNS_NAME_SECRETS: [&str; 2] = ["tsb-certs", "xcp-central-cert"];

const SECONDS_PER_DAY: i64 = 86_400;

/// The annotations cert-manager puts on every Secret a Certificate fills.
const CERTIFICATE_NAME_ANNOTATION: &str = "cert-manager.io/certificate-name";
const ISSUER_NAME_ANNOTATION: &str = "cert-manager.io/issuer-name";
const ISSUER_KIND_ANNOTATION: &str = "cert-manager.io/issuer-kind";

/// Where cert-manager writes a Certificate's leaf and its chain.
const TLS_CRT: &str = "tls.crt";

/// The runbook's own words, quoted in the self-signed issuer hint.
const RUNBOOK_CAUTION: &str = "the runbook: \"Do not use an auto-generated (e.g., by cert-manager) Root CA in each MP instance to procure TLS certificates for TSB, XCP, ElasticSearch and Postgres. If you have to use a self-signed CA, provide it explicitly as part of each Management Plane deployment.\" Both MPs would get out of sync once one rotates its root";

const EXAMPLES: &str = "\
Examples:
  # Cluster connection: compare the active and the standby Management Planes
  kubectl mp-cacheck --active-context active --standby-context standby -n tsb

  # Cluster connection: one cluster on its own (e.g. before the standby exists)
  kubectl mp-cacheck --context active --dns-name tsb.example.com

  # Offline: an export bundle against the standby cluster, or against another bundle
  kubectl mp-cacheck --bundle active-secrets.yaml --context standby
  kubectl mp-cacheck --bundle active-secrets.yaml --bundle standby-secrets.yaml

  # Checks: the floating DNS name, and warnings as failures
  kubectl mp-cacheck --active-context active --standby-context standby --dns-name tsb.example.com --strict

  # Output: the check results as JSON for a script
  kubectl mp-cacheck --active-context active --standby-context standby -o json";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mp-cacheck",
    bin_name = "kubectl mp-cacheck",
    version = VERSION,
    about = "Check that both TSB Management Planes chain to the same root CA (the runbook's CA caution)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Context of the ACTIVE Management Plane cluster
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub active_context: Option<String>,

    /// Context of the STANDBY Management Plane cluster
    #[arg(long, value_name = "CONTEXT", help_heading = "Cluster connection")]
    pub standby_context: Option<String>,

    /// One cluster: alone, or the standby side against --bundle
    #[arg(
        long,
        value_name = "CONTEXT",
        conflicts_with_all = ["active_context", "standby_context"],
        help_heading = "Cluster connection"
    )]
    pub context: Option<String>,

    /// An export bundle (from kubectl mp-export; - for stdin) read instead of a cluster; the first is the active side, a second the standby side
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append, help_heading = "Offline")]
    pub bundle: Vec<String>,

    /// age identity file to open encrypted bundles (from kubectl mp-export --encrypt-to)
    #[arg(long, value_name = "FILE", help_heading = "Offline")]
    pub identity: Option<std::path::PathBuf>,

    /// The floating DNS name clients use for the MP: the leaves of --dns-name-secrets must cover it (skipped when not given)
    #[arg(long, value_name = "NAME", help_heading = "Checks")]
    pub dns_name: Option<String>,

    /// Secrets whose leaf certificate must cover --dns-name
    #[arg(
        long,
        value_name = "SECRET,...",
        value_delimiter = ',',
        default_values_t = DEFAULT_DNS_NAME_SECRETS.map(String::from),
        help_heading = "Checks"
    )]
    pub dns_name_secrets: Vec<String>,

    /// Warn about certificates expiring within this many days
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_EXPIRY_WARNING_DAYS, help_heading = "Checks")]
    pub expiry_warning_days: i64,

    /// Exit 1 on warnings too
    #[arg(long, help_heading = "Checks")]
    pub strict: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// What the checks are tuned with.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub dns_name: Option<String>,
    pub dns_name_secrets: Vec<String>,
    pub expiry_warning_days: i64,
    /// "Now", Unix seconds: fixed by the caller so results are reproducible.
    pub now: i64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dns_name: None,
            dns_name_secrets: DEFAULT_DNS_NAME_SECRETS.map(String::from).to_vec(),
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            now: jiff::Timestamp::now().as_second(),
        }
    }
}

/// Where a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Origin {
    #[serde(rename_all = "camelCase")]
    Context {
        context: String,
        server: String,
        namespace: String,
    },
    #[serde(rename_all = "camelCase")]
    Bundle {
        path: String,
        /// The context and namespace it was exported from.
        context: String,
        namespace: String,
        exported_at: String,
    },
}

impl Origin {
    fn is_bundle(&self) -> bool {
        matches!(self, Origin::Bundle { .. })
    }
}

/// One Management Plane's certificate material, however it was read.
#[derive(Debug, Clone)]
pub struct MpSnapshot {
    /// `active`, `standby`, or `cluster`/`bundle` when checking one alone.
    pub role: String,
    pub origin: Origin,
    pub secrets: Vec<Secret>,
}

impl MpSnapshot {
    /// The Secret called `name`, if the snapshot has it.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|secret| secret.metadata.name.as_deref() == Some(name))
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub id: String,
    pub status: CheckStatus,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Root CA fingerprints by role (`active`, `standby`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprints: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// Where each side was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    pub role: String,
    #[serde(flatten)]
    pub origin: Origin,
}

/// Every check, in order, and the counts: the `-o json|yaml` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub sources: Vec<SourceInfo>,
    pub checks: Vec<CheckResult>,
    pub summary: Summary,
}

impl Report {
    fn new(sources: Vec<SourceInfo>, checks: Vec<CheckResult>) -> Self {
        let mut summary = Summary::default();
        for check in &checks {
            match check.status {
                CheckStatus::Pass => summary.pass += 1,
                CheckStatus::Warn => summary.warn += 1,
                CheckStatus::Fail => summary.fail += 1,
            }
        }
        Report {
            schema_version: SCHEMA_VERSION,
            sources,
            checks,
            summary,
        }
    }

    /// 0 when nothing failed (and, with `strict`, nothing warned); else 1.
    pub fn exit(&self, strict: bool) -> Exit {
        if self.summary.fail > 0 || (strict && self.summary.warn > 0) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// The checks that did not pass.
    pub fn problems(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(|check| check.status != CheckStatus::Pass)
    }
}

/// Check ids, stable for scripts (documented in the README).
mod id {
    pub const SOURCE: &str = "source";
    pub const SECRETS: &str = "certificate-secrets";
    pub const PARSE: &str = "parse";
    pub const CHAIN: &str = "chain";
    pub const EXPIRY: &str = "expiry";
    pub const DNS_NAME: &str = "dns-name";
    pub const KEY_MATCH: &str = "key-match";
    pub const SELF_SIGNED_ISSUER: &str = "self-signed-issuer";
    pub const PRESENT_ON_BOTH: &str = "present-on-both";
    pub const SAME_ROOT: &str = "same-root";
}

impl CheckResult {
    fn new(id: &str, status: CheckStatus, title: impl Into<String>) -> Self {
        CheckResult {
            id: id.into(),
            status,
            title: title.into(),
            cluster: None,
            secret: None,
            key: None,
            fingerprints: None,
            hint: None,
        }
    }

    fn cluster(mut self, role: &str) -> Self {
        self.cluster = Some(role.into());
        self
    }

    fn secret(mut self, name: &str) -> Self {
        self.secret = Some(name.into());
        self
    }

    fn key(mut self, key: &str) -> Self {
        self.key = Some(key.into());
        self
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn fingerprints(mut self, fingerprints: BTreeMap<String, Vec<String>>) -> Self {
        self.fingerprints = Some(fingerprints);
        self
    }
}

// ---------------------------------------------------------------------------
// Reading

/// Reads one cluster: the Secrets of the MP namespace, in one list (every
/// check judges the whole list).
pub async fn read_cluster(cluster: &Cluster, role: &str) -> Result<MpSnapshot> {
    let namespace = cluster.namespace();
    let secrets = cluster
        .namespaced::<Secret>()
        .list(&ListParams::default())
        .await
        .map_err(|error| cluster.error(error, &format!("list secrets in namespace {namespace}")))?
        .items;
    Ok(MpSnapshot {
        role: role.into(),
        origin: Origin::Context {
            context: cluster.context().into(),
            server: cluster.server().into(),
            namespace: namespace.into(),
        },
        secrets,
    })
}

/// A bundle as a snapshot: its Secrets, with the annotations the export keeps.
pub fn bundle_snapshot(bundle: Bundle, path: &str, role: &str) -> MpSnapshot {
    MpSnapshot {
        role: role.into(),
        origin: Origin::Bundle {
            path: path.into(),
            context: bundle.provenance.context,
            namespace: bundle.provenance.namespace,
            exported_at: bundle.provenance.exported_at,
        },
        secrets: bundle.secrets,
    }
}

// ---------------------------------------------------------------------------
// Judging

/// The root a secret's certificates lead to, as compared between MPs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RootId {
    /// A self-signed root in the secret: its fingerprint.
    Certificate { fingerprint: String },
    /// The chain's top issuer is not in the secret: compared by its name.
    IssuerName { issuer: String },
}

impl RootId {
    fn shown(&self) -> String {
        match self {
            RootId::Certificate { fingerprint } => format!("sha256 {fingerprint}"),
            RootId::IssuerName { issuer } => format!("issuer {issuer} (not in the secret)"),
        }
    }
}

/// One certificate-bearing key of a secret.
struct CertKey {
    key: String,
    certificates: Vec<Certificate>,
}

impl CertKey {
    /// A key whose first certificate is not a CA holds a leaf and its chain.
    fn leaf(&self) -> Option<&Certificate> {
        self.certificates.first().filter(|first| !first.is_ca)
    }
}

/// What one secret holds, parsed.
struct SecretCerts {
    name: String,
    keys: Vec<CertKey>,
    roots: BTreeMap<RootId, String>,
    /// What cert-manager's annotations say, when it wrote the secret.
    written: Option<Written>,
}

/// A secret cert-manager wrote, as its annotations describe it.
struct Written {
    /// The Certificate that filled it.
    certificate: String,
    /// The issuer that signed it, as `Issuer xcp-identity-issuer`.
    issuer: String,
}

fn written_by_cert_manager(secret: &Secret) -> Option<Written> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let certificate = annotations.get(CERTIFICATE_NAME_ANNOTATION)?.clone();
    // cert-manager's own default for an issuerRef without a kind.
    let kind = annotations
        .get(ISSUER_KIND_ANNOTATION)
        .map_or("Issuer", String::as_str);
    let name = annotations
        .get(ISSUER_NAME_ANNOTATION)
        .map_or("(unnamed)", String::as_str);
    Some(Written {
        certificate,
        issuer: format!("{kind} {name}"),
    })
}

/// Checks one or two snapshots: every certificate-bearing secret of each,
/// cert-manager's issuers, and, with two, whether both lead to the same roots.
pub fn check(layout: &TsbLayout, options: &CheckOptions, snapshots: &[MpSnapshot]) -> Report {
    let mut checks = Vec::new();
    let mut parsed = Vec::new();
    for snapshot in snapshots {
        let paired = snapshots.len() == 2;
        parsed.push(check_snapshot(
            layout,
            options,
            snapshot,
            paired,
            &mut checks,
        ));
    }
    if let [first, second] = snapshots {
        compare(first, &parsed[0], second, &parsed[1], &mut checks);
    }
    let sources = snapshots
        .iter()
        .map(|snapshot| SourceInfo {
            role: snapshot.role.clone(),
            origin: snapshot.origin.clone(),
        })
        .collect();
    Report::new(sources, checks)
}

/// The names of the secrets to check: the layout's certificate secrets and
/// every secret cert-manager wrote.
fn certificate_secret_names(layout: &TsbLayout, snapshot: &MpSnapshot) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = layout.certificate_secrets.iter().cloned().collect();
    for secret in &snapshot.secrets {
        if written_by_cert_manager(secret).is_some()
            && let Some(name) = &secret.metadata.name
        {
            names.insert(name.clone());
        }
    }
    names
}

fn check_snapshot(
    layout: &TsbLayout,
    options: &CheckOptions,
    snapshot: &MpSnapshot,
    paired: bool,
    checks: &mut Vec<CheckResult>,
) -> Vec<SecretCerts> {
    let role = snapshot.role.as_str();
    // A side of a pair says which side it is.
    let prefix = if paired {
        format!("{role} ")
    } else {
        String::new()
    };
    let source = match &snapshot.origin {
        Origin::Context {
            context,
            server,
            namespace,
        } => format!("{prefix}context {context:?} reachable: {server}, namespace {namespace}"),
        Origin::Bundle {
            path,
            context,
            namespace,
            exported_at,
        } => format!(
            "{prefix}bundle {path} read: exported from context {context:?}, namespace {namespace}, at {exported_at}"
        ),
    };
    checks.push(
        CheckResult::new(
            id::SOURCE,
            CheckStatus::Pass,
            format!("{source}: {} secrets", snapshot.secrets.len()),
        )
        .cluster(role),
    );

    let wanted = certificate_secret_names(layout, snapshot);
    let mut found = Vec::new();
    // Collected apart so the list of secrets comes before their checks.
    let mut secret_checks = Vec::new();
    for secret in &snapshot.secrets {
        let Some(name) = secret.metadata.name.as_deref() else {
            continue;
        };
        if !wanted.contains(name) {
            continue;
        }
        if let Some(certs) = check_secret(options, role, name, secret, &mut secret_checks) {
            found.push(certs);
        }
    }
    let mut names: Vec<&str> = found.iter().map(|certs| certs.name.as_str()).collect();
    names.sort_unstable();
    let listed = if names.is_empty() {
        CheckResult::new(
            id::SECRETS,
            CheckStatus::Warn,
            format!("no certificate-bearing secret on {role}"),
        )
        .hint(format!(
            "looked for {} and cert-manager's; check -n/--namespace, or that the MP is installed there",
            layout.certificate_secrets.join(", ")
        ))
    } else {
        CheckResult::new(
            id::SECRETS,
            CheckStatus::Pass,
            format!(
                "certificate-bearing secrets on {role}: {}",
                names.join(", ")
            ),
        )
    };
    checks.push(listed.cluster(role));
    checks.append(&mut secret_checks);
    check_cert_manager(layout, snapshot, &found, checks);
    found
}

/// Parses a secret's certificate keys and checks its chains, expiry, names
/// and key pairs. `None` when the secret holds no certificate.
fn check_secret(
    options: &CheckOptions,
    role: &str,
    name: &str,
    secret: &Secret,
    checks: &mut Vec<CheckResult>,
) -> Option<SecretCerts> {
    let values = secret_values(secret);
    let mut keys = Vec::new();
    for (key, value) in &values {
        if !certs::holds_certificate(value) {
            continue;
        }
        match certs::parse_pem_certificates(value) {
            Ok(certificates) => keys.push(CertKey {
                key: key.clone(),
                certificates,
            }),
            Err(problem) => checks.push(
                CheckResult::new(
                    id::PARSE,
                    CheckStatus::Fail,
                    format!("{name}/{key} on {role}: certificates do not parse: {problem}"),
                )
                .cluster(role)
                .secret(name)
                .key(key)
                .hint(format!(
                    "replace {key} of secret {name} with PEM certificates (openssl x509 -in FILE -noout -text reads them)"
                )),
            ),
        }
    }
    if keys.is_empty() {
        return None;
    }
    let private_keys: Vec<String> = values
        .iter()
        .filter(|(_, value)| certs::holds_private_key(value))
        .map(|(key, _)| key.clone())
        .collect();
    let candidates: Vec<Certificate> = keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();

    let mut roots = BTreeMap::new();
    for key in &keys {
        match key.leaf() {
            Some(leaf) => {
                let chain = certs::build_chain(leaf, &candidates);
                checks.push(chain_check(role, name, &key.key, &chain));
                let (root, shown) = root_of(&chain);
                roots.insert(root, shown);
            }
            None => {
                // A CA bundle: every certificate in it is a root, or leads to one.
                for certificate in &key.certificates {
                    let chain = certs::build_chain(certificate, &candidates);
                    let (root, shown) = root_of(&chain);
                    roots.insert(root, shown);
                }
            }
        }
    }
    checks.push(expiry_check(options, role, name, &keys));
    if let Some(dns_name) = &options.dns_name
        && options.dns_name_secrets.iter().any(|wanted| wanted == name)
    {
        checks.extend(
            keys.iter()
                .filter_map(|key| key.leaf().map(|leaf| (key, leaf)))
                .map(|(key, leaf)| dns_name_check(role, name, &key.key, leaf, dns_name)),
        );
    }
    for private_key in &private_keys {
        if let Some(check) = key_match_check(role, name, private_key, &values, &keys) {
            checks.push(check);
        }
    }
    Some(SecretCerts {
        name: name.into(),
        keys,
        roots,
        written: written_by_cert_manager(secret),
    })
}

fn root_of(chain: &certs::Chain) -> (RootId, String) {
    match (&chain.end, chain.root()) {
        (ChainEnd::Root, Some(root)) => (
            RootId::Certificate {
                fingerprint: root.fingerprint.clone(),
            },
            format!("{:?}", root.display_name()),
        ),
        _ => {
            let top = chain.top();
            (
                RootId::IssuerName {
                    issuer: top.issuer.clone(),
                },
                format!("{:?}", top.issuer),
            )
        }
    }
}

fn chain_check(role: &str, name: &str, key: &str, chain: &certs::Chain) -> CheckResult {
    let leaf = chain.path[0].display_name();
    let result = match &chain.end {
        ChainEnd::Root => {
            let root = chain.top();
            CheckResult::new(
                id::CHAIN,
                CheckStatus::Pass,
                format!(
                    "{name}/{key} on {role}: {leaf:?} verifies up to root {:?} ({} certificates)",
                    root.display_name(),
                    chain.path.len()
                ),
            )
            .fingerprints(BTreeMap::from([(
                role.to_string(),
                vec![root.fingerprint.clone()],
            )]))
        }
        ChainEnd::IssuerMissing { issuer } => CheckResult::new(
            id::CHAIN,
            CheckStatus::Warn,
            format!(
                "{name}/{key} on {role}: {leaf:?} verifies up to {:?}, whose issuer {issuer} is not in the secret",
                chain.top().display_name()
            ),
        )
        .hint(format!(
            "the root is compared by name only; add the root CA certificate to secret {name} (key ca.crt) so its fingerprint can be compared"
        )),
        ChainEnd::BadSignature { subject, issuer } => CheckResult::new(
            id::CHAIN,
            CheckStatus::Fail,
            format!("{name}/{key} on {role}: the signature of {subject} does not verify with the key of {issuer}"),
        )
        .hint(format!(
            "secret {name} holds a CA named {issuer} that did not issue {subject}: put the issuing CA's certificate in it, or re-issue {key} from the CA it holds"
        )),
    };
    result.cluster(role).secret(name).key(key)
}

fn date(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|timestamp| timestamp.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("@{unix_seconds}"))
}

fn expiry_check(options: &CheckOptions, role: &str, name: &str, keys: &[CertKey]) -> CheckResult {
    let all = keys.iter().flat_map(|key| {
        key.certificates
            .iter()
            .map(move |certificate| (key.key.as_str(), certificate))
    });
    let not_yet_valid = all
        .clone()
        .find(|(_, certificate)| certificate.not_before > options.now);
    let Some((soonest_key, soonest)) = all.min_by_key(|(_, certificate)| certificate.not_after)
    else {
        return CheckResult::new(
            id::EXPIRY,
            CheckStatus::Pass,
            format!("{name} on {role}: no certificates"),
        );
    };
    let days_left = (soonest.not_after - options.now).div_euclid(SECONDS_PER_DAY);
    let renew = format!(
        "renew it: re-issue the certificate in {soonest_key} of secret {name} (cert-manager: cmctl renew; otherwise from the shared root CA) on BOTH MPs"
    );
    let result = if soonest.not_after <= options.now {
        CheckResult::new(
            id::EXPIRY,
            CheckStatus::Fail,
            format!(
                "{name}/{soonest_key} on {role}: {:?} expired on {}",
                soonest.display_name(),
                date(soonest.not_after)
            ),
        )
        .key(soonest_key)
        .hint(renew)
    } else if let Some((key, early)) = not_yet_valid {
        CheckResult::new(
            id::EXPIRY,
            CheckStatus::Fail,
            format!(
                "{name}/{key} on {role}: {:?} is not valid before {}",
                early.display_name(),
                date(early.not_before)
            ),
        )
        .key(key)
        .hint("check the clock of the machine that issued it, or wait")
    } else if days_left < options.expiry_warning_days {
        CheckResult::new(
            id::EXPIRY,
            CheckStatus::Warn,
            format!(
                "{name}/{soonest_key} on {role}: {:?} expires in {days_left} days ({})",
                soonest.display_name(),
                date(soonest.not_after)
            ),
        )
        .key(soonest_key)
        .hint(renew)
    } else {
        CheckResult::new(
            id::EXPIRY,
            CheckStatus::Pass,
            format!(
                "{name} on {role}: certificates valid until at least {} ({days_left} days)",
                date(soonest.not_after)
            ),
        )
    };
    result.cluster(role).secret(name)
}

fn dns_name_check(
    role: &str,
    name: &str,
    key: &str,
    leaf: &Certificate,
    dns_name: &str,
) -> CheckResult {
    let result = if leaf.covers_name(dns_name) {
        CheckResult::new(
            id::DNS_NAME,
            CheckStatus::Pass,
            format!("{name}/{key} on {role}: covers {dns_name}"),
        )
    } else {
        let sans: Vec<String> = leaf
            .dns_names
            .iter()
            .cloned()
            .chain(leaf.ip_addresses.iter().map(ToString::to_string))
            .collect();
        let sans = if sans.is_empty() {
            "no SANs".to_string()
        } else {
            format!("SANs {}", sans.join(", "))
        };
        CheckResult::new(
            id::DNS_NAME,
            CheckStatus::Fail,
            format!("{name}/{key} on {role}: does not cover {dns_name} ({sans})"),
        )
        .hint(format!(
            "clients reach the MP as {dns_name}: re-issue {key} of secret {name} with {dns_name} among its DNS SANs (it may keep the MP's own name too)"
        ))
    };
    result.cluster(role).secret(name).key(key)
}

/// The certificate key a private key belongs to: `tls.key` → `tls.crt`,
/// `x.key` → `x.crt`/`x.cert`/`x.pem`, `clientkey` → `clientcert`; else the
/// secret's only leaf.
fn paired_certificate_key<'a>(private_key: &str, keys: &'a [CertKey]) -> Option<&'a CertKey> {
    let stem = private_key
        .strip_suffix(".key")
        .map(|stem| (stem, "."))
        .or_else(|| private_key.strip_suffix("key").map(|stem| (stem, "")));
    if let Some((stem, dot)) = stem {
        for suffix in ["crt", "cert", "pem"] {
            let candidate = format!("{stem}{dot}{suffix}");
            if let Some(found) = keys.iter().find(|key| key.key == candidate) {
                return Some(found);
            }
        }
    }
    let mut leaves = keys.iter().filter(|key| key.leaf().is_some());
    match (leaves.next(), leaves.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

fn key_match_check(
    role: &str,
    name: &str,
    private_key: &str,
    values: &BTreeMap<String, Vec<u8>>,
    keys: &[CertKey],
) -> Option<CheckResult> {
    let certificate_key = paired_certificate_key(private_key, keys)?;
    let certificate = certificate_key.certificates.first()?;
    let pem = values.get(private_key)?;
    let pair = format!("{name}/{private_key} and {}", certificate_key.key);
    let result = match certs::key_matches(pem, certificate) {
        KeyMatch::Matches => CheckResult::new(
            id::KEY_MATCH,
            CheckStatus::Pass,
            format!("{pair} on {role}: the key is the certificate's"),
        ),
        KeyMatch::Mismatch => CheckResult::new(
            id::KEY_MATCH,
            CheckStatus::Fail,
            format!(
                "{pair} on {role}: {private_key} is not the key of {:?} ({} certificate)",
                certificate.display_name(),
                certs::key_algorithm(certificate)
            ),
        )
        .hint(format!(
            "TLS with this secret will fail: write the certificate and its own key together into {name} (re-issue both, or restore the matching {private_key})"
        )),
        KeyMatch::Unknown(why) => CheckResult::new(
            id::KEY_MATCH,
            CheckStatus::Warn,
            format!("{pair} on {role}: cannot compare: {private_key} is {why}"),
        )
        .hint(format!("compare by hand: openssl x509 -noout -pubkey of {} and openssl pkey -pubout of {private_key}", certificate_key.key)),
    };
    Some(result.cluster(role).secret(name).key(private_key))
}

/// `tls.crt`'s first certificate: the one cert-manager issued into the secret.
fn issued(certs: &SecretCerts) -> Option<&Certificate> {
    certs
        .keys
        .iter()
        .find(|key| key.key == TLS_CRT)
        .and_then(|key| key.certificates.first())
}

/// The secret (its index in `found`) of the first of `signers` that the
/// secret at `index` leads to: one of its certificates is that signer, or
/// verifies up to it through the certificates it holds. The leaf's chain is
/// tried first, so a leaf names the CA that issued it even when its `ca.crt`
/// holds the root above that CA. A secret's own certificate does not count:
/// a CA secret is fed by the one above it.
fn signer_of(
    found: &[SecretCerts],
    index: usize,
    signers: &[(usize, &Certificate)],
) -> Option<usize> {
    let certs = &found[index];
    let others: Vec<(usize, &Certificate)> = signers
        .iter()
        .copied()
        .filter(|(owner, _)| *owner != index)
        .collect();
    let mut candidates: Vec<Certificate> = certs
        .keys
        .iter()
        .flat_map(|key| key.certificates.iter().cloned())
        .collect();
    candidates.extend(others.iter().map(|(_, signer)| (*signer).clone()));
    let (leaves, bundles): (Vec<&CertKey>, Vec<&CertKey>) =
        certs.keys.iter().partition(|key| key.leaf().is_some());
    leaves
        .into_iter()
        .chain(bundles)
        .flat_map(|key| &key.certificates)
        .find_map(|certificate| {
            certs::build_chain(certificate, &candidates)
                .path
                .iter()
                .find_map(|step| {
                    others
                        .iter()
                        .find(|(_, signer)| signer.fingerprint == step.fingerprint)
                        .map(|(owner, _)| *owner)
                })
        })
}

/// A root cert-manager generated and what it signs.
struct AutoGeneratedRoot {
    /// `Issuer xcp-trust-anchor (selfSigned) → Certificate … → …`
    description: String,
    /// The secret holding the root and every secret that leads to it.
    secrets: Vec<String>,
}

/// Every root cert-manager generated itself, found from the secrets alone:
/// a secret cert-manager wrote whose `tls.crt` signs itself, which only a
/// selfSigned issuer makes it write. What such a root feeds is followed by
/// signature, through the CA secrets cert-manager issued under it, so that
/// a renamed or extra CA Issuer cannot hide a secret.
fn auto_generated_roots(layout: &TsbLayout, found: &[SecretCerts]) -> Vec<AutoGeneratedRoot> {
    // The MP's own certificates in the layout's order, then the others by name.
    let shown_order = |name: &str| {
        let position = layout
            .certificate_secrets
            .iter()
            .position(|known| known == name);
        (position.unwrap_or(usize::MAX), name.to_string())
    };
    let mut roots = Vec::new();
    for (root_index, root) in found.iter().enumerate() {
        let (Some(written), Some(certificate)) = (&root.written, issued(root)) else {
            continue;
        };
        if !certificate.is_self_signed() {
            continue;
        }
        // The root, then every CA cert-manager issued under it: they sign for it.
        let mut signers = vec![(root_index, certificate)];
        loop {
            let before = signers.len();
            for (index, certs) in found.iter().enumerate() {
                let Some(ca) = issued(certs).filter(|ca| ca.is_ca) else {
                    continue;
                };
                if certs.written.is_some()
                    && !signers.iter().any(|(owner, _)| *owner == index)
                    && signer_of(found, index, &signers).is_some()
                {
                    signers.push((index, ca));
                }
            }
            if signers.len() == before {
                break;
            }
        }
        // Each secret the root feeds, with the secret of the signer above it.
        let fed: Vec<(usize, usize)> = (0..found.len())
            .filter(|index| *index != root_index)
            .filter_map(|index| signer_of(found, index, &signers).map(|by| (index, by)))
            .collect();

        let mut steps = vec![
            format!("{} (selfSigned)", written.issuer),
            format!(
                "Certificate {} ({}secret {})",
                written.certificate,
                if certificate.is_ca { "isCA, " } else { "" },
                root.name
            ),
        ];
        for (signer, _) in &signers {
            // By the issuer cert-manager names; None: not written by cert-manager.
            let mut by_issuer: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
            for (index, _) in fed.iter().filter(|(_, by)| by == signer) {
                let certs = &found[*index];
                by_issuer
                    .entry(
                        certs
                            .written
                            .as_ref()
                            .map(|written| written.issuer.as_str()),
                    )
                    .or_default()
                    .push(&certs.name);
            }
            for (issuer, mut names) in by_issuer {
                names.sort_by_key(|name| shown_order(name));
                let names = names.join(", ");
                steps.push(match issuer {
                    Some(issuer) => format!("{issuer} (ca) → secrets {names}"),
                    None => format!("secrets {names} (not written by cert-manager)"),
                });
            }
        }
        let secrets: BTreeSet<String> = std::iter::once(root.name.clone())
            .chain(fed.iter().map(|(index, _)| found[*index].name.clone()))
            .collect();
        roots.push(AutoGeneratedRoot {
            description: steps.join(" → "),
            secrets: secrets.into_iter().collect(),
        });
    }
    roots
}

fn check_cert_manager(
    layout: &TsbLayout,
    snapshot: &MpSnapshot,
    found: &[SecretCerts],
    checks: &mut Vec<CheckResult>,
) {
    let role = snapshot.role.as_str();
    let roots = auto_generated_roots(layout, found);
    if roots.is_empty() {
        let mut written: Vec<&str> = found
            .iter()
            .filter(|certs| certs.written.is_some())
            .map(|certs| certs.name.as_str())
            .collect();
        written.sort_unstable();
        let looked_at = if written.is_empty() {
            "none written by cert-manager".to_string()
        } else {
            format!(
                "cert-manager wrote {}, none self-signed",
                written.join(", ")
            )
        };
        checks.push(
            CheckResult::new(
                id::SELF_SIGNED_ISSUER,
                CheckStatus::Pass,
                format!(
                    "cert-manager on {role}: no auto-generated root CA among {} secrets ({looked_at})",
                    snapshot.secrets.len()
                ),
            )
            .cluster(role),
        );
    }
    for root in roots {
        let secrets = root.secrets.join(", ");
        checks.push(
            CheckResult::new(
                id::SELF_SIGNED_ISSUER,
                CheckStatus::Fail,
                format!(
                    "cert-manager on {role}: an auto-generated self-signed root CA feeds {secrets}: {}",
                    root.description
                ),
            )
            .cluster(role)
            .hint(format!(
                "{RUNBOOK_CAUTION}. Instead: create the root CA once, store it as the same Secret on both MPs, point a CA Issuer (spec.ca.secretName) at it in place of the selfSigned chain, and re-issue {secrets}; or use a well-known third-party CA"
            )),
        );
    }
}

fn compare(
    first: &MpSnapshot,
    first_certs: &[SecretCerts],
    second: &MpSnapshot,
    second_certs: &[SecretCerts],
    checks: &mut Vec<CheckResult>,
) {
    let (a, b) = (first.role.as_str(), second.role.as_str());
    let by_name = |all: &'_ [SecretCerts]| -> BTreeMap<String, usize> {
        all.iter()
            .enumerate()
            .map(|(index, certs)| (certs.name.clone(), index))
            .collect()
    };
    let (first_index, second_index) = (by_name(first_certs), by_name(second_certs));
    let names: BTreeSet<&String> = first_index.keys().chain(second_index.keys()).collect();
    for name in names {
        match (first_index.get(name), second_index.get(name)) {
            (Some(&i), Some(&j)) => {
                checks.push(root_comparison(a, &first_certs[i], b, &second_certs[j]))
            }
            (Some(_), None) => checks.push(absent(name, a, b, second)),
            (None, Some(_)) => checks.push(absent(name, b, a, first)),
            (None, None) => {}
        }
    }
}

fn absent(name: &str, present_on: &str, missing_on: &str, missing: &MpSnapshot) -> CheckResult {
    let result = if missing.origin.is_bundle() {
        CheckResult::new(
            id::PRESENT_ON_BOTH,
            CheckStatus::Warn,
            format!("{name}: on {present_on}, not in the {missing_on} bundle; not compared"),
        )
        .hint("a bundle holds the secrets its install model copies; compare the clusters themselves to cover it")
    } else {
        CheckResult::new(
            id::PRESENT_ON_BOTH,
            CheckStatus::Fail,
            format!("{name}: holds certificates on {present_on}, none on {missing_on}"),
        )
        .hint(format!(
            "both MPs need the same certificates: copy {name} from the MP that serves clients today (kubectl mp-export, then kubectl mp-import), or provide it on {missing_on} from the same root CA"
        ))
    };
    result.secret(name)
}

fn root_comparison(a: &str, first: &SecretCerts, b: &str, second: &SecretCerts) -> CheckResult {
    let fingerprints = |certs: &SecretCerts| -> Vec<String> {
        certs
            .roots
            .keys()
            .map(|root| match root {
                RootId::Certificate { fingerprint } => fingerprint.clone(),
                RootId::IssuerName { issuer } => format!("issuer:{issuer}"),
            })
            .collect()
    };
    let shown = |certs: &SecretCerts| -> String {
        certs
            .roots
            .iter()
            .map(|(root, name)| format!("{name} {}", root.shown()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let name = &first.name;
    let key = leaf_key(first).or_else(|| leaf_key(second));
    let recorded = BTreeMap::from([
        (a.to_string(), fingerprints(first)),
        (b.to_string(), fingerprints(second)),
    ]);
    let roots_a: BTreeSet<&RootId> = first.roots.keys().collect();
    let roots_b: BTreeSet<&RootId> = second.roots.keys().collect();
    let mut result = if roots_a == roots_b {
        CheckResult::new(
            id::SAME_ROOT,
            CheckStatus::Pass,
            format!("{name}: same root CA on {a} and {b}: {}", shown(first)),
        )
    } else {
        let key_text = key.map(|key| format!("/{key}")).unwrap_or_default();
        CheckResult::new(
            id::SAME_ROOT,
            CheckStatus::Fail,
            format!("{name}{key_text}: different root CAs on {a} and {b}"),
        )
        .hint(format!(
            "{a} root: {}; {b} root: {}. {}",
            shown(first),
            shown(second),
            if leaf_of(first).is_some() || leaf_of(second).is_some() {
                format!("Clients that trust the {a} root will reject the {b} MP after failover: provide the same root CA to both MPs explicitly and re-issue the {b}'s {name} from it")
            } else {
                format!("Both MPs must trust the same CA: copy {name} from the {a} (kubectl mp-export, then kubectl mp-import), or provide the same CA to both explicitly")
            }
        ))
    };
    result = result.secret(name).fingerprints(recorded);
    match key {
        Some(key) => result.key(key),
        None => result,
    }
}

/// The key holding the secret's leaf (`tls.crt`), if any.
fn leaf_of(certs: &SecretCerts) -> Option<&str> {
    certs
        .keys
        .iter()
        .find(|key| key.leaf().is_some())
        .map(|key| key.key.as_str())
}

/// The key holding the secret's leaf, else its first certificate key.
fn leaf_key(certs: &SecretCerts) -> Option<&str> {
    leaf_of(certs).or_else(|| certs.keys.first().map(|key| key.key.as_str()))
}

// ---------------------------------------------------------------------------
// The command

/// What the flags ask to read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Context(String),
    Bundle(String),
}

/// One side alone, or an (active, standby) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Single(Source),
    Pair(Source, Source),
}

fn plan(cli: &Cli) -> Result<Plan> {
    let usage = || {
        Error::usage("say what to check").with_next_step(
            "pass --active-context A --standby-context B, --context A, or --bundle FILE (optionally with --context B or a second --bundle)",
        )
    };
    if cli.bundle.len() > 2 {
        return Err(Error::usage("--bundle given more than twice")
            .with_next_step("compare at most two bundles (active first, then standby)"));
    }
    let mut bundles = cli.bundle.iter().cloned().map(Source::Bundle);
    if let Some(context) = &cli.context {
        return match (bundles.next(), bundles.next()) {
            (None, _) => Ok(Plan::Single(Source::Context(context.clone()))),
            (Some(bundle), None) => Ok(Plan::Pair(bundle, Source::Context(context.clone()))),
            (Some(_), Some(_)) => Err(Error::usage("--context with two --bundle files")
                .with_next_step("compare a bundle with a cluster, or two bundles, not both")),
        };
    }
    let active = cli
        .active_context
        .clone()
        .map(Source::Context)
        .or_else(|| bundles.next());
    let standby = cli
        .standby_context
        .clone()
        .map(Source::Context)
        .or_else(|| bundles.next());
    if bundles.next().is_some() {
        return Err(
            Error::usage("too many sides: more than one active and one standby")
                .with_next_step("give two of --active-context, --standby-context and --bundle"),
        );
    }
    match (active, standby) {
        (Some(active), Some(standby)) => Ok(Plan::Pair(active, standby)),
        (Some(Source::Bundle(bundle)), None) => Ok(Plan::Single(Source::Bundle(bundle))),
        (Some(Source::Context(_)), None) => Err(Error::usage("--active-context needs a standby")
            .with_next_step(
                "add --standby-context (or --bundle), or use --context to check one cluster alone",
            )),
        (None, Some(_)) => Err(Error::usage("--standby-context needs an active side")
            .with_next_step("add --active-context or --bundle")),
        (None, None) => Err(usage()),
    }
}

async fn read_source(cli: &Cli, source: &Source, role: &str) -> Result<MpSnapshot> {
    let connection = &cli.connection;
    match source {
        Source::Bundle(path) => Bundle::read_with_identity(path, cli.identity.as_deref())
            .map(|bundle| bundle_snapshot(bundle, path, role)),
        Source::Context(context) => {
            let kubeconfig = connection.load_kubeconfig()?;
            let cluster =
                Cluster::connect(&kubeconfig, Some(context), &connection.client_settings()).await?;
            read_cluster(&cluster, role).await
        }
    }
}

async fn read_plan(cli: &Cli, plan: &Plan) -> Result<Vec<MpSnapshot>> {
    let connection = &cli.connection;
    match plan {
        Plan::Single(source) => {
            // Alone, a cluster is named by its context.
            let role = match source {
                Source::Context(context) => context.as_str(),
                Source::Bundle(_) => "bundle",
            };
            Ok(vec![read_source(cli, source, role).await?])
        }
        Plan::Pair(Source::Context(active), Source::Context(standby)) => {
            let kubeconfig = connection.load_kubeconfig()?;
            let pair =
                ClusterPair::connect(&kubeconfig, active, standby, &connection.client_settings())
                    .await?;
            let (active, standby) = crate::error::join_in_order(
                read_cluster(&pair.active, "active"),
                read_cluster(&pair.standby, "standby"),
            )
            .await?;
            Ok(vec![active, standby])
        }
        Plan::Pair(active, standby) => {
            let (active, standby) = crate::error::join_in_order(
                read_source(cli, active, "active"),
                read_source(cli, standby, "standby"),
            )
            .await?;
            Ok(vec![active, standby])
        }
    }
}

/// The checks as text: one line each, a header per side, the hints under
/// the failures, and the counts.
fn show(ui: &Ui, report: &Report) {
    let mut section: Option<&str> = None;
    for check in &report.checks {
        let here = check.cluster.as_deref().unwrap_or("comparison");
        if section != Some(here) {
            let header = match (here, &report.sources[..]) {
                ("comparison", [first, second]) => format!("{} vs {}", first.role, second.role),
                (role, _) => role.to_string(),
            };
            ui.info(&format!(
                "\n{header}\n{}",
                "-".repeat(header.chars().count())
            ));
            section = Some(here);
        }
        ui.check(check.status, &check.title, check.hint.as_deref());
    }
    let summary = report.summary;
    ui.info(&format!(
        "\n{} passed, {} warnings, {} failed",
        summary.pass, summary.warn, summary.fail
    ));
}

pub async fn run(cli: Cli, ui: Ui) -> Result<Exit> {
    let plan = plan(&cli)?;
    let layout = cli.connection.layout()?;
    if cli.expiry_warning_days < 0 {
        return Err(Error::usage("--expiry-warning-days must not be negative"));
    }
    let options = CheckOptions {
        dns_name: cli.dns_name.clone(),
        dns_name_secrets: cli.dns_name_secrets.clone(),
        expiry_warning_days: cli.expiry_warning_days,
        ..CheckOptions::default()
    };
    if options.dns_name.is_none() {
        ui.detail("no --dns-name: the SAN check is skipped");
    }
    let snapshots = read_plan(&cli, &plan).await?;
    let report = check(&layout, &options, &snapshots);
    match cli.output.output {
        OutputFormat::Text => show(&ui, &report),
        format => write_data(&report, format)?,
    }
    Ok(report.exit(cli.strict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use serde_json::Value;

    const FLOATING: &str = "tsb.example.com";

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
        /// What follows a leaf it issues in `tls.crt` (intermediates only).
        chain_pem: String,
        root_pem: String,
    }

    impl Ca {
        fn root(name: &str) -> Ca {
            let params = ca_params(name);
            let key = KeyPair::generate().unwrap();
            let pem = params.self_signed(&key).unwrap().pem();
            Ca {
                issuer: Issuer::new(params, key),
                chain_pem: String::new(),
                root_pem: pem.clone(),
                pem,
            }
        }

        fn intermediate(&self, name: &str) -> Ca {
            let params = ca_params(name);
            let key = KeyPair::generate().unwrap();
            let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
            Ca {
                issuer: Issuer::new(params, key),
                chain_pem: format!("{pem}{}", self.chain_pem),
                root_pem: self.root_pem.clone(),
                pem,
            }
        }

        /// (tls.crt with intermediates, tls.key)
        fn leaf(&self, names: &[&str]) -> (String, String) {
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, "leaf");
            // Sooner than the CAs (rcgen's default runs to 4096), as leaves are.
            params.not_before = rcgen::date_time_ymd(2025, 1, 1);
            params.not_after = rcgen::date_time_ymd(2035, 1, 1);
            let key = KeyPair::generate().unwrap();
            let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
            (format!("{pem}{}", self.chain_pem), key.serialize_pem())
        }

        /// The CA's own secret, as cert-manager writes one for an isCA
        /// Certificate (and as a CA Issuer reads it): tls.crt with what is
        /// above it, its key, the root in ca.crt.
        fn ca_secret(&self, name: &str) -> Secret {
            let crt = if self.chain_pem.is_empty() {
                &self.pem
            } else {
                &self.chain_pem
            };
            secret(
                name,
                &[
                    ("tls.crt", crt),
                    ("tls.key", &self.issuer.key().serialize_pem()),
                    ("ca.crt", &self.root_pem),
                ],
            )
        }

        fn tls_secret(&self, name: &str, names: &[&str]) -> Secret {
            let (crt, key) = self.leaf(names);
            secret(
                name,
                &[
                    ("tls.crt", &crt),
                    ("tls.key", &key),
                    ("ca.crt", &self.root_pem),
                ],
            )
        }
    }

    fn ca_params(name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.data = Some(
            data.iter()
                .map(|(key, value)| (key.to_string(), ByteString(value.as_bytes().to_vec())))
                .collect(),
        );
        secret
    }

    /// The MP's secrets, all from `ca`: tsb-certs and xcp-central-cert with
    /// the floating name, es-certs with the root only.
    fn mp_secrets(ca: &Ca) -> Vec<Secret> {
        vec![
            ca.tls_secret("tsb-certs", &[FLOATING, "active.example.com"]),
            ca.tls_secret("xcp-central-cert", &[FLOATING, "central.xcp.tetrate.io"]),
            secret("es-certs", &[("ca.crt", &ca.root_pem)]),
            secret("admin-credentials", &[("admin", "not-a-certificate")]),
        ]
    }

    /// `secret` with the annotations cert-manager writes for a Certificate
    /// of the same name issued by `issuer` (`Issuer x` or `ClusterIssuer x`).
    fn written(mut secret: Secret, issuer: &str) -> Secret {
        let (kind, issuer_name) = issuer.split_once(' ').unwrap();
        let certificate = secret.metadata.name.clone().unwrap();
        secret.metadata.annotations = Some(BTreeMap::from(
            [
                (CERTIFICATE_NAME_ANNOTATION, certificate.as_str()),
                (ISSUER_NAME_ANNOTATION, issuer_name),
                (ISSUER_KIND_ANNOTATION, kind),
                ("cert-manager.io/issuer-group", "cert-manager.io"),
            ]
            .map(|(key, value)| (key.to_string(), value.to_string())),
        ));
        secret
    }

    fn cluster(role: &str, secrets: Vec<Secret>) -> MpSnapshot {
        MpSnapshot {
            role: role.into(),
            origin: Origin::Context {
                context: role.into(),
                server: format!("https://{role}.example:6443"),
                namespace: "tsb".into(),
            },
            secrets,
        }
    }

    fn options() -> CheckOptions {
        CheckOptions {
            dns_name: Some(FLOATING.into()),
            ..CheckOptions::default()
        }
    }

    fn run(snapshots: &[MpSnapshot], options: &CheckOptions) -> Report {
        check(&TsbLayout::default(), options, snapshots)
    }

    fn find<'a>(
        report: &'a Report,
        id: &str,
        secret: Option<&str>,
        cluster: Option<&str>,
    ) -> Vec<&'a CheckResult> {
        report
            .checks
            .iter()
            .filter(|check| check.id == id)
            .filter(|check| secret.is_none() || check.secret.as_deref() == secret)
            .filter(|check| cluster.is_none() || check.cluster.as_deref() == cluster)
            .collect()
    }

    fn failures(report: &Report) -> Vec<String> {
        report
            .problems()
            .map(|check| format!("{:?} {}", check.status, check.title))
            .collect()
    }

    #[test]
    fn a_shared_root_passes_every_check() {
        let root = Ca::root("Shared Root CA");
        let active = cluster("active", mp_secrets(&root.intermediate("active CA")));
        let standby = cluster("standby", mp_secrets(&root.intermediate("standby CA")));
        let report = run(&[active, standby], &options());
        assert!(failures(&report).is_empty(), "{:#?}", failures(&report));
        assert_eq!(report.exit(true), Exit::Ok);
        for name in ["tsb-certs", "xcp-central-cert", "es-certs"] {
            let same = find(&report, id::SAME_ROOT, Some(name), None);
            assert_eq!(same.len(), 1, "{name}");
            assert!(
                same[0].title.contains("same root CA on active and standby"),
                "{}",
                same[0].title
            );
        }
        let chains = find(&report, id::CHAIN, Some("tsb-certs"), Some("standby"));
        assert!(
            chains[0]
                .title
                .contains("verifies up to root \"Shared Root CA\" (3 certificates)"),
            "{}",
            chains[0].title
        );
        assert_eq!(find(&report, id::KEY_MATCH, None, None).len(), 4);
        assert_eq!(find(&report, id::DNS_NAME, None, None).len(), 4);
        assert!(
            find(&report, id::SECRETS, None, Some("active"))[0]
                .title
                .ends_with("es-certs, tsb-certs, xcp-central-cert")
        );
        assert_eq!(report.summary.fail + report.summary.warn, 0);
        assert_eq!(report.summary.pass, report.checks.len());
    }

    #[test]
    fn a_standby_under_its_own_root_fails_naming_the_secret_and_both_fingerprints() {
        let shared = Ca::root("Shared Root CA");
        let own = Ca::root("Standby Root CA");
        let active = cluster("active", mp_secrets(&shared));
        let mut standby_secrets = mp_secrets(&shared);
        standby_secrets[0] = own.tls_secret("tsb-certs", &[FLOATING]);
        let standby = cluster("standby", standby_secrets);
        let report = run(&[active, standby], &options());
        assert_eq!(report.exit(false), Exit::Failed);
        let problems = failures(&report);
        assert_eq!(
            problems,
            ["Fail tsb-certs/tls.crt: different root CAs on active and standby"],
            "{problems:#?}"
        );
        let check = find(&report, id::SAME_ROOT, Some("tsb-certs"), None)[0];
        assert_eq!(check.key.as_deref(), Some("tls.crt"));
        let shared_fingerprint = certs::parse_pem_certificates(shared.pem.as_bytes()).unwrap()[0]
            .fingerprint
            .clone();
        let own_fingerprint = certs::parse_pem_certificates(own.pem.as_bytes()).unwrap()[0]
            .fingerprint
            .clone();
        let hint = check.hint.as_deref().unwrap();
        assert!(
            hint.contains(&format!(
                "active root: \"Shared Root CA\" sha256 {shared_fingerprint}"
            )),
            "{hint}"
        );
        assert!(
            hint.contains(&format!(
                "standby root: \"Standby Root CA\" sha256 {own_fingerprint}"
            )),
            "{hint}"
        );
        assert!(hint.contains("provide the same root CA to both MPs explicitly and re-issue the standby's tsb-certs"), "{hint}");
        assert_eq!(
            check.fingerprints,
            Some(BTreeMap::from([
                ("active".to_string(), vec![shared_fingerprint]),
                ("standby".to_string(), vec![own_fingerprint]),
            ]))
        );
    }

    #[test]
    fn expired_and_expiring_certificates_fail_and_warn() {
        let root = Ca::root("Root CA");
        let snapshot = cluster("cluster", mp_secrets(&root));
        let leaf = certs::parse_pem_certificates(&secret_values(&snapshot.secrets[0])["tls.crt"])
            .unwrap()[0]
            .clone();
        let soonest = leaf.not_after;

        let expired = CheckOptions {
            now: soonest + 1,
            ..options()
        };
        let report = run(std::slice::from_ref(&snapshot), &expired);
        let check = find(&report, id::EXPIRY, Some("tsb-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(
            check
                .title
                .starts_with("tsb-certs/tls.crt on cluster: \"leaf\" expired on "),
            "{}",
            check.title
        );
        assert!(check.hint.as_deref().unwrap().contains("on BOTH MPs"));
        assert_eq!(report.exit(false), Exit::Failed);

        let expiring = CheckOptions {
            now: soonest - 10 * SECONDS_PER_DAY,
            ..options()
        };
        let report = run(std::slice::from_ref(&snapshot), &expiring);
        let check = find(&report, id::EXPIRY, Some("tsb-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Warn);
        assert!(
            check.title.contains("expires in 10 days"),
            "{}",
            check.title
        );
        assert_eq!(report.exit(false), Exit::Ok, "warnings exit 0");
        assert_eq!(report.exit(true), Exit::Failed, "unless --strict");

        let early = CheckOptions {
            now: leaf.not_before - 1,
            ..options()
        };
        let check = find(
            &run(std::slice::from_ref(&snapshot), &early),
            id::EXPIRY,
            Some("tsb-certs"),
            None,
        )[0]
        .clone();
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(
            check.title.contains("is not valid before"),
            "{}",
            check.title
        );
    }

    #[test]
    fn a_leaf_without_the_floating_name_fails_and_no_name_means_no_check() {
        let root = Ca::root("Root CA");
        let mut secrets = mp_secrets(&root);
        secrets[0] = root.tls_secret("tsb-certs", &["active.example.com"]);
        let snapshot = cluster("cluster", secrets);
        let report = run(std::slice::from_ref(&snapshot), &options());
        let checks = find(&report, id::DNS_NAME, None, None);
        assert_eq!(checks.len(), 2, "tsb-certs and xcp-central-cert only");
        let failed = find(&report, id::DNS_NAME, Some("tsb-certs"), None)[0];
        assert_eq!(failed.status, CheckStatus::Fail);
        assert_eq!(
            failed.title,
            "tsb-certs/tls.crt on cluster: does not cover tsb.example.com (SANs active.example.com)"
        );
        assert!(
            failed
                .hint
                .as_deref()
                .unwrap()
                .contains("re-issue tls.crt of secret tsb-certs with tsb.example.com")
        );

        let without = CheckOptions {
            dns_name: None,
            ..options()
        };
        assert!(find(&run(&[snapshot], &without), id::DNS_NAME, None, None).is_empty());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_fails() {
        let root = Ca::root("Root CA");
        let (crt, _) = root.leaf(&[FLOATING]);
        let (_, other_key) = root.leaf(&[FLOATING]);
        let mut secrets = mp_secrets(&root);
        secrets[0] = secret(
            "tsb-certs",
            &[
                ("tls.crt", &crt),
                ("tls.key", &other_key),
                ("ca.crt", &root.pem),
            ],
        );
        let report = run(&[cluster("cluster", secrets)], &options());
        let check = find(&report, id::KEY_MATCH, Some("tsb-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(check.key.as_deref(), Some("tls.key"));
        assert!(
            check
                .title
                .contains("tls.key is not the key of \"leaf\" (ECDSA certificate)"),
            "{}",
            check.title
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(other_key.lines().nth(1).unwrap()),
            "no key material in the report"
        );
    }

    #[test]
    fn key_pairs_follow_naming_conventions() {
        let keys = |names: &[&str]| -> Vec<CertKey> {
            names
                .iter()
                .map(|name| CertKey {
                    key: name.to_string(),
                    certificates: Vec::new(),
                })
                .collect()
        };
        let all = keys(&["tls.crt", "clientcert", "server.pem"]);
        assert_eq!(
            paired_certificate_key("tls.key", &all).unwrap().key,
            "tls.crt"
        );
        assert_eq!(
            paired_certificate_key("clientkey", &all).unwrap().key,
            "clientcert"
        );
        assert_eq!(
            paired_certificate_key("server.key", &all).unwrap().key,
            "server.pem"
        );
        assert!(
            paired_certificate_key("private.key", &all).is_none(),
            "no leaf to fall back on"
        );
    }

    /// tctl's `--xcp-certs` shape, as cert-manager leaves it in Secrets:
    /// Issuer xcp-trust-anchor (selfSigned) wrote the CA xcp-identity-issuer,
    /// Issuer xcp-identity-issuer (ca) the leaves. tsb-certs and es-certs
    /// come from `shared`.
    fn xcp_self_signed_chain(shared: &Ca) -> Vec<Secret> {
        let identity = Ca::root("xcp-identity-issuer");
        let mut secrets = mp_secrets(shared);
        secrets[1] = written(
            identity.tls_secret("xcp-central-cert", &[FLOATING]),
            "Issuer xcp-identity-issuer",
        );
        secrets.push(written(
            identity.tls_secret("mpc-certs", &["mpc"]),
            "Issuer xcp-identity-issuer",
        ));
        secrets.push(written(
            identity.ca_secret("xcp-identity-issuer"),
            "Issuer xcp-trust-anchor",
        ));
        secrets
    }

    const XCP_CHAIN: &str = "cert-manager on cluster: an auto-generated self-signed root CA feeds mpc-certs, xcp-central-cert, xcp-identity-issuer: Issuer xcp-trust-anchor (selfSigned) → Certificate xcp-identity-issuer (isCA, secret xcp-identity-issuer) → Issuer xcp-identity-issuer (ca) → secrets xcp-central-cert, mpc-certs";

    fn self_signed_issuer(report: &Report) -> Vec<&CheckResult> {
        find(report, id::SELF_SIGNED_ISSUER, None, None)
    }

    #[test]
    fn the_xcp_certs_chain_fails_with_the_runbooks_warning_and_its_secrets_are_checked() {
        let shared = Ca::root("Root CA");
        let report = run(
            &[cluster("cluster", xcp_self_signed_chain(&shared))],
            &options(),
        );
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1, "one root, one failure");
        assert_eq!(checks[0].status, CheckStatus::Fail);
        assert_eq!(checks[0].title, XCP_CHAIN);
        let hint = checks[0].hint.as_deref().unwrap();
        assert!(
            hint.contains(
                "\"Do not use an auto-generated (e.g., by cert-manager) Root CA in each MP instance"
            ),
            "{hint}"
        );
        assert!(
            hint.contains("point a CA Issuer (spec.ca.secretName) at it")
                && hint.ends_with("re-issue mpc-certs, xcp-central-cert, xcp-identity-issuer; or use a well-known third-party CA"),
            "{hint}"
        );
        assert!(
            find(&report, id::CHAIN, Some("mpc-certs"), None)[0]
                .title
                .contains("\"xcp-identity-issuer\""),
            "cert-manager's secrets are checked too"
        );
        assert!(
            !find(&report, id::EXPIRY, Some("xcp-identity-issuer"), None).is_empty(),
            "the root's own secret too"
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            !text.contains("PRIVATE KEY"),
            "no key material in the report"
        );
    }

    #[test]
    fn a_self_signed_leaf_written_by_cert_manager_fails() {
        let root = Ca::root("Root CA");
        let mut params = CertificateParams::new(vec![FLOATING.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "tsb");
        let key = KeyPair::generate().unwrap();
        let crt = params.self_signed(&key).unwrap().pem();
        let mut secrets = mp_secrets(&root);
        secrets[0] = written(
            secret(
                "tsb-certs",
                &[
                    ("tls.crt", &crt),
                    ("tls.key", &key.serialize_pem()),
                    ("ca.crt", &crt),
                ],
            ),
            "ClusterIssuer selfsigned",
        );
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Fail);
        assert_eq!(
            checks[0].title,
            "cert-manager on cluster: an auto-generated self-signed root CA feeds tsb-certs: ClusterIssuer selfsigned (selfSigned) → Certificate tsb-certs (secret tsb-certs)"
        );
    }

    #[test]
    fn what_the_root_feeds_is_followed_by_signature_through_cert_managers_cas() {
        let anchor = Ca::root("cluster root");
        let intermediate = anchor.intermediate("cluster intermediate");
        let user = Ca::root("User Root");
        let mut secrets = mp_secrets(&user);
        secrets.extend([
            written(anchor.ca_secret("cluster-root"), "ClusterIssuer anchor"),
            written(
                intermediate.ca_secret("cluster-intermediate"),
                "ClusterIssuer cluster-root",
            ),
            written(
                intermediate.tls_secret("mpc-certs", &["mpc"]),
                "Issuer intermediate",
            ),
            // Trusts the root without cert-manager.
            secret("custom-host-ca", &[("ca.crt", &anchor.pem)]),
            // Names the intermediate's Issuer, but another CA signed it: names prove nothing.
            written(
                user.tls_secret("decoy-certs", &["decoy"]),
                "Issuer intermediate",
            ),
        ]);
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(
            checks[0].title,
            "cert-manager on cluster: an auto-generated self-signed root CA feeds cluster-intermediate, cluster-root, custom-host-ca, mpc-certs: ClusterIssuer anchor (selfSigned) → Certificate cluster-root (isCA, secret cluster-root) → secrets custom-host-ca (not written by cert-manager) → ClusterIssuer cluster-root (ca) → secrets cluster-intermediate → Issuer intermediate (ca) → secrets mpc-certs"
        );
    }

    #[test]
    fn a_user_provided_root_behind_a_ca_issuer_passes() {
        // The runbook's remedy: the root in a plain Secret, a CA Issuer on it.
        let user = Ca::root("User Root");
        let mut secrets = vec![
            written(user.tls_secret("tsb-certs", &[FLOATING]), "Issuer user-ca"),
            written(
                user.tls_secret("xcp-central-cert", &[FLOATING]),
                "Issuer user-ca",
            ),
            user.ca_secret("user-root-ca"),
        ];
        secrets.extend(mp_secrets(&user).into_iter().skip(2));
        let report = run(&[cluster("cluster", secrets)], &options());
        assert!(failures(&report).is_empty(), "{:#?}", failures(&report));
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Pass);
        assert_eq!(
            checks[0].title,
            "cert-manager on cluster: no auto-generated root CA among 5 secrets (cert-manager wrote tsb-certs, xcp-central-cert, none self-signed)"
        );
    }

    #[test]
    fn secrets_without_cert_managers_annotations_pass() {
        let report = run(
            &[cluster("cluster", mp_secrets(&Ca::root("Root CA")))],
            &options(),
        );
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Pass);
        assert_eq!(
            checks[0].title,
            "cert-manager on cluster: no auto-generated root CA among 4 secrets (none written by cert-manager)"
        );
    }

    #[test]
    fn cert_managers_certificates_under_a_root_it_did_not_make_pass() {
        // An ACME-like issuer: the leaf's root is not in the secret at all;
        // and a CA cert-manager wrote that a user's root signed.
        let public = Ca::root("Public Root");
        let (crt, key) = public.intermediate("Public R1").leaf(&[FLOATING]);
        let user = Ca::root("User Root");
        let mut secrets = mp_secrets(&user);
        secrets[0] = written(
            secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)]),
            "ClusterIssuer letsencrypt",
        );
        secrets.push(written(
            user.intermediate("MP CA").ca_secret("mp-ca"),
            "Issuer user-ca",
        ));
        let report = run(&[cluster("cluster", secrets)], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Pass);
        assert_eq!(
            checks[0].title,
            "cert-manager on cluster: no auto-generated root CA among 5 secrets (cert-manager wrote mp-ca, tsb-certs, none self-signed)"
        );
    }

    #[test]
    fn a_bundle_is_checked_for_cert_managers_root_from_the_annotations_it_keeps() {
        let shared = Ca::root("Root CA");
        // As mp-export writes it (--include xcp-identity-issuer) and as it is read back.
        let provenance = crate::secrets::bundle::Provenance {
            context: "active".into(),
            server: "https://active.example:6443".into(),
            namespace: "tsb".into(),
            model: crate::secrets::bundle::Model::Generic,
            exported_at: "2026-11-25T17:00:00Z".into(),
            tool: "kubectl-mp-export".into(),
        };
        let exported = Bundle::new(
            provenance,
            xcp_self_signed_chain(&shared)
                .into_iter()
                .map(|mut secret| {
                    secret.metadata.namespace = Some("tsb".into());
                    crate::export::clean_secret(&secret)
                })
                .collect(),
        );
        let bundle = Bundle::parse(&exported.render().unwrap(), "active.yaml").unwrap();
        let snapshot = bundle_snapshot(bundle, "active.yaml", "cluster");
        let report = run(&[snapshot], &options());
        let checks = self_signed_issuer(&report);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Fail);
        assert_eq!(checks[0].title, XCP_CHAIN);
    }
    #[test]
    fn a_secret_missing_on_a_cluster_fails_and_missing_from_a_bundle_warns() {
        let root = Ca::root("Root CA");
        let active = cluster("active", mp_secrets(&root));
        let mut standby = cluster("standby", mp_secrets(&root)[..2].to_vec());
        let report = run(&[active.clone(), standby.clone()], &options());
        let check = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(
            check.title,
            "es-certs: holds certificates on active, none on standby"
        );
        let report = run(&[standby.clone(), active.clone()], &options());
        let check = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Fail, "whichever side lacks it");
        assert_eq!(
            check.title,
            "es-certs: holds certificates on active, none on standby"
        );

        standby.origin = Origin::Bundle {
            path: "standby.yaml".into(),
            context: "standby".into(),
            namespace: "tsb".into(),
            exported_at: "2026-11-25T17:00:00Z".into(),
        };
        let report = run(&[active, standby], &options());
        let check = find(&report, id::PRESENT_ON_BOTH, Some("es-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Warn);
        assert_eq!(
            find(&report, id::SELF_SIGNED_ISSUER, None, Some("standby"))[0].title,
            "cert-manager on standby: no auto-generated root CA among 2 secrets (none written by cert-manager)",
            "a bundle is judged as a cluster is"
        );
        assert!(
            find(&report, id::SOURCE, None, Some("standby"))[0]
                .title
                .starts_with("standby bundle standby.yaml read: exported from context \"standby\"")
        );
    }

    #[test]
    fn a_chain_whose_root_is_elsewhere_warns_and_compares_by_issuer_name() {
        let root = Ca::root("Public Root");
        let intermediate = root.intermediate("Public R1");
        let (crt, key) = intermediate.leaf(&[FLOATING]);
        let secret = secret("tsb-certs", &[("tls.crt", &crt), ("tls.key", &key)]);
        let report = run(&[cluster("cluster", vec![secret])], &options());
        let check = find(&report, id::CHAIN, Some("tsb-certs"), None)[0];
        assert_eq!(check.status, CheckStatus::Warn);
        assert!(
            check.title.contains(
                "verifies up to \"Public R1\", whose issuer CN=Public Root is not in the secret"
            ),
            "{}",
            check.title
        );
    }

    #[test]
    fn the_json_document_follows_the_documented_schema() {
        let root = Ca::root("Root CA");
        let own = Ca::root("Own Root");
        let active = cluster("active", mp_secrets(&root));
        let standby = cluster("standby", mp_secrets(&own));
        let report = run(&[active, standby], &options());
        let json: Value = serde_json::from_str(
            &crate::ui::output::render_data(&report, OutputFormat::Json).unwrap(),
        )
        .unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(
            json["sources"][0],
            serde_json::json!({"role": "active", "kind": "context", "context": "active", "server": "https://active.example:6443", "namespace": "tsb"})
        );
        let checks = json["checks"].as_array().unwrap();
        for check in checks {
            let fields: BTreeSet<&str> = check
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                fields.is_subset(&BTreeSet::from([
                    "id",
                    "status",
                    "title",
                    "cluster",
                    "secret",
                    "key",
                    "fingerprints",
                    "hint"
                ])),
                "{fields:?}"
            );
            assert!(["pass", "warn", "fail"].contains(&check["status"].as_str().unwrap()));
        }
        let failed = checks
            .iter()
            .find(|check| check["id"] == "same-root" && check["secret"] == "tsb-certs")
            .unwrap();
        assert_eq!(failed["status"], "fail");
        assert_eq!(failed["key"], "tls.crt");
        assert_eq!(
            failed["fingerprints"]["standby"].as_array().unwrap().len(),
            1
        );
        let es = find(&report, id::SAME_ROOT, Some("es-certs"), None)[0];
        assert!(
            es.hint.as_deref().unwrap().contains(
                "copy es-certs from the active (kubectl mp-export, then kubectl mp-import)"
            ),
            "a CA-only secret is copied, not re-issued"
        );
        let summary = &json["summary"];
        assert_eq!(summary["fail"], 3, "tsb-certs, xcp-central-cert, es-certs");
        assert_eq!(
            summary["pass"].as_u64().unwrap()
                + summary["warn"].as_u64().unwrap()
                + summary["fail"].as_u64().unwrap(),
            checks.len() as u64
        );
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("kubectl-mp-cacheck").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn the_flags_choose_one_side_or_a_pair() {
        let context = |name: &str| Source::Context(name.into());
        let bundle = |path: &str| Source::Bundle(path.into());
        assert_eq!(
            plan(&cli(&["--active-context", "a", "--standby-context", "b"])).unwrap(),
            Plan::Pair(context("a"), context("b"))
        );
        assert_eq!(
            plan(&cli(&["--context", "a"])).unwrap(),
            Plan::Single(context("a"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f"])).unwrap(),
            Plan::Single(bundle("f"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--context", "b"])).unwrap(),
            Plan::Pair(bundle("f"), context("b"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--bundle", "g"])).unwrap(),
            Plan::Pair(bundle("f"), bundle("g"))
        );
        assert_eq!(
            plan(&cli(&["--bundle", "f", "--standby-context", "b"])).unwrap(),
            Plan::Pair(bundle("f"), context("b"))
        );
        for args in [
            &[][..],
            &["--active-context", "a"][..],
            &["--bundle", "f", "--bundle", "g", "--context", "c"][..],
        ] {
            assert_eq!(
                plan(&cli(args)).unwrap_err().exit(),
                Exit::Usage,
                "{args:?}"
            );
        }
        assert!(Cli::try_parse_from(["x", "--context", "a", "--active-context", "b"]).is_err());
        assert_eq!(
            cli(&["--context", "a"]).dns_name_secrets,
            ["tsb-certs", "xcp-central-cert"]
        );
    }
}
