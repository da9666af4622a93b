//! Connect wherever kubectl connects (issue 12): each kubeconfig goes to
//! real kubectl 1.36 and to a plugin; kubectl's outcome is the expected one.
//! The API servers are the real plane's, or the test proxy in front of one
//! when a case needs a server certificate of its own.

mod plugin_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use mp_sandbox::SeedKind;
use mp_sandbox::forward_proxy::{ForwardProxy, PROXIED_DOMAIN, ProxyKind};
use mp_sandbox::pki::CertAuthority;
use mp_sandbox::proxy::ApiProxy;
use plugin_support::{Out, World, plane};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A kubeconfig with one context, `parity`, of `cluster` and `user` (YAML
/// mappings' bodies, indented by 4).
fn kubeconfig(world: &World, name: &str, cluster: &str, user: &str) -> PathBuf {
    let path = world.path(name);
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: parity\nclusters:\n- name: c\n  cluster:\n{cluster}users:\n- name: u\n  user:\n{user}contexts:\n- name: parity\n  context: {{cluster: c, user: u}}\n"
        ),
    )
    .unwrap();
    path
}

/// The real `active` API server, trusted through its own CA.
fn real_cluster() -> String {
    let upstream = plane().upstream_of("active");
    format!(
        "    server: https://{}\n    certificate-authority-data: {}\n",
        upstream.address,
        b64(&upstream.ca_pem)
    )
}

/// The admin's client certificate on the real plane.
fn admin_user() -> String {
    let upstream = plane().upstream_of("active");
    format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&upstream.client_cert_pem),
        b64(&upstream.client_key_pem)
    )
}

/// kubectl reading the world's Secrets, and mp-export of them, with the
/// same kubeconfig: (kubectl, plugin).
async fn both(world: &World, kubeconfig: &Path) -> (Out, Out) {
    (
        kubectl_lists(world, kubeconfig, &[]).await,
        plugin_exports(world, kubeconfig, &[]).await,
    )
}

/// What each side runs: kubectl lists the world's Secrets, the plugin
/// exports them (`-n` is added for the plugin).
#[derive(Clone, Copy)]
enum Who {
    Kubectl,
    Plugin,
}

/// `who` with `kubeconfig` and `env`.
async fn connect(world: &World, who: Who, kubeconfig: &Path, env: &[(&str, &str)]) -> Out {
    let args = match who {
        Who::Kubectl => vec!["get", "secrets", "-n", &world.ns],
        Who::Plugin => vec!["mp-export", "-f", "b.yaml", "--force"],
    };
    let args = [&args[..], &["--request-timeout", "10s"]].concat();
    world
        .kubectl_with_env(&args, b"", kubeconfig.as_os_str(), env)
        .await
}

async fn kubectl_lists(world: &World, kubeconfig: &Path, env: &[(&str, &str)]) -> Out {
    connect(world, Who::Kubectl, kubeconfig, env).await
}

async fn plugin_exports(world: &World, kubeconfig: &Path, env: &[(&str, &str)]) -> Out {
    connect(world, Who::Plugin, kubeconfig, env).await
}

/// Both connect (kubectl lists, the plugin exports).
async fn assert_both_connect(world: &World, kubeconfig: &Path, case: &str) {
    let (kubectl, plugin) = both(world, kubeconfig).await;
    assert_eq!(kubectl.code, Some(0), "{case}: kubectl: {}", kubectl.stderr);
    assert_eq!(plugin.code, Some(0), "{case}: plugin: {}", plugin.stderr);
}

