//! `micro user`: who is logged in, their token, the current namespace, changing the password,
//! and direct access to the local config file (Micro v3's `client/cli/user`).

use std::io::IsTerminal;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use micro_proto::auth::accounts_client::AccountsClient;
use micro_proto::auth::ChangeSecretRequest;
use serde_json::Value;

use super::root::{unknown_subcommand, Globals};
use crate::local_config::LocalConfig;
use crate::session::{namespace_path, Session, DEFAULT_NAMESPACE};
use crate::{output, prompt};

/// The message of every command that needs a login when there is none.
const NOT_LOGGED_IN: &str = "You are not logged in";

/// `micro user [COMMAND]`.
#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    /// Without a command: print the logged-in user.
    #[command(subcommand)]
    pub command: Option<UserCommand>,
}

/// Subcommands of `micro user`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Manage user related config like id, token, namespace, etc
    Config(ConfigArgs),
    /// Get the current user token
    Token,
    /// Get the current namespace
    Namespace(NamespaceArgs),
    /// Set various user based properties, eg. password
    #[command(arg_required_else_help = true)]
    Set(SetArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro user namespace [set NS]`.
#[derive(Debug, Clone, Args)]
pub struct NamespaceArgs {
    /// Without a command: print the current namespace.
    #[command(subcommand)]
    pub command: Option<NamespaceCommand>,
}

/// Subcommands of `micro user namespace`.
#[derive(Debug, Clone, Subcommand)]
pub enum NamespaceCommand {
    /// Set namespace in the current environment
    Set {
        /// The namespace
        #[arg(value_name = "NS")]
        namespace: Option<String>,
    },
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro user set COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct SetArgs {
    /// What to set.
    #[command(subcommand)]
    pub command: SetCommand,
}

/// Subcommands of `micro user set`.
#[derive(Debug, Clone, Subcommand)]
pub enum SetCommand {
    /// Set password
    Password(PasswordArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro user set password`.
#[derive(Debug, Clone, Default, Args)]
pub struct PasswordArgs {
    /// Account ID whose password to change [default: the logged-in account]
    #[arg(long, value_name = "ID")]
    pub email: Option<String>,
    /// Existing password, the one that is used currently.
    #[arg(long, value_name = "PASSWORD")]
    pub old_password: Option<String>,
    /// New password you want to set.
    #[arg(long, value_name = "PASSWORD")]
    pub new_password: Option<String>,
}

/// `micro user config [get|set|delete]`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Without a command: print a summary of the user's settings.
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
}

/// Subcommands of `micro user config`: the local config file by dotted path.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Get a value by specifying [key] as an arg
    Get {
        /// Dotted path, e.g. namespaces.local.current
        key: Option<String>,
    },
    /// Set a key-val using [key] [value] as args
    Set {
        /// Dotted path, e.g. namespaces.local.current
        key: Option<String>,
        /// The value, stored as a string
        value: Option<String>,
    },
    /// Delete a value using [key] as an arg
    Delete {
        /// Dotted path, e.g. namespaces.local.current
        key: Option<String>,
    },
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// Runs one `micro user …` command.
pub async fn run(args: UserArgs, globals: &Globals) -> Result<()> {
    match args.command {
        None => whoami(globals).await,
        Some(UserCommand::Token) => token(globals).await,
        Some(UserCommand::Namespace(a)) => match a.command {
            None => {
                let session = globals.session()?;
                output::print(format!("{}\n", session.namespace()));
                Ok(())
            }
            Some(NamespaceCommand::Set { namespace }) => set_namespace(namespace, globals),
            Some(NamespaceCommand::Unknown(words)) => {
                bail!(unknown_subcommand("user namespace", &words))
            }
        },
        Some(UserCommand::Set(a)) => match a.command {
            SetCommand::Password(p) => change_password(p, globals).await,
            SetCommand::Unknown(words) => bail!(unknown_subcommand("user set", &words)),
        },
        Some(UserCommand::Config(a)) => config(a, globals).await,
        Some(UserCommand::Unknown(words)) => bail!(unknown_subcommand("user", &words)),
    }
}

/// `micro user`: the account name (else id) of the current token.
async fn whoami(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let Some(token) = session.token().await else {
        bail!(NOT_LOGGED_IN);
    };
    let who = session.identify(&token.access_token).await?;
    output::print(format!("{}\n", who.name));
    Ok(())
}

/// `micro user token`: the access token, refreshed first if it was about to expire.
async fn token(globals: &Globals) -> Result<()> {
    let Some(token) = globals.session()?.token().await else {
        bail!(NOT_LOGGED_IN);
    };
    output::print(format!("{}\n", token.access_token));
    Ok(())
}

/// `micro user namespace set NS`: makes NS the env's current namespace and remembers it in
/// `namespaces.<env>.all` (which, as in Micro, never lists the default `micro`).
fn set_namespace(namespace: Option<String>, globals: &Globals) -> Result<()> {
    let Some(namespace) = namespace
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    else {
        bail!("No namespace specified");
    };
    let session = globals.session()?;
    let mut config = LocalConfig::load(session.config_path())?;
    set_namespace_in(&mut config, &session.env().name, &namespace);
    config.save()
}

