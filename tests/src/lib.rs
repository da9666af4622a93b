//! In-memory Kubernetes API servers over HTTPS for tests and the demo.
//! See `tests/README.md` for what it serves and how to drive it.

pub mod apply;
pub mod controller;
pub mod faults;
pub mod front;
pub mod kubeconfig;
pub mod live;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod proxy;
pub mod registry;
pub mod seed;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;

pub use seed::{CertVariant, SeedKind};
pub use server::{ClusterHandle, ClusterOptions, Sandbox, SandboxOptions};
