//! `micro`: runs a server node (`micro server`) or talks to one
//! (`micro env|store|config|cluster|auth|login|logout|user …`).
//!
//! Layout: `cmd/` (clap commands, one module per noun), `client/` (dialling with failover, RPC
//! errors, the bearer token), `session` (env, namespace and logged-in user of a command, token
//! refresh), `environments` + `local_config` (the `~/.micro/config.json` state), `tokens` (the
//! `~/.micro/tokens` file), `jwt` (reading token claims), `prompt` (asking for credentials),
//! `atomic_file`, `exit` (errors → printed line + exit code), `table`, `relative_time`, `output`
//! (rendering helpers).
//!
//! Depends on `micro-node` and `micro-proto` only; nothing depends on this crate.

mod atomic_file;
mod client;
mod cmd;
mod environments;
mod exit;
mod jwt;
mod local_config;
mod output;
mod prompt;
mod relative_time;
mod session;
mod table;
mod tokens;

use cmd::root::{self, Parsed};

fn main() {
    let code = match root::parse(std::env::args_os()) {
        Parsed::Exit(code) => code,
        Parsed::Run(cli) => run(*cli),
    };
    std::process::exit(code);
}

/// Runs a parsed command on a tokio runtime and turns its outcome into an exit code.
fn run(cli: root::Cli) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let err = anyhow::Error::new(e).context("cannot start the async runtime");
            exit::report(&err);
            return exit::exit_code(&err);
        }
    };
    match runtime.block_on(root::dispatch(cli)) {
        Ok(()) => 0,
        Err(err) => {
            exit::report(&err);
            exit::exit_code(&err)
        }
    }
}
