//! A throwaway BIND9 (`named`) on 127.0.0.1, authoritative for one zone that a
//! TSIG key may update: the real server the DNS step talks to in production.
//! Each `Bind` has its own directory, port and key, and dies with its value.
#![allow(dead_code)] // each test file uses its own part of this

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zone `named` serves.
pub const ZONE: &str = "mp.example";
/// The MP's name in that zone, and what it answers at the start.
pub const NAME: &str = "tsb.mp.example";
pub const ORIGINAL_V4: &str = "127.0.0.10";
pub const ORIGINAL_V6: &str = "fd00::10";
pub const ORIGINAL_TTL: u32 = 30;
/// A floating name built as Tetrate's design has it: an alias (CNAME) of
/// the active MP's own name; the standby's own name beside it.
pub const FLOATING_NAME: &str = "floating.mp.example";
pub const ACTIVE_OWN_NAME: &str = "mp1.mp.example";
pub const STANDBY_OWN_NAME: &str = "mp2.mp.example";
pub const STANDBY_OWN_V4: &str = "127.0.0.21";
/// The key the zone's update-policy grants, and one it knows but grants nothing.
pub const UPDATE_KEY: &str = "mp-update";
pub const NO_GRANT_KEY: &str = "mp-readonly";
/// A key the zone's policy lets update address records (A, AAAA) only.
pub const ADDRESS_ONLY_KEY: &str = "mp-addresses";

const START_DEADLINE: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;

pub struct Bind {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

/// Where a BIND tool lives: Debian puts them in /usr/sbin, which a normal
/// user's PATH may lack.
pub fn bind_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found (on PATH or in /usr/sbin): install Debian's bind9 package (.ci/run does)")
        })
}

/// A fresh key file as BIND's `tsig-keygen` writes it.
pub fn tsig_keygen(name: &str, path: &Path) {
    tsig_keygen_with(name, "hmac-sha256", path)
}

