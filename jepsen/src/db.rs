//! The system under test: N real `micro server` processes formed into one cluster, on loopback
//! or each in its own network namespace (when partitions are wanted).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use micro_proto::cluster::{cluster_client::ClusterClient, MembersRequest, RemoveRequest};
use micro_tests::{auth, Bearer, NodeAddrs, ServerProcess};

use crate::disks::Disks;
use crate::net::{TestNet, PEER_PORT};
use crate::skew::Skew;

/// How long a node may take to start, join or restart.
const READY: Duration = Duration::from_secs(90);

/// The cluster under test.
pub struct Db {
    /// The nodes, node 0 bootstrapped the cluster.
    pub nodes: Vec<ServerProcess>,
    /// The network namespaces, when nodes run in them.
    pub net: Option<TestNet>,
    /// The nodes' skewable clocks, when they run under libfaketime.
    pub skew: Option<Skew>,
    /// The nodes' own small disks, when they are to fill up.
    pub disks: Option<Disks>,
    /// The default admin's token, which clients and the harness send.
    pub admin: Bearer,
    /// The cluster's join token, for nodes that (re)join.
    join_token: String,
    dir: PathBuf,
}

impl Db {
    /// Starts `n` nodes in `dir`; in namespaces when `net` is given, under skewable clocks when
    /// `skew` is, each on its own disk when `disks` is. `extra` flags go to every node.
    pub async fn start(
        n: usize,
        dir: &Path,
        net: Option<TestNet>,
        skew: Option<Skew>,
        disks: Option<Disks>,
        extra: &[String],
    ) -> anyhow::Result<Db> {
        let mut db = Db {
            nodes: Vec::new(),
            net,
            skew,
            disks,
            admin: Bearer::anonymous(),
            join_token: String::new(),
            dir: dir.to_owned(),
        };
        for i in 0..n {
            let mut flags = extra.to_vec();
            if i > 0 {
                if db.join_token.is_empty() {
                    let token = std::fs::read_to_string(dir.join("n0").join("join-token"))
                        .context("reading the join token")?;
                    db.join_token = token.trim().to_owned();
                }
                flags.extend(db.join_flags(0));
            }
            let (addrs, mut wrapper) = match &db.net {
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
            if let Some(skew) = &db.skew {
                wrapper.extend(skew.exec_prefix(i));
            }
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

    /// The flags that make a fresh node join through node `via`.
    fn join_flags(&self, via: usize) -> [String; 4] {
        [
            "--join".into(),
            self.nodes[via].addrs.peer.clone(),
            "--join-token".into(),
            self.join_token.clone(),
        ]
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

    /// The raft id of node `i`, as the cluster's member list names it (asking node `via`).
    pub async fn member_id(&self, i: usize, via: usize) -> anyhow::Result<u64> {
        let channel = auth::connect(&self.proxy(via), &self.admin).await?;
        let m = tokio::time::timeout(
            Duration::from_secs(5),
            ClusterClient::new(channel).members(MembersRequest {}),
        )
        .await
        .context("listing members timed out")??
        .into_inner();
        m.members
            .iter()
            .find(|x| x.peer_address == self.nodes[i].addrs.peer)
            .map(|x| x.id)
            .with_context(|| format!("node {i} is not a member"))
    }

    /// Removes node `i` from the cluster (through node `via`), stops it and empties its data
    /// dir: the first half of replacing it.
    pub async fn remove(&mut self, i: usize, via: usize) -> anyhow::Result<()> {
        let id = self.member_id(i, via).await?;
        let channel = auth::connect(&self.proxy(via), &self.admin).await?;
        tokio::time::timeout(
            Duration::from_secs(30),
            ClusterClient::new(channel).remove(RemoveRequest { id, force: false }),
        )
        .await
        .context("removing the member timed out")??;
        self.nodes[i].kill();
        // Empty it rather than remove it: it may be a mount point.
        let data = &self.nodes[i].data_dir;
        for entry in
            std::fs::read_dir(data).with_context(|| format!("emptying {}", data.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("removing {}", path.display()))?;
        }
        Ok(())
    }

    /// Starts node `i` afresh (removed and emptied before) as a new member joining through
    /// node `via`, and waits until it serves: the second half of replacing it.
    pub async fn rejoin(&mut self, i: usize, via: usize) -> anyhow::Result<()> {
        let plain = self.nodes[i].extra.clone();
        let mut flags = plain.clone();
        flags.extend(self.join_flags(via));
        self.nodes[i].extra = flags;
        let started = self.nodes[i].start();
        // Later restarts run on the data dir the join creates.
        self.nodes[i].extra = plain;
        started?;
        self.nodes[i].wait_ready(READY).await
    }

    /// Node `i`'s sled database file.
    pub fn database_file(&self, i: usize) -> PathBuf {
        self.nodes[i].data_dir.join("raft").join("db")
    }

    /// Waits until node `i` serves, or fails with its log when it stops first.
    pub async fn wait_ready(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].wait_ready(READY).await
    }

    /// Restarts node `i` on its data dir (it must have been killed) and waits until it serves.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].start()?;
        self.nodes[i].wait_ready(READY).await
    }
}
