//! `micro env`: list, get, set, add and delete environments in the local state file.
//!
//! Output as Micro v3: `env` lists `* name  address  description` sorted by name; `add`, `set` and
//! `del` print nothing. The `-e` flag is ignored here, as Micro does.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use crate::environments::{Environment, Environments};
use crate::output;
use crate::table::Table;

/// `micro env [COMMAND]`.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// Without a command: list environments.
    #[command(subcommand)]
    pub command: Option<EnvCommand>,
}

/// Subcommands of `micro env`.
#[derive(Debug, Clone, Subcommand)]
pub enum EnvCommand {
    /// Print the current environment name
    Get,
    /// Make NAME the current environment
    Set {
        /// An environment listed by `micro env`
        name: String,
    },
    /// Add an environment: one server address, or several nodes as h1:8081,h2:8081,h3:8081
    Add {
        /// The new environment's name
        name: String,
        /// Proxy address(es) of the server; several are tried in order
        address: String,
        /// Free text shown by `micro env`
        description: Vec<String>,
    },
    /// Delete an environment
    #[command(alias = "delete")]
    Del {
        /// The environment to delete
        name: String,
    },
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// Runs `micro env …` against the local state file at `config`.
pub fn run(args: EnvArgs, config: &Path) -> Result<()> {
    let mut envs = Environments::open(config)?;
    match args.command {
        None => output::print(render_list(&envs.all()?, &envs.current())),
        Some(EnvCommand::Get) => output::print(format!("{}\n", envs.current())),
        Some(EnvCommand::Set { name }) => envs.set_current(&name)?,
        Some(EnvCommand::Add {
            name,
            address,
            description,
        }) => envs.add(Environment {
            name,
            proxy_address: address,
            description: description.join(" "),
        })?,
        Some(EnvCommand::Del { name }) => envs.delete(&name)?,
        Some(EnvCommand::Unknown(words)) => bail!(super::root::unknown_subcommand("env", &words)),
    }
    Ok(())
}

/// Renders the `micro env` listing: `* ` marks the current env, `none` stands for no address.
pub fn render_list(envs: &BTreeMap<String, Environment>, current: &str) -> String {
    let mut table = Table::new();
    for (name, env) in envs {
        let marker = if name == current { "* " } else { "  " };
        let address = if env.proxy_address.is_empty() {
            "none"
        } else {
            &env.proxy_address
        };
        table.row(vec![
            format!("{marker}{name}"),
            address.to_owned(),
            env.description.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, addr: &str, description: &str) -> (String, Environment) {
        let e = Environment {
            name: name.into(),
            proxy_address: addr.into(),
            description: description.into(),
        };
        (name.to_owned(), e)
    }

    #[test]
    fn listing_marks_current_and_aligns() {
        let envs: BTreeMap<_, _> = [
            env("local", "127.0.0.1:8081", "Local running Micro Server"),
            env("foo", "127.0.0.1:1", ""),
            env("prod", "", "three nodes"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            render_list(&envs, "local"),
            "  foo    127.0.0.1:1\n\
             * local  127.0.0.1:8081  Local running Micro Server\n\
             \u{20} prod   none            three nodes\n"
        );
    }

    #[test]
    fn run_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let add = EnvCommand::Add {
            name: "foo".into(),
            address: "a:1,b:2".into(),
            description: vec!["my".into(), "cluster".into()],
        };
        run(EnvArgs { command: Some(add) }, &path).unwrap();
        run(
            EnvArgs {
                command: Some(EnvCommand::Set { name: "foo".into() }),
            },
            &path,
        )
        .unwrap();
        let envs = Environments::open(&path).unwrap();
        assert_eq!(envs.current(), "foo");
        assert_eq!(envs.all().unwrap()["foo"].description, "my cluster");
        let err = run(
            EnvArgs {
                command: Some(EnvCommand::Unknown(vec!["x".into()])),
            },
            &path,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unrecognized subcommand for micro env: x. Please refer to 'micro env --help'"
        );
    }
}
