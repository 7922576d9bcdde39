//! [`TestCluster`]: N `micro server` processes formed into one cluster with `--join`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use micro_proto::cluster::{cluster_client::ClusterClient, MembersRequest, MembersResponse};
use micro_proto::store::store_client::StoreClient;
use tempfile::TempDir;

use crate::auth::{self, Authed, Bearer};
use crate::process::{NodeAddrs, ServerProcess};

/// How long a node may take to start or join.
pub const READY: Duration = Duration::from_secs(60);

/// A cluster of real processes in one temp dir.
pub struct TestCluster {
    /// The nodes, in start order (node 0 bootstrapped).
    pub nodes: Vec<ServerProcess>,
    /// The join token of the cluster.
    pub token: String,
    /// Flags every node gets.
    pub extra: Vec<String>,
    /// The default admin's token, sent by [`TestCluster::store`], `post` and `members`.
    pub admin: Bearer,
    /// The same token as text (for HTTP and the CLI).
    pub admin_token: String,
    dir: TempDir,
}

impl TestCluster {
    /// Starts node 0 (bootstrap), logs in as the default admin, and joins `n - 1` more.
    pub async fn start(n: usize, extra: &[&str]) -> anyhow::Result<TestCluster> {
        Self::start_as(n, extra, true).await
    }

    /// Like [`TestCluster::start`]; without `login` nobody logs in (so the default admin does
    /// not exist yet) and the admin token is empty.
    pub async fn start_as(n: usize, extra: &[&str], login: bool) -> anyhow::Result<TestCluster> {
        let dir = tempfile::tempdir()?;
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut first = ServerProcess::spawn(NodeAddrs::free(), &dir.path().join("node0"), &extra)?;
        first.wait_ready(READY).await?;
        let token = std::fs::read_to_string(dir.path().join("node0").join("join-token"))
            .context("reading the join token")?
            .trim()
            .to_owned();
        let (admin, admin_token) = if login {
            let token = auth::login(&first.addrs.api, auth::ADMIN.0, auth::ADMIN.1, "micro")
                .await
                .context("logging in as the default admin")?;
            (Bearer::new(&token)?, token)
        } else {
            (Bearer::anonymous(), String::new())
        };
        let mut c = TestCluster {
            nodes: vec![first],
            token,
            extra,
            admin,
            admin_token,
            dir,
        };
        for _ in 1..n {
            c.add_node().await?;
        }
        Ok(c)
    }

    /// The cluster's temp dir.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Starts a new node joining through node 0's peer address; returns its index.
    pub async fn add_node(&mut self) -> anyhow::Result<usize> {
        self.add_node_with(&[]).await
    }

    /// [`TestCluster::add_node`] with extra flags for the joining run only (e.g. `--learner`).
    pub async fn add_node_with(&mut self, join_flags: &[&str]) -> anyhow::Result<usize> {
        let i = self.nodes.len();
        let target = self
            .nodes
            .iter()
            .find(|_| true)
            .map(|n| n.addrs.peer.clone())
            .unwrap_or_default();
        let mut flags = self.extra.clone();
        flags.extend([
            "--join".into(),
            target,
            "--join-token".into(),
            self.token.clone(),
        ]);
        flags.extend(join_flags.iter().map(|f| f.to_string()));
        let mut p = ServerProcess::spawn(
            NodeAddrs::free(),
            &self.dir.path().join(format!("node{i}")),
            &flags,
        )?;
        p.wait_ready(READY).await?;
        // Restarts must not re-run the join: keep only the shared flags.
        p.extra = self.extra.clone();
        self.nodes.push(p);
        Ok(i)
    }

    /// A channel to node `i`'s proxy carrying the admin token.
    pub async fn channel(&self, i: usize) -> anyhow::Result<Authed> {
        auth::connect(&self.nodes[i].addrs.proxy, &self.admin).await
    }

    /// A store client to node `i`'s proxy, as the admin.
    pub async fn store(&self, i: usize) -> anyhow::Result<StoreClient<Authed>> {
        Ok(StoreClient::new(self.channel(i).await?))
    }

    /// Cluster.Members as answered by node `i`.
    pub async fn members(&self, i: usize) -> anyhow::Result<MembersResponse> {
        let mut c = ClusterClient::new(self.channel(i).await?);
        Ok(c.members(MembersRequest {}).await?.into_inner())
    }

    /// The raft id of node `i`, as the members list reports it.
    pub async fn id_of(&self, i: usize) -> anyhow::Result<u64> {
        let peer = &self.nodes[i].addrs.peer;
        for j in 0..self.nodes.len() {
            if let Ok(m) = self.members(j).await {
                if let Some(member) = m.members.iter().find(|m| &m.peer_address == peer) {
                    return Ok(member.id);
                }
            }
        }
        bail!("node {i} is not in the membership")
    }

    /// Index of the current leader, as agreed by a running node, waiting up to `within`.
    pub async fn leader(&mut self, within: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            for i in 0..self.nodes.len() {
                if !self.nodes[i].is_running() {
                    continue;
                }
                let Ok(m) = self.members(i).await else {
                    continue;
                };
                let leader = m
                    .members
                    .iter()
                    .find(|x| x.id == m.leader && x.role == "leader");
                if let Some(l) = leader {
                    if let Some(idx) = self
                        .nodes
                        .iter()
                        .position(|n| n.addrs.peer == l.peer_address)
                    {
                        if self.nodes[idx].is_running() {
                            return Ok(idx);
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no leader within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fails unless node `i` (a linearizable listing of the default store table through its
    /// gateway) holds every key of `acked`; the error names the missing ones.
    pub async fn assert_holds(
        &self,
        i: usize,
        acked: &std::collections::BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let (code, body) = self.post(i, "/store/list", &serde_json::json!({})).await?;
        anyhow::ensure!(code == 200, "listing through node {i}: {code} {body}");
        let keys: std::collections::BTreeSet<&str> = body["keys"]
            .as_array()
            .map(|k| k.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|k| !keys.contains(k.as_str()))
            .collect();
        anyhow::ensure!(
            lost.is_empty(),
            "node {i} lost {} acknowledged writes: {lost:?}",
            lost.len()
        );
        Ok(())
    }

    /// POSTs JSON to node `i`'s gateway as the admin; returns the status and the JSON (or
    /// text) body.
    pub async fn post(
        &self,
        i: usize,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        self.post_as(i, path, body, Some(&self.admin_token)).await
    }

    /// POSTs JSON to node `i`'s gateway with `token` (`None`: anonymously).
    pub async fn post_as(
        &self,
        i: usize,
        path: &str,
        body: &serde_json::Value,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let url = format!("http://{}{}", self.nodes[i].addrs.api, path);
        let mut request = reqwest::Client::new()
            .post(url)
            .json(body)
            .timeout(Duration::from_secs(30));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, v))
    }
}
