//! What we know about a TSB Management Plane, in one place.
//!
//! Defaults come from Tetrate's documentation (see the README); every name can
//! be overridden with a `--layout FILE` YAML holding only the fields to change,
//! because real installs differ by version and by site.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether the runbook needs a secret to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// The standby cannot serve without it: a missing one stops the export.
    Required,
    /// Taken when present, reported as absent otherwise.
    Optional,
}

/// A secret the runbook copies from the active MP to the standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSpec {
    pub name: String,
    pub requirement: Requirement,
    /// When the secret matters, for messages (e.g. "only with LDAP").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// A Secret the managementplane chart renders from the release's `secrets:`
/// values: when any of `values` is set in the release's user values (the
/// release JSON's `config`), the chart wrote `secret`, so the standby needs
/// it and the helm model carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueSecret {
    /// Dotted paths into the user values (`secrets.tsb.adminPassword`); a
    /// path naming a map (`secrets.postgres`) is set when any value under
    /// it is. Set means what helm's `if` takes as true: a non-empty string,
    /// `true`, a non-zero number.
    pub values: Vec<String>,
    /// The Secret the chart renders from them.
    pub secret: String,
    /// Required (default): a missing one stops the export and fails the
    /// preflight. Optional: for pairings we could only infer, carried and
    /// compared when present, reported as absent otherwise.
    #[serde(default = "required")]
    pub requirement: Requirement,
}

fn required() -> Requirement {
    Requirement::Required
}

/// A Kubernetes resource kind we read by group/version/kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceKind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
}

/// The MP's front door, where its DNS name points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontService {
    pub name: String,
    pub port_name: String,
    pub port: u16,
}

/// The names of everything the plugins touch in a TSB Management Plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TsbLayout {
    /// Helm release name of the managementplane chart.
    pub helm_release: String,
    /// The chart (chart.metadata.name) whose release is the MP when no
    /// release is named `helmRelease`.
    pub helm_chart: String,
    /// Secrets the helm model copies whatever the values (none by default:
    /// the signing keys' secret, generated on first use, is the spec's,
    /// see `signingKeysSecret`).
    pub helm_secrets: Vec<SecretSpec>,
    /// Secrets the helm model copies because the release's `secrets:`
    /// values rendered them ([`ValueSecret`]); the defaults are
    /// [`default_helm_value_secrets`].
    pub helm_value_secrets: Vec<ValueSecret>,
    /// Secrets the generic (tctl) model copies, besides the signing keys'
    /// secret (see `signingKeysSecret`).
    pub generic_secrets: Vec<SecretSpec>,
    /// Secrets carried in either model when they exist.
    pub carried_when_present: Vec<String>,
    /// Secrets holding certificates whose root CA must match on both MPs.
    pub certificate_secrets: Vec<String>,
    /// The operator that reconciles the MP: fenced first, started first.
    pub operator_deployment: String,
    /// The MP's deployments (besides the operator).
    pub mp_deployments: Vec<String>,
    /// Deployments that write to the MP's database.
    pub writer_deployments: Vec<String>,
    /// A CronJob that would restore an old backup over a new primary.
    pub restore_cronjob: String,
    pub front_service: FrontService,
    pub management_plane: ResourceKind,
    /// Usual name of the ManagementPlane resource.
    pub management_plane_name: String,
    pub central_xcp: ResourceKind,
    /// The readiness check (`mp-cacheck --readiness`): ManagementPlane spec
    /// fields, as dotted paths in the spec (under `spec.` in helm values),
    /// that are each MP's own and not compared: the front envoy Service's
    /// per-cluster annotations and load balancer settings (inferred: the
    /// spec's `kubeSpec` overlays, tsb-facts.md "ManagementPlane spec").
    pub spec_may_differ: Vec<String>,
    /// The readiness check: the spec fields that name the MP's Postgres
    /// server (`dataStore.postgres`, tsb-facts.md "PostgreSQL"), not compared
    /// with `--database separate`, where each MP has its own (inferred).
    pub spec_database_fields: Vec<String>,
    /// The workload clusters' control planes, which `mp-failover` makes
    /// follow the MP (`--control-plane-context`).
    pub control_plane: ControlPlaneLayout,
    /// The Secret IAM signs tokens with when the ManagementPlane spec names
    /// none in `spec.tokenIssuer.jwt.signingKeysSecret`: `iam-signing-key`
    /// (Tetrate's MP installation guide, "Configuring Secrets"; the default
    /// of the spec field, Tetrate MP HA guide, "Configure multiple IAM
    /// token validation keys"). Both models carry the secret the spec
    /// names ([`crate::tsb::signing`]), this one only when it names none.
    pub signing_keys_secret: String,
    /// XCP central's key, checked to match on both MPs before a failover
    /// and carried when present: `tsb-iam-jwks` (Tetrate MP HA guide,
    /// "Configure multiple IAM token validation keys").
    pub jwks_secret: String,
}

