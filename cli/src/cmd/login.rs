//! `micro login` and `micro logout` (Micro v3's `client/cli/auth/login.go`): trade an account id
//! or name and its secret for a token saved in `~/.micro/tokens`, or forget that token.

use anyhow::Result;
use clap::Args;

use super::root::Globals;
use crate::{output, prompt};

/// `micro login`.
#[derive(Debug, Clone, Default, Args)]
pub struct LoginArgs {
    /// Username to use for login (account ID or name)
    #[arg(long, visible_alias = "email", value_name = "USERNAME")]
    pub username: Option<String>,
    /// Password to use for login. If not provided, will be asked for during login. Useful for
    /// automated scripts
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
}

/// Asks for what is missing, signs in, saves the token as the env's current user's.
pub async fn login(args: LoginArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let username = match non_empty(args.username) {
        Some(username) => username,
        None => prompt::line("Enter username: ")?,
    };
    // As Micro does: a failed login leaves the user logged out rather than as someone else.
    session.forget_current_user()?;
    let password = match non_empty(args.password) {
        Some(password) => password,
        None => prompt::password("Enter password: ")?,
    };
    let token = session.sign_in(&username, &password).await?;
    // The token is saved under the account id even when the user typed the account's name.
    let who = session.identify(&token.access_token).await?;
    session.remember(&who.id, token)?;
    output::print("Successfully logged in.\n");
    Ok(())
}

/// Forgets the token of the current env, namespace and user. Prints nothing.
pub fn logout(globals: &Globals) -> Result<()> {
    globals.session()?.forget_token_in_use()
}

/// A flag given as `--x ""` counts as not given, as in Micro.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