/// Both refuse; the plugin in one line naming the context. Returns its line.
async fn assert_both_refuse(world: &World, kubeconfig: &Path, case: &str) -> String {
    let (kubectl, plugin) = both(world, kubeconfig).await;
    assert_ne!(kubectl.code, Some(0), "{case}: kubectl connected");
    assert_ne!(
        plugin.code,
        Some(0),
        "{case}: plugin connected: {}",
        plugin.stderr
    );
    assert_eq!(
        plugin.stderr.lines().count(),
        1,
        "{case}: {}",
        plugin.stderr
    );
    assert!(
        plugin.stderr.contains("\"parity\""),
        "{case}: {}",
        plugin.stderr
    );
    plugin.stderr
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The real `active` cluster's CA key, which kwokctl keeps beside its state.
fn active_ca_files() -> Option<(PathBuf, PathBuf)> {
    let pki = plane()
        .kubeconfig
        .parent()?
        .join("kwok/clusters/active/pki");
    let files = (pki.join("ca.crt"), pki.join("ca.key"));
    (files.0.is_file() && files.1.is_file()).then_some(files)
}

/// X.509 v1 client certificates (`openssl x509 -req` with no extensions, as
/// microk8s writes them), with keys in every encoding kubectl reads: the
/// real API server accepts them, so must every plugin.
#[tokio::test(flavor = "multi_thread")]
async fn v1_client_certificates_with_every_key_encoding_connect() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let Some((ca_crt, ca_key)) = active_ca_files() else {
        eprintln!(
            "needs the CA key of `make clusters`' own pair, not MP_TEST_KUBECONFIG's: skipped"
        );
        return;
    };
    let dir = world.path("v1");
    std::fs::create_dir_all(&dir).unwrap();
    let keys: [(&str, &[&[&str]]); 6] = [
        (
            "ec-p256-sec1",
            &[&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "KEY",
            ]],
        ),
        (
            "ec-p384-sec1",
            &[&[
                "ecparam",
                "-name",
                "secp384r1",
                "-genkey",
                "-noout",
                "-out",
                "KEY",
            ]],
        ),
        (
            "ec-p256-pkcs8",
            &[&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "KEY",
            ]],
        ),
        (
            "ec-p384-pkcs8",
            &[&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                "KEY",
            ]],
        ),
        (
            "rsa-pkcs1",
            &[&["genrsa", "-traditional", "-out", "KEY", "2048"]],
        ),
        (
            "rsa-pkcs8",
            &[&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "KEY",
            ]],
        ),
    ];
    let mut first = None;
    for (kind, commands) in keys {
        let key = format!("{kind}.key");
        for command in commands {
            let args: Vec<&str> = command
                .iter()
                .map(|arg| if *arg == "KEY" { key.as_str() } else { arg })
                .collect();
            openssl(&dir, &args);
        }
        let (csr, crt) = (format!("{kind}.csr"), format!("{kind}.crt"));
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                "/CN=v1-user/O=system:masters",
                "-out",
                &csr,
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                ca_crt.to_str().unwrap(),
                "-CAkey",
                ca_key.to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                &crt,
            ],
        );
        let pem = std::fs::read_to_string(dir.join(&crt)).unwrap();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
            .map(|der: rustls::pki_types::CertificateDer| der.to_vec())
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            parsed.version(),
            x509_parser::x509::X509Version::V1,
            "{kind}: openssl made a v1 certificate"
        );
        let key_pem = std::fs::read_to_string(dir.join(&key)).unwrap();
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&pem),
            b64(&key_pem)
        );
        let path = kubeconfig(
            &world,
            &format!("{kind}.kubeconfig"),
            &real_cluster(),
            &user,
        );
        assert_both_connect(&world, &path, kind).await;
        first.get_or_insert(path);
    }

    // Every plugin, with the standby from the world's own kubeconfig.
    let list = std::env::join_paths([first.unwrap(), world.kubeconfig().to_path_buf()]).unwrap();
    let run = async |args: &[&str]| {
        world
            .kubectl_with_kubeconfig(args, b"", list.as_os_str())
            .await
    };
    run(&["mp-export", "-f", "v1.yaml"]).await.ok("mp-export");
    let import = run(&["mp-import", "-f", "v1.yaml", "--dry-run", "--yes"]).await;
    assert_eq!(import.code, Some(0), "mp-import: {}", import.stderr);
    let cacheck = run(&["mp-cacheck", "--context", "parity", "-o", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&cacheck.stdout)
        .unwrap_or_else(|error| panic!("mp-cacheck: {error}: {}", cacheck.all()));
    assert_eq!(report["sources"][0]["context"], "parity", "{report}");
    assert_eq!(report["summary"]["fail"], 0, "{report}");
    let failover = run(&[
        "mp-failover",
        "--from",
        "parity",
        "--to",
        "standby",
        "--dry-run",
        "--database",
        "shared",
        "--dns-backend",
        "manual",
        "--dns-name",
        "mp.parity.example",
        "--dns-server",
        "127.0.0.1:9",
    ])
    .await;
    assert!(
        failover
            .all()
            .contains("✔ active MP found in context \"parity\""),
        "mp-failover: {}",
        failover.all()
    );
}

/// The server's own (leaf) certificate as `certificate-authority`: Go
/// trusts a certificate found in the CA file as it is.
#[tokio::test(flavor = "multi_thread")]
async fn the_servers_own_certificate_as_ca_connects() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let address = plane().upstream_of("active").address.to_string();
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &address, "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    let begin = shown
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a served certificate");
    let end = shown[begin..].find("-----END CERTIFICATE-----").unwrap() + begin + 25;
    let leaf = format!("{}\n", &shown[begin..end]);
    let cluster = format!(
        "    server: https://{address}\n    certificate-authority-data: {}\n",
        b64(&leaf)
    );
    let path = kubeconfig(&world, "leaf-ca.kubeconfig", &cluster, &admin_user());
    assert_both_connect(&world, &path, "the server's leaf as CA").await;
}

/// A server chained through an intermediate, with only the intermediate as
/// `certificate-authority`; then a server certificate naming the server in
/// its CN alone, which kubectl refuses.
#[tokio::test(flavor = "multi_thread")]
async fn an_intermediate_as_ca_connects_and_a_cn_only_server_is_refused() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let root = CertAuthority::new_root("parity root");
    let intermediate = root.issue_intermediate("parity intermediate");
    let localhost = [std::net::Ipv4Addr::LOCALHOST.into()];
    let (proxy, user) = proxy_for(&intermediate, "parity server", &["localhost"], &localhost).await;
    let cluster = format!(
        "    server: {}\n    certificate-authority-data: {}\n",
        proxy.url(),
        b64(intermediate.cert_pem())
    );
    let path = kubeconfig(&world, "intermediate.kubeconfig", &cluster, &user);
    assert_both_connect(&world, &path, "an intermediate as CA").await;

    let (proxy, user) = proxy_for(&root, "127.0.0.1", &[], &[]).await;
    let cluster = format!(
        "    server: {}\n    certificate-authority-data: {}\n",
        proxy.url(),
        b64(root.cert_pem())
    );
    let path = kubeconfig(&world, "cn-only.kubeconfig", &cluster, &user);
    let line = assert_both_refuse(&world, &path, "a CN-only server certificate").await;
    assert_eq!(line.split(':').next(), Some("error"), "{line}");
}

/// `insecure-skip-tls-verify` alone connects; with a CA it is kubectl's
/// error, and ours; a `tokenFile` ending in a newline (as `echo` and most
/// editors leave it) is read as kubectl reads it.
#[tokio::test(flavor = "multi_thread")]
async fn insecure_alone_connects_insecure_with_a_ca_is_refused_and_token_files_are_trimmed() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let address = plane().upstream_of("active").address;
    let insecure = format!("    server: https://{address}\n    insecure-skip-tls-verify: true\n");
    let path = kubeconfig(&world, "insecure.kubeconfig", &insecure, &admin_user());
    assert_both_connect(&world, &path, "insecure-skip-tls-verify").await;

    let both_ways = format!("{}    insecure-skip-tls-verify: true\n", real_cluster());
    let path = kubeconfig(&world, "insecure-ca.kubeconfig", &both_ways, &admin_user());
    let line = assert_both_refuse(&world, &path, "insecure with a CA").await;
    assert!(
        line.contains("specifying a root certificates file with the insecure flag is not allowed"),
        "{line}"
    );

    if plane().token_of("active").is_empty() {
        eprintln!("the tokenFile case needs the token user of `make clusters`' own pair: skipped");
        return;
    }
    let token_file = world.path("token");
    std::fs::write(&token_file, format!("{}\n", plane().token_of("active"))).unwrap();
    let user = format!("    tokenFile: {}\n", token_file.display());
    let path = kubeconfig(&world, "token-file.kubeconfig", &real_cluster(), &user);
    assert_both_connect(&world, &path, "a tokenFile ending in a newline").await;
}

