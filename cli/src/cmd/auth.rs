//! `micro auth`: list, create and delete the accounts and rules of the current namespace
//! (Micro v3's `client/cli/auth`), against the auth service's Accounts, Auth and Rules.
//!
//! Messages are Micro's; server refusals are printed with Micro's prefixes (`Error: <detail>`,
//! `Error creating account: <detail>`). Rendering lives in `auth_output`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use micro_proto::auth::accounts_client::AccountsClient;
use micro_proto::auth::auth_client::AuthClient;
use micro_proto::auth::rules_client::RulesClient;
use micro_proto::auth::{
    Access, CreateRequest, DeleteAccountRequest, DeleteRequest, GenerateRequest,
    ListAccountsRequest, ListRequest, Options, Resource, Rule,
};

use super::auth_output;
use super::root::{unknown_subcommand, Globals};
use crate::client::RpcError;
use crate::output;

/// `micro auth COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// Subcommands of `micro auth`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuthCommand {
    /// List auth resources
    #[command(arg_required_else_help = true)]
    List(ListArgs),
    /// Create an auth resource
    #[command(arg_required_else_help = true)]
    Create(CreateArgs),
    /// Delete an auth resource
    #[command(arg_required_else_help = true)]
    Delete(DeleteArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro auth list COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// What to list.
    #[command(subcommand)]
    pub command: ListCommand,
}

/// Subcommands of `micro auth list`.
#[derive(Debug, Clone, Subcommand)]
pub enum ListCommand {
    /// List auth rules
    Rules,
    /// List auth accounts
    Accounts,
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro auth create COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// What to create.
    #[command(subcommand)]
    pub command: CreateCommand,
}

