//! Writes a kubeconfig (the tests' and mp-live's, through the proxies).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// One cluster's entry: contexts `name` (client cert) and `name-token` (bearer token).
pub struct KubeconfigCluster<'a> {
    pub name: &'a str,
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
    pub token: &'a str,
    pub namespace: &'a str,
}

/// Writes the kubeconfig (mode 0600, atomically); current-context is the first cluster.
///
/// Fails with `InvalidInput` when `clusters` is empty: a kubeconfig without
/// a current context would send kubectl to localhost:8080.
pub fn write_kubeconfig(path: &Path, clusters: &[KubeconfigCluster]) -> std::io::Result<()> {
    let first = clusters.first().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a kubeconfig needs at least one cluster",
        )
    })?;
    let config = Kubeconfig::new(clusters, first.name);
    let yaml = serde_saphyr::to_string(&config).map_err(std::io::Error::other)?;
    write_private_atomically(path, yaml.as_bytes())
}

/// Writes `contents` to a temporary file next to `path`, readable by the
/// owner only from its creation (it holds a private key and a token), then
/// renames it over `path`, so a reader never sees a half-written file.
fn write_private_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp_path = path.with_file_name(temp_name);

    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp_path)?;
        // The mode above applies only to a new file; a stale temp file
        // left by a crashed run keeps its own, so set it again.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp_path, path)
    };
    write().inspect_err(|_| {
        // Best effort: the write's error is the one worth reporting.
        let _ = fs::remove_file(&temp_path);
    })
}

#[derive(Serialize)]
struct Kubeconfig<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<Named<ClusterEntry<'a>>>,
    users: Vec<Named<UserEntry<'a>>>,
    contexts: Vec<Named<ContextEntry<'a>>>,
    #[serde(rename = "current-context")]
    current_context: &'a str,
}

/// kubeconfig lists hold `{name, <kind>: {...}}` entries.
#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    entry: T,
}

#[derive(Serialize)]
struct ClusterEntry<'a> {
    cluster: ClusterDetails<'a>,
}

#[derive(Serialize)]
struct ClusterDetails<'a> {
    server: &'a str,
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: String,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    user: UserDetails<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum UserDetails<'a> {
    ClientCertificate {
        #[serde(rename = "client-certificate-data")]
        client_certificate_data: String,
        #[serde(rename = "client-key-data")]
        client_key_data: String,
    },
    Token {
        token: &'a str,
    },
}

#[derive(Serialize)]
struct ContextEntry<'a> {
    context: ContextDetails<'a>,
}

#[derive(Serialize)]
struct ContextDetails<'a> {
    cluster: &'a str,
    user: String,
    namespace: &'a str,
}

impl<'a> Kubeconfig<'a> {
    fn new(clusters: &'a [KubeconfigCluster<'a>], current_context: &'a str) -> Self {
        let mut config = Kubeconfig {
            api_version: "v1",
            kind: "Config",
            clusters: Vec::new(),
            users: Vec::new(),
            contexts: Vec::new(),
            current_context,
        };
        for cluster in clusters {
            let admin_user = format!("{}-admin", cluster.name);
            let token_user = format!("{}-token", cluster.name);
            config.clusters.push(Named {
                name: cluster.name.to_string(),
                entry: ClusterEntry {
                    cluster: ClusterDetails {
                        server: cluster.server,
                        certificate_authority_data: STANDARD.encode(cluster.ca_pem),
                    },
                },
            });
            config.users.push(Named {
                name: admin_user.clone(),
                entry: UserEntry {
                    user: UserDetails::ClientCertificate {
                        client_certificate_data: STANDARD.encode(cluster.client_cert_pem),
                        client_key_data: STANDARD.encode(cluster.client_key_pem),
                    },
                },
            });
            config.users.push(Named {
                name: token_user.clone(),
                entry: UserEntry {
                    user: UserDetails::Token {
                        token: cluster.token,
                    },
                },
            });
            config.contexts.push(Named {
                name: cluster.name.to_string(),
                entry: ContextEntry {
                    context: ContextDetails {
                        cluster: cluster.name,
                        user: admin_user,
                        namespace: cluster.namespace,
                    },
                },
            });
            config.contexts.push(Named {
                name: token_user.clone(),
                entry: ContextEntry {
                    context: ContextDetails {
                        cluster: cluster.name,
                        user: token_user,
                        namespace: cluster.namespace,
                    },
                },
            });
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const LONG_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgZm9yIHRlc3Rpbmcgb25seTAKBggqhkjOPQQDAjAa\n-----END CERTIFICATE-----\n";

    fn clusters() -> Vec<KubeconfigCluster<'static>> {
        vec![
            KubeconfigCluster {
                name: "active",
                server: "https://127.0.0.1:40001",
                ca_pem: LONG_PEM,
                client_cert_pem: "client-cert-active",
                client_key_pem: "client-key-active",
                token: "token-active",
                namespace: "tsb",
            },
            KubeconfigCluster {
                name: "standby",
                server: "https://127.0.0.1:40002",
                ca_pem: LONG_PEM,
                client_cert_pem: "client-cert-standby",
                client_key_pem: "client-key-standby",
                token: "token-standby",
                namespace: "tsb",
            },
        ]
    }

