//! The failover's DNS step against a real BIND9: the authoritative check,
//! lookups, a TSIG-signed RFC 2136 update, refusals, and the exec and manual
//! backends.

mod bind_support;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use bind_support::{
    ACTIVE_OWN_NAME, Bind, FLOATING_NAME, NAME, ORIGINAL_TTL, ORIGINAL_V4, ORIGINAL_V6,
    STANDBY_OWN_NAME, ZONE,
};
use kubectl_mp::Exit;
use kubectl_mp::dns::{self, DnsAnswer, DnsBackend, DnsRecord, DnsTarget, TsigKey};
use kubectl_mp::ui::output::Ui;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn address(text: &str) -> DnsTarget {
    DnsTarget::Address(ip(text))
}

fn alias(name: &str) -> DnsTarget {
    DnsTarget::alias(name).unwrap()
}

fn answer(targets: Vec<DnsTarget>, ttl: u32) -> Option<DnsAnswer> {
    Some(DnsAnswer { targets, ttl })
}

fn new_record() -> DnsRecord {
    DnsRecord {
        name: NAME.to_string(),
        target: address("127.0.0.20"),
        ttl: 60,
    }
}

fn rfc2136(bind: &Bind, key_file: &std::path::Path) -> DnsBackend {
    DnsBackend::Rfc2136 {
        server: bind.addr,
        zone: ZONE.to_string(),
        tsig: TsigKey::from_file(key_file).unwrap(),
    }
}

async fn original_answer(bind: &Bind) {
    assert_eq!(
        dns::lookup(bind.addr, NAME).await.unwrap(),
        answer(
            vec![address(ORIGINAL_V4), address(ORIGINAL_V6)],
            ORIGINAL_TTL
        ),
        "the record must be unchanged"
    );
}

#[tokio::test]
async fn the_authoritative_check_passes_for_the_zone_only() {
    let bind = Bind::start();
    dns::check_authoritative(bind.addr, ZONE).await.unwrap();
    dns::check_authoritative(bind.addr, "mp.example.")
        .await
        .unwrap();

    let elsewhere = dns::check_authoritative(bind.addr, "other.example")
        .await
        .unwrap_err();
    assert_eq!(elsewhere.exit(), Exit::Failed);
    assert!(
        elsewhere.to_string().contains(
            "is not authoritative for zone other.example: it refused the query (REFUSED)"
        ),
        "{elsewhere}"
    );
    let inside = dns::check_authoritative(bind.addr, NAME).await.unwrap_err();
    assert!(
        inside
            .to_string()
            .contains("tsb.mp.example is not a zone apex there; the enclosing zone is mp.example"),
        "{inside}"
    );
}

