//! The failover's memory and its lock, kept in the cluster that takes over:
//! a ConfigMap journal of completed steps (so `--resume` continues and a
//! finished failover is not redone) and a Lease so two failovers never run at once.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, PostParams};
use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::mp::FIELD_MANAGER;

pub const JOURNAL_NAME: &str = "mp-failover-journal";
pub const LOCK_NAME: &str = "mp-failover-lock";
const JOURNAL_KEY: &str = "journal.json";
/// A lock older than this without renewal is abandoned (its holder died).
pub const LOCK_SECONDS: i32 = 600;

/// The failover's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Preflight,
    Database,
    Fence,
    Activate,
    Dns,
    Verify,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Preflight,
        Step::Database,
        Step::Fence,
        Step::Activate,
        Step::Dns,
        Step::Verify,
    ];

    pub fn number(self) -> usize {
        Step::ALL
            .iter()
            .position(|step| *step == self)
            .map_or(0, |index| index + 1)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Preflight => "preflight",
            Step::Database => "database",
            Step::Fence => "fence",
            Step::Activate => "activate",
            Step::Dns => "dns",
            Step::Verify => "verify",
        })
    }
}

/// One side of a failover, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub context: String,
    pub server: String,
}

/// A step that finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub finished_at: String,
    pub seconds: f64,
    pub summary: String,
}

/// What a failover did so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub id: String,
    pub from: Side,
    pub to: Side,
    pub namespace: String,
    pub started_at: String,
    pub disaster: bool,
    pub steps: BTreeMap<Step, StepRecord>,
    /// Replica counts the fenced MP had, so a failback restores them.
    pub fenced_replicas: BTreeMap<String, i32>,
    /// The standby's writers' replica counts before the database restore
    /// scaled them to 0, so activation brings them back as they were.
    #[serde(default)]
    pub standby_writer_replicas: BTreeMap<String, i32>,
    /// The restore CronJob's `suspend` before the fence, when it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_cronjob_was_suspended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl Journal {
    pub fn is_done(&self, step: Step) -> bool {
        self.steps.contains_key(&step)
    }

    /// The first step not done yet.
    pub fn next_step(&self) -> Option<Step> {
        Step::ALL.into_iter().find(|step| !self.is_done(*step))
    }

    pub fn same_direction(&self, from: &Side, to: &Side) -> bool {
        self.from.server == from.server && self.to.server == to.server
    }
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The journal in `cluster`'s namespace, with its resourceVersion.
pub async fn load(cluster: &Cluster) -> Result<Option<(Journal, String)>> {
    let api: Api<ConfigMap> = cluster.namespaced();
    let found = api
        .get_opt(JOURNAL_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get configmap {JOURNAL_NAME}")))?;
    let Some(configmap) = found else {
        return Ok(None);
    };
    let text = configmap
        .data
        .as_ref()
        .and_then(|data| data.get(JOURNAL_KEY))
        .ok_or_else(|| {
            Error::failed(format!(
                "context {:?}: configmap {JOURNAL_NAME} has no {JOURNAL_KEY}",
                cluster.context()
            ))
            .with_next_step(format!(
                "delete it if no failover is running (kubectl delete configmap {JOURNAL_NAME})"
            ))
        })?;
    let journal = serde_json::from_str(text).map_err(|error| {
        Error::failed(format!(
            "context {:?}: configmap {JOURNAL_NAME} is not a journal: {error}",
            cluster.context()
        ))
        .with_next_step(format!(
            "delete it if no failover is running (kubectl delete configmap {JOURNAL_NAME})"
        ))
    })?;
    Ok(Some((
        journal,
        configmap.metadata.resource_version.unwrap_or_default(),
    )))
}

/// Writes the journal; `resource_version` guards against a concurrent writer
/// (None creates it, or replaces an old journal unconditionally when `replace_any`).
pub async fn save(
    cluster: &Cluster,
    journal: &Journal,
    resource_version: Option<&str>,
) -> Result<String> {
    let api: Api<ConfigMap> = cluster.namespaced();
    let mut configmap = ConfigMap::default();
    configmap.metadata.name = Some(JOURNAL_NAME.into());
    configmap.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".into(),
        FIELD_MANAGER.into(),
    )]));
    let text = serde_json::to_string_pretty(journal)
        .map_err(|error| Error::failed(format!("cannot encode the journal: {error}")))?;
    configmap.data = Some(BTreeMap::from([(JOURNAL_KEY.into(), text)]));
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let result = match resource_version {
        Some(resource_version) => {
            configmap.metadata.resource_version = Some(resource_version.into());
            api.replace(JOURNAL_NAME, &params, &configmap).await
        }
        None => api.create(&params, &configmap).await,
    };
    result
        .map(|saved| saved.metadata.resource_version.unwrap_or_default())
        .map_err(|error| {
            cluster.error(
                error,
                &format!("write the failover journal (configmap {JOURNAL_NAME})"),
            )
        })
}

/// Holders are "<journal id> <who> pid <n>": a resumed run of the same
/// failover (same journal id) may take the lock back from its dead predecessor.
fn same_failover(holder: &str, us: &str) -> bool {
    holder.split_whitespace().next() == us.split_whitespace().next()
}

