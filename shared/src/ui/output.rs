//! What the user sees: data on stdout, messages on stderr.
//!
//! Scripts parse stdout (`-o json|yaml`); people read stderr. Colour only on a
//! terminal and never with NO_COLOR set.
//!
//! With `-o json|yaml` every run, a failed one included, writes ONE document
//! on stdout when it ends ([`Ui::finish`], called by
//! [`crate::ui::cli::run_plugin`]): the fields the plugin recorded as it
//! went ([`Ui::record`]), then `exitCode`, and `error` and `nextStep` when
//! it failed. The plugins record what their text says (steps, checks,
//! secrets' summaries), never a secret value.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Exit, Result};

/// `-o text|json|yaml`, and `prometheus` for the readiness check alone
/// (`mp-cacheck --readiness`; hidden from the others' help, refused by
/// them: [`crate::ui::cli::PluginCli::accepts_prometheus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
    /// Prometheus' text exposition format, written by the plugin itself.
    #[value(hide = true)]
    Prometheus,
}

impl OutputFormat {
    /// As `-o` takes it: `text`, `json`, `yaml`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Prometheus => "prometheus",
        }
    }
}

// The colours of messages and of checks' marks (super::check).
pub(super) const GREEN: &str = "\x1b[32m";
pub(super) const YELLOW: &str = "\x1b[33m";
pub(super) const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Human messages on stderr, with colour decided once; and, with `-o
/// json|yaml`, the run's document, shared by every clone. While a spinner
/// runs ([`Ui::attach_spinner`]) lines are drawn above it and prompts on a
/// line of their own, never under it.
#[derive(Debug, Clone)]
pub struct Ui {
    colour: bool,
    verbose: bool,
    format: OutputFormat,
    document: Arc<Mutex<Vec<(String, Ordered)>>>,
    spinner: Arc<Mutex<Option<indicatif::ProgressBar>>>,
}

impl Ui {
    /// Colour when stderr is a terminal and NO_COLOR is unset or empty.
    pub fn new(verbose: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ui {
            colour: !no_colour && std::io::stderr().is_terminal(),
            ..Ui::plain(verbose)
        }
    }

    /// A plain Ui (no colour, text output), for tests and non-terminal use.
    pub fn plain(verbose: bool) -> Self {
        Ui {
            colour: false,
            verbose,
            format: OutputFormat::Text,
            document: Arc::default(),
            spinner: Arc::default(),
        }
    }

    /// The same Ui writing its document as `format` (`-o`).
    pub fn with_format(mut self, format: OutputFormat) -> Self {
        self.format = format;
        self
    }

    pub fn colour(&self) -> bool {
        self.colour
    }

    /// `-o`: text, or the document as JSON or YAML.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Records the fields of `value` (a struct or map) in the run's
    /// document, replacing fields of the same name where they stand. Nothing
    /// with `-o text`.
    pub fn record<T: Serialize>(&self, value: &T) {
        if !self.has_document() {
            return;
        }
        match Ordered::of(value) {
            Ok(Ordered::Object(fields)) => {
                let mut document = self.lock();
                for (name, value) in fields {
                    set_field(&mut document, name, value);
                }
            }
            Ok(_) => self.warn("a result that is not an object was left out of the output"),
            Err(error) => self.warn(&format!("a result was left out of the output: {error}")),
        }
    }

    /// Records the field `name` of the run's document (replacing it).
    pub fn record_field<T: Serialize>(&self, name: &str, value: &T) {
        if !self.has_document() {
            return;
        }
        match Ordered::of(value) {
            Ok(value) => set_field(&mut self.lock(), name.to_string(), value),
            Err(error) => self.warn(&format!("{name} was left out of the output: {error}")),
        }
    }

    /// Appends `value` to the list field `name` of the run's document.
    pub fn record_item<T: Serialize>(&self, name: &str, value: &T) {
        if !self.has_document() {
            return;
        }
        let value = match Ordered::of(value) {
            Ok(value) => value,
            Err(error) => {
                return self.warn(&format!("{name} was left out of the output: {error}"));
            }
        };
        let mut document = self.lock();
        match document.iter_mut().find(|(field, _)| field == name) {
            Some((_, Ordered::Array(items))) => items.push(value),
            _ => set_field(&mut document, name.to_string(), Ordered::Array(vec![value])),
        }
    }

