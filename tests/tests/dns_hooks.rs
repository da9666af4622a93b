//! The example `--dns-exec` hooks of `deploy/dns-hooks/` (Route 53, Cloud
//! DNS, Azure DNS), run as the failover runs them (`dns::update` with the
//! exec backend: arguments and MP_DNS_* environment) against a stub of their
//! provider's CLI put first on PATH. The stub records each call (its
//! arguments, each ended by a NUL, then `--end--`: a JSON argument may
//! span lines) and answers the reads from files the test
//! writes, as the provider would from the zone's state. Last, the Route 53
//! hook repoints a real BIND9's record through a stub `aws` that applies the
//! change with `nsupdate`, and the failover's own wait sees the new answer.

mod bind_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bind_support::{Bind, NAME, ORIGINAL_V4, ORIGINAL_V6, STANDBY_OWN_NAME, ZONE};
use kubectl_mp::Error;
use kubectl_mp::dns::{self, DnsBackend, DnsRecord, DnsTarget};
use kubectl_mp::ui::output::Ui;

const TTL: u32 = 30;
const NEW_V4: &str = "127.0.0.20";
const NEW_V6: &str = "fd00::20";

/// The hook shipped in `deploy/dns-hooks/`.
fn hook(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/dns-hooks")
        .join(name)
}

fn record(target: DnsTarget) -> DnsRecord {
    DnsRecord {
        name: NAME.to_string(),
        target,
        ttl: TTL,
    }
}

fn v4() -> DnsRecord {
    record(DnsTarget::Address(NEW_V4.parse().unwrap()))
}

fn v6() -> DnsRecord {
    record(DnsTarget::Address(NEW_V6.parse().unwrap()))
}

fn cname() -> DnsRecord {
    record(DnsTarget::alias(STANDBY_OWN_NAME).unwrap())
}

/// A provider CLI stub named `cli` in its own PATH directory. A call's
/// reply is the file `reply/KEY`, KEY being its leading words (up to the
/// first flag) joined by `_`, e.g. `route53_list-resource-record-sets`.
struct Stub {
    dir: tempfile::TempDir,
}

impl Stub {
    fn new(cli: &str) -> Stub {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("reply")).unwrap();
        let script = dir.path().join("bin").join(cli);
        std::fs::write(
            &script,
            format!(
                r#"#!/bin/sh
stub={dir}
printf '%s\0' "$@" --end-- >> "$stub/calls"
key=
for arg in "$@"; do
    case "$arg" in -*) break ;; esac
    key="$key${{key:+_}}$arg"
done
if [ -f "$stub/reply/$key" ]; then cat "$stub/reply/$key"; fi
"#,
                dir = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Stub { dir }
    }

    fn reply(&self, key: &str, text: &str) {
        std::fs::write(self.dir.path().join("reply").join(key), text).unwrap();
    }

    /// Runs `hook` as the failover does, with `settings` (`VAR=value`
    /// words) and this stub first on PATH; returns the calls it made, each
    /// as its arguments.
    async fn run(&self, hook_name: &str, settings: &str, record: &DnsRecord) -> Vec<Vec<String>> {
        let _ = std::fs::remove_file(self.dir.path().join("calls"));
        let result = self.try_run(hook_name, settings, record).await;
        if let Err(error) = result {
            panic!("{hook_name} failed: {error}");
        }
        self.calls()
    }

    async fn try_run(
        &self,
        hook_name: &str,
        settings: &str,
        record: &DnsRecord,
    ) -> Result<(), Error> {
        let backend = DnsBackend::Exec {
            command: format!(
                "{settings} PATH={}:\"$PATH\" {}",
                self.dir.path().join("bin").display(),
                hook(hook_name).display()
            ),
        };
        dns::update(&backend, record, None, &Ui::plain(false), true).await
    }

    fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default();
        let mut calls = Vec::new();
        let mut call = Vec::new();
        for arg in text.split_terminator('\0') {
            if arg == "--end--" {
                calls.push(std::mem::take(&mut call));
            } else {
                call.push(arg.to_string());
            }
        }
        calls
    }
}

