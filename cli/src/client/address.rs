//! The address list of an environment: `h1:8081,h2:8081,h3:8081`, tried in order for failover.
//!
//! An entry without a port gets the proxy's default port 8081 (Micro appends `:443` because its
//! hosted platform used TLS; our proxy speaks plain HTTP/2 on 8081).

use std::fmt;

use anyhow::{bail, Result};

/// Port appended to entries that have none.
const DEFAULT_PORT: u16 = 8081;

/// A non-empty list of `host:port` server addresses, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList(Vec<String>);

impl AddressList {
    /// Parses a comma-separated list; blanks around entries are ignored, bad entries are errors.
    pub fn parse(list: &str) -> Result<Self> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(normalise)
            .collect::<Result<Vec<_>>>()?;
        if entries.is_empty() {
            bail!("no server address given");
        }
        Ok(AddressList(entries))
    }

    /// Returns the `host:port` entries.
    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// Returns the URI tonic dials for one entry.
    pub fn uri(entry: &str) -> String {
        format!("http://{entry}")
    }
}

impl fmt::Display for AddressList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Turns one entry into `host:port`, accepting an optional `http://` prefix and IPv6 literals.
fn normalise(entry: &str) -> Result<String> {
    let bare = entry
        .strip_prefix("http://")
        .unwrap_or(entry)
        .trim_end_matches('/');
    if bare.contains("://") {
        bail!("invalid server address '{entry}': only plain http:// is supported");
    }
    if bare.contains('/') || bare.chars().any(char::is_whitespace) {
        bail!("invalid server address '{entry}'");
    }
    let (host, port) = if let Some(rest) = bare.strip_prefix('[') {
        // [v6] or [v6]:port
        let Some((v6, after)) = rest.split_once(']') else {
            bail!("invalid server address '{entry}'");
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').unwrap_or("x")),
        };
        (format!("[{v6}]"), port)
    } else if bare.matches(':').count() > 1 {
        // An IPv6 literal without brackets and without a port.
        (format!("[{bare}]"), None)
    } else {
        match bare.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (bare.to_owned(), None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => bail!("invalid server address '{entry}': bad port"),
        },
    };
    if host.is_empty() || host == "[]" {
        bail!("invalid server address '{entry}': missing host");
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<String> {
        AddressList::parse(s).unwrap().entries().to_vec()
    }

    #[test]
    fn single_and_multiple_addresses() {
        assert_eq!(parse("127.0.0.1:8081"), ["127.0.0.1:8081"]);
        assert_eq!(
            parse("h1:8081, h2:9000 ,h3:8081,"),
            ["h1:8081", "h2:9000", "h3:8081"]
        );
        assert_eq!(
            AddressList::parse("a:1,b:2").unwrap().to_string(),
            "a:1,b:2"
        );
    }

    #[test]
    fn missing_port_gets_the_proxy_default() {
        assert_eq!(parse("node1"), ["node1:8081"]);
        assert_eq!(parse("http://node1/"), ["node1:8081"]);
        assert_eq!(parse("::1"), ["[::1]:8081"]);
        assert_eq!(parse("[::1]"), ["[::1]:8081"]);
        assert_eq!(parse("[::1]:9"), ["[::1]:9"]);
    }

    #[test]
    fn bad_entries_are_rejected() {
        for bad in [
            "",
            " , ",
            "h:port",
            "h:0",
            "h:70000",
            ":8081",
            "https://h:1",
            "h:1/x",
            "[::1",
        ] {
            assert!(AddressList::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn uri_is_plain_http() {
        assert_eq!(AddressList::uri("h:1"), "http://h:1");
    }
}
