//! Label and field selectors (`labelSelector=`, `fieldSelector=`).

use serde_json::Value;

/// One comma-separated term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    /// Matches when the label is absent too, as in Kubernetes.
    NotEquals(String, String),
    In(String, Vec<String>),
    /// Matches when the label is absent too, as in Kubernetes.
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

#[derive(Debug, Clone, Default)]
pub struct LabelSelector {
    /// All must hold; empty matches everything.
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let requirements = split_outside_parentheses(text)?
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_label_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// `object` is the whole object; its `metadata.labels` are matched.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| {
            labels
                .and_then(|labels| labels.get(key))
                .and_then(Value::as_str)
        };
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                LabelRequirement::Equals(key, value) => label(key) == Some(value.as_str()),
                LabelRequirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
                LabelRequirement::In(key, values) => {
                    label(key).is_some_and(|actual| values.iter().any(|value| value == actual))
                }
                LabelRequirement::NotIn(key, values) => {
                    label(key).is_none_or(|actual| values.iter().all(|value| value != actual))
                }
                LabelRequirement::Exists(key) => label(key).is_some(),
                LabelRequirement::DoesNotExist(key) => label(key).is_none(),
            })
    }
}

/// Splits on commas that are not inside `( … )`, so `a in (x,y),b` is two terms.
fn split_outside_parentheses(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in label selector {text:?}"))?;
            }
            ',' if depth == 0 => {
                terms.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unclosed '(' in label selector {text:?}"));
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_label_requirement(term: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement::DoesNotExist(label_key(key.trim(), term)?));
    }
    let key_end = term
        .find(|character: char| !is_label_key_char(character))
        .unwrap_or(term.len());
    let key = label_key(&term[..key_end], term)?;
    let rest = term[key_end..].trim_start();
    if rest.is_empty() {
        return Ok(LabelRequirement::Exists(key));
    }
    if let Some(value) = rest.strip_prefix("!=") {
        return Ok(LabelRequirement::NotEquals(
            key,
            label_value(value.trim(), term)?,
        ));
    }
    if let Some(value) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        return Ok(LabelRequirement::Equals(
            key,
            label_value(value.trim(), term)?,
        ));
    }
    if let Some(values) = rest.strip_prefix("notin") {
        return Ok(LabelRequirement::NotIn(key, value_set(values, term)?));
    }
    if let Some(values) = rest.strip_prefix("in") {
        return Ok(LabelRequirement::In(key, value_set(values, term)?));
    }
    Err(format!(
        "unable to parse label selector requirement {term:?}"
    ))
}

fn is_label_key_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.' | '/')
}

fn label_key(key: &str, term: &str) -> Result<String, String> {
    if key.is_empty() || !key.chars().all(is_label_key_char) {
        return Err(format!(
            "invalid label key in selector requirement {term:?}"
        ));
    }
    Ok(key.to_string())
}

fn label_value(value: &str, term: &str) -> Result<String, String> {
    let valid = value
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    if !valid {
        return Err(format!(
            "invalid label value {value:?} in selector requirement {term:?}"
        ));
    }
    Ok(value.to_string())
}

/// `(x, y)` after `in` / `notin`.
fn value_set(text: &str, term: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised value list in {term:?}"))?;
    if inner.trim().is_empty() {
        return Err(format!("empty value list in selector requirement {term:?}"));
    }
    inner
        .split(',')
        .map(|value| label_value(value.trim(), term))
        .collect()
}

/// One term of a field selector: a dotted path, `=`/`==` or `!=`, a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    path: Vec<String>,
    value: String,
    equal: bool,
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    /// All must hold; empty matches everything.
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let requirements = split_unescaped_commas(text)
            .into_iter()
            .filter(|term| !term.trim().is_empty())
            .map(|term| parse_field_requirement(&term))
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|requirement| {
            let actual = requirement
                .path
                .iter()
                .try_fold(object, |value, segment| value.get(segment))
                .map(field_text)
                .unwrap_or_default();
            (actual == requirement.value) == requirement.equal
        })
    }
}

