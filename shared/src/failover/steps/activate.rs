//! Step 4, the runbook's "start the new MP": its operator and deployments
//! at the counts a failback recorded (or what they had, at least 1), its
//! restore CronJob suspended, then waits until all are ready.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::error::{Error, Result, join_all_in_order, join_in_order};
use crate::failover::describe;
use crate::failover::plan;
use crate::tsb::mp;

pub struct Activate;

impl Step for Activate {
    fn name(&self) -> &'static str {
        "activate"
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            let targets = targets(run);
            // The server's dry run proves the scale requests would be accepted.
            join_all_in_order(
                targets
                    .iter()
                    .map(|(name, replicas)| mp::scale(run.to, name, *replicas, true)),
            )
            .await?;
            Ok(vec![format!(
                "activate context {:?}: {}",
                run.to.context(),
                describe::replicas(&targets)
            )])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        activate(run).boxed()
    }

    /// Every deployment runs its target and is ready, and the front has an address.
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        let state = &run.preflight.to_state;
        let ready = targets(run).iter().all(|(name, target)| {
            state
                .deployments
                .get(name)
                .is_some_and(|replicas| replicas.meets(*target))
        });
        let holds = ready && state.front_address.is_some();
        async move { Ok(holds) }.boxed()
    }
}

fn targets(run: &Run<'_>) -> std::collections::BTreeMap<String, i32> {
    plan::activation_targets(&run.preflight.to_state, run.journal, run.restore_counts)
}

async fn activate(run: &Run<'_>) -> Result<String> {
    let targets = targets(run);
    let to_state = &run.preflight.to_state;
    // Starting, unlike stopping, has no order: the operator only scales up.
    let suspend = async {
        // A restore job on the new primary would overwrite it with an old backup.
        if to_state.restore_cronjob_suspended == Some(false) {
            mp::suspend_cronjob(run.to, &run.layout.restore_cronjob, true, false).await
        } else {
            Ok(())
        }
    };
    join_in_order(
        join_all_in_order(
            targets
                .iter()
                .map(|(name, replicas)| mp::scale(run.to, name, *replicas, false)),
        ),
        suspend,
    )
    .await?;
    let (_, state) = futures::try_join!(
        mp::wait_for_replicas(run.to, &targets, run.settings.ready_timeout),
        mp::read_state(run.to, run.layout),
    )?;
    let address = state.front_address.ok_or_else(|| {
        Error::failed(format!(
            "service {} on context {:?} has no address",
            run.layout.front_service.name,
            run.to.context()
        ))
        .with_next_step("check the LoadBalancer")
    })?;
    Ok(format!(
        "context {:?}: {} deployments ready; front address {address}",
        run.to.context(),
        targets.len()
    ))
}
