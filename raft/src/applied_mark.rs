//! The applied mark: the highest applied index known durable, in a file beside the raft database.
//! sled silently drops everything after damage in its file; a node whose state is behind its
//! mark would rejoin having forgotten acknowledged entries, so it refuses to start.

use std::io;
use std::path::PathBuf;

/// The mark file of one data dir.
#[derive(Debug, Clone)]
pub struct AppliedMark {
    path: PathBuf,
}

impl AppliedMark {
    /// The mark kept at `path`.
    pub fn new(path: PathBuf) -> Self {
        AppliedMark { path }
    }

    /// The mark; `None` when it was never written or its last write was torn (`write`
    /// truncates first, so a torn write leaves a prefix, which lacks the final newline).
    pub fn read(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.strip_suffix('\n')?.parse().ok()
    }

    /// Records `index`. Not fsynced: it is written only after the flush that made the state at
    /// `index` durable, so the file never runs ahead of the data; a write lost in a power
    /// failure only makes the next check weaker.
    pub fn write(&self, index: u64) -> io::Result<()> {
        std::fs::write(&self.path, format!("{index}\n"))
    }

    /// Refuses a state applied only up to `applied` when the mark says more was durable.
    pub fn check(&self, applied: u64) -> Result<(), String> {
        match self.read() {
            Some(mark) if mark > applied => Err(format!(
                "the data dir lost data: its state is applied up to log index {applied}, but \
                 index {mark} had been stored ({} records it); the files are damaged or an \
                 older copy. This node must not rejoin with it: stop it, remove it from the \
                 cluster (micro cluster remove ID), empty its --data-dir and join it again",
                self.path.display()
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_behind_the_mark_is_refused_and_torn_marks_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mark = AppliedMark::new(dir.path().join("applied-mark"));
        assert_eq!(mark.read(), None);
        assert!(mark.check(0).is_ok());
        mark.write(42).unwrap();
        assert_eq!(mark.read(), Some(42));
        assert!(mark.check(42).is_ok());
        assert!(mark.check(50).is_ok());
        let refused = mark.check(41).unwrap_err();
        assert!(refused.contains("lost data"), "{refused}");
        std::fs::write(dir.path().join("applied-mark"), "4").unwrap();
        assert_eq!(mark.read(), None, "a torn write is no mark");
    }
}