/// [`tsig_keygen`] with another HMAC `algorithm`.
pub fn tsig_keygen_with(name: &str, algorithm: &str, path: &Path) {
    let output = Command::new(bind_tool("tsig-keygen"))
        .args(["-a", algorithm, name])
        .output()
        .expect("tsig-keygen runs");
    assert!(
        output.status.success(),
        "tsig-keygen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(path, output.stdout).expect("write the key file");
}

impl Bind {
    /// Starts `named` in the foreground on a free port and waits (bounded)
    /// until it serves the zone. A port taken between our probe and named's
    /// bind is retried on another port.
    pub fn start() -> Bind {
        let named = bind_tool("named");
        let dir = tempfile::tempdir().expect("temp dir");
        tsig_keygen(UPDATE_KEY, &dir.path().join("update.key"));
        tsig_keygen(NO_GRANT_KEY, &dir.path().join("readonly.key"));
        tsig_keygen(ADDRESS_ONLY_KEY, &dir.path().join("addresses.key"));
        std::fs::write(dir.path().join("mp.example.zone"), zone_file()).expect("write the zone");
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            std::fs::write(dir.path().join("named.conf"), named_conf(dir.path(), port))
                .expect("write named.conf");
            let log = std::fs::File::create(dir.path().join("named.log")).expect("log file");
            // -g: foreground, logging to stderr; -4: IPv4 only. No -u: as root,
            // named keeps running as root, which is fine for a throwaway server.
            let mut child = Command::new(&named)
                .arg("-g")
                .arg("-4")
                .arg("-c")
                .arg(dir.path().join("named.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("named starts");
            let started = Instant::now();
            loop {
                last_log =
                    std::fs::read_to_string(dir.path().join("named.log")).unwrap_or_default();
                if last_log.lines().any(|line| line.ends_with(" running")) {
                    return Bind {
                        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                        dir,
                        child,
                    };
                }
                let exited = child.try_wait().expect("poll named").is_some();
                if exited || started.elapsed() > START_DEADLINE {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !last_log.contains("address in use") {
                break;
            }
        }
        panic!(
            "named did not start serving within {}s; its log:\n{last_log}",
            START_DEADLINE.as_secs()
        );
    }

    /// The key file the zone's update-policy grants.
    pub fn update_key_file(&self) -> PathBuf {
        self.dir.path().join("update.key")
    }

    /// A key file named like the granted key, with another secret.
    pub fn wrong_secret_key_file(&self) -> PathBuf {
        let path = self.dir.path().join("wrong-secret.key");
        tsig_keygen(UPDATE_KEY, &path);
        path
    }

    /// A key file named like the granted key, with another algorithm.
    pub fn wrong_algorithm_key_file(&self) -> PathBuf {
        let path = self.dir.path().join("wrong-algorithm.key");
        tsig_keygen_with(UPDATE_KEY, "hmac-sha512", &path);
        path
    }

    /// A key file with a name the server does not know.
    pub fn unknown_key_file(&self) -> PathBuf {
        let path = self.dir.path().join("unknown.key");
        tsig_keygen("mp-stranger", &path);
        path
    }

    /// A key the server knows but the update-policy grants nothing.
    pub fn no_grant_key_file(&self) -> PathBuf {
        self.dir.path().join("readonly.key")
    }

    /// A key the update-policy grants A and AAAA records only.
    pub fn address_only_key_file(&self) -> PathBuf {
        self.dir.path().join("addresses.key")
    }

    /// What named has logged so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A stub `aws` CLI in `dir/bin` that does what Route 53 would for the
    /// Route 53 hook (deploy/dns-hooks/route53.sh): a change is applied to
    /// this server with a TSIG-signed `nsupdate` replacing the name's A,
    /// AAAA and CNAME sets by the failover's record (its MP_DNS_*
    /// environment, which the stub inherits). `nsupdate` talks TCP (`-v`)
    /// and is tried up to three times, as the real CLI retries a failed
    /// request: over UDP, CI's nsupdate once gave up within 3 s ("timed
    /// out", not reproduced here in 65 runs), a transport failure Route 53
    /// does not show its callers. Each failed try's message stays on stderr.
    /// `list-resource-record-sets`
    /// answers `[]`. Each call's arguments are a line of `dir/calls`. While
    /// `dir/denied` exists a change fails as the real CLI does when the
    /// caller may not make it (exit 254, the reason on stderr). Returns
    /// `dir/bin`, to put first on PATH.
    pub fn aws_applying_changes(&self, dir: &Path) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("stub bin dir");
        let script = bin.join("aws");
        std::fs::write(
            &script,
            format!(
                r#"#!/bin/sh
set -eu
printf '%s\n' "$*" >> {calls}
case "$2" in
list-resource-record-sets) echo '[]' ;;
change-resource-record-sets)
    if [ -e {denied} ]; then
        echo 'An error occurred (AccessDenied) when calling the ChangeResourceRecordSets operation: not authorized' >&2
        exit 254
    fi
    value=$MP_DNS_TARGET
    [ "$MP_DNS_TYPE" != CNAME ] || value="$value."
    for try in 1 2 3; do
        if {nsupdate} -v -t 30 -k {key} <<EOF
server {host} {port}
zone {ZONE}
update delete $MP_DNS_NAME. A
update delete $MP_DNS_NAME. AAAA
update delete $MP_DNS_NAME. CNAME
update add $MP_DNS_NAME. $MP_DNS_TTL $MP_DNS_TYPE $value
send
EOF
        then break; fi
        [ "$try" -lt 3 ] || exit 2
        echo "aws stub: nsupdate try $try failed, trying again" >&2
        sleep 1
    done
    printf '%s\t%s\n' /change/C0TEST PENDING ;;
esac
"#,
                calls = dir.join("calls").display(),
                denied = dir.join("denied").display(),
                nsupdate = bind_tool("nsupdate").display(),
                key = self.update_key_file().display(),
                host = self.addr.ip(),
                port = self.addr.port(),
            ),
        )
        .expect("write the aws stub");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the aws stub");
        bin
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 at the time of asking.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

fn zone_file() -> String {
    format!(
        "$TTL 300\n\
         @ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 30\n\
         @ IN NS ns.{ZONE}.\n\
         ns IN A 127.0.0.1\n\
         {NAME}. {ORIGINAL_TTL} IN A {ORIGINAL_V4}\n\
         {NAME}. {ORIGINAL_TTL} IN AAAA {ORIGINAL_V6}\n\
         {ACTIVE_OWN_NAME}. {ORIGINAL_TTL} IN A {ORIGINAL_V4}\n\
         {STANDBY_OWN_NAME}. {ORIGINAL_TTL} IN A {STANDBY_OWN_V4}\n\
         {FLOATING_NAME}. {ORIGINAL_TTL} IN CNAME {ACTIVE_OWN_NAME}.\n"
    )
}

fn named_conf(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    // `controls { };` keeps named off the shared rndc port 953, so parallel
    // servers do not collide; no recursion makes it purely authoritative.
    format!(
        r#"options {{
    directory "{dir}";
    pid-file "{dir}/named.pid";
    session-keyfile "{dir}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
include "{dir}/update.key";
include "{dir}/readonly.key";
include "{dir}/addresses.key";
zone "{ZONE}" {{
    type primary;
    file "{dir}/mp.example.zone";
    update-policy {{
        grant {UPDATE_KEY} zonesub ANY;
        grant {ADDRESS_ONLY_KEY} zonesub A AAAA;
    }};
}};
"#
    )
}
