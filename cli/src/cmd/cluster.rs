//! `micro cluster`: our own cluster administration commands (not in Micro v3).
//!
//! `members` prints the Raft membership as an aligned table or as JSON; `health` prints one
//! line per member and fails unless every member is ready; `remove`, `promote` and
//! `transfer-leader` change the membership or its leader and print nothing on success.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use micro_proto::cluster::cluster_client::ClusterClient;
use micro_proto::cluster::{
    MembersRequest, MembersResponse, PromoteRequest, RemoveRequest, TransferLeaderRequest,
};
use serde::Serialize;

use super::root::{unknown_subcommand, Globals};
use crate::output;
use crate::table::Table;

/// `micro cluster COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// Subcommands of `micro cluster`.
#[derive(Debug, Clone, Subcommand)]
pub enum ClusterCommand {
    /// List the members of the cluster and who leads it
    Members {
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// One line per member saying whether it is ready; exits non-zero if any is not
    Health,
    /// Remove a member (refused if the voters left would have no live quorum, unless --force)
    Remove {
        /// The member's id, as `micro cluster members` prints it
        id: String,
        /// Remove it even if the voters left would have no live quorum
        #[arg(long)]
        force: bool,
    },
    /// Make a learner a voter
    Promote {
        /// The member's id
        id: String,
    },
    /// Move leadership to a voter; returns once it leads and serves writes
    TransferLeader {
        /// The voter's id, as `micro cluster members` prints it
        id: String,
    },

    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// How far (in log entries) a member may trail the leader's applied index and still count as
/// ready: statuses are gathered one member at a time while writes continue.
const READY_LAG: u64 = 1000;

/// Output format of `cluster members`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// An aligned table.
    #[default]
    #[value(alias = "table")]
    Text,
    /// `{"leader": ID, "members": [...]}`.
    Json,
}

/// Runs one `micro cluster …` command.
pub async fn run(args: ClusterArgs, globals: &Globals) -> Result<()> {
    match args.command {
        ClusterCommand::Members { output } => {
            let members = members(globals).await?;
            output::print(match output {
                Output::Text => members_table(&members),
                Output::Json => members_json(&members)?,
            });
            Ok(())
        }
        ClusterCommand::Health => {
            let members = members(globals).await?;
            let (text, not_ready) = health_table(&members);
            output::print(text);
            if not_ready > 0 {
                bail!(
                    "{not_ready} of {} members are not ready",
                    members.members.len()
                );
            }
            Ok(())
        }
        ClusterCommand::Remove { id, force } => {
            let id = parse_id(&id)?;
            let client = globals.client().await?;
            client
                .mutate(|ch| {
                    let req = client.request(RemoveRequest { id, force });
                    async move { ClusterClient::new(ch).remove(req).await.map(drop) }
                })
                .await?;
            Ok(())
        }
        ClusterCommand::Promote { id } => {
            let id = parse_id(&id)?;
            let client = globals.client().await?;
            client
                .mutate(|ch| {
                    let req = client.request(PromoteRequest { id });
                    async move { ClusterClient::new(ch).promote(req).await.map(drop) }
                })
                .await?;
            Ok(())
        }
        ClusterCommand::TransferLeader { id } => {
            let id = parse_id(&id)?;
            let client = globals.client().await?;
            client
                .mutate(|ch| {
                    let req = client.request(TransferLeaderRequest { id });
                    async move { ClusterClient::new(ch).transfer_leader(req).await.map(drop) }
                })
                .await?;
            Ok(())
        }
        ClusterCommand::Unknown(words) => bail!(unknown_subcommand("cluster", &words)),
    }
}

/// A member id as `cluster members` prints it (decimal), or as logs print it (16 hex digits).
pub fn parse_id(text: &str) -> Result<u64> {
    let t = text.trim();
    if t.len() == 16 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(id) = u64::from_str_radix(t, 16) {
            return Ok(id);
        }
    }
    t.parse().with_context(|| {
        format!("invalid member id {text:?}: expected the ID that 'micro cluster members' prints")
    })
}

async fn members(globals: &Globals) -> Result<MembersResponse> {
    let client = globals.client().await?;
    Ok(client
        .call(|ch| {
            let req = client.request(MembersRequest {});
            async move { Ok(ClusterClient::new(ch).members(req).await?.into_inner()) }
        })
        .await?)
}

/// `ID ROLE STATUS DETAIL` per member sorted by id, and how many are not ready: a member is
/// ready when it answers, a leader exists, and it trails the leader by at most
/// [`READY_LAG`] entries.
pub fn health_table(resp: &MembersResponse) -> (String, usize) {
    let leader_applied = resp
        .members
        .iter()
        .find(|m| m.id == resp.leader)
        .map(|m| m.applied_index);
    let mut members: Vec<_> = resp.members.iter().collect();
    members.sort_by_key(|m| m.id);
    let mut table = Table::with_header(&["ID", "ROLE", "STATUS", "DETAIL"]);
    let mut not_ready = 0;
    for m in members {
        let problem = match leader_applied {
            _ if m.role == "unreachable" => Some("does not answer".to_owned()),
            None => Some("no leader".to_owned()),
            Some(l) if m.applied_index.saturating_add(READY_LAG) < l => Some(format!(
                "catching up: {} entries behind the leader",
                l - m.applied_index
            )),
            Some(_) => None,
        };
        let (status, detail) = match problem {
            Some(p) => {
                not_ready += 1;
                ("not ready", p)
            }
            None => ("ready", format!("applied {}", m.applied_index)),
        };
        table.row(vec![
            m.id.to_string(),
            m.role.clone(),
            status.into(),
            detail,
        ]);
    }
    (table.render(), not_ready)
}

