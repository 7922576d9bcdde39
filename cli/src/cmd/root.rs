//! The top-level `micro` command: global flags, parsing (with Micro's messages for missing and
//! unknown commands), and dispatch to one module per noun.
//!
//! Global flags go before the command, as in Micro (`micro -e prod store read k`).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use super::auth::{self, AuthArgs};
use super::bench::{self, BenchArgs};
use super::broker::{self, BrokerArgs};
use super::cluster::{self, ClusterArgs};
use super::config::{self, ConfigArgs};
use super::dynamic;
use super::env::{self, EnvArgs};
use super::events::{self, EventsArgs};
use super::login::{self, LoginArgs};
use super::server::{self, ServerArgs};
use super::services;
use super::snapshot::{self, SnapshotArgs};
use super::store::{self, StoreArgs};
use super::user::{self, UserArgs};
use crate::client::Client;
use crate::exit;
use crate::local_config::LocalConfig;
use crate::session::Session;

/// Help layout after the NAME line `micro <cmd> - ` that Micro's tests check for.
const HELP_TEMPLATE: &str =
    "{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}";

/// The `micro` binary's arguments.
#[derive(Debug, Parser)]
#[command(
    name = "micro",
    version,
    about = "A Raft-replicated Micro v3 platform: run a server node, or talk to one"
)]
pub struct Cli {
    /// Local state file [default: ~/.micro/config.json]
    #[arg(
        short = 'c',
        long = "config",
        env = "MICRO_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Environment to use for this command instead of the current one
    #[arg(short = 'e', long = "env", env = "MICRO_ENV", value_name = "NAME")]
    pub env: Option<String>,
    /// Namespace for this command [default: the env's current one (`micro user namespace`),
    /// else micro]
    #[arg(long, env = "MICRO_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands, sorted by name in help as Micro does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage authentication, accounts and rules
    #[command(arg_required_else_help = true)]
    Auth(AuthArgs),
    /// Measure a running cluster: throughput, latency percentiles, CPU
    Bench(BenchArgs),
    /// Publish messages to a topic or subscribe to one
    #[command(arg_required_else_help = true)]
    Broker(BrokerArgs),
    /// Cluster administration (members)
    #[command(arg_required_else_help = true)]
    Cluster(ClusterArgs),
    /// Manage configuration values
    #[command(arg_required_else_help = true)]
    Config(ConfigArgs),
    /// Manage environments (named server address lists)
    Env(EnvArgs),
    /// Publish, consume and read events of the durable per-topic event logs
    #[command(arg_required_else_help = true)]
    Events(EventsArgs),
    /// Interactive login flow.
    Login(LoginArgs),
    /// Logout.
    Logout,
    /// Run a server node
    Server(ServerArgs),
    /// List the services of the current namespace
    Services,
    /// Save or inspect a snapshot of the whole cluster state
    #[command(arg_required_else_help = true)]
    Snapshot(SnapshotArgs),
    /// Read, write, list and delete records of the store
    #[command(arg_required_else_help = true)]
    Store(StoreArgs),
    /// Print the current logged in user
    User(UserArgs),
    /// Any other word names a registered service: `micro SERVICE [HANDLER] ENDPOINT --flags`.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// What the client commands need from the global flags.
#[derive(Debug, Clone)]
pub struct Globals {
    /// The local state file.
    pub config_path: PathBuf,
    /// `-e`: an env overriding the current one.
    pub env: Option<String>,
    /// `--namespace`: overrides the env's current namespace.
    pub namespace: Option<String>,
}

impl Globals {
    /// Resolves the env, namespace and logged-in user of this command.
    pub fn session(&self) -> Result<Session> {
        Session::resolve(
            &self.config_path,
            self.env.as_deref(),
            self.namespace.as_deref(),
        )
    }

    /// Builds a client for the env that sends the saved token (refreshed if it is about to
    /// expire) as `authorization: Bearer …`.
    pub async fn client(&self) -> Result<Client> {
        self.session()?.client().await
    }
}

/// The outcome of parsing: a command to run, or an exit code after help/usage was printed.
#[derive(Debug)]
pub enum Parsed {
    /// Run this.
    Run(Box<Cli>),
    /// Exit with this code; output was already written.
    Exit(i32),
}

/// The clap command with Micro's help layout (`micro store read - …`) on every subcommand.
pub fn command() -> clap::Command {
    fn template(cmd: clap::Command, parent: &str) -> clap::Command {
        let path = match parent {
            "" => cmd.get_name().to_owned(),
            p => format!("{p} {}", cmd.get_name()),
        };
        let layout = format!("{path} - {HELP_TEMPLATE}");
        cmd.help_template(layout)
            .mut_subcommands(|sub| template(sub, &path))
    }
    template(Cli::command(), "")
}

/// Parses `args`, printing help (exit 0) or a one-line usage error (exit 2) itself.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let error = match command().try_get_matches_from(args) {
        Ok(matches) => match Cli::from_arg_matches(&matches) {
            Ok(cli) => return Parsed::Run(Box::new(cli)),
            Err(e) => e,
        },
        Err(e) => e,
    };
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            crate::output::print(error.render().to_string());
            Parsed::Exit(0)
        }
        _ => {
            eprintln!("{}", usage_line(&error));
            Parsed::Exit(exit::USAGE)
        }
    }
}

