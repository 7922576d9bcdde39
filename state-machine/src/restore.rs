//! Restoring a backup into a new cluster (`micro server --restore`): the backup's pairs travel
//! through the log in chunks, so every member that ever joins replays or receives them. The
//! first chunk clears what the new cluster holds; keys under [`RESERVED_PREFIX`] belong to the
//! storage layer and are neither cleared nor accepted.

use serde::{Deserialize, Serialize};

use crate::kv::{ApplyError, KvRead, Pair, Txn, RESERVED_PREFIX};

/// One chunk of a backup being restored. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreCommand {
    /// Stage `pairs`; with `clear`, remove every application key first.
    Load {
        /// The first chunk of a restore.
        clear: bool,
        /// Key-value pairs from the backup.
        pairs: Vec<Pair>,
    },
}

/// The outcome of a [`RestoreCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreResponse {
    /// Pairs written.
    Loaded {
        /// How many.
        count: u64,
    },
    /// The chunk was refused; nothing changed.
    Refused(String),
}

/// Applies one restore chunk.
pub fn apply(txn: &mut Txn<'_>, cmd: RestoreCommand) -> Result<RestoreResponse, ApplyError> {
    let RestoreCommand::Load { clear, pairs } = cmd;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k.starts_with(RESERVED_PREFIX)) {
        return Ok(RestoreResponse::Refused(format!(
            "the backup holds a reserved key {:?}",
            String::from_utf8_lossy(k)
        )));
    }
    if clear {
        for (k, _) in txn.scan_prefix(b"")? {
            if !k.starts_with(RESERVED_PREFIX) {
                txn.delete(k);
            }
        }
    }
    let count = pairs.len() as u64;
    for (k, v) in pairs {
        txn.put(k, v);
    }
    Ok(RestoreResponse::Loaded { count })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::kv::in_txn;

    #[test]
    fn the_first_chunk_replaces_everything_but_reserved_keys() {
        let mut map = BTreeMap::from([
            (b"m/applied".to_vec(), b"1".to_vec()),
            (b"s/old".to_vec(), b"x".to_vec()),
        ]);
        let load = |clear, pairs: Vec<Pair>| RestoreCommand::Load { clear, pairs };
        let r = in_txn(&mut map, |t| {
            apply(t, load(true, vec![(b"s/a".to_vec(), b"1".to_vec())]))
        });
        assert_eq!(r.unwrap(), RestoreResponse::Loaded { count: 1 });
        in_txn(&mut map, |t| {
            apply(t, load(false, vec![(b"g/b".to_vec(), b"2".to_vec())]))
        })
        .unwrap();
        let keys: Vec<_> = map.keys().cloned().collect();
        assert_eq!(
            keys,
            vec![b"g/b".to_vec(), b"m/applied".to_vec(), b"s/a".to_vec()]
        );
        let before = map.clone();
        let refused = in_txn(&mut map, |t| {
            apply(t, load(true, vec![(b"m/x".to_vec(), vec![])]))
        });
        assert!(matches!(refused.unwrap(), RestoreResponse::Refused(_)));
        assert_eq!(map, before);
    }
}
