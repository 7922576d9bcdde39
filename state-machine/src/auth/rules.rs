//! Micro's rule matcher (`util/auth/rules`): which rule decides whether a caller may reach a
//! resource. Pure, so the edges (every request) and apply (the lock-out check) share it.

use super::model::{
    Access, Resource, Rule, SCOPE_ACCOUNT, SCOPE_ANY_NAMESPACE_ACCOUNT, SCOPE_PUBLIC,
};

/// The caller as rules see it: the namespace that issued its account and its scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    /// The account's issuer namespace.
    pub issuer: &'a str,
    /// The account's scopes.
    pub scopes: &'a [String],
}

/// Whether `caller` (`None` = anonymous) may reach `resource` under `rules`, checked on behalf
/// of `namespace`.
///
/// Rules whose type, name and endpoint match (each equal, case-insensitively, or `*`; a path
/// endpoint `/a/b` is also matched by `/a/*` and `/a/b/*`) are considered by priority, highest
/// first, ties in the given order. The first that applies decides:
/// - a public rule decides for everyone;
/// - otherwise anonymous callers skip the rule;
/// - an account of another namespace is refused unless the rule's scope is `+`;
/// - `*` and `+` decide for any account; a named scope decides for accounts holding it.
///
/// No deciding rule means refused.
pub fn allows(
    rules: &[Rule],
    caller: Option<Principal<'_>>,
    resource: &Resource,
    namespace: &str,
) -> bool {
    let endpoints = endpoint_patterns(&resource.endpoint);
    let mut matching: Vec<&Rule> = rules
        .iter()
        .filter(|r| {
            matches_part(&r.resource.kind, &resource.kind)
                && matches_part(&r.resource.name, &resource.name)
                && endpoints.iter().any(|e| eq_fold(e, &r.resource.endpoint))
        })
        .collect();
    // Stable: equal priorities keep their order, as Go's sort.SliceStable does.
    matching.sort_by_key(|r| std::cmp::Reverse(r.priority));
    for rule in matching {
        let granted = rule.access == Access::Granted;
        if rule.scope == SCOPE_PUBLIC {
            return granted;
        }
        let Some(caller) = caller else { continue };
        if rule.scope != SCOPE_ANY_NAMESPACE_ACCOUNT && caller.issuer != namespace {
            return false;
        }
        if rule.scope == SCOPE_ACCOUNT || rule.scope == SCOPE_ANY_NAMESPACE_ACCOUNT {
            return granted;
        }
        if caller.scopes.iter().any(|s| eq_fold(s, &rule.scope)) {
            return granted;
        }
    }
    false
}

fn matches_part(rule_part: &str, value: &str) -> bool {
    rule_part == "*" || eq_fold(rule_part, value)
}

