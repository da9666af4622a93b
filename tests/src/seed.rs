//! What a seeded cluster holds: a realistic TSB Management Plane.
//!
//! The shapes follow `/work/shared/reference/tsb-facts.md`. Values a real
//! install generates at random (passwords, keys) differ per cluster, as they
//! would between two independent installs, so a test can tell whether the
//! import copied them. Passwords are derived from the cluster name, keys are
//! fresh.

use std::io::Write;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::controller::{DESIRED_REPLICAS_ANNOTATION, MANAGED_LABEL, OPERATOR_DEPLOYMENT};
use crate::pki::{CA_VALIDITY, CertAuthority, IssuedCert};

/// What a cluster is seeded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    /// Only the built-in namespaces: a fresh standby cluster, no TSB, no CRDs.
    Empty,
    /// A helm-installed MP: helm release secret `sh.helm.release.v1.mp.v1`.
    TsbHelm,
    /// A tctl-installed MP: ManagementPlane CR and the generic secret list.
    TsbGeneric,
}

/// How the seeded MP's certificates relate to the other clusters'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertVariant {
    /// Every certificate chains, through a per-cluster intermediate, to the
    /// root shared by all clusters.
    #[default]
    SharedRoot,
    /// As `SharedRoot`, but under a root made for this cluster alone.
    OwnRoot,
    /// As `SharedRoot`, but the `tsb-certs` leaf expired yesterday.
    ExpiredLeaf,
    /// As `SharedRoot`, but the leaves lack the floating DNS name.
    MissingSan,
    /// tctl's `--xcp-certs` shape: `xcp-central-cert` and `mpc-certs` come
    /// from a cert-manager self-signed Issuer chain whose root is unique to
    /// this cluster; `tsb-certs` (user-provided in that install) still
    /// chains to the shared root.
    CertManagerSelfSigned,
}

const SEED_KINDS: [(&str, SeedKind); 3] = [
    ("tsb-helm", SeedKind::TsbHelm),
    ("tsb-generic", SeedKind::TsbGeneric),
    ("empty", SeedKind::Empty),
];

const CERT_VARIANTS: [(&str, CertVariant); 5] = [
    ("shared-root", CertVariant::SharedRoot),
    ("own-root", CertVariant::OwnRoot),
    ("expired-leaf", CertVariant::ExpiredLeaf),
    ("missing-san", CertVariant::MissingSan),
    (
        "cert-manager-self-signed",
        CertVariant::CertManagerSelfSigned,
    ),
];

fn parse_named<T: Copy>(text: &str, what: &str, table: &[(&str, T)]) -> Result<T, String> {
    table
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let valid: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            format!(
                "unknown {what} {text:?}; valid values: {}",
                valid.join(", ")
            )
        })
}

impl std::str::FromStr for SeedKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_named(text, "seed", &SEED_KINDS)
    }
}

impl std::str::FromStr for CertVariant {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_named(text, "certificate variant", &CERT_VARIANTS)
    }
}

/// A `NAME=SEED[:CERTS]` argument (mp-live's `--cluster`).
///
/// # Errors
/// A message naming the malformed part.
pub fn parse_cluster_spec(text: &str) -> Result<(String, SeedKind, CertVariant), String> {
    let (name, spec) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=SEED[:CERTS], got {text:?}"))?;
    if name.is_empty() {
        return Err(format!("empty cluster name in {text:?}"));
    }
    let (seed, certs) = match spec.split_once(':') {
        Some((seed, certs)) => (seed, certs.parse::<CertVariant>()?),
        None => (spec, CertVariant::default()),
    };
    Ok((name.to_string(), seed.parse::<SeedKind>()?, certs))
}

/// Everything a seed needs to know about its cluster.
pub struct SeedContext<'a> {
    pub cluster_name: &'a str,
    pub namespace: &'a str,
    pub kind: SeedKind,
    pub certs: CertVariant,
    /// The root shared by every cluster using `CertVariant::SharedRoot`.
    pub shared_root: &'a CertAuthority,
    /// The DNS name clients use for the MP, whichever cluster serves it.
    pub floating_dns_name: &'a str,
    /// The address the MP's front Service (`envoy`) reports as its LoadBalancer ingress.
    pub front_address: IpAddr,
}

/// The namespaces every cluster has.
pub const BUILTIN_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The helm release of a `TsbHelm` seed and its revision secret.
pub const HELM_RELEASE: &str = "mp";
pub const HELM_RELEASE_SECRET: &str = "sh.helm.release.v1.mp.v1";

/// The TSB version the seeds install.
pub const TSB_VERSION: &str = "1.12.0";

const HUB: &str = "containers.dl.tetrate.io";
const ORGANIZATION: &str = "tetrate";
const LEAF_VALIDITY: time::Duration = time::Duration::days(365);

/// One MP deployment: its name, image, container ports, and the replica
/// count the operator keeps (recorded in [`DESIRED_REPLICAS_ANNOTATION`]
/// when not 1).
struct DeploymentShape {
    name: &'static str,
    image: &'static str,
    ports: &'static [(&'static str, u16)],
    replicas: i64,
}

const fn shape(
    name: &'static str,
    image: &'static str,
    ports: &'static [(&'static str, u16)],
    replicas: i64,
) -> DeploymentShape {
    DeploymentShape {
        name,
        image,
        ports,
        replicas,
    }
}

const OPERATOR_SHAPE: DeploymentShape = shape(
    OPERATOR_DEPLOYMENT,
    "tsboperator-server",
    &[("metrics", 8383), ("webhook", 9443)],
    1,
);

const MP_DEPLOYMENTS: [DeploymentShape; 9] = [
    shape("tsb", "tsb-server", &[("http", 8080), ("grpc", 9080)], 1),
    shape("iam", "iam", &[("http", 8080), ("grpc", 9080)], 1),
    shape("web", "web", &[("http", 8080)], 1),
    shape("oap", "spm-oap", &[("grpc", 11800), ("rest", 12800)], 1),
    shape(
        "otel-collector",
        "otelcol",
        &[("otlp", 4317), ("metrics", 9090)],
        1,
    ),
    shape(
        "xcp-operator-central",
        "xcp-operator",
        &[("metrics", 8383)],
        1,
    ),
    shape(
        "central",
        "xcp-central",
        &[("xcp", 9443), ("debug", 8090)],
        1,
    ),
    shape("mpc", "mpc", &[("grpc", 9082)], 1),
    shape("envoy", "envoy", &[("https-ingress", 8443)], 2),
];

/// The objects to create, in order: namespaces, CRDs, then namespaced objects.
/// Objects carry apiVersion, kind, metadata.name (and namespace); the store
/// assigns uid, resourceVersion and timestamps.
pub fn seed_objects(context: &SeedContext) -> Vec<Value> {
    let mut objects: Vec<Value> = BUILTIN_NAMESPACES
        .iter()
        .map(|name| namespace(name))
        .collect();
    if context.kind == SeedKind::Empty {
        return objects;
    }
    objects.push(namespace(context.namespace));
    objects.extend(custom_resource_definitions());
    objects.extend(ManagementPlaneSeed::new(context).objects());
    objects
}

/// A name usable as a DNS label, from a cluster name that may not be one.
fn dns_label(cluster_name: &str) -> String {
    let label: String = cluster_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "cluster".to_string()
    } else {
        label.to_string()
    }
}

/// The per-cluster name the MP's certificates carry besides the floating one.
pub fn cluster_dns_name(cluster_name: &str) -> String {
    format!("{}.mp.internal", dns_label(cluster_name))
}

/// A stand-in for a randomly generated secret value, stable per cluster.
fn generated_password(cluster_name: &str, purpose: &str) -> String {
    let digest = Sha256::digest(format!("{cluster_name}/{purpose}").as_bytes());
    hex(&digest[..12])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn kubernetes_time(time: OffsetDateTime) -> String {
    jiff::Timestamp::from_second(time.unix_timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

struct CrdNames<'a> {
    group: &'a str,
    version: &'a str,
    plural: &'a str,
    singular: &'a str,
    kind: &'a str,
    short_names: &'a [&'a str],
    categories: &'a [&'a str],
    namespaced: bool,
    printer_columns: Value,
}

