//! Read-only registry queries over applied state. Instances whose lease has ended at `now_ms`
//! are left out, and versions without live instances with them.

use super::apply::load_history;
use super::model::{decode, definition_key, definition_prefix, event_key, nodes_prefix};
use super::{Definition, History, NodeRecord, RegistryError, Service, WatchEvent};
use crate::kv::{ApplyError, KvRead};

fn storage(e: ApplyError) -> RegistryError {
    RegistryError::Storage(e.to_string())
}

/// Every live version of `name` in `domain`; [`RegistryError::NotFound`] if there is none.
pub fn get_service(
    kv: &dyn KvRead,
    domain: &str,
    name: &str,
    now_ms: u64,
) -> Result<Vec<Service>, RegistryError> {
    let found = services(kv, domain, Some(name), now_ms)?;
    if found.is_empty() {
        return Err(RegistryError::NotFound);
    }
    Ok(found)
}

/// Every live service version in `domain`, by name then version.
pub fn list_services(
    kv: &dyn KvRead,
    domain: &str,
    now_ms: u64,
) -> Result<Vec<Service>, RegistryError> {
    services(kv, domain, None, now_ms)
}

fn services(
    kv: &dyn KvRead,
    domain: &str,
    name: Option<&str>,
    now_ms: u64,
) -> Result<Vec<Service>, RegistryError> {
    let base = definition_prefix(domain, None);
    let mut out = Vec::new();
    for (k, v) in kv
        .scan_prefix(&definition_prefix(domain, name))
        .map_err(storage)?
    {
        let Some((name, version)) = k
            .get(base.len()..)
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|rest| rest.split_once('\0'))
        else {
            return Err(RegistryError::Storage("corrupt registry key".into()));
        };
        let definition: Definition = decode(&v).map_err(storage)?;
        let nodes: Vec<_> = kv
            .scan_prefix(&nodes_prefix(domain, name, version))
            .map_err(storage)?
            .into_iter()
            .map(|(_, v)| decode::<NodeRecord>(&v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)?
            .into_iter()
            .filter(|r| r.expires_at_ms > now_ms)
            .map(|r| r.instance)
            .collect();
        if !nodes.is_empty() {
            out.push(Service {
                name: name.to_owned(),
                version: version.to_owned(),
                definition,
                nodes,
            });
        }
    }
    Ok(out)
}

/// The history bounds: revisions `oldest..next` are held.
pub fn history(kv: &dyn KvRead) -> Result<History, RegistryError> {
    load_history(kv).map_err(storage)
}

/// Up to `limit` changes after revision `after`, oldest first. Fails with
/// [`RegistryError::Compacted`] if changes after `after` have been dropped already.
pub fn watch_events(
    kv: &dyn KvRead,
    after: u64,
    limit: usize,
) -> Result<Vec<WatchEvent>, RegistryError> {
    let h = history(kv)?;
    if after + 1 < h.oldest {
        return Err(RegistryError::Compacted {
            requested: after,
            oldest: h.oldest,
        });
    }
    let mut out = Vec::new();
    for revision in (after + 1)..h.next {
        if out.len() >= limit {
            break;
        }
        match kv.get(&event_key(revision)).map_err(storage)? {
            Some(b) => out.push(decode(&b).map_err(storage)?),
            None => {
                return Err(RegistryError::Storage(format!(
                    "history lacks revision {revision}"
                )))
            }
        }
    }
    Ok(out)
}

/// The stored definition of a version, live instances or not (a node compares it with a
/// registration to renew without resending it).
pub fn definition(
    kv: &dyn KvRead,
    domain: &str,
    name: &str,
    version: &str,
) -> Result<Option<Definition>, RegistryError> {
    kv.get(&definition_key(domain, name, version))
        .map_err(storage)?
        .map(|b| decode(&b).map_err(storage))
        .transpose()
}
