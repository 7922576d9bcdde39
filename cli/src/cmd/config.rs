//! `micro config`: get, set and delete values of the current namespace's config document
//! (Micro v3's `client/cli/config`), against the Config service.
//!
//! Paths are dotted (`helloworld.somekey`). `set` parses VALUE as JSON and falls back to a JSON
//! string; `get` prints a string value decoded and anything else as the server's compact JSON;
//! an absent path (`null`) is Micro's `not found`, printed `Not found`. Writes are silent.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use micro_proto::config::config_client::ConfigClient;
use micro_proto::config::{
    DeleteRequest, GetRequest, KeysRequest, Options, RotateKeyRequest, SetRequest, Value,
};

use super::root::{unknown_subcommand, Globals};
use crate::client::RpcError;
use crate::output;
use crate::table::Table;

/// `micro config COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// Subcommands of `micro config`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Get a value; micro config get key
    Get(GetArgs),
    /// Set a key-val; micro config set key val
    Set(SetArgs),
    /// Delete a value; micro config del key
    #[command(alias = "delete")]
    Del(DelArgs),
    /// Seal new secrets with a fresh key; existing ones are re-encrypted in the background
    #[command(name = "rotate-key")]
    RotateKey,
    /// List the keys that seal secrets: which is active and how many secrets each seals
    Keys,
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro config get`.
#[derive(Debug, Clone, Default, Args)]
pub struct GetArgs {
    /// Dotted path of the value, e.g. helloworld.somekey
    pub path: Option<String>,
    /// Show secret values decrypted instead of as [secret]
    #[arg(short, long)]
    pub secret: bool,
}

/// `micro config set`.
#[derive(Debug, Clone, Default, Args)]
pub struct SetArgs {
    /// Dotted path of the value, e.g. helloworld.somekey
    pub path: Option<String>,
    /// The value: JSON (42, true, {"a":1}, "text") or else a plain string (put `--` before a
    /// value starting with `-`)
    #[arg(allow_negative_numbers = true)]
    pub value: Option<String>,
    /// Store the value as a secret (encrypted at rest)
    #[arg(short, long)]
    pub secret: bool,
}

/// `micro config del`.
#[derive(Debug, Clone, Default, Args)]
pub struct DelArgs {
    /// Dotted path of the value or subtree to delete
    pub path: Option<String>,
}

/// Runs one `micro config …` command.
pub async fn run(args: ConfigArgs, globals: &Globals) -> Result<()> {
    match args.command {
        ConfigCommand::Get(a) => get(a, globals).await,
        ConfigCommand::Set(a) => set(a, globals).await,
        ConfigCommand::Del(a) => del(a, globals).await,
        ConfigCommand::RotateKey => rotate_key(globals).await,
        ConfigCommand::Keys => keys(globals).await,
        ConfigCommand::Unknown(words) => bail!(unknown_subcommand("config", &words)),
    }
}

/// Turns a command-line VALUE into the JSON text sent as `value.data`: VALUE itself when it is
/// valid JSON (re-encoded compactly, as Micro's `json.Marshal` does), else VALUE as a JSON string.
pub fn parse_value(value: &str) -> Result<String> {
    let parsed = serde_json::from_str::<serde_json::Value>(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    serde_json::to_string(&parsed).context("encoding the value as JSON")
}

/// What `get` prints for the server's `value.data`, without the trailing newline: a JSON string
/// decoded, anything else verbatim. Empty or `null` data is [`RpcError::NotFound`].
pub fn render_value(data: &str) -> Result<String> {
    let trimmed = data.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Err(RpcError::NotFound.into());
    }
    if trimmed.starts_with('"') {
        if let Ok(serde_json::Value::String(text)) = serde_json::from_str(trimmed) {
            return Ok(text);
        }
        // Not valid JSON: strip one pair of quotes, as Micro does.
        if let Some(inner) = trimmed
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            return Ok(inner.to_owned());
        }
    }
    Ok(data.to_owned())
}

/// Builds the Get request, refusing a missing or blank path with Micro's messages.
fn get_request(args: &GetArgs, namespace: &str) -> Result<GetRequest> {
    let Some(path) = args.path.clone() else {
        bail!("Required usage: micro config get key")
    };
    if path.is_empty() {
        bail!("key cannot be blank");
    }
    Ok(GetRequest {
        namespace: namespace.to_owned(),
        path,
        options: Some(Options {
            secret: args.secret,
        }),
    })
}

async fn get(args: GetArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = get_request(&args, session.namespace())?;
    let client = session.client().await?;
    let value = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move { Ok(ConfigClient::new(ch).get(req).await?.into_inner().value) }
        })
        .await?;
    let data = value.map(|v| v.data).unwrap_or_default();
    let mut text = render_value(&data)?;
    text.push('\n');
    output::print(text);
    Ok(())
}

/// Builds the Set request, refusing missing arguments.
fn set_request(args: &SetArgs, namespace: &str) -> Result<SetRequest> {
    let (Some(path), Some(value)) = (args.path.clone(), args.value.as_deref()) else {
        bail!("Required usage: micro config set key val")
    };
    Ok(SetRequest {
        namespace: namespace.to_owned(),
        path,
        value: Some(Value {
            data: parse_value(value)?,
            format: String::new(),
        }),
        options: Some(Options {
            secret: args.secret,
        }),
    })
}

async fn set(args: SetArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = set_request(&args, session.namespace())?;
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { ConfigClient::new(ch).set(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

/// Builds the Delete request; a blank path (the whole document) is refused, as in Micro.
fn delete_request(args: &DelArgs, namespace: &str) -> Result<DeleteRequest> {
    let Some(path) = args.path.clone() else {
        bail!("Required usage: micro config del key")
    };
    if path.is_empty() {
        bail!("key cannot be blank");
    }
    Ok(DeleteRequest {
        namespace: namespace.to_owned(),
        path,
    })
}

async fn del(args: DelArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = delete_request(&args, session.namespace())?;
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { ConfigClient::new(ch).delete(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

async fn rotate_key(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(RotateKeyRequest {});
            async move { ConfigClient::new(ch).rotate_key(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

async fn keys(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let client = session.client().await?;
    let keys = client
        .call(|ch| {
            let req = client.request(KeysRequest {});
            async move { Ok(ConfigClient::new(ch).keys(req).await?.into_inner().keys) }
        })
        .await?;
    let mut table = Table::with_header(&["ID", "ACTIVE", "SECRETS", "KIND"]);
    for k in keys {
        let kind = if k.operator { "operator" } else { "data" };
        let active = if k.active { "yes" } else { "no" };
        table.row(vec![
            k.id,
            active.into(),
            k.secrets.to_string(),
            kind.into(),
        ]);
    }
    output::print(table.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(subcommand)]
        command: ConfigCommand,
    }

    fn parse(args: &[&str]) -> ConfigCommand {
        Harness::try_parse_from(std::iter::once("config").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn values_are_json_first_then_strings() {
        assert_eq!(parse_value("42").unwrap(), "42");
        assert_eq!(parse_value("-1.5").unwrap(), "-1.5");
        assert_eq!(parse_value("true").unwrap(), "true");
        assert_eq!(parse_value("null").unwrap(), "null");
        assert_eq!(parse_value(r#"{"a":1}"#).unwrap(), r#"{"a":1}"#);
        assert_eq!(
            parse_value(r#"{"a": "val1", "b": "val2"}"#).unwrap(),
            r#"{"a":"val1","b":"val2"}"#
        );
        assert_eq!(parse_value(" [1, 2] ").unwrap(), "[1,2]");
        assert_eq!(parse_value(r#""x""#).unwrap(), r#""x""#);
        assert_eq!(parse_value("val1").unwrap(), r#""val1""#);
        assert_eq!(parse_value("Hi there!").unwrap(), r#""Hi there!""#);
        assert_eq!(parse_value("").unwrap(), r#""""#);
        assert_eq!(parse_value(r#"say "hi"\n"#).unwrap(), r#""say \"hi\"\\n""#);
        assert_eq!(parse_value("{not json").unwrap(), r#""{not json""#);
    }

    #[test]
    fn strings_print_decoded_and_the_rest_verbatim() {
        assert_eq!(render_value(r#""hello""#).unwrap(), "hello");
        assert_eq!(render_value(r#""hello\nworld""#).unwrap(), "hello\nworld");
        assert_eq!(render_value(r#""[secret]""#).unwrap(), "[secret]");
        assert_eq!(render_value("42").unwrap(), "42");
        assert_eq!(render_value("true").unwrap(), "true");
        let doc = r#"{"someboolkey":true,"somekey":"hello"}"#;
        assert_eq!(render_value(doc).unwrap(), doc);
        assert_eq!(render_value(r#""bad \q""#).unwrap(), r#"bad \q"#);
    }

    #[test]
    fn null_and_empty_are_not_found() {
        for data in ["null", " null\n", ""] {
            let err = render_value(data).unwrap_err();
            assert_eq!(exit::message(&err), "Not found");
            assert_eq!(exit::exit_code(&err), 1);
        }
    }

    #[test]
    fn get_uses_the_namespace_and_secret_flag() {
        let ConfigCommand::Get(a) = parse(&["get", "-s", "helloworld.hushkey"]) else {
            panic!()
        };
        let req = get_request(&a, "ns1").unwrap();
        assert_eq!(
            (req.namespace.as_str(), req.path.as_str()),
            ("ns1", "helloworld.hushkey")
        );
        assert!(req.options.unwrap().secret);
        let ConfigCommand::Get(a) = parse(&["get", "k"]) else {
            panic!()
        };
        assert!(!get_request(&a, "m").unwrap().options.unwrap().secret);
    }

    #[test]
    fn set_flags_before_positionals_as_in_micro() {
        let ConfigCommand::Set(a) = parse(&["set", "--secret", "a.b", "42"]) else {
            panic!()
        };
        let req = set_request(&a, "micro").unwrap();
        assert_eq!(
            (req.namespace.as_str(), req.path.as_str()),
            ("micro", "a.b")
        );
        assert_eq!(req.value.unwrap().data, "42");
        assert!(req.options.unwrap().secret);

        let ConfigCommand::Set(a) = parse(&["set", "key", "val1"]) else {
            panic!()
        };
        let req = set_request(&a, "m").unwrap();
        assert_eq!(req.value.unwrap().data, r#""val1""#);
        assert!(!req.options.unwrap().secret);

        let ConfigCommand::Set(a) = parse(&["set", "k", "-1"]) else {
            panic!()
        };
        assert_eq!(set_request(&a, "m").unwrap().value.unwrap().data, "-1");
        assert!(Harness::try_parse_from(["config", "set", "k", "v", "extra"]).is_err());
    }

    #[test]
    fn missing_arguments_use_micro_messages() {
        let ConfigCommand::Get(a) = parse(&["get"]) else {
            panic!()
        };
        assert_eq!(
            get_request(&a, "m").unwrap_err().to_string(),
            "Required usage: micro config get key"
        );
        let ConfigCommand::Get(a) = parse(&["get", ""]) else {
            panic!()
        };
        assert_eq!(
            get_request(&a, "m").unwrap_err().to_string(),
            "key cannot be blank"
        );
        for args in [&["set"][..], &["set", "k"][..]] {
            let ConfigCommand::Set(a) = parse(args) else {
                panic!()
            };
            assert_eq!(
                set_request(&a, "m").unwrap_err().to_string(),
                "Required usage: micro config set key val"
            );
        }
        let ConfigCommand::Del(a) = parse(&["del"]) else {
            panic!()
        };
        assert_eq!(
            delete_request(&a, "m").unwrap_err().to_string(),
            "Required usage: micro config del key"
        );
    }

    #[test]
    fn del_and_its_alias() {
        for word in ["del", "delete"] {
            let ConfigCommand::Del(a) = parse(&[word, "helloworld.keywithsubs"]) else {
                panic!()
            };
            let req = delete_request(&a, "ns").unwrap();
            assert_eq!(
                (req.namespace.as_str(), req.path.as_str()),
                ("ns", "helloworld.keywithsubs")
            );
        }
        let ConfigCommand::Unknown(words) = parse(&["frobnicate"]) else {
            panic!()
        };
        assert_eq!(
            unknown_subcommand("config", &words),
            "Unrecognized subcommand for micro config: frobnicate. Please refer to 'micro config --help'"
        );
    }
}
