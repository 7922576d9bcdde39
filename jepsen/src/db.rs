//! The system under test: N real `micro server` processes formed into one cluster, on loopback
//! or each in its own network namespace (when partitions are wanted).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use micro_proto::cluster::{cluster_client::ClusterClient, MembersRequest};
use micro_tests::{auth, Bearer, NodeAddrs, ServerProcess};

use crate::net::{TestNet, PEER_PORT};

/// How long a node may take to start, join or restart.
const READY: Duration = Duration::from_secs(90);

/// The cluster under test.
pub struct Db {
    /// The nodes, node 0 bootstrapped the cluster.
    pub nodes: Vec<ServerProcess>,
    /// The network namespaces, when nodes run in them.
    pub net: Option<TestNet>,
    /// The default admin's token, which clients and the harness send.
    pub admin: Bearer,
    dir: PathBuf,
}

impl Db {
    /// Starts `n` nodes in `dir`; in namespaces when `net` is given. `extra` flags go to every node.
    pub async fn start(
        n: usize,
        dir: &Path,
        net: Option<TestNet>,
        extra: &[String],
    ) -> anyhow::Result<Db> {
        let mut db = Db {
            nodes: Vec::new(),
            net,
            admin: Bearer::anonymous(),
            dir: dir.to_owned(),
        };
        for i in 0..n {
            let mut flags = extra.to_vec();
            if i > 0 {
                let token = std::fs::read_to_string(dir.join("n0").join("join-token"))
                    .context("reading the join token")?;
                flags.extend([
                    "--join".into(),
                    db.nodes[0].addrs.peer.clone(),
                    "--join-token".into(),
                    token.trim().into(),
                ]);
            }
            let (addrs, wrapper) = match &db.net {
                Some(net) => {
                    let ip = net.ip(i);
                    let addrs = NodeAddrs {
                        api: format!("{ip}:8080"),
                        proxy: format!("{ip}:8081"),
                        peer: format!("{ip}:{PEER_PORT}"),
                        admin: format!("{ip}:8082"),
                    };
                    (addrs, net.exec_prefix(i))
                }
                None => (NodeAddrs::free(), Vec::new()),
            };
            let mut p =
                ServerProcess::spawn_wrapped(addrs, &dir.join(format!("n{i}")), &flags, wrapper)?;
            p.wait_ready(READY)
                .await
                .with_context(|| format!("starting node {i}"))?;
            p.extra = extra.to_vec();
            if i == 0 {
                let token = auth::login(&p.addrs.api, auth::ADMIN.0, auth::ADMIN.1, "micro")
                    .await
                    .context("logging in as the default admin")?;
                db.admin = Bearer::new(&token)?;
            }
            db.nodes.push(p);
        }
        Ok(db)
    }

    /// The data directory of the whole run.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The gRPC proxy address of node `i`.
    pub fn proxy(&self, i: usize) -> String {
        self.nodes[i].addrs.proxy.clone()
    }

    /// The index of the leader as reported by any responsive node, if one is known.
    pub async fn leader(&self) -> Option<usize> {
        for i in 0..self.nodes.len() {
            let Ok(Ok(channel)) = tokio::time::timeout(
                Duration::from_secs(1),
                auth::connect(&self.proxy(i), &self.admin),
            )
            .await
            else {
                continue;
            };
            let mut c = ClusterClient::new(channel);
            let Ok(Ok(m)) =
                tokio::time::timeout(Duration::from_secs(2), c.members(MembersRequest {})).await
            else {
                continue;
            };
            let m = m.into_inner();
            let Some(l) = m
                .members
                .iter()
                .find(|x| x.id == m.leader && x.role == "leader")
            else {
                continue;
            };
            if let Some(idx) = self
                .nodes
                .iter()
                .position(|n| n.addrs.peer == l.peer_address)
            {
                return Some(idx);
            }
        }
        None
    }

    /// Waits for a leader.
    pub async fn await_leader(&self, within: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.leader().await {
                return Ok(l);
            }
            if Instant::now() > deadline {
                bail!("no leader within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Restarts node `i` on its data dir (it must have been killed) and waits until it serves.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].start()?;
        self.nodes[i].wait_ready(READY).await
    }
}