/// The first line of clap's error, e.g. `error: unexpected argument '--x' found`.
fn usage_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid usage")
        .to_owned()
}

/// Micro's message for an unknown subcommand of a group.
pub fn unknown_subcommand(group: &str, words: &[String]) -> String {
    let word = words.first().map(String::as_str).unwrap_or_default();
    format!(
        "Unrecognized subcommand for micro {group}: {word}. Please refer to 'micro {group} --help'"
    )
}

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        bail!("No command provided to micro. Please refer to 'micro --help'");
    };
    let config_path = match cli.config {
        Some(path) => path,
        None if matches!(command, Command::Server(_)) => PathBuf::new(),
        None => LocalConfig::default_path()?,
    };
    let globals = Globals {
        config_path,
        env: cli.env,
        namespace: cli.namespace,
    };
    match command {
        Command::Server(args) => server::run(args).await,
        Command::Env(args) => env::run(args, &globals.config_path),
        Command::Store(args) => store::run(args, &globals).await,
        Command::Cluster(args) => cluster::run(args, &globals).await,
        Command::Config(args) => config::run(args, &globals).await,
        Command::Auth(args) => auth::run(args, &globals).await,
        Command::Broker(args) => broker::run(args, &globals).await,
        Command::Login(args) => login::login(args, &globals).await,
        Command::Logout => login::logout(&globals),
        Command::User(args) => user::run(args, &globals).await,
        Command::Services => services::run(&globals).await,
        Command::Bench(args) => bench::run(args, &globals).await,
        Command::Snapshot(args) => snapshot::run(args, &globals).await,
        Command::Events(args) => events::run(args, &globals).await,
        Command::Unknown(words) => dynamic::run(words, &globals).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        match parse(std::iter::once("micro").chain(args.iter().copied())) {
            Parsed::Run(cli) => *cli,
            Parsed::Exit(code) => panic!("exited {code}"),
        }
    }

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn global_flags_before_the_command() {
        let c = cli(&[
            "-c",
            "/tmp/x.json",
            "-e",
            "prod",
            "--namespace",
            "ns",
            "store",
            "read",
            "k",
        ]);
        assert_eq!(c.config, Some(PathBuf::from("/tmp/x.json")));
        assert_eq!(c.env.as_deref(), Some("prod"));
        assert_eq!(c.namespace.as_deref(), Some("ns"));
        assert!(matches!(c.command, Some(Command::Store(_))));
    }

    #[test]
    fn namespace_flags_of_the_cli_and_of_create_account_are_distinct() {
        let c = cli(&["auth", "create", "account", "--namespace", "random", "x"]);
        assert_eq!(c.namespace, None);
        let Some(Command::Auth(auth)) = c.command else {
            panic!()
        };
        let auth::AuthCommand::Create(create) = auth.command else {
            panic!()
        };
        let auth::CreateCommand::Account(account) = create.command else {
            panic!()
        };
        assert_eq!(account.namespace.as_deref(), Some("random"));
        assert_eq!(account.ids, ["x"]);
        let c = cli(&["--namespace", "ns", "user"]);
        assert_eq!(c.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn unknown_and_missing_commands_parse_for_micro_messages() {
        assert!(cli(&[]).command.is_none());
        let Some(Command::Unknown(words)) = cli(&["asdasd", "x"]).command else {
            panic!()
        };
        assert_eq!(words, ["asdasd", "x"]);
    }

    #[tokio::test]
    async fn dispatch_messages() {
        let err = dispatch(cli(&[])).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "No command provided to micro. Please refer to 'micro --help'"
        );
        // Unknown words are looked up in a server's registry: `cli_basics` covers them.
    }

    #[test]
    fn help_and_usage_errors_exit_without_running() {
        assert!(matches!(parse(["micro", "--help"]), Parsed::Exit(0)));
        assert!(matches!(
            parse(["micro", "store", "--help"]),
            Parsed::Exit(0)
        ));
        assert!(matches!(
            parse(["micro", "store", "read", "--bogus"]),
            Parsed::Exit(2)
        ));
        assert!(matches!(
            parse(["micro", "store", "read", "-l", "x"]),
            Parsed::Exit(2)
        ));
        assert!(matches!(parse(["micro", "config"]), Parsed::Exit(0)));
        let c = cli(&[
            "--namespace",
            "ns",
            "config",
            "set",
            "--secret",
            "a.b",
            "42",
        ]);
        assert!(matches!(c.command, Some(Command::Config(_))));
    }

    #[test]
    fn help_starts_with_micro_name_line() {
        let mut cmd = command();
        cmd.build();
        let store = cmd.find_subcommand_mut("store").unwrap();
        let help = store.render_help().to_string();
        assert!(help.starts_with("micro store - Read, write"), "{help}");
        let read = store
            .find_subcommand_mut("read")
            .unwrap()
            .render_help()
            .to_string();
        assert!(
            read.starts_with("micro store read - Read a record"),
            "{read}"
        );
        let config = cmd.find_subcommand_mut("config").unwrap();
        let get = config
            .find_subcommand_mut("get")
            .unwrap()
            .render_help()
            .to_string();
        assert!(get.starts_with("micro config get - Get a value"), "{get}");
    }
}
