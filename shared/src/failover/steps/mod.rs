//! The failover's steps after its preflight, as values: [`ALL`] is the one
//! ordered list. The journal's keys, the dry run, the progress labels
//! (`[3/8] fence`) and the run loop all read it; adding a step is adding
//! its file and one line here.

mod activate;
pub mod control_planes;
mod database;
mod dns;
mod fence;
mod standby;
mod verify;

pub use verify::verify;

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::journal::{ControlPlaneRecord, DumpRecord, Journal};
use super::preflight::Preflight;
use super::settings::FailoverSettings;
use crate::dns::DnsTarget;
use crate::error::{Error, Result, join_all_in_order, join_in_order};
use crate::kube::cluster::Cluster;
use crate::tsb::layout::TsbLayout;
use crate::tsb::mp::{self, FrontAddress};
use crate::ui::output::Ui;

/// One step of the failover.
pub trait Step: Sync {
    /// Its name: the journal's key and its progress label.
    fn name(&self) -> &'static str;

    /// What it would change, for the dry run (a line each); server dry runs
    /// of its writes prove they would be accepted.
    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>>;

    /// Does it; returns the summary the journal keeps. Safe to repeat.
    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>>;

    /// Whether what it achieved still holds, judged on what the preflight
    /// just read: on `--resume` a recorded step is skipped only then, and
    /// done again otherwise (someone may have scaled the MP since).
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>>;
}

/// The runbook's failover after the preflight, in order.
pub const ALL: [&dyn Step; 7] = [
    &database::Database,
    &fence::Fence,
    &activate::Activate,
    &dns::Dns,
    &verify::Verify,
    &standby::Standby,
    &control_planes::ControlPlanes,
];

/// The read-only first step, run by the failover itself on every start.
pub const PREFLIGHT: &str = "preflight";

/// Every step's name in order, the preflight first.
pub fn names() -> impl Iterator<Item = &'static str> {
    std::iter::once(PREFLIGHT).chain(ALL.iter().map(|step| step.name()))
}

/// The step's position, from 1 (the preflight).
pub fn number(name: &str) -> usize {
    names()
        .position(|known| known == name)
        .map_or(0, |index| index + 1)
}

/// `[3/8] fence`.
pub fn label(name: &str) -> String {
    format!("[{}/{}] {name}", number(name), ALL.len() + 1)
}

/// The first step the journal does not record as done.
pub fn next_undone(journal: &Journal) -> Option<&'static str> {
    names().find(|name| !journal.steps.contains_key(*name))
}

/// What a step works with: the settings, both clusters, what the preflight
/// read, and the journal so far.
pub struct Run<'a> {
    pub settings: &'a FailoverSettings,
    pub layout: &'a TsbLayout,
    pub from: &'a Cluster,
    pub to: &'a Cluster,
    pub ui: &'a Ui,
    pub preflight: &'a Preflight,
    pub journal: &'a Journal,
    /// What a step learned that the journal must keep even when the step
    /// then fails: the standby's backup, once taken.
    pub standby_backup: &'a std::sync::Mutex<Option<DumpRecord>>,
    /// The replica counts the failover this one undoes recorded (a failback).
    pub restore_counts: &'a BTreeMap<String, i32>,
    /// One client per `--control-plane-context`, in the order given.
    pub control_planes: &'a [Cluster],
    /// Each control plane's outcome as this run learns it, kept by the
    /// journal even when the step then fails.
    pub control_plane_records: &'a std::sync::Mutex<BTreeMap<String, ControlPlaneRecord>>,
}

impl Run<'_> {
    /// The standby's front Service address, as the preflight read it.
    fn front_address(&self) -> Result<&FrontAddress> {
        self.preflight
            .to_state
            .front_address
            .as_ref()
            .ok_or_else(|| Error::failed("the standby's front Service has no address"))
    }

    /// What the MP's DNS name must answer once this failover is done.
    fn dns_target(&self) -> Result<DnsTarget> {
        Ok(self.settings.dns.target_for(self.front_address()?))
    }

    /// Scales `targets` of `cluster` to 0: the operator first, once it is
    /// seen at 0 the rest concurrently, then waits for all. While the
    /// operator runs it scales the MP back up, so the order matters.
    async fn stop_operator_first(
        &self,
        cluster: &Cluster,
        targets: &BTreeMap<String, i32>,
        alongside: impl Future<Output = Result<()>>,
    ) -> Result<()> {
        let operator = &self.layout.operator_deployment;
        let timeout = self.settings.ready_timeout;
        if targets.contains_key(operator) {
            mp::scale(cluster, operator, 0, false).await?;
            let operator_stopped = BTreeMap::from([(operator.clone(), 0)]);
            mp::wait_for_replicas(cluster, &operator_stopped, timeout).await?;
        }
        let others = targets.keys().filter(|name| *name != operator);
        join_in_order(
            join_all_in_order(others.map(|name| mp::scale(cluster, name, 0, false))),
            alongside,
        )
        .await?;
        mp::wait_for_replicas(cluster, targets, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_numbers_the_steps_after_the_preflight() {
        assert_eq!(
            names().collect::<Vec<_>>(),
            [
                "preflight",
                "database",
                "fence",
                "activate",
                "dns",
                "verify",
                "standby",
                "control-planes"
            ]
        );
        assert_eq!(label("preflight"), "[1/8] preflight");
        assert_eq!(label("dns"), "[5/8] dns");
        assert_eq!(number("nothing"), 0);
    }
}