fn eq_fold(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// `*`, the endpoint itself, and for a path `/a/b`: `/*`, `/a/*`, `/a/b/*`.
fn endpoint_patterns(endpoint: &str) -> Vec<String> {
    let mut patterns = vec!["*".to_owned(), endpoint.to_owned()];
    let parts: Vec<&str> = endpoint.split('/').collect();
    if parts.len() > 1 {
        for i in 1..=parts.len() {
            patterns.push(format!("{}/*", parts[..i].join("/")));
        }
    }
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: &str, resource: &Resource, access: Access, priority: i32) -> Rule {
        Rule {
            id: format!("{scope}-{priority}"),
            scope: scope.into(),
            resource: resource.clone(),
            access,
            priority,
        }
    }

    fn res(kind: &str, name: &str, endpoint: &str) -> Resource {
        Resource {
            kind: kind.into(),
            name: name.into(),
            endpoint: endpoint.into(),
        }
    }

    /// One example: name, rules, caller, resource, namespace, expected outcome.
    type Case<'a> = (
        &'a str,
        Vec<Rule>,
        Option<Principal<'a>>,
        &'a Resource,
        &'a str,
        bool,
    );

    /// Micro's own examples (`util/auth/rules/rules_test.go`), one per line: rules, caller,
    /// resource, namespace, expected outcome. The Go tests verify in namespace "" unless they
    /// say otherwise, and their empty accounts have issuer "".
    #[test]
    fn micro_examples() {
        let srv = res("service", "go.micro.service.foo", "Foo.Bar");
        let web = res("service", "go.micro.web.foo", "/foo/bar");
        let all = res("*", "*", "*");
        let runtime = res("service", "runtime", "Runtime.Read");
        let none: &[String] = &[];
        let needed = vec!["neededscope".to_owned()];
        let admin = vec!["admin".to_owned()];
        let anon = None;
        let empty = Some(Principal {
            issuer: "",
            scopes: none,
        });
        let g = Access::Granted;
        let d = Access::Denied;
        let cases: Vec<Case> = vec![
            ("NoRules", vec![], anon, &srv, "", false),
            (
                "CatchallPublicAccount",
                vec![rule("", &all, g, 0)],
                empty,
                &srv,
                "",
                true,
            ),
            (
                "CatchallPublicNoAccount",
                vec![rule("", &all, g, 0)],
                anon,
                &srv,
                "",
                true,
            ),
            (
                "CatchallPrivateAccount",
                vec![rule("*", &all, g, 0)],
                empty,
                &srv,
                "",
                true,
            ),
            (
                "CatchallPrivateNoAccount",
                vec![rule("*", &all, g, 0)],
                anon,
                &srv,
                "",
                false,
            ),
            (
                "CatchallServiceRuleMatch",
                vec![rule(
                    "*",
                    &res("service", "go.micro.service.foo", "*"),
                    g,
                    0,
                )],
                empty,
                &srv,
                "",
                true,
            ),
            (
                "CatchallServiceRuleNoMatch",
                vec![rule("*", &res("service", "wrongname", "*"), g, 0)],
                empty,
                &srv,
                "",
                false,
            ),
            (
                "ExactRuleValidScope",
                vec![rule("neededscope", &srv, g, 0)],
                Some(Principal {
                    issuer: "",
                    scopes: &needed,
                }),
                &srv,
                "",
                true,
            ),
            (
                "ExactRuleInvalidScope",
                vec![rule("invalidscope", &srv, g, 0)],
                Some(Principal {
                    issuer: "",
                    scopes: &needed,
                }),
                &srv,
                "",
                false,
            ),
            (
                "CatchallDenyWithAccount",
                vec![rule("*", &all, d, 0)],
                empty,
                &srv,
                "",
                false,
            ),
            (
                "RulePriorityGrantFirst",
                vec![rule("*", &all, g, 1), rule("*", &all, d, 0)],
                empty,
                &srv,
                "",
                true,
            ),
            (
                "RulePriorityDenyFirst",
                vec![rule("*", &all, g, 0), rule("*", &all, d, 1)],
                empty,
                &srv,
                "",
                false,
            ),
            (
                "WebExactEndpointValid",
                vec![rule("*", &web, g, 0)],
                empty,
                &web,
                "",
                true,
            ),
            (
                "WebExactEndpointInvalid",
                vec![rule(
                    "*",
                    &res("service", "go.micro.web.foo", "invalidendpoint"),
                    g,
                    0,
                )],
                empty,
                &web,
                "",
                false,
            ),
            (
                "WebWildcardEndpoint",
                vec![rule("*", &res("service", "go.micro.web.foo", "*"), g, 0)],
                empty,
                &web,
                "",
                true,
            ),
            (
                "WebWildcardPathEndpointValid",
                vec![rule(
                    "*",
                    &res("service", "go.micro.web.foo", "/foo/*"),
                    g,
                    0,
                )],
                empty,
                &web,
                "",
                true,
            ),
            (
                "WebWildcardPathEndpointInvalid",
                vec![rule(
                    "*",
                    &res("service", "go.micro.web.foo", "/bar/*"),
                    g,
                    0,
                )],
                empty,
                &web,
                "",
                false,
            ),
            (
                "CrossNamespaceForbidden",
                vec![rule("*", &all, g, 0)],
                Some(Principal {
                    issuer: "foo",
                    scopes: none,
                }),
                &srv,
                "bar",
                false,
            ),
            (
                "CrossNamespaceNilAccountForbidden",
                vec![rule("*", &all, g, 0)],
                empty,
                &srv,
                "bar",
                false,
            ),
            (
                "CrossNamespacePublic",
                vec![rule("", &all, g, 0)],
                Some(Principal {
                    issuer: "foo",
                    scopes: none,
                }),
                &srv,
                "bar",
                true,
            ),
            (
                "CrossNamespacePublicNilAccount",
                vec![rule("", &all, g, 0)],
                empty,
                &srv,
                "bar",
                true,
            ),
            (
                "CrossNamespaceCrossIssuerTrue",
                vec![rule("+", &res("service", "runtime", "*"), g, 1)],
                Some(Principal {
                    issuer: "foo-bar-baz",
                    scopes: &admin,
                }),
                &runtime,
                "my-user-ns",
                true,
            ),
            (
                "CrossNamespaceCrossIssuerFalse",
                vec![rule("*", &res("service", "runtime", "*"), g, 1)],
                Some(Principal {
                    issuer: "foo-bar-baz",
                    scopes: &admin,
                }),
                &runtime,
                "my-user-ns",
                false,
            ),
        ];
        for (name, rules, caller, resource, ns, expected) in cases {
            assert_eq!(allows(&rules, caller, resource, ns), expected, "{name}");
        }
    }

    #[test]
    fn matching_is_case_insensitive() {
        let rules = vec![rule(
            "",
            &res("SERVICE", "Store", "store.read"),
            Access::Granted,
            0,
        )];
        assert!(allows(
            &rules,
            None,
            &Resource::service("store", "Store.Read"),
            "micro"
        ));
        assert!(!allows(
            &rules,
            None,
            &Resource::service("store", "Store.Write"),
            "micro"
        ));
    }

    #[test]
    fn path_endpoints_match_every_prefix_wildcard() {
        assert_eq!(
            endpoint_patterns("/a/b"),
            vec!["*", "/a/b", "/*", "/a/*", "/a/b/*"]
        );
        assert_eq!(endpoint_patterns("Foo.Bar"), vec!["*", "Foo.Bar"]);
    }
}
