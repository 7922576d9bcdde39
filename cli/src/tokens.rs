//! The saved login tokens, `~/.micro/tokens`, in Micro v3's format: one line per token,
//! `micro://<env proxy address>/<namespace>/<account id>:<base64 of the token's JSON>`.
//!
//! The file always lives under the home directory (also with `-c`), as Micro keeps it. Lines we
//! cannot read are kept as they are when the file is rewritten.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::atomic_file;

/// One saved token, in Micro's JSON shape (times are unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedToken {
    /// The JWT sent as `authorization: Bearer …`.
    pub access_token: String,
    /// Exchanged for a new access token shortly before this one expires.
    #[serde(default)]
    pub refresh_token: String,
    /// When the access token was issued.
    #[serde(default)]
    pub created: i64,
    /// When the access token stops being accepted.
    #[serde(default)]
    pub expiry: i64,
}

impl From<micro_proto::auth::Token> for SavedToken {
    fn from(token: micro_proto::auth::Token) -> Self {
        SavedToken {
            access_token: token.access_token,
            refresh_token: token.refresh_token,
            created: token.created,
            expiry: token.expiry,
        }
    }
}

/// The key of a token: whose it is and for which server and namespace.
pub fn key(proxy_address: &str, namespace: &str, account: &str) -> String {
    format!("{}{account}", key_prefix(proxy_address, namespace))
}

/// The part of [`key`] shared by every account of one server and namespace.
pub fn key_prefix(proxy_address: &str, namespace: &str) -> String {
    format!("micro://{proxy_address}/{namespace}/")
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A token we could decode.
    Token {
        /// `micro://address/namespace/account`.
        key: String,
        /// The decoded token.
        token: SavedToken,
    },
    /// Anything else, written back verbatim so that we never lose what another tool wrote.
    Other(String),
}

impl Line {
    /// Decodes one non-empty line; anything unexpected becomes [`Line::Other`].
    fn parse(text: &str) -> Line {
        // The base64 alphabet has no ':', so the last one separates the key from the token.
        let decoded = text.rsplit_once(':').and_then(|(key, encoded)| {
            if !key.starts_with("micro://") {
                return None;
            }
            let json = STANDARD.decode(encoded.trim()).ok()?;
            let token = serde_json::from_slice::<SavedToken>(&json).ok()?;
            Some(Line::Token {
                key: key.to_owned(),
                token,
            })
        });
        decoded.unwrap_or_else(|| Line::Other(text.to_owned()))
    }

    /// Encodes the line without its newline.
    fn render(&self) -> Result<String> {
        match self {
            Line::Token { key, token } => {
                let json = serde_json::to_vec(token).context("encoding a token")?;
                Ok(format!("{key}:{}", STANDARD.encode(json)))
            }
            Line::Other(text) => Ok(text.clone()),
        }
    }
}

/// The tokens file, loaded into memory.
#[derive(Debug, Clone)]
pub struct TokenFile {
    /// Where it was read from and is written back to.
    path: PathBuf,
    /// Every line, in file order.
    lines: Vec<Line>,
}

impl TokenFile {
    /// Returns `~/.micro/tokens`.
    pub fn default_path() -> Result<PathBuf> {
        let home = dirs::home_dir().context("cannot find the home directory to keep tokens in")?;
        Ok(home.join(".micro").join("tokens"))
    }

