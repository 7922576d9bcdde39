//! CPU seconds and resident memory of a process on this machine, read from procfs. The
//! comparison reads its servers' processes this way whatever they are (micro, etcd,
//! nats-server), so every side is measured alike.

/// User plus system CPU seconds of process `pid` (this process when `None`).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = open(pid)?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// Resident memory of process `pid` in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = open(Some(pid))?.status().ok()?;
    Some(status.vmrss? as f64 / 1024.0)
}

fn open(pid: Option<u32>) -> Option<procfs::process::Process> {
    match pid {
        None => procfs::process::Process::myself().ok(),
        Some(p) => procfs::process::Process::new(i32::try_from(p).ok()?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(cpu_seconds(None).is_some());
        assert!(rss_mib(std::process::id()).is_some_and(|m| m > 0.0));
    }
}
