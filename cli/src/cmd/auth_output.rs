//! How `micro auth` prints: the rules and accounts tables (tab-padded, as Micro's tabwriter with
//! cells joined by two tabs) and the `Account created: <JSON>` line in Go's JSON encoding.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use micro_proto::auth::{Access, Account, Resource, Rule};
use serde::Serialize;

use crate::table::Table;

/// `type:name:endpoint`.
pub fn resource_text(resource: Option<&Resource>) -> String {
    let r = resource.cloned().unwrap_or_default();
    format!("{}:{}:{}", r.r#type, r.name, r.endpoint)
}

/// `GRANTED`, `DENIED` or `UNKNOWN`; an unknown number is printed as it is, as Go does.
pub fn access_text(access: i32) -> String {
    match Access::try_from(access) {
        Ok(a) => a.as_str_name().to_owned(),
        Err(_) => access.to_string(),
    }
}

/// The `auth list rules` table, sorted as Micro sorts it: by resource then priority, descending.
pub fn rules_table(rules: &[Rule]) -> String {
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    // Stable, so rules with the same resource and priority keep the server's order.
    sorted.sort_by(|a, b| {
        let key = |r: &Rule| (resource_text(r.resource.as_ref()), r.priority);
        key(b).cmp(&key(a))
    });
    let mut table = Table::new();
    table.row(micro_row(&[
        "ID", "Scope", "Access", "Resource", "Priority",
    ]));
    for rule in sorted {
        let scope = if rule.scope.is_empty() {
            "<public>"
        } else {
            &rule.scope
        };
        table.row(micro_row(&[
            &rule.id,
            scope,
            &access_text(rule.access),
            &resource_text(rule.resource.as_ref()),
            &rule.priority.to_string(),
        ]));
    }
    table.render_tabbed()
}

/// The `auth list accounts` table, in the server's order.
pub fn accounts_table(accounts: &[Account]) -> String {
    let mut table = Table::new();
    table.row(micro_row(&["ID", "Name", "Scopes", "Metadata"]));
    for account in accounts {
        let scopes = match account.scopes.join(", ") {
            s if s.is_empty() => "n/a".to_owned(),
            s => s,
        };
        // Micro prints `k=v ` per entry in Go's random map order; we sort for stable output.
        let sorted: BTreeMap<_, _> = account.metadata.iter().collect();
        let metadata = match sorted.iter().map(|(k, v)| format!("{k}={v} ")).collect() {
            s if String::is_empty(&s) => "n/a".to_owned(),
            s => s,
        };
        table.row(micro_row(&[&account.id, &account.name, &scopes, &metadata]));
    }
    table.render_tabbed()
}

/// Cells as Micro writes them, `strings.Join(cells, "\t\t")`: an empty column between each two.
fn micro_row(cells: &[&str]) -> Vec<String> {
    let mut row = Vec::with_capacity(cells.len() * 2);
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            row.push(String::new());
        }
        row.push((*cell).to_owned());
    }
    row
}

/// Micro's `auth.Account` as Go's `json.Marshal` writes it: fields in this order, nil metadata
/// and scopes as `null`.
#[derive(Serialize)]
struct GoAccount<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    issuer: &'a str,
    metadata: Option<BTreeMap<&'a str, &'a str>>,
    scopes: Option<&'a [String]>,
    secret: &'a str,
    name: &'a str,
}

/// `Account created: ` is followed by this compact JSON.
pub fn account_json(account: &Account) -> Result<String> {
    let metadata = (!account.metadata.is_empty()).then(|| {
        account
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    });
    let go = GoAccount {
        id: &account.id,
        kind: &account.r#type,
        issuer: &account.issuer,
        metadata,
        scopes: (!account.scopes.is_empty()).then_some(account.scopes.as_slice()),
        secret: &account.secret,
        name: &account.name,
    };
    let json = serde_json::to_string(&go).context("encoding the account")?;
    Ok(go_escape(&json))
}

