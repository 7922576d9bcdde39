//! The apply context: the log position and the leader-stamped time of the entry being applied.

use crate::kv::{ApplyError, KvRead, Txn};

/// Key of the last applied time, so the clock never moves backwards across leaders.
const CLOCK_KEY: &[u8] = b"c/clock";

/// Where and when an entry is applied. Apply reads time only from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyContext {
    /// Raft log index of the entry; it becomes the revision of what the entry writes.
    pub index: u64,
    /// Milliseconds since the Unix epoch, stamped by the leader, never decreasing.
    pub time_ms: u64,
}

/// Returns the context for an entry at `index` stamped `time_ms`, advancing the stored clock.
pub(crate) fn advance_clock(
    txn: &mut Txn<'_>,
    index: u64,
    time_ms: u64,
) -> Result<ApplyContext, ApplyError> {
    let last = applied_time_ms(txn)?;
    let time_ms = time_ms.max(last);
    if time_ms != last {
        txn.put(CLOCK_KEY.to_vec(), time_ms.to_be_bytes().to_vec());
    }
    Ok(ApplyContext { index, time_ms })
}

/// Reads the last applied time (0 before any entry); reads use it as a floor for "now".
pub fn applied_time_ms(kv: &dyn KvRead) -> Result<u64, ApplyError> {
    match kv.get(CLOCK_KEY)? {
        Some(b) => Ok(u64::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| ApplyError::Corrupt("clock".into()))?,
        )),
        None => Ok(0),
    }
}
