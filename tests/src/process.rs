//! One `micro server` process with its own ports and data dir.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::binary::micro_bin;
use crate::ports::{free_tcp, free_udp};

/// The loopback addresses of one node.
#[derive(Debug, Clone)]
pub struct NodeAddrs {
    /// HTTP gateway.
    pub api: String,
    /// gRPC proxy.
    pub proxy: String,
    /// QUIC peer.
    pub peer: String,
    /// Health, readiness and metrics.
    pub admin: String,
}

impl NodeAddrs {
    /// Fresh free ports on 127.0.0.1.
    pub fn free() -> Self {
        NodeAddrs {
            api: format!("127.0.0.1:{}", free_tcp()),
            proxy: format!("127.0.0.1:{}", free_tcp()),
            peer: format!("127.0.0.1:{}", free_udp()),
            admin: format!("127.0.0.1:{}", free_tcp()),
        }
    }
}

/// A running (or stopped) `micro server`. Killed when dropped.
pub struct ServerProcess {
    /// Its addresses.
    pub addrs: NodeAddrs,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Extra flags it was started with (kept for restarts).
    pub extra: Vec<String>,
    /// A command prefix, e.g. `ip netns exec NS` to run the node in its own network namespace.
    pub wrapper: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts a server on `addrs` with `data_dir` and extra flags; does not wait for readiness.
    pub fn spawn(addrs: NodeAddrs, data_dir: &Path, extra: &[String]) -> anyhow::Result<Self> {
        Self::spawn_wrapped(addrs, data_dir, extra, Vec::new())
    }

    /// Like [`ServerProcess::spawn`], run through `wrapper` (an exec-style prefix command).
    pub fn spawn_wrapped(
        addrs: NodeAddrs,
        data_dir: &Path,
        extra: &[String],
        wrapper: Vec<String>,
    ) -> anyhow::Result<Self> {
        let mut p = ServerProcess {
            addrs,
            data_dir: data_dir.to_owned(),
            extra: extra.to_vec(),
            wrapper,
            child: None,
            log: data_dir.with_extension("log"),
        };
        p.start()?;
        Ok(p)
    }

    /// (Re)starts the process on the same data dir and ports.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("opening the server log")?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(micro_bin());
                c
            }
            None => Command::new(micro_bin()),
        };
        let child = cmd
            .arg("server")
            .args(["--data-dir", &self.data_dir.display().to_string()])
            .args(["--api-address", &self.addrs.api])
            .args(["--proxy-address", &self.addrs.proxy])
            .args(["--peer-address", &self.addrs.peer])
            .args(["--admin-address", &self.addrs.admin])
            .args(&self.extra)
            .env(
                "RUST_LOG",
                std::env::var("MICRO_TEST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning micro server")?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the gateway answers `GET /`, or fails with the server log.
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        let url = format!("http://{}/", self.addrs.api);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "micro server exited with {status}; log:\n{}",
                        self.log_text()
                    );
                }
            }
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "micro server at {} not ready in {within:?}; log:\n{}",
                    self.addrs.api,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the process to exit on its own and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> anyhow::Result<Option<i32>> {
        let deadline = Instant::now() + within;
        let Some(child) = self.child.as_mut() else {
            bail!("not running")
        };
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                bail!("server still running after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for a graceful exit; returns the exit code.
    pub fn terminate(&mut self, within: Duration) -> anyhow::Result<Option<i32>> {
        self.signal("TERM")?;
        self.wait_exit(within)
    }

    /// SIGSTOP: the process freezes with its sockets open, as a stalled machine would.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("STOP")
    }

    /// SIGCONT after [`ServerProcess::pause`].
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> anyhow::Result<()> {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .args([&format!("-{name}"), &c.id().to_string()])
                .status()?;
            if !status.success() {
                bail!("kill -{name} failed");
            }
        }
        Ok(())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the log contains `needle` within `within`: a node serves before it has logged
    /// its start-up line, so readiness alone does not mean the line is there yet.
    pub async fn log_shows(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