/// Applies Go's HTML-safe escaping, which `json.Marshal` does and serde does not. These
/// characters can only occur inside JSON strings, so replacing them everywhere is safe.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, scope: &str, resource: (&str, &str, &str), access: Access, p: i32) -> Rule {
        Rule {
            id: id.into(),
            scope: scope.into(),
            resource: Some(Resource {
                r#type: resource.0.into(),
                name: resource.1.into(),
                endpoint: resource.2.into(),
            }),
            access: access as i32,
            priority: p,
        }
    }

    #[test]
    fn rules_table_matches_micro() {
        let rules = [
            rule("default", "", ("*", "*", "*"), Access::Granted, 0),
            rule("onlyloggedin", "*", ("*", "*", "*"), Access::Granted, 0),
            rule(
                "auth-public",
                "",
                ("service", "auth", "*"),
                Access::Granted,
                0,
            ),
            rule("deny", "admin", ("*", "*", "*"), Access::Denied, 5),
        ];
        assert_eq!(
            rules_table(&rules),
            "ID\t\t\tScope\t\t\tAccess\t\tResource\t\tPriority\n\
             auth-public\t\t<public>\t\tGRANTED\t\tservice:auth:*\t\t0\n\
             deny\t\t\tadmin\t\t\tDENIED\t\t*:*:*\t\t\t5\n\
             default\t\t\t<public>\t\tGRANTED\t\t*:*:*\t\t\t0\n\
             onlyloggedin\t\t*\t\t\tGRANTED\t\t*:*:*\t\t\t0\n"
        );
    }

    #[test]
    fn default_rule_alone() {
        let rules = [rule("default", "", ("*", "*", "*"), Access::Granted, 0)];
        assert_eq!(
            rules_table(&rules),
            "ID\t\tScope\t\t\tAccess\t\tResource\t\tPriority\n\
             default\t\t<public>\t\tGRANTED\t\t*:*:*\t\t\t0\n"
        );
        assert_eq!(access_text(0), "UNKNOWN");
        assert_eq!(access_text(9), "9");
        assert_eq!(resource_text(None), "::");
    }

    #[test]
    fn accounts_table_matches_the_seed_sample() {
        let admin = Account {
            id: "admin".into(),
            name: "admin".into(),
            scopes: vec!["admin".into()],
            ..Default::default()
        };
        assert_eq!(
            accounts_table(std::slice::from_ref(&admin)),
            "ID\t\tName\t\tScopes\t\tMetadata\nadmin\t\tadmin\t\tadmin\t\tn/a\n"
        );
        let jane = Account {
            id: "jane".into(),
            name: "jane".into(),
            scopes: vec!["admin".into(), "dev".into()],
            metadata: [
                ("created".to_owned(), "1".to_owned()),
                ("a".into(), "b".into()),
            ]
            .into(),
            ..Default::default()
        };
        let none = Account {
            id: "svc".into(),
            name: "svc".into(),
            ..Default::default()
        };
        assert_eq!(
            accounts_table(&[admin, jane, none]),
            "ID\t\tName\t\tScopes\t\t\tMetadata\n\
             admin\t\tadmin\t\tadmin\t\t\tn/a\n\
             jane\t\tjane\t\tadmin, dev\t\ta=b created=1 \n\
             svc\t\tsvc\t\tn/a\t\t\tn/a\n"
        );
    }

    #[test]
    fn account_json_matches_go() {
        let account = Account {
            id: "jane".into(),
            r#type: "user".into(),
            issuer: "micro".into(),
            scopes: vec!["admin".into()],
            secret: "bb7c1a96-c0c6-4ff5-a0e9-13d456f3db0a".into(),
            name: "jane".into(),
            ..Default::default()
        };
        assert_eq!(
            account_json(&account).unwrap(),
            r#"{"id":"jane","type":"user","issuer":"micro","metadata":null,"scopes":["admin"],"secret":"bb7c1a96-c0c6-4ff5-a0e9-13d456f3db0a","name":"jane"}"#
        );
        let account = Account {
            id: "<a&b>".into(),
            metadata: [
                ("z".to_owned(), "1".to_owned()),
                ("created".into(), "2".into()),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            account_json(&account).unwrap(),
            r#"{"id":"\u003ca\u0026b\u003e","type":"","issuer":"","metadata":{"created":"2","z":"1"},"scopes":null,"secret":"","name":""}"#
        );
    }
}
