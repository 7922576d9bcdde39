//! Request headers → call metadata, as Micro's API handler passes them on: lower-cased names,
//! repeated values joined by `,`, `Connection` dropped, the `micro-token` cookie promoted to
//! `Authorization`, and the `Micro-Namespace` header picked out.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};

/// The header that selects the namespace (Micro's `Micro-Namespace`).
pub(crate) const NAMESPACE_HEADER: &str = "micro-namespace";

/// The cookie Micro's web clients keep the access token in.
const TOKEN_COOKIE: &str = "micro-token";

/// Flattens the request headers into the map carried by `CallRequest::headers`.
pub(crate) fn from_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut metadata: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        if name == header::CONNECTION {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        metadata
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    if !metadata.contains_key(header::AUTHORIZATION.as_str()) {
        if let Some(token) = token_cookie(headers) {
            metadata.insert(
                header::AUTHORIZATION.as_str().to_owned(),
                format!("Bearer {token}"),
            );
        }
    }
    metadata
}

/// The `Micro-Namespace` header, trimmed; `None` when absent or blank.
pub(crate) fn namespace(headers: &HeaderMap) -> Option<String> {
    headers
        .get(NAMESPACE_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .filter(|ns| !ns.is_empty())
}

/// The value of the first non-empty `micro-token` cookie, if any.
fn token_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .filter_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    (name == TOKEN_COOKIE && !value.is_empty()).then(|| value.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn names_are_lower_cased_and_repeats_joined() {
        let headers = map(&[
            ("Foobar", "1"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("connection", "keep-alive"),
        ]);
        let metadata = from_headers(&headers);
        assert_eq!(metadata.get("foobar").map(String::as_str), Some("1"));
        assert_eq!(metadata.get("x-multi").map(String::as_str), Some("a,b"));
        assert!(!metadata.contains_key("connection"));
    }

    #[test]
    fn token_cookie_becomes_authorization_only_when_absent() {
        let cookie_only = map(&[("cookie", "a=b; micro-token=tok123")]);
        assert_eq!(
            from_headers(&cookie_only)
                .get("authorization")
                .map(String::as_str),
            Some("Bearer tok123")
        );
        let both = map(&[
            ("cookie", "micro-token=tok123"),
            ("authorization", "Bearer other"),
        ]);
        assert_eq!(
            from_headers(&both).get("authorization").map(String::as_str),
            Some("Bearer other")
        );
    }

    #[test]
    fn namespace_is_trimmed_and_blank_is_none() {
        assert_eq!(
            namespace(&map(&[("Micro-Namespace", " foo ")])),
            Some("foo".into())
        );
        assert_eq!(namespace(&map(&[("Micro-Namespace", "")])), None);
        assert_eq!(namespace(&HeaderMap::new()), None);
    }
}
