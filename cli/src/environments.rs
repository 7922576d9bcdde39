//! Environments: named server address lists kept in the local state file (Micro v3's `micro env`).
//!
//! Stored as Micro does: key `env` = current name, key `envs` = a JSON *string* holding a map
//! name → `{"Name","ProxyAddress","Description"}`. The builtin `local` is re-merged on every read.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::AddressList;
use crate::local_config::LocalConfig;

/// The env used when none was ever chosen.
pub const DEFAULT_ENV: &str = "local";

/// One environment, in Micro's on-disk shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// The name users pass to `-e`.
    #[serde(default)]
    pub name: String,
    /// One proxy address, or a comma-separated list of several nodes' proxy addresses.
    #[serde(default)]
    pub proxy_address: String,
    /// Free text shown by `micro env`.
    #[serde(default)]
    pub description: String,
}

impl Environment {
    /// Parses the address list, naming the env in the error.
    pub fn addresses(&self) -> Result<AddressList> {
        AddressList::parse(&self.proxy_address)
            .with_context(|| format!("environment '{}' has a bad address", self.name))
    }
}

/// Builtin environments, always present. Micro also has `platform` (`proxy.m3o.com`, its hosted
/// service, now gone); we leave it out rather than point at a server that does not exist.
fn builtins() -> [Environment; 1] {
    [Environment {
        name: DEFAULT_ENV.into(),
        proxy_address: "127.0.0.1:8081".into(),
        description: "Local running Micro Server".into(),
    }]
}

/// The environments of one local state file.
#[derive(Debug)]
pub struct Environments {
    /// The file they live in.
    config: LocalConfig,
}

