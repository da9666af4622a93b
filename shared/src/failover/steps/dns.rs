//! Step 5, the runbook's "repoint DNS": once the standby's front door
//! answers as clients will judge it, the MP's name to it (its address, or an
//! alias of its name), by the chosen backend, then asked until the zone's
//! server answers exactly that.

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
            let current = run.preflight.dns_answer.as_ref();
            let target = run.dns_target().ok();
            Ok(vec![format!(
                "DNS: {} {} {} (now {}) via {:?}",
                dns.name,
                target.as_ref().map_or("A", |target| target.record_type()),
                target.map_or("?".into(), |target| target.to_string()),
                describe::dns_answer(current),
                dns.kind
            )])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        repoint(run).boxed()
    }

    /// The zone's server answered (in this run's preflight) what the name
    /// must answer now, and only it.
    fn holds<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        async move {
            let target = run.dns_target()?;
            Ok(run
                .preflight
                .dns_answer
                .as_ref()
                .is_some_and(|answer| answer.is(&target)))
        }
        .boxed()
    }
}

async fn repoint(run: &Run<'_>) -> Result<String> {
    let dns = &run.settings.dns;
    let front = run.front_address()?;
    let target = run.dns_target()?;
    // Clients follow the name at once: it points only at a front door that
    // answers as they will judge it.
    super::verify::front_door(run).await.map_err(|error| {
        let message = format!(
            "the standby's front door at {front} does not serve yet, so {} still points where it did: {}",
            dns.name,
            error.message()
        );
        error.with_message(message)
    })?;
    let record = DnsRecord {
        name: dns.name.clone(),
        target: target.clone(),
        ttl: dns.ttl,
    };
    // Caches hold the OLD answer for up to its TTL: that is what to report.
    let old = dns::lookup(dns.server, &record.name).await?;
    dns::update(
        &dns.backend,
        &record,
        old.as_ref(),
        run.ui,
        run.settings.yes,
    )
    .await?;
    dns::wait_for(dns.server, &record.name, &target, dns.timeout).await?;
    let cached = match &old {
        Some(answer) if !answer.is(&target) => {
            format!(
                "clients may keep the old answer ({answer}) up to {}s",
                answer.ttl
            )
        }
        _ => "it already answered that".to_string(),
    };
    Ok(format!(
        "{} {} {target} answered by {}; {cached}",
        record.name,
        target.record_type(),
        dns.server
    ))
}
