//! Auth records as the state keeps them, their keys and their validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::config::Secret;

/// Longest account id, name, rule id or scope.
pub const MAX_ID_BYTES: usize = 256;
/// Most scopes on one account.
pub const MAX_SCOPES: usize = 64;
/// Most metadata entries on one account.
pub const MAX_METADATA: usize = 64;
/// Longest metadata key or value.
pub const MAX_METADATA_BYTES: usize = 1024;
/// Longest resource part (type, name or endpoint).
pub const MAX_RESOURCE_BYTES: usize = 512;
/// Longest namespace (as for the config and store services).
pub const MAX_NAMESPACE_BYTES: usize = 256;
/// Longest password hash (a PHC string) or refresh-token digest.
pub const MAX_HASH_BYTES: usize = 512;

/// The account type of people.
pub const USER: &str = "user";
/// The account type of programs.
pub const SERVICE: &str = "service";
/// The scope that makes a user an administrator.
pub const ADMIN_SCOPE: &str = "admin";
/// The scope that makes a service account an administrator.
pub const SERVICE_SCOPE: &str = "service";
/// Rule scope: everyone, with or without an account.
pub const SCOPE_PUBLIC: &str = "";
/// Rule scope: any account issued by the namespace being checked.
pub const SCOPE_ACCOUNT: &str = "*";
/// Rule scope: any account of any namespace.
pub const SCOPE_ANY_NAMESPACE_ACCOUNT: &str = "+";
/// The namespace holding the default admin account.
pub const DEFAULT_NAMESPACE: &str = "micro";
/// Id (and name) of the default admin account.
pub const DEFAULT_ADMIN_ID: &str = "admin";
/// Id of the public rule every namespace starts with.
pub const DEFAULT_RULE_ID: &str = "default";

/// An account. The secret is kept only as an argon2 hash made before proposing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Unique within the namespace.
    pub id: String,
    /// Unique within the namespace; defaults to the id. Login accepts either.
    pub name: String,
    /// `user`, `service` or another word (Micro does not restrict it).
    pub kind: String,
    /// What the account may do, checked by rules and admin checks.
    pub scopes: Vec<String>,
    /// Free-form labels; `created` (unix seconds) is set when the account is created.
    pub metadata: BTreeMap<String, String>,
    /// The namespace that issued the account.
    pub issuer: String,
    /// argon2 PHC string of the secret.
    pub secret_hash: String,
    /// SHA-256 (hex) of the account's refresh token: the index a refresh looks it up by.
    pub refresh_digest: String,
    /// The refresh token sealed under the cluster's config key, so a login can hand it out
    /// again (Micro returns one long-lived refresh token per account) without it ever being
    /// stored in clear.
    pub refresh_sealed: Secret,
}

impl Account {
    /// Whether the account may administer namespaces as Micro's `AuthorizeAdmin` allows:
    /// a user holding `admin`, or a service holding `service`.
    pub fn is_admin(&self) -> bool {
        is_admin(&self.kind, &self.scopes)
    }
}

/// Micro's admin test on an account type and its scopes.
pub fn is_admin(kind: &str, scopes: &[String]) -> bool {
    (kind == USER && scopes.iter().any(|s| s == ADMIN_SCOPE))
        || (kind == SERVICE && scopes.iter().any(|s| s == SERVICE_SCOPE))
}

/// What a rule applies to: `type:name:endpoint`, each part possibly `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// e.g. `service`.
    pub kind: String,
    /// e.g. `store`.
    pub name: String,
    /// e.g. `Store.Read`, or a path (`/foo/*`) for web resources.
    pub endpoint: String,
}

impl Resource {
    /// `service:<name>:<endpoint>`, the resource of one call.
    pub fn service(name: &str, endpoint: &str) -> Resource {
        Resource {
            kind: "service".into(),
            name: name.into(),
            endpoint: endpoint.into(),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.name, self.endpoint)
    }
}

/// Whether a matching rule lets the caller in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Allowed.
    Granted,
    /// Refused.
    Denied,
}

/// An access rule of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique within the namespace.
    pub id: String,
    /// [`SCOPE_PUBLIC`], [`SCOPE_ACCOUNT`], [`SCOPE_ANY_NAMESPACE_ACCOUNT`] or a named scope.
    pub scope: String,
    /// What it covers.
    pub resource: Resource,
    /// What it decides.
    pub access: Access,
    /// Higher is considered first.
    pub priority: i32,
}

impl Rule {
    /// The public rule every namespace starts with: `*:*:*` granted to everyone.
    pub fn default_rule() -> Rule {
        Rule {
            id: DEFAULT_RULE_ID.into(),
            scope: SCOPE_PUBLIC.into(),
            resource: Resource {
                kind: "*".into(),
                name: "*".into(),
                endpoint: "*".into(),
            },
            access: Access::Granted,
            priority: 0,
        }
    }
}

/// The key that signs access tokens, sealed under the cluster's config key before proposing.
pub type SealedKey = Secret;