impl Environments {
    /// Loads (creating if needed) the local state file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Environments {
            config: LocalConfig::load(path)?,
        })
    }

    /// Returns the stored current env name (`local` when unset).
    pub fn current(&self) -> String {
        let env = self.config.get_str("env");
        if env.is_empty() {
            DEFAULT_ENV.to_owned()
        } else {
            env
        }
    }

    /// Returns every env by name: the stored ones with the builtins merged over them.
    pub fn all(&self) -> Result<BTreeMap<String, Environment>> {
        let mut envs: BTreeMap<String, Environment> = match self.config.get("envs") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::String(s)) if s.trim().is_empty() => BTreeMap::new(),
            // Micro stores the map as a JSON string; accept a plain object as well.
            Some(Value::String(s)) => serde_json::from_str(s).context("invalid 'envs' entry")?,
            Some(v) => serde_json::from_value(v.clone()).context("invalid 'envs' entry")?,
        };
        for (name, env) in envs.iter_mut() {
            if env.name.is_empty() {
                env.name = name.clone();
            }
        }
        for env in builtins() {
            envs.insert(env.name.clone(), env);
        }
        Ok(envs)
    }

    /// Looks up `-e NAME` if given, else the current env.
    pub fn resolve(&self, name: Option<&str>) -> Result<Environment> {
        let envs = self.all()?;
        match name {
            Some(name) => envs.get(name).cloned().ok_or_else(|| {
                anyhow!("Env \"{name}\" not found. See `micro env` for available environments.")
            }),
            None => {
                let current = self.current();
                envs.get(&current).cloned().ok_or_else(|| {
                    anyhow!(
                        "Env \"{current}\" not found. See `micro env` for available environments."
                    )
                })
            }
        }
    }

    /// Adds (or replaces) a user env and saves. Builtins cannot be redefined.
    pub fn add(&mut self, env: Environment) -> Result<()> {
        if env.name.trim().is_empty() {
            bail!("environment name is required");
        }
        if builtins().iter().any(|b| b.name == env.name) {
            bail!(
                "Environment '{}' is built in and cannot be changed",
                env.name
            );
        }
        env.addresses()?;
        let mut envs = self.all()?;
        envs.insert(env.name.clone(), env);
        self.store(&envs)
    }

    /// Makes `name` the current env and saves.
    pub fn set_current(&mut self, name: &str) -> Result<()> {
        if !self.all()?.contains_key(name) {
            bail!("Environment '{name}' does not exist");
        }
        self.config.set_str("env", name.to_owned());
        self.config.save()
    }

    /// Deletes a user env and saves; the current env and builtins cannot be deleted.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let mut envs = self.all()?;
        if !envs.contains_key(name) {
            bail!("Environment '{name}' does not exist");
        }
        if self.current() == name {
            bail!(
                "Environment '{name}' is your current environment. Before deleting it, please \
                 change your current environment."
            );
        }
        if builtins().iter().any(|b| b.name == name) {
            bail!("Environment '{name}' is built in and cannot be deleted");
        }
        envs.remove(name);
        self.store(&envs)
    }

    /// Writes the env map back as a JSON string under `envs`.
    fn store(&mut self, envs: &BTreeMap<String, Environment>) -> Result<()> {
        let encoded = serde_json::to_string(envs).context("encoding environments")?;
        self.config.set_str("envs", encoded);
        self.config.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Environments {
        Environments::open(&dir.path().join("config.json")).unwrap()
    }

    fn env(name: &str, addr: &str) -> Environment {
        Environment {
            name: name.into(),
            proxy_address: addr.into(),
            description: String::new(),
        }
    }

    #[test]
    fn fresh_file_has_local_as_current() {
        let dir = tempfile::tempdir().unwrap();
        let envs = open(&dir);
        assert_eq!(envs.current(), "local");
        let all = envs.all().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["local"]);
        assert_eq!(all["local"].proxy_address, "127.0.0.1:8081");
        assert_eq!(envs.resolve(None).unwrap().name, "local");
    }

    #[test]
    fn add_set_delete_round_trip_in_micro_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut envs = open(&dir);
        envs.add(env("foo", "h1:8081,h2:8081")).unwrap();
        // Stored as Micro does: `envs` is a string holding the map.
        let raw: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        let inner: Value = serde_json::from_str(raw["envs"].as_str().unwrap()).unwrap();
        assert_eq!(inner["foo"]["ProxyAddress"], "h1:8081,h2:8081");
        assert_eq!(inner["foo"]["Name"], "foo");

        let mut envs = open(&dir);
        envs.set_current("foo").unwrap();
        assert_eq!(open(&dir).current(), "foo");
        let err = envs.delete("foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Environment 'foo' is your current environment. Before deleting it, please change \
             your current environment."
        );
        envs.set_current("local").unwrap();
        envs.delete("foo").unwrap();
        assert!(!open(&dir).all().unwrap().contains_key("foo"));
    }

    #[test]
    fn errors_use_micro_wording() {
        let dir = tempfile::tempdir().unwrap();
        let mut envs = open(&dir);
        assert_eq!(
            envs.set_current("nope").unwrap_err().to_string(),
            "Environment 'nope' does not exist"
        );
        assert_eq!(
            envs.delete("nope").unwrap_err().to_string(),
            "Environment 'nope' does not exist"
        );
        assert_eq!(
            envs.resolve(Some("nope")).unwrap_err().to_string(),
            "Env \"nope\" not found. See `micro env` for available environments."
        );
        assert!(envs.add(env("local", "x:1")).is_err());
        assert!(envs.add(env("bad", "h1:notaport")).is_err());
    }

    #[test]
    fn builtins_win_over_stored_and_plain_objects_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"env":"x","envs":{"local":{"ProxyAddress":"evil:1"},"x":{"ProxyAddress":"a:1"}}}"#,
        )
        .unwrap();
        let envs = Environments::open(&path).unwrap();
        let all = envs.all().unwrap();
        assert_eq!(all["local"].proxy_address, "127.0.0.1:8081");
        assert_eq!(envs.resolve(None).unwrap().name, "x");
    }
}
