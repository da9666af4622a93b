//! Step progress: a spinner on a terminal, plain lines otherwise; labels
//! (`[3/6] fence`) from the one list of steps.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::journal::StepRecord;
use super::steps::label;
use crate::ui::check::Check;
use crate::ui::output::Ui;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ui: Ui,
}

impl Progress {
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

    /// A step's result, drawn as a check, above the spinner.
    fn line(&self, check: Check) {
        let line = check.render(&self.ui);
        match &self.bar {
            Some(bar) => bar.println(line),
            None => self.ui.info(&line),
        }
    }

    pub fn done(&self, step: &str, started: Instant, summary: &str) {
        let seconds = started.elapsed().as_secs_f64();
        self.line(Check::pass(format!(
            "{} done in {seconds:.1}s: {summary}",
            label(step)
        )));
    }

    pub fn skip(&self, step: &str, done: &StepRecord) {
        self.line(Check::pass(format!(
            "{} already done at {}: {}",
            label(step),
            done.finished_at,
            done.summary
        )));
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
    }

    pub fn fail(&self, step: &str, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        self.line(Check::fail(format!(
            "{} failed after {seconds:.1}s",
            label(step)
        )));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.bar.is_some() {
            self.ui.detach_spinner();
        }
    }
}
