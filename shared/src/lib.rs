//! The library behind the kubectl-mp plugins. Its folders follow the runbook
//! (Tetrate's "Active/Standby Management Plane pair", see the README's "How
//! it maps to the runbook"); each plugin's `main.rs` only parses its
//! arguments and calls its stage here.

// The runbook's stages, in its order.
/// Certificates: both MPs chain to one root CA (`kubectl mp-cacheck`).
pub mod cacheck;
/// Deploy a replica, part 1: the active MP's secrets to a bundle (`kubectl mp-export`).
pub mod export;
/// Fail over: database, fence, activate, DNS, verify (`kubectl mp-failover`).
pub mod failover;
/// Deploy a replica, part 2: the bundle into the standby (`kubectl mp-import`).
pub mod import;

// What the stages talk to.
/// PostgreSQL: the database copy of the failover's step 2.
pub mod database;
/// DNS: the floating name's update (RFC 2136, a command, or by hand) and its checks.
pub mod dns;
/// Errors and the exit codes every plugin shares.
pub mod error;
/// The clusters: kubeconfig, TLS and credentials as kubectl has them, one client per context.
pub mod kube;
/// Secrets at rest and in transit: the bundle, its encryption, redaction, X.509, 0600 files.
pub mod secrets;
/// TSB's own names and objects: the layout, the helm release, the MP's deployments, its front door.
pub mod tsb;
/// The user: flags, output (text, JSON, YAML, checks), prompts.
pub mod ui;
/// The one YAML style the plugins write: bundles, values files, `-o yaml`.
pub mod yaml;

pub use crate::kube::cluster::{Cluster, ClusterPair};
pub use error::{Error, Exit, Result};