/// Subcommands of `micro auth create`.
#[derive(Debug, Clone, Subcommand)]
pub enum CreateCommand {
    /// Create an auth rule
    Rule(RuleArgs),
    /// Create an auth account
    Account(AccountArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro auth delete COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// What to delete.
    #[command(subcommand)]
    pub command: DeleteCommand,
}

/// Subcommands of `micro auth delete`.
#[derive(Debug, Clone, Subcommand)]
pub enum DeleteCommand {
    /// Delete an auth rule
    Rule(RuleArgs),
    /// Delete an auth account
    Account(DeleteAccountArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro auth create rule` and `micro auth delete rule` (which ignores the flags, as Micro's).
#[derive(Debug, Clone, Default, Args)]
pub struct RuleArgs {
    /// The rule ID
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// The scope to amend, e.g. 'user' or '*', leave blank to make public
    #[arg(long, default_value = "", hide_default_value = true)]
    pub scope: String,
    /// The resource to amend in the format type:name:endpoint, e.g. service:auth:*
    #[arg(long, default_value = "", hide_default_value = true)]
    pub resource: String,
    /// The access level, must be granted or denied
    #[arg(long, default_value = "granted")]
    pub access: String,
    /// The priority level, default is 0, the greater the number the higher the priority
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
}

/// `micro auth create account`.
#[derive(Debug, Clone, Default, Args)]
pub struct AccountArgs {
    /// The account ID
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// The account secret (password) [default: a random UUID chosen by the server]
    #[arg(long)]
    pub secret: Option<String>,
    /// Comma separated list of scopes to give the account
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// The account type, e.g. user or service [default: user]
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Namespace to use when creating the account [default: the current namespace]
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// `micro auth delete account`.
#[derive(Debug, Clone, Default, Args)]
pub struct DeleteAccountArgs {
    /// The account ID
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
}

/// Runs one `micro auth …` command.
pub async fn run(args: AuthArgs, globals: &Globals) -> Result<()> {
    match args.command {
        AuthCommand::List(a) => match a.command {
            ListCommand::Rules => list_rules(globals).await,
            ListCommand::Accounts => list_accounts(globals).await,
            ListCommand::Unknown(words) => bail!(unknown_subcommand("auth list", &words)),
        },
        AuthCommand::Create(a) => match a.command {
            CreateCommand::Rule(r) => create_rule(r, globals).await,
            CreateCommand::Account(r) => create_account(r, globals).await,
            CreateCommand::Unknown(words) => bail!(unknown_subcommand("auth create", &words)),
        },
        AuthCommand::Delete(a) => match a.command {
            DeleteCommand::Rule(r) => delete_rule(r, globals).await,
            DeleteCommand::Account(r) => delete_account(r, globals).await,
            DeleteCommand::Unknown(words) => bail!(unknown_subcommand("auth delete", &words)),
        },
        AuthCommand::Unknown(words) => bail!(unknown_subcommand("auth", &words)),
    }
}

/// Builds the rule of `auth create rule`, with Micro's checks in Micro's order.
pub fn rule_from_args(args: &RuleArgs) -> Result<Rule> {
    let [id] = args.ids.as_slice() else {
        bail!("Too many arguments, expected one argument: ID");
    };
    let access = match args.access.as_str() {
        "granted" => Access::Granted,
        "denied" => Access::Denied,
        other => bail!("Invalid access: {other}, must be granted or denied"),
    };
    let [kind, name, endpoint] = args.resource.split(':').collect::<Vec<_>>()[..] else {
        bail!("Invalid resource, must be in the format type:name:endpoint");
    };
    Ok(Rule {
        id: id.clone(),
        scope: args.scope.clone(),
        resource: Some(Resource {
            r#type: kind.to_owned(),
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
        }),
        access: access as i32,
        priority: args.priority,
    })
}

/// Builds the request of `auth create account` (the namespace is filled in by the caller).
pub fn generate_request(args: &AccountArgs) -> Result<GenerateRequest> {
    let Some(id) = args.ids.first() else {
        bail!("Missing argument: ID");
    };
    Ok(GenerateRequest {
        id: id.clone(),
        secret: args.secret.clone().unwrap_or_default(),
        scopes: args
            .scopes
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        r#type: args.kind.clone().unwrap_or_default(),
        ..Default::default()
    })
}

/// Puts Micro's `prefix` before a server's refusal; other failures (not logged in, no server)
/// keep their own message and exit code.
fn prefixed(prefix: &str, err: RpcError) -> anyhow::Error {
    match err.server_detail() {
        Some(detail) => anyhow!("{prefix}{detail}"),
        None => err.into(),
    }
}

async fn list_rules(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let client = session.client().await?;
    let request = ListRequest {
        options: Some(session.options()),
    };
    let rules = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move { Ok(RulesClient::new(ch).list(req).await?.into_inner().rules) }
        })
        .await
        .map_err(|e| prefixed("Error listing rules: ", e))?;
    output::print(auth_output::rules_table(&rules));
    Ok(())
}

async fn list_accounts(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let client = session.client().await?;
    let request = ListAccountsRequest {
        options: Some(session.options()),
    };
    let accounts = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move {
                Ok(AccountsClient::new(ch)
                    .list(req)
                    .await?
                    .into_inner()
                    .accounts)
            }
        })
        .await
        .map_err(|e| prefixed("Error listing accounts: ", e))?;
    output::print(auth_output::accounts_table(&accounts));
    Ok(())
}

async fn create_rule(args: RuleArgs, globals: &Globals) -> Result<()> {
    let rule = rule_from_args(&args)?;
    let session = globals.session()?;
    let client = session.client().await?;
    let request = CreateRequest {
        rule: Some(rule),
        options: Some(session.options()),
    };
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { RulesClient::new(ch).create(req).await.map(|_| ()) }
        })
        .await
        .map_err(|e| prefixed("Error: ", e))?;
    output::print("Rule created\n");
    Ok(())
}

async fn delete_rule(args: RuleArgs, globals: &Globals) -> Result<()> {
    let [id] = args.ids.as_slice() else {
        bail!("Expected one argument: ID");
    };
    let session = globals.session()?;
    let client = session.client().await?;
    let request = DeleteRequest {
        id: id.clone(),
        options: Some(session.options()),
    };
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { RulesClient::new(ch).delete(req).await.map(|_| ()) }
        })
        .await
        .map_err(|e| prefixed("Error: ", e))?;
    output::print("Rule deleted\n");
    Ok(())
}

async fn create_account(args: AccountArgs, globals: &Globals) -> Result<()> {
    let mut request = generate_request(&args)?;
    let session = globals.session()?;
    let namespace = match args.namespace.as_deref().map(str::trim) {
        Some(ns) if !ns.is_empty() => ns.to_owned(),
        _ => session.namespace().to_owned(),
    };
    request.options = Some(Options { namespace });
    let client = session.client().await?;
    let account = client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move {
                Ok(AuthClient::new(ch)
                    .generate(req)
                    .await?
                    .into_inner()
                    .account)
            }
        })
        .await
        .map_err(|e| prefixed("Error creating account: ", e))?
        .context("Error creating account: the server returned no account")?;
    output::print(format!(
        "Account created: {}\n",
        auth_output::account_json(&account)?
    ));
    Ok(())
}

async fn delete_account(args: DeleteAccountArgs, globals: &Globals) -> Result<()> {
    let Some(id) = args.ids.first() else {
        bail!("Missing argument: ID");
    };
    let session = globals.session()?;
    let client = session.client().await?;
    let request = DeleteAccountRequest {
        id: id.clone(),
        options: Some(session.options()),
    };
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { AccountsClient::new(ch).delete(req).await.map(|_| ()) }
        })
        .await
        .map_err(|e| prefixed("Error deleting account: ", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_args(ids: &[&str], access: &str, resource: &str) -> RuleArgs {
        RuleArgs {
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            scope: "*".into(),
            resource: resource.into(),
            access: access.into(),
            priority: 3,
        }
    }

    fn message(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn rule_validation_uses_micros_messages_in_micros_order() {
        let too_many = "Too many arguments, expected one argument: ID";
        assert_eq!(message(rule_from_args(&rule_args(&[], "x", ""))), too_many);
        assert_eq!(
            message(rule_from_args(&rule_args(&["a", "b"], "granted", "*:*:*"))),
            too_many
        );
        assert_eq!(
            message(rule_from_args(&rule_args(&["a"], "maybe", ""))),
            "Invalid access: maybe, must be granted or denied"
        );
        for bad in ["", "*:*", "a:b:c:d", "service"] {
            assert_eq!(
                message(rule_from_args(&rule_args(&["a"], "denied", bad))),
                "Invalid resource, must be in the format type:name:endpoint"
            );
        }
        let rule = rule_from_args(&rule_args(&["r1"], "denied", "service:auth:*")).unwrap();
        assert_eq!(rule.id, "r1");
        assert_eq!(rule.scope, "*");
        assert_eq!(rule.access, Access::Denied as i32);
        assert_eq!(rule.priority, 3);
        let res = rule.resource.unwrap();
        assert_eq!(
            (
                res.r#type.as_str(),
                res.name.as_str(),
                res.endpoint.as_str()
            ),
            ("service", "auth", "*")
        );
    }

    #[test]
    fn account_request_from_flags() {
        assert_eq!(
            message(generate_request(&AccountArgs::default())),
            "Missing argument: ID"
        );
        let args = AccountArgs {
            ids: vec!["jane".into()],
            secret: Some("s".into()),
            scopes: vec!["admin".into(), " dev ".into(), "".into()],
            kind: Some("service".into()),
            namespace: None,
        };
        let req = generate_request(&args).unwrap();
        assert_eq!(req.id, "jane");
        assert_eq!(req.secret, "s");
        assert_eq!(req.scopes, ["admin", "dev"]);
        assert_eq!(req.r#type, "service");
    }

    #[test]
    fn server_refusals_get_micros_prefix_but_auth_failures_do_not() {
        let e = prefixed(
            "Error: ",
            RpcError::Rejected("A rule with this ID already exists".into()),
        );
        assert_eq!(e.to_string(), "Error: A rule with this ID already exists");
        assert_eq!(crate::exit::exit_code(&e), 1);
        let e = prefixed("Error: ", RpcError::Unauthorized);
        assert_eq!(crate::exit::exit_code(&e), 2);
        assert_eq!(
            crate::exit::message(&e),
            "Not authorized to perform this request"
        );
    }
}
