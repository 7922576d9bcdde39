//! Micro's namespace convention: the `Micro-Namespace` header, else `micro`.

/// The namespace used when a request names none.
pub const DEFAULT_NAMESPACE: &str = "micro";

/// Returns the namespace of a request from its optional header value.
pub fn resolve(header: Option<&str>) -> String {
    header
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned()
}
