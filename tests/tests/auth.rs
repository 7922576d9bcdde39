//! Auth on a three-node cluster over HTTP and gRPC: tokens issued by one node accepted by the
//! others, the seed's rule walkthrough (anonymous 401 with Micro's body, tokens still work),
//! lock-out refusals, bad tokens, namespace isolation, password changes, login throttling,
//! the racing default admin, and no secret in clear on disk.

use std::time::Duration;

use base64::Engine;
use micro_proto::store::{store_client::StoreClient, ReadRequest};
use micro_tests::{auth, Bearer, TestCluster};
use serde_json::{json, Value};

async fn login(c: &TestCluster, i: usize, id: &str, secret: &str, ns: &str) -> (u16, Value) {
    let body = json!({"id": id, "secret": secret, "options": {"namespace": ns}});
    c.post_as(i, "/auth/token", &body, None).await.unwrap()
}

fn access(answer: &Value) -> String {
    answer["token"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {answer}"))
        .to_owned()
}

/// GETs `url` (with `ns` as `Micro-Namespace`) until `done` holds of the answer, for up to
/// 5 s: edges enforce the rules of their own applied state, which trails a rule change by
/// moments.
async fn get_until(url: &str, ns: Option<&str>, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut request = reqwest::Client::new().get(url);
        if let Some(ns) = ns {
            request = request.header("Micro-Namespace", ns);
        }
        let r = request.send().await.unwrap();
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        if done(code, &text) || std::time::Instant::now() > deadline {
            return (code, text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn read_as(c: &TestCluster, i: usize, token: Option<&str>) -> (u16, Value) {
    c.post_as(i, "/store/read", &json!({"key": "k"}), token)
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_rules_and_accounts_across_nodes() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let (code, _) = c
        .post(
            0,
            "/store/write",
            &json!({"record": {"key": "k", "value": "dg=="}}),
        )
        .await?;
    assert_eq!(code, 200);

    // A token from node 0 works on node 2; anonymous store calls need an account.
    let (code, body) = read_as(&c, 2, Some(&c.admin_token)).await;
    assert_eq!((code, &body["records"][0]["key"]), (200, &json!("k")));
    let (code, body) = read_as(&c, 1, None).await;
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["Detail"], "an account is required");

    // Logging in by id on node 1, refreshing on node 2.
    let (code, answer) = login(&c, 1, "admin", "micro", "micro").await;
    assert_eq!(code, 200, "{answer}");
    let refresh = answer["token"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let expiry: i64 = answer["token"]["expiry"].as_str().unwrap().parse()?;
    let created: i64 = answer["token"]["created"].as_str().unwrap().parse()?;
    assert_eq!(expiry - created, 15 * 60, "default lifetime");
    let (code, refreshed) = c
        .post_as(2, "/auth/token", &json!({"refresh_token": refresh}), None)
        .await?;
    assert_eq!(code, 200, "{refreshed}");
    assert_eq!(read_as(&c, 0, Some(&access(&refreshed))).await.0, 200);
    let (code, body) = c
        .post_as(2, "/auth/token", &json!({"refresh_token": "nope"}), None)
        .await?;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("invalid token provided"))
    );

    // Wrong credentials, as Micro words them.
    let (code, body) = login(&c, 0, "admin", "wrong", "micro").await;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("Secret not correct"))
    );
    let (code, body) = login(&c, 0, "nobody", "x", "micro").await;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("Account not found with this ID"))
    );

    // Accounts: jane (admin), created on node 1 and logging in by name on node 2.
    let (code, created) = c
        .post(
            1,
            "/auth/auth/generate",
            &json!({"id": "jane-id", "name": "jane", "secret": "jane-S3cret-7781", "scopes": ["admin"]}),
        )
        .await?;
    assert_eq!(code, 200, "{created}");
    assert_eq!(created["account"]["secret"], "jane-S3cret-7781");
    assert_eq!(created["account"]["issuer"], "micro");
    let (code, dup) = c
        .post(0, "/auth/auth/generate", &json!({"id": "jane-id"}))
        .await?;
    assert_eq!(
        (code, dup["Detail"].as_str()),
        (400, Some("Account with this ID already exists"))
    );
    let (code, jane) = login(&c, 2, "jane", "jane-S3cret-7781", "micro").await;
    assert_eq!(code, 200, "{jane}");
    let jane = access(&jane);
    let (_, list) = c.post(2, "/auth/accounts/list", &json!({})).await?;
    let ids: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["admin", "jane-id"]);
    assert!(list["accounts"][1]["secret"].as_str().unwrap().is_empty());
    let (code, body) = c
        .post_as(
            0,
            "/auth/accounts/delete",
            &json!({"id": "jane"}),
            Some(&jane),
        )
        .await?;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("Can't delete your own account"))
    );

    // The seed walkthrough, spread over the nodes.
    let rule = |id: &str, scope: &str, resource: (&str, &str, &str)| {
        json!({"rule": {"id": id, "scope": scope, "access": "GRANTED", "priority": 0,
            "resource": {"type": resource.0, "name": resource.1, "endpoint": resource.2}}})
    };
    let (code, body) = c
        .post(0, "/auth/rules/delete", &json!({"id": "default"}))
        .await?;
    assert_eq!(
        code, 400,
        "deleting the only rule locks everyone out: {body}"
    );
    assert!(body["Detail"]
        .as_str()
        .unwrap()
        .contains("nobody could log in"));
    let (code, _) = c
        .post(
            0,
            "/auth/rules/create",
            &rule("onlyloggedin", "*", ("*", "*", "*")),
        )
        .await?;
    assert_eq!(code, 200);
    let (code, _) = c
        .post(
            1,
            "/auth/rules/create",
            &rule("auth-public", "", ("service", "auth", "*")),
        )
        .await?;
    assert_eq!(code, 200);
    let (code, body) = c
        .post(
            2,
            "/auth/rules/create",
            &rule("auth-public", "", ("service", "auth", "*")),
        )
        .await?;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("A rule with this ID already exists"))
    );
    // Malformed rules are refused and change nothing.
    let malformed = [
        rule("no-name", "", ("service", "", "*")),
        rule("colon", "", ("service", "a:b", "*")),
        rule("", "", ("service", "auth", "*")),
        json!({"rule": {"id": "no-access", "resource": {"type": "*", "name": "*", "endpoint": "*"}}}),
        json!({"rule": {"id": "no-resource", "access": "GRANTED"}}),
    ];
    for bad in malformed {
        let (code, body) = c.post(0, "/auth/rules/create", &bad).await?;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let (code, _) = c
        .post(2, "/auth/rules/delete", &json!({"id": "default"}))
        .await?;
    assert_eq!(code, 200);
    let (_, rules) = c.post(1, "/auth/rules/list", &json!({})).await?;
    let ids: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["auth-public", "onlyloggedin"]);

    // Anonymous calls now get Micro's 401 body, on every node and for any service.
    for i in 0..3 {
        let url = format!("http://{}/helloworld/call?name=Alice", c.nodes[i].addrs.api);
        let (code, text) = get_until(&url, None, |code, _| code == 401).await;
        assert_eq!(code, 401);
        assert_eq!(
            text,
            r#"{"Id":"helloworld","Code":401,"Detail":"Unauthorized call made to helloworld:Helloworld.Call","Status":"Unauthorized"}"#
        );
    }
    let (code, body) = read_as(&c, 1, None).await;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (401, Some("Unauthorized call made to store:Store.Read"))
    );
    // ... and over gRPC.
    let anon = auth::connect(&c.nodes[2].addrs.proxy, &Bearer::anonymous()).await?;
    let status = StoreClient::new(anon)
        .read(ReadRequest {
            key: "k".into(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let micro: Value = serde_json::from_str(status.message())?;
    assert_eq!(micro["Code"], 401);
    // Login stays public, and tokens work.
    assert_eq!(login(&c, 0, "admin", "micro", "micro").await.0, 200);
    assert_eq!(read_as(&c, 2, Some(&jane)).await.0, 200);
    // auth-public is now what lets people log in: deleting it is refused.
    let (code, body) = c
        .post(0, "/auth/rules/delete", &json!({"id": "auth-public"}))
        .await?;
    assert_eq!(code, 400, "{body}");

    // A logged-in non-admin passes the rules but not the store's admin check: 403.
    c.post(
        0,
        "/auth/auth/generate",
        &json!({"id": "bob", "secret": "bob-pass-991"}),
    )
    .await?;
    let (_, bob) = login(&c, 1, "bob", "bob-pass-991", "micro").await;
    let (code, body) = read_as(&c, 1, Some(&access(&bob))).await;
    assert_eq!(code, 403, "{body}");

    // Password change on node 0, effective on node 2; the old refresh token is revoked.
    let (_, before) = login(&c, 0, "bob", "bob-pass-991", "micro").await;
    let bob_refresh = before["token"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = json!({"id": "bob", "old_secret": "wrong", "new_secret": "bob-new-pass-3"});
    let (code, body) = c
        .post_as(
            0,
            "/auth/accounts/changeSecret",
            &change,
            Some(&access(&bob)),
        )
        .await?;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("Secret not correct"))
    );
    let change = json!({"id": "bob", "old_secret": "bob-pass-991", "new_secret": "bob-new-pass-3"});
    let (code, body) = c
        .post_as(
            0,
            "/auth/accounts/changeSecret",
            &change,
            Some(&access(&bob)),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(login(&c, 2, "bob", "bob-pass-991", "micro").await.0, 400);
    assert_eq!(login(&c, 2, "bob", "bob-new-pass-3", "micro").await.0, 200);
    let (code, _) = c
        .post_as(
            1,
            "/auth/token",
            &json!({"refresh_token": bob_refresh}),
            None,
        )
        .await?;
    assert_eq!(code, 400);

    // Deleting an account stops its logins everywhere.
    let (code, _) = c
        .post(1, "/auth/accounts/delete", &json!({"id": "bob"}))
        .await?;
    assert_eq!(code, 200);
    assert_eq!(login(&c, 0, "bob", "bob-new-pass-3", "micro").await.0, 400);

    // Throttling: a few failures pass, then 429 even for the right password.
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(login(&c, 0, "jane", "guess", "micro").await.0);
    }
    assert_eq!(&codes[..5], [400; 5]);
    assert_eq!(codes[6], 429, "{codes:?}");
    let (code, body) = login(&c, 0, "jane", "jane-S3cret-7781", "micro").await;
    assert_eq!(code, 429, "{body}");
    assert!(body["Detail"].as_str().unwrap().contains("try again in"));

    // No secret in clear anywhere under the data dirs (logs included).
    for secret in [
        "jane-S3cret-7781",
        "bob-new-pass-3",
        &refresh,
        &c.admin_token,
    ] {
        let out = std::process::Command::new("grep")
            .args(["-r", "-l", "-a", "-F", secret])
            .arg(c.dir())
            .output()?;
        assert!(
            out.stdout.is_empty(),
            "{secret} found in {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_tokens_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let c = TestCluster::start(1, &[]).await?;
    let other = TestCluster::start(1, &[]).await?;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let parts: Vec<&str> = c.admin_token.split('.').collect();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1])?,
    )?;
    assert_eq!(
        (claims["sub"].as_str(), claims["iss"].as_str()),
        (Some("admin"), Some("micro"))
    );
    let mut forged_claims = claims.clone();
    forged_claims["scopes"] = json!(["admin", "root"]);
    forged_claims["sub"] = json!("mallory");
    let forged = format!("{}.{}.{}", parts[0], b64(&forged_claims), parts[2]);
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    let cases = [
        ("forged", forged, "signature is invalid"),
        ("alg none", none, ""),
        (
            "other cluster",
            other.admin_token.clone(),
            "signature is invalid",
        ),
        ("garbage", "abc".into(), ""),
    ];
    for (what, token, detail) in cases {
        let (code, body) = c
            .post_as(
                0,
                "/store/write",
                &json!({"record": {"key": what, "value": ""}}),
                Some(&token),
            )
            .await?;
        assert_eq!(code, 401, "{what}: {body}");
        assert!(
            body["Detail"].as_str().unwrap().contains(detail),
            "{what}: {body}"
        );
    }
    let (code, body) = c
        .post(
            0,
            "/auth/auth/inspect",
            &json!({"token": other.admin_token}),
        )
        .await?;
    assert_eq!(code, 400, "{body}");

    // An expired token: one second of life, then past the 5 s leeway.
    let (_, short) = c
        .post_as(
            0,
            "/auth/token",
            &json!({"id": "admin", "secret": "micro", "token_expiry": "1"}),
            None,
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (code, body) = read_as(&c, 0, Some(&access(&short))).await;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (401, Some("token has expired"))
    );

    // Nothing was written by any refused call.
    let (_, list) = c.post(0, "/store/list", &json!({})).await?;
    assert_eq!(list["keys"], json!([]));
    Ok(())
}

