//! Binary-driven checks of `micro login|logout|user|auth` against an in-process fake of the auth
//! service (no micro server implements auth yet): prompts, Micro's messages, the tokens file,
//! the bearer token on later calls, and how refusals are printed.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use micro_proto::auth::accounts_server::{Accounts, AccountsServer};
use micro_proto::auth::auth_server::{Auth, AuthServer};
use micro_proto::auth::rules_server::{Rules, RulesServer};
use micro_proto::auth::*;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// Micro's error JSON in a status.
fn micro_error(code: tonic::Code, http: u16, detail: &str) -> Status {
    let body = serde_json::json!({"Id": "auth", "Code": http, "Detail": detail, "Status": ""});
    Status::new(code, body.to_string())
}

/// What the fake remembers between calls.
#[derive(Default)]
struct State {
    /// Access tokens it issued.
    issued: Vec<String>,
    /// Rule ids.
    rules: Vec<String>,
    /// The namespace of the last Generate.
    generated_in: Option<String>,
    /// The last ChangeSecret.
    changed: Option<ChangeSecretRequest>,
}

#[derive(Clone, Default)]
struct Fake {
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// 401 unless the request carries a token this fake issued.
    // Status is large, but it is what every tonic handler returns anyway.
    #[allow(clippy::result_large_err)]
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let state = self.state.lock().unwrap();
        match header.strip_prefix("Bearer ") {
            Some(token) if state.issued.iter().any(|t| t == token) => Ok(()),
            _ => Err(micro_error(
                tonic::Code::Unauthenticated,
                401,
                "an account is required",
            )),
        }
    }
}

#[tonic::async_trait]
impl Auth for Fake {
    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<GenerateResponse>, Status> {
        self.check(&request)?;
        let req = request.into_inner();
        let namespace = req.options.map(|o| o.namespace).unwrap_or_default();
        self.state.lock().unwrap().generated_in = Some(namespace.clone());
        Ok(Response::new(GenerateResponse {
            account: Some(Account {
                id: req.id.clone(),
                r#type: "user".into(),
                metadata: HashMap::from([("created".into(), "1700000000".into())]),
                scopes: req.scopes,
                issuer: namespace,
                secret: req.secret,
                name: req.id,
            }),
        }))
    }

    async fn inspect(
        &self,
        _: Request<InspectRequest>,
    ) -> Result<Response<InspectResponse>, Status> {
        Err(Status::unimplemented("the CLI reads the JWT"))
    }

    async fn token(
        &self,
        request: Request<TokenRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        let req = request.into_inner();
        let (id, name) = match (req.id.as_str(), req.secret.as_str()) {
            ("locked", _) => {
                return Err(micro_error(
                    tonic::Code::ResourceExhausted,
                    429,
                    "Too many login attempts for account locked; try again in 30 seconds",
                ))
            }
            ("u1" | "jane", "secret") => ("u1", "jane"),
            ("u1" | "jane", _) => {
                return Err(micro_error(
                    tonic::Code::InvalidArgument,
                    400,
                    "Secret not correct",
                ))
            }
            _ => {
                return Err(micro_error(
                    tonic::Code::InvalidArgument,
                    400,
                    "Account not found with this ID",
                ))
            }
        };
        let now = 1_900_000_000;
        let payload = serde_json::json!({"sub": id, "iss": "micro", "exp": now, "name": name});
        let mut state = self.state.lock().unwrap();
        let access = format!(
            "e30.{}.sig{}",
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            state.issued.len()
        );
        state.issued.push(access.clone());
        Ok(Response::new(TokenResponse {
            token: Some(Token {
                access_token: access,
                refresh_token: "refresh".into(),
                created: now - 900,
                expiry: now,
            }),
        }))
    }
}

#[tonic::async_trait]
impl Accounts for Fake {
    async fn list(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        self.check(&request)?;
        Ok(Response::new(ListAccountsResponse {
            accounts: vec![Account {
                id: "u1".into(),
                name: "jane".into(),
                scopes: vec!["admin".into()],
                ..Default::default()
            }],
        }))
    }

    async fn delete(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        self.check(&request)?;
        if request.get_ref().id == "u1" {
            return Err(micro_error(
                tonic::Code::InvalidArgument,
                400,
                "Can't delete your own account",
            ));
        }
        Ok(Response::new(DeleteAccountResponse {}))
    }

