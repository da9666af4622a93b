//! What the failover's end-to-end tests and the operator's guide's tests
//! share: two MPs on the real plane whose secrets match, a BIND for the
//! MP's name, and the failover's arguments.
#![allow(dead_code)] // each test file uses its own part of this

use mp_sandbox::faults::{FaultAction, FaultRule};
use mp_sandbox::{CertVariant, SeedKind};

use crate::bind_support::{Bind, NAME, ZONE};
use crate::plugin_support::World;

/// Two MPs installed as `kind` says, whose certificates carry the DNS name.
pub async fn world_of(kind: SeedKind) -> World {
    World::start_for(
        NAME,
        &[
            ("active", kind, CertVariant::SharedRoot),
            ("standby", kind, CertVariant::SharedRoot),
        ],
    )
    .await
}

/// Two tctl-model MPs with their secrets synced, and a BIND serving the MP's name.
pub async fn synced_world() -> (World, Bind) {
    synced_world_of(SeedKind::TsbGeneric).await
}

/// [`world_of`] with its secrets synced, and a BIND serving the MP's name.
pub async fn synced_world_of(kind: SeedKind) -> (World, Bind) {
    let world = world_of(kind).await;
    let bind = Bind::start();
    sync_secrets(&world).await;
    (world, bind)
}

/// Runbook steps 1-2, so the standby holds the active's secrets.
pub async fn sync_secrets(world: &World) {
    let out = world.shell("kubectl mp-export --context active -n \"$NS\" -f - | kubectl mp-import --context standby -n \"$NS\" -f - --yes").await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// `mp-failover --from FROM --to TO` with a shared database, BIND's name
/// changed with RFC 2136 signed by `key_file`.
pub fn failover_args(bind: &Bind, from: &str, to: &str, key_file: &std::path::Path) -> Vec<String> {
    [
        "mp-failover",
        "--from",
        from,
        "--to",
        to,
        "--database",
        "shared",
        "--dns-backend",
        "rfc2136",
        "--dns-server",
        &bind.addr.to_string(),
        "--dns-zone",
        ZONE,
        "--tsig-key-file",
        &key_file.display().to_string(),
        "--dns-name",
        NAME,
        "--yes",
        "--ready-timeout",
        "20s",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// A fault: the next `verb` request whose path contains `path` answers `status`.
pub fn refuse_once(verb: &str, path: &str, status: u16) -> FaultRule {
    FaultRule {
        verb: Some(verb.into()),
        path_contains: Some(path.into()),
        nth: None,
        times: Some(1),
        action: FaultAction::Status(status),
    }
}
