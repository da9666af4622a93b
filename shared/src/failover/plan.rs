//! The failover's decisions, as pure functions of what was read: whether to
//! start, resume or refuse, and the replica counts each step aims at.
//! Nothing here makes a request, so every row is a unit test.

use std::collections::BTreeMap;

use super::journal::{Journal, RunOptions, SideRecord};
use crate::error::{Error, Result};
use crate::tsb::layout::TsbLayout;
use crate::tsb::mp::MpState;

/// What the journals found say to do.
#[derive(Debug, PartialEq)]
pub enum Start {
    /// A finished failover in this direction: check it still holds, change nothing.
    AlreadyDone(Journal),
    /// Go on with `journal`: the one found (resumed or dry-run), or a new one.
    /// `version` is the journal ConfigMap's resourceVersion the first write
    /// must match (None: there is none yet).
    Go {
        journal: Journal,
        version: Option<String>,
    },
}

/// What decides between starting and resuming: the flags, and whether a
/// finished failover in this direction still holds by what was read.
#[derive(Debug, Clone)]
pub struct Flags {
    pub resume: bool,
    pub dry_run: bool,
    pub disaster: bool,
    /// The options a resumed journal must have been started with.
    pub options: RunOptions,
    /// The standby serves, the name answers it, and the old active (when
    /// it could be read) runs no MP.
    pub finished_holds: bool,
}

/// Start, resume or refuse, from the journal in the standby (`existing`,
/// with its resourceVersion) and the one in the active (`reverse`: the
/// failover this one may undo). `new` makes the journal of a new failover;
/// `order` names every step in order, for the refusal's "stopped before".
/// A finished failover that no longer holds is history: a new one starts;
/// so is an abandoned one (`--abandon`).
///
/// # Errors
/// A usage error (exit 2) for an unfinished failover without `--resume`, an
/// unfinished one the other way (in either cluster: resume or abandon it
/// first), `--resume` with nothing to resume, or `--resume` with other
/// options than the failover it resumes.
pub fn start(
    existing: Option<(Journal, String)>,
    reverse: Option<&Journal>,
    from: &SideRecord,
    to: &SideRecord,
    flags: &Flags,
    order: &[&str],
    new: impl FnOnce() -> Journal,
) -> Result<Start> {
    // A failback that finished after this journal was written undoes it.
    let superseded = |journal: &Journal| {
        reverse.is_some_and(|other| {
            other.same_direction(to, from) && other.started_at >= journal.started_at
        })
    };
    // A failover the other way that stopped midway, not undone by a later
    // one this way: going back over it would guess at its state (with a
    // database each, copy back a database it never finished copying).
    if let Some(other) = reverse.filter(|other| {
        other.is_unfinished()
            && other.same_direction(to, from)
            && !existing.as_ref().is_some_and(|(journal, _)| {
                journal.same_direction(from, to) && journal.started_at >= other.started_at
            })
    }) {
        let next = order
            .iter()
            .find(|step| !other.is_done(step))
            .unwrap_or(&"the end");
        return Err(Error::usage(format!(
            "a failover from {:?} to {:?} started at {} is not finished: it is at step {next} (journal in context {:?}); nothing was changed",
            other.from.context, other.to.context, other.started_at, from.context
        ))
        .with_next_step(format!(
            "if another run holds the pair's lock, let it finish; else resume it (--from {} --to {} --resume) or give it up (--from {} --to {} --abandon) first",
            other.from.context, other.to.context, other.from.context, other.to.context
        )));
    }
    match existing {
        Some((journal, version))
            if journal.same_direction(from, to)
                && journal.abandoned_at.is_none()
                && !superseded(&journal)
                && (journal.finished_at.is_none() || flags.finished_holds) =>
        {
            if journal.finished_at.is_some() {
                return Ok(Start::AlreadyDone(journal));
            }
            let mut differences = journal
                .options
                .as_ref()
                .map(|recorded| flags.options.differences(recorded))
                .unwrap_or_default();
            if journal.disaster != flags.disaster {
                differences.push(format!(
                    "--disaster {} (now: {})",
                    journal.disaster, flags.disaster
                ));
            }
            if !differences.is_empty() {
                return Err(Error::usage(format!(
                    "the failover from {:?} to {:?} started at {} was run with other options: {}",
                    journal.from.context,
                    journal.to.context,
                    journal.started_at,
                    differences.join(", ")
                ))
                .with_next_step("run it with the options it was started with"));
            }
            if !flags.resume && !flags.dry_run {
                let next = order
                    .iter()
                    .find(|step| !journal.is_done(step))
                    .unwrap_or(&"the end");
                return Err(Error::usage(format!(
                    "a failover from {:?} to {:?} started at {} stopped before step {next}",
                    journal.from.context, journal.to.context, journal.started_at
                ))
                .with_next_step("run the same command with --resume to continue it"));
            }
            Ok(Start::Go {
                journal,
                version: Some(version),
            })
        }
        Some((journal, _)) if journal.is_unfinished() && !superseded(&journal) => {
            Err(Error::usage(format!(
                "an unfinished failover from {:?} to {:?} (started {}) is recorded in context {:?}",
                journal.from.context, journal.to.context, journal.started_at, to.context
            ))
            .with_next_step("resume that one first (same --from/--to with --resume)"))
        }
        _ if flags.resume => Err(Error::usage(format!(
            "nothing to resume: no unfinished failover from {:?} to {:?}",
            from.context, to.context
        ))
        .with_next_step("run without --resume to start one")),
        other => Ok(Start::Go {
            journal: new(),
            version: other.map(|(_, version)| version),
        }),
    }
}

