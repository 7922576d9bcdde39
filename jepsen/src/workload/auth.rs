//! The auth workload: accounts generated through one node, tokens requested on any node and
//! presented to another, accounts deleted through yet another. Account existence is checked as
//! a plain register (generate writes, delete removes, a token request reads); uses as tokens.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use micro_proto::auth::{
    accounts_client::AccountsClient, auth_client::AuthClient, rules_client::RulesClient,
    DeleteAccountRequest, GenerateRequest, InspectRequest, ListRequest, Options, TokenRequest,
};
use micro_tests::Bearer;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use tonic::transport::Channel;

use super::{as_admin, definitely_not_applied, dial_channel, Clock, PROCESS_STRIDE};
use crate::history::{Invocation, Op, OpKind, Outcome};

/// The namespace the workload's accounts belong to (not `micro`, whose admin the harness uses).
const NAMESPACE: &str = "jepsen";
/// The lifetime every token request asks for: far longer than any run, so no use meets an
/// expired token.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Accounts alive (not yet claimed for deletion) at most; beyond it clients stop generating,
/// so deletions keep up and token requests keep meeting deleted accounts.
const MAX_LIVE_ACCOUNTS: usize = 16;
/// Issued tokens kept for later uses; a new one replaces a random old one beyond it.
const MAX_TOKENS: usize = 64;
/// Tokens presented to every node after the faults healed.
const FINAL_TOKENS: usize = 24;
/// Pause after a failed op, so a dead node is not hammered in a tight loop.
const BACKOFF: Duration = Duration::from_millis(50);

/// An account some client generated (or tried to: its outcome may be unknown).
#[derive(Debug, Clone)]
struct Account {
    id: String,
    secret: String,
    /// The node that generated it; its deletion goes through another.
    home: usize,
    /// Its refresh token, once a token request returned it.
    refresh: Option<String>,
    /// A client claimed its deletion (each account is deleted once).
    deleting: bool,
}

/// An access token some token request issued.
#[derive(Debug, Clone)]
struct Issued {
    /// The harness's name for it in the history (`t<n>`).
    id: String,
    account: String,
    jwt: String,
    /// The node that issued it; uses go to others.
    node: usize,
}

#[derive(Debug, Default)]
struct PoolState {
    accounts: Vec<Account>,
    tokens: Vec<Issued>,
    next_token: u64,
}

/// The accounts and tokens all clients of a run share, so one client's deletions race
/// another's token requests and tokens travel between clients and nodes.
#[derive(Debug, Default)]
pub struct AuthPool {
    /// std Mutex: held only to pick or record, never across an `.await`.
    state: Mutex<PoolState>,
}

impl AuthPool {
    fn with<T>(&self, f: impl FnOnce(&mut PoolState) -> T) -> T {
        // A client that panicked mid-update leaves nothing half-done worth refusing for.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn live(&self) -> usize {
        self.with(|s| s.accounts.iter().filter(|a| !a.deleting).count())
    }

    /// A random account: mostly a live one, else one claimed for deletion (whose token
    /// requests must fail once the deletion is acknowledged).
    fn pick_account(&self, rng: &mut StdRng) -> Option<Account> {
        let deleted = rng.gen_bool(0.25);
        self.with(|s| {
            let pool: Vec<&Account> = s
                .accounts
                .iter()
                .filter(|a| a.deleting == deleted)
                .collect();
            let pool = if pool.is_empty() {
                s.accounts.iter().collect()
            } else {
                pool
            };
            pool.choose(rng).map(|a| (*a).clone())
        })
    }

    /// A random live account, now claimed for deletion.
    fn claim_deletion(&self, rng: &mut StdRng) -> Option<Account> {
        self.with(|s| {
            let live: Vec<usize> = (0..s.accounts.len())
                .filter(|&i| !s.accounts[i].deleting)
                .collect();
            let &i = live.choose(rng)?;
            s.accounts[i].deleting = true;
            Some(s.accounts[i].clone())
        })
    }