fn call(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

// ---------------------------------------------------------------- Route 53

const ROUTE53: &str = "MP_ROUTE53_ZONE_ID=Z0TEST";
const ROUTE53_LIST: &str = "route53_list-resource-record-sets";

fn route53_list(other_than: &str) -> Vec<String> {
    call(&[
        "route53",
        "list-resource-record-sets",
        "--hosted-zone-id",
        "Z0TEST",
        "--start-record-name",
        "tsb.mp.example.",
        "--max-items",
        "10",
        "--query",
        &format!(
            "ResourceRecordSets[?Name=='tsb.mp.example.' && Type!='{other_than}' && (Type=='A' || Type=='AAAA' || Type=='CNAME')].{{Action:'DELETE',ResourceRecordSet:@}}"
        ),
        "--output",
        "json",
    ])
}

fn route53_change(batch: &str) -> Vec<String> {
    call(&[
        "route53",
        "change-resource-record-sets",
        "--hosted-zone-id",
        "Z0TEST",
        "--change-batch",
        batch,
        "--query",
        "ChangeInfo.[Id,Status]",
        "--output",
        "text",
    ])
}

/// The change batch a call sent, parsed: it must be JSON.
fn change_batch(call: &[String]) -> serde_json::Value {
    serde_json::from_str(&call[5]).unwrap_or_else(|error| panic!("{error}: {}", call[5]))
}

#[tokio::test]
async fn route53_upserts_a_aaaa_and_cname_with_fully_qualified_names() {
    let stub = Stub::new("aws");
    stub.reply(ROUTE53_LIST, "[]\n");
    for (record, record_type, value) in [
        (v4(), "A", NEW_V4.to_string()),
        (v6(), "AAAA", NEW_V6.to_string()),
        (cname(), "CNAME", format!("{STANDBY_OWN_NAME}.")),
    ] {
        let calls = stub.run("route53.sh", ROUTE53, &record).await;
        let batch = format!(
            "{{\"Comment\":\"kubectl mp-failover: tsb.mp.example. {record_type} {value}\",\"Changes\":[{{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{{\"Name\":\"tsb.mp.example.\",\"Type\":\"{record_type}\",\"TTL\":{TTL},\"ResourceRecords\":[{{\"Value\":\"{value}\"}}]}}}}]}}"
        );
        assert_eq!(
            calls,
            vec![route53_list(record_type), route53_change(&batch)]
        );
        change_batch(&calls[1]);
        // UPSERT: the same run again makes the same calls.
        assert_eq!(stub.run("route53.sh", ROUTE53, &record).await, calls);
    }
}

#[tokio::test]
async fn route53_deletes_the_other_types_in_the_same_batch() {
    let stub = Stub::new("aws");
    // What the CLI's --query makes of a name holding A and AAAA sets.
    stub.reply(
        ROUTE53_LIST,
        r#"[
    {
        "Action": "DELETE",
        "ResourceRecordSet": {"Name": "tsb.mp.example.", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": "127.0.0.10"}]}
    },
    {
        "Action": "DELETE",
        "ResourceRecordSet": {"Name": "tsb.mp.example.", "Type": "AAAA", "TTL": 30, "ResourceRecords": [{"Value": "fd00::10"}]}
    }
]
"#,
    );
    let calls = stub.run("route53.sh", ROUTE53, &cname()).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], route53_list("CNAME"));
    let changes = change_batch(&calls[1])["Changes"].clone();
    let summary: Vec<(String, String)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            (
                change["Action"].as_str().unwrap().to_string(),
                change["ResourceRecordSet"]["Type"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("DELETE", "A"), ("DELETE", "AAAA"), ("UPSERT", "CNAME")]
            .map(|(action, kind)| (action.to_string(), kind.to_string()))
    );
    assert_eq!(
        changes[0]["ResourceRecordSet"]["ResourceRecords"][0]["Value"],
        "127.0.0.10"
    );
}

// ---------------------------------------------------------------- Cloud DNS

const CLOUD_DNS: &str = "MP_CLOUD_DNS_ZONE=mp-example";
const CLOUD_DNS_LIST: &str = "dns_record-sets_list";

