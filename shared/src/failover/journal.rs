//! The failover's memory, kept in the cluster that takes over, in one
//! ConfigMap: the journal of completed steps, so `--resume` continues and a
//! finished failover is not redone. Each write is conditional on the last
//! one's resourceVersion; the pair's lock is [`super::lock`]'s.

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
/// The start of the name of an abandoned journal's copy, which ends with
/// the UTC time it was abandoned (`20261202t031500z`).
pub const ABANDONED_PREFIX: &str = "mp-failover-journal-abandoned-";

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
    /// When `--abandon` gave it up: it is history then, neither resumed nor
    /// blocking a new failover, and its counts still serve a failback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned_at: Option<String>,
    /// The standby's database backup the database step took (taken once:
    /// a resumed run checks the file is still this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_backup: Option<DumpRecord>,
    /// What it was started with that a resumed run must share (absent in
    /// journals from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<RunOptions>,
    /// Each control plane's outcome by context (`--control-plane-context`),
    /// kept even when the step fails: `--resume` retries only those that
    /// did not follow the MP.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub control_planes: BTreeMap<String, ControlPlaneRecord>,
}

/// How one control plane followed the MP (or did not), as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneRecord {
    /// Its edge reconnected to the new MP.
    pub followed: bool,
    /// What was done: `none`, `restarted` or `tokens re-issued`.
    pub action: String,
    /// What was seen last, or why it did not follow.
    pub result: String,
    pub at: String,
}

/// A dump file as taken: where, its size (bytes), its sha256 (hex) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DumpRecord {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub taken_at: String,
}

/// The options of a failover that a `--resume` must repeat: resuming with
/// another database mode, DNS backend or name would finish a failover
/// nobody started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    pub database: String,
    pub dns_backend: String,
    pub dns_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_target: Option<String>,
}

impl RunOptions {
    /// What differs from `recorded`, as `--flag recorded (now: value)`.
    pub fn differences(&self, recorded: &RunOptions) -> Vec<String> {
        let shown = |value: Option<&String>| value.map_or("(none)".to_string(), String::clone);
        [
            ("--database", Some(&recorded.database), Some(&self.database)),
            (
                "--dns-backend",
                Some(&recorded.dns_backend),
                Some(&self.dns_backend),
            ),
            ("--dns-name", Some(&recorded.dns_name), Some(&self.dns_name)),
            (
                "--dns-target",
                recorded.dns_target.as_ref(),
                self.dns_target.as_ref(),
            ),
        ]
        .into_iter()
        .filter(|(_, recorded, now)| recorded != now)
        .map(|(flag, recorded, now)| format!("{flag} {} (now: {})", shown(recorded), shown(now)))
        .collect()
    }
}

impl Journal {
    pub fn is_done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }

    /// Started, and neither finished nor abandoned: what `--resume`
    /// continues and `--abandon` gives up.
    pub fn is_unfinished(&self) -> bool {
        self.finished_at.is_none() && self.abandoned_at.is_none()
    }

    pub fn same_direction(&self, from: &SideRecord, to: &SideRecord) -> bool {
        self.from.server == from.server && self.to.server == to.server
    }
}

