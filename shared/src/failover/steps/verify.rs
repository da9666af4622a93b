//! Step 6, the runbook's "check the new MP": a TLS handshake with the
//! standby's front door trusting only its own CA and naming the MP's DNS
//! name, the name's answer, and the CA check on the new MP's certificates.

use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::cacheck::{self, CheckOptions};
use crate::dns;
use crate::error::{Error, Exit, Result};
use crate::tsb::mp::FrontAddress;

pub struct Verify;

impl Step for Verify {
    fn name(&self) -> &'static str {
        "verify"
    }

    fn plan<'a>(&'a self, _: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async {
            Ok(vec![
                "verify: TLS handshake with the standby's front door against its CA; CA check"
                    .into(),
            ])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        verify(run).boxed()
    }

    /// Recorded, the new MP was proven to serve: a finished failover is
    /// re-checked as a whole, not step by step.
    fn holds<'a>(&'a self, _: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        async { Ok(true) }.boxed()
    }
}

/// Checks the new MP serves; the summary names what answered.
pub async fn verify(run: &Run<'_>) -> Result<String> {
    let front = run.front_address()?;
    let target = run.dns_target()?;
    let dns = &run.settings.dns;
    let port = run.layout.front_service.port;
    let probe = front_door(run).await?;
    let lookup = dns::lookup(dns.server, &dns.name).await?;
    if !lookup.as_ref().is_some_and(|answer| answer.is(&target)) {
        return Err(Error::failed(format!(
            "{} answers {}, not {} {target}",
            dns.name,
            crate::failover::describe::dns_answer(lookup.as_ref()),
            target.record_type()
        ))
        .with_next_step("check the DNS record, then re-run with --resume"));
    }
    let options = CheckOptions {
        dns_name: Some(dns.name.clone()),
        ..CheckOptions::default()
    };
    let report = cacheck::check(
        run.layout,
        &options,
        std::slice::from_ref(&run.preflight.to_snapshot),
    );
    if report.summary.fail > 0 {
        let titles: Vec<_> = report
            .problems()
            .map(|problem| problem.check.title.clone())
            .collect();
        return Err(Error::failed(format!(
            "the new MP's certificates fail the CA check: {}",
            titles.join("; ")
        ))
        .with_next_step("run kubectl mp-cacheck for details"));
    }
    Ok(format!(
        "https://{}:{port} ({front}) answers {} with a certificate from the expected CA; DNS answers {} {target}",
        dns.name,
        probe.status,
        target.record_type()
    ))
}

/// The standby's front door, as clients will judge it: a TLS handshake at
/// its address naming the MP's DNS name, trusting only the standby's own CA
/// (`tsb-certs`' `ca.crt`), then one HTTPS request.
///
/// # Errors
/// No CA to trust, a certificate clients would refuse (exit 1), or no
/// answer within `--ready-timeout` (exit 3).
pub(super) async fn front_door(run: &Run<'_>) -> Result<crate::tsb::front::FrontProbe> {
    let front = run.front_address()?;
    let ca = run
        .preflight
        .to_snapshot
        .secret("tsb-certs")
        .and_then(|secret| secret.data.as_ref()?.get("ca.crt"))
        .map(|value| value.0.clone())
        .ok_or_else(|| {
            Error::failed("the standby's tsb-certs has no ca.crt to verify its front door against")
        })?;
    probe_until_ready(run, front, run.layout.front_service.port, &ca).await
}

/// The front door's TLS handshake, tried again until `--ready-timeout`
/// while it is unreachable: a load balancer often opens a moment after its
/// backends are ready, so look again soon, then less often.
async fn probe_until_ready(
    run: &Run<'_>,
    front: &FrontAddress,
    port: u16,
    ca: &[u8],
) -> Result<crate::tsb::front::FrontProbe> {
    let timeout = run.settings.connection_timeout;
    let started = Instant::now();
    let deadline = started + run.settings.ready_timeout;
    loop {
        match crate::tsb::front::probe(front, port, &run.settings.dns.name, ca, timeout).await {
            Err(error) if error.exit() == Exit::Cluster && Instant::now() < deadline => {
                let pause = if started.elapsed() < Duration::from_secs(1) {
                    25
                } else {
                    500
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            result => return result,
        }
    }
}
