//! What the preflight works with (both sides, the settings) and the checks
//! it has shown so far.

use crate::failover::settings::FailoverSettings;
use crate::kube::cluster::Cluster;
use crate::tsb::layout::TsbLayout;
use crate::ui::check::Check;
use crate::ui::output::Ui;

/// What the preflight works with.
pub struct Sides<'a> {
    pub settings: &'a FailoverSettings,
    pub layout: &'a TsbLayout,
    pub from: &'a Cluster,
    pub to: &'a Cluster,
    pub ui: &'a Ui,
    /// One client per `--control-plane-context`: under `--disaster`, their
    /// cached tokens name the key the lost active signed with.
    pub control_planes: &'a [Cluster],
}

/// The checks shown so far, each as soon as it is judged.
pub(super) struct Checks<'a> {
    pub(super) ui: &'a Ui,
    pub(super) shown: &'a mut Vec<Check>,
}

impl Checks<'_> {
    /// Shows `check` and keeps it: a failure (✖) stops the failover.
    pub(super) fn add(&mut self, check: Check) {
        check.show(self.ui);
        self.shown.push(check);
    }

    /// The titles of the failed checks.
    pub(super) fn problems(&self) -> Vec<&str> {
        self.shown
            .iter()
            .filter(|check| check.failed())
            .map(|check| check.title.as_str())
            .collect()
    }
}