/// How a field's value reads in a selector; missing and null read as "".
fn field_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Field selector values may escape `,`, `=`, `!` and `\` with a backslash;
/// the escapes are kept so the operator split still sees them.
fn split_unescaped_commas(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => {
                current.push('\\');
                if let Some(escaped) = characters.next() {
                    current.push(escaped);
                }
            }
            ',' => terms.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    terms.push(current);
    terms
}

fn parse_field_requirement(term: &str) -> Result<FieldRequirement, String> {
    let (path, operator_and_value) = find_unescaped_operator(term)
        .map(|index| term.split_at(index))
        .ok_or_else(|| {
            format!("invalid field selector {term:?}: expected key=value or key!=value")
        })?;
    let (equal, value) = if let Some(value) = operator_and_value.strip_prefix("!=") {
        (false, value)
    } else if let Some(value) = operator_and_value.strip_prefix("==") {
        (true, value)
    } else {
        (true, &operator_and_value[1..])
    };
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!("invalid field selector {term:?}: bad field path"));
    }
    Ok(FieldRequirement {
        path: path.split('.').map(str::to_string).collect(),
        value: unescape(value.trim()),
        equal,
    })
}

/// Byte index of the first `=` or `!=` not preceded by a backslash.
fn find_unescaped_operator(term: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, character) in term.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '=' => return Some(index),
            '!' if term[index + 1..].starts_with('=') => return Some(index),
            _ => {}
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        if character == '\\' {
            if let Some(escaped) = characters.next() {
                result.push(escaped);
            }
        } else {
            result.push(character);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels}})
    }

    fn label_matches(selector: &str, labels: Value) -> bool {
        LabelSelector::parse(selector)
            .unwrap()
            .matches(&labelled(labels))
    }

    #[test]
    fn label_equality_in_all_three_spellings() {
        for selector in ["app=tsb", "app==tsb", " app = tsb "] {
            assert!(label_matches(selector, json!({"app": "tsb"})), "{selector}");
            assert!(
                !label_matches(selector, json!({"app": "other"})),
                "{selector}"
            );
            assert!(!label_matches(selector, json!({})), "{selector}");
        }
    }

    #[test]
    fn label_inequality_matches_other_values_and_absent_labels() {
        assert!(label_matches("app!=tsb", json!({"app": "other"})));
        assert!(label_matches("app!=tsb", json!({})));
        assert!(!label_matches("app!=tsb", json!({"app": "tsb"})));
    }

    #[test]
    fn label_set_membership() {
        assert!(label_matches("tier in (mp, cp)", json!({"tier": "cp"})));
        assert!(!label_matches("tier in (mp,cp)", json!({"tier": "dp"})));
        assert!(!label_matches("tier in (mp,cp)", json!({})));
        assert!(label_matches("tier notin (mp)", json!({"tier": "cp"})));
        assert!(label_matches("tier notin (mp)", json!({})));
        assert!(!label_matches("tier notin (mp, cp)", json!({"tier": "mp"})));
    }

    #[test]
    fn label_existence() {
        assert!(label_matches("app", json!({"app": ""})));
        assert!(!label_matches("app", json!({"other": "x"})));
        assert!(label_matches("!app", json!({"other": "x"})));
        assert!(!label_matches("! app", json!({"app": "x"})));
    }

    #[test]
    fn commas_join_label_requirements_with_and() {
        let selector = "app=tsb, tier in (mp,cp),!legacy";
        assert!(label_matches(selector, json!({"app": "tsb", "tier": "mp"})));
        assert!(!label_matches(
            selector,
            json!({"app": "tsb", "tier": "dp"})
        ));
        assert!(!label_matches(
            selector,
            json!({"app": "tsb", "tier": "mp", "legacy": "1"})
        ));
    }

    #[test]
    fn empty_label_selector_matches_objects_without_labels() {
        let selector = LabelSelector::parse("").unwrap();
        assert!(selector.matches(&json!({"metadata": {"name": "x"}})));
        assert!(
            !LabelSelector::parse("app")
                .unwrap()
                .matches(&json!({"metadata": {}}))
        );
    }

    #[test]
    fn label_keys_may_carry_a_prefix() {
        assert!(label_matches(
            "app.kubernetes.io/name=tsb",
            json!({"app.kubernetes.io/name": "tsb"})
        ));
    }

    #[test]
    fn set_operators_tolerate_spacing() {
        assert!(label_matches("tier in ( mp , cp )", json!({"tier": "cp"})));
        assert!(label_matches("tier notin(mp)", json!({"tier": "cp"})));
        assert!(!label_matches("tier  notin  (mp)", json!({"tier": "mp"})));
    }

    #[test]
    fn keys_that_start_like_operators_are_plain_keys() {
        assert!(label_matches("index=1", json!({"index": "1"})));
        assert!(label_matches(
            "notinteresting",
            json!({"notinteresting": "x"})
        ));
        assert!(label_matches("app=", json!({"app": ""})));
    }

    #[test]
    fn labels_that_are_not_strings_never_match() {
        assert!(!label_matches("app=1", json!({"app": 1})));
        assert!(label_matches("!app", json!({"app": null})));
    }

    #[test]
    fn label_parse_errors_quote_the_offending_text() {
        for (selector, offending) in [
            ("app=tsb,=x", "=x"),
            ("app in mp", "app in mp"),
            ("tier in (mp", "tier in (mp"),
            ("app=a b", "app=a b"),
            ("app>1", "app>1"),
            ("app)", "app)"),
            ("tier in ()", "tier in ()"),
            ("tier notin ( )", "tier notin ( )"),
        ] {
            let error = LabelSelector::parse(selector).unwrap_err();
            assert!(error.contains(offending), "{selector}: {error}");
        }
    }

    fn secret() -> Value {
        json!({
            "metadata": {"name": "tsb-certs", "namespace": "tsb"},
            "type": "kubernetes.io/tls",
            "spec": {"suspend": false, "replicas": 3}
        })
    }

    fn field_matches(selector: &str) -> bool {
        FieldSelector::parse(selector).unwrap().matches(&secret())
    }

    #[test]
    fn field_equality_and_inequality_on_dotted_paths() {
        assert!(field_matches("metadata.name=tsb-certs"));
        assert!(field_matches("metadata.name==tsb-certs"));
        assert!(!field_matches("metadata.name=other"));
        assert!(field_matches("metadata.namespace!=default"));
        assert!(!field_matches("metadata.namespace!=tsb"));
        assert!(field_matches("type=kubernetes.io/tls"));
    }

    #[test]
    fn field_selectors_compare_booleans_and_numbers_as_text() {
        assert!(field_matches("spec.suspend=false"));
        assert!(field_matches("spec.replicas=3"));
    }

    #[test]
    fn missing_fields_compare_as_empty() {
        assert!(field_matches("status.phase="));
        assert!(field_matches("status.phase!=Active"));
        assert!(!field_matches("status.phase=Active"));
    }

    #[test]
    fn commas_join_field_requirements_with_and() {
        assert!(field_matches(
            "metadata.name=tsb-certs,metadata.namespace=tsb"
        ));
        assert!(!field_matches(
            "metadata.name=tsb-certs,metadata.namespace=default"
        ));
        assert!(FieldSelector::parse("").unwrap().matches(&secret()));
    }

    #[test]
    fn field_values_may_escape_commas() {
        let selector = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert!(selector.matches(&json!({"metadata": {"name": "a,b"}})));
        assert!(!selector.matches(&json!({"metadata": {"name": "a"}})));
    }

    #[test]
    fn field_paths_through_missing_parents_compare_as_empty() {
        assert!(field_matches("status.loadBalancer.ingress="));
        assert!(field_matches("metadata.labels.app!=tsb"));
        // A path that reaches a map or list is not a value either.
        assert!(field_matches("metadata="));
    }

    #[test]
    fn field_values_may_contain_equals_signs() {
        let selector = FieldSelector::parse("metadata.name=a=b").unwrap();
        assert!(selector.matches(&json!({"metadata": {"name": "a=b"}})));
    }

    #[test]
    fn field_parse_errors_quote_the_offending_text() {
        for (selector, offending) in [
            ("metadata.name", "metadata.name"),
            ("=x", "=x"),
            ("a..b=x", "a..b=x"),
        ] {
            let error = FieldSelector::parse(selector).unwrap_err();
            assert!(error.contains(offending), "{selector}: {error}");
        }
    }
}