#[tokio::test]
async fn lookup_returns_every_address_and_the_ttl() {
    let bind = Bind::start();
    original_answer(&bind).await;
    assert_eq!(
        dns::lookup(bind.addr, "ns.mp.example").await.unwrap(),
        answer(vec![address("127.0.0.1")], 300)
    );
    assert_eq!(
        dns::lookup(bind.addr, "absent.mp.example").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn an_rfc2136_update_repoints_the_name_and_wait_for_sees_it() {
    let bind = Bind::start();
    let backend = rfc2136(&bind, &bind.update_key_file());
    dns::preflight(&backend, &new_record(), None, true)
        .await
        .unwrap();
    dns::update(&backend, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap();
    // The whole A RRset is replaced and the AAAA RRset (the old MP) is gone.
    assert_eq!(
        dns::lookup(bind.addr, NAME).await.unwrap(),
        answer(vec![address("127.0.0.20")], 60)
    );
    let ttl = dns::wait_for(
        bind.addr,
        NAME,
        &address("127.0.0.20"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(ttl, 60);

    // Running the step again converges to the same answer.
    dns::update(&backend, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap();
    let ipv6 = DnsRecord {
        target: address("fd00::20"),
        ..new_record()
    };
    dns::update(&backend, &ipv6, None, &Ui::plain(false), true)
        .await
        .unwrap();
    assert_eq!(
        dns::lookup(bind.addr, NAME).await.unwrap(),
        answer(vec![address("fd00::20")], 60)
    );
}

/// Tetrate's floating name is an alias (CNAME) of each MP's own name: it is
/// read as one, repointed to the standby's name, and a name can change
/// between an address and an alias in one update, either way.
#[tokio::test]
async fn an_alias_is_read_repointed_and_turned_into_an_address_and_back() {
    let bind = Bind::start();
    let backend = rfc2136(&bind, &bind.update_key_file());
    let before = dns::lookup(bind.addr, FLOATING_NAME).await.unwrap();
    assert_eq!(before, answer(vec![alias(ACTIVE_OWN_NAME)], ORIGINAL_TTL));
    let repoint = DnsRecord {
        name: FLOATING_NAME.to_string(),
        target: alias(STANDBY_OWN_NAME),
        ttl: 60,
    };
    dns::preflight(&backend, &repoint, before.as_ref(), true)
        .await
        .unwrap();
    dns::update(&backend, &repoint, before.as_ref(), &Ui::plain(false), true)
        .await
        .unwrap();
    let ttl = dns::wait_for(
        bind.addr,
        FLOATING_NAME,
        &alias(STANDBY_OWN_NAME),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(ttl, 60);

    // An address name made an alias of a load balancer's hostname (AWS),
    // its A and AAAA records gone in the same update.
    let to_hostname = DnsRecord {
        target: alias("a1b2-123.elb.us-east-1.amazonaws.com"),
        ..new_record()
    };
    let current = dns::lookup(bind.addr, NAME).await.unwrap();
    dns::update(
        &backend,
        &to_hostname,
        current.as_ref(),
        &Ui::plain(false),
        true,
    )
    .await
    .unwrap();
    let now = dns::lookup(bind.addr, NAME).await.unwrap();
    assert_eq!(
        now,
        answer(vec![alias("a1b2-123.elb.us-east-1.amazonaws.com")], 60)
    );
    // And back to an address: the alias goes in the same update.
    dns::update(
        &backend,
        &new_record(),
        now.as_ref(),
        &Ui::plain(false),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        dns::lookup(bind.addr, NAME).await.unwrap(),
        answer(vec![address("127.0.0.20")], 60)
    );
}

/// The preflight's no-op update asks for exactly the record types the
/// update will touch: a key the zone lets change addresses only passes for
/// an address and is refused, before anything changes, for an alias.
#[tokio::test]
async fn the_preflight_tests_the_record_types_the_update_will_touch() {
    let bind = Bind::start();
    let server = bind.addr;
    let backend = rfc2136(&bind, &bind.address_only_key_file());
    let current = dns::lookup(server, NAME).await.unwrap();
    dns::preflight(&backend, &new_record(), current.as_ref(), true)
        .await
        .unwrap();
    let to_alias = DnsRecord {
        target: alias(STANDBY_OWN_NAME),
        ..new_record()
    };
    let error = dns::preflight(&backend, &to_alias, current.as_ref(), true)
        .await
        .unwrap_err();
    assert_eq!(error.exit(), Exit::Failed);
    assert!(
        error.to_string().starts_with(&format!(
            "the DNS update of {NAME} would be refused by {server} (REFUSED): key mp-addresses may not update"
        )),
        "{error}"
    );
    // Repointing an alias touches its CNAME too: refused alike.
    let floating = dns::lookup(server, FLOATING_NAME).await.unwrap();
    let to_address = DnsRecord {
        name: FLOATING_NAME.to_string(),
        ..new_record()
    };
    let error = dns::preflight(&backend, &to_address, floating.as_ref(), true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("(REFUSED)"), "{error}");
    original_answer(&bind).await;
    assert_eq!(
        dns::lookup(server, FLOATING_NAME).await.unwrap(),
        answer(vec![alias(ACTIVE_OWN_NAME)], ORIGINAL_TTL)
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_with_one_clear_line_and_nothing_changes() {
    let bind = Bind::start();
    let server = bind.addr;
    for (key_file, reason) in [
        (
            bind.wrong_secret_key_file(),
            "mp-update was not accepted (BADSIG)",
        ),
        (
            bind.unknown_key_file(),
            "mp-stranger was not accepted (BADKEY)",
        ),
    ] {
        let error = dns::update(
            &rfc2136(&bind, &key_file),
            &new_record(),
            None,
            &Ui::plain(false),
            true,
        )
        .await
        .unwrap_err();
        assert_eq!(error.exit(), Exit::Failed);
        assert_eq!(
            error.to_string(),
            format!(
                "DNS update of {NAME} refused by {server}: TSIG key {reason}; check --tsig-key-file"
            )
        );
        original_answer(&bind).await;
    }

    let no_grant = dns::update(
        &rfc2136(&bind, &bind.no_grant_key_file()),
        &new_record(),
        None,
        &Ui::plain(false),
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(no_grant.exit(), Exit::Failed);
    assert!(
        no_grant.to_string().contains(
            "(REFUSED): key mp-readonly may not update tsb.mp.example in zone mp.example"
        ),
        "{no_grant}"
    );
    original_answer(&bind).await;
}

/// The preflight proves the update will be accepted, and changes nothing:
/// a wrong secret (BADSIG), an unknown key or the wrong algorithm (BADKEY),
/// and a key the zone's policy does not let update the name (REFUSED) are
/// all found before anything changes.
#[tokio::test]
async fn the_preflight_proves_the_update_will_be_accepted_and_changes_nothing() {
    let bind = Bind::start();
    let server = bind.addr;
    dns::preflight(
        &rfc2136(&bind, &bind.update_key_file()),
        &new_record(),
        None,
        true,
    )
    .await
    .unwrap();
    let refused = format!("the DNS update of {NAME} would be refused by {server}");
    for (key_file, reason) in [
        (
            bind.wrong_secret_key_file(),
            ": TSIG key mp-update was not accepted (BADSIG)",
        ),
        (
            bind.wrong_algorithm_key_file(),
            ": TSIG key mp-update was not accepted (BADKEY)",
        ),
        (
            bind.unknown_key_file(),
            ": TSIG key mp-stranger was not accepted (BADKEY)",
        ),
        (
            bind.no_grant_key_file(),
            " (REFUSED): key mp-readonly may not update",
        ),
    ] {
        let error = dns::preflight(&rfc2136(&bind, &key_file), &new_record(), None, true)
            .await
            .unwrap_err();
        assert_eq!(error.exit(), Exit::Failed, "{error}");
        assert!(
            error.to_string().starts_with(&format!("{refused}{reason}")),
            "{error}"
        );
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
    }
    original_answer(&bind).await;
    // BIND journals every update that changes the zone; none did.
    let journal = bind
        .dir()
        .join(format!("{}.zone.jnl", ZONE.trim_end_matches('.')));
    assert!(
        !journal.exists(),
        "the zone was changed: {}",
        journal.display()
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_bounded_exit_3() {
    let bind = Bind::start();
    let server = bind.addr;
    let backend = rfc2136(&bind, &bind.update_key_file());
    drop(bind);
    let started = Instant::now();
    let error = dns::update(&backend, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap_err();
    assert_eq!(error.exit(), Exit::Cluster, "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "DNS server {server} did not answer while trying to update {NAME}"
        )),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn wait_for_gives_up_at_its_deadline_saying_what_the_server_answers() {
    let bind = Bind::start();
    let started = Instant::now();
    let error = dns::wait_for(
        bind.addr,
        NAME,
        &address("127.0.0.20"),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(error.exit(), Exit::Failed);
    assert!(
        error.to_string().contains(&format!(
            "still answers {ORIGINAL_V4}, {ORIGINAL_V6} for {NAME} after 1s, not 127.0.0.20"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn the_exec_backend_passes_name_type_and_target_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("set-dns.sh");
    let recorded = dir.path().join("recorded");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $2 $MP_DNS_NAME $MP_DNS_TYPE $MP_DNS_TARGET ${{MP_DNS_ADDRESS-unset}} $MP_DNS_TTL\" >> {}\n",
            recorded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let backend = DnsBackend::Exec {
        command: script.display().to_string(),
    };
    dns::preflight(&backend, &new_record(), None, true)
        .await
        .unwrap();
    dns::update(&backend, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap();
    let to_alias = DnsRecord {
        target: alias(STANDBY_OWN_NAME),
        ..new_record()
    };
    dns::update(&backend, &to_alias, None, &Ui::plain(false), true)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&recorded).unwrap(),
        format!(
            "{NAME} 127.0.0.20 {NAME} A 127.0.0.20 127.0.0.20 60\n\
             {NAME} {STANDBY_OWN_NAME} {NAME} CNAME {STANDBY_OWN_NAME} unset 60\n"
        )
    );

    let failing = DnsBackend::Exec {
        command: "echo 'zone is locked' >&2; exit 3;".to_string(),
    };
    let error = dns::update(&failing, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap_err();
    assert_eq!(error.exit(), Exit::Failed);
    assert!(
        error
            .to_string()
            .contains("failed (exit status 3): zone is locked"),
        "{error}"
    );
    let missing = DnsBackend::Exec {
        command: dir.path().join("absent").display().to_string(),
    };
    let error = dns::update(&missing, &new_record(), None, &Ui::plain(false), true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("(exit status 127)"), "{error}");
}

#[tokio::test]
async fn the_manual_backend_cannot_be_confirmed_with_yes() {
    let error = dns::update(
        &DnsBackend::Manual,
        &new_record(),
        None,
        &Ui::plain(false),
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(error.exit(), Exit::Usage);
    assert!(error.to_string().contains("--yes cannot"), "{error}");
    let error = dns::preflight(&DnsBackend::Manual, &new_record(), None, true)
        .await
        .unwrap_err();
    assert_eq!(error.exit(), Exit::Usage);
}

#[test]
fn tsig_keygen_files_parse_and_debug_hides_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made.key");
    bind_support::tsig_keygen("failover-key", &path);
    let text = std::fs::read_to_string(&path).unwrap();
    let secret = text
        .split('"')
        .nth(3)
        .expect("tsig-keygen writes the secret as the second quoted string");
    let key = TsigKey::from_file(&path).unwrap();
    assert_eq!(key.name, "failover-key");
    assert_eq!(key.algorithm, "hmac-sha256");
    let shown = format!("{key:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("<32 bytes>"), "{shown}");

    let missing = TsigKey::from_file(&dir.path().join("absent.key")).unwrap_err();
    assert_eq!(missing.exit(), Exit::Usage);
    assert!(
        missing.to_string().contains("check --tsig-key-file"),
        "{missing}"
    );
}
