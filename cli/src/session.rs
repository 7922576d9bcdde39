//! Who a command acts as: the environment (`-e` or the stored current one), its namespace
//! (`--namespace` > `namespaces.<env>.current` > `micro`), the logged-in account
//! (`<env>.current-user`) and that account's saved token, refreshed shortly before it expires.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use micro_proto::auth::auth_client::AuthClient;
use micro_proto::auth::{InspectRequest, Options, TokenRequest};
use serde_json::Value;

use crate::client::Client;
use crate::environments::{Environment, Environments};
use crate::jwt::Claims;
use crate::local_config::LocalConfig;
use crate::tokens::{self, SavedToken, TokenFile};

/// The namespace of an env that never chose one (Micro's default registry domain).
pub const DEFAULT_NAMESPACE: &str = "micro";
/// A token expiring sooner than this (seconds) is exchanged before use, as Micro's CLI does.
const REFRESH_WITHIN_SECS: i64 = 60;
/// Lifetime asked for a refreshed access token (Micro's CLI asks for 10 minutes).
const REFRESHED_TOKEN_SECS: i64 = 600;

/// The account a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account id (the token's `sub`), which keys the saved token.
    pub id: String,
    /// The account name, or its id when it has none.
    pub name: String,
}

/// The resolved identity of one command.
#[derive(Debug, Clone)]
pub struct Session {
    /// The local state file.
    config_path: PathBuf,
    /// `~/.micro/tokens`; `None` without a home directory, which means "never logged in".
    tokens_path: Option<PathBuf>,
    /// The environment talked to.
    env: Environment,
    /// The namespace requests are made in.
    namespace: String,
    /// `<env>.current-user`: the account id of the last login in this env ("" if none).
    user: String,
}

impl Session {
    /// Resolves the session of a command from the local state file and the global flags.
    pub fn resolve(config_path: &Path, env: Option<&str>, namespace: Option<&str>) -> Result<Self> {
        Self::resolve_with_tokens(config_path, TokenFile::default_path().ok(), env, namespace)
    }

    /// [`Session::resolve`] with an explicit tokens file (tests keep it in a temp dir).
    pub fn resolve_with_tokens(
        config_path: &Path,
        tokens_path: Option<PathBuf>,
        env: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<Self> {
        let env = Environments::open(config_path)?.resolve(env)?;
        let config = LocalConfig::load(config_path)?;
        let stored = config.get_path(&namespace_path(&env.name));
        let namespace = [namespace.map(str::trim).unwrap_or_default(), &stored]
            .into_iter()
            .find(|ns| !ns.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_owned();
        let user = config.get_path(&current_user_path(&env.name));
        Ok(Session {
            config_path: config_path.to_owned(),
            tokens_path,
            env,
            namespace,
            user,
        })
    }

    /// The namespace requests are made in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The environment talked to.
    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// The local state file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// A client for the env that sends no token.
    pub fn anonymous_client(&self) -> Result<Client> {
        Client::new(self.env.addresses()?, &self.namespace)
    }

    /// A client for the env that sends the saved token, refreshed if needed; without a usable
    /// token it sends none and the server decides what an anonymous caller may do.
    pub async fn client(&self) -> Result<Client> {
        let client = self.anonymous_client()?;
        let Some(token) = self.token().await else {
            return Ok(client);
        };
        match client.clone().with_token(&token.access_token) {
            Ok(authorized) => Ok(authorized),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the saved token");
                Ok(client)
            }
        }
    }

    /// The saved token this session uses, with its key: the current user's token for this server
    /// and namespace, else (as Micro does) any account's token for them.
    pub fn saved_token(&self) -> Result<Option<(String, SavedToken)>> {
        let Some(file) = self.token_file()? else {
            return Ok(None);
        };
        let key = self.token_key(&self.user);
        if !self.user.is_empty() {
            if let Some(token) = file.get(&key) {
                return Ok(Some((key, token.clone())));
            }
        }
        let prefix = tokens::key_prefix(&self.env.proxy_address, &self.namespace);
        Ok(file
            .find_prefix(&prefix)
            .map(|(key, token)| (key.to_owned(), token.clone())))
    }

    /// The token to send: the saved one, exchanged for a fresh one (and saved) when it expires
    /// within a minute. If the exchange fails, a token that has not expired yet is still used;
    /// otherwise there is none.
    pub async fn token(&self) -> Option<SavedToken> {
        let (key, saved) = match self.saved_token() {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the saved tokens");
                return None;
            }
        };
        let Some(expiry) = expiry_of(&saved) else {
            return Some(saved);
        };
        let now = now_secs();
        if expiry - now > REFRESH_WITHIN_SECS {
            return Some(saved);
        }
        let still_valid = expiry > now;
        if saved.refresh_token.is_empty() {
            return still_valid.then_some(saved);
        }
        match self.refresh(&saved.refresh_token).await {
            Ok(fresh) => {
                if let Err(e) = self.save_token(&key, fresh.clone()) {
                    tracing::warn!(error = %e, "cannot save the refreshed token");
                }
                Some(fresh)
            }
            Err(e) => {
                tracing::debug!(error = %e, "token refresh failed");
                still_valid.then_some(saved)
            }
        }
    }

