//! The CLI's local state file (`~/.micro/config.json`, or the `-c FILE` given), as Micro v3 keeps it.
//!
//! It is one JSON object. We read and write only the top-level keys we own (`env`, `envs`) and keep
//! every other key (tokens, namespaces, git settings) untouched. Writes are atomic: temp file + rename.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

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
                write_atomically(path, INITIAL_DOCUMENT.as_bytes())?;
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
        write_atomically(&self.path, &bytes)
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`, so readers see
/// either the old or the new document, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("config.json");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The file may hold tokens: keep it private, as Micro does.
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("failed to write {}", path.display()))
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