fn custom_resource_definition(names: &CrdNames) -> Value {
    let mut names_json = json!({
        "plural": names.plural,
        "singular": names.singular,
        "kind": names.kind,
        "listKind": format!("{}List", names.kind),
    });
    // Empty lists are omitted, as the API server stores them.
    if !names.short_names.is_empty() {
        names_json["shortNames"] = json!(names.short_names);
    }
    if !names.categories.is_empty() {
        names_json["categories"] = json!(names.categories);
    }
    let mut version = json!({
        "name": names.version,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        }},
        "subresources": {"status": {}},
    });
    if names
        .printer_columns
        .as_array()
        .is_some_and(|columns| !columns.is_empty())
    {
        version["additionalPrinterColumns"] = names.printer_columns.clone();
    }
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "reason": reason, "message": message});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", names.plural, names.group)},
        "spec": {
            "group": names.group,
            "names": names_json,
            "scope": if names.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [version],
            "conversion": {"strategy": "None"},
        },
        "status": {
            "acceptedNames": names_json,
            "storedVersions": [names.version],
            "conditions": [
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
        },
    })
}

fn custom_resource_definitions() -> Vec<Value> {
    let ready_column = json!({
        "name": "Ready", "type": "string",
        "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
    });
    let age_column =
        json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"});
    let issuer_columns = json!([ready_column, age_column]);
    [
        CrdNames {
            group: "install.tetrate.io",
            version: "v1alpha1",
            plural: "managementplanes",
            singular: "managementplane",
            kind: "ManagementPlane",
            short_names: &["mp"],
            categories: &[],
            namespaced: true,
            printer_columns: json!([]),
        },
        CrdNames {
            group: "install.xcp.tetrate.io",
            version: "v1alpha1",
            plural: "centralxcps",
            singular: "centralxcp",
            kind: "CentralXcp",
            short_names: &[],
            categories: &[],
            namespaced: true,
            printer_columns: json!([]),
        },
        CrdNames {
            group: "cert-manager.io",
            version: "v1",
            plural: "certificates",
            singular: "certificate",
            kind: "Certificate",
            short_names: &["cert", "certs"],
            categories: &["cert-manager"],
            namespaced: true,
            printer_columns: json!([
                ready_column,
                {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
                age_column,
            ]),
        },
        CrdNames {
            group: "cert-manager.io",
            version: "v1",
            plural: "issuers",
            singular: "issuer",
            kind: "Issuer",
            short_names: &[],
            categories: &["cert-manager"],
            namespaced: true,
            printer_columns: issuer_columns.clone(),
        },
        CrdNames {
            group: "cert-manager.io",
            version: "v1",
            plural: "clusterissuers",
            singular: "clusterissuer",
            kind: "ClusterIssuer",
            short_names: &[],
            categories: &["cert-manager"],
            namespaced: false,
            printer_columns: issuer_columns,
        },
    ]
    .iter()
    .map(custom_resource_definition)
    .collect()
}

/// A Secret, its values base64-encoded as the API carries them.
fn secret(
    name: &str,
    namespace: &str,
    secret_type: &str,
    data: &[(&str, &[u8])],
    metadata_extra: Value,
) -> Value {
    let data: Map<String, Value> = data
        .iter()
        .map(|(key, value)| ((*key).to_string(), json!(STANDARD.encode(value))))
        .collect();
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": secret_type,
        "data": data,
    });
    merge_metadata(&mut object, metadata_extra);
    object
}

/// Adds `extra`'s labels and annotations (and any other metadata fields) to
/// `object`'s metadata, keeping what is there.
fn merge_metadata(object: &mut Value, extra: Value) {
    let Value::Object(extra) = extra else { return };
    for (field, value) in extra {
        match (object["metadata"].get_mut(&field), value) {
            (Some(Value::Object(existing)), Value::Object(added)) => existing.extend(added),
            (_, value) => object["metadata"][field.as_str()] = value,
        }
    }
}

/// A TLS secret: the leaf (and intermediates), its key, and the root.
fn tls_secret(
    name: &str,
    namespace: &str,
    cert: &IssuedCert,
    ca_pem: &str,
    metadata_extra: Value,
) -> Value {
    secret(
        name,
        namespace,
        "kubernetes.io/tls",
        &[
            ("tls.crt", cert.cert_pem.as_bytes()),
            ("tls.key", cert.key_pem.as_bytes()),
            ("ca.crt", ca_pem.as_bytes()),
        ],
        metadata_extra,
    )
}

/// The certificates of one MP, per the cluster's `CertVariant`.
struct MpCertificates {
    /// What `ca.crt` of the MP's secrets holds (the root of `tsb-certs`).
    ca_pem: String,
    /// The DNS names of `xcp-central-cert` and `mpc-certs`.
    central_dns_names: Vec<String>,
    mpc_dns_names: Vec<String>,
    tsb: IssuedCert,
    xcp_central: IssuedCert,
    /// The XCP certificates' source: from the shared/own chain, or from a
    /// cert-manager self-signed chain.
    xcp: XcpCertificates,
}

enum XcpCertificates {
    /// `mpc-certs` issued like the others; `xcp-central-cert` shares `ca_pem`.
    Plain { mpc: IssuedCert },
    /// The cert-manager chain: its self-signed CA and the leaves it issued.
    CertManager {
        identity_issuer: Box<CertAuthority>,
        mpc: IssuedCert,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
}

impl MpCertificates {
    fn new(context: &SeedContext, cluster_dns: &str) -> Self {
        let own_root;
        let root = if context.certs == CertVariant::OwnRoot {
            own_root = CertAuthority::new_root(&format!("{} Root CA", context.cluster_name));
            &own_root
        } else {
            context.shared_root
        };
        let intermediate =
            root.issue_intermediate(&format!("{} TSB Intermediate CA", context.cluster_name));
        let now = OffsetDateTime::now_utc();
        let not_before = now - time::Duration::minutes(5);
        let not_after = now + LEAF_VALIDITY;
        let front_names: Vec<&str> = if context.certs == CertVariant::MissingSan {
            vec![cluster_dns]
        } else {
            vec![context.floating_dns_name, cluster_dns]
        };
        let tsb = if context.certs == CertVariant::ExpiredLeaf {
            intermediate.issue_leaf_with_validity(
                "tsb",
                &front_names,
                now - time::Duration::days(400),
                now - time::Duration::days(1),
            )
        } else {
            intermediate.issue_leaf_with_validity("tsb", &front_names, not_before, not_after)
        };
        let mut central_names = front_names.clone();
        central_names.push("central.xcp.tetrate.io");
        let mpc_service_name = format!("mpc.{}.svc.cluster.local", context.namespace);
        let mpc_names = ["mpc", mpc_service_name.as_str()];

        let (xcp_central, xcp) = if context.certs == CertVariant::CertManagerSelfSigned {
            let identity_issuer = Box::new(CertAuthority::new_root("xcp-identity-issuer"));
            let central = identity_issuer.issue_leaf_with_validity(
                "xcp-central-cert",
                &central_names,
                not_before,
                not_after,
            );
            let mpc =
                identity_issuer.issue_leaf_with_validity("mpc", &mpc_names, not_before, not_after);
            (
                central,
                XcpCertificates::CertManager {
                    identity_issuer,
                    mpc,
                    not_before,
                    not_after,
                },
            )
        } else {
            let central = intermediate.issue_leaf_with_validity(
                "xcp-central-cert",
                &central_names,
                not_before,
                not_after,
            );
            let mpc =
                intermediate.issue_leaf_with_validity("mpc", &mpc_names, not_before, not_after);
            (central, XcpCertificates::Plain { mpc })
        };
        MpCertificates {
            ca_pem: intermediate.root_pem().to_string(),
            central_dns_names: central_names.iter().map(|name| name.to_string()).collect(),
            mpc_dns_names: mpc_names.iter().map(|name| name.to_string()).collect(),
            tsb,
            xcp_central,
            xcp,
        }
    }

    /// The CA `xcp-central-cert`'s `ca.crt` holds.
    fn xcp_ca_pem(&self) -> &str {
        match &self.xcp {
            XcpCertificates::Plain { .. } => &self.ca_pem,
            XcpCertificates::CertManager {
                identity_issuer, ..
            } => identity_issuer.cert_pem(),
        }
    }
}

/// Builds the namespaced objects of a TSB seed.
struct ManagementPlaneSeed<'a> {
    context: &'a SeedContext<'a>,
    namespace: &'a str,
    cluster_dns: String,
    certs: MpCertificates,
    admin_password: String,
    postgres_password: String,
    elastic_password: String,
    /// `iam-signing-key`: generated at install, so different per cluster.
    iam_signing_key_pem: String,
}

