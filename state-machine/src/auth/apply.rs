//! Applying auth commands. Deterministic: every random or secret-derived value arrives in the
//! command, and checks read only the state.

use super::model::{
    account_key, name_key, namespace_prefix, refresh_key, rule_key, validate_account,
    validate_namespace, validate_rule, Account, Rule, SealedKey, RULES_INITIALIZED_PREFIX,
    SIGNING_KEY,
};
use super::query::{self, encode};
use super::rules::{allows, Principal};
use super::{AuthCommand, AuthError, AuthResponse, Resource};
use crate::kv::{ApplyError, KvRead, Txn};
use crate::ApplyContext;

/// What must stay possible in every namespace whatever its rules: an anonymous caller can log
/// in, and an admin of the namespace can manage rules. A rule change that would break either
/// is refused, because Micro users locked themselves out by deleting `default`.
pub const LOCKOUT_CHECKS: [(&str, &str); 2] = [("auth", "Auth.Token"), ("auth", "Rules.Create")];

/// Applies one auth command to `txn`.
pub fn apply(
    txn: &mut Txn<'_>,
    cmd: AuthCommand,
    _ctx: &ApplyContext,
) -> Result<AuthResponse, ApplyError> {
    let outcome = match cmd {
        AuthCommand::CreateAccount { account } => create_account(txn, account),
        AuthCommand::EnsureDefaultAdmin { account } => {
            if query::has_user_account(txn, &account.issuer)? {
                return Ok(AuthResponse::AlreadyDone);
            }
            create_account(txn, account)
        }
        AuthCommand::DeleteAccount {
            namespace,
            id,
            caller,
        } => delete_account(txn, &namespace, &id, caller),
        AuthCommand::ChangeSecret {
            namespace,
            id,
            secret_hash,
            refresh_digest,
            refresh_sealed,
            expected_hash,
        } => change_secret(
            txn,
            &namespace,
            &id,
            (secret_hash, refresh_digest, refresh_sealed),
            expected_hash,
        ),
        AuthCommand::CreateRule { namespace, rule } => create_rule(txn, &namespace, rule),
        AuthCommand::DeleteRule { namespace, id } => delete_rule(txn, &namespace, &id),
        AuthCommand::InitSigningKey { key } => {
            if txn.get(SIGNING_KEY)?.is_some() {
                return Ok(AuthResponse::AlreadyDone);
            }
            txn.put(SIGNING_KEY.to_vec(), encode(&key)?);
            Ok(Ok(()))
        }
    }?;
    Ok(match outcome {
        Ok(()) => AuthResponse::Done,
        Err(e) => AuthResponse::Err(e),
    })
}

/// Inner result: `Err(ApplyError)` is fatal, `Ok(Err(AuthError))` a refusal.
type Outcome = Result<Result<(), AuthError>, ApplyError>;

fn create_account(txn: &mut Txn<'_>, account: Account) -> Outcome {
    if let Err(e) = validate_account(&account) {
        return Ok(Err(e));
    }
    let ns = &account.issuer;
    if txn.get(&account_key(ns, &account.id))?.is_some() {
        return Ok(Err(AuthError::AlreadyExists(
            "Account with this ID already exists".into(),
        )));
    }
    if txn.get(&name_key(ns, &account.name))?.is_some() {
        return Ok(Err(AuthError::AlreadyExists(
            "Account with this Name already exists".into(),
        )));
    }
    if txn.get(&refresh_key(&account.refresh_digest))?.is_some() {
        return Ok(Err(AuthError::Conflict("refresh token collision".into())));
    }
    write_account(txn, &account)?;
    Ok(Ok(()))
}

fn write_account(txn: &mut Txn<'_>, account: &Account) -> Result<(), ApplyError> {
    let ns = &account.issuer;
    txn.put(account_key(ns, &account.id), encode(account)?);
    txn.put(name_key(ns, &account.name), account.id.as_bytes().to_vec());
    txn.put(
        refresh_key(&account.refresh_digest),
        encode(&(ns.clone(), account.id.clone()))?,
    );
    Ok(())
}

