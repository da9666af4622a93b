//! The failover's memory and its lock, kept in the cluster that takes over,
//! in one ConfigMap: the journal of completed steps (so `--resume` continues
//! and a finished failover is not redone) and the lock that keeps two
//! failovers from running at once.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::kube::cluster::Cluster;
use crate::tsb::mp::FIELD_MANAGER;

pub const JOURNAL_NAME: &str = "mp-failover-journal";
const JOURNAL_KEY: &str = "journal.json";
const LOCK_KEY: &str = "lock.json";
/// A lock older than this without renewal is abandoned (its holder died).
pub const LOCK_SECONDS: i32 = 600;

/// One side of a failover, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideRecord {
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
    pub from: SideRecord,
    pub to: SideRecord,
    pub namespace: String,
    pub started_at: String,
    pub disaster: bool,
    /// By step name ([`super::steps::names`]).
    pub steps: BTreeMap<String, StepRecord>,
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
    pub fn is_done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }

    pub fn same_direction(&self, from: &SideRecord, to: &SideRecord) -> bool {
        self.from.server == from.server && self.to.server == to.server
    }
}

/// A failover's id, from when it starts: to the millisecond, so that a
/// failback started right after its failover never shares its id (the lock
/// treats one id as one failover).
pub fn new_id(started: jiff::Timestamp) -> String {
    format!("failover-{}", started.strftime("%Y%m%dT%H%M%S%.3fZ"))
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The journal ConfigMap as read: the journal, the lock (when one is held)
/// and the resourceVersion the next write must match.
#[derive(Debug)]
pub struct Stored {
    pub journal: Journal,
    pub lock: Option<Lock>,
    pub version: String,
}

/// Who runs the failover a journal records. It lives in the journal's own
/// ConfigMap, so taking, renewing and giving it up are the same single
/// write as recording a step: there is no moment where one is written and
/// not the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub holder: String,
    pub acquired_at: String,
    /// Stamped by every journal write.
    pub renewed_at: String,
    pub seconds: i32,
}

impl Lock {
    pub fn new(holder: &str) -> Self {
        let now = now();
        Self {
            holder: holder.into(),
            acquired_at: now.clone(),
            renewed_at: now,
            seconds: LOCK_SECONDS,
        }
    }

    /// The holder, when it is another failover and its lock has not expired.
    pub fn held_by_other(&self, us: &str) -> Option<&str> {
        // A time we cannot read counts as live: refusing is the safe mistake.
        let live = self
            .renewed_at
            .parse::<jiff::Timestamp>()
            .map_or(true, |renewed| {
                jiff::Timestamp::now().as_second() < renewed.as_second() + i64::from(self.seconds)
            });
        (live && !same_failover(&self.holder, us)).then_some(self.holder.as_str())
    }
}

fn read_error(cluster: &Cluster, what: impl fmt::Display) -> Error {
    Error::failed(format!(
        "context {:?}: configmap {JOURNAL_NAME} {what}",
        cluster.context()
    ))
    .with_next_step(format!(
        "delete it if no failover is running (kubectl delete configmap {JOURNAL_NAME})"
    ))
}

/// The journal in `cluster`'s namespace, with its lock and resourceVersion.
pub async fn load(cluster: &Cluster) -> Result<Option<Stored>> {
    let api: Api<ConfigMap> = cluster.namespaced();
    let found = api
        .get_opt(JOURNAL_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get configmap {JOURNAL_NAME}")))?;
    let Some(configmap) = found else {
        return Ok(None);
    };
    let data = configmap.data.unwrap_or_default();
    let text = data
        .get(JOURNAL_KEY)
        .ok_or_else(|| read_error(cluster, format_args!("has no {JOURNAL_KEY}")))?;
    let journal = serde_json::from_str(text)
        .map_err(|error| read_error(cluster, format_args!("is not a journal: {error}")))?;
    let lock = data
        .get(LOCK_KEY)
        .map(|text| serde_json::from_str(text))
        .transpose()
        .map_err(|error| {
            read_error(
                cluster,
                format_args!("has an unreadable {LOCK_KEY}: {error}"),
            )
        })?;
    Ok(Some(Stored {
        journal,
        lock,
        version: configmap.metadata.resource_version.unwrap_or_default(),
    }))
}

/// Writes the journal with `lock` held (renewed now) or, with None, released.
/// `resource_version` is what the last read or write returned (None creates
/// the ConfigMap): a conflict means another failover wrote it since.
pub async fn save(
    cluster: &Cluster,
    journal: &Journal,
    lock: Option<&Lock>,
    resource_version: Option<&str>,
) -> Result<String> {
    let encode = |what: &str, result: serde_json::Result<String>| {
        result.map_err(|error| Error::failed(format!("cannot encode the {what}: {error}")))
    };
    let mut data = BTreeMap::from([(
        JOURNAL_KEY.to_string(),
        encode("journal", serde_json::to_string_pretty(journal))?,
    )]);
    if let Some(lock) = lock {
        let renewed = Lock {
            renewed_at: now(),
            ..lock.clone()
        };
        data.insert(
            LOCK_KEY.into(),
            encode("lock", serde_json::to_string_pretty(&renewed))?,
        );
    }
    let mut configmap = ConfigMap {
        data: Some(data),
        ..ConfigMap::default()
    };
    configmap.metadata.name = Some(JOURNAL_NAME.into());
    configmap.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".into(),
        FIELD_MANAGER.into(),
    )]));
    let api: Api<ConfigMap> = cluster.namespaced();
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
    match result {
        Ok(saved) => Ok(saved.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::failed(format!(
            "context {:?}: configmap {JOURNAL_NAME} changed since this failover read it: another failover is writing it",
            cluster.context()
        ))
        .with_next_step(format!(
            "see who holds the lock (kubectl get configmap {JOURNAL_NAME} -o jsonpath='{{.data.lock\\.json}}') and let it finish"
        ))),
        Err(error) => Err(cluster.error(
            error,
            &format!("write the failover journal (configmap {JOURNAL_NAME})"),
        )),
    }
}

