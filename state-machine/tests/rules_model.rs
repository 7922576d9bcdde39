//! Property tests of the auth rule matcher: against a model that states Micro's semantics as
//! quantifiers ("some rule grants and every rule considered before it passes"), and against
//! metamorphic facts any correct matcher keeps (order of distinct priorities, case, unrelated
//! rules, cross-namespace callers). Micro's own example table is in `auth::rules`' unit tests.

use micro_state_machine::auth::{allows, Access, Principal, Resource, Rule};
use proptest::prelude::*;

const NAMESPACES: [&str; 2] = ["micro", "foo"];
const SCOPES: [&str; 5] = ["", "*", "+", "admin", "dev"];

fn part(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(str::to_owned)
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        part(&SCOPES),
        part(&["*", "service"]),
        part(&["*", "store", "auth"]),
        part(&["*", "Store.Read", "Auth.Token", "/a/*", "/a/b"]),
        any::<bool>(),
        0i32..3,
    )
        .prop_map(|(scope, kind, name, endpoint, granted, priority)| Rule {
            id: String::new(),
            scope,
            resource: Resource {
                kind,
                name,
                endpoint,
            },
            access: if granted {
                Access::Granted
            } else {
                Access::Denied
            },
            priority,
        })
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    (
        part(&["service", "web"]),
        part(&["store", "auth"]),
        part(&["Store.Read", "Auth.Token", "/a/b", "/a/c"]),
    )
        .prop_map(|(kind, name, endpoint)| Resource {
            kind,
            name,
            endpoint,
        })
}

#[derive(Debug, Clone)]
struct Caller {
    issuer: String,
    scopes: Vec<String>,
}

fn arb_caller() -> impl Strategy<Value = Option<Caller>> {
    prop::option::of(
        (
            part(&NAMESPACES),
            prop::collection::vec(part(&["admin", "dev", "ops"]), 0..3),
        )
            .prop_map(|(issuer, scopes)| Caller { issuer, scopes }),
    )
}

fn principal(c: &Option<Caller>) -> Option<Principal<'_>> {
    c.as_ref().map(|c| Principal {
        issuer: &c.issuer,
        scopes: &c.scopes,
    })
}

/// Whether `rule` covers `res`, spelled out: each part equal or `*`; path endpoints also
/// covered by any `<prefix>/*` of theirs.
fn covers(rule: &Rule, res: &Resource) -> bool {
    let eq = |a: &str, b: &str| a == "*" || a.eq_ignore_ascii_case(b);
    let endpoint = rule.resource.endpoint.as_str();
    let endpoint_ok = eq(endpoint, &res.endpoint)
        || (res.endpoint.contains('/')
            && endpoint.ends_with("/*")
            && (res.endpoint.to_lowercase() + "/")
                .starts_with(&endpoint[..endpoint.len() - 1].to_lowercase()));
    eq(&rule.resource.kind, &res.kind) && eq(&rule.resource.name, &res.name) && endpoint_ok
}

/// What a covering rule says about the caller: Some(decision) or None (passes to the next).
fn verdict(rule: &Rule, caller: &Option<Caller>, ns: &str) -> Option<bool> {
    let granted = rule.access == Access::Granted;
    match (rule.scope.as_str(), caller) {
        ("", _) => Some(granted),
        (_, None) => None,
        ("+", Some(_)) => Some(granted),
        (_, Some(c)) if c.issuer != ns => Some(false),
        ("*", Some(_)) => Some(granted),
        (scope, Some(c)) if c.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope)) => Some(granted),
        _ => None,
    }
}

/// The model: allowed iff some covering rule grants, and every covering rule considered
/// before it (strictly higher priority, or equal priority and earlier) passes.
fn model(rules: &[Rule], caller: &Option<Caller>, res: &Resource, ns: &str) -> bool {
    let covering: Vec<(usize, &Rule)> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| covers(r, res))
        .collect();
    covering.iter().any(|&(i, r)| {
        verdict(r, caller, ns) == Some(true)
            && covering
                .iter()
                .filter(|&&(j, o)| o.priority > r.priority || (o.priority == r.priority && j < i))
                .all(|&(_, o)| verdict(o, caller, ns).is_none())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matcher_agrees_with_the_model(
        rules in prop::collection::vec(arb_rule(), 0..6),
        caller in arb_caller(),
        res in arb_resource(),
        ns in part(&NAMESPACES),
    ) {
        prop_assert_eq!(
            allows(&rules, principal(&caller), &res, &ns),
            model(&rules, &caller, &res, &ns)
        );
    }

    #[test]
    fn order_of_distinct_priorities_does_not_matter(
        rules in prop::collection::vec(arb_rule(), 0..6),
        caller in arb_caller(),
        res in arb_resource(),
        ns in part(&NAMESPACES),
    ) {
        let mut distinct = rules;
        for (i, r) in distinct.iter_mut().enumerate() {
            r.priority = i as i32 * 7 % 11;
        }
        let mut reversed = distinct.clone();
        reversed.reverse();
        prop_assert_eq!(
            allows(&distinct, principal(&caller), &res, &ns),
            allows(&reversed, principal(&caller), &res, &ns)
        );
    }

    #[test]
    fn case_and_unrelated_rules_do_not_matter(
        rules in prop::collection::vec(arb_rule(), 0..6),
        caller in arb_caller(),
        res in arb_resource(),
        ns in part(&NAMESPACES),
        extra in arb_rule(),
    ) {
        let expected = allows(&rules, principal(&caller), &res, &ns);
        let shouting = Resource {
            kind: res.kind.to_uppercase(),
            name: res.name.to_uppercase(),
            endpoint: res.endpoint.to_uppercase(),
        };
        prop_assert_eq!(allows(&rules, principal(&caller), &shouting, &ns), expected);
        let mut unrelated = extra;
        unrelated.resource.name = "nothing-calls-this".into();
        let mut more = rules.clone();
        more.insert(0, unrelated);
        prop_assert_eq!(allows(&more, principal(&caller), &res, &ns), expected);
    }

    #[test]
    fn other_namespaces_get_in_only_through_public_or_plus_rules(
        rules in prop::collection::vec(arb_rule(), 0..6),
        scopes in prop::collection::vec(part(&["admin", "dev"]), 0..3),
        res in arb_resource(),
    ) {
        let stranger = Some(Caller { issuer: "foo".into(), scopes });
        let open: Vec<Rule> = rules
            .iter()
            .filter(|r| r.scope.is_empty() || r.scope == "+")
            .cloned()
            .collect();
        if allows(&rules, principal(&stranger), &res, "micro") {
            prop_assert!(allows(&open, principal(&stranger), &res, "micro"));
        }
    }

    #[test]
    fn a_top_priority_public_rule_decides_for_everyone(
        rules in prop::collection::vec(arb_rule(), 0..6),
        caller in arb_caller(),
        res in arb_resource(),
        ns in part(&NAMESPACES),
        granted in any::<bool>(),
    ) {
        let mut all = rules;
        all.push(Rule {
            id: "top".into(),
            scope: String::new(),
            resource: Resource { kind: "*".into(), name: "*".into(), endpoint: "*".into() },
            access: if granted { Access::Granted } else { Access::Denied },
            priority: 100,
        });
        prop_assert_eq!(allows(&all, principal(&caller), &res, &ns), granted);
    }
}