    /// Loads the file at `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(Line::parse)
            .collect();
        Ok(TokenFile {
            path: path.to_owned(),
            lines,
        })
    }

    /// Returns the token saved under `key`; the last one wins if the key appears twice.
    pub fn get(&self, key: &str) -> Option<&SavedToken> {
        self.tokens()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, t)| t)
    }

    /// Returns the first token whose key starts with `prefix`, with its key.
    pub fn find_prefix(&self, prefix: &str) -> Option<(&str, &SavedToken)> {
        self.tokens().find(|(k, _)| k.starts_with(prefix))
    }

    /// Saves `token` under `key` in memory, replacing any token saved under it.
    pub fn set(&mut self, key: &str, token: SavedToken) {
        let line = Line::Token {
            key: key.to_owned(),
            token,
        };
        match self.position(key) {
            Some(at) => {
                self.lines[at] = line;
                let mut index = 0;
                self.lines.retain(|l| {
                    let keep = index <= at || !matches!(l, Line::Token { key: k, .. } if k == key);
                    index += 1;
                    keep
                });
            }
            None => self.lines.push(line),
        }
    }

    /// Removes every token saved under `key` in memory; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Token { key: k, .. } if k == key));
        self.lines.len() != before
    }

    /// Writes the file back atomically, private to the user.
    pub fn save(&self) -> Result<()> {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.render()?);
            text.push('\n');
        }
        atomic_file::write(&self.path, text.as_bytes())
    }

    /// Every decoded token with its key, in file order.
    fn tokens(&self) -> impl Iterator<Item = (&str, &SavedToken)> {
        self.lines.iter().filter_map(|l| match l {
            Line::Token { key, token } => Some((key.as_str(), token)),
            Line::Other(_) => None,
        })
    }

    /// Index of the first line holding `key`.
    fn position(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| matches!(l, Line::Token { key: k, .. } if k == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(access: &str, expiry: i64) -> SavedToken {
        SavedToken {
            access_token: access.into(),
            refresh_token: format!("r-{access}"),
            created: 100,
            expiry,
        }
    }

    #[test]
    fn keys_follow_micro() {
        assert_eq!(
            key("127.0.0.1:8081", "micro", "admin"),
            "micro://127.0.0.1:8081/micro/admin"
        );
        assert_eq!(key_prefix("h:1,h:2", "ns"), "micro://h:1,h:2/ns/");
    }

    #[test]
    fn round_trip_keeps_unknown_lines_and_uses_micros_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".micro").join("tokens");
        let k = key("127.0.0.1:8081", "micro", "admin");

        let mut file = TokenFile::load(&path).unwrap();
        assert!(file.get(&k).is_none());
        file.set(&k, token("a1", 200));
        file.save().unwrap();

        let text = fs::read_to_string(&path).unwrap();
        let (stored_key, encoded) = text.trim_end().rsplit_once(':').unwrap();
        assert_eq!(stored_key, k);
        let json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"access_token":"a1","refresh_token":"r-a1","created":100,"expiry":200})
        );
        // Go marshals fields in declaration order; so do we.
        let raw = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert!(
            raw.starts_with(r#"{"access_token":"a1","refresh_token""#),
            "{raw}"
        );

        // Another tool's lines, garbage and a token we cannot decode all survive a rewrite.
        let foreign = "micro://other:1/ns/bob:not-base64!";
        fs::write(
            &path,
            format!("# comment\n{text}\n{foreign}\nno colon here\n"),
        )
        .unwrap();
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.get(&k), Some(&token("a1", 200)));
        file.set(&k, token("a2", 300));
        file.set(&key("127.0.0.1:8081", "foo", "jane"), token("j", 1));
        file.save().unwrap();

        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "# comment");
        assert_eq!(lines[2], foreign);
        assert_eq!(lines[3], "no colon here");
        let file = TokenFile::load(&path).unwrap();
        assert_eq!(file.get(&k), Some(&token("a2", 300)));
        assert_eq!(
            file.find_prefix(&key_prefix("127.0.0.1:8081", "foo"))
                .map(|(k, t)| (k.to_owned(), t.access_token.clone())),
            Some((key("127.0.0.1:8081", "foo", "jane"), "j".to_owned()))
        );
        assert!(file
            .find_prefix(&key_prefix("127.0.0.1:8081", "fo"))
            .is_none());
    }

    #[test]
    fn remove_and_duplicate_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let k = key("a:1", "micro", "admin");
        let line = |t: &SavedToken| {
            Line::Token {
                key: k.clone(),
                token: t.clone(),
            }
            .render()
            .unwrap()
        };
        fs::write(
            &path,
            format!("{}\n{}\n", line(&token("old", 1)), line(&token("new", 2))),
        )
        .unwrap();
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.get(&k).map(|t| t.access_token.as_str()), Some("new"));
        file.set(&k, token("newest", 3));
        assert_eq!(file.lines.len(), 1, "duplicates collapse into one line");
        assert!(file.remove(&k));
        assert!(!file.remove(&k));
        file.save().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn tolerates_missing_fields() {
        let json = r#"{"access_token":"x"}"#;
        let line = format!("micro://a:1/micro/id:{}", STANDARD.encode(json));
        match Line::parse(&line) {
            Line::Token { key, token } => {
                assert_eq!(key, "micro://a:1/micro/id");
                assert_eq!(token.access_token, "x");
                assert_eq!(token.expiry, 0);
            }
            Line::Other(_) => panic!("not decoded"),
        }
    }
}