/// The journal's writes during a failover, one at a time, each made with
/// the resourceVersion the one before it returned, and each renewing the
/// lock. A write can go on in the background while the failover moves on.
pub struct Writer {
    cluster: Cluster,
    lock: Lock,
    version: Option<String>,
    in_flight: Option<JoinHandle<Result<String>>>,
}

impl Writer {
    /// `version`: the journal ConfigMap's as loaded, None when there is none.
    pub fn new(cluster: &Cluster, lock: Lock, version: Option<String>) -> Self {
        Self {
            cluster: cluster.clone(),
            lock,
            version,
            in_flight: None,
        }
    }

    /// Writes `journal` and waits for it.
    pub async fn write(&mut self, journal: &Journal) -> Result<()> {
        self.settle().await?;
        self.version = Some(
            save(
                &self.cluster,
                journal,
                Some(&self.lock),
                self.version.as_deref(),
            )
            .await?,
        );
        Ok(())
    }

    /// Starts writing `journal` without waiting. While an earlier write is
    /// still under way this one is left out: the next write carries
    /// everything, and [`Writer::finish`] always writes.
    pub async fn write_behind(&mut self, journal: &Journal) -> Result<()> {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|write| !write.is_finished())
        {
            return Ok(());
        }
        self.settle().await?;
        let (cluster, lock, version) = (
            self.cluster.clone(),
            self.lock.clone(),
            self.version.clone(),
        );
        let journal = journal.clone();
        self.in_flight = Some(tokio::spawn(async move {
            save(&cluster, &journal, Some(&lock), version.as_deref()).await
        }));
        Ok(())
    }

    /// The last write: records `journal` as it ends and gives the lock up.
    pub async fn finish(mut self, journal: &Journal) -> Result<()> {
        self.settle().await?;
        save(&self.cluster, journal, None, self.version.as_deref())
            .await
            .map(|_| ())
    }

    /// Waits for the write under way, if any.
    async fn settle(&mut self) -> Result<()> {
        if let Some(write) = self.in_flight.take() {
            let version = write.await.map_err(|error| {
                Error::failed(format!("writing the failover journal stopped: {error}"))
            })??;
            self.version = Some(version);
        }
        Ok(())
    }
}

/// Holders are "<journal id> <who> pid <n>": a resumed run of the same
/// failover (same journal id) may take the lock back from its dead predecessor.
fn same_failover(holder: &str, us: &str) -> bool {
    holder.split_whitespace().next() == us.split_whitespace().next()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn side(name: &str) -> SideRecord {
        SideRecord {
            context: name.into(),
            server: format!("https://{name}:6443"),
        }
    }

    #[test]
    fn the_journal_round_trips_as_json() {
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
        for step in ["preflight", "database", "fence"] {
            journal.steps.insert(
                step.into(),
                StepRecord {
                    finished_at: now(),
                    seconds: 0.5,
                    summary: "ok".into(),
                },
            );
        }
        assert!(journal.is_done("fence") && !journal.is_done("activate"));
        let text = serde_json::to_string(&journal).unwrap();
        assert!(text.contains("\"fence\""), "{text}");
        assert_eq!(serde_json::from_str::<Journal>(&text).unwrap(), journal);
        assert!(journal.same_direction(&side("active"), &side("standby")));
        assert!(!journal.same_direction(&side("standby"), &side("active")));
    }

    #[test]
    fn a_lock_is_live_until_its_duration_passes_since_renewal() {
        let mut lock = Lock {
            seconds: 60,
            ..Lock::new("failover-1 someone@vm pid 1")
        };
        assert_eq!(
            lock.held_by_other("failover-2 me@vm pid 2"),
            Some("failover-1 someone@vm pid 1")
        );
        // Our own failover, resumed by another process, may take it back.
        assert_eq!(lock.held_by_other("failover-1 me@vm pid 2"), None);
        let old = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 61).unwrap();
        lock.renewed_at = old.to_string();
        assert_eq!(lock.held_by_other("failover-2 me@vm pid 2"), None);
        lock.renewed_at = "not a time".into();
        assert!(lock.held_by_other("failover-2 me@vm pid 2").is_some());
    }

    #[test]
    fn ids_tell_failovers_a_millisecond_apart() {
        let start = jiff::Timestamp::from_millisecond(1_764_000_000_000).unwrap();
        let next = start + jiff::SignedDuration::from_millis(1);
        assert_eq!(new_id(start), "failover-20251124T160000.000Z");
        assert_ne!(new_id(start), new_id(next));
        assert!(!same_failover(
            &format!("{} a", new_id(start)),
            &format!("{} a", new_id(next))
        ));
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