fn secret(name: &str, requirement: Requirement, when: Option<&str>) -> SecretSpec {
    SecretSpec {
        name: name.into(),
        requirement,
        when: when.map(str::to_string),
    }
}

fn rendered(values: &[&str], secret: &str, requirement: Requirement) -> ValueSecret {
    ValueSecret {
        values: names(values),
        secret: secret.into(),
        requirement,
    }
}

/// Which Secret each section of the managementplane chart's `secrets:`
/// values renders.
///
/// Sources: the values are those of Tetrate's helm guide ("Management Plane
/// Installation" with helm, docs.tetrate.io/service-bridge/<version>/setup/helm/managementplane,
/// section "Secrets configuration"); the Secret names and what each holds
/// are those of Tetrate's MP installation guide ("Configuring Secrets",
/// docs.tetrate.io/service-bridge/1.8.x/setup/self-managed/management-plane-installation):
/// `admin-credentials` holds the admin password's one-way hash, `tsb-certs`
/// the front envoy's TLS certificate and key, `postgres-credentials` the
/// Postgres username, password, CA and client certificate, `elastic-credentials`
/// the Elasticsearch username and password, `es-certs` the Elasticsearch CA,
/// `ldap-credentials` the LDAP bind DN and password, `custom-host-ca` the
/// LDAP CA, `iam-oidc-client-secret` the OIDC client and device client
/// secrets, `azure-credentials` the Azure AD client secret,
/// `xcp-central-cert` XCP central's TLS certificate. We found the chart's
/// templates in no public source: each pairing is by what the Secret holds
/// (inferred), and the two CA pairings, the least certain (the chart might
/// put those CAs elsewhere), are optional. `secrets.xcp.rootca`/`rootcakey` (the CA
/// cert-manager issues from with `autoGenerateCerts`) have no Secret name in
/// either source and are not mapped. Override with `helmValueSecrets` in a
/// `--layout` file.
pub fn default_helm_value_secrets() -> Vec<ValueSecret> {
    use Requirement::{Optional, Required};
    vec![
        rendered(
            &["secrets.tsb.cert", "secrets.tsb.key"],
            "tsb-certs",
            Required,
        ),
        rendered(
            &["secrets.tsb.adminPassword"],
            "admin-credentials",
            Required,
        ),
        rendered(&["secrets.postgres"], "postgres-credentials", Required),
        rendered(
            &[
                "secrets.elasticsearch.username",
                "secrets.elasticsearch.password",
            ],
            "elastic-credentials",
            Required,
        ),
        rendered(&["secrets.elasticsearch.cacert"], "es-certs", Optional),
        rendered(
            &["secrets.ldap.binddn", "secrets.ldap.bindpassword"],
            "ldap-credentials",
            Required,
        ),
        rendered(&["secrets.ldap.cacert"], "custom-host-ca", Optional),
        rendered(&["secrets.oidc"], "iam-oidc-client-secret", Required),
        rendered(&["secrets.azure"], "azure-credentials", Required),
        rendered(
            &["secrets.xcp.central.cert", "secrets.xcp.central.key"],
            "xcp-central-cert",
            Required,
        ),
    ]
}

fn kind(group: &str, version: &str, kind: &str, plural: &str) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

