//! Query string → JSON object, as Micro's `util/qson` plus the rpc handler's dot nesting:
//! values are JSON literals when they parse (`5`, `true`) and strings otherwise; `a[b]=1`,
//! `a.b=1` nest and `a[]=1` appends to an array.

use serde_json::{Map, Value};

use crate::GatewayError;

/// The deepest key nesting accepted, so a hostile key cannot build a value deep enough to
/// exhaust the stack when it is dropped or serialized.
pub(crate) const MAX_KEY_DEPTH: usize = 32;

/// Converts a raw (still percent-encoded) query string into a JSON object.
///
/// Later parameters overwrite earlier scalars with the same key (`cat=1&cat=2` → `{"cat":2}`);
/// nested objects merge. A parameter without `=` gets the empty string.
pub(crate) fn to_json(raw_query: &str) -> Result<Map<String, Value>, GatewayError> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        if key.is_empty() {
            continue;
        }
        let path = key_path(&key)?;
        insert(&mut root, &path, literal(&value));
    }
    match root {
        Value::Object(map) => Ok(map),
        // The root starts as an object and every path begins with a key, so it stays one.
        other => Err(GatewayError::Internal(format!(
            "query conversion produced a non-object {other}"
        ))),
    }
}

/// A value as Micro reads it: a JSON literal if it parses as one, else the plain string.
pub(crate) fn literal(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// One step of a parameter key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `a`, `.a` or `[a]`: descend into object field `a`.
    Key(String),
    /// `[]`: append a new element to an array.
    Append,
}

/// Splits `a.b[c][]` into `[a, b, c, Append]`. Dots split only the part before the first
/// bracket, as in Micro. A key that is not well formed (unbalanced brackets, empty dot parts,
/// text after a `]`) is taken literally as one flat key.
fn key_path(key: &str) -> Result<Vec<Segment>, GatewayError> {
    let literal = || vec![Segment::Key(key.to_owned())];
    let (head, mut rest) = key.find('[').map_or((key, ""), |i| key.split_at(i));
    if head.split('.').any(str::is_empty) {
        return Ok(literal());
    }
    let mut path: Vec<Segment> = head
        .split('.')
        .map(|p| Segment::Key(p.to_owned()))
        .collect();
    while let Some(after_open) = rest.strip_prefix('[') {
        let Some(close) = after_open.find(']') else {
            return Ok(literal());
        };
        let inner = &after_open[..close];
        if inner.contains('[') {
            return Ok(literal());
        }
        path.push(if inner.is_empty() {
            Segment::Append
        } else {
            Segment::Key(inner.to_owned())
        });
        rest = &after_open[close + 1..];
    }
    if !rest.is_empty() {
        return Ok(literal());
    }
    if path.len() > MAX_KEY_DEPTH {
        return Err(GatewayError::BadRequest(format!(
            "query parameter {key:?} nests {} levels deep; at most {MAX_KEY_DEPTH} are allowed",
            path.len()
        )));
    }
    Ok(path)
}

/// Stores `value` at `path` below `slot`, turning whatever is in the way into the object or
/// array the path needs (later parameters win, as in Micro's merge).
fn insert(slot: &mut Value, path: &[Segment], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *slot = value;
        return;
    };
    match first {
        Segment::Key(key) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(map) = slot {
                let child = map.entry(key.clone()).or_insert(Value::Null);
                insert(child, rest, value);
            }
        }
        Segment::Append => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(items) = slot {
                let mut item = Value::Null;
                insert(&mut item, rest, value);
                items.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(query: &str) -> String {
        serde_json::to_string(&to_json(query).unwrap()).unwrap()
    }

    #[test]
    fn plain_values_become_literals_or_strings() {
        assert_eq!(json("cat=1&dog=2"), r#"{"cat":1,"dog":2}"#);
        assert_eq!(
            json("name=Jane&ok=true&n=null&f=1.5"),
            r#"{"f":1.5,"n":null,"name":"Jane","ok":true}"#
        );
        assert_eq!(json("q=%22quoted%22"), r#"{"q":"quoted"}"#);
        assert_eq!(json("s=hello+world"), r#"{"s":"hello world"}"#);
        assert_eq!(
            json("big=18446744073709551615"),
            r#"{"big":18446744073709551615}"#
        );
    }

    #[test]
    fn brackets_nest_and_append() {
        assert_eq!(
            json("bar%5Bone%5D%5Btwo%5D=2&bar[one][red]=112"),
            r#"{"bar":{"one":{"red":112,"two":2}}}"#
        );
        assert_eq!(json("a=xyz&b[c]=456"), r#"{"a":"xyz","b":{"c":456}}"#);
        assert_eq!(json("cat[]=1&cat[]=34"), r#"{"cat":[1,34]}"#);
    }

    #[test]
    fn dots_nest_before_brackets_only() {
        assert_eq!(
            json("filter=parent%3Dflow12345%26request%3Dreq12345&meta.limit=20&meta.offset=0"),
            r#"{"filter":"parent=flow12345&request=req12345","meta":{"limit":20,"offset":0}}"#
        );
        assert_eq!(json("a.b[c.d]=1"), r#"{"a":{"b":{"c.d":1}}}"#);
    }

    #[test]
    fn later_parameters_win() {
        assert_eq!(json("cat=1&cat=2"), r#"{"cat":2}"#);
        assert_eq!(json("a=1&a.b=2"), r#"{"a":{"b":2}}"#);
        assert_eq!(json("a.b=2&a=1"), r#"{"a":1}"#);
    }

    #[test]
    fn malformed_keys_are_taken_literally() {
        assert_eq!(json("[^@hGl5="), r#"{"[^@hGl5":""}"#);
        assert_eq!(json("a[b=1"), r#"{"a[b":1}"#);
        assert_eq!(json("a[b]c=1"), r#"{"a[b]c":1}"#);
        assert_eq!(json("a..b=1"), r#"{"a..b":1}"#);
        assert_eq!(json("flag&&=3"), r#"{"flag":""}"#);
    }

    #[test]
    fn deep_keys_are_rejected() {
        let key = format!("a{}", "[b]".repeat(MAX_KEY_DEPTH));
        assert!(matches!(
            to_json(&format!("{key}=1")),
            Err(GatewayError::BadRequest(_))
        ));
        let ok = format!("a{}=1", "[b]".repeat(MAX_KEY_DEPTH - 1));
        assert!(to_json(&ok).is_ok());
    }
}
