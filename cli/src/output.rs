//! Writing command output to stdout without panicking when the reader has gone away
//! (`micro store list | head -1` must not print a broken-pipe panic).

use std::io::Write;

/// Writes `bytes` to stdout and flushes; a closed pipe is ignored.
pub fn print(bytes: impl AsRef<[u8]>) {
    let bytes = bytes.as_ref();
    if bytes.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}
