//! Step 2, the runbook's "synchronise the database": with `--database
//! separate`, the active's Postgres dumped and restored into the standby's
//! while nothing on the standby writes to it; with `shared`, nothing.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Run, Step};
use crate::database;
use crate::error::{Error, Result, join_in_order};
use crate::failover::cli::DatabaseMode;
use crate::failover::journal::DumpRecord;
use crate::failover::plan;
use std::path::Path;

pub struct Database;

impl Step for Database {
    fn name(&self) -> &'static str {
        "database"
    }

    fn plan<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<Vec<String>>> {
        async move {
            let settings = &run.settings.database;
            Ok(vec![match settings.mode {
                DatabaseMode::Shared => "database: shared, nothing to copy".to_string(),
                DatabaseMode::Separate => format!(
                    "database: dump the standby's database (backup) and the active's into {}, scale {} then {} on context {:?} to 0, restore the active's dump into the standby's database",
                    settings.dump_dir.display(),
                    run.layout.operator_deployment,
                    run.layout.writer_deployments.join(", "),
                    run.to.context()
                ),
            }])
        }
        .boxed()
    }

    fn apply<'a>(&'a self, run: &'a Run<'a>) -> BoxFuture<'a, Result<String>> {
        copy(run).boxed()
    }

    /// A restored database cannot be re-checked without reading it all: the
    /// journal's record stands.
    fn holds<'a>(&'a self, _: &'a Run<'a>) -> BoxFuture<'a, Result<bool>> {
        async { Ok(true) }.boxed()
    }
}

async fn copy(run: &Run<'_>) -> Result<String> {
    let settings = &run.settings.database;
    if settings.mode == DatabaseMode::Shared {
        return Ok("shared database: nothing to copy".into());
    }
    let preflight = run.preflight;
    let tools = preflight
        .tools
        .as_ref()
        .ok_or_else(|| Error::failed("no Postgres client tools"))?;
    let to_endpoint = preflight
        .to_endpoint
        .as_ref()
        .ok_or_else(|| Error::failed("no standby Postgres connection details"))?;
    let Some(from_endpoint) = preflight.from_endpoint.as_ref() else {
        return Ok("active unreachable (--disaster): the standby keeps its own database".into());
    };
    if from_endpoint.host == to_endpoint.host
        && from_endpoint.port == to_endpoint.port
        && from_endpoint.database == to_endpoint.database
    {
        return Err(Error::failed(format!(
            "both MPs use the same database {}:{}/{}",
            to_endpoint.host, to_endpoint.port, to_endpoint.database
        ))
        .with_next_step("use --database shared"));
    }
    let dir = &settings.dump_dir;
    let timeout = settings.timeout;
    let backup = dir.join(format!("{}-standby-before.dump", run.journal.id));
    let source = dir.join(format!("{}-active.dump", run.journal.id));
    // The standby's backup is taken once, and a resumed run checks it is
    // still the file it took. The active's dump is taken on every attempt:
    // the active serves until the fence (the next step), so an earlier
    // attempt's dump would lose what was written since.
    let recorded = run
        .standby_backup
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let keep_backup = async {
        match (&recorded, backup.exists()) {
            (Some(record), true) if Path::new(&record.path) == backup => {
                database::verify_dump(&backup, &record.sha256).map_err(|error| {
                    error.with_next_step(format!(
                        "move {} aside (it is not the backup this failover took), then run the same command with --resume: a new backup is taken",
                        backup.display()
                    ))
                })?;
                Ok(None)
            }
            _ => database::dump(tools, to_endpoint, &backup, timeout)
                .await
                .map(Some),
        }
    };
    let dumped_at = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (backup_info, source_info) = join_in_order(
        keep_backup,
        database::dump(tools, from_endpoint, &source, timeout),
    )
    .await?;
    if let Some(info) = &backup_info {
        *run.standby_backup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(DumpRecord {
            path: backup.display().to_string(),
            bytes: info.bytes,
            sha256: info.sha256.clone(),
            taken_at: dumped_at.clone(),
        });
        run.ui.detail(&format!(
            "standby database backed up to {} ({info})",
            backup.display()
        ));
    }
    run.ui.detail(&format!(
        "active database dumped to {} ({source_info})",
        source.display()
    ));
    // Nothing may write to the standby's database while it is replaced.
    let writers = plan::standby_writers(run.layout, &preflight.to_state);
    run.stop_operator_first(run.to, &writers, async { Ok(()) })
        .await?;
    // The file restored is the one just dumped, not one swapped in since.
    database::verify_dump(&source, &source_info.sha256)?;
    database::restore(tools, to_endpoint, &source, timeout).await?;
    Ok(format!(
        "restored the active's database, dumped at {dumped_at} while it served, into the standby's ({}); standby backup: {}",
        source.display(),
        backup.display()
    ))
}
