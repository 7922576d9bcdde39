//! The fault schedule: quiet, install a fault, hold it, heal, repeat until the deadline.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::db::Db;

/// A family of faults that can be enabled with `--nemesis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// kill -9 a node (random or the leader), restart it on its data dir when healing.
    Kill,
    /// SIGSTOP a node longer than the election timeout, SIGCONT when healing.
    Pause,
    /// Drop peer packets between groups of nodes (needs network namespaces).
    Partition,
    /// Replace a node (random or the leader): remove it from the cluster, stop it and empty
    /// its data dir; when healing, it joins again as a new member and catches up.
    Member,
    /// Move a node's wall clock (random or the leader's) up to a minute ahead or behind
    /// (libfaketime); set it right when healing.
    Clock,
    /// Damage a stopped node's database file (truncate it, or flip bytes in it) and start it
    /// again: it must refuse the damage or serve only what it really holds. A node that refused
    /// is replaced (removed, emptied, joined afresh) when healing.
    Disk,
    /// Fill a node's disk (random or the leader's; each data dir is a small tmpfs); when
    /// healing, free it and restart the node, as the runbook says.
    Full,
}

impl FromStr for NemesisKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "kill" => Ok(NemesisKind::Kill),
            "pause" => Ok(NemesisKind::Pause),
            "partition" => Ok(NemesisKind::Partition),
            "member" => Ok(NemesisKind::Member),
            "clock" => Ok(NemesisKind::Clock),
            "disk" => Ok(NemesisKind::Disk),
            "full" => Ok(NemesisKind::Full),
            other => Err(format!(
                "unknown nemesis {other:?}: expected kill, pause, partition, member, clock, disk \
                 or full"
            )),
        }
    }
}

/// One concrete fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 of `node`.
    Kill { node: usize, leader: bool },
    /// SIGSTOP of `node`.
    Pause { node: usize, leader: bool },
    /// Symmetric partition into groups.
    Partition {
        shape: &'static str,
        groups: Vec<Vec<usize>>,
    },
    /// Two halves that cannot talk, and one bridge node that talks to both.
    Bridge {
        bridge: usize,
        a: Vec<usize>,
        b: Vec<usize>,
    },
    /// `to` stops receiving peer traffic from `from`; the reverse still flows.
    OneWay { from: usize, to: usize },
    /// `node` removed from the membership (through `via`) and wiped, later joined afresh.
    Replace {
        node: usize,
        via: usize,
        leader: bool,
    },
    /// `node`'s wall clock moved by `offset_s` seconds.
    Skew {
        node: usize,
        offset_s: i64,
        leader: bool,
    },
    /// `node` killed, its database file damaged, and started again; replaced through `via`
    /// if it refuses to run.
    Corrupt {
        node: usize,
        via: usize,
        damage: Damage,
    },
    /// `node`'s disk filled up; replaced through `via` if, freed and restarted, it refuses
    /// what the full disk left of its data dir.
    Fill {
        node: usize,
        via: usize,
        leader: bool,
    },
}

/// What happens to a database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Cut to `percent` of its length.
    Truncate { percent: u64 },
    /// The bytes at these positions (millionths of the length) inverted.
    Flip { at_ppm: Vec<u64> },
}

impl Damage {
    fn apply(&self, file: &std::path::Path) -> anyhow::Result<()> {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)?;
        let len = f.metadata()?.len();
        match self {
            Damage::Truncate { percent } => f.set_len(len * percent / 100)?,
            Damage::Flip { at_ppm } => {
                for ppm in at_ppm {
                    let at = len * ppm / 1_000_000;
                    let mut byte = [0u8];
                    f.seek(SeekFrom::Start(at))?;
                    f.read_exact(&mut byte)?;
                    f.seek(SeekFrom::Start(at))?;
                    f.write_all(&[!byte[0]])?;
                }
            }
        }
        f.sync_all()?;
        Ok(())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill { node, leader } => write!(
                f,
                "kill -9 node {node}{}",
                if *leader { " (leader)" } else { "" }
            ),
            Fault::Pause { node, leader } => write!(
                f,
                "pause node {node}{}",
                if *leader { " (leader)" } else { "" }
            ),
            Fault::Partition { shape, groups } => write!(f, "partition {shape} {groups:?}"),
            Fault::Bridge { bridge, a, b } => {
                write!(f, "partition bridge {a:?} <-{bridge}-> {b:?}")
            }
            Fault::OneWay { from, to } => write!(f, "partition one-way {from} -/-> {to}"),
            Fault::Replace { node, leader, .. } => write!(
                f,
                "replace node {node}{}",
                if *leader { " (leader)" } else { "" }
            ),
            Fault::Corrupt { node, damage, .. } => match damage {
                Damage::Truncate { percent } => {
                    write!(f, "truncate node {node}'s database to {percent}%")
                }
                Damage::Flip { at_ppm } => {
                    write!(f, "flip {} bytes in node {node}'s database", at_ppm.len())
                }
            },
            Fault::Fill { node, leader, .. } => write!(
                f,
                "fill the disk of node {node}{}",
                if *leader { " (leader)" } else { "" }
            ),
            Fault::Skew {
                node,
                offset_s,
                leader,
            } => write!(
                f,
                "clock of node {node}{} {offset_s:+} s",
                if *leader { " (leader)" } else { "" }
            ),
        }
    }
}

