//! Read-only auth queries, used by the node's handlers and by apply's checks.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::model::{
    account_key, name_key, namespace_prefix, refresh_key, Account, Rule, SealedKey, ACCOUNT_PREFIX,
    RULES_INITIALIZED_PREFIX, RULE_PREFIX, SIGNING_KEY, USER,
};
use crate::kv::{ApplyError, KvRead};

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApplyError> {
    bincode::serialize(value).map_err(|e| ApplyError::Corrupt(format!("encode auth record: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApplyError> {
    bincode::deserialize(bytes).map_err(|e| ApplyError::Corrupt(format!("decode auth record: {e}")))
}

/// The account of `namespace` whose id, or else whose name, is `id_or_name`.
pub fn find_account(
    kv: &dyn KvRead,
    namespace: &str,
    id_or_name: &str,
) -> Result<Option<Account>, ApplyError> {
    if let Some(bytes) = kv.get(&account_key(namespace, id_or_name))? {
        return decode(&bytes).map(Some);
    }
    let Some(id) = kv.get(&name_key(namespace, id_or_name))? else {
        return Ok(None);
    };
    let id = String::from_utf8(id).map_err(|_| ApplyError::Corrupt("account name index".into()))?;
    kv.get(&account_key(namespace, &id))?
        .map(|b| decode(&b))
        .transpose()
}

/// Every account of `namespace`, by id.
pub fn accounts(kv: &dyn KvRead, namespace: &str) -> Result<Vec<Account>, ApplyError> {
    kv.scan_prefix(&namespace_prefix(ACCOUNT_PREFIX, namespace))?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// Whether `namespace` has an account of type `user` (Micro creates its default admin only
/// when it has none).
pub fn has_user_account(kv: &dyn KvRead, namespace: &str) -> Result<bool, ApplyError> {
    Ok(accounts(kv, namespace)?.iter().any(|a| a.kind == USER))
}

/// The account holding the refresh token whose SHA-256 is `digest`.
pub fn account_by_refresh(kv: &dyn KvRead, digest: &str) -> Result<Option<Account>, ApplyError> {
    let Some(owner) = kv.get(&refresh_key(digest))? else {
        return Ok(None);
    };
    let (namespace, id): (String, String) = decode(&owner)?;
    kv.get(&account_key(&namespace, &id))?
        .map(|b| decode(&b))
        .transpose()
}

/// The rules in force in `namespace`, by id. A namespace whose rules were never changed has
/// Micro's public `default` rule.
pub fn rules(kv: &dyn KvRead, namespace: &str) -> Result<Vec<Rule>, ApplyError> {
    if kv
        .get(&namespace_prefix(RULES_INITIALIZED_PREFIX, namespace))?
        .is_none()
    {
        return Ok(vec![Rule::default_rule()]);
    }
    kv.scan_prefix(&namespace_prefix(RULE_PREFIX, namespace))?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// The sealed token-signing key, once some node has proposed one.
pub fn signing_key(kv: &dyn KvRead) -> Result<Option<SealedKey>, ApplyError> {
    kv.get(SIGNING_KEY)?.map(|b| decode(&b)).transpose()
}
