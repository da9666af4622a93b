//! One failover at a time for the pair, whichever direction: a lease in
//! ConfigMap `mp-failover-lock` of each cluster's MP namespace. A run takes
//! both (in the order of their servers' URLs, so two runs meet at the same
//! first one), each write conditional on what it read; renews them while it
//! runs; gives them up when it stops, however it stops short of dying. A
//! run that died leaves leases that lapse [`LEASE_SECONDS`] after their last
//! renewal; `--force-unlock` takes them sooner, naming their holder.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Preconditions};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::journal;
use crate::error::{Error, Result};
use crate::kube::cluster::Cluster;

pub const LOCK_NAME: &str = "mp-failover-lock";
const LEASE_KEY: &str = "lease.json";
/// How long a lease lasts after its last renewal, seconds: how long a run
/// that died (killed, or its machine lost) keeps others out.
pub const LEASE_SECONDS: i64 = 120;
/// How often a live run renews its leases: several times per lease, so a
/// slow API server does not let one lapse.
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// Who holds the pair, as written in each cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// `user@host pid N`, for people.
    pub holder: String,
    /// This run's own id: a lease is another run's unless it carries ours.
    pub run: String,
    /// The failover it runs: its journal's id, and `from -> to` contexts.
    pub failover: String,
    pub acquired_at: String,
    pub renewed_at: String,
    pub seconds: i64,
}

impl Lease {
    /// A new lease for a run of `failover` (`id` and `from -> to`).
    pub fn new(failover: String) -> Lease {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let now = journal::now();
        // Random per process: two runs of one failover are two holders.
        let nonce = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Lease {
            holder: format!(
                "{}@{} pid {}",
                std::env::var("USER").unwrap_or_default(),
                host.trim(),
                std::process::id()
            ),
            run: format!("{:016x}", nonce),
            failover,
            acquired_at: now.clone(),
            renewed_at: now,
            seconds: LEASE_SECONDS,
        }
    }

    /// Whether it is still held: renewed less than `seconds` ago. A time
    /// that cannot be read counts as live: refusing is the safe mistake.
    pub fn live(&self) -> bool {
        self.renewed_at
            .parse::<jiff::Timestamp>()
            .map_or(true, |renewed| {
                jiff::Timestamp::now().as_second() < renewed.as_second() + self.seconds
            })
    }

    /// `bob@laptop pid 7 (failover … active -> standby, renewed …)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (failover {}, renewed {})",
            self.holder, self.failover, self.renewed_at
        )
    }
}

/// How to see who holds the lock, for hints: `see who holds it (kubectl …)
/// and let it finish`.
pub fn who_holds_it() -> String {
    format!(
        "see who holds it (kubectl get configmap {LOCK_NAME} -o jsonpath='{{.data.lease\\.json}}') and let it finish"
    )
}

/// One cluster's lock ConfigMap as read: the lease in it, and the
/// resourceVersion a write must match (None: there is no ConfigMap).
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub lease: Option<Lease>,
    pub version: Option<String>,
}

impl Found {
    /// The lease, when it is another run's and live.
    pub fn held_by_other(&self, ours: &Lease) -> Option<&Lease> {
        self.lease
            .as_ref()
            .filter(|lease| lease.run != ours.run && lease.live())
    }
}

/// `cluster`'s lock ConfigMap.
///
/// # Errors
/// The cluster's error (exit 3) when it cannot be read; exit 1 for a lease
/// that is not one (delete the ConfigMap if no failover runs).
pub async fn read(cluster: &Cluster) -> Result<Found> {
    let api: Api<ConfigMap> = cluster.namespaced();
    let found = api
        .get_opt(LOCK_NAME)
        .await
        .map_err(|error| cluster.error(error, &format!("get configmap {LOCK_NAME}")))?;
    let Some(configmap) = found else {
        return Ok(Found::default());
    };
    let lease = configmap
        .data
        .as_ref()
        .and_then(|data| data.get(LEASE_KEY))
        .map(|text| serde_json::from_str(text))
        .transpose()
        .map_err(|error| {
            Error::failed(format!(
                "context {:?}: configmap {LOCK_NAME} holds no readable lease: {error}",
                cluster.context()
            ))
            .with_next_step(format!(
                "delete it if no failover is running (kubectl delete configmap {LOCK_NAME})"
            ))
        })?;
    Ok(Found {
        lease,
        version: configmap.metadata.resource_version,
    })
}

/// The leases this run holds, renewed in the background until released.
pub struct PairLock {
    /// Each cluster with the resourceVersion of our last write.
    held: Arc<Mutex<Vec<(Cluster, String)>>>,
    /// Why renewing stopped, once it has.
    lost: Arc<std::sync::Mutex<Option<String>>>,
    renewal: JoinHandle<()>,
}

