//! What the user sees: data on stdout, messages on stderr.
//!
//! Scripts parse stdout (`-o json|yaml`); people read stderr. Colour only on a
//! terminal and never with NO_COLOR set.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};

/// `-o text|json|yaml`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

// The colours of messages and of checks' marks (super::check).
pub(super) const GREEN: &str = "\x1b[32m";
pub(super) const YELLOW: &str = "\x1b[33m";
pub(super) const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Human messages on stderr, with colour decided once. While a spinner
/// runs ([`Ui::attach_spinner`]) lines are drawn above it and prompts on a
/// line of their own, never under it.
#[derive(Debug, Clone)]
pub struct Ui {
    colour: bool,
    verbose: bool,
    spinner: Arc<Mutex<Option<indicatif::ProgressBar>>>,
}

impl Ui {
    /// Colour when stderr is a terminal and NO_COLOR is unset or empty.
    pub fn new(verbose: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ui {
            colour: !no_colour && std::io::stderr().is_terminal(),
            verbose,
            spinner: Arc::default(),
        }
    }

    /// A plain Ui (no colour), for tests and non-terminal use.
    pub fn plain(verbose: bool) -> Self {
        Ui {
            colour: false,
            verbose,
            spinner: Arc::default(),
        }
    }

    pub fn colour(&self) -> bool {
        self.colour
    }

    /// A progress or result message.
    pub fn info(&self, message: &str) {
        self.say(message);
    }

    /// Shown only with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose {
            self.say(message);
        }
    }

    pub fn warn(&self, message: &str) {
        self.say(&self.paint(YELLOW, &format!("warning: {message}")));
    }

    pub fn error(&self, error: &Error) {
        self.say(&self.paint(RED, &format!("error: {error}")));
    }

    /// Draws the lines of this Ui (and its clones) above `spinner` until
    /// [`Ui::detach_spinner`].
    pub fn attach_spinner(&self, spinner: indicatif::ProgressBar) {
        *self.spinner_slot() = Some(spinner);
    }

    pub fn detach_spinner(&self) {
        if let Some(spinner) = self.spinner_slot().take() {
            spinner.finish_and_clear();
        }
    }

    /// Runs `interact` (a prompt) with the spinner hidden, so the prompt is
    /// drawn on a clean line and stays visible.
    pub fn suspended<R>(&self, interact: impl FnOnce() -> R) -> R {
        let spinner = self.spinner_slot().clone();
        match spinner {
            Some(spinner) => spinner.suspend(interact),
            None => interact(),
        }
    }

    fn spinner_slot(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.spinner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn say(&self, line: &str) {
        let spinner = self.spinner_slot().clone();
        match spinner {
            Some(spinner) => spinner.println(line),
            None => say(line),
        }
    }

    /// `text` in `colour`, on a terminal that shows colour.
    pub(super) fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// One line on stderr. A stderr nobody reads any more (a closed pipe, as in
/// `2>&1 >/dev/null | head`) is not an error of ours: the line is dropped and
/// the exit code still tells what happened (`eprintln!` would panic: 101).
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Writes `value` to stdout as JSON or YAML (`Text` is the caller's own rendering).
pub fn write_data<T: Serialize>(value: &T, format: OutputFormat) -> Result<()> {
    let text = render_data(value, format)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| Error::failed(format!("cannot write to stdout: {error}")))
}

/// The JSON (pretty, with a final newline) or YAML form of `value`.
pub fn render_data<T: Serialize>(value: &T, format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Json | OutputFormat::Text => serde_json::to_string_pretty(value)
            .map(|text| text + "\n")
            .map_err(|error| Error::failed(format!("cannot encode output as JSON: {error}"))),
        OutputFormat::Yaml => crate::yaml::to_string(value)
            .map_err(|error| Error::failed(format!("cannot encode output as YAML: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_renders_as_json_and_yaml() {
        #[derive(Serialize)]
        struct Row {
            name: &'static str,
            keys: u32,
        }
        let row = Row {
            name: "tsb-certs",
            keys: 3,
        };
        assert_eq!(
            render_data(&row, OutputFormat::Json).unwrap(),
            "{\n  \"name\": \"tsb-certs\",\n  \"keys\": 3\n}\n"
        );
        let yaml = render_data(&row, OutputFormat::Yaml).unwrap();
        assert!(
            yaml.contains("name: tsb-certs") && yaml.contains("keys: 3"),
            "{yaml}"
        );
    }
}
