//! NATS JetStream's side of the durable publish: three `nats-server` processes (Debian's,
//! 2.9) clustered on loopback with JetStream on file storage, and a stream of three replicas.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream;
use micro_tests::ports::free_tcp;

/// The stream the benchmark publishes to, and its subject.
pub const STREAM: &str = "bench";
/// Subject of every publish.
pub const SUBJECT: &str = "bench.events";

/// Three JetStream servers started by us; killed when dropped.
pub struct NatsCluster {
    clients: Vec<String>,
    children: Vec<Child>,
}

impl NatsCluster {
    /// Starts `n` servers with their stores under `dir` and waits until JetStream answers.
    pub async fn start(n: usize, dir: &Path) -> Result<NatsCluster> {
        std::fs::create_dir_all(dir)?;
        let clients: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_tcp()))
            .collect();
        let routes: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_tcp()))
            .collect();
        let mut c = NatsCluster {
            clients,
            children: Vec::new(),
        };
        for i in 0..n {
            let store = dir.join(format!("nats{i}"));
            let conf = config(i, (&c.clients[i], &routes[i]), &routes, &store);
            let path: PathBuf = dir.join(format!("nats{i}.conf"));
            std::fs::write(&path, conf)?;
            let log = std::fs::File::create(dir.join(format!("nats{i}.log")))?;
            let child = Command::new("nats-server")
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting nats-server (apt-get install nats-server)")?;
            c.children.push(child);
        }
        c.wait_stream(Duration::from_secs(60)).await?;
        Ok(c)
    }

    /// Client addresses (host:port) of every server.
    pub fn endpoints(&self) -> Vec<String> {
        self.clients.clone()
    }

    /// Process ids of the servers.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Creates the benchmark's stream (file storage, three replicas) once the JetStream
    /// cluster has a meta leader.
    async fn wait_stream(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            for (i, c) in self.children.iter_mut().enumerate() {
                if let Some(status) = c.try_wait()? {
                    bail!("nats-server {i} exited with {status} (see nats{i}.log)");
                }
            }
            let attempt = async {
                let client = async_nats::connect(self.clients[0].as_str()).await?;
                let js = jetstream::new(client);
                js.get_or_create_stream(jetstream::stream::Config {
                    name: STREAM.into(),
                    subjects: vec![format!("{STREAM}.>")],
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.clients.len(),
                    ..Default::default()
                })
                .await?;
                anyhow::Ok(())
            };
            match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if Instant::now() > deadline => {
                    bail!("no JetStream stream within {within:?}: {e:#}")
                }
                _ if Instant::now() > deadline => bail!("no JetStream stream within {within:?}"),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The configuration of server `i`: JetStream on file storage under `store`, clustered with
/// the others over `routes`.
/// `own` holds its client and route addresses.
fn config(i: usize, own: (&str, &str), routes: &[String], store: &Path) -> String {
    let (client, route) = own;
    let routes = routes
        .iter()
        .map(|r| format!("nats://{r}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "server_name: nats{i}\nlisten: {client}\n\
         jetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}}\n\
         cluster {{\n  name: micro-compare\n  listen: {}\n  routes: [{routes}]\n}}\n",
        store.display(),
        route,
    )
}

/// A JetStream publisher connected to one server.
#[derive(Clone)]
pub struct NatsOp {
    js: jetstream::Context,
}

impl NatsOp {
    /// Connects to `endpoint` (host:port).
    pub async fn connect(endpoint: &str) -> Result<NatsOp> {
        let client = async_nats::connect(endpoint)
            .await
            .with_context(|| format!("connecting to nats at {endpoint}"))?;
        Ok(NatsOp {
            js: jetstream::new(client),
        })
    }

    /// Publishes `payload` and waits for the stream's acknowledgement (stored on a quorum).
    pub async fn publish(&self, payload: Vec<u8>) -> Result<()> {
        let ack = self.js.publish(SUBJECT, payload.into()).await?;
        ack.await?;
        Ok(())
    }
}
