//! The library behind the kubectl-mp plugins: kubeconfig and clients, TSB's
//! names, secret redaction, output and errors. Each plugin's `main.rs` only
//! parses its arguments and calls its module here.

pub mod bundle;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod database;
pub mod dns;
pub mod error;
pub mod exec_credential;
pub mod files;
pub mod front;
pub mod helm;
pub mod kubeconfig;
pub mod mp;
pub mod output;
pub mod prompt;
pub mod redact;
pub mod seal;
pub mod transport;
pub mod tsb;
pub mod yaml;

pub mod cacheck;
pub mod export;
pub mod failover;
pub mod import;
pub mod journal;

pub use cluster::{Cluster, ClusterPair};
pub use error::{Error, Exit, Result};
