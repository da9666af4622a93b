//! Step 5, the runbook's "repoint DNS": once the standby's front door
//! answers as clients will judge it, the MP's name to its address, by the
//! chosen backend, then asked until the zone's server answers exactly that.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::dns::{self, DnsRecord};
use crate::error::Result;
use crate::failover::describe;

pub struct Dns;

impl Step for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            let dns = &run.settings.dns;
            let current = &run.preflight.dns_answer;
            let front = run.preflight.to_state.front_address;
            Ok(vec![format!(
                "DNS: {} {} {} (now {}) via {:?}",
                dns.name,
                front.map_or("A", dns::record_type),
                front.map_or("?".into(), |address| address.to_string()),
                describe::dns_answer(current),
                dns.kind
            )])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        repoint(run).boxed()
    }

    /// The zone's server answered (in this run's preflight) the standby's
    /// front address, and only it.
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        async move {
            let address = run.front_address()?;
            Ok(run
                .preflight
                .dns_answer
                .as_ref()
                .is_some_and(|(addresses, _)| *addresses == [address]))
        }
        .boxed()
    }
}

async fn repoint(run: &Run<'_>) -> Result<String> {
    let dns = &run.settings.dns;
    let address = run.front_address()?;
    // Clients follow the name at once: it points only at a front door that
    // answers as they will judge it.
    super::verify::front_door(run).await.map_err(|error| {
        let message = format!(
            "the standby's front door at {address} does not serve yet, so {} still points where it did: {}",
            dns.name,
            error.message()
        );
        error.with_message(message)
    })?;
    let record = DnsRecord {
        name: dns.name.clone(),
        address,
        ttl: dns.ttl,
    };
    // Caches hold the OLD answer for up to its TTL: that is what to report.
    let old = dns::lookup(dns.server, &record.name).await?;
    dns::update(&dns.backend, &record, run.ui, run.settings.yes).await?;
    dns::wait_for(dns.server, &record.name, address, dns.timeout).await?;
    let cached = match &old {
        Some((addresses, ttl)) if !(addresses.len() == 1 && addresses[0] == address) => {
            format!(
                "clients may keep the old answer ({}) up to {ttl}s",
                describe::dns_answer(&old)
            )
        }
        _ => "it already answered that".to_string(),
    };
    Ok(format!(
        "{} {} {address} answered by {}; {cached}",
        record.name,
        dns::record_type(address),
        dns.server
    ))
}
