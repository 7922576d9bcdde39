//! The load flags `micro bench` and `micro-compare drive` share, so both tools are driven by
//! the same words and derive the same limits, renewal pace and lease TTL from them.

use std::time::Duration;

use clap::Args;

use crate::Limits;

/// How much load to offer and how to shape it.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Concurrent closed-loop clients (renewals: most renewals in flight)
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// How long to run
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Stop after this many operations instead (whichever comes first)
    #[arg(long)]
    pub ops: Option<u64>,
    /// Key size in bytes
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Distinct keys written or read
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Reads serve the local replica without a read barrier (etcd: serializable reads)
    #[arg(long)]
    pub stale: bool,
    /// Use the HTTP/JSON gateway instead of gRPC
    #[arg(long)]
    pub http: bool,
    /// Registry instances (etcd: leases) renewing
    #[arg(long, default_value_t = 10_000)]
    pub instances: usize,
    /// Renewal period of each instance or lease
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Process ids of the servers on this machine, to read their CPU and memory from
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
}

impl LoadArgs {
    /// The closed-loop limits: `--clients`, `--duration`, `--ops`.
    pub fn limits(&self) -> Limits {
        Limits {
            clients: self.clients,
            duration: self.duration,
            ops: self.ops,
        }
    }

    /// The TTL a renewal asks for, in seconds: three renewal periods, as Micro's services
    /// re-register every 30 s with a 90 s TTL.
    pub fn lease_ttl_secs(&self) -> i64 {
        i64::try_from(self.interval.as_secs().saturating_mul(3))
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Renewals spread evenly: the gap between two, and how many fit in the run (or `--ops`).
    pub fn renewal_pace(&self) -> (Duration, u64) {
        let every = self.interval.div_f64(self.instances.max(1) as f64);
        let fit = (self.duration.as_secs_f64() / every.as_secs_f64().max(f64::MIN_POSITIVE)) as u64;
        (every, self.ops.unwrap_or(u64::MAX).min(fit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        load: LoadArgs,
    }

    #[test]
    fn renewals_follow_the_interval_and_the_duration() {
        let cmd = Cmd::parse_from([
            "x",
            "--instances",
            "100",
            "--interval",
            "10s",
            "--duration",
            "5s",
        ]);
        let (every, total) = cmd.load.renewal_pace();
        assert_eq!(every, Duration::from_millis(100));
        assert_eq!(total, 50);
        assert_eq!(cmd.load.lease_ttl_secs(), 30);
        let capped =
            Cmd::parse_from(["x", "--instances", "100", "--interval", "10s", "--ops", "7"]);
        assert_eq!(capped.load.renewal_pace().1, 7);
        assert_eq!(capped.load.limits().ops, Some(7));
    }
}