    /// A random issued token: half the time one of a live account, else any (accounts are
    /// deleted quickly, so their tokens would otherwise crowd out the live ones).
    fn pick_token(&self, rng: &mut StdRng) -> Option<Issued> {
        let live_only = rng.gen_bool(0.5);
        self.with(|s| {
            let live = |t: &&Issued| {
                let account = s.accounts.iter().find(|a| a.id == t.account);
                account.is_some_and(|a| !a.deleting)
            };
            let live: Vec<&Issued> = s.tokens.iter().filter(live).collect();
            match live.choose(rng) {
                Some(t) if live_only => Some((*t).clone()),
                _ => s.tokens.choose(rng).cloned(),
            }
        })
    }

    /// Records a token issued for `account` by `node`; returns its name.
    fn issued(
        &self,
        account: &str,
        jwt: String,
        node: usize,
        refresh: String,
        rng: &mut StdRng,
    ) -> String {
        self.with(|s| {
            s.next_token += 1;
            let id = format!("t{}", s.next_token);
            if let Some(a) = s.accounts.iter_mut().find(|a| a.id == account) {
                a.refresh = Some(refresh).filter(|r| !r.is_empty());
            }
            let token = Issued {
                id: id.clone(),
                account: account.to_owned(),
                jwt,
                node,
            };
            if s.tokens.len() < MAX_TOKENS {
                s.tokens.push(token);
            } else {
                let i = rng.gen_range(0..s.tokens.len());
                s.tokens[i] = token;
            }
            id
        })
    }
}

/// Channels to every node, dialed when needed and dropped after a failure.
struct Nodes {
    proxies: Vec<String>,
    channels: Vec<Option<Channel>>,
}

impl Nodes {
    fn new(proxies: Vec<String>) -> Self {
        let channels = vec![None; proxies.len()];
        Nodes { proxies, channels }
    }

    async fn get(&mut self, node: usize) -> Option<Channel> {
        let proxy = self.proxies.get(node)?;
        let slot = self.channels.get_mut(node)?;
        if slot.is_none() {
            *slot = dial_channel(proxy).await;
        }
        slot.clone()
    }

    async fn failed(&mut self, node: usize) {
        if let Some(slot) = self.channels.get_mut(node) {
            *slot = None;
        }
        tokio::time::sleep(BACKOFF).await;
    }

    /// A random node other than `not` (any node when there is only one).
    fn other(&self, not: usize, rng: &mut StdRng) -> usize {
        let n = self.proxies.len().max(1);
        if n == 1 {
            return 0;
        }
        (not + rng.gen_range(1..n)) % n
    }
}

fn options() -> Option<Options> {
    Some(Options {
        namespace: NAMESPACE.into(),
    })
}

/// The subject (account id) an access token names, read without verifying it: the token
/// request's answer as an observation of which account exists.
fn jwt_subject(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// What one op needs from the client.
struct Ctx<'a> {
    process: u64,
    nodes: &'a mut Nodes,
    pool: &'a AuthPool,
    clock: &'a Clock,
    rng: &'a mut StdRng,
}