impl PairLock {
    /// Takes `lease` in every cluster of `sides` (with what was read there),
    /// one after the other in the order of their server URLs; on a refusal
    /// gives back what it took.
    ///
    /// # Errors
    /// Exit 1 when another run wrote a lock ConfigMap since it was read
    /// (nothing was changed); the cluster's error when it cannot be written.
    pub async fn acquire(mut sides: Vec<(Cluster, Found)>, lease: Lease) -> Result<PairLock> {
        sides.sort_by(|(a, _), (b, _)| a.server().cmp(b.server()));
        let mut held = Vec::new();
        for (cluster, found) in sides {
            match write(&cluster, &lease, found.version.as_deref()).await {
                Ok(version) => held.push((cluster, version)),
                Err(error) => {
                    release_all(&held).await;
                    return Err(error);
                }
            }
        }
        let held = Arc::new(Mutex::new(held));
        let lost = Arc::new(std::sync::Mutex::new(None));
        let renewal = tokio::spawn(renew(Arc::clone(&held), lease, Arc::clone(&lost)));
        Ok(PairLock {
            held,
            lost,
            renewal,
        })
    }

    /// Whether the leases are still ours.
    ///
    /// # Errors
    /// Exit 1 naming why a renewal failed (another run forced the lock, or
    /// a cluster refused the write).
    pub fn check(&self) -> Result<()> {
        let lost = self
            .lost
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match lost {
            Some(why) => Err(Error::failed(format!("this failover lost its lock: {why}"))
                .with_next_step(format!("{} before resuming", who_holds_it()))),
            None => Ok(()),
        }
    }

    /// Stops renewing and deletes the leases (only if still ours). A lease
    /// that cannot be deleted lapses by itself: it is named, not fatal.
    pub async fn release(self) -> Vec<String> {
        let held = self.held.lock().await;
        self.renewal.abort();
        release_all(&held).await
    }
}

/// Deletes each lease written at the version we hold, all at once;
/// returns the ones that could not be, described.
async fn release_all(held: &[(Cluster, String)]) -> Vec<String> {
    let deletes = held.iter().map(|(cluster, version)| async move {
        let api: Api<ConfigMap> = cluster.namespaced();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(version.clone()),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        api.delete(LOCK_NAME, &params).await.err().map(|error| {
            format!(
                "context {:?}: configmap {LOCK_NAME} not deleted ({error}); it lapses {LEASE_SECONDS}s after its last renewal",
                cluster.context()
            )
        })
    });
    futures::future::join_all(deletes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Renews every lease each `RENEW_EVERY` until aborted or a write fails.
async fn renew(
    held: Arc<Mutex<Vec<(Cluster, String)>>>,
    lease: Lease,
    lost: Arc<std::sync::Mutex<Option<String>>>,
) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let mut held = held.lock().await;
        for (cluster, version) in held.iter_mut() {
            match write(cluster, &lease, Some(version)).await {
                Ok(renewed) => *version = renewed,
                Err(error) => {
                    *lost.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(error.to_string());
                    return;
                }
            }
        }
    }
}

/// Writes `lease`, renewed now, in `cluster`: creates the ConfigMap, or
/// replaces it at `version`. Returns the new resourceVersion.
async fn write(cluster: &Cluster, lease: &Lease, version: Option<&str>) -> Result<String> {
    let renewed = Lease {
        renewed_at: journal::now(),
        ..lease.clone()
    };
    let text = serde_json::to_string_pretty(&renewed)
        .map_err(|error| Error::failed(format!("cannot encode the lease: {error}")))?;
    journal::write_configmap(
        cluster,
        (LOCK_NAME, "the pair's lock"),
        LEASE_KEY,
        text,
        version,
        "another failover took the lock",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_live_until_its_seconds_pass_since_renewal() {
        let mut lease = Lease::new("failover-x active -> standby".into());
        assert!(lease.live());
        lease.renewed_at =
            (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(121)).to_string();
        assert!(!lease.live());
        lease.renewed_at = "not a time".into();
        assert!(lease.live(), "unreadable counts as live");
    }

    #[test]
    fn only_another_runs_live_lease_holds() {
        let ours = Lease::new("failover-x active -> standby".into());
        let theirs = Lease::new("failover-x active -> standby".into());
        assert_ne!(ours.run, theirs.run, "two runs of one failover differ");
        let found = |lease: &Lease| Found {
            lease: Some(lease.clone()),
            version: Some("1".into()),
        };
        assert!(found(&ours).held_by_other(&ours).is_none());
        assert!(found(&theirs).held_by_other(&ours).is_some());
        let lapsed = Lease {
            renewed_at: "2020-01-01T00:00:00Z".into(),
            ..theirs
        };
        assert!(found(&lapsed).held_by_other(&ours).is_none());
        assert!(Found::default().held_by_other(&ours).is_none());
    }
}
