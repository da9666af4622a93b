//! The token keys' identity: the Secret IAM signs tokens with and XCP
//! central's key (`tsb-iam-jwks`) must be the same on both MPs, or the new
//! active rejects every token the old one issued (Tetrate MP HA guide,
//! "Configure multiple IAM token validation keys"). Compared by data
//! digest; only key ids (`kid`, public in every token's header) are shown.

use k8s_openapi::api::core::v1::Secret;

use super::checks::Sides;
use crate::secrets::redact::{data_digest, describe_value};
use crate::tsb::layout::TsbLayout;
use crate::tsb::signing::{self, SigningKeys};
use crate::ui::check::Check;

/// What breaks when the standby's token keys differ, for `--force-key-mismatch`
/// and the hint of a refusal.
const WHAT_BREAKS: &str = "tokens the old active issued are rejected by the new one (users and tctl sign in again), and control planes' cached tokens are rejected until re-issued: per cluster, kubectl rollout restart deployment/edge -n istio-system, and on auth errors delete otel-token, oap-token, ngac-token and xcp-edge-central-auth-token there";

/// The signing keys the standby's own spec names: its helm release's user
/// values' `spec` when it has a deployed release of the MP chart, else its
/// ManagementPlane's `spec` (`to_spec`), else the layout's default.
pub(super) fn standby_signing_keys(
    layout: &TsbLayout,
    secrets: &[Secret],
    to_spec: Option<&serde_json::Value>,
) -> SigningKeys {
    let helm_values = crate::tsb::helm::mp_release(secrets, layout, None)
        .ok()
        .flatten()
        .and_then(|release| crate::tsb::helm::user_values(secrets, &release).ok());
    let spec = match &helm_values {
        Some(values) => values.get("spec"),
        None => to_spec,
    };
    SigningKeys::from_spec(spec, &layout.signing_keys_secret)
}

/// The Secret called `name` among `secrets`.
fn find<'a>(secrets: &'a [Secret], name: &str) -> Option<&'a Secret> {
    secrets
        .iter()
        .find(|secret| secret.metadata.name.as_deref() == Some(name))
}

/// What decides a key difference's outcome.
pub struct KeyPolicy<'a> {
    /// The standby's namespace, for hints.
    pub standby_namespace: &'a str,
    /// `--sync-secrets`: a difference the active's copy fixes is copied (‼).
    pub sync: bool,
    /// `--force-key-mismatch`: any difference only warns, naming what breaks.
    pub force_key_mismatch: bool,
    /// Whether hints may offer mp-failover's `--sync-secrets` and
    /// `--force-key-mismatch` (not in the readiness check, which has neither).
    pub failover_flags: bool,
}

impl KeyPolicy<'_> {
    /// `, or pass --sync-secrets` where that flag exists.
    pub(super) fn sync_offer(&self) -> &'static str {
        if self.failover_flags {
            ", or pass --sync-secrets"
        } else {
            ""
        }
    }

    /// What a key difference means, ending a hint.
    fn what_breaks(&self) -> String {
        if self.failover_flags {
            format!("--force-key-mismatch fails over anyway: {WHAT_BREAKS}")
        } else {
            format!("a failover now would break this: {WHAT_BREAKS}")
        }
    }
}

/// How one key Secret compares.
enum Finding {
    Same,
    /// `--sync-secrets` fixes it: the active's copy goes to the standby.
    Copyable(String),
    /// Only changing the standby (its spec) or the active fixes it.
    Fixed(String),
}