    async fn change_secret(
        &self,
        request: Request<ChangeSecretRequest>,
    ) -> Result<Response<ChangeSecretResponse>, Status> {
        self.check(&request)?;
        self.state.lock().unwrap().changed = Some(request.into_inner());
        Ok(Response::new(ChangeSecretResponse {}))
    }
}

#[tonic::async_trait]
impl Rules for Fake {
    async fn create(
        &self,
        request: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        self.check(&request)?;
        let id = request.into_inner().rule.unwrap_or_default().id;
        let mut state = self.state.lock().unwrap();
        if state.rules.contains(&id) {
            return Err(micro_error(
                tonic::Code::InvalidArgument,
                400,
                "A rule with this ID already exists",
            ));
        }
        state.rules.push(id);
        Ok(Response::new(CreateResponse {}))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        self.check(&request)?;
        let id = request.into_inner().id;
        self.state.lock().unwrap().rules.retain(|r| *r != id);
        Ok(Response::new(DeleteResponse {}))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        self.check(&request)?;
        let rules = self
            .state
            .lock()
            .unwrap()
            .rules
            .iter()
            .map(|id| Rule {
                id: id.clone(),
                resource: Some(Resource {
                    r#type: "*".into(),
                    name: "*".into(),
                    endpoint: "*".into(),
                }),
                access: Access::Granted as i32,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ListResponse { rules }))
    }
}

/// A fake auth service on a port of its own, and a sandboxed HOME whose current env points at it.
struct Sandbox {
    dir: tempfile::TempDir,
    address: String,
    fake: Fake,
    /// Runs the fake; dropping it stops the server.
    _runtime: tokio::runtime::Runtime,
}

impl Sandbox {
    fn new() -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let fake = Fake::default();
        fake.state.lock().unwrap().rules.push("default".into());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let service = fake.clone();
        runtime.spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AuthServer::new(service.clone()))
                .add_service(AccountsServer::new(service.clone()))
                .add_service(RulesServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .expect("serve");
        });
        let sb = Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
            address,
            fake,
            _runtime: runtime,
        };
        assert_eq!(sb.out(&["env", "add", "fake", &sb.address.clone()]), "");
        assert_eq!(sb.out(&["env", "set", "fake"]), "");
        sb
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Runs `micro -c <config> args…` with HOME in the sandbox and `stdin` piped in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MICRO_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .env("HOME", self.dir.path())
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run micro");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// stdout + stderr of a run with empty stdin.
    fn out(&self, args: &[&str]) -> String {
        combined(&self.run(args, ""))
    }

    fn tokens(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(".micro").join("tokens")).unwrap_or_default()
    }

    fn login(&self) {
        let out = self.run(&["login", "--username", "jane", "--password", "secret"], "");
        assert_eq!(combined(&out), "Successfully logged in.\n");
    }
}

fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn login_by_name_saves_the_token_under_the_account_id() {
    let sb = Sandbox::new();
    let out = sb.run(&["login"], "jane\nsecret\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        combined(&out),
        "Enter username: Enter password: \nSuccessfully logged in.\n"
    );
    let tokens = sb.tokens();
    let prefix = format!("micro://{}/micro/u1:", sb.address);
    assert!(tokens.starts_with(&prefix), "{tokens}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.config()).unwrap()).unwrap();
    assert_eq!(config["fake"]["current-user"], "u1");

    assert_eq!(sb.out(&["user"]), "jane\n");
    let token = sb.out(&["user", "token"]);
    assert!(token.starts_with("e30."), "{token}");
    assert_eq!(sb.fake.state.lock().unwrap().issued[0], token.trim_end());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = sb.dir.path().join(".micro").join("tokens");
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn login_failures_print_the_servers_detail() {
    let sb = Sandbox::new();
    sb.login();
    let out = sb.run(&["login", "--username", "jane", "--password", "wrong"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(combined(&out), "Secret not correct\n");
    // The failed login logged the user out.
    assert_eq!(sb.out(&["user"]), "You are not logged in\n");
    assert_eq!(
        sb.out(&["login", "--email", "nobody", "--password", "x"]),
        "Account not found with this ID\n"
    );
    let out = sb.run(&["login", "--username", "locked", "--password", "x"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        combined(&out),
        "Too many login attempts for account locked; try again in 30 seconds\n"
    );
    // A script that runs out of answers fails instead of sending empty credentials.
    let out = sb.run(&["login"], "");
    assert!(!out.status.success());
}

#[test]
fn auth_commands_send_the_token_and_print_like_micro() {
    let sb = Sandbox::new();
    let out = sb.run(&["auth", "list", "accounts"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(combined(&out), "Not authorized to perform this request\n");

    sb.login();
    assert_eq!(
        sb.out(&["auth", "list", "accounts"]),
        "ID\t\tName\t\tScopes\t\tMetadata\nu1\t\tjane\t\tadmin\t\tn/a\n"
    );
    assert_eq!(
        sb.out(&["auth", "list", "rules"]),
        "ID\t\tScope\t\t\tAccess\t\tResource\t\tPriority\n\
         default\t\t<public>\t\tGRANTED\t\t*:*:*\t\t\t0\n"
    );
    assert_eq!(
        sb.out(&[
            "auth",
            "create",
            "rule",
            "--resource",
            "*:*:*",
            "--scope",
            "*",
            "onlyloggedin"
        ]),
        "Rule created\n"
    );
    let out = sb.run(
        &["auth", "create", "rule", "--resource", "*:*:*", "default"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        combined(&out),
        "Error: A rule with this ID already exists\n"
    );
    assert_eq!(
        sb.out(&["auth", "delete", "rule", "default"]),
        "Rule deleted\n"
    );
    assert_eq!(sb.fake.state.lock().unwrap().rules, ["onlyloggedin"]);

    assert_eq!(
        sb.out(&[
            "auth",
            "create",
            "account",
            "--secret",
            "pw",
            "--scopes",
            "admin,dev",
            "--namespace",
            "random",
            "bob"
        ]),
        "Account created: {\"id\":\"bob\",\"type\":\"user\",\"issuer\":\"random\",\
         \"metadata\":{\"created\":\"1700000000\"},\"scopes\":[\"admin\",\"dev\"],\
         \"secret\":\"pw\",\"name\":\"bob\"}\n"
    );
    assert_eq!(
        sb.fake.state.lock().unwrap().generated_in.as_deref(),
        Some("random")
    );
    assert_eq!(sb.out(&["auth", "delete", "account", "bob"]), "");
    assert_eq!(
        sb.out(&["auth", "delete", "account", "u1"]),
        "Error deleting account: Can't delete your own account\n"
    );

    assert_eq!(
        sb.out(&[
            "user",
            "set",
            "password",
            "--old-password",
            "a",
            "--new-password",
            "b"
        ]),
        ""
    );
    let changed = sb.fake.state.lock().unwrap().changed.clone().unwrap();
    assert_eq!(
        (
            changed.id.as_str(),
            changed.old_secret.as_str(),
            changed.new_secret.as_str()
        ),
        ("u1", "a", "b")
    );
    // Prompted, with a mismatch: no terminal, so no second chance.
    let out = sb.run(&["user", "set", "password"], "old\nnew1\nnew2\n");
    assert!(!out.status.success());
    assert!(combined(&out).contains("Passwords do not match"), "{out:?}");
    let out = sb.run(&["user", "set", "password"], "old\nnew\nnew\n");
    assert!(out.status.success(), "{out:?}");
    let changed = sb.fake.state.lock().unwrap().changed.clone().unwrap();
    assert_eq!(changed.new_secret, "new");
}

#[test]
fn logout_and_namespaces() {
    let sb = Sandbox::new();
    sb.login();
    assert_eq!(sb.out(&["logout"]), "");
    assert_eq!(sb.out(&["user"]), "You are not logged in\n");
    assert!(!sb.tokens().contains("/u1:"), "{}", sb.tokens());

    // Tokens are per namespace: a login in `foo` is not used in `micro`.
    assert_eq!(sb.out(&["user", "namespace", "set", "foo"]), "");
    assert_eq!(sb.out(&["user", "namespace"]), "foo\n");
    sb.login();
    assert!(sb.tokens().contains("/foo/u1:"), "{}", sb.tokens());
    assert_eq!(sb.out(&["user"]), "jane\n");
    assert_eq!(
        sb.out(&["--namespace", "micro", "user"]),
        "You are not logged in\n"
    );
    assert_eq!(sb.out(&["user", "namespace", "set", "micro"]), "");
    assert_eq!(sb.out(&["user"]), "You are not logged in\n");
    let summary = sb.out(&["user", "config"]);
    assert_eq!(
        summary,
        "user: n/a\nnamespace: micro\nenvironment: fake\ngit.credentials: n/a\ngit.baseurl: n/a\n"
    );
}