impl Default for TsbLayout {
    fn default() -> Self {
        use Requirement::{Optional, Required};
        TsbLayout {
            helm_release: "mp".into(),
            helm_chart: "managementplane".into(),
            helm_secrets: Vec::new(),
            helm_value_secrets: default_helm_value_secrets(),
            generic_secrets: vec![
                secret("admin-credentials", Required, None),
                secret("azure-credentials", Optional, Some("only with Azure AD")),
                secret(
                    "custom-host-ca",
                    Optional,
                    Some("only with an extra CA bundle"),
                ),
                secret(
                    "elastic-credentials",
                    Optional,
                    Some("required when the MP uses Elasticsearch"),
                ),
                secret("es-certs", Optional, Some("only with TLS to Elasticsearch")),
                secret("iam-oidc-client-secret", Optional, Some("only with OIDC")),
                secret("ldap-credentials", Optional, Some("only with LDAP")),
                secret("postgres-credentials", Required, None),
                secret("tsb-certs", Required, None),
                secret("xcp-central-cert", Required, None),
            ],
            carried_when_present: names(&["local-user-credentials", "mpc-certs"]),
            certificate_secrets: names(&[
                "tsb-certs",
                "xcp-central-cert",
                "es-certs",
                "postgres-credentials",
                "custom-host-ca",
                "mpc-certs",
            ]),
            operator_deployment: "tsb-operator-management-plane".into(),
            mp_deployments: names(&[
                "tsb",
                "iam",
                "web",
                "oap",
                "otel-collector",
                "xcp-operator-central",
                "central",
                "mpc",
                "envoy",
            ]),
            writer_deployments: names(&["tsb", "iam"]),
            restore_cronjob: "tsb-restore".into(),
            front_service: FrontService {
                name: "envoy".into(),
                port_name: "https-ingress".into(),
                port: 8443,
            },
            management_plane: kind(
                "install.tetrate.io",
                "v1alpha1",
                "ManagementPlane",
                "managementplanes",
            ),
            management_plane_name: "managementplane".into(),
            central_xcp: kind(
                "install.xcp.tetrate.io",
                "v1alpha1",
                "CentralXcp",
                "centralxcps",
            ),
            spec_may_differ: names(&[
                "components.frontEnvoy.kubeSpec.service.annotations",
                "components.frontEnvoy.kubeSpec.service.loadBalancerIP",
                "components.frontEnvoy.kubeSpec.service.loadBalancerSourceRanges",
            ]),
            spec_database_fields: names(&[
                "dataStore.postgres.host",
                "dataStore.postgres.port",
                "dataStore.postgres.address",
                "dataStore.postgres.name",
            ]),
            control_plane: ControlPlaneLayout::default(),
            signing_keys_secret: "iam-signing-key".into(),
            jwks_secret: "tsb-iam-jwks".into(),
        }
    }
}

impl TsbLayout {
    /// The defaults, with the fields of `path` (if any) replacing theirs.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(TsbLayout::default());
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::usage(format!(
                "cannot read layout file {}: {error}",
                path.display()
            ))
            .with_next_step("check --layout / KUBECTL_MP_LAYOUT")
        })?;
        Self::from_yaml(&text).map_err(|error| {
            Error::usage(format!("layout file {}: {error}", path.display())).with_next_step(
                "fix the YAML; the README section \"Names and overrides\" lists the fields",
            )
        })
    }

    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        crate::yaml::from_str::<Option<TsbLayout>>(text).map(Option::unwrap_or_default)
    }

    /// Every Secret the MP could hold whose name is known before its spec is
    /// read: both models' lists, what helm values can render, those carried
    /// when present, the certificate secrets, the default signing keys'
    /// Secret and XCP's JWKS, each once, in that order. What reads a whole
    /// MP gets these by name, at once, whatever its model.
    pub fn known_secret_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let candidates = self
            .generic_secrets
            .iter()
            .chain(&self.helm_secrets)
            .map(|spec| &spec.name)
            .chain(self.helm_value_secrets.iter().map(|entry| &entry.secret))
            .chain(&self.carried_when_present)
            .chain(&self.certificate_secrets)
            .chain([&self.signing_keys_secret, &self.jwks_secret]);
        for name in candidates {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The secrets the helm release name's revisions are stored in start with this.
    pub fn helm_release_secret_prefix(&self) -> String {
        format!("sh.helm.release.v1.{}.v", self.helm_release)
    }
}

/// A workload cluster's control plane as `mp-failover` sees it after the
/// MP moved: the XCP edge that must reconnect to the new central, and the
/// tokens it caches.
///
/// Source: Tetrate's MP HA guide (tsb-facts.md, "From Tetrate's wider MP HA
/// guide"): a control plane that does not reconnect gets `kubectl rollout
/// restart deployment/edge -n istio-system`, its logs are read, and on token
/// or auth errors `otel-token`, `oap-token`, `ngac-token` and
/// `xcp-edge-central-auth-token` in `istio-system` are deleted and come back
/// re-issued in about a minute. The log markers are inferred: override them
/// to match your XCP version's log lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ControlPlaneLayout {
    /// The control plane's namespace in each workload cluster (guide).
    pub namespace: String,
    /// The XCP edge Deployment (guide); its logs are read from the container
    /// of the same name, else the pod's first container.
    pub edge_deployment: String,
    /// The tokens the edge caches, deleted to be re-issued (guide).
    pub token_secrets: Vec<String>,
    /// Text (case-insensitive) of an edge log line saying it connected to
    /// XCP central (inferred).
    pub connected_markers: Vec<String>,
    /// Text (case-insensitive) of an edge log line reporting a token or
    /// authentication error (inferred).
    pub token_error_markers: Vec<String>,
}