pub(crate) const ACCOUNT_PREFIX: &[u8] = b"u/";
pub(crate) const NAME_PREFIX: &[u8] = b"un/";
pub(crate) const REFRESH_PREFIX: &[u8] = b"uf/";
pub(crate) const RULE_PREFIX: &[u8] = b"ur/";
pub(crate) const RULES_INITIALIZED_PREFIX: &[u8] = b"ui/";
pub(crate) const SIGNING_KEY: &[u8] = b"uk/signing";

/// `<prefix><namespace>\0<id>`: namespaces and ids never hold NUL, so keys cannot collide and
/// a namespace's records are one prefix scan.
fn scoped_key(prefix: &[u8], namespace: &str, id: &str) -> Vec<u8> {
    let mut key = namespace_prefix(prefix, namespace);
    key.extend_from_slice(id.as_bytes());
    key
}

pub(crate) fn namespace_prefix(prefix: &[u8], namespace: &str) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(namespace.as_bytes());
    key.push(0);
    key
}

pub(crate) fn account_key(namespace: &str, id: &str) -> Vec<u8> {
    scoped_key(ACCOUNT_PREFIX, namespace, id)
}

pub(crate) fn name_key(namespace: &str, name: &str) -> Vec<u8> {
    scoped_key(NAME_PREFIX, namespace, name)
}

pub(crate) fn rule_key(namespace: &str, id: &str) -> Vec<u8> {
    scoped_key(RULE_PREFIX, namespace, id)
}

pub(crate) fn refresh_key(digest: &str) -> Vec<u8> {
    let mut key = REFRESH_PREFIX.to_vec();
    key.extend_from_slice(digest.as_bytes());
    key
}

fn invalid(message: String) -> AuthError {
    AuthError::InvalidArgument(message)
}

/// Checks one identifier-like field: non-empty, bounded, no control characters.
pub fn validate_word(what: &str, value: &str, max: usize) -> Result<(), AuthError> {
    if value.is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(invalid(format!("{what} is longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(())
}

/// Checks a namespace name.
pub fn validate_namespace(namespace: &str) -> Result<(), AuthError> {
    validate_word("namespace", namespace, MAX_NAMESPACE_BYTES)
}

/// Checks an account before it is stored.
pub fn validate_account(account: &Account) -> Result<(), AuthError> {
    validate_namespace(&account.issuer)?;
    validate_word("account id", &account.id, MAX_ID_BYTES)?;
    validate_word("account name", &account.name, MAX_ID_BYTES)?;
    validate_word("account type", &account.kind, MAX_ID_BYTES)?;
    if account.scopes.len() > MAX_SCOPES {
        return Err(invalid(format!("more than {MAX_SCOPES} scopes")));
    }
    for scope in &account.scopes {
        validate_word("scope", scope, MAX_ID_BYTES)?;
    }
    if account.metadata.len() > MAX_METADATA {
        return Err(invalid(format!(
            "more than {MAX_METADATA} metadata entries"
        )));
    }
    for (k, v) in &account.metadata {
        validate_word("metadata key", k, MAX_METADATA_BYTES)?;
        if v.len() > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "metadata value of {k:?} is longer than {MAX_METADATA_BYTES} bytes"
            )));
        }
    }
    validate_word("secret hash", &account.secret_hash, MAX_HASH_BYTES)?;
    validate_word("refresh digest", &account.refresh_digest, MAX_HASH_BYTES)?;
    Ok(())
}

/// Checks a rule before it is stored: Micro's `type:name:endpoint` with no empty part.
pub fn validate_rule(rule: &Rule) -> Result<(), AuthError> {
    validate_word("rule id", &rule.id, MAX_ID_BYTES)?;
    if rule.scope.len() > MAX_ID_BYTES || rule.scope.chars().any(char::is_control) {
        return Err(invalid(format!(
            "rule scope must be at most {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    let r = &rule.resource;
    for (what, part) in [
        ("type", &r.kind),
        ("name", &r.name),
        ("endpoint", &r.endpoint),
    ] {
        if part.is_empty() || part.contains(':') {
            return Err(invalid(
                "Invalid resource, must be in the format type:name:endpoint".into(),
            ));
        }
        validate_word(&format!("resource {what}"), part, MAX_RESOURCE_BYTES)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_namespace_share_a_prefix_that_no_other_namespace_has() {
        let a = account_key("ab", "c");
        let b = account_key("a", "bc");
        assert_ne!(a, b);
        assert!(a.starts_with(&namespace_prefix(ACCOUNT_PREFIX, "ab")));
        assert!(!a.starts_with(&namespace_prefix(ACCOUNT_PREFIX, "a")));
    }

    #[test]
    fn admin_is_user_with_admin_or_service_with_service() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_admin("user", &s(&["admin"])));
        assert!(is_admin("service", &s(&["service"])));
        assert!(!is_admin("service", &s(&["admin"])));
        assert!(!is_admin("user", &s(&["service", "x"])));
    }

    #[test]
    fn rules_need_three_non_empty_parts() {
        let mut rule = Rule::default_rule();
        assert_eq!(validate_rule(&rule), Ok(()));
        rule.resource.name = String::new();
        assert!(validate_rule(&rule).is_err());
        rule.resource.name = "a:b".into();
        assert!(validate_rule(&rule).is_err());
        let mut rule = Rule::default_rule();
        rule.id = "bad\nid".into();
        assert!(validate_rule(&rule).is_err());
    }
}
