//! Auth commands (what the log carries), responses and errors (what apply answers).

use serde::{Deserialize, Serialize};

use super::model::{Account, Rule, SealedKey};

/// A replicated auth change. Append-only enum. Everything random (salts, refresh tokens, the
/// signing key) is made by the proposing node, so apply stays deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    /// Auth.Generate: stores a new account in its issuer namespace. Refused when the id or the
    /// name is taken there.
    CreateAccount {
        /// The account, secret already hashed. Its `created` metadata is stamped by apply.
        account: Account,
    },
    /// Creates Micro's default admin in its namespace only if that namespace has no `user`
    /// account. Racing nodes both propose it; the second finds the work done.
    EnsureDefaultAdmin {
        /// The default admin, secret already hashed.
        account: Account,
    },
    /// Accounts.Delete: removes an account found by id or name, with its name and refresh
    /// indexes.
    DeleteAccount {
        /// Whose account.
        namespace: String,
        /// Id or name.
        id: String,
        /// The caller's `(issuer, id)`; deleting one's own account is refused.
        caller: Option<(String, String)>,
    },
    /// Accounts.ChangeSecret: replaces the secret hash and the refresh token (which revokes
    /// the old one).
    ChangeSecret {
        /// Whose account.
        namespace: String,
        /// Id or name.
        id: String,
        /// The new secret's hash.
        secret_hash: String,
        /// The new refresh token's digest.
        refresh_digest: String,
        /// The new refresh token, sealed.
        refresh_sealed: SealedKey,
        /// The hash the proposing node checked the old secret against; if the stored hash
        /// differs now, another change won and this one is refused. `None` when the caller
        /// needs no old secret (an admin).
        expected_hash: Option<String>,
    },
    /// Rules.Create. Refused when the id is taken, or when the rule would lock the namespace
    /// out (see [`super::LOCKOUT_CHECKS`]).
    CreateRule {
        /// Whose rules.
        namespace: String,
        /// The rule.
        rule: Rule,
    },
    /// Rules.Delete. An absent id succeeds; a deletion that would lock the namespace out is
    /// refused.
    DeleteRule {
        /// Whose rules.
        namespace: String,
        /// The rule id.
        id: String,
    },
    /// Stores the token-signing key if the cluster has none yet. The first proposal wins.
    InitSigningKey {
        /// The key, sealed under the cluster's config key.
        key: SealedKey,
    },
}

/// The outcome of an [`AuthCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthResponse {
    /// The change was made.
    Done,
    /// An idempotent command found its work already done; nothing changed.
    AlreadyDone,
    /// The command was refused; nothing changed.
    Err(AuthError),
}

/// Why an auth request was refused. Travels inside responses, so replicas agree on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AuthError {
    /// Malformed request (Micro's 400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The id or name is taken (Micro answers 400 with this text).
    #[error("{0}")]
    AlreadyExists(String),
    /// No such account.
    #[error("{0}")]
    NotFound(String),
    /// The change would leave the namespace without a way in, or deletes the caller itself.
    #[error("{0}")]
    Refused(String),
    /// A concurrent change won (the secret changed since it was checked).
    #[error("{0}")]
    Conflict(String),
    /// Local storage could not be read while answering a query (never produced by apply).
    #[error("storage failure: {0}")]
    Storage(String),
}
