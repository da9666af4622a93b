//! Step 3, the runbook's "stop the old MP": its operator to 0 first (while
//! it runs it scales the MP back up), then every MP deployment, and its
//! restore CronJob suspended.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::error::{Result, join_all_in_order};
use crate::failover::describe;
use crate::failover::plan;
use crate::tsb::mp;

pub struct Fence;

impl Step for Fence {
    fn name(&self) -> &'static str {
        "fence"
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            let Some(state) = &run.preflight.from_state else {
                return Ok(vec![
                    "fence: skipped (--disaster); fence the old MP before it serves again".into(),
                ]);
            };
            let fence = plan::fence_targets(run.layout, state);
            // In the order it is done: the operator first, or it scales the MP back up.
            let operator = &run.layout.operator_deployment;
            let first = if fence.contains_key(operator) {
                format!("{operator}=0 first, then ")
            } else {
                String::new()
            };
            let mut lines = vec![format!(
                "fence context {:?}: {first}{}",
                run.from.context(),
                describe::replicas(&plan::fence_plan(run.layout, state))
            )];
            // The server's dry run proves the scale requests would be accepted.
            join_all_in_order(
                fence
                    .iter()
                    .map(|(name, replicas)| mp::scale(run.from, name, *replicas, true)),
            )
            .await?;
            if state.restore_cronjob_suspended == Some(false) {
                lines.push(format!(
                    "and suspend cronjob {}",
                    run.layout.restore_cronjob
                ));
            }
            Ok(lines)
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        fence(run).boxed()
    }

    /// Every deployment it stops is still at 0 (or the active is gone: --disaster).
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        let holds = run.preflight.from_state.as_ref().is_none_or(|state| {
            plan::fence_targets(run.layout, state).keys().all(|name| {
                state
                    .deployments
                    .get(name)
                    .is_none_or(|replicas| replicas.desired == 0)
            })
        });
        async move { Ok(holds) }.boxed()
    }
}

async fn fence(run: &Run<'_>) -> Result<String> {
    let operator = &run.layout.operator_deployment;
    let Some(state) = &run.preflight.from_state else {
        return Ok(format!(
            "skipped (--disaster): when context {:?} returns, fence it before it serves again: kubectl --context {} -n {} scale deployment {operator} --replicas=0, then the MP deployments",
            run.from.context(),
            run.from.context(),
            run.from.namespace(),
        ));
    };
    let targets = plan::fence_targets(run.layout, state);
    let suspend = async {
        if state.restore_cronjob_suspended == Some(false) {
            mp::suspend_cronjob(run.from, &run.layout.restore_cronjob, true, false).await
        } else {
            Ok(())
        }
    };
    run.stop_operator_first(run.from, &targets, suspend).await?;
    Ok(format!(
        "context {:?}: {operator} then {} deployments at 0",
        run.from.context(),
        targets.keys().filter(|name| *name != operator).count()
    ))
}
