//! The ordered key-value storage that apply runs against.
//!
//! `raft` implements [`KvRead`] over sled; tests use a `BTreeMap`. Apply never writes through:
//! it fills a [`Txn`] whose changes the storage layer commits atomically together with the
//! last-applied log id, so a crash leaves either all of an entry's effects or none.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A fatal failure while applying: storage could not be read, or what it holds is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The storage layer failed to read.
    #[error("storage read failed: {0}")]
    Storage(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt state: {0}")]
    Corrupt(String),
}

/// Keys under this prefix belong to the storage layer (applied log id, membership); apply
/// never writes them and snapshots and backups leave them out.
pub const RESERVED_PREFIX: &[u8] = b"m/";

/// One key-value pair.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Read access to ordered state.
pub trait KvRead {
    /// Returns the value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError>;
    /// Returns every pair whose key starts with `prefix`, in ascending key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, ApplyError>;

    /// Returns at most `limit` pairs with `start <= key < end`, in ascending key order.
    ///
    /// The default filters a prefix scan of the two bounds' common prefix, which is correct
    /// but reads the whole prefix; storage backends override it with a real range scan, so
    /// paging through a long event log costs what a page holds.
    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, ApplyError> {
        let common = start.iter().zip(end).take_while(|(a, b)| a == b).count();
        Ok(self
            .scan_prefix(&start[..common])?
            .into_iter()
            .filter(|(k, _)| k.as_slice() >= start && k.as_slice() < end)
            .take(limit)
            .collect())
    }

    /// Returns the pair with the greatest key `k` such that `start <= k < end`.
    ///
    /// The default filters a prefix scan, like [`KvRead::scan_range`]; storage backends
    /// override it with a reverse seek.
    fn last_before(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, ApplyError> {
        Ok(self.scan_range(start, end, usize::MAX)?.pop())
    }
}

impl KvRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        Ok(BTreeMap::get(self, key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, ApplyError> {
        Ok(self
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, ApplyError> {
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn last_before(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, ApplyError> {
        if start >= end {
            return Ok(None);
        }
        Ok(self
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }
}

/// Pending changes over a read-only base; reads see the changes made so far.
pub struct Txn<'a> {
    base: &'a dyn KvRead,
    /// `None` marks a deletion.
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    /// Starts an empty transaction over `base`.
    pub fn new(base: &'a dyn KvRead) -> Self {
        Txn {
            base,
            changes: BTreeMap::new(),
        }
    }

    /// Stages `key = value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }

    /// Stages the removal of `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.changes.insert(key, None);
    }

    /// Consumes the transaction, returning the staged changes in key order.
    pub fn into_changes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.changes
    }
}

impl KvRead for Txn<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, ApplyError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix)?.into_iter().collect();
        let staged = self
            .changes
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        for (k, v) in staged {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, ApplyError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let staged: Vec<_> = self
            .changes
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .collect();
        // Each staged deletion hides at most one base pair, so this many base pairs are
        // enough to fill `limit` after merging.
        let deletions = staged.iter().filter(|(_, v)| v.is_none()).count();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
            .base
            .scan_range(start, end, limit.saturating_add(deletions))?
            .into_iter()
            .collect();
        for (k, v) in staged {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    fn last_before(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, ApplyError> {
        if start >= end {
            return Ok(None);
        }
        let staged = self
            .changes
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .rev()
            .find_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())));
        // The base's last pair unless a staged deletion hides it; then look below it.
        let mut bound = end.to_vec();
        let base = loop {
            match self.base.last_before(start, &bound)? {
                Some((k, _)) if matches!(self.changes.get(&k), Some(None)) => bound = k,
                other => break other,
            }
        };
        Ok(match (staged, base) {
            (Some(s), Some(b)) if b.0 > s.0 => Some(b),
            (Some(s), _) => Some(s),
            (None, Some((k, v))) => {
                let staged_value = self.changes.get(&k).and_then(|v| v.clone());
                Some((k, staged_value.unwrap_or(v)))
            }
            (None, None) => None,
        })
    }
}

/// Applies staged changes to a `BTreeMap` (the in-memory backend used by tests and models).
pub fn commit_to_map(
    map: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) {
    for (k, v) in changes {
        match v {
            Some(v) => map.insert(k, v),
            None => map.remove(&k),
        };
    }
}

/// Runs `f` in a transaction over `map` and commits what it staged (for unit tests).
#[cfg(test)]
pub(crate) fn in_txn<T>(
    map: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    f: impl FnOnce(&mut Txn<'_>) -> T,
) -> T {
    let mut txn = Txn::new(map);
    let out = f(&mut txn);
    let changes = txn.into_changes();
    commit_to_map(map, changes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_reads_its_own_writes_and_deletes() {
        let mut base = BTreeMap::new();
        base.insert(b"a/1".to_vec(), b"x".to_vec());
        base.insert(b"a/2".to_vec(), b"y".to_vec());
        let mut txn = Txn::new(&base);
        txn.delete(b"a/1".to_vec());
        txn.put(b"a/3".to_vec(), b"z".to_vec());
        assert_eq!(txn.get(b"a/1").unwrap(), None);
        let keys: Vec<_> = txn
            .scan_prefix(b"a/")
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
    }

    #[test]
    fn range_scans_merge_staged_changes_and_respect_limits() {
        let mut base = BTreeMap::new();
        for k in [b"r/1", b"r/2", b"r/3", b"r/5"] {
            base.insert(k.to_vec(), b"b".to_vec());
        }
        let mut txn = Txn::new(&base);
        txn.delete(b"r/1".to_vec());
        txn.delete(b"r/2".to_vec());
        txn.put(b"r/4".to_vec(), b"t".to_vec());
        let keys = |pairs: Vec<Pair>| pairs.into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(
            keys(txn.scan_range(b"r/", b"r/9", 2).unwrap()),
            vec![b"r/3".to_vec(), b"r/4".to_vec()]
        );
        assert_eq!(
            keys(txn.scan_range(b"r/3", b"r/5", 10).unwrap()),
            vec![b"r/3".to_vec(), b"r/4".to_vec()]
        );
        assert!(txn.scan_range(b"r/5", b"r/1", 10).unwrap().is_empty());
        // The default implementation (a filtered prefix scan) agrees with the override.
        struct Plain<'a>(&'a BTreeMap<Vec<u8>, Vec<u8>>);
        impl KvRead for Plain<'_> {
            fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
                KvRead::get(self.0, key)
            }
            fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, ApplyError> {
                KvRead::scan_prefix(self.0, prefix)
            }
        }
        assert_eq!(
            Plain(&base).scan_range(b"r/2", b"r/5", 10).unwrap(),
            base.scan_range(b"r/2", b"r/5", 10).unwrap()
        );
        // Reverse seeks see staged writes and skip staged deletions.
        let last = |kv: &dyn KvRead, end: &[u8]| kv.last_before(b"r/", end).unwrap().map(|p| p.0);
        assert_eq!(last(&txn, b"r/9"), Some(b"r/5".to_vec()));
        assert_eq!(last(&txn, b"r/5"), Some(b"r/4".to_vec()));
        assert_eq!(last(&txn, b"r/3"), None);
        assert_eq!(last(&Plain(&base), b"r/5"), Some(b"r/3".to_vec()));
        assert_eq!(last(&base, b"r/5"), Some(b"r/3".to_vec()));
        txn.put(b"r/3".to_vec(), b"new".to_vec());
        assert_eq!(
            txn.last_before(b"r/", b"r/4").unwrap(),
            Some((b"r/3".to_vec(), b"new".to_vec()))
        );
    }
}