#[tokio::test]
async fn namespaces_isolate_accounts_rules_config_and_store() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    // An admin of namespace foo, made by the micro admin.
    let (code, body) = c
        .post(
            0,
            "/auth/auth/generate",
            &json!({"id": "fooadmin", "secret": "foo-pw-123", "scopes": ["admin"], "options": {"namespace": "foo"}}),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["account"]["issuer"], "foo");
    // No default admin in foo; the foo account cannot log in to micro.
    assert_eq!(login(&c, 1, "admin", "micro", "foo").await.0, 400);
    assert_eq!(login(&c, 1, "fooadmin", "foo-pw-123", "micro").await.0, 400);
    let (code, foo) = login(&c, 1, "fooadmin", "foo-pw-123", "foo").await;
    assert_eq!(code, 200, "{foo}");
    let foo = access(&foo);

    let post_ns = |i: usize, path: &'static str, ns: &'static str, body: Value, token: String| {
        let url = format!("http://{}{}", c.nodes[i].addrs.api, path);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("Micro-Namespace", ns)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap())
        }
    };
    // foo's admin manages foo's config and store, not micro's.
    let set = json!({"path": "app", "value": {"data": "{\"a\":1}"}});
    assert_eq!(
        post_ns(2, "/config/set", "foo", set.clone(), foo.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        post_ns(2, "/config/set", "micro", set.clone(), foo.clone())
            .await
            .0,
        403
    );
    let (code, _) = c.post(0, "/config/get", &json!({"path": "app"})).await?;
    assert_eq!(code, 404, "micro's config has no document");
    let (code, got) = post_ns(0, "/config/get", "foo", json!({"path": "app"}), foo.clone()).await;
    assert_eq!(
        (code, got["value"]["data"].as_str()),
        (200, Some("{\"a\":1}"))
    );
    let write = json!({"record": {"key": "x", "value": ""}});
    assert_eq!(
        post_ns(1, "/store/write", "foo", write.clone(), foo.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        post_ns(1, "/store/write", "micro", write, foo.clone())
            .await
            .0,
        403
    );
    // Accounts are listed per namespace; the micro admin may look into foo.
    let (_, micro_accounts) = c.post(0, "/auth/accounts/list", &json!({})).await?;
    assert_eq!(micro_accounts["accounts"].as_array().unwrap().len(), 1);
    let (_, foo_accounts) = post_ns(2, "/auth/accounts/list", "foo", json!({}), foo.clone()).await;
    assert_eq!(foo_accounts["accounts"][0]["id"], "fooadmin");
    // Rules too: locking foo down leaves micro open.
    let only = json!({"rule": {"id": "onlyloggedin", "scope": "*", "access": "GRANTED",
        "resource": {"type": "*", "name": "*", "endpoint": "*"}}});
    let public = json!({"rule": {"id": "auth-public", "scope": "", "access": "GRANTED",
        "resource": {"type": "service", "name": "auth", "endpoint": "*"}}});
    assert_eq!(
        post_ns(0, "/auth/rules/create", "foo", only, foo.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        post_ns(0, "/auth/rules/create", "foo", public, foo.clone())
            .await
            .0,
        200
    );
    let (code, body) = post_ns(
        0,
        "/auth/rules/delete",
        "foo",
        json!({"id": "default"}),
        foo.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let url = format!("http://{}/helloworld/call", c.nodes[1].addrs.api);
    assert_eq!(
        get_until(&url, Some("foo"), |code, _| code == 401).await.0,
        401
    );
    let anon_micro =
        reqwest::get(format!("http://{}/helloworld/call", c.nodes[1].addrs.api)).await?;
    assert_eq!(
        anon_micro.status().as_u16(),
        404,
        "micro still has its default rule"
    );
    // The micro admin is another namespace's account: foo's `*` rule refuses it (403).
    let r = reqwest::Client::new()
        .post(format!("http://{}/store/read", c.nodes[2].addrs.api))
        .header("Micro-Namespace", "foo")
        .bearer_auth(&c.admin_token)
        .json(&json!({"key": "x"}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    Ok(())
}

#[tokio::test]
async fn racing_nodes_create_one_default_admin_and_disable_admin_turns_it_off() -> anyhow::Result<()>
{
    let c = TestCluster::start_as(3, &[], false).await?;
    let logins = (0..3).map(|i| login(&c, i, "admin", "micro", "micro"));
    for (code, body) in futures::future::join_all(logins).await {
        assert_eq!(code, 200, "{body}");
    }
    let (_, tok) = login(&c, 1, "admin", "micro", "micro").await;
    let r = c
        .post_as(2, "/auth/accounts/list", &json!({}), Some(&access(&tok)))
        .await?;
    assert_eq!(r.1["accounts"].as_array().unwrap().len(), 1, "{}", r.1);

    let off = TestCluster::start_as(1, &["--disable-admin"], false).await?;
    let (code, body) = login(&off, 0, "admin", "micro", "micro").await;
    assert_eq!(
        (code, body["Detail"].as_str()),
        (400, Some("Account not found with this ID"))
    );
    Ok(())
}

/// The seed's Auth walkthrough through the CLI, writing through node 1 and reading through
/// node 2: login, rules, the anonymous 401 and a token that still works, accounts, password
/// change, logout, and a namespace of its own.
#[tokio::test]
async fn the_seed_auth_walkthrough_through_the_cli() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let (w, r) = (micro_tests::Cli::new()?, micro_tests::Cli::new()?);
    w.use_env("writer", &c.nodes[1].addrs.proxy)?;
    r.use_env("reader", &c.nodes[2].addrs.proxy)?;

    let anonymous = r.run(&["store", "read", "x"]);
    assert_eq!(anonymous.code, 2, "{}", anonymous.combined());
    assert!(anonymous
        .combined()
        .contains("Not authorized to perform this request"));
    w.login("admin", "micro")?;
    r.login("admin", "micro")?;
    assert_eq!(w.run(&["user"]).stdout, "admin\n");

    let ok = |cli: &micro_tests::Cli, args: &[&str]| {
        let o = cli.run(args);
        assert_eq!(o.code, 0, "micro {args:?}: {}", o.combined());
        o.stdout
    };
    assert_eq!(
        ok(&r, &["auth", "list", "rules"]),
        "ID\t\tScope\t\t\tAccess\t\tResource\t\tPriority\ndefault\t\t<public>\t\tGRANTED\t\t*:*:*\t\t\t0\n"
    );
    let created = ok(
        &w,
        &[
            "auth",
            "create",
            "rule",
            "--access=granted",
            "--scope=*",
            "--resource=*:*:*",
            "onlyloggedin",
        ],
    );
    assert_eq!(created, "Rule created\n");
    ok(
        &w,
        &[
            "auth",
            "create",
            "rule",
            "--access=granted",
            "--resource=service:auth:*",
            "auth-public",
        ],
    );
    let rules = ok(&r, &["auth", "list", "rules"]);
    assert!(rules.contains("onlyloggedin\t\t*\t\t\tGRANTED"), "{rules}");
    assert_eq!(
        ok(&w, &["auth", "delete", "rule", "default"]),
        "Rule deleted\n"
    );

    let url = format!("http://{}/store/read?key=x", c.nodes[0].addrs.api);
    let expected = r#"{"Id":"store","Code":401,"Detail":"Unauthorized call made to store:Store.Read","Status":"Unauthorized"}"#;
    let (code, text) = get_until(&url, None, |_, text| text == expected).await;
    assert_eq!((code, text.as_str()), (401, expected));
    let token = ok(&r, &["user", "token"]);
    let with_token = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token.trim())
        .send()
        .await?;
    assert_eq!(
        with_token.status().as_u16(),
        404,
        "authorized: the key is just absent"
    );

    assert_eq!(
        ok(&r, &["auth", "list", "accounts"]),
        "ID\t\tName\t\tScopes\t\tMetadata\nadmin\t\tadmin\t\tadmin\t\tn/a\n"
    );
    let jane = ok(&w, &["auth", "create", "account", "--scopes=admin", "jane"]);
    let json = jane
        .strip_prefix("Account created: ")
        .unwrap_or_else(|| panic!("{jane}"));
    let account: Value = serde_json::from_str(json.trim())?;
    assert_eq!(
        (account["id"].as_str(), account["issuer"].as_str()),
        (Some("jane"), Some("micro"))
    );
    let secret = account["secret"].as_str().unwrap().to_owned();
    let jane_cli = micro_tests::Cli::new()?;
    jane_cli.use_env("jane", &c.nodes[0].addrs.proxy)?;
    jane_cli.login("jane", &secret)?;
    assert_eq!(ok(&jane_cli, &["user"]), "jane\n");
    let wrong = jane_cli.run(&["login", "--username", "jane", "--password", "nope"]);
    assert_eq!(
        (wrong.code, wrong.stdout.as_str()),
        (1, "Secret not correct\n")
    );

    // Password change, then the new one logs in on another node.
    jane_cli.login("jane", &secret)?;
    assert_eq!(
        ok(
            &jane_cli,
            &[
                "user",
                "set",
                "password",
                "--old-password",
                &secret,
                "--new-password",
                "jane-new-pw-5"
            ]
        ),
        ""
    );
    r.login("jane", "jane-new-pw-5")?;
    assert_eq!(ok(&r, &["user"]), "jane\n");
    let old = r.run(&["login", "--username", "jane", "--password", &secret]);
    assert_eq!(old.code, 1, "{}", old.combined());

    // Logout forgets the token.
    assert_eq!(ok(&jane_cli, &["logout"]), "");
    let out = jane_cli.run(&["user"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "You are not logged in\n")
    );

    // A namespace of its own: its admin sets config there; micro's admin does not see it in
    // micro, and foo's admin is refused in micro.
    ok(
        &w,
        &[
            "auth",
            "create",
            "account",
            "--namespace",
            "foo",
            "--scopes",
            "admin",
            "--secret",
            "foo-pw-1",
            "fooadmin",
        ],
    );
    let foo = micro_tests::Cli::new()?;
    foo.use_env("foo", &c.nodes[2].addrs.proxy)?;
    assert_eq!(ok(&foo, &["user", "namespace", "set", "foo"]), "");
    assert_eq!(ok(&foo, &["user", "namespace"]), "foo\n");
    foo.login("fooadmin", "foo-pw-1")?;
    assert_eq!(ok(&foo, &["config", "set", "app.key", "from-foo"]), "");
    assert_eq!(ok(&foo, &["config", "get", "app.key"]), "from-foo\n");
    let in_micro = w.run(&["config", "get", "app.key"]);
    assert!(
        in_micro.combined().contains("Not found"),
        "{}",
        in_micro.combined()
    );
    let refused = foo.run(&["--namespace", "micro", "config", "get", "app.key"]);
    assert_ne!(refused.code, 0, "{}", refused.combined());
    Ok(())
}