impl<'a> ManagementPlaneSeed<'a> {
    fn new(context: &'a SeedContext<'a>) -> Self {
        let cluster_dns = cluster_dns_name(context.cluster_name);
        let certs = MpCertificates::new(context, &cluster_dns);
        let iam_signing_key_pem = crate::pki::new_private_key_pem();
        ManagementPlaneSeed {
            namespace: context.namespace,
            admin_password: generated_password(context.cluster_name, "admin"),
            postgres_password: generated_password(context.cluster_name, "postgres"),
            elastic_password: generated_password(context.cluster_name, "elastic"),
            cluster_dns,
            certs,
            iam_signing_key_pem,
            context,
        }
    }

    /// The `kid` of `iam-signing-key`: its key's id, so different per
    /// install as the key is (not a prefix of the key's sha256, which
    /// summaries show).
    fn iam_key_id(&self) -> String {
        let digest = Sha256::digest(format!("kid/{}", self.iam_signing_key_pem).as_bytes());
        format!("kid-{}", hex(&digest[..6]))
    }

    /// `tsb-iam-jwks`'s JWKS: the signing key's id, so different per
    /// install too.
    fn iam_jwks(&self) -> String {
        json!({"keys": [{"kid": self.iam_key_id(), "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256"}]})
            .to_string()
    }