    fn temp_dir(test: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mp-sandbox-kubeconfig-{test}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|item| item["name"] == name)
            .unwrap_or_else(|| panic!("no entry {name}"))
    }

    #[test]
    fn round_trips_with_every_cluster_user_and_context() {
        let dir = temp_dir("round-trip");
        let path = dir.join("kubeconfig");
        write_kubeconfig(&path, &clusters()).unwrap();
        let parsed: Value = serde_saphyr::from_str(&fs::read_to_string(&path).unwrap()).unwrap();

        assert_eq!(parsed["apiVersion"], "v1");
        assert_eq!(parsed["kind"], "Config");
        assert_eq!(parsed["current-context"], "active");
        assert_eq!(parsed["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(parsed["users"].as_array().unwrap().len(), 4);
        assert_eq!(parsed["contexts"].as_array().unwrap().len(), 4);

        let standby = &entry(&parsed["clusters"], "standby")["cluster"];
        assert_eq!(standby["server"], "https://127.0.0.1:40002");
        let ca = STANDARD
            .decode(standby["certificate-authority-data"].as_str().unwrap())
            .unwrap();
        assert_eq!(ca, LONG_PEM.as_bytes());

        let admin = &entry(&parsed["users"], "standby-admin")["user"];
        let decode = |field: &str| {
            String::from_utf8(STANDARD.decode(admin[field].as_str().unwrap()).unwrap()).unwrap()
        };
        assert_eq!(decode("client-certificate-data"), "client-cert-standby");
        assert_eq!(decode("client-key-data"), "client-key-standby");
        assert!(admin.get("token").is_none());
        let token_user = &entry(&parsed["users"], "standby-token")["user"];
        assert_eq!(token_user, &serde_json::json!({"token": "token-standby"}));

        let context = &entry(&parsed["contexts"], "standby")["context"];
        assert_eq!(
            context,
            &serde_json::json!({"cluster": "standby", "user": "standby-admin", "namespace": "tsb"})
        );
        let token_context = &entry(&parsed["contexts"], "standby-token")["context"];
        assert_eq!(token_context["user"], "standby-token");
        assert_eq!(token_context["cluster"], "standby");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_is_private_and_replaced_whole() {
        let dir = temp_dir("mode");
        let path = dir.join("kubeconfig");
        fs::write(&path, "stale: true\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_kubeconfig(&path, &clusters()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!fs::read_to_string(&path).unwrap().contains("stale"));
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn kubectl_reads_it() {
        let dir = temp_dir("kubectl");
        let path = dir.join("kubeconfig");
        write_kubeconfig(&path, &clusters()).unwrap();
        let kubectl = crate::tools::kube_tools_dir()
            .expect("the built tools")
            .join("kubectl");
        let output = std::process::Command::new(kubectl)
            .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
            .arg(&path)
            .output()
            .expect("the built kubectl runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let viewed: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(viewed["current-context"], "active");
        let token_user = &entry(&viewed["users"], "active-token")["user"];
        assert_eq!(token_user["token"], "token-active");
        let cluster = &entry(&viewed["clusters"], "active")["cluster"];
        assert_eq!(
            cluster["certificate-authority-data"],
            STANDARD.encode(LONG_PEM)
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_clusters_is_an_error() {
        let dir = temp_dir("empty");
        let error = write_kubeconfig(&dir.join("kubeconfig"), &[]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        fs::remove_dir_all(dir).unwrap();
    }
}