fn remove_account(txn: &mut Txn<'_>, account: &Account) {
    txn.delete(account_key(&account.issuer, &account.id));
    txn.delete(name_key(&account.issuer, &account.name));
    txn.delete(refresh_key(&account.refresh_digest));
}

fn not_found() -> AuthError {
    AuthError::NotFound("Account not found with this ID".into())
}

fn delete_account(
    txn: &mut Txn<'_>,
    namespace: &str,
    id: &str,
    caller: Option<(String, String)>,
) -> Outcome {
    let Some(account) = query::find_account(txn, namespace, id)? else {
        return Ok(Err(not_found()));
    };
    if caller.is_some_and(|(issuer, caller_id)| issuer == account.issuer && caller_id == account.id)
    {
        return Ok(Err(AuthError::Refused(
            "Can't delete your own account".into(),
        )));
    }
    remove_account(txn, &account);
    Ok(Ok(()))
}

fn change_secret(
    txn: &mut Txn<'_>,
    namespace: &str,
    id: &str,
    (secret_hash, refresh_digest, refresh_sealed): (String, String, SealedKey),
    expected_hash: Option<String>,
) -> Outcome {
    let Some(mut account) = query::find_account(txn, namespace, id)? else {
        return Ok(Err(not_found()));
    };
    if expected_hash.is_some_and(|h| h != account.secret_hash) {
        return Ok(Err(AuthError::Conflict(
            "the secret changed while this request was checked; try again".into(),
        )));
    }
    remove_account(txn, &account);
    account.secret_hash = secret_hash;
    account.refresh_digest = refresh_digest;
    account.refresh_sealed = refresh_sealed;
    if let Err(e) = validate_account(&account) {
        return Ok(Err(e));
    }
    if txn.get(&refresh_key(&account.refresh_digest))?.is_some() {
        return Ok(Err(AuthError::Conflict("refresh token collision".into())));
    }
    write_account(txn, &account)?;
    Ok(Ok(()))
}

fn create_rule(txn: &mut Txn<'_>, namespace: &str, rule: Rule) -> Outcome {
    if let Err(e) = validate_namespace(namespace).and_then(|_| validate_rule(&rule)) {
        return Ok(Err(e));
    }
    let before = query::rules(txn, namespace)?;
    if before.iter().any(|r| r.id == rule.id) {
        return Ok(Err(AuthError::AlreadyExists(
            "A rule with this ID already exists".into(),
        )));
    }
    let mut after = before.clone();
    after.push(rule.clone());
    after.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(why) = newly_locked_out(&before, &after, namespace) {
        return Ok(Err(AuthError::Refused(format!(
            "Refusing to create rule {}: {why}",
            rule.id
        ))));
    }
    materialize(txn, namespace, &before)?;
    txn.put(rule_key(namespace, &rule.id), encode(&rule)?);
    Ok(Ok(()))
}

fn delete_rule(txn: &mut Txn<'_>, namespace: &str, id: &str) -> Outcome {
    if let Err(e) = validate_namespace(namespace) {
        return Ok(Err(e));
    }
    let before = query::rules(txn, namespace)?;
    if !before.iter().any(|r| r.id == id) {
        return Ok(Ok(()));
    }
    let after: Vec<Rule> = before.iter().filter(|r| r.id != id).cloned().collect();
    if let Some(why) = newly_locked_out(&before, &after, namespace) {
        return Ok(Err(AuthError::Refused(format!(
            "Refusing to delete rule {id}: {why}. Create a rule that keeps this access first"
        ))));
    }
    materialize(txn, namespace, &before)?;
    txn.delete(rule_key(namespace, id));
    Ok(Ok(()))
}

/// Stores the namespace's effective rules (the implicit `default` of a namespace whose rules
/// were never changed) and marks them as stored, before the first change edits them.
fn materialize(txn: &mut Txn<'_>, namespace: &str, rules: &[Rule]) -> Result<(), ApplyError> {
    let marker = namespace_prefix(RULES_INITIALIZED_PREFIX, namespace);
    if txn.get(&marker)?.is_some() {
        return Ok(());
    }
    txn.put(marker, Vec::new());
    for rule in rules {
        txn.put(rule_key(namespace, &rule.id), encode(rule)?);
    }
    Ok(())
}