    fn objects(&self) -> Vec<Value> {
        let mut objects = vec![self.management_plane(), self.central_xcp()];
        objects.extend(self.cert_manager_objects());
        // The operator's pods run as it: a real API server refuses them without it.
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": OPERATOR_DEPLOYMENT, "namespace": self.namespace},
        }));
        objects.push(self.deployment(&OPERATOR_SHAPE));
        for shape in &MP_DEPLOYMENTS {
            objects.push(self.deployment(shape));
        }
        objects.push(self.service("envoy", "LoadBalancer", "https-ingress", 8443, 1));
        objects.push(self.service("central", "ClusterIP", "xcp", 9443, 2));
        let teamsync = self.operator_object("batch/v1", "CronJob", "teamsync");
        let teamsync_image = format!("{HUB}/tsb-server:{TSB_VERSION}");
        objects.push(cron_job(
            teamsync,
            "0 * * * *",
            &teamsync_image,
            &["teamsync"],
        ));
        if self.context.kind == SeedKind::TsbGeneric {
            // Set up by the operators' own backup tooling, not by the install.
            let restore = json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "tsb-restore", "namespace": self.namespace},
            });
            objects.push(cron_job(
                restore,
                "0 */6 * * *",
                "postgres:14",
                &[
                    "/bin/sh",
                    "-c",
                    "pg_restore --clean --dbname=tsb /backup/latest.dump",
                ],
            ));
        }
        objects.extend(self.secrets());
        objects
    }

    /// Labels and annotations of what the install itself created: helm's
    /// ownership marks, nothing for tctl (which applies plain manifests).
    fn install_metadata(&self) -> Value {
        if self.context.kind == SeedKind::TsbHelm {
            json!({
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    "meta.helm.sh/release-name": HELM_RELEASE,
                    "meta.helm.sh/release-namespace": self.namespace,
                },
            })
        } else {
            json!({})
        }
    }

    /// An object the install created (helm or tctl).
    fn object(&self, api_version: &str, kind: &str, name: &str) -> Value {
        let mut object = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace},
        });
        merge_metadata(&mut object, self.install_metadata());
        object
    }

    /// An object the TSB operator creates (not helm, whatever the install).
    fn operator_object(&self, api_version: &str, kind: &str, name: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {MANAGED_LABEL.0: MANAGED_LABEL.1},
            },
        })
    }

    fn management_plane_spec(&self) -> Value {
        let mut spec = json!({
            "hub": HUB,
            "organization": ORGANIZATION,
            "dataStore": {"postgres": {
                "host": format!("postgres.{}", self.cluster_dns),
                "port": 5432,
                "name": "tsb",
            }},
            "telemetryStore": {"elastic": {
                "host": "elasticsearch.mp.internal",
                "port": 9200,
                "version": 7,
                "selfSigned": true,
                "protocol": "https",
            }},
            "tokenIssuer": {"jwt": {
                "expiration": "3600s",
                "refreshExpiration": "2592000s",
                "tokenPruneInterval": "3600s",
                "signingKeysSecret": "iam-signing-key",
                "issuers": [{
                    "name": "https://jwt.tetrate.io",
                    "algorithm": "ES256",
                    "signingKey": "private.key",
                }],
            }},
            "components": {
                "frontEnvoy": {"port": 8443},
                "xcp": {"centralAuthModes": {"mutualTls": true, "jwt": true}},
                "internalCertProvider": {"certManager": {"managed": "EXTERNAL"}},
            },
        });
        if self.context.kind == SeedKind::TsbGeneric {
            // The generic seed carries ldap-credentials, so it uses LDAP.
            spec["identityProvider"] = json!({"ldap": {
                "host": "ldap.mp.internal",
                "port": 636,
                "search": {"baseDN": "dc=tetrate,dc=io"},
                "iam": {"matchDN": "cn=%s,ou=People,dc=tetrate,dc=io"},
            }});
        }
        spec
    }

    fn management_plane(&self) -> Value {
        let mut object = self.object(
            "install.tetrate.io/v1alpha1",
            "ManagementPlane",
            "managementplane",
        );
        object["spec"] = self.management_plane_spec();
        object
    }

    fn central_xcp(&self) -> Value {
        let mut object = self.operator_object(
            "install.xcp.tetrate.io/v1alpha1",
            "CentralXcp",
            "central-xcp",
        );
        object["spec"] = json!({
            "hub": HUB,
            "centralAuthModes": {"mutualTls": true, "jwt": true},
            "components": {"central": {"kubeSpec": {"service": {"type": "ClusterIP"}}}},
        });
        object
    }

    fn cert_manager_objects(&self) -> Vec<Value> {
        let XcpCertificates::CertManager {
            identity_issuer,
            mpc,
            not_before,
            not_after,
        } = &self.certs.xcp
        else {
            return Vec::new();
        };
        let now = kubernetes_time(OffsetDateTime::now_utc());
        let ready = |reason: &str, message: &str| {
            json!({"conditions": [{
                "type": "Ready", "status": "True", "reason": reason, "message": message,
                "lastTransitionTime": now, "observedGeneration": 1,
            }]})
        };
        let issuer_ref =
            |name: &str| json!({"name": name, "kind": "Issuer", "group": "cert-manager.io"});
        let certificate = |name: &str, spec: Value, not_after: OffsetDateTime| {
            let mut object = self.operator_object("cert-manager.io/v1", "Certificate", name);
            object["spec"] = spec;
            let mut status = ready("Ready", "Certificate is up to date and has not expired");
            status["notBefore"] = json!(kubernetes_time(*not_before));
            status["notAfter"] = json!(kubernetes_time(not_after));
            status["renewalTime"] = json!(kubernetes_time(not_after - time::Duration::days(30)));
            status["revision"] = json!(1);
            object["status"] = status;
            object
        };
        let duration = format!("{}h", LEAF_VALIDITY.whole_hours());
        let private_key = json!({"algorithm": "ECDSA", "size": 256});

        let mut trust_anchor =
            self.operator_object("cert-manager.io/v1", "Issuer", "xcp-trust-anchor");
        trust_anchor["spec"] = json!({"selfSigned": {}});
        trust_anchor["status"] = ready("IsReady", "");

        let identity_certificate = certificate(
            "xcp-identity-issuer",
            json!({
                "isCA": true,
                "commonName": "xcp-identity-issuer",
                "secretName": "xcp-identity-issuer",
                "duration": format!("{}h", CA_VALIDITY.whole_hours()),
                "privateKey": private_key,
                "issuerRef": issuer_ref("xcp-trust-anchor"),
            }),
            *not_before + CA_VALIDITY,
        );
        let mut identity_issuer_object =
            self.operator_object("cert-manager.io/v1", "Issuer", "xcp-identity-issuer");
        identity_issuer_object["spec"] = json!({"ca": {"secretName": "xcp-identity-issuer"}});
        identity_issuer_object["status"] = ready("KeyPairVerified", "Signing CA verified");

        let central_certificate = certificate(
            "xcp-central-cert",
            json!({
                "commonName": "xcp-central-cert",
                "secretName": "xcp-central-cert",
                "dnsNames": self.certs.central_dns_names,
                "duration": duration,
                "privateKey": private_key,
                "usages": ["server auth", "client auth"],
                "issuerRef": issuer_ref("xcp-identity-issuer"),
            }),
            *not_after,
        );
        let mpc_certificate = certificate(
            "mpc-certs",
            json!({
                "commonName": "mpc",
                "secretName": "mpc-certs",
                "dnsNames": self.certs.mpc_dns_names,
                "duration": duration,
                "privateKey": private_key,
                "usages": ["server auth", "client auth"],
                "issuerRef": issuer_ref("xcp-identity-issuer"),
            }),
            *not_after,
        );

        let identity_cert = IssuedCert {
            cert_pem: identity_issuer.cert_pem().to_string(),
            key_pem: identity_issuer.key_pem(),
        };
        let identity_ca = identity_issuer.cert_pem();
        vec![
            trust_anchor,
            identity_certificate,
            identity_issuer_object,
            central_certificate,
            mpc_certificate,
            tls_secret(
                "xcp-identity-issuer",
                self.namespace,
                &identity_cert,
                identity_ca,
                cert_manager_annotations(
                    "xcp-identity-issuer",
                    "xcp-trust-anchor",
                    "xcp-identity-issuer",
                ),
            ),
            tls_secret(
                "mpc-certs",
                self.namespace,
                mpc,
                identity_ca,
                cert_manager_annotations("mpc-certs", "xcp-identity-issuer", "mpc"),
            ),
        ]
    }

    fn deployment(&self, shape: &DeploymentShape) -> Value {
        let DeploymentShape {
            name,
            image,
            ports,
            replicas,
        } = *shape;
        let is_operator = name == OPERATOR_DEPLOYMENT;
        let (mut object, pod_labels) = if is_operator {
            let mut object = self.object("apps/v1", "Deployment", name);
            merge_metadata(
                &mut object,
                json!({"labels": {
                    "platform.tsb.tetrate.io/application": "tsb-operator-managementplane",
                    "platform.tsb.tetrate.io/component": "tsb-operator",
                    "platform.tsb.tetrate.io/plane": "management",
                }}),
            );
            (object, json!({"name": "tsb-operator"}))
        } else {
            let pod_labels = json!({
                "app": name,
                "platform.tsb.tetrate.io/application": name,
                "platform.tsb.tetrate.io/component": name,
                "platform.tsb.tetrate.io/plane": "management",
            });
            let mut object = self.operator_object("apps/v1", "Deployment", name);
            merge_metadata(&mut object, json!({"labels": pod_labels}));
            (object, pod_labels)
        };
        let mut annotations = json!({"deployment.kubernetes.io/revision": "1"});
        if replicas != 1 {
            annotations[DESIRED_REPLICAS_ANNOTATION] = json!(replicas.to_string());
        }
        merge_metadata(&mut object, json!({"annotations": annotations}));

        let container_ports: Vec<Value> = ports
            .iter()
            .map(|(port_name, port)| json!({"name": port_name, "containerPort": port, "protocol": "TCP"}))
            .collect();
        let selector = if is_operator {
            json!({"name": "tsb-operator"})
        } else {
            json!({"app": name})
        };
        let mut pod_spec = json!({
            "containers": [{
                "name": name,
                "image": format!("{HUB}/{image}:{TSB_VERSION}"),
                "imagePullPolicy": "IfNotPresent",
                "ports": container_ports,
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        });
        if is_operator {
            pod_spec["serviceAccountName"] = json!(OPERATOR_DEPLOYMENT);
            pod_spec["serviceAccount"] = json!(OPERATOR_DEPLOYMENT);
        }
        object["spec"] = json!({
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        });
        // No status: the cluster's deployment controller writes it.
        object
    }

    fn service(
        &self,
        name: &str,
        service_type: &str,
        port_name: &str,
        port: u16,
        ip_suffix: u8,
    ) -> Value {
        let mut object = self.operator_object("v1", "Service", name);
        let cluster_ip = format!("10.96.100.{ip_suffix}");
        let is_load_balancer = service_type == "LoadBalancer";
        let mut service_port =
            json!({"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"});
        if is_load_balancer {
            service_port["nodePort"] = json!(30000 + u32::from(port) % 2768);
        }
        object["spec"] = json!({
            "type": service_type,
            "selector": {"app": name},
            "ports": [service_port],
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
        });
        object["status"] = json!({"loadBalancer": {}});
        if is_load_balancer {
            object["spec"]["externalTrafficPolicy"] = json!("Cluster");
            object["spec"]["allocateLoadBalancerNodePorts"] = json!(true);
            object["status"] = json!({"loadBalancer": {"ingress": [
                {"ip": self.context.front_address.to_string(), "ipMode": "VIP"},
            ]}});
        }
        object
    }

    fn secrets(&self) -> Vec<Value> {
        let namespace = self.namespace;
        let installed = self.install_metadata();
        let admin_hash = hex(&Sha256::digest(self.admin_password.as_bytes()));
        let mut secrets = vec![
            secret(
                "admin-credentials",
                namespace,
                "Opaque",
                &[("admin", admin_hash.as_bytes())],
                installed.clone(),
            ),
            tls_secret(
                "tsb-certs",
                namespace,
                &self.certs.tsb,
                &self.certs.ca_pem,
                installed.clone(),
            ),
            secret(
                "elastic-credentials",
                namespace,
                "Opaque",
                &[
                    ("username", b"elastic"),
                    ("password", self.elastic_password.as_bytes()),
                ],
                installed.clone(),
            ),
            secret(
                "iam-signing-key",
                namespace,
                "Opaque",
                &[
                    ("private.key", self.iam_signing_key_pem.as_bytes()),
                    ("kid", self.iam_key_id().as_bytes()),
                ],
                json!({}),
            ),
            // XCP central's key (Tetrate MP HA guide, "Configure multiple
            // IAM token validation keys"); its data keys vary by version.
            secret(
                "tsb-iam-jwks",
                namespace,
                "Opaque",
                &[("jwks", self.iam_jwks().as_bytes())],
                json!({}),
            ),
        ];
        let xcp_central_metadata = match self.certs.xcp {
            XcpCertificates::CertManager { .. } => cert_manager_annotations(
                "xcp-central-cert",
                "xcp-identity-issuer",
                "xcp-central-cert",
            ),
            XcpCertificates::Plain { .. } => installed.clone(),
        };
        secrets.push(tls_secret(
            "xcp-central-cert",
            namespace,
            &self.certs.xcp_central,
            self.certs.xcp_ca_pem(),
            xcp_central_metadata,
        ));
        match self.context.kind {
            SeedKind::TsbHelm => {
                secrets.push(secret(
                    "postgres-credentials",
                    namespace,
                    "Opaque",
                    &[
                        ("username", b"tsb"),
                        ("password", self.postgres_password.as_bytes()),
                    ],
                    installed,
                ));
                secrets.push(self.helm_release_secret());
            }
            SeedKind::TsbGeneric => secrets.extend(self.generic_only_secrets()),
            SeedKind::Empty => {}
        }
        secrets.push(self.service_account_token_secret());
        secrets.push(secret(
            "otel-collector-exporters",
            namespace,
            "Opaque",
            &[(
                "exporters.yaml",
                b"otlp:\n  endpoint: collector.observability:4317\n",
            )],
            json!({}),
        ));
        secrets.push(secret(
            "demo-app-db",
            "default",
            "Opaque",
            &[("username", b"demo"), ("password", b"demo-password")],
            json!({}),
        ));
        secrets
    }

    /// The generic install's secrets beyond the common ones: Postgres with
    /// TLS, Elasticsearch's CA, and the optional ones this MP uses (LDAP,
    /// a custom CA bundle, local users, mpc-certs). No Azure, no OIDC.
    fn generic_only_secrets(&self) -> Vec<Value> {
        let namespace = self.namespace;
        let ca = self.certs.ca_pem.as_bytes();
        let mut secrets = vec![
            secret(
                "postgres-credentials",
                namespace,
                "Opaque",
                &[
                    ("username", b"tsb"),
                    ("password", self.postgres_password.as_bytes()),
                    ("ca.crt", ca),
                ],
                json!({}),
            ),
            secret(
                "es-certs",
                namespace,
                "Opaque",
                &[("ca.crt", ca)],
                json!({}),
            ),
            secret(
                "ldap-credentials",
                namespace,
                "Opaque",
                &[
                    ("binddn", b"cn=admin,dc=tetrate,dc=io"),
                    (
                        "bindpassword",
                        generated_password(self.context.cluster_name, "ldap").as_bytes(),
                    ),
                ],
                json!({}),
            ),
            secret(
                "custom-host-ca",
                namespace,
                "Opaque",
                &[("ca-certificates.crt", ca)],
                json!({}),
            ),
            secret(
                "local-user-credentials",
                namespace,
                "Opaque",
                &[
                    ("username", b"operator"),
                    (
                        "password",
                        generated_password(self.context.cluster_name, "local-user").as_bytes(),
                    ),
                ],
                json!({}),
            ),
        ];
        if let XcpCertificates::Plain { mpc } = &self.certs.xcp {
            secrets.push(tls_secret(
                "mpc-certs",
                namespace,
                mpc,
                &self.certs.ca_pem,
                json!({}),
            ));
        }
        secrets
    }

    fn service_account_token_secret(&self) -> Value {
        let cluster_ca = CertAuthority::new_root("kubernetes");
        let token = format!(
            "eyJhbGciOiJFUzI1NiJ9.{}.{}",
            STANDARD.encode(format!(
                "{{\"sub\":\"system:serviceaccount:{}:{OPERATOR_DEPLOYMENT}\"}}",
                self.namespace
            )),
            generated_password(self.context.cluster_name, "service-account-token"),
        );
        secret(
            "tsb-operator-token-x7k2p",
            self.namespace,
            "kubernetes.io/service-account-token",
            &[
                ("token", token.as_bytes()),
                ("ca.crt", cluster_ca.cert_pem().as_bytes()),
                ("namespace", self.namespace.as_bytes()),
            ],
            json!({"annotations": {
                "kubernetes.io/service-account.name": OPERATOR_DEPLOYMENT,
                "kubernetes.io/service-account.uid": "5f0c7e3a-2b7d-4c1e-9a57-3d4f1b2c8e90",
            }}),
        )
    }

    /// The helm chart's values as the user supplied them.
    fn helm_values(&self) -> Value {
        let xcp = match &self.certs.xcp {
            XcpCertificates::Plain { .. } => json!({
                "autoGenerateCerts": false,
                "rootca": self.certs.ca_pem,
                "central": {"cert": self.certs.xcp_central.cert_pem, "key": self.certs.xcp_central.key_pem},
            }),
            XcpCertificates::CertManager { .. } => json!({"autoGenerateCerts": true}),
        };
        json!({
            "image": {"registry": HUB, "tag": TSB_VERSION},
            "spec": self.management_plane_spec(),
            "secrets": {
                "tsb": {
                    "adminPassword": self.admin_password,
                    "cert": self.certs.tsb.cert_pem,
                    "key": self.certs.tsb.key_pem,
                },
                "postgres": {"username": "tsb", "password": self.postgres_password},
                "elasticsearch": {"username": "elastic", "password": self.elastic_password},
                "xcp": xcp,
            },
            "operator": {"deployment": {"replicaCount": 1}},
        })
    }

    fn helm_release_secret(&self) -> Value {
        let deployed = kubernetes_time(OffsetDateTime::now_utc());
        let release = json!({
            "name": HELM_RELEASE,
            "namespace": self.namespace,
            "version": 1,
            "info": {
                "first_deployed": deployed,
                "last_deployed": deployed,
                "deleted": "",
                "description": "Install complete",
                "status": "deployed",
            },
            "chart": {
                "metadata": {
                    "name": "managementplane",
                    "version": TSB_VERSION,
                    "appVersion": TSB_VERSION,
                    "apiVersion": "v2",
                    "description": "Tetrate Service Bridge Management Plane",
                    "type": "application",
                },
                "lock": null,
                "templates": [],
                "values": {"image": {"registry": HUB, "tag": TSB_VERSION}, "secrets": {"keep": false}},
                "schema": null,
                "files": [],
            },
            "config": self.helm_values(),
            "manifest": format!(
                "---\n# Source: managementplane/templates/managementplane.yaml\napiVersion: install.tetrate.io/v1alpha1\nkind: ManagementPlane\nmetadata:\n  name: managementplane\n  namespace: {}\n",
                self.namespace
            ),
        });
        secret(
            HELM_RELEASE_SECRET,
            self.namespace,
            "helm.sh/release.v1",
            &[("release", encode_helm_release(&release).as_bytes())],
            json!({"labels": {
                "owner": "helm",
                "name": HELM_RELEASE,
                "status": "deployed",
                "version": "1",
            }}),
        )
    }
}

/// A CronJob running `command` in `image` on `schedule`, not suspended.
fn cron_job(mut object: Value, schedule: &str, image: &str, command: &[&str]) -> Value {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    object["spec"] = json!({
        "schedule": schedule,
        "suspend": false,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {"spec": {"template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [{
                    "name": name,
                    "image": image,
                    "command": command,
                }],
                "restartPolicy": "OnFailure",
            },
        }}},
    });
    object["status"] = json!({});
    object
}