/// One check per key Secret (the signing keys' and `tsb-iam-jwks`): the
/// same data on both MPs passes; a difference fails, unless
/// `--sync-secrets` copies it (‼) or `--force-key-mismatch` accepts it (‼,
/// naming what breaks). A signing keys' Secret the active lacks is left to
/// the check of the active's required secrets. Returns whether
/// `--sync-secrets` copies a difference (so the bundle must be copied).
pub(super) fn judge_keys(
    layout: &TsbLayout,
    policy: &KeyPolicy<'_>,
    checks: &mut Vec<Check>,
    active_signing: &SigningKeys,
    (from, to): (&[Secret], &[Secret]),
    to_signing: &SigningKeys,
) -> bool {
    let mut copied = false;
    if let Some(active) = find(from, &active_signing.secret) {
        let finding = if active_signing.secret != to_signing.secret
            || active_signing.keys != to_signing.keys
        {
            Finding::Fixed(format!(
                "the standby's spec names {}, the active's {}",
                to_signing.describe(),
                active_signing.describe()
            ))
        } else {
            compare(active, find(to, &active_signing.secret))
        };
        copied |= judge_one(
            policy,
            checks,
            &format!("token signing secret {}", active_signing.secret),
            finding,
            active,
        );
    }
    let jwks = &layout.jwks_secret;
    match (find(from, jwks), find(to, jwks)) {
        (None, None) => checks.push(
            Check::warn(format!(
                "XCP central key {jwks} absent on both MPs: not compared"
            ))
            .hint(format!(
                "TSB versions that use it create it in namespace {}; if yours does, find out why it is missing before failing over",
                policy.standby_namespace
            )),
        ),
        (None, Some(_)) => {
            judge_one_absent_on_active(
            policy,
            checks, jwks);
        }
        (Some(active), standby) => {
            let finding = compare(active, standby);
            copied |= judge_one(
            policy,
            checks,
                &format!("XCP central key {jwks}"),
                finding,
                active,
            );
        }
    }
    copied
}

/// The standby's `secret` against the active's, by data digest, naming
/// their key ids.
fn compare(active: &Secret, standby: Option<&Secret>) -> Finding {
    let Some(standby) = standby else {
        return Finding::Copyable("absent on the standby".into());
    };
    if data_digest(active) == data_digest(standby) {
        return Finding::Same;
    }
    Finding::Copyable(match (signing::key_id(active), signing::key_id(standby)) {
        (Some(active), Some(standby)) if active == standby => {
            format!("same kid {}, other key data", shown_kid(&active))
        }
        (Some(active), Some(standby)) => format!(
            "kid {} on the active, {} on the standby",
            shown_kid(&active),
            shown_kid(&standby)
        ),
        _ => "other data on the standby".into(),
    })
}

/// A kid as messages show it: quoted when it is a short printable id (it is
/// public), else only its size and digest, as for a secret value.
fn shown_kid(kid: &str) -> String {
    if kid.len() <= 64 && kid.chars().all(|c| c.is_ascii_graphic()) {
        format!("{kid:?}")
    } else {
        format!("({})", describe_value(kid.as_bytes()))
    }
}

/// Shows the check of one key Secret; returns whether `--sync-secrets`
/// copies it.
fn judge_one(
    policy: &KeyPolicy<'_>,
    checks: &mut Vec<Check>,
    what: &str,
    finding: Finding,
    active: &Secret,
) -> bool {
    let (problem, copyable) = match finding {
        Finding::Same => {
            let kid = signing::key_id(active).map_or_else(
                || "no kid".to_string(),
                |kid| format!("kid {}", shown_kid(&kid)),
            );
            checks.push(Check::pass(format!("{what} the same on both MPs ({kid})")));
            return false;
        }
        Finding::Copyable(problem) if policy.sync => {
            checks.push(Check::warn(format!(
                "{what} differs on the standby ({problem}): copied before the failover (--sync-secrets)"
            )));
            return true;
        }
        Finding::Copyable(problem) => (problem, true),
        Finding::Fixed(problem) => (problem, false),
    };
    if policy.force_key_mismatch {
        checks.push(
            Check::warn(format!(
                "{what} differs on the standby ({problem}): failing over anyway (--force-key-mismatch)"
            ))
            .hint(WHAT_BREAKS),
        );
    } else {
        checks.push(
            Check::fail(format!("{what} the same on both MPs ({problem})")).hint(if copyable {
                format!(
                    "copy the active's with kubectl mp-export | kubectl mp-import{}; {}",
                    policy.sync_offer(),
                    policy.what_breaks()
                )
            } else {
                format!(
                    "make the standby's spec.tokenIssuer.jwt name the active's secret and keys; {}",
                    policy.what_breaks()
                )
            }),
        );
    }
    false
}