fn gcloud(verb: &str, args: &[&str]) -> Vec<String> {
    let mut words = vec!["dns".to_string(), "record-sets".into(), verb.into()];
    words.extend(args.iter().map(|arg| arg.to_string()));
    words.push("--zone=mp-example".into());
    words
}

fn gcloud_list() -> Vec<String> {
    gcloud("list", &["--name=tsb.mp.example.", "--format=value(type)"])
}

#[tokio::test]
async fn cloud_dns_creates_a_new_record_and_updates_one_held() {
    let stub = Stub::new("gcloud");
    for (record, record_type, rrdata) in [
        (v4(), "A", NEW_V4.to_string()),
        (v6(), "AAAA", NEW_V6.to_string()),
        (cname(), "CNAME", format!("{STANDBY_OWN_NAME}.")),
    ] {
        let change = |verb: &str| {
            gcloud(
                verb,
                &[
                    "tsb.mp.example.",
                    &format!("--type={record_type}"),
                    &format!("--ttl={TTL}"),
                    &format!("--rrdatas={rrdata}"),
                ],
            )
        };
        // A first run: the name holds nothing.
        stub.reply(CLOUD_DNS_LIST, "");
        let calls = stub.run("cloud-dns.sh", CLOUD_DNS, &record).await;
        assert_eq!(calls, vec![gcloud_list(), change("create")]);
        // Run again once it holds the record: an update to the same data.
        stub.reply(CLOUD_DNS_LIST, &format!("{record_type}\n"));
        let calls = stub.run("cloud-dns.sh", CLOUD_DNS, &record).await;
        assert_eq!(calls, vec![gcloud_list(), change("update")]);
        assert_eq!(stub.run("cloud-dns.sh", CLOUD_DNS, &record).await, calls);
    }
}

#[tokio::test]
async fn cloud_dns_removes_the_other_types_around_the_change() {
    let stub = Stub::new("gcloud");
    let delete = |record_type: &str| {
        gcloud(
            "delete",
            &["tsb.mp.example.", &format!("--type={record_type}")],
        )
    };
    // A and AAAA held, the name becomes an alias: both go first.
    stub.reply(CLOUD_DNS_LIST, "A\nAAAA\nTXT\n");
    let calls = stub.run("cloud-dns.sh", CLOUD_DNS, &cname()).await;
    let create_cname = gcloud(
        "create",
        &[
            "tsb.mp.example.",
            "--type=CNAME",
            &format!("--ttl={TTL}"),
            &format!("--rrdatas={STANDBY_OWN_NAME}."),
        ],
    );
    assert_eq!(
        calls,
        vec![gcloud_list(), delete("A"), delete("AAAA"), create_cname]
    );
    // A and AAAA held, the name gets a new IPv4: the AAAA goes after it.
    let calls = stub.run("cloud-dns.sh", CLOUD_DNS, &v4()).await;
    let update_a = gcloud(
        "update",
        &[
            "tsb.mp.example.",
            "--type=A",
            &format!("--ttl={TTL}"),
            &format!("--rrdatas={NEW_V4}"),
        ],
    );
    assert_eq!(calls, vec![gcloud_list(), update_a, delete("AAAA")]);
    // A CNAME held, the name gets an address: the CNAME goes first.
    stub.reply(CLOUD_DNS_LIST, "CNAME\n");
    let calls = stub
        .run(
            "cloud-dns.sh",
            "MP_CLOUD_DNS_ZONE=mp-example MP_CLOUD_DNS_PROJECT=p1",
            &v6(),
        )
        .await;
    let with_project = |mut call: Vec<String>| {
        call.insert(call.len() - 1, "--project=p1".into());
        call
    };
    assert_eq!(
        calls,
        vec![
            with_project(gcloud_list()),
            with_project(delete("CNAME")),
            with_project(gcloud(
                "create",
                &[
                    "tsb.mp.example.",
                    "--type=AAAA",
                    &format!("--ttl={TTL}"),
                    &format!("--rrdatas={NEW_V6}"),
                ],
            )),
        ]
    );
}