/// Helm's storage encoding of a release: base64 of gzip of its JSON (the
/// Secret's own base64 goes on top, as for any Secret value).
fn encode_helm_release(release: &Value) -> String {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    let compressed = gzip
        .write_all(release.to_string().as_bytes())
        .and_then(|()| gzip.finish())
        .expect("gzip into a Vec cannot fail");
    STANDARD.encode(compressed)
}

/// The annotations cert-manager puts on the secrets it writes.
fn cert_manager_annotations(certificate: &str, issuer: &str, common_name: &str) -> Value {
    json!({
        "annotations": {
            "cert-manager.io/certificate-name": certificate,
            "cert-manager.io/issuer-name": issuer,
            "cert-manager.io/issuer-kind": "Issuer",
            "cert-manager.io/issuer-group": "cert-manager.io",
            "cert-manager.io/common-name": common_name,
        },
        "labels": {"controller.cert-manager.io/fao": "true"},
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Read;

    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::Pem;

    use super::*;
    use crate::controller::{OperatorConfig, operator_corrections};

    const FLOATING: &str = "tsb.example.com";

    fn seed(root: &CertAuthority, cluster: &str, kind: SeedKind, certs: CertVariant) -> Vec<Value> {
        seed_objects(&SeedContext {
            cluster_name: cluster,
            namespace: "tsb",
            kind,
            certs,
            shared_root: root,
            floating_dns_name: FLOATING,
            front_address: "10.20.30.40".parse().unwrap(),
        })
    }

    fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
        objects
            .iter()
            .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
    }

    fn get<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
        find(objects, kind, name).unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn secret_value(objects: &[Value], name: &str, key: &str) -> Vec<u8> {
        let encoded = get(objects, "Secret", name)["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("secret {name} has no {key}"));
        STANDARD.decode(encoded).unwrap()
    }

    fn secret_names(objects: &[Value]) -> BTreeSet<String> {
        objects
            .iter()
            .filter(|object| object["kind"] == "Secret" && object["metadata"]["namespace"] == "tsb")
            .map(|object| object["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn pems(text: &[u8]) -> Vec<Pem> {
        Pem::iter_from_buffer(text)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    fn fingerprint(pem: &Pem) -> Vec<u8> {
        Sha256::digest(&pem.contents).to_vec()
    }

    fn dns_names(cert: &X509Certificate) -> Vec<String> {
        let san = cert.subject_alternative_name().unwrap().unwrap();
        san.value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Checks that `chain_pem` (leaf first) verifies link by link up to
    /// `ca_pem`, and returns the leaf's PEM.
    fn verify_chain(chain_pem: &[u8], ca_pem: &[u8]) -> Pem {
        let mut chain = pems(chain_pem);
        chain.extend(pems(ca_pem));
        for pair in chain.windows(2) {
            let child = pair[0].parse_x509().unwrap();
            let parent = pair[1].parse_x509().unwrap();
            assert_eq!(child.issuer(), parent.subject());
            child.verify_signature(Some(parent.public_key())).unwrap();
        }
        chain.swap_remove(0)
    }

    const GENERIC_REQUIRED: [&str; 7] = [
        "admin-credentials",
        "postgres-credentials",
        "elastic-credentials",
        "es-certs",
        "tsb-certs",
        "xcp-central-cert",
        "iam-signing-key",
    ];
    const GENERIC_OPTIONAL_PRESENT: [&str; 5] = [
        "tsb-iam-jwks",
        "ldap-credentials",
        "custom-host-ca",
        "local-user-credentials",
        "mpc-certs",
    ];

    #[test]
    fn seed_kinds_and_cert_variants_parse_by_name() {
        assert_eq!("tsb-helm".parse(), Ok(SeedKind::TsbHelm));
        assert_eq!("tsb-generic".parse(), Ok(SeedKind::TsbGeneric));
        assert_eq!("empty".parse(), Ok(SeedKind::Empty));
        for (name, variant) in CERT_VARIANTS {
            assert_eq!(name.parse(), Ok(variant));
        }
        let error = "helm".parse::<SeedKind>().unwrap_err();
        assert!(error.contains("\"helm\""), "{error}");
        assert!(error.contains("tsb-helm, tsb-generic, empty"), "{error}");
        let error = "shared".parse::<CertVariant>().unwrap_err();
        assert!(
            error.contains(
                "shared-root, own-root, expired-leaf, missing-san, cert-manager-self-signed"
            ),
            "{error}"
        );
    }

    #[test]
    fn empty_seed_is_the_builtin_namespaces_only() {
        let root = CertAuthority::new_root("root");
        let objects = seed(&root, "standby", SeedKind::Empty, CertVariant::SharedRoot);
        let names: Vec<&str> = objects
            .iter()
            .map(|object| {
                assert_eq!(object["kind"], "Namespace");
                object["metadata"]["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(names, BUILTIN_NAMESPACES);
    }

    #[test]
    fn every_object_is_well_formed_and_in_creation_order() {
        let root = CertAuthority::new_root("root");
        for kind in [SeedKind::TsbHelm, SeedKind::TsbGeneric] {
            for (_, certs) in CERT_VARIANTS {
                let objects = seed(&root, "active", kind, certs);
                let mut namespaces = BTreeSet::new();
                let mut crd_kinds = BTreeSet::new();
                let mut identities = BTreeSet::new();
                let mut phase = 0;
                for object in &objects {
                    let object_kind = object["kind"].as_str().unwrap();
                    let name = object["metadata"]["name"].as_str().unwrap();
                    assert!(!name.is_empty());
                    assert!(object["apiVersion"].as_str().is_some_and(|v| !v.is_empty()));
                    for assigned in ["uid", "resourceVersion", "creationTimestamp"] {
                        assert!(
                            object["metadata"].get(assigned).is_none(),
                            "{name} has {assigned}"
                        );
                    }
                    let object_phase = match object_kind {
                        "Namespace" => 0,
                        "CustomResourceDefinition" => 1,
                        _ => 2,
                    };
                    assert!(object_phase >= phase, "{object_kind} {name} out of order");
                    phase = object_phase;
                    let namespace = object["metadata"]["namespace"].as_str();
                    match object_kind {
                        "Namespace" => {
                            assert!(namespace.is_none());
                            namespaces.insert(name.to_string());
                        }
                        "CustomResourceDefinition" => {
                            assert!(namespace.is_none());
                            let spec = &object["spec"];
                            assert_eq!(
                                name,
                                format!(
                                    "{}.{}",
                                    spec["names"]["plural"].as_str().unwrap(),
                                    spec["group"].as_str().unwrap()
                                )
                            );
                            let version = &spec["versions"][0];
                            assert_eq!(version["schema"]["openAPIV3Schema"]["type"], "object");
                            assert_eq!(
                                version["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"],
                                true
                            );
                            crd_kinds.insert(format!(
                                "{}/{}/{}",
                                spec["group"].as_str().unwrap(),
                                version["name"].as_str().unwrap(),
                                spec["names"]["kind"].as_str().unwrap()
                            ));
                        }
                        _ => {
                            let namespace =
                                namespace.unwrap_or_else(|| panic!("{name} has no namespace"));
                            assert!(
                                namespaces.contains(namespace),
                                "{name} before namespace {namespace}"
                            );
                            let api_version = object["apiVersion"].as_str().unwrap();
                            if api_version.contains(".io/") {
                                assert!(
                                    crd_kinds.contains(&format!("{api_version}/{object_kind}")),
                                    "{object_kind} {name} has no CRD before it"
                                );
                            }
                        }
                    }
                    if let Some(data) = object.get("data").and_then(Value::as_object) {
                        for (key, value) in data {
                            assert!(
                                STANDARD.decode(value.as_str().unwrap()).is_ok(),
                                "{name}/{key}"
                            );
                        }
                    }
                    assert!(
                        identities.insert((
                            object_kind.to_string(),
                            namespace.map(str::to_string),
                            name.to_string()
                        )),
                        "{object_kind} {name} twice"
                    );
                }
                assert!(namespaces.contains("tsb"));
                assert_eq!(crd_kinds.len(), 5);
                let mp_crd = get(
                    &objects,
                    "CustomResourceDefinition",
                    "managementplanes.install.tetrate.io",
                );
                assert_eq!(mp_crd["spec"]["names"]["shortNames"], json!(["mp"]));
                assert_eq!(mp_crd["spec"]["names"]["listKind"], "ManagementPlaneList");
                let cluster_issuers = get(
                    &objects,
                    "CustomResourceDefinition",
                    "clusterissuers.cert-manager.io",
                );
                assert_eq!(cluster_issuers["spec"]["scope"], "Cluster");
                assert!(cluster_issuers["spec"]["names"].get("shortNames").is_none());
            }
        }
    }

    #[test]
    fn generic_seed_has_required_and_some_optional_secrets() {
        let root = CertAuthority::new_root("root");
        let objects = seed(
            &root,
            "active",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        let names = secret_names(&objects);
        for name in GENERIC_REQUIRED.iter().chain(&GENERIC_OPTIONAL_PRESENT) {
            assert!(names.contains(*name), "missing {name}");
        }
        for absent in [
            "azure-credentials",
            "iam-oidc-client-secret",
            HELM_RELEASE_SECRET,
        ] {
            assert!(!names.contains(absent), "{absent} should be absent");
        }
        assert!(find(&objects, "ManagementPlane", "managementplane").is_some());
        assert!(find(&objects, "CentralXcp", "central-xcp").is_some());

        let password = generated_password("active", "admin");
        assert_eq!(
            secret_value(&objects, "admin-credentials", "admin"),
            hex(&Sha256::digest(password.as_bytes())).as_bytes()
        );
        for key in ["username", "password", "ca.crt"] {
            assert!(!secret_value(&objects, "postgres-credentials", key).is_empty());
        }
        assert!(!secret_value(&objects, "es-certs", "ca.crt").is_empty());
        assert!(!secret_value(&objects, "custom-host-ca", "ca-certificates.crt").is_empty());
        assert!(!secret_value(&objects, "ldap-credentials", "bindpassword").is_empty());
        let signing_key =
            String::from_utf8(secret_value(&objects, "iam-signing-key", "private.key")).unwrap();
        assert!(rcgen::KeyPair::from_pem(&signing_key).is_ok());
        for name in ["tsb-certs", "xcp-central-cert", "mpc-certs"] {
            let tls = get(&objects, "Secret", name);
            assert_eq!(tls["type"], "kubernetes.io/tls");
            for key in ["tls.crt", "tls.key", "ca.crt"] {
                assert!(
                    !secret_value(&objects, name, key).is_empty(),
                    "{name}/{key}"
                );
            }
        }

        let token = get(&objects, "Secret", "tsb-operator-token-x7k2p");
        assert_eq!(token["type"], "kubernetes.io/service-account-token");
        let restore = get(&objects, "CronJob", "tsb-restore");
        assert_eq!(restore["apiVersion"], "batch/v1");
        assert_eq!(restore["spec"]["suspend"], false);
        assert!(get(&objects, "Secret", "demo-app-db")["metadata"]["namespace"] == "default");
    }

    #[test]
    fn helm_seed_release_decodes_to_values_and_status() {
        let root = CertAuthority::new_root("root");
        let objects = seed(&root, "active", SeedKind::TsbHelm, CertVariant::SharedRoot);
        let release_secret = get(&objects, "Secret", HELM_RELEASE_SECRET);
        assert_eq!(release_secret["type"], "helm.sh/release.v1");
        assert_eq!(
            release_secret["metadata"]["labels"],
            json!({"owner": "helm", "name": "mp", "status": "deployed", "version": "1"})
        );

        let helm_encoded = secret_value(&objects, HELM_RELEASE_SECRET, "release");
        let gzipped = STANDARD.decode(helm_encoded).unwrap();
        let mut json_text = String::new();
        flate2::read::GzDecoder::new(gzipped.as_slice())
            .read_to_string(&mut json_text)
            .unwrap();
        let release: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(release["name"], "mp");
        assert_eq!(release["namespace"], "tsb");
        assert_eq!(release["version"], 1);
        assert_eq!(release["info"]["status"], "deployed");
        assert_eq!(release["chart"]["metadata"]["name"], "managementplane");
        assert_eq!(release["chart"]["metadata"]["version"], TSB_VERSION);

        let config = &release["config"];
        assert_eq!(config["image"]["registry"], HUB);
        assert_eq!(
            config["spec"],
            get(&objects, "ManagementPlane", "managementplane")["spec"],
            "the CR helm rendered carries the values' spec"
        );
        let admin_password = config["secrets"]["tsb"]["adminPassword"].as_str().unwrap();
        assert_eq!(
            secret_value(&objects, "admin-credentials", "admin"),
            hex(&Sha256::digest(admin_password.as_bytes())).as_bytes()
        );
        assert_eq!(
            config["secrets"]["tsb"]["cert"]
                .as_str()
                .unwrap()
                .as_bytes(),
            secret_value(&objects, "tsb-certs", "tls.crt")
        );
        assert_eq!(config["secrets"]["postgres"]["username"], "tsb");
        assert_eq!(
            config["secrets"]["xcp"]["central"]["key"]
                .as_str()
                .unwrap()
                .as_bytes(),
            secret_value(&objects, "xcp-central-cert", "tls.key")
        );
        assert!(config["operator"].is_object());

        let names = secret_names(&objects);
        for name in [
            "admin-credentials",
            "tsb-certs",
            "postgres-credentials",
            "elastic-credentials",
            "xcp-central-cert",
            "iam-signing-key",
        ] {
            assert!(names.contains(name), "missing {name}");
        }
        let helm_owned = &get(&objects, "Secret", "tsb-certs")["metadata"];
        assert_eq!(helm_owned["labels"]["app.kubernetes.io/managed-by"], "Helm");
        assert_eq!(helm_owned["annotations"]["meta.helm.sh/release-name"], "mp");
        assert!(
            get(&objects, "Secret", "iam-signing-key")["metadata"]
                .get("labels")
                .is_none()
        );
        assert!(find(&objects, "CronJob", "tsb-restore").is_none());
        assert!(!names.contains("ldap-credentials"));
    }

    #[test]
    fn deployments_carry_operator_labels_and_no_status() {
        let root = CertAuthority::new_root("root");
        let objects = seed(
            &root,
            "active",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        let deployments: Vec<Value> = objects
            .iter()
            .filter(|object| object["kind"] == "Deployment")
            .cloned()
            .collect();
        let names: Vec<&str> = deployments
            .iter()
            .map(|deployment| deployment["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "tsb-operator-management-plane",
                "tsb",
                "iam",
                "web",
                "oap",
                "otel-collector",
                "xcp-operator-central",
                "central",
                "mpc",
                "envoy"
            ]
        );
        let config = OperatorConfig::default();
        let (label_key, label_value) = &config.managed_label;
        for deployment in &deployments {
            let name = deployment["metadata"]["name"].as_str().unwrap();
            let replicas = deployment["spec"]["replicas"].as_i64().unwrap();
            assert_eq!(replicas, if name == "envoy" { 2 } else { 1 });
            assert!(
                deployment.get("status").is_none(),
                "{name}: the controller's to write"
            );
            let selector = deployment["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap();
            let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
            for (key, value) in selector {
                assert_eq!(
                    &pod_labels[key], value,
                    "{name}'s selector matches its pods"
                );
            }
            let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap();
            assert!(image.starts_with(HUB), "{image}");
            let managed =
                deployment["metadata"]["labels"][label_key.as_str()] == label_value.as_str();
            assert_eq!(managed, name != OPERATOR_DEPLOYMENT, "{name}");
        }
        let operator = &deployments[0];
        assert_eq!(
            operator["spec"]["template"]["metadata"]["labels"]["name"],
            "tsb-operator"
        );
        // Once the cluster runs them (the operator ready), nothing needs correcting...
        let mut running = deployments.clone();
        running[0]["status"] = json!({"readyReplicas": 1});
        assert!(operator_corrections(&running, &config).is_empty());

        // ...and scaling envoy to zero is undone to its recorded count of 2.
        let mut scaled = running.clone();
        scaled[9]["spec"]["replicas"] = json!(0);
        assert_eq!(
            operator_corrections(&scaled, &config),
            [("envoy".to_string(), 2)]
        );
    }

    #[test]
    fn front_and_central_services() {
        let root = CertAuthority::new_root("root");
        let objects = seed(&root, "active", SeedKind::TsbHelm, CertVariant::SharedRoot);
        let envoy = get(&objects, "Service", "envoy");
        assert_eq!(envoy["spec"]["type"], "LoadBalancer");
        let port = &envoy["spec"]["ports"][0];
        assert_eq!(port["name"], "https-ingress");
        assert_eq!(port["port"], 8443);
        assert_eq!(port["targetPort"], 8443);
        assert_eq!(
            envoy["status"]["loadBalancer"]["ingress"][0]["ip"],
            "10.20.30.40"
        );
        assert_eq!(envoy["spec"]["selector"]["app"], "envoy");
        let central = get(&objects, "Service", "central");
        assert_eq!(central["spec"]["ports"][0]["port"], 9443);
    }

    #[test]
    fn shared_root_chains_every_certificate_to_the_shared_root() {
        let root = CertAuthority::new_root("shared");
        let root_fingerprint = fingerprint(&pems(root.cert_pem().as_bytes())[0]);
        let objects = seed(
            &root,
            "active",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        for name in ["tsb-certs", "xcp-central-cert", "mpc-certs"] {
            let ca = secret_value(&objects, name, "ca.crt");
            assert_eq!(fingerprint(&pems(&ca)[0]), root_fingerprint, "{name}");
            let chain = secret_value(&objects, name, "tls.crt");
            assert_eq!(pems(&chain).len(), 2, "{name}: leaf and intermediate");
            let leaf_pem = verify_chain(&chain, &ca);
            let leaf = leaf_pem.parse_x509().unwrap();
            assert!(leaf.validity().is_valid());
            if name != "mpc-certs" {
                let names = dns_names(&leaf);
                assert!(names.contains(&FLOATING.to_string()), "{name}: {names:?}");
                assert!(
                    names.contains(&"active.mp.internal".to_string()),
                    "{name}: {names:?}"
                );
            }
        }
        for (name, key) in [
            ("postgres-credentials", "ca.crt"),
            ("es-certs", "ca.crt"),
            ("custom-host-ca", "ca-certificates.crt"),
        ] {
            assert_eq!(
                fingerprint(&pems(&secret_value(&objects, name, key))[0]),
                root_fingerprint,
                "{name}"
            );
        }
        let key = String::from_utf8(secret_value(&objects, "tsb-certs", "tls.key")).unwrap();
        let leaf_pem = &pems(&secret_value(&objects, "tsb-certs", "tls.crt"))[0];
        assert_eq!(
            rcgen::KeyPair::from_pem(&key).unwrap().public_key_raw(),
            leaf_pem
                .parse_x509()
                .unwrap()
                .public_key()
                .subject_public_key
                .data
                .as_ref()
        );
    }

    #[test]
    fn own_root_is_unique_to_the_cluster() {
        let root = CertAuthority::new_root("shared");
        let root_fingerprint = fingerprint(&pems(root.cert_pem().as_bytes())[0]);
        let objects = seed(&root, "standby", SeedKind::TsbGeneric, CertVariant::OwnRoot);
        let other = seed(&root, "other", SeedKind::TsbGeneric, CertVariant::OwnRoot);
        let ca = secret_value(&objects, "tsb-certs", "ca.crt");
        assert_ne!(fingerprint(&pems(&ca)[0]), root_fingerprint);
        assert_ne!(ca, secret_value(&other, "tsb-certs", "ca.crt"));
        verify_chain(&secret_value(&objects, "tsb-certs", "tls.crt"), &ca);
        assert_eq!(secret_value(&objects, "xcp-central-cert", "ca.crt"), ca);
    }

    #[test]
    fn expired_leaf_variant_expires_only_tsb_certs() {
        let root = CertAuthority::new_root("shared");
        let objects = seed(&root, "active", SeedKind::TsbHelm, CertVariant::ExpiredLeaf);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let tsb = &pems(&secret_value(&objects, "tsb-certs", "tls.crt"))[0];
        let tsb = tsb.parse_x509().unwrap();
        assert!(!tsb.validity().is_valid());
        assert!(tsb.validity().not_after.timestamp() < now);
        let central = &pems(&secret_value(&objects, "xcp-central-cert", "tls.crt"))[0];
        assert!(central.parse_x509().unwrap().validity().is_valid());
    }

    #[test]
    fn missing_san_variant_lacks_the_floating_name() {
        let root = CertAuthority::new_root("shared");
        let objects = seed(
            &root,
            "active",
            SeedKind::TsbGeneric,
            CertVariant::MissingSan,
        );
        for name in ["tsb-certs", "xcp-central-cert"] {
            let leaf = &pems(&secret_value(&objects, name, "tls.crt"))[0];
            let names = dns_names(&leaf.parse_x509().unwrap());
            assert!(!names.contains(&FLOATING.to_string()), "{name}: {names:?}");
            assert!(
                names.contains(&"active.mp.internal".to_string()),
                "{name}: {names:?}"
            );
        }
    }

    #[test]
    fn cert_manager_variant_builds_the_self_signed_issuer_chain() {
        let root = CertAuthority::new_root("shared");
        let root_fingerprint = fingerprint(&pems(root.cert_pem().as_bytes())[0]);
        for kind in [SeedKind::TsbGeneric, SeedKind::TsbHelm] {
            let objects = seed(&root, "active", kind, CertVariant::CertManagerSelfSigned);
            assert_eq!(
                get(&objects, "Issuer", "xcp-trust-anchor")["spec"],
                json!({"selfSigned": {}})
            );
            let identity = get(&objects, "Certificate", "xcp-identity-issuer");
            assert_eq!(identity["spec"]["isCA"], true);
            assert_eq!(identity["spec"]["issuerRef"]["name"], "xcp-trust-anchor");
            assert_eq!(identity["spec"]["secretName"], "xcp-identity-issuer");
            assert_eq!(
                get(&objects, "Issuer", "xcp-identity-issuer")["spec"],
                json!({"ca": {"secretName": "xcp-identity-issuer"}})
            );
            for name in ["xcp-central-cert", "mpc-certs"] {
                let certificate = get(&objects, "Certificate", name);
                assert_eq!(
                    certificate["spec"]["issuerRef"]["name"],
                    "xcp-identity-issuer"
                );
                assert_eq!(certificate["spec"]["secretName"], name);
                assert_eq!(certificate["status"]["conditions"][0]["type"], "Ready");
                assert_eq!(certificate["status"]["conditions"][0]["status"], "True");
                let secret = get(&objects, "Secret", name);
                assert_eq!(
                    secret["metadata"]["annotations"]["cert-manager.io/certificate-name"],
                    name
                );
                let leaf = &pems(&secret_value(&objects, name, "tls.crt"))[0];
                assert_eq!(
                    certificate["spec"]["dnsNames"],
                    json!(dns_names(&leaf.parse_x509().unwrap())),
                    "{name}: the Certificate asks for what its secret holds"
                );
            }

            let identity_ca = secret_value(&objects, "xcp-identity-issuer", "tls.crt");
            let identity_cert = &pems(&identity_ca)[0];
            let identity_x509 = identity_cert.parse_x509().unwrap();
            assert!(identity_x509.is_ca());
            assert_eq!(identity_x509.subject(), identity_x509.issuer());
            assert_ne!(fingerprint(identity_cert), root_fingerprint);
            for name in ["xcp-central-cert", "mpc-certs"] {
                let ca = secret_value(&objects, name, "ca.crt");
                assert_eq!(ca, identity_ca, "{name}'s ca.crt is the self-signed CA");
                verify_chain(&secret_value(&objects, name, "tls.crt"), &ca);
            }
            let tsb_ca = secret_value(&objects, "tsb-certs", "ca.crt");
            assert_eq!(fingerprint(&pems(&tsb_ca)[0]), root_fingerprint);

            let other = seed(&root, "standby", kind, CertVariant::CertManagerSelfSigned);
            assert_ne!(
                secret_value(&other, "xcp-identity-issuer", "tls.crt"),
                identity_ca
            );
        }
    }

    #[test]
    fn helm_with_cert_manager_asks_the_chart_to_generate_xcp_certs() {
        let root = CertAuthority::new_root("shared");
        let objects = seed(
            &root,
            "active",
            SeedKind::TsbHelm,
            CertVariant::CertManagerSelfSigned,
        );
        let helm_encoded = secret_value(&objects, HELM_RELEASE_SECRET, "release");
        let mut json_text = String::new();
        flate2::read::GzDecoder::new(STANDARD.decode(helm_encoded).unwrap().as_slice())
            .read_to_string(&mut json_text)
            .unwrap();
        let release: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(
            release["config"]["secrets"]["xcp"],
            json!({"autoGenerateCerts": true})
        );
    }

    #[test]
    fn independent_installs_generate_different_secrets() {
        let root = CertAuthority::new_root("shared");
        let active = seed(
            &root,
            "active",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        let standby = seed(
            &root,
            "standby",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        for (name, key) in [
            ("iam-signing-key", "private.key"),
            ("iam-signing-key", "kid"),
            ("tsb-iam-jwks", "jwks"),
            ("admin-credentials", "admin"),
            ("postgres-credentials", "password"),
            ("tsb-certs", "tls.key"),
        ] {
            assert_ne!(
                secret_value(&active, name, key),
                secret_value(&standby, name, key),
                "{name}"
            );
        }
    }

    #[test]
    fn objects_go_to_the_configured_namespace() {
        let root = CertAuthority::new_root("shared");
        let objects = seed_objects(&SeedContext {
            cluster_name: "active",
            namespace: "mp-system",
            kind: SeedKind::TsbGeneric,
            certs: CertVariant::SharedRoot,
            shared_root: &root,
            floating_dns_name: FLOATING,
            front_address: "10.20.30.40".parse().unwrap(),
        });
        assert!(find(&objects, "Namespace", "mp-system").is_some());
        assert!(find(&objects, "Namespace", "tsb").is_none());
        for object in &objects[BUILTIN_NAMESPACES.len()..] {
            let kind = object["kind"].as_str().unwrap();
            let name = object["metadata"]["name"].as_str().unwrap();
            if let Some(namespace) = object["metadata"]["namespace"].as_str()
                && name != "demo-app-db"
            {
                assert_eq!(namespace, "mp-system", "{kind} {name}");
            }
        }
        let mpc = &pems(&secret_value(&objects, "mpc-certs", "tls.crt"))[0];
        assert!(
            dns_names(&mpc.parse_x509().unwrap())
                .contains(&"mpc.mp-system.svc.cluster.local".to_string())
        );
    }

    #[test]
    fn odd_cluster_names_still_make_valid_dns_names() {
        assert_eq!(cluster_dns_name("Active_EU 1"), "active-eu-1.mp.internal");
        assert_eq!(cluster_dns_name("ümlaut"), "mlaut.mp.internal");
        assert_eq!(cluster_dns_name("__"), "cluster.mp.internal");
        let root = CertAuthority::new_root("shared");
        let objects = seed(
            &root,
            "Zürich Prod",
            SeedKind::TsbGeneric,
            CertVariant::SharedRoot,
        );
        let leaf = &pems(&secret_value(&objects, "tsb-certs", "tls.crt"))[0];
        assert!(
            dns_names(&leaf.parse_x509().unwrap()).contains(&"z-rich-prod.mp.internal".to_string())
        );
    }
}