impl Ctx<'_> {
    /// The channel to `node`; when it does not answer, the op ends unsent: a fail for a
    /// register op (not applied, nothing learnt), an info for a use (a token never presented
    /// was not refused either).
    async fn channel(&mut self, node: usize, inv: Invocation) -> Result<(Channel, Invocation), Op> {
        match self.nodes.get(node).await {
            Some(channel) => Ok((channel, inv)),
            None => {
                let now = self.clock.now_ns();
                let op = match inv.kind {
                    OpKind::Use => inv.info(Some(now)),
                    _ => inv.fail(now),
                };
                self.nodes.failed(node).await;
                Err(op)
            }
        }
    }

    /// Auth.Generate of `id` through node `home`, as the admin.
    async fn generate(&mut self, id: String, home: usize) -> Op {
        let secret = format!("{:016x}", self.rng.gen::<u64>());
        let kind = OpKind::Write { value: id.clone() };
        let inv = Op::invoke(self.process, &id, kind, self.clock.now_ns()).on_node(home);
        let (channel, inv) = match self.channel(home, inv).await {
            Ok(c) => c,
            Err(op) => return op,
        };
        let request = GenerateRequest {
            id: id.clone(),
            secret: secret.clone(),
            options: options(),
            ..Default::default()
        };
        let answer = AuthClient::new(as_admin(channel)).generate(request).await;
        let now = self.clock.now_ns();
        let op = match answer {
            Ok(_) => inv.ok_done(now),
            Err(s) if definitely_not_applied(&s) => inv.fail(now),
            Err(_) => inv.info(Some(now)),
        };
        if op.outcome != Outcome::Fail {
            // Unknown outcomes too: token requests then tell whether it exists.
            self.pool.with(|s| {
                s.accounts.push(Account {
                    id,
                    secret,
                    home,
                    refresh: None,
                    deleting: false,
                })
            });
        }
        op
    }

    /// Auth.Token for `account` on `node`, anonymously, by secret or by refresh token: an ok
    /// answer reads the account as present (the token's subject), "not found" as absent.
    async fn token(&mut self, account: &Account, node: usize, by_refresh: bool) -> Op {
        let refresh = account.refresh.clone().filter(|_| by_refresh);
        let via = if refresh.is_some() {
            "refresh"
        } else {
            "secret"
        };
        let inv = Op::invoke(self.process, &account.id, OpKind::Read, self.clock.now_ns())
            .on_node(node)
            .via(via);
        let (channel, inv) = match self.channel(node, inv).await {
            Ok(c) => c,
            Err(op) => return op,
        };
        let lifetime = TOKEN_LIFETIME.as_secs() as i64;
        let request = match refresh {
            Some(refresh_token) => TokenRequest {
                refresh_token,
                token_expiry: lifetime,
                options: options(),
                ..Default::default()
            },
            None => TokenRequest {
                id: account.id.clone(),
                secret: account.secret.clone(),
                token_expiry: lifetime,
                options: options(),
                ..Default::default()
            },
        };
        let answer = AuthClient::new(channel).token(request).await;
        let now = self.clock.now_ns();
        match answer.map(|r| r.into_inner().token) {
            Ok(Some(token)) => {
                let subject =
                    jwt_subject(&token.access_token).unwrap_or_else(|| "<unreadable token>".into());
                let id = self.pool.issued(
                    &account.id,
                    token.access_token,
                    node,
                    token.refresh_token,
                    self.rng,
                );
                inv.token(id).ok_value(Some(subject), now)
            }
            // The service always answers with a token; without one nothing was learnt.
            Ok(None) => inv.fail(now),
            Err(s) if no_such_account(&s) => inv.ok_read(None, now),
            Err(_) => {
                self.nodes.failed(node).await;
                inv.fail(now)
            }
        }
    }

    /// Presents `token` to `node`: through Auth.Inspect (anonymously, the token in the body,
    /// as a service checking a caller's token would) or as the bearer of Rules.List, which
    /// needs an account of the namespace.
    async fn present(&mut self, token: &Issued, node: usize, inspect: bool) -> Op {
        let inv = Op::invoke(
            self.process,
            &token.account,
            OpKind::Use,
            self.clock.now_ns(),
        )
        .on_node(node)
        .token(&token.id)
        .via(if inspect { "inspect" } else { "bearer" });
        let (channel, inv) = match self.channel(node, inv).await {
            Ok(c) => c,
            Err(op) => return op,
        };
        let op = if inspect {
            let request = InspectRequest {
                token: token.jwt.clone(),
                options: None,
            };
            // Anonymous on purpose: an admin bearer would pass the guard first, whose read
            // barrier on a node without the signing key would hide Inspect's own answer.
            let answer = AuthClient::new(channel).inspect(request).await;
            let now = self.clock.now_ns();
            match answer {
                Ok(r) => inv.ok_accepted(r.into_inner().account.map(|a| a.id), now),
                // Inspect answers a token it does not accept with 400.
                Err(s) if s.code() == tonic::Code::InvalidArgument => {
                    inv.error(detail(&s)).fail(now)
                }
                Err(_) => inv.info(Some(now)),
            }
        } else {
            let Ok(bearer) = Bearer::new(&token.jwt) else {
                // A JWT is always a valid header value; were it not, nothing was sent.
                return inv.info(None);
            };
            let request = ListRequest { options: options() };
            let answer = RulesClient::new(bearer.on(channel)).list(request).await;
            let now = self.clock.now_ns();
            match answer {
                Ok(_) => inv.ok_accepted(None, now),
                Err(s) if refused(&s) => inv.error(detail(&s)).fail(now),
                Err(_) => inv.info(Some(now)),
            }
        };
        if op.outcome == Outcome::Info {
            self.nodes.failed(node).await;
        }
        op
    }

    /// Accounts.Delete of `account` through `node`, as the admin.
    async fn delete(&mut self, account: &Account, node: usize) -> Op {
        let inv = Op::invoke(
            self.process,
            &account.id,
            OpKind::Delete,
            self.clock.now_ns(),
        )
        .on_node(node);
        let (channel, inv) = match self.channel(node, inv).await {
            Ok(c) => c,
            Err(op) => return op,
        };
        let request = DeleteAccountRequest {
            id: account.id.clone(),
            options: options(),
        };
        let answer = AccountsClient::new(as_admin(channel)).delete(request).await;
        let now = self.clock.now_ns();
        match answer {
            Ok(_) => inv.ok_done(now),
            // "Not found": the account did not exist when the deletion applied.
            Err(s) if definitely_not_applied(&s) => inv.fail(now),
            Err(_) => {
                self.nodes.failed(node).await;
                inv.info(Some(now))
            }
        }
    }
}

