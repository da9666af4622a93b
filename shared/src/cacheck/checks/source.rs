//! `source`: where a side was read from (a context and its server, or a
//! bundle and where it was exported from), and how many Secrets it holds.
//! Reading errors are not checks: they end the command (exit 2 or 3).

use crate::cacheck::report::{CheckResult, id};
use crate::cacheck::snapshot::{MpSnapshot, Origin};
use crate::ui::check::Check;

/// `paired`: a side of a pair says which side it is.
pub(super) fn check(snapshot: &MpSnapshot, paired: bool) -> CheckResult {
    let role = snapshot.role.as_str();
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
    let title = format!("{source}: {} secrets", snapshot.secrets.len());
    CheckResult::new(id::SOURCE, Check::pass(title)).cluster(role)
}