/// The failover `--abandon` gives up: the unfinished one from `from` to `to`
/// in the standby's journal (`existing`, with its resourceVersion).
///
/// # Errors
/// A usage error (exit 2) when there is none: no journal, one of another
/// direction, or one finished or abandoned already.
pub fn abandon(
    existing: Option<(Journal, String)>,
    from: &SideRecord,
    to: &SideRecord,
) -> Result<(Journal, String)> {
    let nothing = |why: String| {
        Error::usage(format!("nothing to abandon: {why}"))
            .with_next_step("a new failover may start as it is (run it without --abandon)")
    };
    match existing {
        Some((journal, version)) if journal.same_direction(from, to) && journal.is_unfinished() => {
            Ok((journal, version))
        }
        Some((journal, _)) if journal.same_direction(from, to) => Err(nothing(format!(
            "the failover from {:?} to {:?} started at {} was {}",
            from.context,
            to.context,
            journal.started_at,
            match (&journal.finished_at, &journal.abandoned_at) {
                (Some(at), _) => format!("finished at {at}"),
                (None, Some(at)) => format!("abandoned at {at}"),
                (None, None) => "not finished".into(),
            }
        ))),
        _ => Err(nothing(format!(
            "no failover from {:?} to {:?} is recorded in context {:?}",
            from.context, to.context, to.context
        ))),
    }
}

/// `kubectl scale` commands putting `counts` back on `context`, one per
/// count (deployments of equal counts together), in name order.
pub fn scale_commands(
    context: &str,
    namespace: &str,
    counts: &BTreeMap<String, i32>,
) -> Vec<String> {
    let mut by_count: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for (name, count) in counts {
        by_count.entry(*count).or_default().push(name);
    }
    by_count
        .iter()
        .map(|(count, names)| {
            format!(
                "kubectl --context {context} -n {namespace} scale deployment {} --replicas={count}",
                names.join(" ")
            )
        })
        .collect()
}

