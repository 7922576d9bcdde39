//! The auth service's replicated state (Micro's `service/auth`): accounts with argon2 secret
//! hashes, access rules per namespace, the refresh-token index and the sealed key that signs
//! access tokens. Hashing, token minting and sealing happen in `node` before proposing.
//!
//! Keyspace (`<ns>\0<id>` keeps one namespace's records under one prefix):
//! `u/<ns>\0<id>` account, `un/<ns>\0<name>` → id, `uf/<sha256 of refresh token>` →
//! (ns, id), `ur/<ns>\0<id>` rule, `ui/<ns>\0` "this namespace's rules were changed" (until
//! then it has only Micro's implicit public `default` rule), `uk/signing` the signing key.
//!
//! Invariants: an account's id and name are unique in its namespace and both indexes point at
//! it; no rule change leaves a namespace where nobody can log in or admins cannot manage rules
//! ([`LOCKOUT_CHECKS`]).

mod apply;
mod command;
mod model;
mod query;
mod rules;

pub use apply::{apply, lockout, LOCKOUT_CHECKS};
pub use command::{AuthCommand, AuthError, AuthResponse};
pub use model::{
    is_admin, validate_account, validate_namespace, validate_rule, validate_word, Access, Account,
    Resource, Rule, SealedKey, ADMIN_SCOPE, DEFAULT_ADMIN_ID, DEFAULT_NAMESPACE, DEFAULT_RULE_ID,
    MAX_HASH_BYTES, MAX_ID_BYTES, SCOPE_ACCOUNT, SCOPE_ANY_NAMESPACE_ACCOUNT, SCOPE_PUBLIC,
    SERVICE, SERVICE_SCOPE, USER,
};
pub use query::{account_by_refresh, accounts, find_account, has_user_account, rules, signing_key};
pub use rules::{allows, Principal};