/// Members sorted by id, as `ID ROLE PEER ADDRESS API ADDRESS PROXY ADDRESS APPLIED LAG
/// LAST CONTACT` (lag in entries behind the leader; last contact: since a leader reached it).
pub fn members_table(resp: &MembersResponse) -> String {
    let mut members: Vec<_> = resp.members.iter().collect();
    members.sort_by_key(|m| m.id);
    let mut table = Table::with_header(&[
        "ID",
        "ROLE",
        "PEER ADDRESS",
        "API ADDRESS",
        "PROXY ADDRESS",
        "APPLIED",
        "LAG",
        "LAST CONTACT",
    ]);
    let leader_applied = resp
        .members
        .iter()
        .find(|m| m.id == resp.leader)
        .map(|m| m.applied_index);
    for m in members {
        let lag = match leader_applied {
            Some(l) if m.role != "unreachable" => l.saturating_sub(m.applied_index).to_string(),
            _ => "-".into(),
        };
        table.row(vec![
            m.id.to_string(),
            m.role.clone(),
            m.peer_address.clone(),
            m.api_address.clone(),
            m.proxy_address.clone(),
            m.applied_index.to_string(),
            lag,
            match m.last_contact_ms {
                ms if ms < 0 || m.role == "unreachable" => "-".into(),
                0 if m.id == resp.leader => "leader".into(),
                ms => format!("{ms}ms"),
            },
        ]);
    }
    table.render()
}

/// `cluster members -o json` document; ids and indexes are JSON numbers.
#[derive(Debug, Serialize)]
struct MembersJson<'a> {
    leader: u64,
    members: Vec<MemberJson<'a>>,
}

/// One member in [`MembersJson`].
#[derive(Debug, Serialize)]
struct MemberJson<'a> {
    id: u64,
    role: &'a str,
    peer_address: &'a str,
    api_address: &'a str,
    proxy_address: &'a str,
    applied_index: u64,
}

/// Members sorted by id as indented JSON plus `\n`.
pub fn members_json(resp: &MembersResponse) -> Result<String> {
    let mut members: Vec<_> = resp
        .members
        .iter()
        .map(|m| MemberJson {
            id: m.id,
            role: &m.role,
            peer_address: &m.peer_address,
            api_address: &m.api_address,
            proxy_address: &m.proxy_address,
            applied_index: m.applied_index,
        })
        .collect();
    members.sort_by_key(|m| m.id);
    let doc = MembersJson {
        leader: resp.leader,
        members,
    };
    let mut out = serde_json::to_string_pretty(&doc).context("encoding JSON output")?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_proto::cluster::Member;

    fn member(id: u64, role: &str, applied: u64) -> Member {
        Member {
            id,
            role: role.into(),
            applied_index: applied,
            ..Default::default()
        }
    }

    #[test]
    fn members_are_ready_when_answering_led_and_caught_up() {
        let resp = MembersResponse {
            leader: 1,
            term: 3,
            members: vec![
                member(3, "unreachable", 0),
                member(1, "leader", 5000),
                member(2, "follower", 4990),
                member(4, "learner", 100),
            ],
        };
        let (text, not_ready) = health_table(&resp);
        assert_eq!(not_ready, 2, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("1  ") && lines[1].contains("ready"),
            "{text}"
        );
        assert!(lines[3].contains("not ready") && lines[3].contains("does not answer"));
        assert!(lines[4].contains("4900 entries behind"), "{text}");
        let leaderless = MembersResponse {
            leader: 0,
            members: vec![member(1, "follower", 7)],
            ..Default::default()
        };
        assert_eq!(health_table(&leaderless).1, 1);
    }

    fn sample() -> MembersResponse {
        let member = |id: u64, role: &str, applied| Member {
            id,
            role: role.into(),
            peer_address: format!("10.0.0.{id}:8085"),
            api_address: format!("10.0.0.{id}:8080"),
            proxy_address: format!("10.0.0.{id}:8081"),
            applied_index: applied,
            voter: true,
            last_contact_ms: if id == 2 { 0 } else { 120 },
            ..Default::default()
        };
        MembersResponse {
            leader: 2,
            term: 3,
            members: vec![member(3, "follower", 41), member(2, "leader", 42)],
        }
    }

    #[test]
    fn table_is_sorted_and_aligned() {
        assert_eq!(
            members_table(&sample()),
            "ID  ROLE      PEER ADDRESS   API ADDRESS    PROXY ADDRESS  APPLIED  LAG  LAST CONTACT\n\
             2   leader    10.0.0.2:8085  10.0.0.2:8080  10.0.0.2:8081  42       0    leader\n\
             3   follower  10.0.0.3:8085  10.0.0.3:8080  10.0.0.3:8081  41       1    120ms\n"
        );
    }

    #[test]
    fn json_shape_is_exact() {
        let parsed: serde_json::Value =
            serde_json::from_str(&members_json(&sample()).unwrap()).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"leader": 2, "members": [
                {"id": 2, "role": "leader", "peer_address": "10.0.0.2:8085",
                 "api_address": "10.0.0.2:8080", "proxy_address": "10.0.0.2:8081",
                 "applied_index": 42},
                {"id": 3, "role": "follower", "peer_address": "10.0.0.3:8085",
                 "api_address": "10.0.0.3:8080", "proxy_address": "10.0.0.3:8081",
                 "applied_index": 41}
            ]})
        );
    }
}