/// What to do after `journal` was abandoned, in order, each line a
/// sentence ending in the exact command (a failback, or `kubectl scale`
/// commands at the recorded counts).
pub fn after_abandon(journal: &Journal) -> Vec<String> {
    let (from, to, namespace) = (
        &journal.from.context,
        &journal.to.context,
        &journal.namespace,
    );
    let by_hand = |context: &str, counts: &BTreeMap<String, i32>| {
        scale_commands(context, namespace, counts).join(" && ")
    };
    let flags = journal.options.as_ref().map_or(String::new(), |options| {
        format!(
            " --database {} --dns-backend {} --dns-name {}{}",
            options.database,
            options.dns_backend,
            options.dns_name,
            options
                .dns_target
                .as_ref()
                .map_or(String::new(), |target| format!(" --dns-target {target}"))
        )
    });
    let mut next = Vec::new();
    if journal.is_done("fence") {
        next.push(format!(
            "to serve from {from:?} again, fail back (it starts its MP at the counts recorded here, and repoints the name): kubectl mp-failover --from {to} --to {from} -n {namespace}{flags} … --yes"
        ));
        if !journal.fenced_replicas.is_empty() {
            next.push(format!(
                "the counts {from:?} had, should you start its MP by hand: {}",
                by_hand(from, &journal.fenced_replicas)
            ));
        }
    } else {
        next.push(format!(
            "{from:?} was not fenced by this failover: its MP serves unless the deployments above say otherwise"
        ));
        if !journal.standby_writer_replicas.is_empty() {
            next.push(format!(
                "give {to:?} back what the database step stopped: {}",
                by_hand(to, &journal.standby_writer_replicas)
            ));
        }
        if !journal.fenced_replicas.is_empty() {
            next.push(format!(
                "if {from:?}'s MP is stopped above (a fence cut short), start it at its recorded counts: {}",
                by_hand(from, &journal.fenced_replicas)
            ));
        }
    }
    if let Some(backup) = &journal.standby_backup {
        next.push(format!(
            "{to:?}'s database as it was before the restore: {} ({} bytes, sha256 {}); docs/operations.md says how to put it back",
            backup.path, backup.bytes, backup.sha256
        ));
    }
    next.push(format!(
        "to fail over from {from:?} to {to:?} again, from the start: the failover's command, without --abandon"
    ));
    next
}

/// The replica counts a failback restores: those the failover it undoes
/// recorded when it fenced this side.
pub fn restore_counts(
    reverse: Option<&Journal>,
    from: &SideRecord,
    to: &SideRecord,
) -> BTreeMap<String, i32> {
    reverse
        .filter(|journal| journal.same_direction(to, from))
        .map(|journal| journal.fenced_replicas.clone())
        .unwrap_or_default()
}

/// The old MP's deployments the fence stops (each to 0), operator excluded.
pub fn fence_plan(layout: &TsbLayout, state: &MpState) -> BTreeMap<String, i32> {
    layout
        .mp_deployments
        .iter()
        .filter(|name| state.deployments.contains_key(*name))
        .map(|name| (name.clone(), 0))
        .collect()
}

/// [`fence_plan`] and the operator, when it exists: all the fence stops.
pub fn fence_targets(layout: &TsbLayout, state: &MpState) -> BTreeMap<String, i32> {
    let mut targets = fence_plan(layout, state);
    let operator = &layout.operator_deployment;
    if state.deployments.contains_key(operator) {
        targets.insert(operator.clone(), 0);
    }
    targets
}

/// What the database step scales to 0 on the standby while it restores:
/// its writers, and its operator, which would otherwise scale them back up
/// (an installed standby runs it).
pub fn standby_writers(layout: &TsbLayout, state: &MpState) -> BTreeMap<String, i32> {
    layout
        .writer_deployments
        .iter()
        .chain(std::iter::once(&layout.operator_deployment))
        .filter(|name| state.deployments.contains_key(*name))
        .map(|name| (name.clone(), 0))
        .collect()
}

