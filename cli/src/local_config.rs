//! The CLI's local state file (`~/.micro/config.json`, or the `-c FILE` given), as Micro v3 keeps it.
//!
//! It is one JSON object addressed by dotted paths (`namespaces.local.current` is
//! `{"namespaces":{"local":{"current":…}}}`). Keys we do not know survive every rewrite, which is
//! atomic (temp file + rename).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use crate::atomic_file;

/// What a missing file is created with, as Micro does.
const INITIAL_DOCUMENT: &str = r#"{"env":"local"}"#;

/// The local state file, loaded into memory.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Where the document was read from and is written back to.
    path: PathBuf,
    /// The whole document, so that keys we do not know survive a rewrite.
    doc: Map<String, Value>,
}

impl LocalConfig {
    /// Returns `~/.micro/config.json`.
    pub fn default_path() -> Result<PathBuf> {
        let home = dirs::home_dir()
            .context("cannot find the home directory; pass -c FILE or set MICRO_CONFIG_FILE")?;
        Ok(home.join(".micro").join("config.json"))
    }

    /// Loads the file at `path`, creating it (and its directory) as `{"env":"local"}` if missing.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                atomic_file::write(path, INITIAL_DOCUMENT.as_bytes())?;
                INITIAL_DOCUMENT.to_owned()
            }
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        let doc = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(doc)) => doc,
                Ok(_) => bail!("invalid config file {}: not a JSON object", path.display()),
                Err(e) => bail!("invalid config file {}: {e}", path.display()),
            }
        };
        Ok(LocalConfig {
            path: path.to_owned(),
            doc,
        })
    }

    /// Returns the top-level key as a trimmed string; missing, `null` or non-string values read
    /// as "" (Micro's rule).
    pub fn get_str(&self, key: &str) -> String {
        match self.doc.get(key) {
            Some(Value::String(s)) => s.trim().to_owned(),
            _ => String::new(),
        }
    }

    /// Returns the raw value of a top-level key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.doc.get(key)
    }

    /// Sets a top-level key in memory; call [`LocalConfig::save`] to persist.
    pub fn set_str(&mut self, key: &str, value: String) {
        self.doc.insert(key.to_owned(), Value::String(value));
    }

    /// Writes the document back, atomically.
    pub fn save(&self) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.doc).context("encoding the config file")?;
        bytes.push(b'\n');
        atomic_file::write(&self.path, &bytes)
    }

    /// Returns the value at a dotted path (`namespaces.local.current`) as Micro's config reads it:
    /// a string trimmed, missing or `null` as "", any other value as compact JSON.
    pub fn get_path(&self, path: &str) -> String {
        let mut segments = path.split('.');
        let Some(first) = segments.next() else {
            return String::new();
        };
        let mut value = self.doc.get(first);
        for segment in segments {
            value = match value {
                Some(Value::Object(map)) => map.get(segment),
                _ => None,
            };
        }
        match value {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(other) => other.to_string(),
        }
    }

    /// Sets the value at a dotted path in memory, creating intermediate objects (and replacing
    /// any non-object found on the way); call [`LocalConfig::save`] to persist.
    pub fn set_path(&mut self, path: &str, value: Value) {
        let segments: Vec<&str> = path.split('.').collect();
        let Some((last, parents)) = segments.split_last() else {
            return;
        };
        let mut map = &mut self.doc;
        for segment in parents {
            let slot = map
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else {
                return;
            };
            map = inner;
        }
        map.insert((*last).to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_created_with_local_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("config.json");
        let cfg = LocalConfig::load(&path).unwrap();
        assert_eq!(cfg.get_str("env"), "local");
        let on_disk: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk, serde_json::json!({"env": "local"}));
    }

    #[test]
    fn unknown_keys_survive_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"env":"local","namespaces":{"local":{"current":"foo"}}}"#,
        )
        .unwrap();
        let mut cfg = LocalConfig::load(&path).unwrap();
        cfg.set_str("env", "other".into());
        cfg.save().unwrap();
        let on_disk: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk["env"], "other");
        assert_eq!(on_disk["namespaces"]["local"]["current"], "foo");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn values_are_trimmed_and_null_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"env":"  dev \n","x":null}"#).unwrap();
        let cfg = LocalConfig::load(&path).unwrap();
        assert_eq!(cfg.get_str("env"), "dev");
        assert_eq!(cfg.get_str("x"), "");
        assert_eq!(cfg.get_str("missing"), "");
    }

    #[test]
    fn dotted_paths_read_and_write_nested_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"env":"local","namespaces":{"local":{"all":"a,b"}},"local":"flat","n":42}"#,
        )
        .unwrap();
        let mut cfg = LocalConfig::load(&path).unwrap();
        assert_eq!(cfg.get_path("namespaces.local.all"), "a,b");
        assert_eq!(cfg.get_path("namespaces.local.current"), "");
        assert_eq!(cfg.get_path("namespaces.local"), r#"{"all":"a,b"}"#);
        assert_eq!(cfg.get_path("n"), "42");
        assert_eq!(cfg.get_path("env"), "local");
        assert_eq!(cfg.get_path("env.x"), "");

        cfg.set_path("namespaces.local.current", Value::String("foo".into()));
        // A string on the way is replaced by an object, as Micro's config does.
        cfg.set_path("local.current-user", Value::String("admin".into()));
        cfg.set_path("a.b.c", Value::String(" x ".into()));
        cfg.save().unwrap();

        let cfg = LocalConfig::load(&path).unwrap();
        assert_eq!(cfg.get_path("namespaces.local.current"), "foo");
        assert_eq!(cfg.get_path("namespaces.local.all"), "a,b");
        assert_eq!(cfg.get_path("local.current-user"), "admin");
        assert_eq!(cfg.get_path("a.b.c"), "x");
        let on_disk: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            on_disk,
            serde_json::json!({
                "env": "local",
                "n": 42,
                "namespaces": {"local": {"all": "a,b", "current": "foo"}},
                "local": {"current-user": "admin"},
                "a": {"b": {"c": " x "}}
            })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "[1,2]").unwrap();
        assert!(LocalConfig::load(&path).is_err());
        fs::write(&path, "{not json").unwrap();
        let err = LocalConfig::load(&path).unwrap_err();
        assert!(err.to_string().contains("invalid config file"));
    }
}
