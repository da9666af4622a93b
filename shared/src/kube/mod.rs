//! Reaching the clusters as kubectl reaches them: kubeconfig resolution, the
//! TLS and credential parity with kubectl, one client per context.

pub mod cluster;
pub mod exec_credential;
pub mod kubeconfig;
pub mod named;
pub mod transport;
