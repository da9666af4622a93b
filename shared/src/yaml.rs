//! The one YAML style we write: block style, long strings on one line (so a
//! base64 value stays a single token a human can grep and kubectl reads as is).

use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(value, options).map_err(|error| error.to_string())
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|error| error.to_string())
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
}
