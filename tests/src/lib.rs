//! What the real test clusters (tests/kube) do not run, for the end-to-end
//! tests, `make demo` and `make bench`: a TSB Management Plane's objects with
//! real X.509 chains ([`seed`]), the TSB operator and the MP's front door
//! played against a real cluster ([`live`], [`controller`], [`front`]), a
//! counting, latency and fault proxy in front of a real API server
//! ([`proxy`], [`faults`]), a forward proxy of the kinds kubectl goes through
//! ([`forward_proxy`]), and the kubeconfig and PKI helpers they share.
//! See `tests/README.md`.

pub mod controller;
pub mod faults;
pub mod forward_proxy;
pub mod front;
pub mod kubeconfig;
pub mod live;
pub mod pki;
pub mod proxy;
pub mod seed;
pub mod tools;

pub use seed::{CertVariant, SeedKind};