/// `tsb-iam-jwks` on the standby only: nothing to copy from the active.
fn judge_one_absent_on_active(policy: &KeyPolicy<'_>, checks: &mut Vec<Check>, jwks: &str) {
    let title = format!("XCP central key {jwks} on both MPs (absent on the active)");
    checks.push(if policy.force_key_mismatch {
        Check::warn(format!(
            "{title}: failing over anyway (--force-key-mismatch)"
        ))
        .hint(WHAT_BREAKS)
    } else {
        Check::fail(title).hint(format!(
            "find out why the active has none (the control planes hold tokens of its key); {}",
            policy.what_breaks()
        ))
    });
}

/// Under `--disaster` the active cannot be read: the key ids its control
/// planes' cached tokens name witness the key it signed with (Tetrate MP
/// HA guide: with the active gone, compare the standby's `kid` with the
/// `kid` in the JWTs control-plane components hold). One check: the
/// standby's signing keys' Secret names the same kid as every token (✔),
/// another (✖, or ‼ with `--force-key-mismatch`), or nothing could be
/// compared (‼, saying why). `control_plane_kids`: per context, the
/// (secret, kid) pairs its tokens name, or why they could not be read.
pub(super) fn judge_keys_without_the_active(
    sides: &Sides<'_>,
    to_signing: &SigningKeys,
    to_secrets: &[Secret],
    control_plane_kids: &[super::ControlPlaneKids],
) -> Check {
    let not_compared = |why: String| Check::warn(format!("token keys not compared: {why}"));
    let tokens = sides.layout.control_plane.token_secrets.join(", ");
    let namespace = &sides.layout.control_plane.namespace;
    if control_plane_kids.is_empty() {
        return not_compared(
            "the active is unreachable (--disaster) and no control plane was given".into(),
        )
        .hint(format!(
            "pass --control-plane-context CTX: its cached tokens ({tokens} in {namespace}) name the key the active signed with"
        ));
    }
    let standby_kid = find(to_secrets, &to_signing.secret).and_then(signing::key_id);
    let Some(standby_kid) = standby_kid else {
        return not_compared(format!(
            "the standby's signing keys' secret {} has no {} to compare",
            to_signing.secret,
            signing::KID_KEY
        ))
        .hint("check the tokens by hand: the kid is in each token's header");
    };
    let unread: Vec<&str> = control_plane_kids
        .iter()
        .filter(|plane| plane.kids.is_err())
        .map(|plane| plane.context.as_str())
        .collect();
    let unread_note = if unread.is_empty() {
        String::new()
    } else {
        format!("; not read: {}", unread.join(", "))
    };
    let found: Vec<(&str, &str, &str)> = control_plane_kids
        .iter()
        .filter_map(|plane| Some((plane.context.as_str(), plane.kids.as_ref().ok()?)))
        .flat_map(|(context, kids)| {
            kids.iter()
                .map(move |token| (context, token.secret.as_str(), token.kid.as_str()))
        })
        .collect();
    if found.is_empty() {
        return not_compared(format!(
            "no cached token naming a kid in the control planes' {tokens}{unread_note}"
        ))
        .hint("check the tokens by hand: the kid is in each token's header");
    }
    let secret = &to_signing.secret;
    let shown = shown_kid(&standby_kid);
    let others: Vec<String> = found
        .iter()
        .filter(|(_, _, kid)| *kid != standby_kid)
        .map(|(context, token, kid)| format!("{} in {context:?} {token}", shown_kid(kid)))
        .collect();
    if others.is_empty() {
        let clusters: std::collections::BTreeSet<&str> =
            found.iter().map(|(context, _, _)| *context).collect();
        let plural = |count: usize| if count == 1 { "" } else { "s" };
        return Check::pass(format!(
            "standby's token signing secret {secret} (kid {shown}) is the key the control planes' cached tokens name ({} token{}, {} cluster{}{unread_note})",
            found.len(),
            plural(found.len()),
            clusters.len(),
            plural(clusters.len())
        ));
    }
    let title = format!(
        "standby's token signing secret {secret} (kid {shown}) is the key the control planes' cached tokens name (they name {})",
        others.join(", ")
    );
    if sides.settings.force_key_mismatch {
        Check::warn(format!(
            "{title}: failing over anyway (--force-key-mismatch)"
        ))
        .hint(WHAT_BREAKS)
    } else {
        Check::fail(title).hint(format!(
            "the standby signs with another key than the lost active did: import the active's {secret} from your last export (kubectl mp-import), or --force-key-mismatch fails over anyway: {WHAT_BREAKS}"
        ))
    }
}
