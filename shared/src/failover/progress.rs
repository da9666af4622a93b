//! Step progress: a spinner on a terminal, plain lines otherwise; labels
//! (`[3/8] fence`) from the one list of steps. Each step's end also goes to
//! `-o json|yaml`'s document (`steps`), however the run ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::journal::StepRecord;
use super::steps::label;
use crate::ui::check::Check;
use crate::ui::output::Ui;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ui: Ui,
}

/// A step as it ended, in `-o json|yaml`'s `steps`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ended<'a> {
    step: &'a str,
    /// `done`, `skipped` (done by an earlier run, still holds), `failed`, `interrupted`.
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    /// When an earlier run did a skipped step.
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<&'a str>,
    /// The signal that stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<&'a str>,
}

impl<'a> Ended<'a> {
    fn new(step: &'a str, status: &'a str) -> Self {
        Ended {
            step,
            status,
            seconds: None,
            summary: None,
            finished_at: None,
            signal: None,
        }
    }
}

impl Progress {
    fn record(&self, ended: Ended<'_>) {
        self.ui.record_item("steps", &ended);
    }

    /// A spinner on a terminal, attached to `ui` so that every message and
    /// prompt is drawn around it, not under it.
    pub fn new(ui: &Ui) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            ui.attach_spinner(bar.clone());
            bar
        });
        Progress {
            bar,
            ui: ui.clone(),
        }
    }

    pub fn start(&self, step: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{} …", label(step))),
            None => self.ui.info(&format!("{} …", label(step))),
        }
    }

    /// A step's result, drawn as a check (above the spinner: the Ui's lines are).
    fn line(&self, check: Check) {
        self.ui.info(&check.render(&self.ui));
    }

    pub fn done(&self, step: &str, started: Instant, summary: &str) {
        let seconds = started.elapsed().as_secs_f64();
        self.line(Check::pass(format!(
            "{} done in {seconds:.1}s: {summary}",
            label(step)
        )));
        self.record(Ended {
            seconds: Some(seconds),
            summary: Some(summary),
            ..Ended::new(step, "done")
        });
    }

    pub fn skip(&self, step: &str, done: &StepRecord) {
        self.line(Check::pass(format!(
            "{} already done at {}: {}",
            label(step),
            done.finished_at,
            done.summary
        )));
        self.record(Ended {
            summary: Some(&done.summary),
            finished_at: Some(&done.finished_at),
            ..Ended::new(step, "skipped")
        });
    }

    /// A recorded step whose goal no longer holds: done again.
    pub fn redo(&self, step: &str, done: &StepRecord) {
        self.line(Check::warn(format!(
            "{} was done at {} but no longer holds: doing it again",
            label(step),
            done.finished_at
        )));
    }

    /// The step under way when a signal stopped the run.
    pub fn interrupted(&self, step: &str, signal: &str) {
        self.line(Check::fail(format!(
            "{} interrupted by {signal}",
            label(step)
        )));
        self.record(Ended {
            signal: Some(signal),
            ..Ended::new(step, "interrupted")
        });
    }

    pub fn fail(&self, step: &str, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        self.line(Check::fail(format!(
            "{} failed after {seconds:.1}s",
            label(step)
        )));
        self.record(Ended {
            seconds: Some(seconds),
            ..Ended::new(step, "failed")
        });
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.bar.is_some() {
            self.ui.detach_spinner();
        }
    }
}