/// The proxy in front of the real `active` API server, on 127.0.0.1,
/// serving a certificate `issuer` makes for `common_name`, `dns_names` and
/// `ips`, and a user it forwards.
async fn proxy_for(
    issuer: &CertAuthority,
    common_name: &str,
    dns_names: &[&str],
    ips: &[std::net::IpAddr],
) -> (ApiProxy, String) {
    proxy_on(
        std::net::Ipv4Addr::LOCALHOST.into(),
        issuer,
        common_name,
        dns_names,
        ips,
    )
    .await
}

/// [`proxy_for`] listening on `listen`.
async fn proxy_on(
    listen: std::net::IpAddr,
    issuer: &CertAuthority,
    common_name: &str,
    dns_names: &[&str],
    ips: &[std::net::IpAddr],
) -> (ApiProxy, String) {
    let serving = issuer.issue_server(common_name, dns_names, ips, Duration::from_secs(3600));
    let proxy = ApiProxy::start_serving(
        plane().upstream_of("active"),
        &serving,
        issuer.cert_pem(),
        listen,
    )
    .await
    .unwrap();
    let (cert, key) = proxy.admin_client();
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(cert),
        b64(key)
    );
    (proxy, user)
}

/// The server named by an IPv4 or IPv6 address or a DNS name, each matched against
/// the certificate's subjectAltNames only; `tls-server-name` names a server
/// reached by address, and without it the same server is refused.
#[tokio::test(flavor = "multi_thread")]
async fn server_names_and_tls_server_name_are_checked_as_kubectl_checks_them() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let root = CertAuthority::new_root("parity names root");
    let (proxy, user) = proxy_for(
        &root,
        "parity server",
        &["localhost"],
        &[std::net::Ipv4Addr::LOCALHOST.into()],
    )
    .await;
    let port = proxy.url().rsplit(':').next().unwrap().to_string();
    let ca = b64(root.cert_pem());
    for host in ["127.0.0.1", "localhost"] {
        let cluster =
            format!("    server: https://{host}:{port}\n    certificate-authority-data: {ca}\n");
        let path = kubeconfig(&world, &format!("{host}.kubeconfig"), &cluster, &user);
        assert_both_connect(&world, &path, host).await;
    }

    // IPv6: https://[::1]:PORT, matched against the certificate's IP SAN.
    let ipv6: std::net::IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
    let (proxy6, user6) = proxy_on(ipv6, &root, "parity server", &[], &[ipv6]).await;
    let cluster = format!(
        "    server: {}\n    certificate-authority-data: {ca}\n",
        proxy6.url()
    );
    assert!(cluster.contains("https://[::1]:"), "{cluster}");
    let path = kubeconfig(&world, "ipv6.kubeconfig", &cluster, &user6);
    assert_both_connect(&world, &path, "an IPv6 server").await;

    let (named, user) =
        proxy_for(&root, "parity server", &["kubernetes.parity.example"], &[]).await;
    let by_address = format!(
        "    server: {}\n    certificate-authority-data: {ca}\n",
        named.url()
    );
    let path = kubeconfig(&world, "unnamed.kubeconfig", &by_address, &user);
    assert_both_refuse(&world, &path, "an address the certificate does not name").await;
    let with_name = format!("{by_address}    tls-server-name: kubernetes.parity.example\n");
    let path = kubeconfig(&world, "tls-server-name.kubeconfig", &with_name, &user);
    assert_both_connect(&world, &path, "tls-server-name").await;
}

/// Certificate, key and CA files named relative to the kubeconfig's folder
/// (not to where the command runs), as kubectl resolves them; a path that
/// starts with `~` is one of them (kubectl does not expand `~` to HOME).
#[tokio::test(flavor = "multi_thread")]
async fn relative_certificate_paths_are_relative_to_the_kubeconfig() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let upstream = plane().upstream_of("active");
    let dir = world.path("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, pem) in [
        ("ca.crt", &upstream.ca_pem),
        ("admin.crt", &upstream.client_cert_pem),
        ("admin.key", &upstream.client_key_pem),
    ] {
        std::fs::write(dir.join(file), pem).unwrap();
    }
    let cluster = format!(
        "    server: https://{}\n    certificate-authority: ca.crt\n",
        upstream.address
    );
    let user = "    client-certificate: admin.crt\n    client-key: admin.key\n";
    let path = kubeconfig(&world, "elsewhere/kubeconfig", &cluster, user);
    assert_both_connect(&world, &path, "relative paths").await;

    let tilde = dir.join("~/certs");
    std::fs::create_dir_all(&tilde).unwrap();
    for file in ["ca.crt", "admin.crt", "admin.key"] {
        std::fs::rename(dir.join(file), tilde.join(file)).unwrap();
    }
    let cluster = format!(
        "    server: https://{}\n    certificate-authority: ~/certs/ca.crt\n",
        upstream.address
    );
    let user = "    client-certificate: ~/certs/admin.crt\n    client-key: ~/certs/admin.key\n";
    let path = kubeconfig(&world, "elsewhere/tilde.kubeconfig", &cluster, user);
    assert_both_connect(&world, &path, "paths starting with ~").await;
}