impl Default for ControlPlaneLayout {
    fn default() -> Self {
        ControlPlaneLayout {
            namespace: "istio-system".into(),
            edge_deployment: "edge".into(),
            token_secrets: names(&[
                "otel-token",
                "oap-token",
                "ngac-token",
                "xcp-edge-central-auth-token",
            ]),
            connected_markers: names(&["connected to central"]),
            token_error_markers: names(&[
                "unauthenticated",
                "invalid token",
                "token is expired",
                "permissiondenied",
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_plane_override_keeps_the_fields_it_does_not_name() {
        let layout = TsbLayout::from_yaml("controlPlane:\n  namespace: cp-system\n").unwrap();
        let defaults = ControlPlaneLayout::default();
        assert_eq!(layout.control_plane.namespace, "cp-system");
        assert_eq!(layout.control_plane.edge_deployment, "edge");
        assert_eq!(layout.control_plane.token_secrets, defaults.token_secrets);
        assert_eq!(defaults.namespace, "istio-system");
        assert_eq!(defaults.token_secrets.len(), 4);
    }

    #[test]
    fn known_secret_names_cover_every_model_once() {
        let mut names = TsbLayout::default().known_secret_names();
        names.sort();
        assert_eq!(
            names,
            [
                "admin-credentials",
                "azure-credentials",
                "custom-host-ca",
                "elastic-credentials",
                "es-certs",
                "iam-oidc-client-secret",
                "iam-signing-key",
                "ldap-credentials",
                "local-user-credentials",
                "mpc-certs",
                "postgres-credentials",
                "tsb-certs",
                "tsb-iam-jwks",
                "xcp-central-cert",
            ]
        );
        // A layout file's names are followed, each once.
        let layout =
            TsbLayout::from_yaml("signingKeysSecret: tsb-certs\ncarriedWhenPresent: [team-ca]\n")
                .unwrap();
        let names = layout.known_secret_names();
        assert!(names.contains(&"team-ca".to_string()), "{names:?}");
        assert_eq!(names.iter().filter(|name| *name == "tsb-certs").count(), 1);
        assert!(!names.contains(&"iam-signing-key".to_string()), "{names:?}");
    }

    #[test]
    fn defaults_follow_the_runbook() {
        let layout = TsbLayout::default();
        let required: Vec<_> = layout
            .generic_secrets
            .iter()
            .filter(|spec| spec.requirement == Requirement::Required)
            .map(|spec| spec.name.as_str())
            .collect();
        assert_eq!(
            required,
            [
                "admin-credentials",
                "postgres-credentials",
                "tsb-certs",
                "xcp-central-cert",
            ]
        );
        assert_eq!(
            layout.generic_secrets.len(),
            10,
            "the runbook's generic list has 11 secrets, iam-signing-key (the spec's signing keys' secret) apart"
        );
        assert!(layout.helm_secrets.is_empty());
        assert_eq!(layout.signing_keys_secret, "iam-signing-key");
        assert_eq!(layout.jwks_secret, "tsb-iam-jwks");
        assert_eq!(layout.operator_deployment, "tsb-operator-management-plane");
        assert_eq!(layout.writer_deployments, ["tsb", "iam"]);
        assert_eq!(
            layout.helm_release_secret_prefix(),
            "sh.helm.release.v1.mp.v"
        );
    }

    #[test]
    fn a_layout_file_overrides_only_what_it_names() {
        let layout = TsbLayout::from_yaml(
            "helmRelease: tsb-mp\noperatorDeployment: my-operator\nfrontService: {name: front, portName: https, port: 443}\n",
        )
        .unwrap();
        assert_eq!(layout.helm_release, "tsb-mp");
        assert_eq!(layout.operator_deployment, "my-operator");
        assert_eq!(layout.front_service.port, 443);
        assert_eq!(layout.mp_deployments, TsbLayout::default().mp_deployments);
        assert_eq!(TsbLayout::from_yaml("").unwrap(), TsbLayout::default());
    }

    #[test]
    fn a_bad_layout_file_is_a_usage_error_naming_it() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("layout.yaml");
        std::fs::write(&path, "mpDeployments: 12\n").unwrap();
        let error = TsbLayout::load(Some(&path)).unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(error.to_string().contains("layout.yaml"), "{error}");
    }

    /// The `resourceNames` the shipped Role `role` (in
    /// `deploy/rbac/FOLDER/rbac.yaml`) grants `verb` on `resource`, sorted;
    /// panics when no rule of it does.
    fn role_names(folder: &str, role: &str, resource: &str, verb: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/rbac")
            .join(folder)
            .join("rbac.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        let role = documents
            .iter()
            .find(|document| document["kind"] == "Role" && document["metadata"]["name"] == role)
            .unwrap_or_else(|| panic!("{}: no Role {role}", path.display()));
        let granting = |rule: &&serde_json::Value| {
            let has = |field: &str, value: &str| {
                rule[field]
                    .as_array()
                    .is_some_and(|values| values.iter().any(|item| item == value))
            };
            has("resources", resource) && has("verbs", verb)
        };
        let rule = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(granting)
            .unwrap_or_else(|| panic!("{}: {verb} {resource} not granted", path.display()));
        let mut names: Vec<String> = rule["resourceNames"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: {verb} {resource} not by name", path.display()))
            .iter()
            .map(|name| name.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    fn sorted(names: &[String]) -> Vec<String> {
        let mut names = names.to_vec();
        names.sort();
        names
    }

    /// The shipped Roles (deploy/rbac) name exactly the default layout's
    /// names, so a name added to one and not the other fails here.
    #[test]
    fn the_shipped_roles_grant_the_layouts_names() {
        let layout = TsbLayout::default();
        let mut secrets = layout.known_secret_names();
        // The failover's database step reads its credentials by this name too.
        secrets.push(crate::database::CREDENTIALS_SECRET.to_string());
        let mut secrets = sorted(&secrets);
        secrets.dedup();
        let deployments: Vec<String> = std::iter::once(layout.operator_deployment.clone())
            .chain(layout.mp_deployments.clone())
            .collect();
        let deployments = sorted(&deployments);
        let one = |name: &str| vec![name.to_string()];
        let expected = [
            ("export", "mp-export", "secrets", "get", secrets.clone()),
            (
                "export",
                "mp-export",
                "managementplanes",
                "get",
                one(&layout.management_plane_name),
            ),
            ("import", "mp-import", "secrets", "get", secrets.clone()),
            ("import", "mp-import", "secrets", "update", secrets.clone()),
            (
                "cacheck",
                "mp-cacheck",
                "secrets",
                "get",
                sorted(&layout.certificate_secrets),
            ),
            ("failover", "mp-failover", "secrets", "get", secrets.clone()),
            (
                "failover",
                "mp-failover",
                "deployments",
                "get",
                deployments.clone(),
            ),
            (
                "failover",
                "mp-failover",
                "deployments/scale",
                "patch",
                deployments.clone(),
            ),
            (
                "failover",
                "mp-failover",
                "cronjobs",
                "patch",
                one(&layout.restore_cronjob),
            ),
            (
                "failover",
                "mp-failover",
                "services",
                "get",
                one(&layout.front_service.name),
            ),
            (
                "failover",
                "mp-failover",
                "managementplanes",
                "get",
                one(&layout.management_plane_name),
            ),
            (
                "failover",
                "mp-failover",
                "configmaps",
                "update",
                sorted(&[
                    crate::failover::journal::JOURNAL_NAME.to_string(),
                    crate::failover::lock::LOCK_NAME.to_string(),
                ]),
            ),
            (
                "control-plane",
                "mp-failover-control-plane",
                "deployments",
                "patch",
                one(&layout.control_plane.edge_deployment),
            ),
            (
                "control-plane",
                "mp-failover-control-plane",
                "secrets",
                "delete",
                sorted(&layout.control_plane.token_secrets),
            ),
        ];
        for (folder, role, resource, verb, names) in expected {
            assert_eq!(
                role_names(folder, role, resource, verb),
                names,
                "deploy/rbac/{folder}: {verb} {resource}"
            );
        }
    }
}