/// What each deployment on the new MP runs at: what a failback recorded,
/// else what the database step found before stopping it, else what it has,
/// and at least one.
pub fn activation_targets(
    state: &MpState,
    journal: &Journal,
    restore_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, i32> {
    state
        .deployments
        .iter()
        .map(|(name, replicas)| {
            let recorded = restore_counts
                .get(name)
                .or(journal.standby_writer_replicas.get(name));
            let target = recorded
                .copied()
                .filter(|count| *count > 0)
                .unwrap_or(replicas.desired.max(1));
            (name.clone(), target)
        })
        .collect()
}

/// Records in `journal`, before anything changes, the replica counts later
/// steps restore: the fenced MP's (`from_state`, for a failback) and, when
/// the database is copied, the standby writers' the database step stops
/// (for activation). Kept once recorded: a resumed run must not record the
/// zeros an earlier run made.
pub fn record_counts(
    journal: &mut Journal,
    layout: &TsbLayout,
    from_state: Option<&MpState>,
    to_state: &MpState,
    copies_database: bool,
) {
    if let Some(state) = from_state
        && journal.fenced_replicas.is_empty()
    {
        journal.fenced_replicas = state
            .deployments
            .iter()
            .map(|(name, replicas)| (name.clone(), replicas.desired))
            .collect();
        journal.restore_cronjob_was_suspended = state.restore_cronjob_suspended;
    }
    if copies_database && journal.standby_writer_replicas.is_empty() {
        journal.standby_writer_replicas = standby_writers(layout, to_state)
            .keys()
            .filter_map(|name| Some((name.clone(), to_state.deployments.get(name)?.desired)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::journal::StepRecord;
    use crate::failover::journal::tests::side;
    use crate::tsb::mp::Replicas;

    fn journal(from: &str, to: &str, started_at: &str, steps: &[&str], finished: bool) -> Journal {
        Journal {
            id: format!("failover-{started_at}"),
            from: side(from),
            to: side(to),
            namespace: "tsb".into(),
            started_at: started_at.into(),
            disaster: false,
            steps: steps
                .iter()
                .map(|step| {
                    let record = StepRecord {
                        finished_at: started_at.into(),
                        seconds: 1.0,
                        summary: "done".into(),
                    };
                    (step.to_string(), record)
                })
                .collect(),
            fenced_replicas: BTreeMap::from([("tsb".into(), 3)]),
            standby_writer_replicas: BTreeMap::new(),
            restore_cronjob_was_suspended: None,
            finished_at: finished.then(|| started_at.to_string()),
            abandoned_at: None,
            standby_backup: None,
            options: Some(options()),
            control_planes: BTreeMap::new(),
        }
    }

    fn options() -> RunOptions {
        RunOptions {
            database: "shared".into(),
            dns_backend: "rfc2136".into(),
            dns_name: "tsb.example.com".into(),
            dns_target: None,
        }
    }

    fn flags(resume: bool, dry_run: bool) -> Flags {
        Flags {
            resume,
            dry_run,
            disaster: false,
            options: options(),
            finished_holds: true,
        }
    }

    fn fresh() -> Journal {
        journal("active", "standby", "2026-12-01T03:00:00Z", &[], false)
    }

    fn start_flags() -> Flags {
        flags(false, false)
    }

    fn resume_flags() -> Flags {
        flags(true, false)
    }

    /// A row: its name, the journals found (standby's with its version,
    /// active's), the flags, and what is decided (or the refusal's words).
    /// A row: its name, the journals found (standby's with its version,
    /// active's), the flags, and what is decided (or the refusal's words).
    type Case = (
        &'static str,
        Option<(Journal, String)>,
        Option<Journal>,
        Flags,
        Result<Start, &'static str>,
    );

    fn start_cases() -> Vec<Case> {
        let old = "2026-11-30T03:00:00Z";
        let unfinished = journal("active", "standby", old, &["preflight", "database"], false);
        let finished = journal("active", "standby", old, &["preflight"], true);
        let other_way = journal("standby", "active", old, &["preflight"], false);
        let failback = || journal("standby", "active", "2026-11-30T04:00:00Z", &[], true);
        let go = |journal: Journal, version: Option<&str>| Start::Go {
            journal,
            version: version.map(String::from),
        };
        let found = |journal: &Journal| Some((journal.clone(), "7".to_string()));
        let (start, resume, dry_run) = (start_flags(), resume_flags(), flags(false, true));
        let no_longer_holds = Flags {
            finished_holds: false,
            ..start_flags()
        };
        let other_database = Flags {
            options: RunOptions {
                database: "separate".into(),
                ..options()
            },
            ..resume_flags()
        };
        let abandoned = Journal {
            abandoned_at: Some("2026-11-30T03:30:00Z".into()),
            ..unfinished.clone()
        };
        let stopped_other_way = journal(
            "standby",
            "active",
            old,
            &["preflight", "database", "fence"],
            false,
        );
        let abandoned_other_way = Journal {
            abandoned_at: Some("2026-11-30T03:30:00Z".into()),
            ..stopped_other_way.clone()
        };
        let now_disaster = Flags {
            disaster: true,
            ..resume_flags()
        };
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("nothing found: start", None, None, start.clone(), Ok(go(fresh(), None))),
            ("nothing to resume", None, None, resume.clone(), Err("nothing to resume")),
            ("unfinished, resumed", found(&unfinished), None, resume.clone(), Ok(go(unfinished.clone(), Some("7")))),
            ("unfinished, dry run", found(&unfinished), None, dry_run, Ok(go(unfinished.clone(), Some("7")))),
            ("unfinished, no --resume", found(&unfinished), None, start.clone(), Err("stopped before step fence")),
            ("finished: re-check only", found(&finished), None, start.clone(), Ok(Start::AlreadyDone(finished.clone()))),
            ("finished, no longer holds: start again", found(&finished), None, no_longer_holds, Ok(go(fresh(), Some("7")))),
            ("unfinished the other way", found(&other_way), None, start.clone(), Err("an unfinished failover from \"standby\" to \"active\"")),
            ("finished, then failed back: start again", found(&finished), Some(failback()), start, Ok(go(fresh(), Some("7")))),
            ("unfinished, then failed back", found(&unfinished), Some(failback()), resume, Err("nothing to resume")),
            ("resumed with another database mode", found(&unfinished), None, other_database, Err("was run with other options: --database shared (now: separate)")),
            ("resumed with --disaster added", found(&unfinished), None, now_disaster, Err("--disaster false (now: true)")),
            ("abandoned: a new one starts", found(&abandoned), None, start_flags(), Ok(go(fresh(), Some("7")))),
            ("abandoned: nothing to resume", found(&abandoned), None, resume_flags(), Err("nothing to resume")),
            ("the other way stopped midway: resume or abandon it", None, Some(stopped_other_way.clone()), start_flags(), Err("is not finished: it is at step activate (journal in context \"active\")")),
            ("the other way stopped midway, dry run too", None, Some(stopped_other_way), flags(false, true), Err("or give it up (--from standby --to active --abandon) first")),
            ("the other way abandoned: go back", None, Some(abandoned_other_way), start_flags(), Ok(go(fresh(), None))),
        ];
        cases
    }

    /// Every row: the journals found, the flags, and what is decided.
    #[test]
    fn start_resume_or_refuse() {
        let (active, standby) = (side("active"), side("standby"));
        let order = [
            "preflight",
            "database",
            "fence",
            "activate",
            "dns",
            "verify",
        ];
        for (case, existing, reverse, flags, expected) in start_cases() {
            let decided = start(
                existing,
                reverse.as_ref(),
                &active,
                &standby,
                &flags,
                &order,
                fresh,
            );
            match (decided, expected) {
                (Ok(decided), Ok(expected)) => assert_eq!(decided, expected, "{case}"),
                (Err(error), Err(text)) => {
                    assert!(error.to_string().contains(text), "{case}: {error}")
                }
                (decided, expected) => panic!("{case}: {decided:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn only_an_unfinished_failover_this_way_is_abandoned() {
        let (active, standby) = (side("active"), side("standby"));
        let old = "2026-11-30T03:00:00Z";
        let unfinished = journal("active", "standby", old, &["preflight"], false);
        let (kept, version) =
            abandon(Some((unfinished.clone(), "7".into())), &active, &standby).unwrap();
        assert_eq!((kept, version.as_str()), (unfinished, "7"));
        let finished = journal("active", "standby", old, &["preflight"], true);
        let abandoned = Journal {
            abandoned_at: Some("2026-11-30T04:00:00Z".into()),
            ..journal("active", "standby", old, &[], false)
        };
        let other_way = journal("standby", "active", old, &[], false);
        for (found, says) in [
            (
                None,
                "nothing to abandon: no failover from \"active\" to \"standby\" is recorded",
            ),
            (Some(finished), "was finished at 2026-11-30T03:00:00Z"),
            (Some(abandoned), "was abandoned at 2026-11-30T04:00:00Z"),
            (
                Some(other_way),
                "no failover from \"active\" to \"standby\"",
            ),
        ] {
            let error = abandon(
                found.map(|journal| (journal, "7".into())),
                &active,
                &standby,
            )
            .unwrap_err();
            assert_eq!(error.exit(), crate::error::Exit::Usage, "{error}");
            assert!(error.message().contains(says), "{error}");
        }
    }

    #[test]
    fn after_an_abandon_the_recorded_counts_are_exact_commands() {
        let counts = BTreeMap::from([("iam".into(), 2), ("tsb".into(), 2), ("web".into(), 1)]);
        assert_eq!(
            scale_commands("active", "tsb", &counts),
            [
                "kubectl --context active -n tsb scale deployment web --replicas=1",
                "kubectl --context active -n tsb scale deployment iam tsb --replicas=2",
            ]
        );
        // Fenced: fail back, or start the old active by hand at its counts.
        let fenced = journal(
            "active",
            "standby",
            "t",
            &["preflight", "database", "fence"],
            false,
        );
        let next = after_abandon(&fenced).join("\n");
        assert!(
            next.contains("kubectl mp-failover --from standby --to active -n tsb --database shared --dns-backend rfc2136 --dns-name tsb.example.com … --yes"),
            "{next}"
        );
        assert!(
            next.contains("kubectl --context active -n tsb scale deployment tsb --replicas=3"),
            "{next}"
        );
        // Not fenced: no failback; the standby's writers back at their counts.
        let mut stopped = journal("active", "standby", "t", &["preflight", "database"], false);
        stopped.standby_writer_replicas = BTreeMap::from([("iam".into(), 1)]);
        let next = after_abandon(&stopped).join("\n");
        assert!(!next.contains("mp-failover --from standby"), "{next}");
        assert!(
            next.contains("give \"standby\" back what the database step stopped: kubectl --context standby -n tsb scale deployment iam --replicas=1"),
            "{next}"
        );
    }

    fn state(deployments: &[(&str, i32)]) -> MpState {
        MpState {
            deployments: deployments
                .iter()
                .map(|(name, desired)| {
                    let replicas = Replicas {
                        desired: *desired,
                        ready: *desired,
                    };
                    (name.to_string(), replicas)
                })
                .collect(),
            ..MpState::default()
        }
    }

    #[test]
    fn activation_restores_a_failbacks_counts_then_the_database_steps_then_at_least_one() {
        let standby = state(&[("tsb", 0), ("iam", 0), ("oap", 2), ("web", 0)]);
        let mut journal = fresh();
        journal.standby_writer_replicas = BTreeMap::from([("iam".into(), 4)]);
        let failback = BTreeMap::from([("tsb".into(), 3), ("web".into(), 0)]);
        assert_eq!(
            activation_targets(&standby, &journal, &failback),
            BTreeMap::from([
                ("iam".into(), 4), // the database step's
                ("oap".into(), 2), // what it has
                ("tsb".into(), 3), // the failback's
                ("web".into(), 1), // a recorded 0 is not a target: at least one
            ])
        );
    }

    #[test]
    fn the_fence_stops_the_mp_and_its_operator_that_exist() {
        let layout = TsbLayout::default();
        let active = state(&[
            (layout.operator_deployment.as_str(), 1),
            ("tsb", 2),
            ("iam", 2),
            ("unrelated", 5),
        ]);
        let plan = fence_plan(&layout, &active);
        assert_eq!(plan, BTreeMap::from([("iam".into(), 0), ("tsb".into(), 0)]));
        let targets = fence_targets(&layout, &active);
        assert_eq!(targets.len(), 3);
        assert_eq!(targets.get(&layout.operator_deployment), Some(&0));
        assert_eq!(
            standby_writers(&layout, &active),
            BTreeMap::from([
                ("iam".into(), 0),
                ("tsb".into(), 0),
                (layout.operator_deployment.clone(), 0)
            ])
        );
    }

    #[test]
    fn counts_are_recorded_once() {
        let layout = TsbLayout::default();
        let active = state(&[("tsb", 2)]);
        let standby = state(&[("tsb", 1), ("iam", 1)]);
        let mut journal = fresh();
        journal.fenced_replicas.clear();
        record_counts(&mut journal, &layout, Some(&active), &standby, true);
        assert_eq!(journal.fenced_replicas, BTreeMap::from([("tsb".into(), 2)]));
        assert_eq!(
            journal.standby_writer_replicas,
            BTreeMap::from([("iam".into(), 1), ("tsb".into(), 1)])
        );
        // Resumed after the fence: the zeros it made are not recorded.
        let fenced = state(&[("tsb", 0)]);
        record_counts(
            &mut journal,
            &layout,
            Some(&fenced),
            &state(&[("tsb", 0)]),
            true,
        );
        assert_eq!(journal.fenced_replicas, BTreeMap::from([("tsb".into(), 2)]));
        assert_eq!(journal.standby_writer_replicas.get("tsb"), Some(&1));
    }
}
