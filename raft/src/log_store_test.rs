//! The log's flush must reach the disk itself, not only its volatile write cache.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::flush_once;

/// The sysfs directory of the whole block device holding `path`, if that device has a
/// volatile ("write back") cache; only then does a durable sync show as a device flush.
fn cached_disk_of(path: &Path) -> Option<PathBuf> {
    let dev = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (major(dev), minor(dev));
    let mut sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if sys.join("partition").exists() {
        sys = sys.parent()?.to_path_buf();
    }
    let cache = std::fs::read_to_string(sys.join("queue/write_cache")).ok()?;
    (cache.trim() == "write back").then_some(sys)
}

// glibc's encoding of a dev_t (sys/sysmacros.h).
fn major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Flush requests the device has completed (the 16th field of its `stat`, Linux ≥ 5.5).
fn device_flushes(disk: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(disk.join("stat")).ok()?;
    stat.split_whitespace().nth(15)?.parse().ok()
}

#[test]
fn every_log_flush_flushes_the_device_cache() -> Result<(), Box<dyn std::error::Error>> {
    // /var/tmp as well, for machines whose /tmp is a tmpfs: the point is a real disk.
    let candidates = [std::env::temp_dir(), PathBuf::from("/var/tmp")];
    let Some((dir, disk)) = candidates.iter().find_map(|c| {
        let disk = cached_disk_of(c)?;
        Some((tempfile::tempdir_in(c).ok()?, disk))
    }) else {
        eprintln!("skipped: no temp dir is on a disk with a write-back cache");
        return Ok(());
    };
    let Some(before) = device_flushes(&disk) else {
        eprintln!("skipped: {} has no flush counter", disk.display());
        return Ok(());
    };
    let db = sled::open(dir.path().join("db"))?;
    let log = db.open_tree("log")?;
    const FLUSHES: u64 = 40;
    for i in 0..FLUSHES {
        log.insert(i.to_be_bytes(), vec![7u8; 300])?;
        flush_once(&db, None, 0)?;
    }
    let after = device_flushes(&disk).ok_or("the flush counter went away")?;
    // Other processes can only add flushes; sled's old `sync_file_range` added none.
    assert!(
        after - before >= FLUSHES,
        "{FLUSHES} log flushes made the device flush its cache {} times",
        after - before
    );
    Ok(())
}
