//! Path → service/endpoint resolution, Micro's default "rpc" resolver
//! (`service/api/server/route.go`): `/foo/bar` calls `Foo.Bar` on service `foo`.
//! Segments are validated first, so a service name never carries odd characters.

use crate::GatewayError;

/// The service and endpoint an HTTP path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Service name: every segment before the last two, joined by `.`.
    pub service: String,
    /// Endpoint as `Handler.Method`, each part CamelCased from a path segment.
    pub endpoint: String,
}

impl Route {
    /// Resolves a URL path (without query):
    ///
    /// | path                | service   | endpoint   |
    /// |---------------------|-----------|------------|
    /// | `/foo`              | `foo`     | `Foo.Call` |
    /// | `/foo/bar`          | `foo`     | `Foo.Bar`  |
    /// | `/v1/foo/bar`       | `v1.foo`  | `Foo.Bar`  |
    /// | `/foo/bar/baz`      | `foo`     | `Bar.Baz`  |
    /// | `/foo/bar/baz/cat`  | `foo.bar` | `Baz.Cat`  |
    ///
    /// One trailing `/` is ignored (Go cleans the path). Empty segments, `.`/`..` and characters
    /// outside `[A-Za-z0-9_.-]` are rejected with `BadRequest`.
    pub fn from_path(path: &str) -> Result<Route, GatewayError> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "path {path:?} names no service; expected /{{service}}/{{endpoint}}"
            )));
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        for part in &parts {
            check_segment(path, part)?;
        }

        let route = match parts.as_slice() {
            [service] => Route {
                service: (*service).to_owned(),
                endpoint: format!("{}.Call", camel(service)),
            },
            [service, method] => Route {
                service: (*service).to_owned(),
                endpoint: format!("{}.{}", camel(service), camel(method)),
            },
            [version, service, method] if is_version(version) => Route {
                service: format!("{version}.{service}"),
                endpoint: format!("{}.{}", camel(service), camel(method)),
            },
            [prefix @ .., handler, method] => Route {
                service: prefix.join("."),
                endpoint: format!("{}.{}", camel(handler), camel(method)),
            },
            // Unreachable: `split` yields at least one part. Kept total instead of panicking.
            [] => {
                return Err(GatewayError::BadRequest(format!(
                    "path {path:?} names no service"
                )))
            }
        };
        Ok(route)
    }
}

/// Rejects segments that would make a malformed service or endpoint name.
fn check_segment(path: &str, segment: &str) -> Result<(), GatewayError> {
    if segment.is_empty() {
        return Err(GatewayError::BadRequest(format!(
            "path {path:?} has an empty segment"
        )));
    }
    if segment == "." || segment == ".." {
        return Err(GatewayError::BadRequest(format!(
            "path {path:?} has a relative segment {segment:?}"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !segment.chars().all(allowed) {
        return Err(GatewayError::BadRequest(format!(
            "path segment {segment:?} has characters outside [A-Za-z0-9_.-]"
        )));
    }
    Ok(())
}

/// `v<digits>`, Micro's API version prefix (`/v1/foo/bar` → service `v1.foo`).
fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Micro's `toCamel`: split on `-`, title-case each word (Go's `strings.Title`, which upper-cases
/// a letter that follows a separator such as `.`), and join: `list-services` → `ListServices`,
/// `listServices` → `ListServices`.
fn camel(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for word in segment.split('-') {
        let mut word_start = true;
        for c in word.chars() {
            if word_start {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            word_start = !(c.is_ascii_alphanumeric() || c == '_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(path: &str) -> (String, String) {
        let route = Route::from_path(path).unwrap();
        (route.service, route.endpoint)
    }

    #[test]
    fn resolves_micro_examples() {
        let table = [
            ("/foo", "foo", "Foo.Call"),
            ("/foo/bar", "foo", "Foo.Bar"),
            ("/v1/foo/bar", "v1.foo", "Foo.Bar"),
            ("/foo/bar/baz", "foo", "Bar.Baz"),
            ("/foo/bar/baz/cat", "foo.bar", "Baz.Cat"),
            // The rest of Micro's route_test.go table.
            ("/foo/foo/bar", "foo", "Foo.Bar"),
            ("/foo/bar/baz-xyz", "foo", "Bar.BazXyz"),
            ("/foo/bar/baz/cat/car", "foo.bar.baz", "Cat.Car"),
            ("/foo/fooBar/bazCat", "foo", "FooBar.BazCat"),
            ("/v1/foo/bar/baz", "v1.foo", "Bar.Baz"),
            ("/v1/foo/bar/baz/cat", "v1.foo.bar", "Baz.Cat"),
            // Reference examples.
            ("/helloworld", "helloworld", "Helloworld.Call"),
            ("/helloworld/call", "helloworld", "Helloworld.Call"),
            (
                "/registry/listServices",
                "registry",
                "Registry.ListServices",
            ),
            (
                "/registry/list-services",
                "registry",
                "Registry.ListServices",
            ),
            ("/store/list", "store", "Store.List"),
            ("/store/read/", "store", "Store.Read"),
        ];
        for (path, service, endpoint) in table {
            assert_eq!(
                resolve(path),
                (service.to_owned(), endpoint.to_owned()),
                "{path}"
            );
        }
    }

    #[test]
    fn version_prefix_needs_digits() {
        assert_eq!(resolve("/v/foo/bar"), ("v".into(), "Foo.Bar".into()));
        assert_eq!(resolve("/vx1/foo/bar"), ("vx1".into(), "Foo.Bar".into()));
        assert_eq!(
            resolve("/v12/foo/bar"),
            ("v12.foo".into(), "Foo.Bar".into())
        );
    }

    #[test]
    fn camel_cases_like_go_strings_title() {
        assert_eq!(camel("list-services"), "ListServices");
        assert_eq!(camel("listServices"), "ListServices");
        assert_eq!(camel("baz-xyz"), "BazXyz");
        assert_eq!(camel("a--b"), "AB");
        assert_eq!(camel("foo.bar"), "Foo.Bar");
        assert_eq!(camel("foo_bar"), "Foo_bar");
        assert_eq!(camel("1abc"), "1abc");
    }

    #[test]
    fn rejects_bad_segments() {
        for path in [
            "/",
            "//",
            "/foo//bar",
            "/foo/../bar",
            "/./foo",
            "/foo/b%20r",
            "/foo/bär",
            "/fo o",
            "/foo/bar;x",
        ] {
            match Route::from_path(path) {
                Err(GatewayError::BadRequest(_)) => {}
                other => panic!("{path}: expected BadRequest, got {other:?}"),
            }
        }
    }
}