/// Whether a token request was refused because the account does not exist (by id, or by
/// refresh token: deleting the account drops its refresh token).
fn no_such_account(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::InvalidArgument
        && (s.message().contains("Account not found") || s.message().contains("invalid token"))
}

/// The reason in a status: the `Detail` of Micro's JSON error body, else the whole message.
fn detail(s: &tonic::Status) -> String {
    serde_json::from_str::<serde_json::Value>(s.message())
        .ok()
        .and_then(|body| body.get("Detail")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| s.message().to_owned())
}

/// Whether a call was refused for its bearer token.
fn refused(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
    )
}

/// One client, generating through node `home` (`proxies[home]`) and picking other nodes per
/// op, until `until`: 15% generate (while fewer than 16 accounts are alive), 35% token
/// requests (a quarter of them by refresh token when one is known), 35% uses (half through
/// Inspect), 15% deletions.
pub async fn auth_client(
    mut process: u64,
    home: usize,
    proxies: Vec<String>,
    pool: Arc<AuthPool>,
    clock: Clock,
    until: Instant,
    mut rng: StdRng,
) -> Vec<Op> {
    let client = process;
    let mut nodes = Nodes::new(proxies);
    let mut ops = Vec::new();
    let mut made = 0u64;
    while Instant::now() < until {
        let roll = rng.gen_range(0..20);
        let (account, token) = (pool.pick_account(&mut rng), pool.pick_token(&mut rng));
        let n = nodes.proxies.len().max(1);
        let mut ctx = Ctx {
            process,
            nodes: &mut nodes,
            pool: &pool,
            clock: &clock,
            rng: &mut rng,
        };
        let op = match (roll, account, token) {
            (0..=2, ..) | (_, None, _) if pool.live() < MAX_LIVE_ACCOUNTS => {
                made += 1;
                ctx.generate(format!("a{client}-{made}"), home).await
            }
            (3..=9, Some(account), _) => {
                let node = ctx.rng.gen_range(0..n);
                let by_refresh = ctx.rng.gen_bool(0.25);
                ctx.token(&account, node, by_refresh).await
            }
            (10..=16, _, Some(token)) => {
                let node = ctx.nodes.other(token.node, ctx.rng);
                let inspect = ctx.rng.gen_bool(0.5);
                ctx.present(&token, node, inspect).await
            }
            _ => match pool.claim_deletion(ctx.rng) {
                Some(account) => {
                    let node = ctx.nodes.other(account.home, ctx.rng);
                    ctx.delete(&account, node).await
                }
                None => {
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            },
        };
        let unknown = op.outcome == Outcome::Info;
        ops.push(op);
        if unknown {
            process += PROCESS_STRIDE;
        }
    }
    ops
}

/// After the faults healed: every account's existence asked of every node (by refresh token
/// when one is known, else by secret), and some tokens presented to every node through
/// Inspect, as ordinary ops of the history.
pub async fn final_auth_ops(
    proxies: &[String],
    pool: &AuthPool,
    clock: &Clock,
    first_process: u64,
    seed: u64,
) -> Vec<Op> {
    let (accounts, tokens) = pool.with(|s| (s.accounts.clone(), s.tokens.clone()));
    let mut nodes = Nodes::new(proxies.to_vec());
    let mut rng = rand::SeedableRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    for node in 0..proxies.len() {
        let mut ctx = Ctx {
            process: first_process + node as u64,
            nodes: &mut nodes,
            pool,
            clock,
            rng: &mut rng,
        };
        for account in &accounts {
            ops.push(ctx.token(account, node, true).await);
        }
        for token in tokens.iter().take(FINAL_TOKENS) {
            ops.push(ctx.present(token, node, true).await);
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_subject() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = engine.encode(r#"{"sub":"a1-2","iss":"jepsen","exp":1}"#);
        assert_eq!(
            jwt_subject(&format!("e30.{claims}.sig")),
            Some("a1-2".to_owned())
        );
        assert_eq!(jwt_subject("not a token"), None);
        assert_eq!(jwt_subject("e30.!!!.sig"), None);
    }

    #[test]
    fn refusals_are_told_apart_from_failures() {
        let body = |detail: &str| format!(r#"{{"Id":"micro","Code":400,"Detail":"{detail}"}}"#);
        let not_found = tonic::Status::invalid_argument(body("Account not found with this ID"));
        let stale_refresh = tonic::Status::invalid_argument(body("invalid token provided"));
        let wrong_secret = tonic::Status::invalid_argument(body("Secret not correct"));
        assert!(no_such_account(&not_found) && no_such_account(&stale_refresh));
        assert!(!no_such_account(&wrong_secret));
        assert!(!no_such_account(&tonic::Status::unavailable("no leader")));
        assert_eq!(detail(&not_found), "Account not found with this ID");
        assert_eq!(
            detail(&tonic::Status::unavailable("no leader")),
            "no leader"
        );
        assert!(refused(&tonic::Status::unauthenticated("bad token")));
        assert!(!refused(&tonic::Status::deadline_exceeded("slow")));
    }

    #[test]
    fn another_node_is_another_node() {
        let nodes = Nodes::new(vec!["a".into(), "b".into(), "c".into()]);
        let mut rng = rand::SeedableRng::seed_from_u64(1);
        for not in 0..3 {
            for _ in 0..20 {
                let other = nodes.other(not, &mut rng);
                assert!(other != not && other < 3);
            }
        }
        let single = Nodes::new(vec!["a".into()]);
        assert_eq!(single.other(0, &mut rng), 0);
    }
}
