//! How the failover names what it saw, in its messages.

use crate::dns::DnsAnswer;
use std::collections::BTreeMap;

/// Replica counts: `iam=0, tsb=0`.
pub fn replicas(replicas: &BTreeMap<String, i32>) -> String {
    replicas
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A DNS answer: `10.0.0.1 ttl 30s`, `CNAME mp2.example.com ttl 30s`, or `no record`.
pub fn dns_answer(answer: Option<&DnsAnswer>) -> String {
    answer.map_or_else(|| "no record".into(), ToString::to_string)
}