/// Who holds the lock, when another failover does and it has not expired.
pub async fn lock_holder(cluster: &Cluster, us: &str) -> Result<Option<String>> {
    let api: Api<Lease> = cluster.namespaced();
    let lease = api
        .get_opt(LOCK_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get lease {LOCK_NAME}")))?;
    Ok(lease
        .and_then(|lease| live_holder(&lease))
        .filter(|holder| !same_failover(holder, us)))
}

fn live_holder(lease: &Lease) -> Option<String> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone()?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(LOCK_SECONDS));
    (jiff::Timestamp::now().as_second() < renewed.as_second() + seconds).then_some(holder)
}

/// Takes (or renews) the lock for `us`; refuses when another live holder has it.
pub async fn acquire(cluster: &Cluster, us: &str) -> Result<()> {
    let api: Api<Lease> = cluster.namespaced();
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let now = MicroTime(jiff::Timestamp::now());
    let existing = api
        .get_opt(LOCK_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get lease {LOCK_NAME}")))?;
    let held_by_other = |holder: String| {
        Error::failed(format!("another failover holds the lock in context {:?}: {holder}", cluster.context()))
            .with_next_step(format!(
                "wait for it to finish; if it died, the lock expires {LOCK_SECONDS}s after its last step (or delete lease {LOCK_NAME})"
            ))
    };
    let result = match existing {
        Some(lease) => {
            if let Some(holder) = live_holder(&lease).filter(|holder| !same_failover(holder, us)) {
                return Err(held_by_other(holder));
            }
            let mut lease = lease;
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(us) {
                spec.acquire_time = Some(now.clone());
            }
            spec.holder_identity = Some(us.into());
            spec.renew_time = Some(now);
            spec.lease_duration_seconds = Some(LOCK_SECONDS);
            api.replace(LOCK_NAME, &params, &lease).await
        }
        None => {
            let mut lease = Lease {
                spec: Some(LeaseSpec {
                    holder_identity: Some(us.into()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_duration_seconds: Some(LOCK_SECONDS),
                    ..LeaseSpec::default()
                }),
                ..Lease::default()
            };
            lease.metadata.name = Some(LOCK_NAME.into());
            api.create(&params, &lease).await
        }
    };
    match result {
        Ok(_) => Ok(()),
        // Someone took or renewed it between our read and our write.
        Err(kube::Error::Api(status)) if status.code == 409 => Err(held_by_other(
            lock_holder(cluster, us)
                .await?
                .unwrap_or_else(|| "another process".into()),
        )),
        Err(error) => Err(cluster.error(
            error,
            &format!("take the failover lock (lease {LOCK_NAME})"),
        )),
    }
}

/// Gives the lock up, if it is ours.
pub async fn release(cluster: &Cluster, us: &str) -> Result<()> {
    let api: Api<Lease> = cluster.namespaced();
    let lease = api
        .get_opt(LOCK_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get lease {LOCK_NAME}")))?;
    if lease
        .and_then(|lease| lease.spec?.holder_identity)
        .as_deref()
        == Some(us)
    {
        api.delete(LOCK_NAME, &DeleteParams::default())
            .await
            .map_err(|error| {
                cluster.error(
                    error,
                    &format!("release the failover lock (lease {LOCK_NAME})"),
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(name: &str) -> Side {
        Side {
            context: name.into(),
            server: format!("https://{name}:6443"),
        }
    }

    #[test]
    fn the_journal_knows_the_next_step_and_round_trips_as_json() {
        let mut journal = Journal {
            id: "x".into(),
            from: side("active"),
            to: side("standby"),
            namespace: "tsb".into(),
            started_at: now(),
            disaster: false,
            steps: BTreeMap::new(),
            fenced_replicas: BTreeMap::from([("tsb".into(), 2)]),
            standby_writer_replicas: BTreeMap::new(),
            restore_cronjob_was_suspended: Some(false),
            finished_at: None,
        };
        assert_eq!(journal.next_step(), Some(Step::Preflight));
        for step in [Step::Preflight, Step::Database, Step::Fence] {
            journal.steps.insert(
                step,
                StepRecord {
                    finished_at: now(),
                    seconds: 0.5,
                    summary: "ok".into(),
                },
            );
        }
        assert_eq!(journal.next_step(), Some(Step::Activate));
        let text = serde_json::to_string(&journal).unwrap();
        assert!(text.contains("\"fence\""), "{text}");
        assert_eq!(serde_json::from_str::<Journal>(&text).unwrap(), journal);
        assert!(journal.same_direction(&side("active"), &side("standby")));
        assert!(!journal.same_direction(&side("standby"), &side("active")));
        assert_eq!(Step::Dns.number(), 5);
    }

    #[test]
    fn a_lock_is_live_until_its_duration_passes_since_renewal() {
        let mut lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some("someone".into()),
                renew_time: Some(MicroTime(jiff::Timestamp::now())),
                lease_duration_seconds: Some(60),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        assert_eq!(live_holder(&lease), Some("someone".into()));
        let old = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 61).unwrap();
        lease.spec.as_mut().unwrap().renew_time = Some(MicroTime(old));
        assert_eq!(live_holder(&lease), None);
    }

    #[test]
    fn a_resumed_run_of_the_same_failover_may_take_the_lock_back() {
        assert!(same_failover(
            "failover-1 ann@vm pid 10",
            "failover-1 ann@vm pid 99"
        ));
        assert!(!same_failover(
            "failover-1 ann@vm pid 10",
            "failover-2 ann@vm pid 10"
        ));
    }
}