/// Writes `namespaces.<env>.current` and adds the namespace to `namespaces.<env>.all`.
pub fn set_namespace_in(config: &mut LocalConfig, env: &str, namespace: &str) {
    config.set_path(&namespace_path(env), Value::String(namespace.to_owned()));
    let all_path = format!("namespaces.{env}.all");
    let all = config.get_path(&all_path);
    let known = all.split(',').any(|n| n == namespace);
    if namespace != DEFAULT_NAMESPACE && !known {
        let all = if all.is_empty() {
            namespace.to_owned()
        } else {
            format!("{all},{namespace}")
        };
        config.set_path(&all_path, Value::String(all));
    }
}

/// `micro user set password`: Accounts.ChangeSecret, asking for what was not given. Silent.
async fn change_password(args: PasswordArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let id = match args.email.filter(|e| !e.is_empty()) {
        Some(id) => id,
        None => logged_in_account(&session).await?,
    };
    let old_secret = match args.old_password.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => prompt::password("Enter current password: ")?,
    };
    let new_secret = match args.new_password.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => ask_new_password()?,
    };
    let request = ChangeSecretRequest {
        id,
        old_secret,
        new_secret,
        options: Some(session.options()),
    };
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { AccountsClient::new(ch).change_secret(req).await.map(|_| ()) }
        })
        .await?;
    Ok(())
}

/// The id of the account whose token this session holds.
async fn logged_in_account(session: &Session) -> Result<String> {
    let Some(token) = session.token().await else {
        bail!(NOT_LOGGED_IN);
    };
    Ok(session.identify(&token.access_token).await?.id)
}

/// Asks for the new password twice until both answers match (Micro's loop); without a terminal
/// a mismatch is an error, since asking again would read the next lines of a script.
fn ask_new_password() -> Result<String> {
    loop {
        let first = prompt::password("Enter a new password: ")?;
        let second = prompt::password("Verify your password: ")?;
        if first == second {
            return Ok(first);
        }
        if !std::io::stdin().is_terminal() {
            bail!("Passwords do not match");
        }
        output::print("Passwords do not match. Please try again.\n");
    }
}

/// `micro user config …`.
async fn config(args: ConfigArgs, globals: &Globals) -> Result<()> {
    match args.command {
        None => summary(globals).await,
        Some(ConfigCommand::Get { key }) => {
            let key = non_blank(key)?;
            let config = LocalConfig::load(&globals.config_path)?;
            output::print(format!("{}\n", config.get_path(&key)));
            Ok(())
        }
        Some(ConfigCommand::Set { key, value }) => {
            let key = non_blank(key)?;
            let mut config = LocalConfig::load(&globals.config_path)?;
            config.set_path(&key, Value::String(value.unwrap_or_default()));
            config.save()
        }
        Some(ConfigCommand::Delete { key }) => {
            let key = non_blank(key)?;
            let mut config = LocalConfig::load(&globals.config_path)?;
            // Micro "deletes" by storing an empty value; reads cannot tell the difference.
            config.set_path(&key, Value::String(String::new()));
            config.save()
        }
        Some(ConfigCommand::Unknown(words)) => bail!(unknown_subcommand("user config", &words)),
    }
}

/// Refuses a missing or empty key with Micro's message.
fn non_blank(key: Option<String>) -> Result<String> {
    match key {
        Some(key) if !key.is_empty() => Ok(key),
        _ => bail!("key cannot be blank"),
    }
}

/// `micro user config`: five `name: value` lines, `n/a` for what is unset.
async fn summary(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let env = session.env().name.clone();
    let config = LocalConfig::load(session.config_path())?;
    let user = match session.token().await {
        Some(token) => match session.identify(&token.access_token).await {
            Ok(who) => who.name,
            Err(_) => String::new(),
        },
        None => String::new(),
    };
    let credentials = match config.get_path("git.credentials").as_str() {
        "" => "n/a",
        _ => "[hidden]",
    };
    let base_url = [format!("git.{env}.baseurl"), "git.baseurl".to_owned()]
        .iter()
        .map(|p| config.get_path(p))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    output::print(summary_text(&[
        ("user", user),
        ("namespace", config.get_path(&namespace_path(&env))),
        ("environment", env),
        ("git.credentials", credentials.to_owned()),
        ("git.baseurl", base_url),
    ]));
    Ok(())
}

/// `name: value` lines with `n/a` for empty values.
fn summary_text(lines: &[(&str, String)]) -> String {
    lines
        .iter()
        .map(|(name, value)| {
            let value = if value.is_empty() { "n/a" } else { value };
            format!("{name}: {value}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_set_records_current_and_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = LocalConfig::load(&dir.path().join("config.json")).unwrap();
        set_namespace_in(&mut config, "local", "foo");
        set_namespace_in(&mut config, "local", "bar");
        set_namespace_in(&mut config, "local", "foo");
        set_namespace_in(&mut config, "local", "micro");
        assert_eq!(config.get_path("namespaces.local.current"), "micro");
        assert_eq!(config.get_path("namespaces.local.all"), "foo,bar");
        set_namespace_in(&mut config, "prod", "x");
        assert_eq!(config.get_path("namespaces.prod.all"), "x");
        assert_eq!(config.get_path("namespaces.local.all"), "foo,bar");
    }

    #[test]
    fn summary_shows_na_for_unset_values() {
        assert_eq!(
            summary_text(&[("user", "admin".into()), ("namespace", String::new())]),
            "user: admin\nnamespace: n/a\n"
        );
    }

    #[test]
    fn config_keys_must_not_be_blank() {
        assert_eq!(
            non_blank(None).unwrap_err().to_string(),
            "key cannot be blank"
        );
        assert!(non_blank(Some(String::new())).is_err());
        assert_eq!(non_blank(Some("a.b".into())).unwrap(), "a.b");
    }
}