// ---------------------------------------------------------------- Azure DNS

const AZURE: &str = "MP_AZURE_RESOURCE_GROUP=dns-rg MP_AZURE_ZONE=mp.example";
const AZURE_LIST: &str = "network_dns_record-set_list";

fn az(record_type: &str, verb: &str, args: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = [
        "network",
        "dns",
        "record-set",
        record_type,
        verb,
        "--resource-group",
        "dns-rg",
        "--zone-name",
        "mp.example",
        "--record-set-name",
        "tsb",
    ]
    .map(str::to_string)
    .to_vec();
    words.extend(args.iter().map(|arg| arg.to_string()));
    words
}

fn az_list() -> Vec<String> {
    call(&[
        "network",
        "dns",
        "record-set",
        "list",
        "--resource-group",
        "dns-rg",
        "--zone-name",
        "mp.example",
        "--query",
        "[?name=='tsb'].type",
        "--output",
        "tsv",
    ])
}

fn az_held(types: &[&str]) -> String {
    types
        .iter()
        .map(|record_type| format!("Microsoft.Network/dnszones/{record_type}\n"))
        .collect()
}

#[tokio::test]
async fn azure_adds_the_new_address_then_removes_the_others() {
    let stub = Stub::new("az");
    let ttl = TTL.to_string();
    // Nothing held: add-record creates the set.
    stub.reply(AZURE_LIST, "");
    let calls = stub.run("azure-dns.sh", AZURE, &v4()).await;
    let add_v4 = az(
        "a",
        "add-record",
        &["--ipv4-address", NEW_V4, "--ttl", &ttl],
    );
    assert_eq!(calls, vec![az_list(), add_v4.clone()]);

    // A (old address) and AAAA held: add the new, remove the old, drop AAAA.
    stub.reply(AZURE_LIST, &az_held(&["A", "AAAA", "TXT"]));
    stub.reply("network_dns_record-set_a_show", &format!("{ORIGINAL_V4}\n"));
    let calls = stub.run("azure-dns.sh", AZURE, &v4()).await;
    let show_a = az(
        "a",
        "show",
        &[
            "--query",
            "ARecords[].ipv4Address || arecords[].ipv4Address",
            "--output",
            "tsv",
        ],
    );
    assert_eq!(
        calls,
        vec![
            az_list(),
            show_a.clone(),
            add_v4,
            az(
                "a",
                "remove-record",
                &["--ipv4-address", ORIGINAL_V4, "--keep-empty-record-set"]
            ),
            az("aaaa", "delete", &["--yes"]),
        ]
    );

    // Run again once it holds only the new address: nothing to change.
    stub.reply(AZURE_LIST, &az_held(&["A"]));
    stub.reply("network_dns_record-set_a_show", &format!("{NEW_V4}\n"));
    let calls = stub.run("azure-dns.sh", AZURE, &v4()).await;
    assert_eq!(calls, vec![az_list(), show_a]);
    assert_eq!(stub.run("azure-dns.sh", AZURE, &v4()).await, calls);

    // IPv6 from a CNAME: the CNAME goes first.
    stub.reply(AZURE_LIST, &az_held(&["CNAME"]));
    let calls = stub.run("azure-dns.sh", AZURE, &v6()).await;
    assert_eq!(
        calls,
        vec![
            az_list(),
            az("cname", "delete", &["--yes"]),
            az(
                "aaaa",
                "add-record",
                &["--ipv6-address", NEW_V6, "--ttl", &ttl]
            ),
        ]
    );
}

#[tokio::test]
async fn azure_makes_an_alias_after_deleting_the_address_sets() {
    let stub = Stub::new("az");
    let set_cname = az(
        "cname",
        "set-record",
        &["--cname", STANDBY_OWN_NAME, "--ttl", &TTL.to_string()],
    );
    stub.reply(AZURE_LIST, &az_held(&["A", "AAAA"]));
    let calls = stub.run("azure-dns.sh", AZURE, &cname()).await;
    assert_eq!(
        calls,
        vec![
            az_list(),
            az("a", "delete", &["--yes"]),
            az("aaaa", "delete", &["--yes"]),
            set_cname.clone(),
        ]
    );
    stub.reply(AZURE_LIST, &az_held(&["CNAME"]));
    let calls = stub.run("azure-dns.sh", AZURE, &cname()).await;
    assert_eq!(calls, vec![az_list(), set_cname]);
    assert_eq!(stub.run("azure-dns.sh", AZURE, &cname()).await, calls);
}

