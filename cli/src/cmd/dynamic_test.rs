//! Dynamic command parsing and flag mapping, against the examples of Micro's own tests.

use super::*;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn field(name: &str, kind: &str, values: Vec<Value>) -> Value {
    Value {
        name: name.into(),
        r#type: kind.into(),
        values,
    }
}

/// The schema of Micro's dynamic_test.go: ss []string, b bool, user{email, friend{email}}.
fn schema() -> Value {
    field(
        "Request",
        "Request",
        vec![
            field("ss", "[]string", vec![]),
            field("b", "bool", vec![]),
            field("n", "int64", vec![]),
            field(
                "user",
                "User",
                vec![
                    field("email", "string", vec![]),
                    field("friend", "Friend", vec![field("email", "string", vec![])]),
                ],
            ),
            field(
                "options",
                "Options",
                vec![field("domain", "string", vec![])],
            ),
            field("metadata", "map[string]string", vec![]),
            field("auto_ack", "bool", vec![]),
        ],
    )
}

fn body(words: &[&str]) -> Result<serde_json::Value> {
    let w = split(&args(words))?;
    request_body(Some(&schema()), &w.flags)
}

#[test]
fn lists_come_from_commas_or_repeated_flags() {
    for form in [
        &["svc", "--ss=a,b"][..],
        &["svc", "--ss", "a,b"],
        &["svc", "--ss=a", "--ss=b"],
    ] {
        assert_eq!(body(form).unwrap(), json!({"ss": ["a", "b"]}), "{form:?}");
    }
}

#[test]
fn bare_bools_nested_fields_and_dashes() {
    assert_eq!(body(&["svc", "--b"]).unwrap(), json!({"b": true}));
    assert_eq!(
        body(&["svc", "--user_email=x"]).unwrap(),
        json!({"user": {"email": "x"}})
    );
    assert_eq!(
        body(&["svc", "--user_friend_email=hi"]).unwrap(),
        json!({"user": {"friend": {"email": "hi"}}})
    );
    assert_eq!(
        body(&["svc", "--options-domain=x", "--user-email", "e"]).unwrap(),
        json!({"options": {"domain": "x"}, "user": {"email": "e"}})
    );
    assert_eq!(
        body(&["svc", "--auto_ack"]).unwrap(),
        json!({"auto_ack": true})
    );
    assert_eq!(body(&["svc", "--n=42"]).unwrap(), json!({"n": 42}));
    assert_eq!(
        body(&["svc", r#"--metadata={"k":"v"}"#]).unwrap(),
        json!({"metadata": {"k": "v"}})
    );
}

#[test]
fn bad_flags_are_refused_with_micros_messages() {
    assert_eq!(
        body(&["svc", "--nope=1"]).unwrap_err().to_string(),
        "Unknown flag: nope"
    );
    assert_eq!(
        split(&args(&["svc", "--a=b=c"])).unwrap_err().to_string(),
        "Invalid flag: --a=b=c. Expected format: --foo=bar"
    );
    assert!(body(&["svc", "--n=x"]).is_err());
    assert!(body(&["svc", "--b=maybe"]).is_err());
}

#[test]
fn positionals_name_the_endpoint() {
    let e = |w: &[&str]| endpoint_name(&args(w)).unwrap();
    assert_eq!(e(&["helloworld"]), "Helloworld.Call");
    assert_eq!(e(&["registry", "getService"]), "Registry.GetService");
    assert_eq!(e(&["events", "stream", "publish"]), "Stream.Publish");
    assert!(endpoint_name(&[]).is_err());
    let w = split(&args(&[
        "registry",
        "getService",
        "--service",
        "store",
        "--help",
    ]))
    .unwrap();
    assert_eq!(w.positionals, args(&["registry", "getService"]));
    assert!(w.help);
}

#[test]
fn help_lists_commands_and_flags_like_micro() {
    let endpoints = vec![
        Endpoint {
            name: "Registry.GetService".into(),
            request: Some(field(
                "GetRequest",
                "GetRequest",
                vec![
                    field("service", "string", vec![]),
                    field(
                        "options",
                        "Options",
                        vec![
                            field("ttl", "int64", vec![]),
                            field("domain", "string", vec![]),
                        ],
                    ),
                ],
            )),
            ..Default::default()
        },
        Endpoint {
            name: "Other.DoThing".into(),
            ..Default::default()
        },
    ];
    assert_eq!(
        service_help("registry", "v1", &endpoints),
        "NAME:\n\tmicro registry\n\nVERSION:\n\tv1\n\nUSAGE:\n\tmicro registry [command]\n\nCOMMANDS:\n\tgetService\n\tother doThing\n"
    );
    assert_eq!(
        endpoint_help("registry", &endpoints[0]),
        "NAME:\n\tmicro registry getService\n\nUSAGE:\n\tmicro registry getService [flags]\n\nFLAGS:\n\t--service string\n\t--options_ttl int64\n\t--options_domain string\n"
    );
}

#[test]
fn responses_print_tab_indented() {
    assert_eq!(
        pretty(&json!({"a": {"b": 1}})).unwrap(),
        "{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}\n"
    );
}