    /// Asks the server for a token, signing in with an account id or name and its secret.
    pub async fn sign_in(&self, id: &str, secret: &str) -> Result<SavedToken> {
        self.request_token(TokenRequest {
            id: id.to_owned(),
            secret: secret.to_owned(),
            options: Some(self.options()),
            ..Default::default()
        })
        .await
    }

    /// Tells whose `access_token` it is: from its claims, else by asking the server.
    pub async fn identify(&self, access_token: &str) -> Result<Identity> {
        if let Ok(claims) = Claims::decode(access_token) {
            if !claims.sub.is_empty() {
                return Ok(Identity {
                    id: claims.sub.clone(),
                    name: claims.display_name().to_owned(),
                });
            }
        }
        let client = self.anonymous_client()?.with_token(access_token)?;
        let request = InspectRequest {
            token: access_token.to_owned(),
            options: Some(self.options()),
        };
        let account = client
            .call(|ch| {
                let req = client.request(request.clone());
                async move { Ok(AuthClient::new(ch).inspect(req).await?.into_inner().account) }
            })
            .await?
            .context("the server did not say whose token this is")?;
        let name = if account.name.is_empty() {
            account.id.clone()
        } else {
            account.name
        };
        Ok(Identity {
            id: account.id,
            name,
        })
    }

    /// Saves `token` as `account`'s in this env and namespace, and makes `account` the env's
    /// current user (Micro's `token.Save`).
    pub fn remember(&self, account: &str, token: SavedToken) -> Result<()> {
        self.save_token(&self.token_key(account), token)?;
        let mut config = LocalConfig::load(&self.config_path)?;
        config.set_path(
            &current_user_path(&self.env.name),
            Value::String(account.to_owned()),
        );
        config.save()
    }

    /// Deletes the current user's token for this env and namespace, if saved.
    pub fn forget_current_user(&self) -> Result<()> {
        self.forget(&self.token_key(&self.user))
    }

    /// Deletes the token this session uses (see [`Session::saved_token`]), if any.
    pub fn forget_token_in_use(&self) -> Result<()> {
        match self.saved_token()? {
            Some((key, _)) => self.forget(&key),
            None => Ok(()),
        }
    }

    /// The `options` every auth request carries.
    pub fn options(&self) -> Options {
        Options {
            namespace: self.namespace.clone(),
        }
    }

    /// Exchanges a refresh token for a new access token.
    async fn refresh(&self, refresh_token: &str) -> Result<SavedToken> {
        self.request_token(TokenRequest {
            refresh_token: refresh_token.to_owned(),
            token_expiry: REFRESHED_TOKEN_SECS,
            options: Some(self.options()),
            ..Default::default()
        })
        .await
    }

    /// Runs Auth.Token anonymously.
    async fn request_token(&self, request: TokenRequest) -> Result<SavedToken> {
        let client = self.anonymous_client()?;
        let token = client
            .call(|ch| {
                let req = client.request(request.clone());
                async move { Ok(AuthClient::new(ch).token(req).await?.into_inner().token) }
            })
            .await?
            .context("the server answered without a token")?;
        Ok(SavedToken::from(token))
    }

    /// `micro://<proxy address>/<namespace>/<account>`.
    fn token_key(&self, account: &str) -> String {
        tokens::key(&self.env.proxy_address, &self.namespace, account)
    }

    /// Loads the tokens file; `None` when there is no home directory to keep it in.
    fn token_file(&self) -> Result<Option<TokenFile>> {
        match &self.tokens_path {
            Some(path) => TokenFile::load(path).map(Some),
            None => Ok(None),
        }
    }

    fn save_token(&self, key: &str, token: SavedToken) -> Result<()> {
        let path = self
            .tokens_path
            .as_deref()
            .context("cannot find the home directory to keep tokens in")?;
        let mut file = TokenFile::load(path)?;
        file.set(key, token);
        file.save()
    }

    fn forget(&self, key: &str) -> Result<()> {
        let Some(mut file) = self.token_file()? else {
            return Ok(());
        };
        if file.remove(key) {
            file.save()?;
        }
        Ok(())
    }
}

/// `namespaces.<env>.current`.
pub fn namespace_path(env: &str) -> String {
    format!("namespaces.{env}.current")
}

/// `<env>.current-user`.
pub fn current_user_path(env: &str) -> String {
    format!("{env}.current-user")
}

/// When the token stops being accepted: the server's `expiry`, else the JWT's `exp`; `None` when
/// neither is known (the token is then used as it is and never refreshed).
fn expiry_of(token: &SavedToken) -> Option<i64> {
    if token.expiry > 0 {
        return Some(token.expiry);
    }
    Claims::decode(&token.access_token)
        .ok()
        .and_then(|c| c.expiry())
}

/// Now, in unix seconds.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "session_test.rs"]
mod tests;
