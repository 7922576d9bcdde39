//! The snapshot codec: every state key-value pair, versioned so old snapshots stay readable.
//!
//! Layout: the magic `MSNP`, a version byte, then the bincode of `Vec<(key, value)>` in key
//! order. A truncated or foreign file fails to decode instead of installing garbage.

use crate::kv::{ApplyError, Pair};

const MAGIC: &[u8; 4] = b"MSNP";
const VERSION: u8 = 1;

/// Encodes pairs (in key order) into snapshot bytes.
pub fn encode(pairs: &[Pair]) -> Result<Vec<u8>, ApplyError> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    bincode::serialize_into(&mut out, pairs)
        .map_err(|e| ApplyError::Corrupt(format!("encode snapshot: {e}")))?;
    Ok(out)
}

/// Decodes snapshot bytes back into pairs.
pub fn decode(bytes: &[u8]) -> Result<Vec<Pair>, ApplyError> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| ApplyError::Corrupt("snapshot: bad magic".into()))?;
    match body.split_first() {
        Some((&VERSION, rest)) => {
            bincode::deserialize(rest).map_err(|e| ApplyError::Corrupt(format!("snapshot: {e}")))
        }
        Some((v, _)) => Err(ApplyError::Corrupt(format!(
            "snapshot: unknown version {v}"
        ))),
        None => Err(ApplyError::Corrupt("snapshot: empty".into())),
    }
}

/// What a snapshot holds, counted by kind: (what, how many), for `micro snapshot inspect`.
/// Kinds with none are listed too, so the table always has the same rows.
pub fn census(pairs: &[Pair]) -> Vec<(&'static str, u64)> {
    const KINDS: &[(&[u8], &str)] = &[
        (b"s/", "store records"),
        (b"t/", "store tables"),
        (b"g/", "config namespaces"),
        (b"u/", "auth accounts"),
        (b"ur/", "auth rules"),
        (b"r/s/", "registry service versions"),
        (b"r/n/", "registry instances"),
        (b"em/", "event topics"),
        (b"e/", "events"),
        (b"eg/", "event consumer groups"),
    ];
    KINDS
        .iter()
        .map(|(prefix, what)| {
            let n = pairs.iter().filter(|(k, _)| k.starts_with(prefix)).count();
            (*what, n as u64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_truncation() {
        let pairs = vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), vec![])];
        let bytes = encode(&pairs).unwrap();
        assert_eq!(decode(&bytes).unwrap(), pairs);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(b"nope").is_err());
    }
}
