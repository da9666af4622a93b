//! The preflight's Postgres checks, for `--database separate`: the client
//! tools, each side's connection details, both servers answering, and the
//! standby's user allowed to restore.

use super::checks::{Checks, Sides};
use crate::cacheck::MpSnapshot;
use crate::database::{self, PgEndpoint, PgTools};
use crate::error::{Error, Result};
use crate::failover::settings::Side;
use crate::ui::check::Check;

/// A side's snapshot and ManagementPlane spec, where its Postgres is named.
type SideRead<'a> = (&'a MpSnapshot, Option<&'a serde_json::Value>);

/// The endpoints (active, standby) and the tools the database step uses,
/// each `None` when its check failed (or, for the active, with --disaster).
pub(super) async fn judge(
    sides: &Sides<'_>,
    checks: &mut Checks<'_>,
    from: Option<SideRead<'_>>,
    to: SideRead<'_>,
) -> (Option<PgEndpoint>, Option<PgEndpoint>, Option<PgTools>) {
    let settings = &sides.settings.database;
    let tools = match PgTools::locate(settings.bin_dir.as_deref()) {
        Ok(tools) => tools,
        Err(error) => {
            checks.add(Check::fail("Postgres client tools found").hint(error.to_string()));
            return (None, None, None);
        }
    };
    let endpoint = |(snapshot, spec): SideRead<'_>, side: Side| {
        let secret = snapshot.secret("postgres-credentials");
        database::endpoint_from(spec, secret, settings.overrides(side))
    };
    let to_endpoint = endpoint(to, Side::To);
    let from_endpoint = from.map(|read| endpoint(read, Side::From));
    match &to_endpoint {
        Ok(to_endpoint) => {
            let timeout = sides.settings.connection_timeout;
            let (to_ok, from_ok) = futures::join!(
                async {
                    let version = database::check_reachable(&tools, to_endpoint, timeout).await?;
                    database::check_restore_privileges(&tools, to_endpoint, timeout).await?;
                    Ok::<_, Error>(version)
                },
                async {
                    match &from_endpoint {
                        Some(Ok(endpoint)) => {
                            Some(database::check_reachable(&tools, endpoint, timeout).await)
                        }
                        _ => None,
                    }
                }
            );
            let mut versions = Vec::new();
            versions.extend(judge_reachable(checks, "standby", to_endpoint, to_ok));
            match (&from_endpoint, from_ok) {
                (Some(Ok(endpoint)), Some(answer)) => {
                    versions.extend(judge_reachable(checks, "active", endpoint, answer))
                }
                (Some(Err(error)), _) => checks
                    .add(Check::fail("active Postgres connection details").hint(error.to_string())),
                _ => {}
            }
            if !versions.is_empty() {
                checks.add(judge_pg_dump(&tools, &versions).await);
            }
            if let (Some(Ok(from)), 2) = (&from_endpoint, versions.len()) {
                let title = "the active database's extensions can be restored on the standby";
                checks.add(
                    match database::check_extensions(&tools, from, to_endpoint, timeout).await {
                        Ok(()) => Check::pass(title),
                        Err(error) => Check::fail(title).hint(error.to_string()),
                    },
                );
            }
        }
        Err(error) => {
            checks.add(Check::fail("standby Postgres connection details").hint(error.to_string()))
        }
    }
    (
        from_endpoint.and_then(|endpoint| endpoint.ok()),
        to_endpoint.ok(),
        Some(tools),
    )
}

/// ✔ `role` Postgres reachable (host:port, version), or ✖ with why not.
/// Returns the role and the server's version when it answered.
fn judge_reachable(
    checks: &mut Checks<'_>,
    role: &'static str,
    endpoint: &PgEndpoint,
    answer: Result<String>,
) -> Option<(&'static str, String)> {
    match answer {
        Ok(version) => {
            checks.add(Check::pass(format!(
                "{role} Postgres reachable ({}:{}, {version})",
                endpoint.host, endpoint.port
            )));
            Some((role, version))
        }
        Err(error) => {
            checks.add(Check::fail(format!("{role} Postgres reachable")).hint(error.to_string()));
            None
        }
    }
}

/// pg_dump can dump every server that answered (`versions`: role and
/// server_version): found now, not at step 2 with the lock taken.
async fn judge_pg_dump(tools: &PgTools, versions: &[(&str, String)]) -> Check {
    let title = "pg_dump can dump the Postgres servers";
    let servers: Vec<(&str, &str)> = versions
        .iter()
        .map(|(role, version)| (*role, version.as_str()))
        .collect();
    match tools.pg_dump_major().await {
        Ok(major) => match database::check_pg_dump_covers(major, &servers) {
            Ok(()) => Check::pass(format!("{title} (pg_dump {major})")),
            Err(error) => Check::fail(title).hint(error.to_string()),
        },
        Err(error) => Check::fail(title).hint(error.to_string()),
    }
}