/// Issue 17: every TLS failure named, not "cluster unreachable": the
/// server's certificate signed by a CA the kubeconfig does not trust,
/// reached by a name it does not carry, expired or not yet valid; the
/// user's client certificate refused (expired, or another cluster's: the
/// real kube-apiserver checks client certificates after the handshake and
/// answers 401). kubectl refuses each, in the words our line quotes; the
/// plugin exits 3 with one line naming the context, its server, the reason
/// and the fix, and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn tls_failures_name_their_reason_and_fix_in_one_line() {
    use time::{Duration as Span, OffsetDateTime};
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let upstream = plane().upstream_of("active");
    let root = CertAuthority::new_root("parity TLS root");
    let stranger = CertAuthority::new_root("parity stranger CA");
    let now = OffsetDateTime::now_utc();

    // A server certificate of `root` for localhost, valid from `from` to `to`.
    let dated = async |from: OffsetDateTime, to: OffsetDateTime| {
        let serving = root.issue_leaf_with_validity("parity server", &["localhost"], from, to);
        let proxy = ApiProxy::start_serving(
            upstream,
            &serving,
            root.cert_pem(),
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .unwrap();
        let port = proxy.url().rsplit(':').next().unwrap().to_string();
        let (cert, key) = proxy.admin_client();
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert),
            b64(key)
        );
        let cluster = format!(
            "    server: https://localhost:{port}\n    certificate-authority-data: {}\n",
            b64(root.cert_pem())
        );
        (proxy, cluster, user)
    };
    let (_expired, expired_cluster, expired_user) =
        dated(now - Span::days(30), now - Span::days(1)).await;
    let (_early, early_cluster, early_user) =
        dated(now + Span::days(1), now + Span::days(30)).await;
    let (named, named_user) =
        proxy_for(&root, "parity server", &["kubernetes.parity.example"], &[]).await;
    let unnamed_cluster = format!(
        "    server: {}\n    certificate-authority-data: {}\n",
        named.url(),
        b64(root.cert_pem())
    );
    let untrusted_cluster = format!(
        "    server: https://{}\n    certificate-authority-data: {}\n",
        upstream.address,
        b64(stranger.cert_pem())
    );
    let strangers_client = stranger.issue_client("parity", &["system:masters"]);
    let strangers_user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&strangers_client.cert_pem),
        b64(&strangers_client.key_pem)
    );

    // (case, cluster, user, kubectl says, our line says, our fix says)
    let mut cases = vec![
        (
            "a CA that did not sign the server",
            untrusted_cluster,
            admin_user(),
            "certificate signed by unknown authority",
            "the server's certificate is not trusted: it is not signed by the context's certificate-authority (x509: certificate signed by unknown authority)",
            "set the cluster's certificate-authority-data to the CA that signed",
        ),
        (
            "an address the certificate does not name",
            unnamed_cluster,
            named_user,
            "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
            "the server's certificate is not valid for 127.0.0.1: it is valid for kubernetes.parity.example (x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs)",
            "set the cluster's tls-server-name",
        ),
        (
            "an expired server certificate",
            expired_cluster,
            expired_user,
            "certificate has expired or is not yet valid",
            "the server's certificate expired at",
            "renew the API server's certificate",
        ),
        (
            "a server certificate not valid yet",
            early_cluster,
            early_user,
            "certificate has expired or is not yet valid",
            "the server's certificate is not valid before",
            "check this machine's clock",
        ),
        (
            "another cluster's client certificate",
            real_cluster(),
            strangers_user,
            "You must be logged in to the server",
            "the API server refused the user's client certificate while trying to list helm release secrets",
            "use a client certificate that cluster's client CA signed",
        ),
    ];
    match active_ca_files() {
        Some((ca_crt, ca_key)) => {
            // The cluster's own client CA signs it, for a day in 2020
            // (`openssl ca` sets past dates).
            let dir = world.path("expired-client");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("index.txt"), "").unwrap();
            std::fs::write(dir.join("serial"), "11\n").unwrap();
            std::fs::write(
                dir.join("ca.cnf"),
                "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
            )
            .unwrap();
            openssl(
                &dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    "client.key",
                ],
            );
            openssl(
                &dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    "client.key",
                    "-subj",
                    "/CN=parity-expired",
                    "-out",
                    "client.csr",
                ],
            );
            openssl(
                &dir,
                &[
                    "ca",
                    "-batch",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    &ca_crt.display().to_string(),
                    "-keyfile",
                    &ca_key.display().to_string(),
                    "-in",
                    "client.csr",
                    "-out",
                    "client.crt",
                    "-startdate",
                    "20200101000000Z",
                    "-enddate",
                    "20200102000000Z",
                    "-notext",
                ],
            );
            let signed = std::fs::read_to_string(dir.join("client.crt")).unwrap();
            let user = format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&signed),
                b64(&std::fs::read_to_string(dir.join("client.key")).unwrap())
            );
            cases.push((
                "an expired client certificate the cluster's CA signed",
                real_cluster(),
                user,
                "You must be logged in to the server",
                "the API server refused the user's client certificate while trying to list helm release secrets",
                "renew that user's client certificate",
            ));
        }
        None => eprintln!(
            "the expired client certificate needs the CA key of `make clusters`' own pair: skipped"
        ),
    }
    for (index, (case, cluster, user, kubectl_says, line_says, fix_says)) in
        cases.into_iter().enumerate()
    {
        let path = kubeconfig(&world, &format!("tls-{index}.kubeconfig"), &cluster, &user);
        let (kubectl, plugin) = both(&world, &path).await;
        assert_ne!(kubectl.code, Some(0), "{case}: kubectl connected");
        assert!(
            kubectl.stderr.contains(kubectl_says),
            "{case}: kubectl: {}",
            kubectl.stderr
        );
        assert_eq!(plugin.code, Some(3), "{case}: {}", plugin.stderr);
        let line = plugin.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{case}: {line}");
        let server = cluster
            .lines()
            .find_map(|line| line.trim().strip_prefix("server: "))
            .unwrap();
        assert!(
            line.starts_with(&format!("error: context \"parity\" ({server}): ")),
            "{case}: {line}"
        );
        assert!(line.contains(line_says), "{case}: {line}");
        assert!(line.contains(fix_says), "{case}: {line}");
        assert!(!line.contains("cluster unreachable"), "{case}: {line}");
        eprintln!(
            "{case}:\n  kubectl: {}\n  plugin:  {line}",
            kubectl.stderr.lines().last().unwrap_or_default()
        );
        assert!(!world.path("b.yaml").exists(), "{case}: nothing written");
    }
}