#[tokio::test]
async fn azure_refuses_a_name_outside_its_zone() {
    let stub = Stub::new("az");
    let error = stub
        .try_run(
            "azure-dns.sh",
            "MP_AZURE_RESOURCE_GROUP=dns-rg MP_AZURE_ZONE=other.example",
            &v4(),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "azure-dns.sh: {NAME} is not inside zone other.example: check MP_AZURE_ZONE"
        )),
        "{error}"
    );
    assert!(stub.calls().is_empty());
}

// ---------------------------------------------------------------- all three

#[tokio::test]
async fn each_hook_names_its_missing_setting_in_one_line_and_calls_nothing() {
    for (hook_name, cli, settings, missing) in [
        (
            "route53.sh",
            "aws",
            "MP_ROUTE53_ZONE_ID=",
            "MP_ROUTE53_ZONE_ID",
        ),
        (
            "cloud-dns.sh",
            "gcloud",
            "MP_CLOUD_DNS_ZONE=",
            "MP_CLOUD_DNS_ZONE",
        ),
        (
            "azure-dns.sh",
            "az",
            "MP_AZURE_RESOURCE_GROUP=dns-rg MP_AZURE_ZONE=",
            "MP_AZURE_ZONE",
        ),
    ] {
        let stub = Stub::new(cli);
        let error = stub.try_run(hook_name, settings, &v4()).await.unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.contains(&format!(
                "failed (exit status 2): {hook_name}: {missing} is not set: "
            )),
            "{shown}"
        );
        assert!(stub.calls().is_empty(), "{hook_name}: {:?}", stub.calls());
    }
    // Run by hand, outside the failover: the record's variables are named.
    for hook_name in ["route53.sh", "cloud-dns.sh", "azure-dns.sh"] {
        let output = std::process::Command::new(hook(hook_name))
            .env_remove("MP_DNS_NAME")
            .env("MP_ROUTE53_ZONE_ID", "Z0TEST")
            .env("MP_CLOUD_DNS_ZONE", "mp-example")
            .env("MP_AZURE_RESOURCE_GROUP", "dns-rg")
            .env("MP_AZURE_ZONE", ZONE)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{hook_name}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "{hook_name}: MP_DNS_NAME is not set: run this hook from kubectl mp-failover --dns-backend exec\n"
            )
        );
    }
}

// ------------------------------------------------ Route 53 against real DNS

#[tokio::test]
async fn route53_hook_repoints_a_real_server_and_the_failover_wait_sees_it() {
    let bind = Bind::start();
    let dir = tempfile::tempdir().unwrap();
    let bin = bind.aws_applying_changes(dir.path());
    let backend = DnsBackend::Exec {
        command: format!(
            "{ROUTE53} PATH={}:\"$PATH\" {}",
            bin.display(),
            hook("route53.sh").display()
        ),
    };
    let before = dns::lookup(bind.addr, NAME).await.unwrap().unwrap();
    assert_eq!(
        before.targets.len(),
        2,
        "{ORIGINAL_V4} and {ORIGINAL_V6}: {before}"
    );
    for target in [cname().target, v6().target, v4().target] {
        let record = record(target.clone());
        if let Err(error) = dns::update(&backend, &record, None, &Ui::plain(false), true).await {
            panic!("{error}\nnamed's log:\n{}", bind.log());
        }
        // The failover's own check: --dns-server answers exactly the new record.
        dns::wait_for(bind.addr, NAME, &target, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(
        calls
            .lines()
            .filter(|line| line.starts_with("route53 change-resource-record-sets"))
            .count(),
        3,
        "{calls}"
    );
}
