//! etcd's side: a three-member etcd cluster on loopback (Debian's `etcd-server`, 3.4; data
//! on disk, every write fsynced by its WAL) and a client for its gRPC API and its HTTP/JSON
//! gateway.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use micro_tests::ports::free_tcp;
use tonic::transport::Channel;

/// Code generated from `proto/etcd/rpc.proto`.
#[allow(clippy::all, missing_docs, dead_code)]
pub mod pb {
    /// `mvccpb`: key-value records.
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    /// `authpb`: users and roles (referenced by rpc.proto).
    pub mod authpb {
        tonic::include_proto!("authpb");
    }
    /// `etcdserverpb`: the KV, Lease and Maintenance services.
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
}

use pb::etcdserverpb as rpc;
use rpc::kv_client::KvClient;
use rpc::lease_client::LeaseClient;
use rpc::maintenance_client::MaintenanceClient;

/// One etcd member: its ports, data dir and process.
struct Member {
    name: String,
    client: String,
    peer: String,
    data_dir: PathBuf,
    child: Option<Child>,
}

/// Three etcd members started by us; killed when dropped.
pub struct EtcdCluster {
    members: Vec<Member>,
    initial_cluster: String,
}

impl EtcdCluster {
    /// Starts `n` members with data under `dir` and waits until each answers and a leader
    /// exists.
    pub async fn start(n: usize, dir: &Path) -> Result<EtcdCluster> {
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("etcd{i}"),
                client: format!("127.0.0.1:{}", free_tcp()),
                peer: format!("127.0.0.1:{}", free_tcp()),
                data_dir: dir.join(format!("etcd{i}")),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = EtcdCluster {
            members,
            initial_cluster,
        };
        for i in 0..n {
            c.spawn(i)?;
        }
        c.wait_healthy(Duration::from_secs(30)).await?;
        Ok(c)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let m = &mut self.members[i];
        std::fs::create_dir_all(&m.data_dir)?;
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(m.data_dir.with_extension("log"))?;
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .args(["--data-dir", &m.data_dir.display().to_string()])
            .args(["--listen-client-urls", &format!("http://{}", m.client)])
            .args(["--advertise-client-urls", &format!("http://{}", m.client)])
            .args(["--listen-peer-urls", &format!("http://{}", m.peer)])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://{}", m.peer),
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "micro-compare"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting etcd (apt-get install etcd-server)")?;
        m.child = Some(child);
        Ok(())
    }

    /// Client addresses (host:port) of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client.clone()).collect()
    }

    /// Process ids of the running members.
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect()
    }

    /// kill -9 of member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data dir and waits until the cluster is healthy.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.spawn(i)?;
        self.wait_healthy(Duration::from_secs(30)).await
    }

    /// Index of the leader, as the running members report it.
    pub async fn leader(&self) -> Result<usize> {
        let mut ids = Vec::new();
        let mut leader = None;
        for m in &self.members {
            let status = async {
                let ch = channel(&m.client).await?;
                let s = MaintenanceClient::new(ch)
                    .status(rpc::StatusRequest {})
                    .await?
                    .into_inner();
                anyhow::Ok(s)
            };
            match tokio::time::timeout(Duration::from_secs(2), status).await {
                Ok(Ok(s)) => {
                    ids.push(s.header.map(|h| h.member_id));
                    if s.leader != 0 {
                        leader = Some(s.leader);
                    }
                }
                _ => ids.push(None),
            }
        }
        let leader = leader.context("no etcd member knows a leader")?;
        ids.iter()
            .position(|id| *id == Some(leader))
            .context("the etcd leader is not one of ours")
    }

    /// Waits until every running member answers a linearizable read.
    async fn wait_healthy(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        for m in self.members.iter_mut().filter(|m| m.child.is_some()) {
            loop {
                if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    bail!("etcd member {} exited with {status} (see its log)", m.name);
                }
                let probe = async {
                    let mut kv = KvClient::new(channel(&m.client).await?);
                    kv.range(rpc::RangeRequest {
                        key: b"health".to_vec(),
                        ..Default::default()
                    })
                    .await?;
                    anyhow::Ok(())
                };
                if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), probe).await {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("etcd member {} not healthy within {within:?}", m.name);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A gRPC channel to `endpoint` (host:port).
pub async fn channel(endpoint: &str) -> Result<Channel> {
    Ok(Channel::from_shared(format!("http://{endpoint}"))?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?)
}

/// Operations on one etcd member, over gRPC or its HTTP/JSON gateway.
#[derive(Clone)]
pub struct EtcdOp {
    endpoint: String,
    channel: Channel,
    http: Option<reqwest::Client>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl EtcdOp {
    /// Connects to `endpoint`; `http` sends every operation through the JSON gateway.
    pub async fn connect(endpoint: &str, http: Option<reqwest::Client>) -> Result<EtcdOp> {
        Ok(EtcdOp {
            endpoint: endpoint.to_owned(),
            channel: channel(endpoint).await?,
            http,
        })
    }

    /// Writes `value` at `key`, with `lease` when not 0.
    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>, lease: i64) -> Result<()> {
        if let Some(http) = &self.http {
            let body = serde_json::json!({"key": b64(&key), "value": b64(&value), "lease": lease.to_string()});
            return self.post(http, "/v3/kv/put", body).await;
        }
        KvClient::new(self.channel.clone())
            .put(rpc::PutRequest {
                key,
                value,
                lease,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Reads `key`: linearizable, or `serializable` (etcd's stale local read).
    pub async fn get(&self, key: Vec<u8>, serializable: bool) -> Result<()> {
        if let Some(http) = &self.http {
            let body = serde_json::json!({"key": b64(&key), "serializable": serializable});
            return self.post(http, "/v3/kv/range", body).await;
        }
        KvClient::new(self.channel.clone())
            .range(rpc::RangeRequest {
                key,
                serializable,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Grants a lease of `ttl` seconds; returns its id.
    pub async fn grant(&self, ttl: i64) -> Result<i64> {
        let r = LeaseClient::new(self.channel.clone())
            .lease_grant(rpc::LeaseGrantRequest { ttl, id: 0 })
            .await?
            .into_inner();
        if !r.error.is_empty() {
            bail!("lease grant: {}", r.error);
        }
        Ok(r.id)
    }

    /// Renews lease `id` once (one message on a LeaseKeepAlive stream, as a client library
    /// sends it each period).
    pub async fn keep_alive(&self, id: i64) -> Result<()> {
        let mut answers = LeaseClient::new(self.channel.clone())
            .lease_keep_alive(futures::stream::once(async move {
                rpc::LeaseKeepAliveRequest { id }
            }))
            .await?
            .into_inner();
        match answers.message().await? {
            Some(a) if a.ttl > 0 => Ok(()),
            Some(_) => bail!("lease {id} expired"),
            None => bail!("keep-alive stream ended without an answer"),
        }
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: serde_json::Value,
    ) -> Result<()> {
        let resp = http
            .post(format!("http://{}{path}", self.endpoint))
            .json(&body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "{}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}