/// KUBECONFIG with two files defining the same context: the first file's
/// wins, as in kubectl; a kubeconfig without current-context and no
/// --context: both refuse.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_kubeconfig_file_wins_and_no_current_context_is_refused() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let good = kubeconfig(&world, "good.kubeconfig", &real_cluster(), &admin_user());
    let unreachable = "    server: https://127.0.0.1:9\n    insecure-skip-tls-verify: true\n";
    let bad = kubeconfig(&world, "bad.kubeconfig", unreachable, &admin_user());
    let list = |first: &Path, second: &Path| {
        std::env::join_paths([first, second])
            .unwrap()
            .into_string()
            .unwrap()
    };
    let (kubectl, plugin) = both(&world, Path::new(&list(&good, &bad))).await;
    assert_eq!(
        kubectl.code,
        Some(0),
        "good first: kubectl: {}",
        kubectl.stderr
    );
    assert_eq!(
        plugin.code,
        Some(0),
        "good first: plugin: {}",
        plugin.stderr
    );
    let (kubectl, plugin) = both(&world, Path::new(&list(&bad, &good))).await;
    assert_ne!(kubectl.code, Some(0), "bad first: kubectl connected");
    assert_eq!(plugin.code, Some(3), "bad first: plugin: {}", plugin.stderr);

    let text = std::fs::read_to_string(&good)
        .unwrap()
        .replace("current-context: parity\n", "");
    let none = world.path("no-current.kubeconfig");
    std::fs::write(&none, text).unwrap();
    let (kubectl, plugin) = both(&world, &none).await;
    assert_ne!(
        kubectl.code,
        Some(0),
        "no current-context: kubectl connected"
    );
    assert_eq!(
        plugin.code,
        Some(2),
        "no current-context: plugin: {}",
        plugin.stderr
    );
    assert!(
        plugin.stderr.contains("no current-context"),
        "{}",
        plugin.stderr
    );
    assert_eq!(plugin.stderr.lines().count(), 1, "{}", plugin.stderr);
}

