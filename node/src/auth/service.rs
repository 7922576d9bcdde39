//! [`AuthService`]: Micro's `auth.Auth`, `auth.Accounts` and `auth.Rules` on one node. Secrets
//! are hashed and refresh tokens made here, before proposing; reads go behind the read
//! barrier. The tonic impls and the HTTP dispatch share the methods.

use std::sync::Arc;

use micro_proto::auth as pb;
use micro_raft::Cluster;
use micro_state_machine::auth::{
    self, Access, Account, AuthCommand, AuthError, AuthResponse, Resource, Rule, ADMIN_SCOPE,
    DEFAULT_ADMIN_ID, DEFAULT_NAMESPACE, SERVICE, USER,
};
use micro_state_machine::{Command, Response};

use super::secrets::{self, RefreshToken};
use super::{Caller, LoginLimiter, Tokens};
use crate::config_service::SecretCipher;
use crate::error::ApiError;

/// Access-token lifetime when the request asks for none (Micro's provider default).
const DEFAULT_TOKEN_SECS: i64 = 15 * 60;
/// Longest access-token lifetime granted.
const MAX_TOKEN_SECS: i64 = 24 * 60 * 60;
/// The default admin's secret, as in Micro.
const DEFAULT_ADMIN_SECRET: &str = "micro";

/// The auth services of one node.
#[derive(Clone)]
pub struct AuthService {
    cluster: Arc<Cluster>,
    tokens: Arc<Tokens>,
    cipher: SecretCipher,
    limiter: Arc<LoginLimiter>,
    /// `--disable-admin`: never create the default admin account.
    disable_admin: bool,
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::InvalidArgument(m) | AuthError::AlreadyExists(m) | AuthError::Refused(m) => {
            ApiError::BadRequest(m)
        }
        AuthError::NotFound(m) => ApiError::NotFound(m),
        AuthError::Conflict(m) => ApiError::Conflict(m),
        AuthError::Storage(m) => ApiError::Internal(m),
    }
}

fn storage(e: micro_state_machine::ApplyError) -> ApiError {
    ApiError::Internal(format!("reading auth state: {e}"))
}

/// The namespace an auth request acts on: its options, else the caller's.
fn target_namespace(options: Option<&pb::Options>, caller: &Caller) -> Result<String, ApiError> {
    let ns = options
        .map(|o| o.namespace.trim())
        .filter(|ns| !ns.is_empty())
        .unwrap_or(&caller.namespace)
        .to_owned();
    auth::validate_namespace(&ns).map_err(auth_error)?;
    Ok(ns)
}

/// Micro's account shape; the secret is never sent back except by Generate.
fn account_pb(a: &Account) -> pb::Account {
    pb::Account {
        id: a.id.clone(),
        r#type: a.kind.clone(),
        metadata: a.metadata.clone().into_iter().collect(),
        scopes: a.scopes.clone(),
        issuer: a.issuer.clone(),
        secret: String::new(),
        name: a.name.clone(),
    }
}

fn rule_pb(r: &Rule) -> pb::Rule {
    pb::Rule {
        id: r.id.clone(),
        scope: r.scope.clone(),
        resource: Some(pb::Resource {
            name: r.resource.name.clone(),
            r#type: r.resource.kind.clone(),
            endpoint: r.resource.endpoint.clone(),
        }),
        access: match r.access {
            Access::Granted => pb::Access::Granted,
            Access::Denied => pb::Access::Denied,
        } as i32,
        priority: r.priority,
    }
}

fn rule_from_pb(r: pb::Rule) -> Result<Rule, ApiError> {
    if r.id.is_empty() {
        return Err(ApiError::BadRequest("ID required".into()));
    }
    let Some(resource) = r.resource else {
        return Err(ApiError::BadRequest("Resource required".into()));
    };
    let access = match pb::Access::try_from(r.access) {
        Ok(pb::Access::Granted) => Access::Granted,
        Ok(pb::Access::Denied) => Access::Denied,
        _ => return Err(ApiError::BadRequest("Access required".into())),
    };
    let rule = Rule {
        id: r.id,
        scope: r.scope,
        resource: Resource {
            kind: resource.r#type,
            name: resource.name,
            endpoint: resource.endpoint,
        },
        access,
        priority: r.priority,
    };
    auth::validate_rule(&rule).map_err(auth_error)?;
    Ok(rule)
}

