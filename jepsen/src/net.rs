//! The test network: each node in its own network namespace with its own address, joined by a
//! bridge in the root namespace, so partitions are real packet drops (nftables), never a switch
//! inside the node.
//!
//! Addresses are `10.213.<s>.<i+1>/24` with `<s>` derived from the harness's pid, and the root
//! namespace holds `.254` on the bridge so clients reach every node. Everything is removed on
//! drop. Needs root (`ip`, `nft`); [`TestNet::available`] says whether this machine can.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context};

/// The peer port inside each namespace (nodes have their own addresses, so ports can repeat).
pub const PEER_PORT: u16 = 8085;

/// N namespaces on one bridge.
pub struct TestNet {
    prefix: String,
    subnet: u8,
    nodes: usize,
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl TestNet {
    /// Whether namespaces and nftables can be used here (root, `ip` and `nft` present).
    pub fn available() -> Result<(), String> {
        let probe = format!("mjprobe{}", std::process::id() % 100_000);
        let ok = Command::new("ip")
            .args(["netns", "add", &probe])
            .output()
            .map(|o| o.status.success());
        match ok {
            Ok(true) => {
                let nft = Command::new("ip")
                    .args(["netns", "exec", &probe, "nft", "list", "tables"])
                    .output();
                let _ = Command::new("ip").args(["netns", "del", &probe]).output();
                match nft {
                    Ok(o) if o.status.success() => Ok(()),
                    _ => Err("nft is not usable inside a network namespace".into()),
                }
            }
            _ => Err("cannot create network namespaces (needs root and iproute2)".into()),
        }
    }

    /// Creates `nodes` namespaces on a fresh bridge.
    pub fn create(nodes: usize) -> anyhow::Result<TestNet> {
        let pid = std::process::id();
        let net = TestNet {
            prefix: format!("mj{}", pid % 100_000),
            subnet: (pid % 250) as u8,
            nodes,
        };
        let br = net.bridge();
        let gw = format!("{}/24", net.gateway());
        run(&["ip", "link", "add", &br, "type", "bridge"])?;
        run(&["ip", "addr", "add", &gw, "dev", &br])?;
        run(&["ip", "link", "set", &br, "up"])?;
        // Docker hosts set the FORWARD policy to DROP and pass bridged frames through iptables
        // (br_netfilter): let our bridge forward between its own ports.
        if iptables_forward(&br, "-I").is_err() {
            eprintln!("jepsen: iptables not available; assuming bridged traffic is not filtered");
        }
        for i in 0..nodes {
            let (ns, host, peer) = (
                net.ns(i),
                format!("{}h{i}", net.prefix),
                format!("{}p{i}", net.prefix),
            );
            run(&["ip", "netns", "add", &ns])?;
            run(&[
                "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
            ])?;
            run(&["ip", "link", "set", &peer, "netns", &ns])?;
            run(&["ip", "link", "set", &host, "master", &br])?;
            run(&["ip", "link", "set", &host, "up"])?;
            let addr = format!("{}/24", net.ip(i));
            run(&[
                "ip", "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &peer,
            ])?;
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", &peer, "up"])?;
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            run(&[
                "ip", "netns", "exec", &ns, "nft", "add", "table", "inet", "jepsen",
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "nft",
                "add",
                "chain",
                "inet",
                "jepsen",
                "input",
                "{ type filter hook input priority 0; policy accept; }",
            ])?;
        }
        Ok(net)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// The namespace of node `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// The address of node `i`.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, (i + 1) as u8)
    }

    /// The root namespace's address on the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 254)
    }

    /// The command prefix that runs a program inside node `i`'s namespace.
    pub fn exec_prefix(&self, i: usize) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.ns(i)]
    }

    /// Node `to` drops peer traffic arriving from node `from` (one direction only).
    pub fn drop_from(&self, to: usize, from: usize) -> anyhow::Result<()> {
        let (ns, src, port) = (
            self.ns(to),
            self.ip(from).to_string(),
            PEER_PORT.to_string(),
        );
        run(&[
            "ip", "netns", "exec", &ns, "nft", "add", "rule", "inet", "jepsen", "input", "ip",
            "saddr", &src, "udp", "dport", &port, "drop",
        ])
    }

    /// Cuts peer traffic both ways between every pair of nodes in different groups.
    pub fn partition(&self, groups: &[Vec<usize>]) -> anyhow::Result<()> {
        for (gi, a) in groups.iter().enumerate() {
            for (gj, b) in groups.iter().enumerate() {
                if gi == gj {
                    continue;
                }
                for &x in a {
                    for &y in b {
                        self.drop_from(x, y)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes every drop rule.
    pub fn heal(&self) -> anyhow::Result<()> {
        for i in 0..self.nodes {
            run(&[
                "ip",
                "netns",
                "exec",
                &self.ns(i),
                "nft",
                "flush",
                "chain",
                "inet",
                "jepsen",
                "input",
            ])?;
        }
        Ok(())
    }
}

fn iptables_forward(bridge: &str, action: &str) -> anyhow::Result<()> {
    run(&[
        "iptables", action, "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT",
    ])
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = iptables_forward(&self.bridge(), "-D");
        for i in 0..self.nodes {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
            let _ = Command::new("ip")
                .args(["link", "del", &format!("{}h{i}", self.prefix)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .output();
    }
}
