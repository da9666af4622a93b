//! How the failover names what it saw, in its messages.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Replica counts: `iam=0, tsb=0`.
pub fn replicas(replicas: &BTreeMap<String, i32>) -> String {
    replicas
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A DNS answer: `10.0.0.1 ttl 30s`, or `no address`.
pub fn dns_answer(answer: &Option<(Vec<IpAddr>, u32)>) -> String {
    match answer {
        Some((addresses, ttl)) => format!(
            "{} ttl {ttl}s",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => "no address".into(),
    }
}