fn now_secs() -> i64 {
    i64::try_from(micro_raft::now_ms() / 1000).unwrap_or(i64::MAX)
}

impl AuthService {
    /// The auth services of a node; `disable_admin` stops the default admin being created.
    pub fn new(
        cluster: Arc<Cluster>,
        tokens: Arc<Tokens>,
        cipher: SecretCipher,
        disable_admin: bool,
    ) -> Self {
        AuthService {
            cluster,
            tokens,
            cipher,
            limiter: Arc::new(LoginLimiter::default()),
            disable_admin,
        }
    }

    async fn propose(&self, cmd: AuthCommand) -> Result<(), ApiError> {
        match self.cluster.write(Command::Auth(cmd)).await? {
            Response::Auth(AuthResponse::Done | AuthResponse::AlreadyDone) => Ok(()),
            Response::Auth(AuthResponse::Err(e)) => Err(auth_error(e)),
            other => Err(ApiError::Internal(format!(
                "an auth command produced {other:?}"
            ))),
        }
    }

    /// A linearizable view of the auth state.
    async fn barrier(&self) -> Result<&micro_raft::state_machine::StateReader, ApiError> {
        self.cluster.read_barrier().await?;
        Ok(self.cluster.reader())
    }

    /// Creates Micro's default admin (`admin`/`micro`, scope admin) in namespace `micro` when
    /// it has no user account. Idempotent in the state machine, so racing nodes are harmless.
    async fn ensure_default_admin(&self, ns: &str) -> Result<(), ApiError> {
        if self.disable_admin || ns != DEFAULT_NAMESPACE {
            return Ok(());
        }
        if auth::has_user_account(self.barrier().await?, ns).map_err(storage)? {
            return Ok(());
        }
        let refresh = RefreshToken::generate(&self.cipher);
        let account = Account {
            id: DEFAULT_ADMIN_ID.into(),
            name: DEFAULT_ADMIN_ID.into(),
            kind: USER.into(),
            scopes: vec![ADMIN_SCOPE.into()],
            metadata: Default::default(),
            issuer: ns.into(),
            secret_hash: secrets::hash(DEFAULT_ADMIN_SECRET.into()).await?,
            refresh_digest: refresh.digest,
            refresh_sealed: refresh.sealed,
        };
        self.propose(AuthCommand::EnsureDefaultAdmin { account })
            .await
    }