    /// Whether `-o` asks for the JSON or YAML document.
    fn has_document(&self) -> bool {
        matches!(self.format, OutputFormat::Json | OutputFormat::Yaml)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Ordered)>> {
        // A panicked recorder leaves whole fields: still worth writing.
        self.document
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The run's document as it ends with `exit` (and `error`).
    fn document(&self, exit: Exit, error: Option<&Error>) -> Ordered {
        self.record(&Ending {
            exit_code: exit as u8,
            error: error.map(|error| error.message().to_string()),
            next_step: error.and_then(|error| error.next_step().map(str::to_string)),
        });
        Ordered::Object(self.lock().clone())
    }

    /// Ends a run: its error as one line on stderr, and with `-o json|yaml`
    /// the document on stdout, ending with `exitCode` (and `error`,
    /// `nextStep`). Returns the exit code: the run's, or 1 when a
    /// successful run's document cannot be written.
    pub fn finish(&self, result: Result<Exit>) -> Exit {
        let exit = match &result {
            Ok(exit) => *exit,
            Err(error) => {
                self.error(error);
                error.exit()
            }
        };
        self.write_document(exit, result.as_ref().err())
    }

    /// [`Ui::finish`] of an error already told on stderr (clap's own).
    pub(crate) fn finish_quietly(&self, error: &Error) -> Exit {
        self.write_document(error.exit(), Some(error))
    }

    fn write_document(&self, exit: Exit, error: Option<&Error>) -> Exit {
        // Text has no document; the Prometheus exposition is the plugin's own.
        if matches!(self.format, OutputFormat::Text | OutputFormat::Prometheus) {
            return exit;
        }
        match write_data(&self.document(exit, error), self.format) {
            Ok(()) => exit,
            Err(error) => {
                self.error(&error);
                if exit == Exit::Ok { Exit::Failed } else { exit }
            }
        }
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

/// The fields every document ends with.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ending {
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_step: Option<String>,
}

/// Sets field `name` where it stands, or appends it.
fn set_field(document: &mut Vec<(String, Ordered)>, name: String, value: Ordered) {
    match document.iter_mut().find(|(field, _)| *field == name) {
        Some((_, existing)) => *existing = value,
        None => document.push((name, value)),
    }
}

/// A JSON value whose objects keep the order of their fields, so the
/// document reads as the structs that made it (serde_json's own `Value`
/// sorts them; its `preserve_order` would change the bundle's canonical JSON).
#[derive(Debug, Clone, PartialEq)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar(serde_json::Value),
}

impl Ordered {
    fn of<T: Serialize>(value: &T) -> std::result::Result<Ordered, String> {
        let text = serde_json::to_string(value).map_err(|error| error.to_string())?;
        serde_json::from_str(&text).map_err(|error| error.to_string())
    }
}

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Ordered::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
            Ordered::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Scalar(value) => value.serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON value")
            }
            fn visit_bool<E>(self, value: bool) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(value.into()))
            }
            fn visit_i64<E>(self, value: i64) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(value.into()))
            }
            fn visit_u64<E>(self, value: u64) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(value.into()))
            }
            fn visit_f64<E>(self, value: f64) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(value.into()))
            }
            fn visit_str<E>(self, value: &str) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(value.into()))
            }
            fn visit_unit<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(serde_json::Value::Null))
            }
            fn visit_none<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Scalar(serde_json::Value::Null))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> std::result::Result<Ordered, D::Error> {
                serde::Deserialize::deserialize(deserializer)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry::<String, Ordered>()? {
                    fields.push(field);
                }
                Ok(Ordered::Object(fields))
            }
        }
        deserializer.deserialize_any(Visitor)
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
    write_stdout(&render_data(value, format)?)
}

/// Writes `text` to stdout, all of it.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| Error::failed(format!("cannot write to stdout: {error}")))
}

/// The JSON (pretty, with a final newline) or YAML form of `value`.
pub fn render_data<T: Serialize>(value: &T, format: OutputFormat) -> Result<String> {
    match format {
        // Text and Prometheus are the callers' own renderings: JSON stands in.
        OutputFormat::Json | OutputFormat::Text | OutputFormat::Prometheus => {
            serde_json::to_string_pretty(value)
                .map(|text| text + "\n")
                .map_err(|error| Error::failed(format!("cannot encode output as JSON: {error}")))
        }
        OutputFormat::Yaml => crate::yaml::to_string(value)
            .map_err(|error| Error::failed(format!("cannot encode output as YAML: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(ordered: &Ordered) -> String {
        serde_json::to_string(ordered).unwrap()
    }

    /// One document per run: the fields as recorded, in their order (nested
    /// ones too), then the ending; nothing is recorded for `-o text`.
    #[test]
    fn the_document_keeps_the_recorded_order_and_ends_with_the_exit() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Check {
            status: &'static str,
            title: &'static str,
            hint: Option<&'static str>,
        }
        let ui = Ui::plain(false).with_format(OutputFormat::Json);
        ui.record(&serde_json::json!({"context": "active"}));
        ui.record_item(
            "steps",
            &Check {
                status: "pass",
                title: "preflight",
                hint: None,
            },
        );
        ui.record_field("zone", &3);
        ui.record_item(
            "steps",
            &Check {
                status: "fail",
                title: "fence",
                hint: Some("retry"),
            },
        );
        ui.record(&serde_json::json!({"context": "standby"}));
        let error = Error::cluster("context \"standby\": timed out").with_next_step("retry");
        assert_eq!(
            json_of(&ui.document(Exit::Cluster, Some(&error))),
            r#"{"context":"standby","steps":[{"status":"pass","title":"preflight","hint":null},{"status":"fail","title":"fence","hint":"retry"}],"zone":3,"exitCode":3,"error":"context \"standby\": timed out","nextStep":"retry"}"#
        );

        let text = Ui::plain(false);
        text.record(&serde_json::json!({"context": "active"}));
        assert_eq!(json_of(&Ordered::Object(text.lock().clone())), "{}");
    }

    #[test]
    fn ordered_values_read_every_json_value() {
        let text = r#"{"b":1,"a":[true,null,-2,1.5,"x",{"d":{},"c":[]}]}"#;
        let ordered: Ordered = serde_json::from_str(text).unwrap();
        assert_eq!(json_of(&ordered), text);
        let yaml = crate::yaml::to_string(&ordered).unwrap();
        assert!(yaml.starts_with("b: 1\na:\n"), "{yaml}");
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
