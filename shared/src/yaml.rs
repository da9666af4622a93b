//! The one YAML style we write: block style, long strings on one line (so a
//! base64 value stays a single token a human can grep and kubectl reads as is).
//! And the one way a YAML error is shown: where, and why, never what.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The longest reason a YAML error is shown with, in characters.
const MAX_REASON_CHARS: usize = 120;

pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(value, options).map_err(|error| error.to_string())
}

/// Parses `text`; the error is [`describe_error`]'s line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|error| describe_error(&error))
}

/// A YAML error as it may be shown: `line L column C: reason`. Never the
/// source around it, nor any quoted part of the parser's message (both
/// would show the secret values and tokens of a bundle or kubeconfig):
/// quoted text is replaced by `"…"` and the reason cut at
/// `MAX_REASON_CHARS`.
pub fn describe_error(error: &serde_saphyr::Error) -> String {
    let error = error.without_snippet();
    let message = error.to_string();
    let first_line = message.lines().next().unwrap_or_default();
    // The renderer appends the location; it is given once, in front.
    let reason = first_line
        .rfind(" at line ")
        .map_or(first_line, |at| &first_line[..at]);
    let reason = truncate(&mask_quoted(reason), MAX_REASON_CHARS);
    match error.location() {
        Some(location) if location.line() > 0 => {
            format!(
                "line {} column {}: {reason}",
                location.line(),
                location.column()
            )
        }
        _ => reason,
    }
}

/// `text` with every quoted part (between "", '' or ``) replaced by `"…"`;
/// an unclosed quote masks the rest.
fn mask_quoted(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(char) = chars.next() {
        if matches!(char, '"' | '\'' | '`') {
            masked.push_str("\"…\"");
            for inner in chars.by_ref() {
                if inner == char {
                    break;
                }
            }
        } else {
            masked.push(char);
        }
    }
    masked
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    #[test]
    fn long_strings_stay_on_one_line_and_round_trip() {
        let long = "QUJD".repeat(60);
        let value = json!({"data": {"key": long, "flag": "yes", "number": "123", "empty": ""}});
        let text = super::to_string(&value).unwrap();
        assert!(text.contains(&format!("key: {long}\n")), "{text}");
        assert!(!text.contains(">-") && !text.contains('|'), "{text}");
        assert_eq!(super::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn quoted_parts_are_masked_and_long_reasons_cut() {
        assert_eq!(
            super::mask_quoted(r#"invalid type: string "hunter2", expected `u16` or 'x"#),
            r#"invalid type: string "…", expected "…" or "…""#
        );
        assert_eq!(super::truncate("abcdef", 3), "abc…");
        assert_eq!(super::truncate("abc", 3), "abc");
    }
}