/// Whether a nemesis step took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The fault (or the heal) is in place.
    Installed,
    /// Nothing to do (e.g. no leader known to target).
    Skipped(String),
    /// The command failed; the fault may or may not be in place.
    Indeterminate(String),
    /// The node refused the damage done to it (its message), and was replaced.
    Refused(String),
}

/// One line of the fault timeline.
#[derive(Debug, Clone, Serialize)]
pub struct NemesisEvent {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// `start` or `stop`.
    pub action: &'static str,
    /// The fault.
    pub fault: String,
    /// What happened.
    pub outcome: Outcome,
}

/// How long the cluster runs undisturbed between faults, and how long a fault is held.
const QUIET: Duration = Duration::from_secs(2);
const HOLD_MIN_MS: u64 = 3000;
const HOLD_MAX_MS: u64 = 5000;
/// The largest clock offset, either way: far beyond what NTP lets drift, and far inside the
/// clients' token lifetime, so it exercises the cluster's time handling, not token expiry.
const MAX_SKEW_S: i64 = 60;

async fn choose(db: &Db, kind: NemesisKind, rng: &mut StdRng) -> Option<Fault> {
    let n = db.nodes.len();
    let leader = if rng.gen_bool(0.5) {
        db.leader().await
    } else {
        None
    };
    let node = leader.unwrap_or_else(|| rng.gen_range(0..n));
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(rng);
    Some(match kind {
        NemesisKind::Kill => Fault::Kill {
            node,
            leader: leader.is_some(),
        },
        NemesisKind::Pause => Fault::Pause {
            node,
            leader: leader.is_some(),
        },
        NemesisKind::Full => Fault::Fill {
            node,
            via: (node + 1) % n,
            leader: leader.is_some(),
        },
        NemesisKind::Disk => Fault::Corrupt {
            node,
            via: (node + 1) % n,
            damage: if rng.gen_bool(0.5) {
                Damage::Truncate {
                    percent: rng.gen_range(10..90),
                }
            } else {
                Damage::Flip {
                    at_ppm: (0..rng.gen_range(1..16))
                        .map(|_| rng.gen_range(0..1_000_000))
                        .collect(),
                }
            },
        },
        NemesisKind::Clock => Fault::Skew {
            node,
            offset_s: rng.gen_range(1..=MAX_SKEW_S) * if rng.gen_bool(0.5) { 1 } else { -1 },
            leader: leader.is_some(),
        },
        NemesisKind::Member => Fault::Replace {
            node,
            via: (node + 1) % n,
            leader: leader.is_some(),
        },
        NemesisKind::Partition => match rng.gen_range(0..4) {
            0 => {
                let minority = all.split_off(n / 2 + 1);
                Fault::Partition {
                    shape: "majority/minority",
                    groups: vec![all, minority],
                }
            }
            1 => {
                let l = db.leader().await?;
                let rest: Vec<usize> = (0..n).filter(|i| *i != l).collect();
                Fault::Partition {
                    shape: "isolated-leader",
                    groups: vec![vec![l], rest],
                }
            }
            2 if n >= 3 => {
                let bridge = all.remove(0);
                let b = all.split_off(all.len() / 2);
                Fault::Bridge { bridge, a: all, b }
            }
            _ => Fault::OneWay {
                from: all[0],
                to: all[1 % n],
            },
        },
    })
}

async fn install(db: &mut Db, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Kill { node, .. } => {
            db.nodes[*node].kill();
            Ok(())
        }
        Fault::Pause { node, .. } => db.nodes[*node].pause(),
        Fault::Partition { groups, .. } => net(db)?.partition(groups),
        Fault::Bridge { a, b, .. } => net(db)?.partition(&[a.clone(), b.clone()]),
        Fault::OneWay { from, to } => net(db)?.drop_from(*to, *from),
        Fault::Replace { node, via, .. } => db.remove(*node, *via).await,
        Fault::Skew { node, offset_s, .. } => skew(db)?.set(*node, *offset_s),
        Fault::Corrupt { node, damage, .. } => {
            db.nodes[*node].kill();
            damage.apply(&db.database_file(*node))?;
            db.nodes[*node].start()
        }
        Fault::Fill { node, .. } => disks(db)?.fill(*node).map(|_| ()),
    }
}