    /// Auth.Generate: creates an account (admins only); answers its plaintext secret once.
    pub async fn generate(
        &self,
        caller: &Caller,
        req: pb::GenerateRequest,
    ) -> Result<pb::GenerateResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        caller.authorize_admin(&ns)?;
        if req.id.is_empty() {
            return Err(ApiError::BadRequest("ID required".into()));
        }
        let secret = if req.secret.is_empty() {
            secrets::random_secret()
        } else {
            req.secret
        };
        let refresh = RefreshToken::generate(&self.cipher);
        let account = Account {
            name: if req.name.is_empty() {
                req.id.clone()
            } else {
                req.name
            },
            id: req.id,
            kind: if req.r#type.is_empty() {
                USER.into()
            } else {
                req.r#type
            },
            scopes: req.scopes,
            metadata: req.metadata.into_iter().collect(),
            issuer: ns,
            secret_hash: String::new(),
            refresh_digest: refresh.digest,
            refresh_sealed: refresh.sealed,
        };
        // Validate before the (slow) hash so bad input fails fast.
        auth::validate_account(&Account {
            secret_hash: "-".into(),
            ..account.clone()
        })
        .map_err(auth_error)?;
        let account = Account {
            secret_hash: secrets::hash(secret.clone()).await?,
            ..account
        };
        self.propose(AuthCommand::CreateAccount {
            account: account.clone(),
        })
        .await?;
        Ok(pb::GenerateResponse {
            account: Some(pb::Account {
                secret,
                ..account_pb(&account)
            }),
        })
    }

    /// Auth.Inspect: the account a token stands for.
    pub async fn inspect(
        &self,
        _caller: &Caller,
        req: pb::InspectRequest,
    ) -> Result<pb::InspectResponse, ApiError> {
        let claims = self
            .tokens
            .verify_caught_up(&req.token)
            .await?
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(pb::InspectResponse {
            account: Some(pb::Account {
                id: claims.sub,
                r#type: claims.kind,
                metadata: claims.metadata.into_iter().collect(),
                scopes: claims.scopes,
                issuer: claims.iss,
                secret: String::new(),
                name: claims.name,
            }),
        })
    }

    /// Auth.Token: credentials (id or name + secret) or a refresh token → an access token.
    pub async fn token(
        &self,
        caller: &Caller,
        req: pb::TokenRequest,
    ) -> Result<pb::TokenResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        let lifetime = match req.token_expiry {
            s if s <= 0 => DEFAULT_TOKEN_SECS,
            s => s.min(MAX_TOKEN_SECS),
        };
        let account = if !req.refresh_token.is_empty() {
            let digest = secrets::digest(&req.refresh_token);
            auth::account_by_refresh(self.barrier().await?, &digest)
                .map_err(storage)?
                .filter(|a| a.issuer == ns)
                .ok_or_else(|| ApiError::BadRequest("invalid token provided".into()))?
        } else if !req.id.is_empty() && !req.secret.is_empty() {
            self.ensure_default_admin(&ns).await?;
            let account = auth::find_account(self.barrier().await?, &ns, &req.id)
                .map_err(storage)?
                .ok_or_else(|| ApiError::BadRequest("Account not found with this ID".into()))?;
            // Keyed by the account's id, so guessing by id and by name share one budget.
            let throttle_key = format!("{ns}/{}", account.id);
            self.limiter.check(&throttle_key)?;
            if !secrets::verify(req.secret, account.secret_hash.clone()).await? {
                self.limiter.failed(&throttle_key);
                return Err(ApiError::BadRequest("Secret not correct".into()));
            }
            account
        } else {
            return Err(ApiError::BadRequest(
                "Credentials or a refresh token required".into(),
            ));
        };
        let created = now_secs();
        let access_token = self.tokens.issue(&account, created, lifetime).await?;
        let refresh_token = self
            .cipher
            .open(&account.refresh_sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::Internal("the refresh token could not be unsealed".into()))?;
        Ok(pb::TokenResponse {
            token: Some(pb::Token {
                access_token,
                refresh_token,
                created,
                expiry: created.saturating_add(lifetime),
            }),
        })
    }

    /// Accounts.List: the namespace's accounts, without secrets (admins only).
    pub async fn list_accounts(
        &self,
        caller: &Caller,
        req: pb::ListAccountsRequest,
    ) -> Result<pb::ListAccountsResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        caller.authorize_admin(&ns)?;
        self.ensure_default_admin(&ns).await?;
        let accounts = auth::accounts(self.barrier().await?, &ns).map_err(storage)?;
        Ok(pb::ListAccountsResponse {
            accounts: accounts.iter().map(account_pb).collect(),
        })
    }

    /// Accounts.Delete: removes an account by id or name (admins only; not oneself).
    pub async fn delete_account(
        &self,
        caller: &Caller,
        req: pb::DeleteAccountRequest,
    ) -> Result<pb::DeleteAccountResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        let me = caller.authorize_admin(&ns)?;
        if req.id.is_empty() {
            return Err(ApiError::BadRequest("ID required".into()));
        }
        self.propose(AuthCommand::DeleteAccount {
            namespace: ns,
            id: req.id,
            caller: Some((me.iss.clone(), me.sub.clone())),
        })
        .await?;
        Ok(pb::DeleteAccountResponse {})
    }

    /// Accounts.ChangeSecret: the old secret is required unless the caller is an admin of
    /// `micro` or a service account of the namespace. The refresh token is replaced too.
    pub async fn change_secret(
        &self,
        caller: &Caller,
        req: pb::ChangeSecretRequest,
    ) -> Result<pb::ChangeSecretResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        let me = caller.authorize(&ns)?;
        if req.new_secret.is_empty() {
            return Err(ApiError::BadRequest("New secret required".into()));
        }
        let id = if req.id.is_empty() {
            me.sub.clone()
        } else {
            req.id
        };
        let privileged =
            (me.iss == DEFAULT_NAMESPACE && me.is_admin()) || (me.iss == ns && me.kind == SERVICE);
        let account = auth::find_account(self.barrier().await?, &ns, &id)
            .map_err(storage)?
            .ok_or_else(|| ApiError::NotFound("Account not found with this ID".into()))?;
        let expected_hash = if privileged {
            None
        } else {
            let throttle_key = format!("{ns}/{}", account.id);
            self.limiter.check(&throttle_key)?;
            if !secrets::verify(req.old_secret, account.secret_hash.clone()).await? {
                self.limiter.failed(&throttle_key);
                return Err(ApiError::BadRequest("Secret not correct".into()));
            }
            Some(account.secret_hash)
        };
        let refresh = RefreshToken::generate(&self.cipher);
        self.propose(AuthCommand::ChangeSecret {
            namespace: ns,
            id: account.id,
            secret_hash: secrets::hash(req.new_secret).await?,
            refresh_digest: refresh.digest,
            refresh_sealed: refresh.sealed,
            expected_hash,
        })
        .await?;
        Ok(pb::ChangeSecretResponse {})
    }

    /// Rules.Create (admins only).
    pub async fn create_rule(
        &self,
        caller: &Caller,
        req: pb::CreateRequest,
    ) -> Result<pb::CreateResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        caller.authorize_admin(&ns)?;
        let rule = rule_from_pb(
            req.rule
                .ok_or_else(|| ApiError::BadRequest("Rule required".into()))?,
        )?;
        self.propose(AuthCommand::CreateRule {
            namespace: ns,
            rule,
        })
        .await?;
        Ok(pb::CreateResponse {})
    }

    /// Rules.Delete (admins only); an absent id succeeds.
    pub async fn delete_rule(
        &self,
        caller: &Caller,
        req: pb::DeleteRequest,
    ) -> Result<pb::DeleteResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        caller.authorize_admin(&ns)?;
        if req.id.is_empty() {
            return Err(ApiError::BadRequest("ID required".into()));
        }
        self.propose(AuthCommand::DeleteRule {
            namespace: ns,
            id: req.id,
        })
        .await?;
        Ok(pb::DeleteResponse {})
    }

    /// Rules.List (any account of the namespace).
    pub async fn list_rules(
        &self,
        caller: &Caller,
        req: pb::ListRequest,
    ) -> Result<pb::ListResponse, ApiError> {
        let ns = target_namespace(req.options.as_ref(), caller)?;
        caller.authorize(&ns)?;
        let rules = auth::rules(self.barrier().await?, &ns).map_err(storage)?;
        Ok(pb::ListResponse {
            rules: rules.iter().map(rule_pb).collect(),
        })
    }
}

