//! The token checker, for the auth workload: an access token that a token request issued is
//! accepted by every node it is presented to until it expires, as the account it was issued for.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::history::{History, HistoryError, Op, OpKind, OpResult, Outcome};

/// What the checker is told about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenConfig {
    /// How long after its request was sent a token must still be accepted: the lifetime the
    /// workload asks for, less the clock difference between nodes the run may have.
    pub valid_for_ns: u64,
}

/// Why a use broke the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenViolationKind {
    /// A node refused a token that was issued and had not expired.
    Refused,
    /// A node accepted the token as another account.
    WrongAccount,
    /// A use presented a token no ok token request issued (a harness bug).
    UnknownToken,
}

/// One use that broke the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenViolation {
    /// What went wrong.
    pub kind: TokenViolationKind,
    /// The use (its index in the history).
    pub use_index: usize,
    /// The token request that issued the token, if there was one.
    pub issued_index: Option<usize>,
    /// A readable account of it.
    pub description: String,
}

/// The token checker's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenReport {
    /// Tokens issued (ok token requests that found the account).
    pub issued: usize,
    /// Uses accepted, refused, unknown (info).
    pub uses: [usize; 3],
    /// Accepted uses on a node other than the one that issued the token.
    pub cross_node: usize,
    /// Accepted uses invoked after an acknowledged deletion of the account had completed:
    /// deletion does not revoke issued tokens.
    pub after_delete: usize,
    /// Uses invoked after the token's validity window, not judged.
    pub expired: usize,
    /// Every use that broke the rule.
    pub violations: Vec<TokenViolation>,
}

impl TokenReport {
    /// Whether no use broke the rule.
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every `use` op of `history` against the token request that issued its token.
/// Fails only if an op is malformed (a harness failure, not a verdict).
///
/// Tokens are stateless HS256 JWTs: `node::auth::Tokens::verify` checks the signature and the
/// expiry only, and deleting an account revokes none of its tokens. So a use after the
/// deletion is judged like any other (it must be accepted) and counted apart; that fresh token
/// requests fail after a deletion is the account register's business.
pub fn check_tokens(history: &History, config: TokenConfig) -> Result<TokenReport, HistoryError> {
    let mut report = TokenReport::default();
    let mut issued: HashMap<&str, (usize, &Op)> = HashMap::new();
    // Per account, when its first acknowledged deletion completed.
    let mut deleted: BTreeMap<&str, u64> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        op.validate()
            .map_err(|source| HistoryError::InvalidOp { index, source })?;
        match (&op.kind, &op.outcome, &op.meta.token) {
            (OpKind::Read, Outcome::Ok(_), Some(token)) if op.read_value().flatten().is_some() => {
                report.issued += 1;
                issued.insert(token, (index, op));
            }
            (OpKind::Delete, Outcome::Ok(_), _) => {
                if let Some(done) = op.complete_ns {
                    let at = deleted.entry(&op.key).or_insert(done);
                    *at = (*at).min(done);
                }
            }
            _ => {}
        }
    }
    for (index, op) in history.ops.iter().enumerate() {
        if op.kind != OpKind::Use {
            continue;
        }
        let token = op.meta.token.as_deref().unwrap_or_default();
        let violation = |kind, issued_index, description| TokenViolation {
            kind,
            use_index: index,
            issued_index,
            description,
        };
        let Some(&(at, request)) = issued.get(token) else {
            report.violations.push(violation(
                TokenViolationKind::UnknownToken,
                None,
                format!("#{index} ({op}) presented token {token:?}, which no request issued"),
            ));
            continue;
        };
        let account = request.read_value().flatten().unwrap_or_default();
        if op.invoke_ns > request.invoke_ns.saturating_add(config.valid_for_ns) {
            report.expired += 1;
            continue;
        }
        match &op.outcome {
            Outcome::Ok(OpResult::Accepted { account: named }) => {
                report.uses[0] += 1;
                if named.as_deref().is_some_and(|n| n != account) {
                    report.violations.push(violation(
                        TokenViolationKind::WrongAccount,
                        Some(at),
                        format!(
                            "#{index} ({op}) accepted token {token:?} as {named:?}, but #{at} \
                             ({request}) issued it for {account:?}"
                        ),
                    ));
                    continue;
                }
                if op.meta.node != request.meta.node {
                    report.cross_node += 1;
                }
                if deleted
                    .get(op.key.as_str())
                    .is_some_and(|&d| d < op.invoke_ns)
                {
                    report.after_delete += 1;
                }
            }
            Outcome::Fail => {
                report.uses[1] += 1;
                report.violations.push(violation(
                    TokenViolationKind::Refused,
                    Some(at),
                    format!(
                        "#{index} ({op}) was refused, but #{at} ({request}) had issued token \
                         {token:?} for {account:?} and it had not expired"
                    ),
                ));
            }
            _ => report.uses[2] += 1,
        }
    }
    Ok(report)
}

#[cfg(test)]
#[path = "tokens_test.rs"]
mod tests;