/// A failover's id, from when it starts: to the millisecond, so that a
/// failback started right after its failover never shares its id.
pub fn new_id(started: jiff::Timestamp) -> String {
    format!("failover-{}", started.strftime("%Y%m%dT%H%M%S%.3fZ"))
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The journal ConfigMap as read: the journal, and the resourceVersion the
/// next write must match.
#[derive(Debug)]
pub struct Stored {
    pub journal: Journal,
    pub version: String,
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

/// The journal in `cluster`'s namespace, with its resourceVersion.
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
    Ok(Some(Stored {
        journal,
        version: configmap.metadata.resource_version.unwrap_or_default(),
    }))
}

/// Writes the journal. `resource_version` is what the last read or write
/// returned (None creates the ConfigMap): a conflict means another failover
/// wrote it since.
pub async fn save(
    cluster: &Cluster,
    journal: &Journal,
    resource_version: Option<&str>,
) -> Result<String> {
    let text = serde_json::to_string_pretty(journal)
        .map_err(|error| Error::failed(format!("cannot encode the journal: {error}")))?;
    write_configmap(
        cluster,
        (JOURNAL_NAME, "the failover journal"),
        JOURNAL_KEY,
        text,
        resource_version,
        "another failover is writing it",
    )
    .await
}

/// Copies `journal`, abandoned at `at`, into a ConfigMap of its own in
/// `cluster`'s namespace ([`ABANDONED_PREFIX`] and the time), so that the
/// failover journal may be reused while this record stays. Returns its name.
///
/// # Errors
/// Exit 1 when a copy of that name exists (abandoned in the same second:
/// run it again); the cluster's error otherwise.
pub async fn keep_abandoned(
    cluster: &Cluster,
    journal: &Journal,
    at: jiff::Timestamp,
) -> Result<String> {
    let name = format!("{ABANDONED_PREFIX}{}", at.strftime("%Y%m%dt%H%M%Sz"));
    let text = serde_json::to_string_pretty(journal)
        .map_err(|error| Error::failed(format!("cannot encode the journal: {error}")))?;
    write_configmap(
        cluster,
        (&name, "the abandoned journal's copy"),
        JOURNAL_KEY,
        text,
        None,
        "it was abandoned in this same second",
    )
    .await
    .map(|_| name)
}

/// Writes ConfigMap `name` (holding `what`, for messages) with `key` =
/// `text` in `cluster`'s namespace: created when `version` is None, else
/// replaced at `version` (what the last read or write returned). Returns
/// the new resourceVersion.
///
/// # Errors
/// Exit 1 when another run wrote it since (409), the line ending with
/// `conflict`; the cluster's error otherwise.
pub(super) async fn write_configmap(
    cluster: &Cluster,
    (name, what): (&str, &str),
    key: &str,
    text: String,
    version: Option<&str>,
    conflict: &str,
) -> Result<String> {
    let mut configmap = ConfigMap {
        data: Some(BTreeMap::from([(key.to_string(), text)])),
        ..ConfigMap::default()
    };
    configmap.metadata.name = Some(name.into());
    configmap.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".into(),
        FIELD_MANAGER.into(),
    )]));
    let api: Api<ConfigMap> = cluster.namespaced();
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let result = match version {
        Some(version) => {
            configmap.metadata.resource_version = Some(version.into());
            api.replace(name, &params, &configmap).await
        }
        None => api.create(&params, &configmap).await,
    };
    match result {
        Ok(written) => Ok(written.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::failed(format!(
            "context {:?}: configmap {name} changed since this failover read it: {conflict}",
            cluster.context()
        ))
        .with_next_step(super::lock::who_holds_it())),
        Err(error) => Err(cluster.error(error, &format!("write {what} (configmap {name})"))),
    }
}

/// The journal's writes during a failover, one at a time, each made with
/// the resourceVersion the one before it returned. A write can go on in the
/// background while the failover moves on.
pub struct Writer {
    cluster: Cluster,
    version: Option<String>,
    in_flight: Option<JoinHandle<Result<String>>>,
}

impl Writer {
    /// `version`: the journal ConfigMap's as loaded, None when there is none.
    pub fn new(cluster: &Cluster, version: Option<String>) -> Self {
        Self {
            cluster: cluster.clone(),
            version,
            in_flight: None,
        }
    }

    /// Writes `journal` and waits for it.
    pub async fn write(&mut self, journal: &Journal) -> Result<()> {
        self.settle().await?;
        self.version = Some(save(&self.cluster, journal, self.version.as_deref()).await?);
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
        let (cluster, version) = (self.cluster.clone(), self.version.clone());
        let journal = journal.clone();
        self.in_flight = Some(tokio::spawn(async move {
            save(&cluster, &journal, version.as_deref()).await
        }));
        Ok(())
    }

    /// The last write: records `journal` as it ends.
    pub async fn finish(&mut self, journal: &Journal) -> Result<()> {
        self.settle().await?;
        save(&self.cluster, journal, self.version.as_deref())
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
            abandoned_at: None,
            standby_backup: None,
            options: None,
            control_planes: BTreeMap::new(),
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
    fn ids_tell_failovers_a_millisecond_apart() {
        let start = jiff::Timestamp::from_millisecond(1_764_000_000_000).unwrap();
        let next = start + jiff::SignedDuration::from_millis(1);
        assert_eq!(new_id(start), "failover-20251124T160000.000Z");
        assert_ne!(new_id(start), new_id(next));
    }
}
