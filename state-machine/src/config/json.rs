//! JSON text handling for config: parsing requests, the canonical compact form, and splitting
//! an object into its leaves (what `node` encrypts one by one for a secret object).

use serde_json::{Map, Value};

use super::ConfigError;

/// Parses request JSON text; failures read like Micro's `Request is invalid JSON: …`.
pub(crate) fn parse(text: &str) -> Result<Value, ConfigError> {
    serde_json::from_str(text)
        .map_err(|e| ConfigError::InvalidArgument(format!("Request is invalid JSON: {e}")))
}

/// Returns `value` with every object's members in key order.
///
/// serde_json keeps keys sorted unless some crate in the build enables its `preserve_order`
/// feature; rebuilding keeps stored text, and so snapshot bytes, independent of that.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(sorted(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let mut members: Vec<(String, Value)> = map.into_iter().collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members
        .into_iter()
        .map(|(k, v)| (k, canonical(v)))
        .collect()
}

/// Renders `value` as Micro's Config.Get does: compact JSON, object keys sorted, no HTML
/// escaping of `<`, `>` and `&`.
pub fn to_compact_json(value: &Value) -> String {
    canonical(value.clone()).to_string()
}

/// Splits a JSON object into `(relative dot path, value)` leaves in key order, the way a
/// merge writes them: nested objects are descended into, anything else is a leaf.
///
/// Returns `None` when `value` is not an object. Empty nested objects yield no leaf. `node`
/// encrypts each leaf's [`to_compact_json`] text and proposes the result as
/// [`ConfigValue::SecretObject`](super::ConfigValue::SecretObject), as Micro encrypts each leaf
/// of a secret object separately.
pub fn flatten_leaves(value: &Value) -> Option<Vec<(String, Value)>> {
    let Value::Object(map) = value else {
        return None;
    };
    let mut out = Vec::new();
    flatten_into(map, "", &mut out);
    Some(out)
}

fn flatten_into(map: &Map<String, Value>, prefix: &str, out: &mut Vec<(String, Value)>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match &map[key] {
            Value::Object(inner) => flatten_into(inner, &path, out),
            leaf => out.push((path, leaf.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn compact_json_sorts_keys_and_does_not_escape_html() {
        let v = json!({"b": [{"z": 1, "a": "<&>"}], "a": true});
        assert_eq!(to_compact_json(&v), r#"{"a":true,"b":[{"a":"<&>","z":1}]}"#);
    }

    #[test]
    fn invalid_json_is_an_invalid_argument() {
        assert!(matches!(
            parse("{nope"),
            Err(ConfigError::InvalidArgument(m)) if m.starts_with("Request is invalid JSON")
        ));
    }

    #[test]
    fn objects_flatten_into_leaves_in_key_order() {
        let v = json!({"b": {"y": 2, "x": [1]}, "a": "s", "e": {}});
        assert_eq!(
            flatten_leaves(&v).unwrap(),
            vec![
                ("a".to_owned(), json!("s")),
                ("b.x".to_owned(), json!([1])),
                ("b.y".to_owned(), json!(2)),
            ]
        );
        assert_eq!(flatten_leaves(&json!(42)), None);
    }
}