crate::handlers::grpc_service!(pb::auth_server::Auth, AuthService {
    generate => generate(pb::GenerateRequest) -> pb::GenerateResponse;
    inspect => inspect(pb::InspectRequest) -> pb::InspectResponse;
    token => token(pb::TokenRequest) -> pb::TokenResponse;
});

crate::handlers::grpc_service!(pb::accounts_server::Accounts, AuthService {
    list => list_accounts(pb::ListAccountsRequest) -> pb::ListAccountsResponse;
    delete => delete_account(pb::DeleteAccountRequest) -> pb::DeleteAccountResponse;
    change_secret => change_secret(pb::ChangeSecretRequest) -> pb::ChangeSecretResponse;
});

crate::handlers::grpc_service!(pb::rules_server::Rules, AuthService {
    create => create_rule(pb::CreateRequest) -> pb::CreateResponse;
    delete => delete_rule(pb::DeleteRequest) -> pb::DeleteResponse;
    list => list_rules(pb::ListRequest) -> pb::ListResponse;
});

crate::handlers::json_service!(AuthService {
    "Auth.Generate" => generate,
    "Auth.Inspect" => inspect,
    "Auth.Token" => token,
    "Accounts.List" => list_accounts,
    "Accounts.Delete" => delete_account,
    "Accounts.ChangeSecret" => change_secret,
    "Rules.Create" => create_rule,
    "Rules.Delete" => delete_rule,
    "Rules.List" => list_rules,
});
