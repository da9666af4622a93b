//! Step 7, the HA guide's "prepare a new standby": the old active, fenced
//! and intact, becomes the standby. With a database each, its `tsb-restore`
//! CronJob (the embedded-Postgres standby's restore of the active's
//! backups; tsb-facts.md, "From Tetrate's wider MP HA guide") is resumed,
//! so it follows the new active as the new active once followed it. Last,
//! after verify: it only starts once the new MP is proven to serve.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::error::Result;
use crate::failover::DatabaseMode;
use crate::tsb::mp;

pub struct Standby;

/// What the step does to the old active's restore CronJob, and why.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Resume it: the old active now restores the new active's backups.
    Resume,
    /// Nothing to change; the words say why.
    Leave(String),
}

fn plan(run: &Run<'_>) -> Plan {
    let cronjob = &run.layout.restore_cronjob;
    let from = run.from.context();
    if run.settings.database.mode == DatabaseMode::Shared {
        // A restore there would write an old backup over the one database both MPs use.
        return Plan::Leave(format!(
            "--database shared: cronjob {cronjob} on context {from:?} is left as it is"
        ));
    }
    let Some(state) = &run.preflight.from_state else {
        return Plan::Leave(format!(
            "skipped (--disaster): once context {from:?} is back and fenced, resume its cronjob {cronjob} to make it the standby: {}",
            mp::suspend_command(run.from, cronjob, false)
        ));
    };
    match (
        state.restore_cronjob_suspended,
        run.preflight.to_state.restore_cronjob_suspended,
    ) {
        (Some(_), _) => Plan::Resume,
        (None, Some(_)) => Plan::Leave(format!(
            "context {from:?} has no cronjob {cronjob}, so it restores no backups of the new active: create one there to make it the standby"
        )),
        (None, None) => Plan::Leave(format!(
            "no cronjob {cronjob} on either side: nothing to resume"
        )),
    }
}

impl Step for Standby {
    fn name(&self) -> &'static str {
        "standby"
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            let cronjob = &run.layout.restore_cronjob;
            Ok(vec![match plan(run) {
                Plan::Resume => {
                    mp::suspend_cronjob(run.from, cronjob, false, true).await?;
                    format!(
                        "standby: resume cronjob {cronjob} on context {:?} (it restores the new active's backups)",
                        run.from.context()
                    )
                }
                Plan::Leave(why) => format!("standby: {why}"),
            }])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        async move {
            let cronjob = &run.layout.restore_cronjob;
            match plan(run) {
                Plan::Resume => {
                    mp::suspend_cronjob(run.from, cronjob, false, false).await?;
                    Ok(format!(
                        "context {:?}: cronjob {cronjob} resumed; it restores the new active's backups",
                        run.from.context()
                    ))
                }
                Plan::Leave(why) => Ok(why),
            }
        }
        .boxed()
    }

    /// The old active's restore CronJob still runs (or there is none to run).
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        let holds = plan(run) != Plan::Resume
            || run
                .preflight
                .from_state
                .as_ref()
                .is_some_and(|state| state.restore_cronjob_suspended == Some(false));
        async move { Ok(holds) }.boxed()
    }
}