/// Why `after` locks `namespace` out when `before` did not, if it does.
fn newly_locked_out(before: &[Rule], after: &[Rule], namespace: &str) -> Option<String> {
    let why = lockout(after, namespace)?;
    lockout(before, namespace).is_none().then_some(why)
}

/// Which [`LOCKOUT_CHECKS`] `rules` fail, as a sentence.
pub fn lockout(rules: &[Rule], namespace: &str) -> Option<String> {
    let (service, endpoint) = LOCKOUT_CHECKS[0];
    if !allows(
        rules,
        None,
        &Resource::service(service, endpoint),
        namespace,
    ) {
        return Some(format!(
            "nobody could log in to namespace {namespace} any more \
             (anonymous calls to {service} {endpoint} would be refused)"
        ));
    }
    let admin = [super::ADMIN_SCOPE.to_owned()];
    let principal = Principal {
        issuer: namespace,
        scopes: &admin,
    };
    let (service, endpoint) = LOCKOUT_CHECKS[1];
    if !allows(
        rules,
        Some(principal),
        &Resource::service(service, endpoint),
        namespace,
    ) {
        return Some(format!(
            "the admins of namespace {namespace} could no longer manage rules \
             (their calls to {service} {endpoint} would be refused)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::{Access, DEFAULT_RULE_ID};
    use crate::kv::in_txn;

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    fn run(map: &mut Map, cmd: AuthCommand) -> AuthResponse {
        let ctx = ApplyContext {
            index: 1,
            time_ms: 0,
        };
        in_txn(map, |t| apply(t, cmd, &ctx).unwrap())
    }

    fn account(ns: &str, id: &str, kind: &str, scopes: &[&str]) -> Account {
        Account {
            id: id.into(),
            name: id.into(),
            kind: kind.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            metadata: BTreeMap::new(),
            issuer: ns.into(),
            secret_hash: format!("hash-of-{id}"),
            refresh_digest: format!("refresh-of-{ns}-{id}"),
            refresh_sealed: crate::config::Secret {
                key_id: "k".into(),
                ciphertext: vec![1, 2, 3],
            },
        }
    }

    fn rule(id: &str, scope: &str, resource: (&str, &str, &str), access: Access) -> Rule {
        Rule {
            id: id.into(),
            scope: scope.into(),
            resource: Resource {
                kind: resource.0.into(),
                name: resource.1.into(),
                endpoint: resource.2.into(),
            },
            access,
            priority: 0,
        }
    }

    #[test]
    fn accounts_are_unique_by_id_and_name_per_namespace() {
        let mut m = Map::new();
        let jane = account("micro", "jane", "user", &["admin"]);
        assert_eq!(
            run(
                &mut m,
                AuthCommand::CreateAccount {
                    account: jane.clone()
                }
            ),
            AuthResponse::Done
        );
        let mut again = account("micro", "jane", "user", &[]);
        again.refresh_digest = "other".into();
        assert_eq!(
            run(
                &mut m,
                AuthCommand::CreateAccount {
                    account: again.clone()
                }
            ),
            AuthResponse::Err(AuthError::AlreadyExists(
                "Account with this ID already exists".into()
            ))
        );
        let mut by_name = account("micro", "j2", "user", &[]);
        by_name.name = "jane".into();
        assert_eq!(
            run(&mut m, AuthCommand::CreateAccount { account: by_name }),
            AuthResponse::Err(AuthError::AlreadyExists(
                "Account with this Name already exists".into()
            ))
        );
        again.issuer = "other".into();
        assert_eq!(
            run(&mut m, AuthCommand::CreateAccount { account: again }),
            AuthResponse::Done
        );
        assert_eq!(
            query::find_account(&m, "micro", "jane").unwrap(),
            Some(jane)
        );
    }

    #[test]
    fn default_admin_is_created_once_and_only_without_users() {
        let mut m = Map::new();
        let admin = account("micro", "admin", "user", &["admin"]);
        let cmd = AuthCommand::EnsureDefaultAdmin {
            account: admin.clone(),
        };
        assert_eq!(run(&mut m, cmd.clone()), AuthResponse::Done);
        assert_eq!(run(&mut m, cmd.clone()), AuthResponse::AlreadyDone);
        assert_eq!(query::accounts(&m, "micro").unwrap().len(), 1);
        // Deleted with no other user left: it comes back, as in Micro.
        let delete = AuthCommand::DeleteAccount {
            namespace: "micro".into(),
            id: "admin".into(),
            caller: None,
        };
        assert_eq!(run(&mut m, delete), AuthResponse::Done);
        assert_eq!(run(&mut m, cmd), AuthResponse::Done);
    }

    #[test]
    fn deleting_oneself_is_refused_and_lookup_accepts_names() {
        let mut m = Map::new();
        let mut a = account("micro", "id1", "user", &["admin"]);
        a.name = "alice".into();
        run(&mut m, AuthCommand::CreateAccount { account: a });
        let by_self = AuthCommand::DeleteAccount {
            namespace: "micro".into(),
            id: "alice".into(),
            caller: Some(("micro".into(), "id1".into())),
        };
        assert!(matches!(
            run(&mut m, by_self),
            AuthResponse::Err(AuthError::Refused(_))
        ));
        let by_other = AuthCommand::DeleteAccount {
            namespace: "micro".into(),
            id: "alice".into(),
            caller: Some(("micro".into(), "root".into())),
        };
        assert_eq!(run(&mut m, by_other), AuthResponse::Done);
        assert!(m.is_empty(), "every index is gone: {m:?}");
    }

    #[test]
    fn change_secret_replaces_hash_and_refresh_index_and_detects_races() {
        let mut m = Map::new();
        run(
            &mut m,
            AuthCommand::CreateAccount {
                account: account("micro", "a", "user", &[]),
            },
        );
        let change = |expected: Option<&str>, hash: &str, digest: &str| AuthCommand::ChangeSecret {
            namespace: "micro".into(),
            id: "a".into(),
            secret_hash: hash.into(),
            refresh_digest: digest.into(),
            refresh_sealed: crate::config::Secret {
                key_id: "k".into(),
                ciphertext: vec![4],
            },
            expected_hash: expected.map(str::to_owned),
        };
        assert_eq!(
            run(&mut m, change(Some("hash-of-a"), "h2", "d2")),
            AuthResponse::Done
        );
        assert!(matches!(
            run(&mut m, change(Some("hash-of-a"), "h3", "d3")),
            AuthResponse::Err(AuthError::Conflict(_))
        ));
        assert_eq!(
            query::account_by_refresh(&m, "refresh-of-micro-a").unwrap(),
            None
        );
        assert_eq!(
            query::account_by_refresh(&m, "d2")
                .unwrap()
                .unwrap()
                .secret_hash,
            "h2"
        );
    }

    #[test]
    fn untouched_namespaces_have_the_default_rule_which_materializes_on_first_change() {
        let mut m = Map::new();
        assert_eq!(query::rules(&m, "ns").unwrap(), vec![Rule::default_rule()]);
        let only = rule("onlyloggedin", "*", ("*", "*", "*"), Access::Granted);
        let create = AuthCommand::CreateRule {
            namespace: "ns".into(),
            rule: only.clone(),
        };
        assert_eq!(run(&mut m, create.clone()), AuthResponse::Done);
        assert_eq!(
            run(&mut m, create),
            AuthResponse::Err(AuthError::AlreadyExists(
                "A rule with this ID already exists".into()
            ))
        );
        let ids: Vec<String> = query::rules(&m, "ns")
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![DEFAULT_RULE_ID.to_owned(), "onlyloggedin".into()]);
        // Other namespaces are untouched.
        assert_eq!(
            query::rules(&m, "micro").unwrap(),
            vec![Rule::default_rule()]
        );
    }

    #[test]
    fn rule_changes_that_lock_everyone_out_are_refused() {
        let mut m = Map::new();
        let delete = |id: &str| AuthCommand::DeleteRule {
            namespace: "micro".into(),
            id: id.into(),
        };
        // Deleting the only rule would leave nothing that lets anyone in.
        let r = run(&mut m, delete(DEFAULT_RULE_ID));
        assert!(
            matches!(&r, AuthResponse::Err(AuthError::Refused(m)) if m.contains("log in")),
            "{r:?}"
        );
        // The seed walkthrough: onlyloggedin + auth-public, then default can go.
        for rule in [
            rule("onlyloggedin", "*", ("*", "*", "*"), Access::Granted),
            rule("auth-public", "", ("service", "auth", "*"), Access::Granted),
        ] {
            assert_eq!(
                run(
                    &mut m,
                    AuthCommand::CreateRule {
                        namespace: "micro".into(),
                        rule
                    }
                ),
                AuthResponse::Done
            );
        }
        assert_eq!(run(&mut m, delete(DEFAULT_RULE_ID)), AuthResponse::Done);
        // Now auth-public is what lets people log in.
        assert!(matches!(
            run(&mut m, delete("auth-public")),
            AuthResponse::Err(AuthError::Refused(_))
        ));
        // Narrow the public rule to login only: then onlyloggedin is what lets admins in.
        let login = rule(
            "login",
            "",
            ("service", "auth", "Auth.Token"),
            Access::Granted,
        );
        assert_eq!(
            run(
                &mut m,
                AuthCommand::CreateRule {
                    namespace: "micro".into(),
                    rule: login
                }
            ),
            AuthResponse::Done
        );
        assert_eq!(run(&mut m, delete("auth-public")), AuthResponse::Done);
        let r = run(&mut m, delete("onlyloggedin"));
        assert!(
            matches!(&r, AuthResponse::Err(AuthError::Refused(m)) if m.contains("manage rules")),
            "{r:?}"
        );
        // A high-priority public deny is refused too; deleting an absent rule succeeds.
        let mut deny = rule("deny-all", "", ("*", "*", "*"), Access::Denied);
        deny.priority = 100;
        assert!(matches!(
            run(
                &mut m,
                AuthCommand::CreateRule {
                    namespace: "micro".into(),
                    rule: deny
                }
            ),
            AuthResponse::Err(AuthError::Refused(_))
        ));
        assert_eq!(run(&mut m, delete("nope")), AuthResponse::Done);
        assert_eq!(query::rules(&m, "micro").unwrap().len(), 2);
    }

    #[test]
    fn the_signing_key_is_set_once() {
        let mut m = Map::new();
        let key = |b: u8| AuthCommand::InitSigningKey {
            key: crate::config::Secret {
                key_id: "k".into(),
                ciphertext: vec![b],
            },
        };
        assert_eq!(run(&mut m, key(1)), AuthResponse::Done);
        assert_eq!(run(&mut m, key(2)), AuthResponse::AlreadyDone);
        assert_eq!(query::signing_key(&m).unwrap().unwrap().ciphertext, vec![1]);
    }

    #[test]
    fn invalid_records_are_refused() {
        let mut m = Map::new();
        let mut bad = account("micro", "", "user", &[]);
        assert!(matches!(
            run(
                &mut m,
                AuthCommand::CreateAccount {
                    account: bad.clone()
                }
            ),
            AuthResponse::Err(AuthError::InvalidArgument(_))
        ));
        bad.id = "x\0y".into();
        assert!(matches!(
            run(&mut m, AuthCommand::CreateAccount { account: bad }),
            AuthResponse::Err(AuthError::InvalidArgument(_))
        ));
        let r = rule("r", "", ("service", "", "*"), Access::Granted);
        assert!(matches!(
            run(
                &mut m,
                AuthCommand::CreateRule {
                    namespace: "micro".into(),
                    rule: r
                }
            ),
            AuthResponse::Err(AuthError::InvalidArgument(_))
        ));
        assert!(m.is_empty());
    }
}
