//! The applied mark: the highest applied index known durable, in a file beside the raft database.
//! sled silently drops everything after damage in its file; a node whose state is behind its
//! mark would rejoin having forgotten acknowledged entries, so it refuses to start.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Digits of a mark record; a `u64` has at most 20.
const WIDTH: usize = 20;

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

    /// The mark; `None` when it was never written or its content is not a whole record
    /// (digits and a final newline).
    pub fn read(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.strip_suffix('\n')?.parse().ok()
    }

    /// A writer of this mark, which keeps the file open.
    pub fn writer(&self) -> MarkWriter {
        MarkWriter {
            path: self.path.clone(),
            file: None,
        }
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

/// Records marks in place: one `pwrite` of a fixed-width record over the previous one.
///
/// It replaced truncating and rewriting the file on every raft round: on ext4, closing a file
/// that was truncated to zero starts writing its data back at once (`auto_da_alloc`), so
/// every round on every node cost a disk write besides the log's fsync, and an open and a
/// close. The record is 21 bytes at offset 0, inside one disk sector, so it is replaced whole.
#[derive(Debug)]
pub struct MarkWriter {
    path: PathBuf,
    file: Option<File>,
}

impl MarkWriter {
    /// Records `index`. Not fsynced: it is written only after the flush that made the state at
    /// `index` durable, so the file never runs ahead of the data; a write lost in a power
    /// failure only makes the next check weaker. Marks only grow, and every record has the
    /// same width, so a record always covers the whole previous one.
    pub fn write(&mut self, index: u64) -> io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                File::options()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(&self.path)?,
            ),
        };
        let record = format!("{index:0WIDTH$}\n");
        file.write_all_at(record.as_bytes(), 0)
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
        let mut writer = mark.writer();
        writer.write(42).unwrap();
        assert_eq!(mark.read(), Some(42));
        assert!(mark.check(42).is_ok());
        assert!(mark.check(50).is_ok());
        let refused = mark.check(41).unwrap_err();
        assert!(refused.contains("lost data"), "{refused}");
        std::fs::write(dir.path().join("applied-mark"), "4").unwrap();
        assert_eq!(mark.read(), None, "a torn write is no mark");
    }

    #[test]
    fn records_overwrite_each_other_and_the_older_format_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("applied-mark");
        // What earlier versions wrote: the digits alone.
        std::fs::write(&path, "7\n").unwrap();
        let mark = AppliedMark::new(path.clone());
        assert_eq!(mark.read(), Some(7));
        let mut writer = mark.writer();
        for index in [9, 10, 99_999, u64::MAX] {
            writer.write(index).unwrap();
            assert_eq!(mark.read(), Some(index));
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 21);
        }
        // A writer opened again (a restart) overwrites what is there.
        let mut again = mark.writer();
        again.write(12).unwrap();
        assert_eq!(mark.read(), Some(12));
    }
}
