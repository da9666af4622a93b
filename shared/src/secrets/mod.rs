//! The MP's secrets outside the cluster: the bundle format, its encryption,
//! what may be shown of a secret (never its value), X.509, 0600 files.

pub mod bundle;
pub mod certs;
pub mod files;
pub mod redact;
pub mod seal;