/// A client-go credential plugin for the exec cases: it logs the
/// KUBERNETES_EXEC_INFO of each run to `exec-runs.log`, then prints
/// `response.json` or, with MODE=fail, a message on stderr and exit 7.
fn exec_plugin(world: &World) -> PathBuf {
    let path = world.path("mp-parity-credential");
    std::fs::write(
        &path,
        format!(
            "#!/bin/bash\nprintf '%s\\n' \"$KUBERNETES_EXEC_INFO\" >> {log}\nif [ \"$MODE\" = fail ]; then echo 'parity plugin: the session expired' >&2; exit 7; fi\ncat {response}\n",
            log = world.path("exec-runs.log").display(),
            response = world.path("response.json").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// The runs logged since the last call, each run's KUBERNETES_EXEC_INFO.
fn exec_runs(world: &World) -> Vec<serde_json::Value> {
    let log = world.path("exec-runs.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    // kubectl's KUBERNETES_EXEC_INFO ends in a newline, ours does not.
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {text:?}")))
        .collect()
}

/// `exec` credential plugins as kubectl runs them: v1 and v1beta1, a token
/// or a certificate, `provideClusterInfo` (the same KUBERNETES_EXEC_INFO,
/// field for field, as kubectl's), run once, interactive on a terminal
/// only; refused alike: a v1 plugin without interactiveMode, `Always`
/// without a terminal, a failing plugin
/// (its own message passed on), one missing from PATH (its installHint).
#[tokio::test(flavor = "multi_thread")]
async fn exec_credential_plugins_run_as_kubectl_runs_them() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let token = plane().token_of("active").to_string();
    if token.is_empty() {
        eprintln!("needs the token user of `make clusters`' own pair: skipped");
        return;
    }
    let plugin = exec_plugin(&world);
    let upstream = plane().upstream_of("active");
    let respond = |api_version: &str, status: serde_json::Value| {
        let response = serde_json::json!({
            "kind": "ExecCredential", "apiVersion": api_version, "status": status,
        });
        std::fs::write(world.path("response.json"), response.to_string()).unwrap();
    };
    let user = |fields: &str| format!("    exec:\n      command: {}\n{fields}", plugin.display());
    const V1: &str = "client.authentication.k8s.io/v1";
    const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

    // A v1 token, never interactive: one run each, the same request.
    respond(V1, serde_json::json!({ "token": token }));
    let fields = format!("      apiVersion: {V1}\n      interactiveMode: Never\n");
    let path = kubeconfig(
        &world,
        "exec-v1.kubeconfig",
        &real_cluster(),
        &user(&fields),
    );
    assert_both_connect(&world, &path, "a v1 exec token").await;
    let runs = exec_runs(&world);
    assert_eq!(
        runs.len(),
        2,
        "one run by kubectl, one by the plugin: {runs:?}"
    );
    assert_eq!(
        runs[1], runs[0],
        "the plugin's KUBERNETES_EXEC_INFO is kubectl's"
    );
    assert_eq!(runs[0]["spec"]["interactive"], false);

    // Issue 17: two contexts sharing one user (a failover's --from and
    // --to, cacheck's pair) run its plugin once per command: one MFA
    // prompt, not two. The two clusters: the real server, and a proxy in
    // front of it that passes the token on.
    let root = CertAuthority::new_root("parity shared-user root");
    let (second, _) = proxy_for(
        &root,
        "parity server",
        &["localhost"],
        &[std::net::Ipv4Addr::LOCALHOST.into()],
    )
    .await;
    let pair = |fields: &str| {
        let path = world.path("exec-pair.kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: one\n  cluster:\n{one}- name: two\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: mfa\n  user:\n{user}contexts:\n- name: one\n  context: {{cluster: one, user: mfa}}\n- name: two\n  context: {{cluster: two, user: mfa}}\n",
            one = real_cluster(),
            server = second.url(),
            ca = b64(root.cert_pem()),
            user = user(fields),
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let cacheck_pair = async |path: &Path| {
        let args = [
            "mp-cacheck",
            "--active-context",
            "one",
            "--standby-context",
            "two",
            "--request-timeout",
            "10s",
        ];
        let out = world
            .kubectl_with_kubeconfig(&args, b"", path.as_os_str())
            .await;
        assert!(matches!(out.code, Some(0 | 1)), "{}", out.stderr);
        assert!(
            out.stderr.contains("active") && out.stderr.contains("standby"),
            "both sides checked: {}",
            out.stderr
        );
    };
    let fields = format!("      apiVersion: {V1}\n      interactiveMode: Never\n");
    cacheck_pair(&pair(&fields)).await;
    let runs = exec_runs(&world);
    assert_eq!(
        runs.len(),
        1,
        "one run for the user both contexts share: {runs:?}"
    );
    // Given the cluster, the plugin may answer per cluster: once for each,
    // as client-go's cache keys it.
    let fields = format!(
        "      apiVersion: {V1}\n      interactiveMode: Never\n      provideClusterInfo: true\n"
    );
    cacheck_pair(&pair(&fields)).await;
    let runs = exec_runs(&world);
    assert_eq!(runs.len(), 2, "one run per cluster: {runs:?}");
    assert_ne!(
        runs[0]["spec"]["cluster"]["server"],
        runs[1]["spec"]["cluster"]["server"]
    );

    // v1beta1 without interactiveMode (IfAvailable: no terminal here), with
    // the cluster's details and its exec extension.
    respond(V1BETA1, serde_json::json!({ "token": token }));
    let cluster = format!(
        "{}    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {{audience: parity}}\n",
        real_cluster()
    );
    let fields = format!("      apiVersion: {V1BETA1}\n      provideClusterInfo: true\n");
    let path = kubeconfig(&world, "exec-v1beta1.kubeconfig", &cluster, &user(&fields));
    assert_both_connect(&world, &path, "a v1beta1 exec token with cluster info").await;
    let runs = exec_runs(&world);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        runs[1], runs[0],
        "the plugin's KUBERNETES_EXEC_INFO is kubectl's"
    );
    assert_eq!(
        runs[0]["spec"]["cluster"]["server"],
        format!("https://{}", upstream.address)
    );
    assert_eq!(runs[0]["spec"]["cluster"]["config"]["audience"], "parity");

    // A client certificate and key from the plugin.
    respond(
        V1,
        serde_json::json!({
            "clientCertificateData": upstream.client_cert_pem,
            "clientKeyData": upstream.client_key_pem,
        }),
    );
    let fields = format!("      apiVersion: {V1}\n      interactiveMode: IfAvailable\n");
    let path = kubeconfig(
        &world,
        "exec-cert.kubeconfig",
        &real_cluster(),
        &user(&fields),
    );
    assert_both_connect(&world, &path, "an exec client certificate").await;
    assert_eq!(exec_runs(&world).len(), 2);

    // On a terminal (util-linux `script` gives the commands one),
    // IfAvailable and Always are interactive, for kubectl and for us.
    respond(V1, serde_json::json!({ "token": token }));
    for mode in ["IfAvailable", "Always"] {
        let fields = format!("      apiVersion: {V1}\n      interactiveMode: {mode}\n");
        let path = kubeconfig(
            &world,
            "exec-tty.kubeconfig",
            &real_cluster(),
            &user(&fields),
        );
        for command in [
            format!("kubectl get secrets -n {} --request-timeout 10s", world.ns),
            format!("kubectl mp-export -n {} -f b.yaml --force", world.ns),
        ] {
            let on_a_terminal = format!(
                "KUBECONFIG={} script -qec {:?} /dev/null",
                path.display(),
                command
            );
            let out = world.shell(&on_a_terminal).await;
            assert_eq!(out.code, Some(0), "{mode}: {command}: {}", out.all());
        }
        let runs = exec_runs(&world);
        assert_eq!(runs.len(), 2, "{mode}: {runs:?}");
        assert_eq!(runs[1], runs[0], "{mode}: the same request as kubectl's");
        assert_eq!(runs[0]["spec"]["interactive"], true, "{mode}");
    }

    // Refused before the plugin runs.
    respond(V1, serde_json::json!({ "token": token }));
    for (case, fields, expected) in [
        (
            "v1 without interactiveMode",
            format!("      apiVersion: {V1}\n"),
            "interactiveMode must be specified",
        ),
        (
            "Always without a terminal",
            format!("      apiVersion: {V1}\n      interactiveMode: Always\n"),
            "standard input is not a terminal",
        ),
        (
            "no apiVersion",
            "      interactiveMode: Never\n".to_string(),
            "apiVersion must be specified",
        ),
    ] {
        let path = kubeconfig(
            &world,
            "exec-refused.kubeconfig",
            &real_cluster(),
            &user(&fields),
        );
        let line = assert_both_refuse(&world, &path, case).await;
        assert!(line.contains(expected), "{case}: {line}");
        assert_eq!(
            exec_runs(&world),
            Vec::<serde_json::Value>::new(),
            "{case}: ran"
        );
    }

    // A plugin that fails: its message passes through, then our one line.
    let fields = format!(
        "      apiVersion: {V1}\n      interactiveMode: Never\n      env:\n      - {{name: MODE, value: fail}}\n"
    );
    let path = kubeconfig(
        &world,
        "exec-fails.kubeconfig",
        &real_cluster(),
        &user(&fields),
    );
    let (kubectl, ours) = both(&world, &path).await;
    assert_ne!(kubectl.code, Some(0), "a failing plugin: kubectl connected");
    assert!(
        kubectl.stderr.contains("the session expired"),
        "{}",
        kubectl.stderr
    );
    assert_eq!(ours.code, Some(2), "{}", ours.stderr);
    let lines: Vec<&str> = ours.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ours.stderr);
    assert_eq!(lines[0], "parity plugin: the session expired");
    assert!(
        lines[1].contains("\"parity\"") && lines[1].contains("exit code 7"),
        "{}",
        lines[1]
    );

    // A plugin missing from PATH: its installHint, on one line.
    let fields = format!(
        "      apiVersion: {V1}\n      interactiveMode: Never\n      installHint: |\n        Install mp-parity-missing with:\n          apt install mp-parity-missing\n"
    );
    let missing = user(&fields).replace(&plugin.display().to_string(), "mp-parity-missing");
    let path = kubeconfig(&world, "exec-missing.kubeconfig", &real_cluster(), &missing);
    let line = assert_both_refuse(&world, &path, "a plugin missing from PATH").await;
    assert!(line.contains("\"mp-parity-missing\" not found"), "{line}");
    assert!(
        line.contains("exec-missing.kubeconfig"),
        "names the file: {line}"
    );
    assert!(
        line.contains("Install mp-parity-missing with: apt install mp-parity-missing"),
        "{line}"
    );
}

/// kubectl, then the plugin, with `kubeconfig` and `env`, each with the
/// targets `proxy` was asked for during its run.
async fn through(
    world: &World,
    kubeconfig: &Path,
    env: &[(&str, &str)],
    proxy: &ForwardProxy,
) -> [(Out, Vec<String>); 2] {
    proxy.take_targets();
    let kubectl = kubectl_lists(world, kubeconfig, env).await;
    let kubectl_targets = proxy.take_targets();
    let plugin = plugin_exports(world, kubeconfig, env).await;
    [(kubectl, kubectl_targets), (plugin, proxy.take_targets())]
}

/// Proxies as kubectl uses them: the cluster's `proxy-url` (HTTP CONNECT
/// and SOCKS5), `HTTPS_PROXY` in either case; `NO_PROXY` naming the server
/// bypasses it; a loopback server is never proxied. The server's name
/// resolves only inside the proxy, so connecting proves the proxy was used.
#[tokio::test(flavor = "multi_thread")]
async fn proxies_are_used_where_kubectl_uses_them() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let root = CertAuthority::new_root("parity proxied root");
    let name = format!("mp-api.{PROXIED_DOMAIN}");
    let (server, user) = proxy_for(&root, "parity server", &[&name], &[]).await;
    let target = format!("{name}:{}", server.url().rsplit(':').next().unwrap());
    let cluster = format!(
        "    server: https://{target}\n    certificate-authority-data: {}\n",
        b64(root.cert_pem())
    );
    let connect = ForwardProxy::start(ProxyKind::Connect).await.unwrap();
    let socks = ForwardProxy::start(ProxyKind::Socks5).await.unwrap();
    let assert_through = |runs: [(Out, Vec<String>); 2], proxy: &ForwardProxy, case: &str| {
        for ((out, targets), who) in runs.into_iter().zip(["kubectl", "plugin"]) {
            assert_eq!(out.code, Some(0), "{case}: {who}: {}", out.stderr);
            assert!(
                !targets.is_empty(),
                "{case}: {who} did not use {}",
                proxy.url()
            );
            assert!(
                targets.iter().all(|asked| *asked == target),
                "{case}: {who}: {targets:?}"
            );
        }
    };

    for proxy in [&connect, &socks] {
        let with = format!("{cluster}    proxy-url: {}\n", proxy.url());
        let path = kubeconfig(&world, "proxy-url.kubeconfig", &with, &user);
        let runs = through(&world, &path, &[], proxy).await;
        assert_through(runs, proxy, &format!("proxy-url {}", proxy.url()));
    }

    let path = kubeconfig(&world, "env-proxy.kubeconfig", &cluster, &user);
    for variable in ["HTTPS_PROXY", "https_proxy"] {
        let runs = through(&world, &path, &[(variable, &connect.url())], &connect).await;
        assert_through(runs, &connect, variable);
    }

    let bypassed = [
        ("HTTPS_PROXY", connect.url()),
        ("NO_PROXY", PROXIED_DOMAIN.into()),
    ];
    let bypassed: Vec<(&str, &str)> = bypassed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let [(kubectl, kubectl_targets), (plugin, plugin_targets)] =
        through(&world, &path, &bypassed, &connect).await;
    assert_ne!(kubectl.code, Some(0), "NO_PROXY: kubectl reached {name}");
    assert_eq!(plugin.code, Some(3), "NO_PROXY: {}", plugin.stderr);
    assert_eq!(plugin.stderr.lines().count(), 1, "{}", plugin.stderr);
    assert!(
        plugin.stderr.contains(&format!("(https://{target})")),
        "{}",
        plugin.stderr
    );
    assert!(
        kubectl_targets.is_empty() && plugin_targets.is_empty(),
        "NO_PROXY: proxied"
    );

    let path = kubeconfig(
        &world,
        "loopback.kubeconfig",
        &real_cluster(),
        &admin_user(),
    );
    let dead = [("HTTPS_PROXY", "http://127.0.0.1:9")];
    let (kubectl, plugin) = (
        kubectl_lists(&world, &path, &dead).await,
        plugin_exports(&world, &path, &dead).await,
    );
    assert_eq!(
        kubectl.code,
        Some(0),
        "loopback: kubectl: {}",
        kubectl.stderr
    );
    assert_eq!(plugin.code, Some(0), "loopback: plugin: {}", plugin.stderr);
}

/// A server URL with a path (Rancher's `https://host/k8s/clusters/c-abc`):
/// every request goes under it, as kubectl sends them.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_url_with_a_path_prefix_connects() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let root = CertAuthority::new_root("parity prefix root");
    let localhost = [std::net::Ipv4Addr::LOCALHOST.into()];
    let (proxy, user) = proxy_for(&root, "parity server", &[], &localhost).await;
    proxy.serve_under("/k8s/clusters/c-parity");
    let cluster = format!(
        "    server: {}/k8s/clusters/c-parity\n    certificate-authority-data: {}\n",
        proxy.url(),
        b64(root.cert_pem())
    );
    let path = kubeconfig(&world, "prefix.kubeconfig", &cluster, &user);
    assert_both_connect(&world, &path, "a server URL with a path").await;
    let outside = format!(
        "    server: {}/k8s/clusters/c-other\n    certificate-authority-data: {}\n",
        proxy.url(),
        b64(root.cert_pem())
    );
    let path = kubeconfig(&world, "other-prefix.kubeconfig", &outside, &user);
    let (kubectl, plugin) = both(&world, &path).await;
    assert_ne!(kubectl.code, Some(0), "another prefix: kubectl connected");
    assert_ne!(plugin.code, Some(0), "another prefix: plugin connected");
}

/// A context's own `namespace`: kubectl lists it without `-n`; the plugins
/// look for the MP in `-n`, else `tsb`, and name the context's namespace in
/// their hint when no MP is found (the decision is in the README).
#[tokio::test(flavor = "multi_thread")]
async fn a_contexts_namespace_is_named_but_the_mp_namespace_is_n_or_tsb() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let path = kubeconfig(
        &world,
        "namespaced.kubeconfig",
        &real_cluster(),
        &admin_user(),
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "context: {cluster: c, user: u}",
        &format!("context: {{cluster: c, user: u, namespace: {}}}", world.ns),
    );
    std::fs::write(&path, text).unwrap();
    let run = async |command: &str| {
        world
            .shell(&format!("KUBECONFIG={} {command}", path.display()))
            .await
    };
    let kubectl = run("kubectl get secrets -o name").await;
    assert_eq!(kubectl.code, Some(0), "{}", kubectl.stderr);
    assert!(
        kubectl.stdout.contains("secret/iam-signing-key"),
        "kubectl uses the context's namespace: {}",
        kubectl.stdout
    );

    let plugin = run("kubectl mp-export -f b.yaml").await;
    assert!(plugin.all().contains("namespace tsb"), "{}", plugin.all());
    if plugin.code != Some(0) {
        assert!(!world.path("b.yaml").exists(), "nothing written");
        // No MP in `tsb` on this cluster: the hint names the context's namespace.
        assert!(
            plugin.stderr.contains(&format!("pass -n {}", world.ns)),
            "{}",
            plugin.stderr
        );
        assert_eq!(plugin.stderr.lines().count(), 1, "{}", plugin.stderr);
    }
    let plugin = run(&format!(
        "kubectl mp-export -n {} -f b.yaml --force",
        world.ns
    ))
    .await;
    assert_eq!(plugin.code, Some(0), "{}", plugin.stderr);
}