/// Waits until node `i` (just started on a damaged or once-full data dir) serves; if it
/// refuses its data dir instead, replaces it through `via` and returns what it said.
async fn serve_or_replace(db: &mut Db, i: usize, via: usize) -> anyhow::Result<Option<String>> {
    let Err(refused) = db.wait_ready(i).await else {
        return Ok(None);
    };
    db.remove(i, via).await?;
    db.rejoin(i, via).await?;
    Ok(Some(refusal(&refused.to_string())))
}

/// Undoes `fault`; `Some(message)` when the node refused its data dir and was replaced.
async fn heal(db: &mut Db, fault: &Fault) -> anyhow::Result<Option<String>> {
    match fault {
        Fault::Corrupt { node, via, .. } => return serve_or_replace(db, *node, *via).await,
        Fault::Fill { node, via, .. } => {
            disks(db)?.drain(*node)?;
            // A node whose log could not be written has stopped its raft; one that got by
            // (nothing to write meanwhile) restarts all the same, which is harmless.
            db.nodes[*node].kill();
            db.nodes[*node].start()?;
            return serve_or_replace(db, *node, *via).await;
        }
        _ => {}
    }
    match fault {
        Fault::Kill { node, .. } => db.restart(*node).await,
        Fault::Pause { node, .. } => db.nodes[*node].resume(),
        Fault::Partition { .. } | Fault::Bridge { .. } | Fault::OneWay { .. } => net(db)?.heal(),
        // A removal that failed left the node running and a member: nothing to undo.
        Fault::Replace { node, .. } if db.nodes[*node].is_running() => Ok(()),
        Fault::Replace { node, via, .. } => db.rejoin(*node, *via).await,
        Fault::Skew { node, .. } => skew(db)?.set(*node, 0),
        Fault::Corrupt { .. } | Fault::Fill { .. } => Ok(()),
    }
    .map(|()| None)
}

/// What a failed start said: its last line that is not a timestamped log record (the
/// server prints why it stops as a bare line), else the failure's first line.
fn refusal(failure: &str) -> String {
    let said = failure.lines().rev().find(|l| {
        let l = l.trim();
        !l.is_empty()
            && !l.starts_with(|c: char| c.is_ascii_digit())
            && !l.starts_with("Join token")
    });
    said.or_else(|| failure.lines().next())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn skew(db: &Db) -> anyhow::Result<&crate::skew::Skew> {
    db.skew
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("clock skew needs the nodes started under libfaketime"))
}

fn disks(db: &Db) -> anyhow::Result<&crate::disks::Disks> {
    db.disks
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("filling disks needs the data dirs on tmpfs"))
}

fn net(db: &Db) -> anyhow::Result<&crate::net::TestNet> {
    db.net
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("partitions need network namespaces"))
}

/// Injects faults of `kinds` until `until`, healing each before the next; returns the timeline.
pub async fn run_schedule(
    db: &mut Db,
    kinds: &[NemesisKind],
    start: Instant,
    until: Instant,
    rng: &mut StdRng,
) -> Vec<NemesisEvent> {
    let mut timeline = Vec::new();
    let at = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    while !kinds.is_empty() && Instant::now() + QUIET + Duration::from_millis(HOLD_MAX_MS) < until {
        tokio::time::sleep(QUIET).await;
        let Some(kind) = kinds.choose(rng).copied() else {
            break;
        };
        let Some(fault) = choose(db, kind, rng).await else {
            timeline.push(NemesisEvent {
                at_ms: at(),
                action: "start",
                fault: format!("{kind:?}"),
                outcome: Outcome::Skipped("no leader to target".into()),
            });
            continue;
        };
        let outcome = match install(db, &fault).await {
            Ok(()) => Outcome::Installed,
            Err(e) => Outcome::Indeterminate(e.to_string()),
        };
        timeline.push(NemesisEvent {
            at_ms: at(),
            action: "start",
            fault: fault.to_string(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(
            rng.gen_range(HOLD_MIN_MS..=HOLD_MAX_MS),
        ))
        .await;
        let outcome = match heal(db, &fault).await {
            Ok(None) => Outcome::Installed,
            Ok(Some(why)) => Outcome::Refused(why),
            Err(e) => Outcome::Indeterminate(e.to_string()),
        };
        timeline.push(NemesisEvent {
            at_ms: at(),
            action: "stop",
            fault: fault.to_string(),
            outcome,
        });
    }
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_the_last_bare_line() {
        let failure = "micro server exited with exit status: 1; log:\n\
            2026-11-24T05:32:01Z  INFO started\n\
            Join token (also in /d/join-token): MICRO1.x\n\
            Starting the raft member: the data dir lost data\n\
            2026-11-24T05:32:02Z ERROR peer did not answer\n";
        assert_eq!(
            refusal(failure),
            "Starting the raft member: the data dir lost data"
        );
        assert_eq!(refusal("it hung\nmore"), "more");
    }
}
