//! What the user sees: data on stdout, messages on stderr.
//!
//! Scripts parse stdout (`-o json|yaml`); people read stderr. Colour only on a
//! terminal and never with NO_COLOR set.

use std::io::{IsTerminal, Write};

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

/// The outcome of one check, as `linkerd check` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn mark(self) -> &'static str {
        match self {
            CheckStatus::Pass => "✔",
            CheckStatus::Warn => "‼",
            CheckStatus::Fail => "✖",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            CheckStatus::Pass => GREEN,
            CheckStatus::Warn => YELLOW,
            CheckStatus::Fail => RED,
        }
    }
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Human messages on stderr, with colour decided once.
#[derive(Debug, Clone)]
pub struct Ui {
    colour: bool,
    verbose: bool,
}

impl Ui {
    /// Colour when stderr is a terminal and NO_COLOR is unset or empty.
    pub fn new(verbose: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ui {
            colour: !no_colour && std::io::stderr().is_terminal(),
            verbose,
        }
    }

    /// A plain Ui (no colour), for tests and non-terminal use.
    pub fn plain(verbose: bool) -> Self {
        Ui {
            colour: false,
            verbose,
        }
    }

    pub fn colour(&self) -> bool {
        self.colour
    }

    /// A progress or result message.
    pub fn info(&self, message: &str) {
        eprintln!("{message}");
    }

    /// Shown only with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose {
            eprintln!("{message}");
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!("{}", self.paint(YELLOW, &format!("warning: {message}")));
    }

    pub fn error(&self, error: &Error) {
        eprintln!("{}", self.paint(RED, &format!("error: {error}")));
    }

    /// One check line, and the hint under it when it did not pass.
    pub fn check(&self, status: CheckStatus, title: &str, hint: Option<&str>) {
        eprintln!("{}", self.check_line(status, title, hint));
    }

    pub fn check_line(&self, status: CheckStatus, title: &str, hint: Option<&str>) -> String {
        let mut line = format!("{} {title}", self.paint(status.colour(), status.mark()));
        if let (Some(hint), false) = (hint, status == CheckStatus::Pass) {
            line.push_str(&format!(
                "\n    {} {hint}",
                self.paint(status.colour(), "→")
            ));
        }
        line
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
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
    fn failing_checks_carry_their_hint_and_passing_ones_do_not() {
        let ui = Ui::plain(false);
        assert_eq!(
            ui.check_line(CheckStatus::Pass, "same root CA", Some("unused")),
            "✔ same root CA"
        );
        assert_eq!(
            ui.check_line(
                CheckStatus::Fail,
                "same root CA",
                Some("re-issue tsb-certs")
            ),
            "✖ same root CA\n    → re-issue tsb-certs"
        );
        assert_eq!(ui.check_line(CheckStatus::Warn, "expiry", None), "‼ expiry");
    }

    #[test]
    fn plain_ui_never_emits_escape_codes() {
        let ui = Ui::plain(true);
        assert!(!ui.colour());
        assert!(
            !ui.check_line(CheckStatus::Fail, "x", Some("y"))
                .contains('\x1b')
        );
    }

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