/// What kubectl refuses in a kubeconfig, refused alike in one line: a CA,
/// certificate or key given both as data and as a file, a token with a
/// username and password, the removed gcp and azure auth providers, and a
/// name used twice in one file (kube would
/// take the first entry: another identity, silently).
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfigs_kubectl_refuses_are_refused() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let upstream = plane().upstream_of("active");
    for (file, pem) in [
        ("ca.crt", &upstream.ca_pem),
        ("admin.crt", &upstream.client_cert_pem),
        ("admin.key", &upstream.client_key_pem),
    ] {
        std::fs::write(world.path(file), pem).unwrap();
    }
    let file = |name: &str| world.path(name).display().to_string();
    let cases = [
        (
            "a CA as data and file",
            format!(
                "{}    certificate-authority: {}\n",
                real_cluster(),
                file("ca.crt")
            ),
            admin_user(),
            "certificate-authority-data and certificate-authority are both specified",
        ),
        (
            "a certificate as data and file",
            real_cluster(),
            format!(
                "{}    client-certificate: {}\n",
                admin_user(),
                file("admin.crt")
            ),
            "client-certificate-data and client-certificate are both specified",
        ),
        (
            "a key as data and file",
            real_cluster(),
            format!("{}    client-key: {}\n", admin_user(), file("admin.key")),
            "client-key-data and client-key are both specified",
        ),
        (
            "a token and basic auth",
            real_cluster(),
            "    token: t0ken\n    username: admin\n    password: pa55word\n".to_string(),
            "more than one authentication method found",
        ),
        (
            "the removed gcp auth provider",
            real_cluster(),
            "    auth-provider: {name: gcp, config: {}}\n".to_string(),
            "the gcp auth provider was removed from kubectl",
        ),
        (
            "the removed azure auth provider",
            real_cluster(),
            "    auth-provider: {name: azure, config: {}}\n".to_string(),
            "the azure auth provider was removed from kubectl",
        ),
    ];
    for (case, cluster, user, expected) in cases {
        let path = kubeconfig(&world, "refused.kubeconfig", &cluster, &user);
        let line = assert_both_refuse(&world, &path, case).await;
        assert!(line.contains(expected), "{case}: {line}");
        assert!(
            !line.contains("pa55word") && !line.contains("t0ken"),
            "{case}: {line}"
        );
    }

    let good = std::fs::read_to_string(kubeconfig(
        &world,
        "good.kubeconfig",
        &real_cluster(),
        &admin_user(),
    ))
    .unwrap();
    for (case, text, expected) in [
        (
            "a context named twice",
            good.replace(
                "contexts:\n",
                "contexts:\n- name: parity\n  context: {cluster: c, user: nobody}\n",
            ),
            "two contexts named \"parity\"",
        ),
        (
            "a user named twice",
            good.replace("users:\n", "users:\n- name: u\n  user: {token: other}\n"),
            "two users named \"u\"",
        ),
    ] {
        let path = world.path("twice.kubeconfig");
        std::fs::write(&path, text).unwrap();
        let (kubectl, plugin) = both(&world, &path).await;
        assert_ne!(kubectl.code, Some(0), "{case}: kubectl connected");
        assert_eq!(plugin.code, Some(2), "{case}: {}", plugin.stderr);
        assert_eq!(
            plugin.stderr.lines().count(),
            1,
            "{case}: {}",
            plugin.stderr
        );
        assert!(
            plugin.stderr.contains(expected),
            "{case}: {}",
            plugin.stderr
        );
        assert!(
            plugin.stderr.contains("twice.kubeconfig"),
            "{case}: {}",
            plugin.stderr
        );
    }
}
